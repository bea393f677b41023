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

// tileJSON serves a TileJSON 3.0.0 document whose tile URL is absolute and carries
// the request's query (parameters, colormap) through.
func (s *server) tileJSON(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	l, ok := s.layer(w, r, name)
	if !ok {
		return
	}
	s.writeTileJSON(w, r, l, "/v1/udfs/"+url.PathEscape(name)+"/tiles/{z}/{x}/{y}", r.URL.Query())
}

// writeTileJSON answers the TileJSON of a layer whose tiles are at tilePath
// (below the base URL), carrying the query q through.
func (s *server) writeTileJSON(w http.ResponseWriter, r *http.Request, l *layer.Layer, tilePath string, q url.Values) {
	name := l.Name
	if err := l.Status(); err != nil {
		writeError(w, r, &layer.Error{Kind: layer.Unavailable, Msg: "UDF " + name + " is unavailable: " + err.Error()})
		return
	}
	if err := sameSetting(q); err != nil {
		writeError(w, r, err)
		return
	}
	privateDoc(w, l)
	sch := l.Handler.Schema()
	format := sch.DefaultFormat
	if f := q.Get("format"); f != "" {
		var err error
		if format, err = pickFormat("", f, sch); err != nil {
			writeError(w, r, err)
			return
		}
		q.Del("format")
	}
	u := s.baseURL(r) + tilePath + extension(format)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	tj := tiles.TileJSON{
		TileJSON: "3.0.0", Name: name, Description: l.Description, Scheme: "xyz",
		Tiles: []string{u}, MinZoom: sch.MinZoom, MaxZoom: sch.MaxZoom,
		Bounds: [4]float64{sch.Bounds.MinX, sch.Bounds.MinY, sch.Bounds.MaxX, sch.Bounds.MaxY},
		Center: center(sch),
	}
	if format == "mvt" || format == "pbf" {
		id := l.MVTLayer
		if id == "" {
			id = render.DefaultLayer
		}
		tj.VectorLayers = []tiles.VectorLayer{{ID: id, Fields: map[string]string{}, MinZoom: sch.MinZoom, MaxZoom: sch.MaxZoom}}
	}
	writeJSON(w, tj)
}

// baseURL is public_url when configured, else what the client used to reach
// us: the Host header and the connection's scheme, or, behind a trusted proxy
// (server.trust_proxy), the proxy's X-Forwarded-Proto and X-Forwarded-Host.
// Without that trust anyone could make the server write their host into the
// URLs of its documents (and of a shared cache's copy of them).
func (s *server) baseURL(r *http.Request) string {
	if s.PublicURL != "" {
		return strings.TrimRight(s.PublicURL, "/")
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	host := r.Host
	if s.limits.TrustProxy {
		if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
			proto = p
		}
		if h := r.Header.Get("X-Forwarded-Host"); h != "" {
			host = strings.TrimSpace(strings.Split(h, ",")[0])
		}
	}
	return proto + "://" + host
}
