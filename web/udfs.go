package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// udfInfo is one entry of /v1/udfs.
type udfInfo struct {
	Name          string        `json:"name"`
	Handler       string        `json:"handler"`
	Description   string        `json:"description"`
	Status        string        `json:"status"`
	Error         string        `json:"error,omitempty"`
	Tiles         string        `json:"tiles"`
	TileJSON      string        `json:"tilejson"`
	MinZoom       int           `json:"minzoom"`
	MaxZoom       int           `json:"maxzoom"`
	Bounds        [4]float64    `json:"bounds"`
	Center        [3]float64    `json:"center"`
	DefaultFormat string        `json:"default_format"`
	Formats       []string      `json:"formats"`
	Modes         []string      `json:"modes"`
	Parameters    []layer.Param `json:"parameters"`
	Kwargs        bool          `json:"kwargs"`
	CacheMaxAge   string        `json:"cache_max_age"`
}

func describe(l *layer.Layer) udfInfo {
	i := udfInfo{Name: l.Name, Handler: l.Kind, Description: l.Description, Status: "ok",
		CacheMaxAge: l.MaxAge.String(),
		TileJSON:    "/v1/udfs/" + url.PathEscape(l.Name) + "/tilejson.json"}
	if err := l.Status(); err != nil {
		i.Status, i.Error = "error", err.Error()
	}
	if l.Handler == nil {
		return i
	}
	sch := l.Handler.Schema()
	i.Tiles = "/v1/udfs/" + url.PathEscape(l.Name) + "/tiles/{z}/{x}/{y}" + extension(sch.DefaultFormat)
	i.MinZoom, i.MaxZoom = sch.MinZoom, sch.MaxZoom
	i.Bounds = [4]float64{sch.Bounds.MinX, sch.Bounds.MinY, sch.Bounds.MaxX, sch.Bounds.MaxY}
	i.Center = center(sch)
	i.DefaultFormat, i.Formats, i.Modes, i.Kwargs = sch.DefaultFormat, sch.Formats, sch.Modes, sch.Kwargs
	i.Parameters = withDefaults(sch.Params, l.Defaults)
	return i
}

// withDefaults lists the schema's parameters plus the style defaults from config.
func withDefaults(ps []layer.Param, defaults url.Values) []layer.Param {
	out := append([]layer.Param(nil), ps...)
	for _, k := range []string{"colormap", "rescale"} {
		p := layer.Param{Name: k, Type: layer.Str}
		if v, ok := defaults[k]; ok {
			p.Default = strings.Join(v, ";")
		}
		if k == "rescale" {
			p.Description = "min,max per band (repeat for each band)"
		} else {
			p.Description = "a colormap name (see /v1/colormaps) or custom JSON"
		}
		out = append(out, p)
	}
	return out
}

// center is the middle of the bounds at the lowest zoom that shows detail.
func center(sch layer.Schema) [3]float64 {
	x, y := sch.Bounds.Center()
	z := sch.MinZoom
	// Start a few zooms in, where a regional layer fills the view.
	for z < sch.MaxZoom && tiles.Cover(sch.Bounds, z+1).Count() <= 4 {
		z++
	}
	return [3]float64{x, y, float64(z)}
}

func (s *api) listUDFs(w http.ResponseWriter, r *http.Request) {
	ls := s.visible(r)
	w.Header().Add("Vary", "Authorization")
	privateDoc(w, ls...)
	out := make([]udfInfo, len(ls))
	for i, l := range ls {
		out[i] = describe(l)
	}
	writeJSON(w, map[string]any{"udfs": out})
}

func (s *api) getUDF(w http.ResponseWriter, r *http.Request) {
	l, ok := s.layer(w, r, mux.Vars(r)["name"])
	if !ok {
		return
	}
	privateDoc(w, l)
	writeJSON(w, describe(l))
}

// extension is ".png" for "png", and nothing when the result picks its format.
func extension(format string) string {
	if format == "" {
		return ""
	}
	return "." + format
}
