package e2e

import (
	"fmt"
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

// demoRasters are the demo rasters, written once per test binary.
var demoRasters = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "udftiles-e2e-demo")
	if err == nil {
		_, err = demo.Write(dir)
	}
	return dir, err
})

// demoFiles is the folder of the demo rasters.
func demoFiles(t *testing.T) string {
	t.Helper()
	dir, err := demoRasters()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// testEnv is the HTTP handler of the demo COG layers (elevation with its
// colormap, rgb) in process, for tests that compare its tiles with GDAL's and
// drive it from a browser.
type testEnv struct {
	handler    http.Handler
	reg        *layer.Registry
	demoPath   string // elevation.tif
	demoBounds tiles.Bounds
}

func newTestServer(t *testing.T) *testEnv {
	t.Helper()
	dir := demoFiles(t)
	reg := layer.NewRegistry()
	e := &testEnv{reg: reg, demoPath: filepath.Join(dir, "elevation.tif")}
	for _, l := range []struct {
		name     string
		defaults url.Values
	}{{"elevation", url.Values{"colormap": {"plasma"}, "rescale": {"0,3000"}}}, {"rgb", nil}} {
		r := cog.New(cog.Options{Path: filepath.Join(dir, l.name+".tif")})
		t.Cleanup(r.Close)
		reg.Add(&layer.Layer{Name: l.name, Kind: "cog", Handler: r, MaxAge: 3600e9, Defaults: l.defaults})
		if l.name == "elevation" {
			e.demoBounds = r.Schema().Bounds
		}
	}
	c, err := cache.New(64<<20, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e.handler = web.New(web.Deps{Registry: reg, Cache: c, CORSOrigins: []string{"*"}})
	return e
}

// get sends GET target (headers as name, value pairs) and checks the status.
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

// tileURL is the tile route of a layer.
func tileURL(name string, t tiles.Tile, suffix string) string {
	return fmt.Sprintf("/v1/udfs/%s/tiles/%s%s", name, t, suffix)
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
