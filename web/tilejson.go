package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/tileservice"
)

// tileJSON serves a TileJSON 3.0.0 document whose tile URL is absolute and carries
// the request's query (parameters, colormap) through.
func (s *api) tileJSON(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	l, ok := s.layer(w, r, name)
	if !ok {
		return
	}
	s.writeTileJSON(w, r, l, "/v1/udfs/"+url.PathEscape(name)+"/tiles/{z}/{x}/{y}", r.URL.Query())
}

// writeTileJSON answers the TileJSON of a layer whose tiles are at tilePath
// (below the base URL), carrying the query q through.
func (s *api) writeTileJSON(w http.ResponseWriter, r *http.Request, l *layer.Layer, tilePath string, q url.Values) {
	if err := tileservice.SameSetting(q); err != nil {
		writeError(w, r, err)
		return
	}
	in, err := s.svc.Info(l, q.Get("format"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	q.Del("format")
	privateDoc(w, l)
	u := s.baseURL(r) + tilePath + extension(in.Format)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	writeJSON(w, tiles.TileJSON{
		TileJSON: "3.0.0", Name: in.Name, Description: in.Description, Scheme: "xyz",
		Tiles: []string{u}, MinZoom: in.MinZoom, MaxZoom: in.MaxZoom,
		Bounds:       [4]float64{in.Bounds.MinX, in.Bounds.MinY, in.Bounds.MaxX, in.Bounds.MaxY},
		Center:       center(in.Schema),
		VectorLayers: in.VectorLayers,
	})
}

// baseURL is public_url when configured, else what the client used to reach
// us: the Host header and the connection's scheme, or, behind a trusted proxy
// (server.trust_proxy), the proxy's X-Forwarded-Proto and X-Forwarded-Host.
// Without that trust anyone could make the server write their host into the
// URLs of its documents (and of a shared cache's copy of them).
func (s *api) baseURL(r *http.Request) string {
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
