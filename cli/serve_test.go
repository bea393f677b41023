package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/config"
	"github.com/udftiles/udftiles/gohandler"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/web"
)

// The example plugin is built once per test binary, at one path: a process
// loads a plugin package once, and opening the same file again reuses it.
var (
	pluginOnce sync.Once
	pluginDir  string
	pluginSO   string
	pluginErr  string // why the plugin cannot be loaded here; "" when it can
)

func TestMain(m *testing.M) {
	storeDir, err := os.MkdirTemp("", "udftiles-cli-store-")
	if err != nil {
		panic(err)
	}
	os.Setenv("UDFTILES_STORE_URL", "sqlite://"+filepath.Join(storeDir, "udftiles.db"))
	code := m.Run()
	os.RemoveAll(storeDir)
	if pluginDir != "" {
		os.RemoveAll(pluginDir)
	}
	os.Exit(code)
}

func buildSetting(key string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == key {
				return s.Value
			}
		}
	}
	return ""
}

// examplePlugin builds examples/plugin with this test binary's build flags (a
// plugin must share them), or says why it cannot be loaded into this process.
func examplePlugin(t *testing.T) (string, string) {
	t.Helper()
	pluginOnce.Do(func() {
		switch {
		case runtime.GOOS != "linux" && runtime.GOOS != "darwin" && runtime.GOOS != "freebsd":
			pluginErr = "Go plugins are not supported on " + runtime.GOOS
			return
		case buildSetting("CGO_ENABLED") != "1":
			pluginErr = "Go plugins need cgo"
			return
		}
		var err error
		if pluginDir, err = os.MkdirTemp("", "udftiles-plugin"); err != nil {
			pluginErr = err.Error()
			return
		}
		pluginSO = filepath.Join(pluginDir, "gradient.so")
		args := []string{"build", "-buildmode=plugin", "-o", pluginSO}
		for _, f := range []string{"-race", "-msan", "-asan", "-trimpath"} {
			if buildSetting(f) == "true" {
				args = append(args, f)
			}
		}
		if tags := buildSetting("-tags"); tags != "" {
			args = append(args, "-tags="+tags)
		}
		cmd := exec.Command("go", append(args, "./examples/plugin")...)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build the example plugin: %v\n%s", err, out)
		}
	})
	return pluginSO, pluginErr
}

const testConfig = `
udfs:
  - {name: grid, handler: go, go: tilegrid, options: {maxzoom: 12}}
  - {name: checker, handler: go, go: checker, colormap: plasma}
  - {name: mine, handler: go, go: mine, options: {answer: 42}}
  - {name: unknown, handler: go, go: nope}
  - {name: badoptions, handler: go, go: tilegrid, options: {colour: red}}
  - {name: absent, handler: plugin, path: absent.so}
  - {name: gradient, handler: plugin, path: PLUGIN, options: {axis: lat}, rescale: [-90, 90]}
`

type mine struct{ layer.Handler }

func TestBuildRegistryGoAndPlugins(t *testing.T) {
	so, whyNot := examplePlugin(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(testConfig, "PLUGIN", so, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	s := &settings{goHandlers: gohandler.Builtin(), kinds: map[string]layer.Factory{}}
	var got map[string]any
	WithGoHandler("mine", func(o map[string]any) (layer.Handler, error) {
		got = o
		return gohandler.Builtin().New("tilegrid", nil)
	})(s)
	reg := buildRegistry(cfg, s.layerKinds(nil, cfg, slog.Default()))
	if got["answer"] != 42 {
		t.Errorf("the factory got options %v, want answer: 42", got)
	}
	c, err := cache.New(16<<20, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	srv := web.New(web.Deps{Registry: reg, Cache: c})
	get := func(target string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		return w
	}

	var list struct {
		UDFs []struct{ Name, Handler, Status, Error string } `json:"udfs"`
	}
	if err := json.Unmarshal(get("/v1/udfs").Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	wantErr := map[string]string{
		"unknown":    `no Go handler named "nope" in this server; it has: checker, mine, tilegrid`,
		"badoptions": `Go handler tilegrid: options: unknown field "colour"`,
		"absent":     "plugin " + filepath.Join(dir, "absent.so") + ": no such file",
	}
	pluginLoads := false
	for _, u := range list.UDFs {
		switch want, isErr := wantErr[u.Name]; {
		case u.Name == "gradient":
			// The example plugin loads here unless this test binary was built
			// in a way a plugin cannot share (coverage of other packages).
			if u.Status != "ok" && !strings.Contains(u.Error, "different version of package") {
				t.Errorf("gradient: %s %s", u.Status, u.Error)
			}
			pluginLoads = u.Status == "ok"
			if !pluginLoads && whyNot == "" {
				t.Logf("the example plugin cannot be loaded into this test binary: %s", u.Error)
			}
		case isErr:
			if u.Status != "error" || !strings.HasPrefix(u.Error, want) {
				t.Errorf("%s: %s %q, want an error starting %q", u.Name, u.Status, u.Error, want)
			}
		default:
			if u.Status != "ok" {
				t.Errorf("%s: %s %s", u.Name, u.Status, u.Error)
			}
		}
		if want := map[bool]string{true: "plugin", false: "go"}[u.Name == "absent" || u.Name == "gradient"]; u.Handler != want {
			t.Errorf("%s: handler %q, want %q", u.Name, u.Handler, want)
		}
	}
	t.Logf("the example plugin loads in this test binary: %v", pluginLoads)
	if len(list.UDFs) != 7 {
		t.Errorf("%d layers, want 7", len(list.UDFs))
	}

	cases := []struct {
		target, ctype string
		status        int
	}{
		{"/v1/udfs/grid/tiles/3/4/2", "application/geo+json", 200},
		{"/v1/udfs/grid/tiles/13/4/2", "application/json", 404}, // options: maxzoom 12
		{"/v1/udfs/mine/tiles/3/4/2", "application/geo+json", 200},
		{"/v1/udfs/checker/tiles/3/4/2.png", "image/png", 200},
		{"/v1/udfs/unknown/tiles/3/4/2", "application/json", 503},
		{"/v1/udfs/absent/tiles/3/4/2", "application/json", 503},
	}
	if pluginLoads {
		cases = append(cases, struct {
			target, ctype string
			status        int
		}{"/v1/udfs/gradient/tiles/3/4/2", "image/png", 200})
	}
	for _, c := range cases {
		w := get(c.target)
		if w.Code != c.status || !strings.HasPrefix(w.Header().Get("Content-Type"), c.ctype) {
			t.Errorf("GET %s: %d %s, want %d %s: %.300s", c.target, w.Code, w.Header().Get("Content-Type"), c.status, c.ctype, w.Body)
			continue
		}
		if c.ctype == "image/png" {
			if img, err := png.Decode(bytes.NewReader(w.Body.Bytes())); err != nil || img.Bounds().Dx() != 256 {
				t.Errorf("GET %s: not a 256 px PNG: %v", c.target, err)
			}
		}
	}
	if pluginLoads {
		l, _ := reg.Get("gradient")
		res, err := l.Handler.Run(context.Background(), layer.Request{})
		if layer.KindOf(err) != layer.BadRequest || res != nil {
			t.Errorf("the plugin in file mode: %v, %v; want a bad request", res, err)
		}
	}
}

func TestMainCommands(t *testing.T) {
	var out, errs bytes.Buffer
	capture := func(s *settings) { s.stdout, s.stderr = &out, &errs }
	if code := Main([]string{"version"}, WithVersion("1.2.3"), capture); code != 0 || out.String() != "tileserver 1.2.3\n" {
		t.Errorf("version: %d %q", code, out.String())
	}
	if code := Main(nil, capture); code != 2 || !strings.Contains(errs.String(), "Usage:") {
		t.Errorf("no command: %d %q", code, errs.String())
	}
	errs.Reset()
	if code := Main([]string{"frobnicate"}, capture); code != 2 || !strings.Contains(errs.String(), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, errs.String())
	}
	errs.Reset()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("udfs:\n  - {name: a, handler: go}\n"), 0o644)
	if code := Main([]string{"serve", "--config", bad}, capture); code != 1 || !strings.Contains(errs.String(), "udfs[0].go: required with handler go") {
		t.Errorf("serve with a bad config: %d %q", code, errs.String())
	}

	// A kind this build does not serve stops the server at start, naming the key.
	errs.Reset()
	unknown := filepath.Join(t.TempDir(), "unknown.yaml")
	os.WriteFile(unknown, []byte("udfs:\n  - {name: a, handler: fortran, path: a.f}\n"), 0o644)
	if code := Main([]string{"serve", "--config", unknown}, capture); code != 1 || !strings.Contains(errs.String(), `udfs[0].handler`) || !strings.Contains(errs.String(), `"fortran"`) {
		t.Errorf("serve with an unknown kind: %d %q", code, errs.String())
	}

	// WithKind adds a kind: its entries are built by its factory.
	errs.Reset()
	s0 := &settings{goHandlers: gohandler.Builtin(), kinds: map[string]layer.Factory{}}
	WithKind("fortran", func(u config.UDF) (layer.Handler, error) { return mine{}, nil })(s0)
	cfg, err := config.Load(unknown)
	if err != nil {
		t.Fatal(err)
	}
	kinds := s0.layerKinds(nil, cfg, slog.Default())
	if err := checkKinds(cfg, kinds); err != nil {
		t.Fatal(err)
	}
	if l, _ := buildRegistry(cfg, kinds).Get("a"); l == nil || l.Err != nil || l.Handler != (mine{}) {
		t.Errorf("a layer of an added kind: %+v", l)
	}

	// WithGoHandler adds to the built-ins and may replace one, in this call only.
	s := &settings{goHandlers: gohandler.Builtin(), kinds: map[string]layer.Factory{}}
	f := func(map[string]any) (layer.Handler, error) { return mine{}, nil }
	WithGoHandler("tilegrid", f)(s)
	WithGoHandler("extra", f)(s)
	if h, err := s.goHandlers.New("tilegrid", nil); err != nil || h != (mine{}) {
		t.Errorf("replaced tilegrid: %v %v", h, err)
	}
	if names := strings.Join(s.goHandlers.Names(), ","); names != "checker,extra,tilegrid" {
		t.Errorf("names %s", names)
	}
	if _, ok := gohandler.Builtin()["extra"]; ok {
		t.Error("WithGoHandler changed the built-ins of other servers")
	}
}
