package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/web"
)

// The demo files are generated once per test binary.
var (
	demoOnce sync.Once
	demoDir  string
	demoErr  error
)

func demoFiles(t *testing.T) string {
	t.Helper()
	demoOnce.Do(func() {
		demoDir, demoErr = os.MkdirTemp("", "udftiles-web-test")
		if demoErr == nil {
			_, demoErr = demo.Write(demoDir)
		}
	})
	if demoErr != nil {
		t.Fatal(demoErr)
	}
	return demoDir
}

type testEnv struct {
	handler    http.Handler
	reg        *layer.Registry
	demoPath   string
	demoBounds tiles.Bounds
}

func newTestServer(t *testing.T) *testEnv {
	t.Helper()
	dir := demoFiles(t)
	reg := layer.NewRegistry()
	elev := cog.New(cog.Options{Path: filepath.Join(dir, "elevation.tif")})
	t.Cleanup(elev.Close)
	reg.Add(&layer.Layer{Name: "elevation", Kind: "cog", Handler: elev, MaxAge: 3600e9,
		Defaults: url.Values{"colormap": {"plasma"}, "rescale": {"0,3000"}}})
	rgb := cog.New(cog.Options{Path: filepath.Join(dir, "rgb.tif")})
	t.Cleanup(rgb.Close)
	reg.Add(&layer.Layer{Name: "rgb", Kind: "cog", Handler: rgb, MaxAge: 3600e9})
	c, err := cache.New(64<<20, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &testEnv{
		handler:    web.New(web.Deps{Registry: reg, Cache: c, CORSOrigins: []string{"*"}}),
		reg:        reg,
		demoPath:   filepath.Join(dir, "elevation.tif"),
		demoBounds: elev.Schema().Bounds,
	}
}

// get performs a request against the handler and checks the status.
func (e *testEnv) get(t *testing.T, target string, status int, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	if rec.Code != status {
		t.Fatalf("GET %s: status %d, want %d; body %s", target, rec.Code, status, rec.Body.String())
	}
	return rec
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
