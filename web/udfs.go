package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/render"
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
	// TakesBounds: file mode takes bounds= (or bbox=); false for a UDF
	// declaring no bounds parameter, which refuses them.
	TakesBounds bool   `json:"takes_bounds"`
	CacheMaxAge string `json:"cache_max_age"`
	// Source is config (config.yaml, read-only) or catalog (saved at run
	// time, with Owner and Version).
	Source  string `json:"source,omitempty"`
	Owner   string `json:"owner,omitempty"`
	Version int    `json:"version,omitempty"`

	// FormatsByResult, for a layer whose kind of result varies (a Python
	// UDF), lists which of Formats each kind of result answers in (raster,
	// features, table, text, json); others answer 400 naming these.
	FormatsByResult map[string][]string `json:"formats_by_result,omitempty"`
}

func describe(l *layer.Layer) udfInfo {
	i := udfInfo{Name: l.Name, Handler: l.Kind, Description: l.Description, Status: "ok",
		CacheMaxAge: l.MaxAge.String(), Source: l.Source, Owner: l.Owner, Version: l.Version,
		TileJSON: "/v1/udfs/" + url.PathEscape(l.Name) + "/tilejson.json"}
	if err := l.Status(); err != nil {
		i.Status, i.Error = "error", err.Error()
	}
	if l.Handler == nil {
		return i
	}
	sch := l.Handler.Schema()
	// What the layer's results are kept for: its config entry's age, else
	// its UDF's own (@fused.udf(cache_max_age=...)), else the default.
	i.CacheMaxAge = l.FreshFor().String()
	i.Tiles = "/v1/udfs/" + url.PathEscape(l.Name) + "/tiles/{z}/{x}/{y}" + extension(sch.DefaultFormat)
	i.MinZoom, i.MaxZoom = sch.MinZoom, sch.MaxZoom
	i.Bounds = [4]float64{sch.Bounds.MinX, sch.Bounds.MinY, sch.Bounds.MaxX, sch.Bounds.MaxY}
	i.Center = center(sch)
	i.DefaultFormat, i.Formats, i.Modes, i.Kwargs = sch.DefaultFormat, sch.Formats, sch.Modes, sch.Kwargs
	i.TakesBounds = !sch.NoBounds
	if sch.Natural {
		i.FormatsByResult = formatsByResult(sch.Formats)
	}
	i.Parameters = withDefaults(sch.Params, l.Defaults)
	return i
}

// formatsByResult sorts formats by the kinds of result that answer in them
// (render's format table).
func formatsByResult(formats []string) map[string][]string {
	out := map[string][]string{}
	for _, kind := range render.ResultKinds() {
		list := []string{}
		for _, name := range formats {
			if f, ok := render.LookupFormat(name); ok && f.Encodes(kind) {
				list = append(list, name)
			}
		}
		out[kind] = list
	}
	return out
}

// withDefaults lists the schema's parameters plus the style defaults from config.
func withDefaults(ps []layer.Param, defaults url.Values) []layer.Param {
	out := append([]layer.Param(nil), ps...)
	// The layer's own defaults of the UDF's parameters (a saved UDF's
	// "parameters"), as the request will get them.
	for i, p := range out {
		if v, ok := defaults[p.Name]; ok && len(v) > 0 {
			out[i].Default = v[0]
		}
	}
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
