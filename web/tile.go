package web

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/render"
	"github.com/udftiles/udftiles/tiles"
)

// reserved query parameters are read by the server, never passed to a handler.
// render.VectorParams are too, unless the handler declares a parameter of that
// name: a UDF's own buffer= is the UDF's.
var reserved = append([]string{"format", "debug", "cache_max_age", "cache", "cache_reset"}, render.StyleParams...)

// tile serves /v1/udfs/{name}/tiles/{z}/{x}/{y}[.ext].
func (s *server) tile(w http.ResponseWriter, r *http.Request) {
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
	ext    string
	query  url.Values // handler parameters and style parameters
	// Formats by kind of result, when none was asked for (Fused's legacy
	// dtype_out_raster and dtype_out_vector).
	rasterFormat, vectorFormat string
}

// maxQuery bounds a query string: every parameter travels in the cache key and
// to the handler. Larger parameters (a detailed GeoJSON) are POSTed to /run.
// net/http refuses request heads over 1 MiB (431) before this is reached.
const maxQuery = 256 << 10

// serve runs a layer for a tile or a file-mode call through the cache and answers.
func (s *server) serve(w http.ResponseWriter, r *http.Request, l *layer.Layer, c call) {
	if len(r.URL.RawQuery) > maxQuery {
		writeError(w, r, layer.Errorf(layer.TooLarge, "the query string is over %d KiB; POST large parameters to /v1/udfs/%s/run as a JSON body (up to %d bytes)",
			maxQuery>>10, l.Name, s.limits.MaxBodyBytes))
		return
	}
	if err := sameSetting(c.query); err != nil {
		writeError(w, r, err)
		return
	}
	if err := l.Status(); err != nil {
		if layer.KindOf(err) == layer.Failed { // the UDF's own error: a traceback to show
			writeError(w, r, err)
			return
		}
		writeError(w, r, &layer.Error{Kind: layer.Unavailable, Msg: "UDF " + l.Name + " is unavailable: " + err.Error()})
		return
	}
	// Checked before the memory's answer: a run nested too deep is refused
	// even when its answer is cached.
	req := layer.Request{Tile: c.tile}
	if d := r.Header.Get("X-Udftiles-Depth"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			writeError(w, r, layer.Errorf(layer.BadRequest, "X-Udftiles-Depth: want a count, got %q", d))
			return
		}
		if n > layer.MaxDepth {
			writeError(w, r, layer.Errorf(layer.BadRequest, "runs and submits nested more than %d deep", layer.MaxDepth))
			return
		}
		req.Depth = n
	}
	// A request seen before, spelled the same way, is answered from memory
	// without parsing its parameters again.
	raw := l.Name + "\x00" + l.Handler.Version() + "\x00" + r.URL.Path + "\x00" + r.URL.RawQuery
	fo, err := s.freshness(c.query, l)
	if err != nil {
		writeError(w, r, err)
		return
	}
	// Requests that say how to use the cache take the full path.
	plain := r.Method != http.MethodPost && !c.query.Has("cache_max_age") && !c.query.Has("cache") && !c.query.Has("cache_reset")
	if plain {
		if e, ok := s.Cache.GetAlias(raw); ok {
			writeEntry(w, r, e, cache.Memory, fo.MaxAge, l.Private)
			return
		}
	}
	sch := l.Handler.Schema()
	mode := "file"
	if c.tile != nil {
		mode = "tile"
	}
	if !slices.Contains(sch.Modes, mode) {
		writeError(w, r, layer.Errorf(layer.BadRequest, "%s serves %s mode only", l.Name, strings.Join(sch.Modes, ", ")))
		return
	}
	if t := c.tile; t != nil {
		if t.Z < sch.MinZoom || t.Z > sch.MaxZoom {
			writeError(w, r, layer.Errorf(layer.NotFound, "zoom %d is outside %s's zooms %d..%d", t.Z, l.Name, sch.MinZoom, sch.MaxZoom))
			return
		}
		if !t.LonLat().Intersects(sch.Bounds) {
			writeError(w, r, layer.Errorf(layer.NotFound, "tile %s is outside %s's bounds", t, l.Name))
			return
		}
		req.Bounds = t.LonLat()
	} else if c.bounds != nil {
		req.Bounds = *c.bounds
	}
	q := c.query
	fmtParam := q.Get("format")
	if fmtParam == "" && c.ext == "" && !sch.Natural {
		// A handler with a fixed kind of output takes the legacy format of its kind.
		for _, f := range []string{c.rasterFormat, c.vectorFormat} {
			if f != "" && sch.HasFormat(render.Normalize(f)) {
				fmtParam = f
				break
			}
		}
	}
	format, err := pickFormat(c.ext, fmtParam, sch)
	if err != nil {
		writeError(w, r, err)
		return
	}
	opts, err := render.ParseOptions(withoutDeclared(q, sch), withoutDeclared(l.Defaults, sch))
	if err != nil {
		writeError(w, r, err)
		return
	}
	opts.Tile = c.tile
	opts.Layer = l.MVTLayer
	hq := url.Values{}
	for k, vals := range q {
		if !isReserved(k, sch) {
			hq[k] = vals
		}
	}
	if req.Params, err = sch.Coerce(hq); err != nil {
		writeError(w, r, err)
		return
	}
	req.Format = format
	where := "file"
	if c.tile != nil {
		where = c.tile.String()
	} else if c.bounds != nil {
		where = fmt.Sprintf("file/%g,%g,%g,%g", c.bounds.MinX, c.bounds.MinY, c.bounds.MaxX, c.bounds.MaxY)
	}
	// A result rendered now is kept for the layer's own age, or the request's
	// if longer: a request accepting only young answers does not shorten the
	// life of the one it caused.
	maxAge := fo.MaxAge
	if maxAge > 0 {
		maxAge = min(max(maxAge, l.FreshFor()), s.MaxAgeLimit)
	}
	key := cache.Key{UDF: l.Name, Version: l.Handler.Version(), Tile: where, Format: format,
		Params: req.Params, Extra: opts.Canonical() + "|" + c.rasterFormat + "|" + c.vectorFormat}.String()
	if plain {
		defer s.Cache.Alias(raw, key)
	}
	e, src, err := s.Cache.Fetch(r.Context(), key, fo, func(ctx context.Context) (*cache.Entry, error) {
		// Python layers are bounded by their own worker queue (python.queue,
		// 503 past it): a slot held while waiting for a worker would stall the
		// other layers' renders behind Python calls.
		if l.Kind != "python" {
			release, err := s.renders.acquire(ctx)
			if err != nil {
				return nil, err
			}
			defer release()
		}
		start := time.Now()
		defer func() { s.Metrics.RenderSeconds.WithLabelValues(l.Name).Observe(time.Since(start).Seconds()) }()
		res, err := l.Handler.Run(ctx, req)
		s.rendered(l.Name, err)
		if err != nil {
			return nil, err
		}
		f := format
		if f == "" {
			if _, raster := res.(*layer.Raster); raster {
				f = c.rasterFormat
			} else {
				f = c.vectorFormat
			}
		}
		body, ct, err := render.Encode(res, f, opts)
		if ras, ok := res.(*layer.Raster); ok {
			defer ras.Release() // encoded: its buffers serve the next tile
		}
		if err != nil {
			return nil, err
		}
		e := cache.NewEntry(body, ct, maxAge)
		if l, ok := res.(layer.Logged); ok {
			e.Logs, e.Truncated = l.UDFLogs(), l.Truncation()
		}
		return e, nil
	})
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away
		}
		var pe *cache.PanicError
		if errors.As(err, &pe) { // as recoverPanics does for panics on the request's goroutine
			s.Logger.Error("panic rendering a tile", "path", logPath(r), "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
			err = layer.Errorf(layer.Internal, "the server failed on this request; it has been logged")
		}
		writeError(w, r, err)
		return
	}
	writeEntry(w, r, e, src, fo.MaxAge, l.Private)
}

// writeEntry answers with a cached body, its validators and freshness, or 304.
// A compressible body (vector tiles, GeoJSON, CSV, JSON) is gzipped on the way
// out for a client that accepts it; the cache keeps it as encoded.
// maxAge is how old the request accepts an answer to be: Cache-Control gives
// clients what is left of the shorter of it and the entry's own max age.
func writeEntry(w http.ResponseWriter, r *http.Request, e *cache.Entry, src cache.Source, maxAge time.Duration, private bool) {
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

func isReserved(k string, sch layer.Schema) bool {
	return slices.Contains(reserved, k) || (slices.Contains(render.VectorParams, k) && !declares(sch, k))
}

func declares(sch layer.Schema, name string) bool {
	return slices.ContainsFunc(sch.Params, func(p layer.Param) bool { return p.Name == name })
}

// withoutDeclared drops from q the vector options the handler takes as its own parameters.
func withoutDeclared(q url.Values, sch layer.Schema) url.Values {
	var out url.Values
	for _, k := range render.VectorParams {
		if _, ok := q[k]; ok && declares(sch, k) {
			if out == nil {
				out = maps.Clone(q)
			}
			delete(out, k)
		}
	}
	if out == nil {
		return q
	}
	return out
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

// pickFormat chooses from the extension, then format=, then the handler's default;
// "" leaves it to the result (Schema.Natural).
func pickFormat(ext, param string, sch layer.Schema) (string, error) {
	f := sch.DefaultFormat
	switch {
	case ext != "":
		f = ext
	case param != "":
		f = param
	}
	f = render.Normalize(strings.ToLower(f))
	if f == "" && sch.Natural {
		return "", nil
	}
	if !sch.HasFormat(f) {
		return "", layer.Errorf(layer.BadRequest, "format %q: this UDF serves %s", f, strings.Join(sch.Formats, ", "))
	}
	return f, nil
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
