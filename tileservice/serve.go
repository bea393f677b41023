package tileservice

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/render"
	"github.com/udftiles/udftiles/tiles"
)

// Request is one call of a layer: a tile, or file mode over optional bounds.
type Request struct {
	Tile   tiles.Tile    // Service.Tile's tile (Service.Run is file mode)
	Bounds *tiles.Bounds // file mode: where, in lon/lat; nil = the layer's default
	Ext    string        // the format a path's extension names ("" = none)
	// Query holds the handler's parameters, the style (colormap, rescale,
	// ...), format= and the cache's (cache_max_age, cache, cache_reset).
	Query url.Values
	// Depth counts the runs and submits started by UDFs above this one.
	Depth int
	// RasterFormat and VectorFormat are the formats by kind of result when
	// none is asked for (Fused's legacy dtype_out_raster and dtype_out_vector).
	RasterFormat, VectorFormat string
	// Area is file mode's bounds given as a geometry (GeoJSON or WKT text),
	// Bounds being its envelope: see layer.Request.Area.
	Area string
	// Raw asks, when no format is, for results in their own form: arrays as
	// npy, features as GeoJSON, tables as JSON records, values as they are
	// (a nested fused.run decodes them back into Python objects).
	Raw bool
	// Spelling is how the request was written (a path and query): a request
	// spelled as one answered before is answered from memory without its
	// parameters being read again. "" = no such shortcut.
	Spelling string
	// BoundsParam names the request's parameter that gave Bounds (bounds
	// or bbox), for a request of a client; a handler that takes no bounds
	// (Schema.NoBounds) refuses it. "" = bounds of the server's own (a
	// nested run, a job's item), which such a handler leaves unused.
	BoundsParam string
}

// Entry is an answer: the cached entry, where it came from, and how old the
// request accepts it to be.
type Entry struct {
	*cache.Entry
	Source cache.Source // memory, s3 or miss
	// Accepts is how old the request accepts an answer to be: clients may
	// keep the entry for what is left of the shorter of it and the entry's
	// own MaxAge.
	Accepts time.Duration
	// Private: the layer is private; the answer is for its caller only.
	Private bool
}

// Empty reports an answer with nothing to draw: an MVT without features, a
// GeoJSON collection without features, an image every pixel of which is
// transparent.
func (e Entry) Empty() bool { return render.IsEmpty(e.Body, e.ContentType) }

// Tile renders (or finds in the cache) one tile of l, r.Tile.
//
// The request and the answer are values: a tile found in memory allocates
// nothing (a pointer in the request would be kept, by escape analysis, as
// the strings beside it are).
func (s *Service) Tile(ctx context.Context, l *layer.Layer, r Request) (Entry, error) {
	return s.serve(ctx, l, r, true)
}

// Run renders (or finds in the cache) l in file mode; r.Tile is unused.
func (s *Service) Run(ctx context.Context, l *layer.Layer, r Request) (Entry, error) {
	return s.serve(ctx, l, r, false)
}

func (s *Service) serve(ctx context.Context, l *layer.Layer, c Request, tileMode bool) (Entry, error) {
	// A nil Query reads as empty; it is made only past the shortcut of
	// requests answered before, whose path allocates nothing for it.
	if err := SameSetting(c.Query); err != nil {
		return Entry{}, err
	}
	if err := l.Status(); err != nil {
		if layer.KindOf(err) == layer.Failed { // the UDF's own error: a traceback to show
			return Entry{}, err
		}
		return Entry{}, &layer.Error{Kind: layer.Unavailable, Msg: "UDF " + l.Name + " is unavailable: " + err.Error()}
	}
	if c.Depth < 0 || c.Depth > layer.MaxDepth {
		return Entry{}, layer.Errorf(layer.BadRequest, "runs and submits nested more than %d deep", layer.MaxDepth)
	}
	req := layer.Request{Depth: c.Depth} // its Tile past the shortcut below
	maxAge, reset, err := s.freshness(c.Query, l)
	if err != nil {
		return Entry{}, err
	}
	fo := cache.FetchOptions{MaxAge: maxAge, Reset: reset}
	// A request seen before, spelled the same way, is answered from memory
	// without parsing its parameters again (if its key is still one of this
	// layer and version); requests that say how to use the cache take the
	// full path.
	alias := ""
	if c.Spelling != "" && !c.Query.Has("cache_max_age") && !c.Query.Has("cache") && !c.Query.Has("cache_reset") {
		alias = c.Spelling
		if e, ok := s.cache.GetAlias(alias, l.Name, l.Handler.Version()); ok {
			return Entry{Entry: e, Source: cache.Memory, Accepts: fo.MaxAge, Private: l.Private}, nil
		}
	}
	if c.Query == nil {
		c.Query = url.Values{}
	}
	var tile *tiles.Tile // the tile of tile mode, past the shortcut: a hit allocates none
	if tileMode {
		t := c.Tile
		tile = &t
	}
	req.Tile = tile
	sch := l.Handler.Schema()
	mode := "file"
	if tileMode {
		mode = "tile"
	}
	if !slices.Contains(sch.Modes, mode) {
		return Entry{}, layer.Errorf(layer.BadRequest, "%s serves %s mode only", l.Name, strings.Join(sch.Modes, ", "))
	}
	if t := tile; t != nil {
		if t.Z < sch.MinZoom || t.Z > sch.MaxZoom {
			return Entry{}, layer.Errorf(layer.NotFound, "zoom %d is outside %s's zooms %d..%d", t.Z, l.Name, sch.MinZoom, sch.MaxZoom)
		}
		if !t.LonLat().Intersects(sch.Bounds) {
			return Entry{}, layer.Errorf(layer.NotFound, "tile %s is outside %s's bounds", t, l.Name)
		}
		req.Bounds = t.LonLat()
		for _, k := range []string{"bounds", "bbox"} {
			if c.Query.Has(k) && slices.Contains(sch.Reserved, k) {
				return Entry{}, layer.Errorf(layer.BadRequest, "parameter %s: in tile mode the tile's path gives the bounds; give %s in file mode (/run) only", k, k)
			}
		}
	} else if c.Bounds != nil {
		if sch.NoBounds && c.BoundsParam != "" {
			return Entry{}, layer.Errorf(layer.BadRequest, "parameter %s: %s takes no bounds (its UDF declares no bounds or bbox parameter); leave it out",
				c.BoundsParam, l.Name)
		}
		req.Bounds = *c.Bounds
		req.Area = c.Area
	}
	q := c.Query
	fmtParam := q.Get("format")
	raw := c.Raw && fmtParam == "" && c.Ext == ""
	if raw && !sch.Natural {
		for _, f := range []string{"npy", "geojson"} {
			if sch.HasFormat(f) {
				fmtParam = f
				break
			}
		}
	}
	if fmtParam == "" && c.Ext == "" && !sch.Natural {
		// A handler with a fixed kind of output takes the legacy format of its kind.
		for _, f := range []string{c.RasterFormat, c.VectorFormat} {
			if f != "" && sch.HasFormat(render.Normalize(f)) {
				fmtParam = f
				break
			}
		}
	}
	format, err := PickFormat(c.Ext, fmtParam, sch)
	if err != nil {
		return Entry{}, err
	}
	opts, err := render.ParseOptions(withoutDeclared(q, sch), withoutDeclared(styleDefaults(q, l.Defaults, sch), sch))
	if err != nil {
		return Entry{}, err
	}
	opts.Tile = tile
	opts.Layer = l.MVTLayer
	hq := url.Values{}
	for k, vals := range q {
		if !isReserved(k, sch) {
			hq[k] = vals
		}
	}
	// Defaults of the layer's own parameters (a saved UDF's "parameters")
	// under the request's values.
	for k, vals := range l.Defaults {
		if _, given := hq[k]; !given && !isReserved(k, sch) && declares(sch, k) {
			hq[k] = vals
		}
	}
	if req.Params, err = sch.Coerce(hq); err != nil {
		return Entry{}, err
	}
	req.Format = format
	where := "file"
	if tile != nil {
		where = tile.String()
	} else if c.Bounds != nil {
		where = fmt.Sprintf("file/%g,%g,%g,%g", c.Bounds.MinX, c.Bounds.MinY, c.Bounds.MaxX, c.Bounds.MaxY)
		if req.Area != "" {
			sum := sha256.Sum256([]byte(req.Area))
			where += "/area:" + hex.EncodeToString(sum[:12])
		}
	}
	// A result rendered now is kept for the layer's own age, or the request's
	// if longer: a request accepting only young answers does not shorten the
	// life of the one it caused.
	keep := fo.MaxAge
	if keep > 0 {
		keep = min(max(keep, l.FreshFor()), s.maxAgeLimit)
	}
	key := cache.Key{UDF: l.Name, Version: l.Handler.Version(), Tile: where, Format: format,
		Params: req.Params, Extra: opts.Canonical() + "|" + c.RasterFormat + "|" + c.VectorFormat}.String()
	if alias != "" {
		defer s.cache.Alias(alias, key)
	}
	// The render below is kept by the cache past this call: it takes copies
	// of what it needs of c, so that c itself stays on the stack.
	rasterFormat, vectorFormat := c.RasterFormat, c.VectorFormat
	render := func(ctx context.Context) (*cache.Entry, error) {
		// Yield before rendering: Go resumes the goroutine a finished render
		// or read made ready ahead of those in its global queue, where the
		// requests that arrived meanwhile wait, so that on busy CPUs renders
		// started without yielding kept some requests waiting 30-90 ms
		// before they were read (make bench's DEM case: p99 80 ms, 12 ms
		// with the yield). After it, requests are served about in arrival
		// order.
		runtime.Gosched()
		// Handlers with a queue of their own (Python's python.queue, 503 past
		// it) take no render slot: one held while waiting for a worker would
		// stall the other layers' renders behind Python calls.
		if _, own := l.Handler.(layer.Queued); !own {
			release, err := s.slots.acquire(ctx)
			if err != nil {
				return nil, err
			}
			defer release()
		}
		start := time.Now()
		defer func() { s.metrics.RenderSeconds.WithLabelValues(l.Name).Observe(time.Since(start).Seconds()) }()
		res, err := l.Handler.Run(ctx, req)
		s.rendered(l.Name, err)
		if err != nil {
			return nil, err
		}
		f := format
		if f == "" {
			_, raster := res.(*layer.Raster)
			switch {
			case raster && raw:
				f = "npy"
			case raster:
				f = rasterFormat
			case !raw:
				f = vectorFormat
			}
		}
		body, ct, err := render.Encode(res, f, opts)
		if ras, ok := res.(*layer.Raster); ok {
			defer ras.Release() // encoded: its buffers serve the next tile
		}
		if err != nil {
			return nil, err
		}
		e := cache.NewEntry(body, ct, keep)
		if lg, ok := res.(layer.Logged); ok {
			e.Logs, e.Truncated = lg.UDFLogs(), lg.Truncation()
		}
		return e, nil
	}
	var e *cache.Entry
	var src cache.Source
	if raw && format == "" {
		// A raw result of a handler whose results choose their format: an
		// array is npy, anything else its natural format, under the keys
		// HTTP requests use (format=npy, and no format).
		npyKey := cache.Key{UDF: l.Name, Version: l.Handler.Version(), Tile: where, Format: "npy",
			Params: req.Params, Extra: opts.Canonical() + "|" + c.RasterFormat + "|" + c.VectorFormat}.String()
		e, src, err = s.rawEntry(ctx, key, npyKey, fo, render)
	} else {
		e, src, err = s.cache.Fetch(ctx, key, fo, render)
	}
	if err != nil {
		if ctx.Err() != nil {
			return Entry{}, ctx.Err() // the caller went away
		}
		var pe *cache.PanicError
		if errors.As(err, &pe) {
			s.log.Error("panic rendering a tile", "udf", l.Name, "where", where, "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
			err = layer.Errorf(layer.Internal, "the server failed on this request; it has been logged")
		}
		return Entry{}, err
	}
	return Entry{Entry: e, Source: src, Accepts: fo.MaxAge, Private: l.Private}, nil
}

// rawEntry finds or renders the raw result of a natural handler: what a
// request without a format cached (unless it is an image: an array, then
// looked for as npy), else a render kept under the key of what it gave.
func (s *Service) rawEntry(ctx context.Context, natKey, npyKey string, fo cache.FetchOptions, render func(context.Context) (*cache.Entry, error)) (_ *cache.Entry, _ cache.Source, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &cache.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	if !fo.Reset {
		if e, src, ok := s.cache.Lookup(ctx, natKey, fo.MaxAge); ok && !strings.HasPrefix(e.ContentType, "image/") {
			return e, src, nil
		}
		if e, src, ok := s.cache.Lookup(ctx, npyKey, fo.MaxAge); ok {
			return e, src, nil
		}
	}
	e, err := render(context.WithoutCancel(ctx))
	if err != nil {
		return nil, cache.Miss, err
	}
	if fo.MaxAge > 0 {
		key := natKey
		if e.ContentType == npyMediaType {
			key = npyKey
		}
		s.cache.Store(key, e)
	}
	return e, cache.Miss, nil
}

// npyMediaType is the media type of a raw array.
var npyMediaType = render.MediaType("npy")

// rendered counts a handler run that no cache answered.
func (s *Service) rendered(udf string, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	s.metrics.Renders.WithLabelValues(udf, outcome).Inc()
}
