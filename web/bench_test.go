package web_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/web"
)

// benchServer serves the demo DEM with a memory cache of cacheBytes (0 = off).
func benchServer(b *testing.B, cacheBytes int64) (http.Handler, string) {
	b.Helper()
	dir := b.TempDir()
	if _, err := demo.Write(dir); err != nil {
		b.Fatal(err)
	}
	reg := layer.NewRegistry()
	elev := cog.New(cog.Options{Path: filepath.Join(dir, "elevation.tif")})
	b.Cleanup(elev.Close)
	reg.Add(&layer.Layer{Name: "elevation", Kind: "cog", Handler: elev, MaxAge: time.Hour,
		Defaults: url.Values{"colormap": {"plasma"}, "rescale": {"0,3000"}}})
	h := web.New(web.Deps{Registry: reg, Cache: mustCache(b, cacheBytes), CORSOrigins: []string{"*"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	x, y := elev.Schema().Bounds.Center()
	return h, tileURL("elevation", tiles.AtLonLat(x, y, 10), ".png")
}

func benchRequests(b *testing.B, h http.Handler, target, wantCache string) {
	b.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil)) // warm the dataset handles
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != 200 || rec.Header().Get("X-Cache") != wantCache {
			b.Fatalf("status %d X-Cache %q, want 200 %s", rec.Code, rec.Header().Get("X-Cache"), wantCache)
		}
	}
	b.ReportMetric(float64(rec.Body.Len()), "bytes")
}

// BenchmarkTileCached is a memory hit through routing, parsing, key and headers.
func BenchmarkTileCached(b *testing.B) {
	h, target := benchServer(b, 64<<20)
	benchRequests(b, h, target, "memory")
}

// BenchmarkTileUncached reads, warps, colours and encodes on every request.
func BenchmarkTileUncached(b *testing.B) {
	h, target := benchServer(b, 0)
	benchRequests(b, h, target, "miss")
}

// hitWriter is the least a ResponseWriter does, reused across requests (its
// header map cleared, as net/http hands each request a fresh one), so that the
// allocations reported are the handler's own.
type hitWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *hitWriter) Header() http.Header { return w.h }

func (w *hitWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *hitWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.n += len(b)
	return len(b), nil
}

// BenchmarkTileCachedHit is the path of a memory hit alone: the same request
// (with the headers a browser sends) through every middleware, the router, the
// tile service and writeEntry, without httptest's recorder and body copy.
func BenchmarkTileCachedHit(b *testing.B) {
	h, target := benchServer(b, 64<<20)
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Header.Set("Accept-Encoding", "gzip, deflate, br")
	r.Header.Set("Origin", "https://example.org")
	w := &hitWriter{h: http.Header{}}
	h.ServeHTTP(w, r) // render it once
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.code, w.n = 0, 0
		h.ServeHTTP(w, r)
		if w.code != 200 || w.h.Get("X-Cache") != "memory" {
			b.Fatalf("status %d X-Cache %q, want 200 memory", w.code, w.h.Get("X-Cache"))
		}
	}
	b.ReportMetric(float64(w.n), "bytes")
}
