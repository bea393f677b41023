package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/tileservice"
)

// tile serves /v1/udfs/{name}/tiles/{z}/{x}/{y}[.ext].
func (s *api) tile(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	l, ok := s.layer(w, r, v["name"])
	if !ok {
		return
	}
	y, ext, _ := strings.Cut(v["y"], ".")
	t, err := parseTile(v["z"], v["x"], y)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.serve(w, r, l, call{tile: &t, ext: ext, query: r.URL.Query()})
}

// call is one request of a layer: a tile, or file mode with optional bounds.
type call struct {
	tile   *tiles.Tile
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
	if d := r.Header.Get("X-Udftiles-Depth"); d != "" {
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
			req.Spelling = r.URL.Path + "\x00" + r.URL.RawQuery
		}
	}
	var e *tileservice.Entry
	var err error
	if c.tile != nil {
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
	writeEntry(w, r, e)
}

// writeEntry answers with a cached body, its validators and freshness, or 304.
// A compressible body (vector tiles, GeoJSON, CSV, JSON) is gzipped on the way
// out for a client that accepts it; the cache keeps it as encoded.
// maxAge is how old the request accepts an answer to be: Cache-Control gives
// clients what is left of the shorter of it and the entry's own max age.
func writeEntry(w http.ResponseWriter, r *http.Request, e *tileservice.Entry) {
	src, maxAge, private := e.Source, e.Accepts, e.Private
	h := w.Header()
	body, etag, gz := e.Body, e.ETag, false
	if compressible(e.ContentType) {
		h.Add("Vary", "Accept-Encoding")
		if gz = len(body) > 0 && acceptsGzip(r.Header.Get("Accept-Encoding")); gz {
			etag = gzipETag(etag)
		}
	}
	h.Set("ETag", etag)
	h.Set("X-Cache", string(src))
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
		h.Set("Cache-Control", scope+", max-age="+strconv.Itoa(int(left.Seconds())))
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatch(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if gz {
		body = gzipBytes(body)
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Type", e.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func etagMatch(header, etag string) bool {
	for _, m := range strings.Split(header, ",") {
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
