package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/tileservice"
)

// tileRoute is the route of a layer's tiles, as the router, metrics and logs
// name it.
const tileRoute = "/v1/udfs/{name}/tiles/{z}/{x}/{y}"

// tile serves /v1/udfs/{name}/tiles/{z}/{x}/{y}[.ext] for the router; most
// such requests take tilesFirst instead.
func (s *api) tile(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	s.tileAt(w, r, v["name"], v["z"], v["x"], v["y"])
}

// tilesFirst answers GET and HEAD of the tile route ahead of router, through
// the middleware every route has (instrument, guard): the router would try
// the patterns of the routes before it and copy the request twice to carry
// the route and its variables, the larger part of a cached tile's cost.
// Every other request, and tile paths the router would clean first (empty,
// . or .. segments), are the router's.
func (s *api) tilesFirst(router http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, z, x, y, ok := splitTilePath(r.URL.Path)
		if !ok || r.Method != http.MethodGet && r.Method != http.MethodHead {
			router.ServeHTTP(w, r)
			return
		}
		sw := s.begin(w, r, tileRoute)
		if s.admit(sw, r) {
			s.tileAt(sw, r, name, z, x, y)
		}
		s.end(sw, r)
	})
}

// splitTilePath reads /v1/udfs/{name}/tiles/{z}/{x}/{y} as the router
// matches it: five non-empty segments after /v1/udfs/, the second "tiles",
// none of them . or .. (which the router cleans first).
func splitTilePath(p string) (name, z, x, y string, ok bool) {
	rest, ok := strings.CutPrefix(p, "/v1/udfs/")
	if !ok {
		return "", "", "", "", false
	}
	var seg [5]string
	for i := range seg {
		var last bool
		if i < len(seg)-1 {
			seg[i], rest, ok = strings.Cut(rest, "/")
			last = !ok
		} else {
			seg[i] = rest
			last = strings.Contains(rest, "/")
		}
		if last || seg[i] == "" || seg[i] == "." || seg[i] == ".." {
			return "", "", "", "", false
		}
	}
	if seg[1] != "tiles" {
		return "", "", "", "", false
	}
	return seg[0], seg[2], seg[3], seg[4], true
}

// tileAt serves one tile of the named layer; y may carry the format's
// extension (3.png).
func (s *api) tileAt(w http.ResponseWriter, r *http.Request, name, zs, xs, ys string) {
	l, ok := s.layer(w, r, name)
	if !ok {
		return
	}
	y, ext, _ := strings.Cut(ys, ".")
	t, err := parseTile(zs, xs, y)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.serve(w, r, l, call{tile: t, isTile: true, ext: ext, query: queryOf(r)})
}

// queryOf is the request's query parameters: nil, which reads as empty,
// when there are none (most tiles), so that no map is made for them.
func queryOf(r *http.Request) url.Values {
	if r.URL.RawQuery == "" {
		return nil
	}
	return r.URL.Query()
}

// spelling is how a request was written, for the tile service's memory of
// the requests it answered: the escaped path, and ?query when there is one.
// A path without a query is its own spelling, made without allocating.
func spelling(r *http.Request) string {
	p := r.URL.EscapedPath()
	if r.URL.RawQuery == "" {
		return p
	}
	return p + "?" + r.URL.RawQuery
}

// call is one request of a layer: a tile, or file mode with optional bounds.
// The tile is a value (with isTile), not a pointer: the call's strings leak
// to the heap through the tile service, and a pointer beside them would
// take the tile with it on every request.
type call struct {
	tile   tiles.Tile
	isTile bool
	bounds *tiles.Bounds // file mode
	area   string        // file mode: bounds given as a geometry (GeoJSON or WKT), bounds its envelope
	ext    string
	query  url.Values // handler parameters and style parameters
	// Formats by kind of result, when none was asked for (Fused's legacy
	// dtype_out_raster and dtype_out_vector).
	rasterFormat, vectorFormat string
	// spelling is the request's canonical spelling for the memory's
	// shortcut, when it is not its own path and query (OGC API tiles share
	// the cache entries of the tile route); "" = its own.
	spelling string
}

// maxQuery bounds a query string: every parameter travels in the cache key and
// to the handler. Larger parameters (a detailed GeoJSON) are POSTed to /run.
// net/http refuses request heads over 1 MiB (431) before this is reached.
const maxQuery = 256 << 10

// serve runs a layer for a tile or a file-mode call through the tile service
// and answers with its entry or error.
func (s *api) serve(w http.ResponseWriter, r *http.Request, l *layer.Layer, c call) {
	if len(r.URL.RawQuery) > maxQuery {
		writeError(w, r, layer.Errorf(layer.TooLarge, "the query string is over %d KiB; POST large parameters to /v1/udfs/%s/run as a JSON body (up to %d bytes)",
			maxQuery>>10, l.Name, s.limits.MaxBodyBytes))
		return
	}
	req := tileservice.Request{Tile: c.tile, Bounds: c.bounds, Area: c.area, Ext: c.ext, Query: c.query,
		RasterFormat: c.rasterFormat, VectorFormat: c.vectorFormat}
	if c.bounds != nil {
		// The parameter that gave them: named if the layer takes no bounds.
		req.BoundsParam = "bounds"
		if q := r.URL.Query(); q.Has("bbox") || (!q.Has("bounds") && r.Method == http.MethodPost) {
			req.BoundsParam = "bbox"
			if !q.Has("bbox") {
				req.BoundsParam = "bounds (or bbox)"
			}
		}
	}
	if d := headerValue(r.Header, "X-Udftiles-Depth"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			writeError(w, r, layer.Errorf(layer.BadRequest, "X-Udftiles-Depth: want a count, got %q", d))
			return
		}
		req.Depth = n
	}
	if r.Method != http.MethodPost {
		// A GET spelled as one answered before is answered from memory.
		req.Spelling = c.spelling
		if req.Spelling == "" {
			req.Spelling = spelling(r)
		}
	}
	var e tileservice.Entry
	var err error
	if c.isTile {
		e, err = s.svc.Tile(r.Context(), l, req)
	} else {
		e, err = s.svc.Run(r.Context(), l, req)
	}
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away
		}
		writeError(w, r, err)
		return
	}
	writeEntry(w, r, &e)
}

// writeEntry answers with a cached body, its validators and freshness, or 304.
// A compressible body (vector tiles, GeoJSON, CSV, JSON) is gzipped on the way
// out for a client that accepts it; the cache keeps it as encoded.
// maxAge is how old the request accepts an answer to be: Cache-Control gives
// clients what is left of the shorter of it and the entry's own max age.
// The header values are the entry's own, made once (cache.Header), and
// assigned under their canonical names: a hit allocates none.
func writeEntry(w http.ResponseWriter, r *http.Request, e *tileservice.Entry) {
	src, maxAge, private := e.Source, e.Accepts, e.Private
	h := w.Header()
	eh := e.Header()
	body, etag, gz := e.Body, eh.ETag, false
	if compressible(e.ContentType) {
		h.Add("Vary", "Accept-Encoding")
		if gz = len(body) > 0 && acceptsGzip(r.Header.Get("Accept-Encoding")); gz {
			etag = []string{gzipETag(e.ETag)}
		}
	}
	h["Etag"] = etag
	h["X-Cache"] = xCacheValue(src)
	if e.Logs != "" && r.URL.Query().Get("debug") == "true" {
		h.Set("X-UDF-Logs", headerLogs(e.Logs))
	}
	if e.Truncated != "" {
		h.Set("X-Features-Truncated", e.Truncated)
	}
	if left := time.Until(e.Created.Add(min(e.MaxAge, maxAge))); e.MaxAge > 0 && maxAge > 0 && left > 0 {
		scope := "public"
		if private { // a private layer's tiles are for the browser that asked, not for shared caches
			scope = "private"
		}
		h["Cache-Control"] = eh.CacheControl(scope, int(left.Seconds()))
	} else {
		h["Cache-Control"] = noCacheValue
	}
	if match := headerValue(r.Header, "If-None-Match"); match != "" && etagMatch(match, etag[0]) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Type"] = eh.ContentType
	if gz {
		body = gzipBytes(body)
		h.Set("Content-Encoding", "gzip")
		h.Set("Content-Length", strconv.Itoa(len(body)))
	} else {
		h["Content-Length"] = eh.ContentLength
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	WriteWhole(w, r, http.StatusOK, body)
}

// Header values shared by every answer (capacity 1: an Add copies them).
var (
	noCacheValue = []string{"no-cache"}
	xCacheMemory = []string{string(cache.Memory)}
	xCacheS3     = []string{string(cache.S3)}
	xCacheMiss   = []string{string(cache.Miss)}
)

// xCacheValue is the X-Cache header value of a source.
func xCacheValue(src cache.Source) []string {
	switch src {
	case cache.Memory:
		return xCacheMemory
	case cache.S3:
		return xCacheS3
	case cache.Miss:
		return xCacheMiss
	}
	return []string{string(src)}
}

// etagMatch reads If-None-Match: a list of entity tags (weak ones compare by
// their opaque part) or *.
func etagMatch(header, etag string) bool {
	for header != "" {
		var m string
		m, header, _ = strings.Cut(header, ",")
		m = strings.TrimPrefix(strings.TrimSpace(m), "W/")
		if m == etag || m == "*" {
			return true
		}
	}
	return false
}

// parseTile reads z/x/y path segments: non-integers and coordinates off the grid are 400.
func parseTile(zs, xs, ys string) (tiles.Tile, error) {
	var n [3]int
	for i, s := range []string{zs, xs, ys} {
		v, err := strconv.Atoi(s)
		if err != nil {
			return tiles.Tile{}, layer.Errorf(layer.BadRequest, "tile %s/%s/%s: %q is not an integer", zs, xs, ys, s)
		}
		n[i] = v
	}
	t, err := tiles.New(n[0], n[1], n[2])
	if err != nil {
		return t, layer.Errorf(layer.BadRequest, "tile %s: %v", t, err)
	}
	return t, nil
}

// headerLogs fits a UDF's prints into one header line: quoted (newlines escaped)
// and cut to the last 8 KiB.
func headerLogs(logs string) string {
	const max = 8 << 10
	if len(logs) > max {
		logs = "…" + logs[len(logs)-max:]
	}
	return strconv.QuoteToASCII(logs)
}
