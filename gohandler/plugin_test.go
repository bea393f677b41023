package gohandler_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udftiles/udftiles/gohandler"
)

// Plugins share the process with the server, so a plugin loads only when it was
// built by the same toolchain with the same build flags, and with the same
// versions of every package both contain. This test binary never qualifies for
// examples/plugin: `go test` compiles gohandler with its in-package test files, a
// different package from the one a plugin is built against. So the example plugin
// is loaded by a small host program built with `go build` exactly like it
// (TestPluginExample), and the failures are provoked in this process with tiny
// plugins that share nothing with it but the standard library (TestOpenPluginErrors).

// needPlugins skips where Go plugins cannot be built or loaded.
func needPlugins(t *testing.T) {
	t.Helper()
	switch runtime.GOOS {
	case "linux", "darwin", "freebsd":
	default:
		t.Skipf("Go plugins are not supported on %s", runtime.GOOS)
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to build plugins with")
	}
	if buildSetting("CGO_ENABLED") != "1" {
		t.Skip("Go plugins need cgo")
	}
}

// buildSetting reads one setting this test binary was built with.
func buildSetting(key string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// sameFlags are the build flags of this test binary that a plugin loaded into it must share.
func sameFlags() []string {
	var flags []string
	for _, f := range []string{"-race", "-msan", "-asan", "-trimpath"} {
		if buildSetting(f) == "true" {
			flags = append(flags, f)
		}
	}
	if tags := buildSetting("-tags"); tags != "" {
		flags = append(flags, "-tags="+tags)
	}
	return flags
}

func goBuild(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

var pluginSeq atomic.Int64

// tinyPlugin builds a plugin of one source file in a module of its own, with a
// module path never used before: a process cannot load two plugins of one path.
func tinyPlugin(t *testing.T, src string, flags ...string) string {
	t.Helper()
	dir := t.TempDir()
	mod := fmt.Sprintf("udftilestestplugin%d_%d", time.Now().UnixNano(), pluginSeq.Add(1))
	gomod := fmt.Sprintf("module %s\n\ngo %s\n", mod, strings.TrimPrefix(runtime.Version(), "go"))
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	so := filepath.Join(dir, "p.so")
	goBuild(t, dir, append(append([]string{"-buildmode=plugin"}, flags...), "-o", so, ".")...)
	return so
}

func TestOpenPluginErrors(t *testing.T) {
	needPlugins(t)
	dir := t.TempDir()
	text := filepath.Join(dir, "text.so")
	if err := os.WriteFile(text, []byte("not a plugin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Flipping -trimpath changes the file paths compiled into the runtime: the
	// same toolchain, other build flags.
	var otherFlags []string
	for _, f := range sameFlags() {
		if f != "-trimpath" {
			otherFlags = append(otherFlags, f)
		}
	}
	if buildSetting("-trimpath") != "true" {
		otherFlags = append(otherFlags, "-trimpath")
	}
	for _, c := range []struct {
		name string
		path func() string
		want []string
	}{
		{"missing file", func() string { return filepath.Join(dir, "absent.so") },
			[]string{"absent.so: no such file", "go build -buildmode=plugin"}},
		{"not a plugin", func() string { return text },
			[]string{"text.so", "not a Go plugin"}},
		{"no NewHandler", func() string {
			return tinyPlugin(t, "package main\n\nfunc Other() int { return 1 }\n\nfunc main() {}\n", sameFlags()...)
		}, []string{"exports no NewHandler; it must declare: func NewHandler(options map[string]any) (layer.Handler, error)"}},
		{"NewHandler of another type", func() string {
			return tinyPlugin(t, "package main\n\nfunc NewHandler(s string) int { return len(s) }\n\nfunc main() {}\n", sameFlags()...)
		}, []string{"NewHandler is a func(string) int; it must be: func NewHandler(options map[string]any) (layer.Handler, error)"}},
		{"other build flags", func() string {
			return tinyPlugin(t, "package main\n\nfunc NewHandler(s string) int { return len(s) }\n\nfunc main() {}\n", otherFlags...)
		}, []string{"plugin was built with a different version of package", "rebuild the plugin with the same Go toolchain (" + runtime.Version() + ")"}},
		{"panic while loading", func() string {
			return tinyPlugin(t, "package main\n\nfunc init() { panic(\"no config\") }\n\nfunc main() {}\n", sameFlags()...)
		}, []string{"panicked while loading: no config"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := c.path()
			h, err := gohandler.OpenPlugin(path, nil)
			if err == nil || h != nil {
				t.Fatalf("OpenPlugin = %v, %v; want an error", h, err)
			}
			t.Log(err)
			// A second layer of the same file gets the same answer (package
			// plugin alone would block forever on a plugin whose init panicked).
			done := make(chan error, 1)
			go func() { _, err := gohandler.OpenPlugin(path, nil); done <- err }()
			select {
			case again := <-done:
				if again == nil || !strings.Contains(again.Error(), c.want[0]) {
					t.Errorf("opened again: %v, want an error with %q", again, c.want[0])
				}
			case <-time.After(10 * time.Second):
				t.Fatal("opening the plugin again blocks")
			}
			if !strings.HasPrefix(err.Error(), "plugin "+path) {
				t.Errorf("error %q does not start with the plugin's path", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// pluginHost loads a plugin, runs it for a tile, serves it through the router and
// reports as JSON. It is built like the plugin, outside `go test`.
const pluginHost = `package main

import (
	"context"
	"encoding/json"
	"image/png"
	"net/http/httptest"
	"net/url"
	"os"
	"time"

	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/gohandler"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/web"
)

type report struct {
	OpenErr, Version, DType, ContentType, Body, BadOption, UnknownOption string
	Width, Height, Status, PNGWidth, ListStatus                         int
	Top, Bottom                                                         float64
	Listed                                                              json.RawMessage
}

func main() {
	so := os.Args[1]
	var o report
	defer func() { json.NewEncoder(os.Stdout).Encode(&o) }()
	h, err := gohandler.OpenPlugin(so, map[string]any{"axis": "lat"})
	if err != nil {
		o.OpenErr = err.Error()
		return
	}
	o.Version = h.Version()
	t, _ := tiles.New(3, 4, 2)
	params, err := h.Schema().Coerce(url.Values{"steps": {"18"}})
	if err != nil {
		panic(err)
	}
	res, err := h.Run(context.Background(), layer.Request{Tile: &t, Bounds: t.LonLat(), Params: params})
	if err != nil {
		panic(err)
	}
	r := res.(*layer.Raster)
	o.Width, o.Height, o.DType = r.Width, r.Height, r.DType
	o.Top, o.Bottom = r.Bands[0][0], r.Bands[0][len(r.Bands[0])-1]

	reg := layer.NewRegistry()
	reg.Add(&layer.Layer{Name: "gradient", Kind: "plugin", Handler: h, MaxAge: time.Hour,
		Defaults: url.Values{"colormap": {"viridis"}, "rescale": {"-90,90"}}})
	c, err := cache.New(16 << 20, nil, nil)
	if err != nil {
		panic(err)
	}
	srv := web.New(web.Deps{Registry: reg, Cache: c})
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest("GET", "/v1/udfs/gradient/tiles/3/4/2", nil))
	o.Status, o.ContentType = w.Code, w.Header().Get("Content-Type")
	if img, err := png.Decode(w.Body); err == nil {
		o.PNGWidth = img.Bounds().Dx()
	} else {
		o.Body = w.Body.String()
	}
	w = httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest("GET", "/v1/udfs/gradient", nil))
	o.ListStatus, o.Listed = w.Code, w.Body.Bytes()

	if _, err := gohandler.OpenPlugin(so, map[string]any{"axis": "diagonal"}); err != nil {
		o.BadOption = err.Error()
	}
	if _, err := gohandler.OpenPlugin(so, map[string]any{"axes": "lat"}); err != nil {
		o.UnknownOption = err.Error()
	}
}
`

// TestPluginExample builds examples/plugin and a host program with the same
// command and flags, then checks what the host saw.
func TestPluginExample(t *testing.T) {
	needPlugins(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	so := filepath.Join(dir, "gradient.so")
	host := filepath.Join(dir, "host")
	src := filepath.Join(dir, "src", "host.go")
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, []byte(pluginHost), 0o644); err != nil {
		t.Fatal(err)
	}
	// A file outside the module, built from the module root, sees the module's packages.
	goBuild(t, root, "-o", host, src)
	goBuild(t, root, "-buildmode=plugin", "-o", so, "./examples/plugin")

	out, err := exec.Command(host, so).Output()
	if err != nil {
		t.Fatalf("host: %v\n%s", err, out)
	}
	var r struct {
		OpenErr, Version, DType, ContentType, Body, BadOption, UnknownOption string
		Width, Height, Status, PNGWidth, ListStatus                          int
		Top, Bottom                                                          float64
		Listed                                                               struct{ Status, Handler, Error string }
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("host output %s: %v", out, err)
	}
	if r.OpenErr != "" {
		t.Fatalf("the host could not load the example plugin: %s", r.OpenErr)
	}
	// The version is the plugin's own, tied to this build of the file.
	if !strings.HasPrefix(r.Version, "plugin-") || !strings.HasSuffix(r.Version, "/gradient-1-lat") {
		t.Errorf("version %q, want plugin-<hash>/gradient-1-lat", r.Version)
	}
	// Tile 3/4/2 spans latitudes 41.0 to 66.5; steps=18 rounds to the middle of 10° bands.
	if r.Width != 256 || r.Height != 256 || r.DType != "float32" || r.Top != 65 || r.Bottom != 45 {
		t.Errorf("Run: %dx%d %s, top %g bottom %g; want 256x256 float32, 65 and 45", r.Width, r.Height, r.DType, r.Top, r.Bottom)
	}
	if r.Status != 200 || r.ContentType != "image/png" || r.PNGWidth != 256 {
		t.Errorf("GET the tile: %d %s, png width %d; want 200 image/png 256: %s", r.Status, r.ContentType, r.PNGWidth, r.Body)
	}
	if r.ListStatus != 200 || r.Listed.Status != "ok" || r.Listed.Handler != "plugin" {
		t.Errorf("GET /v1/udfs/gradient: %d %+v", r.ListStatus, r.Listed)
	}
	for got, want := range map[string]string{
		r.BadOption:     "plugin " + so + `: options: axis: want lon or lat, got "diagonal"`,
		r.UnknownOption: "plugin " + so + `: options: unknown field "axes"`,
	} {
		if got != want {
			t.Errorf("NewHandler's error: %q, want %q", got, want)
		}
	}
}
