package python_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/python"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/web"
)

// The host's own cost per call: a UDF that returns np.zeros((256, 256), "uint8").
func BenchmarkPythonNoop(b *testing.B) {
	p := startPool(b, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(b, "noop.py")})
	tile := tiles.Tile{Z: 10, X: 500, Y: 300}
	req := layer.Request{Tile: &tile, Bounds: tile.LonLat(), Params: map[string]any{}}
	if _, err := u.Run(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := u.Run(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// The same through the HTTP handler with the cache off: routing, coercion, the
// call and PNG encoding.
func BenchmarkPythonNoopHTTP(b *testing.B) {
	p := startPool(b, python.Config{Workers: 1})
	reg := layer.NewRegistry()
	reg.Add(&layer.Layer{Name: "noop", Kind: "python", Handler: python.NewUDF(p, python.Options{Path: fixture(b, "noop.py")})})
	c, err := cache.New(0, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	h := web.New(web.Deps{Registry: reg, Cache: c, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	get := func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/udfs/noop/tiles/10/500/300", nil))
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	get()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		get()
	}
}

// Calls per second with one and two workers, callers in parallel.
func BenchmarkPythonThroughput(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(map[int]string{1: "workers=1", 2: "workers=2"}[workers], func(b *testing.B) {
			p := startPool(b, python.Config{Workers: workers})
			u := python.NewUDF(p, python.Options{Path: fixture(b, "noop.py"), Queue: 256})
			tile := tiles.Tile{Z: 10, X: 500, Y: 300}
			req := layer.Request{Tile: &tile, Bounds: tile.LonLat(), Params: map[string]any{}}
			for range workers { // every worker has loaded the UDF
				if _, err := u.Run(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
			b.SetParallelism(2)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := u.Run(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// How long a worker takes to start with the geo stack preloaded, as the default
// config has it.
func BenchmarkPythonColdStart(b *testing.B) {
	cacheDir := b.TempDir()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		p, err := python.NewPool(python.Config{Interpreter: debianPython, Workers: 1, CacheDir: cacheDir,
			Preload: []string{"numpy", "pandas", "geopandas", "shapely"}, StartTimeout: 30 * time.Second,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		for !p.Ready() {
			if time.Since(start) > 30*time.Second {
				b.Fatalf("not ready after 30s: %+v", p.Stats())
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		p.Close()
		b.StartTimer()
	}
}
