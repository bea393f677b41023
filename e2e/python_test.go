package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/python"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/web"
)

// pyServer is the HTTP API over real Python workers.
type pyServer struct {
	h    http.Handler
	reg  *layer.Registry
	pool *python.Pool
}

type pyServerOptions struct {
	python     python.Config
	tokens     map[string]string
	cacheBytes int64 // 0: 16 MiB; <0: no cache
}

// newPyServer starts a pool of Debian's Python (1 worker unless set) and a server
// without layers; add them with add.
func newPyServer(t *testing.T, o pyServerOptions) *pyServer {
	t.Helper()
	cfg := o.python
	cfg.Interpreter = "/usr/bin/python3"
	if cfg.Workers == 0 {
		cfg.Workers = 1
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = t.TempDir()
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := python.NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	pyWaitReady(t, pool)
	size := o.cacheBytes
	switch {
	case size == 0:
		size = 16 << 20
	case size < 0:
		size = 0
	}
	c, err := cache.New(size, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	reg := layer.NewRegistry()
	h := web.New(web.Deps{Registry: reg, Cache: c, Tokens: o.tokens, Ready: pool.Ready,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return &pyServer{h: h, reg: reg, pool: pool}
}

func pyWaitReady(t *testing.T, p *python.Pool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !p.Ready() {
		if time.Now().After(deadline) {
			t.Fatalf("Python workers not ready after 30s: %+v", p.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pyFixture is the absolute path of a UDF in python/testdata.
func pyFixture(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "python", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// add serves the Python UDF at path as layer name, with the server default max
// age of 90 days unless the layer sets its own.
func (s *pyServer) add(name, path string, o python.Options) *python.UDF {
	o.Path = path
	u := python.NewUDF(s.pool, o)
	s.reg.Add(&layer.Layer{Name: name, Kind: "python", Handler: u, MaxAge: 90 * 24 * time.Hour})
	return u
}

// do sends a request (body: nil, or a string for POST) and checks the status.
func (s *pyServer) do(t *testing.T, method, target string, body string, status int) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	if rec.Code != status {
		b := rec.Body.String()
		if len(b) > 2000 {
			b = b[:2000] + "..."
		}
		t.Fatalf("%s %.200s: status %d, want %d; body %s", method, target, rec.Code, status, b)
	}
	return rec
}

func (s *pyServer) get(t *testing.T, target string, status int) *httptest.ResponseRecorder {
	t.Helper()
	return s.do(t, http.MethodGet, target, "", status)
}

// pyError decodes an error body: {"error": ..., "logs": ...}.
func pyError(t *testing.T, rec *httptest.ResponseRecorder) (msg, logs string) {
	t.Helper()
	var body struct {
		Error string `json:"error"`
		Logs  string `json:"logs"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" {
		t.Fatalf("error body %q: %v", rec.Body.String(), err)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("error with Cache-Control %q, want no-store", cc)
	}
	return body.Error, body.Logs
}

// pyWantError checks the status and that the error message holds each of msgs.
func (s *pyServer) wantError(t *testing.T, method, target, body string, status int, msgs ...string) (msg, logs string) {
	t.Helper()
	msg, logs = pyError(t, s.do(t, method, target, body, status))
	for _, m := range msgs {
		if !strings.Contains(msg, m) {
			t.Errorf("%s %.100s: error %q does not mention %q", method, target, msg, m)
		}
	}
	return msg, logs
}

func pyPNG(t *testing.T, rec *httptest.ResponseRecorder) image.Image {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "image/png" {
		t.Fatalf("Content-Type %q, want image/png", ct)
	}
	img, err := png.Decode(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func pyPixel(img image.Image, x, y int) color.NRGBA {
	return color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
}

// pyNear reports whether two colours differ by at most tol in each channel.
func pyNear(a, b color.NRGBA, tol int) bool {
	d := func(x, y uint8) bool { return math.Abs(float64(x)-float64(y)) <= float64(tol) }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B) && d(a.A, b.A)
}

func pyJSON(t *testing.T, rec *httptest.ResponseRecorder) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	return v
}

func TestPythonHTTPFaults(t *testing.T) {
	s := newPyServer(t, pyServerOptions{})
	s.add("faults", pyFixture(t, "faults.py"), python.Options{Timeout: time.Second})
	s.add("broken", pyFixture(t, "syntax_error.py"), python.Options{})

	// A syntax error: the server serves, the listing shows the error, calls get the traceback.
	var list struct {
		UDFs []struct{ Name, Status, Error string } `json:"udfs"`
	}
	if err := json.Unmarshal(s.get(t, "/v1/udfs", 200).Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, u := range list.UDFs {
		status[u.Name] = u.Status + ": " + u.Error
	}
	if !strings.HasPrefix(status["broken"], "error: ") || !strings.Contains(status["broken"], "SyntaxError") || status["faults"] != "ok: " {
		t.Errorf("listing: %v", status)
	}
	s.wantError(t, "GET", "/v1/udfs/broken/run", "", 500, "Traceback", "SyntaxError", "syntax_error.py")
	s.wantError(t, "GET", "/v1/udfs/broken/tiles/3/1/2", "", 500, "SyntaxError")

	_, logs := s.wantError(t, "GET", "/v1/udfs/faults/run?mode=raise", "", 500, "Traceback", "ValueError: boom from the UDF")
	if !strings.Contains(logs, "faults: mode raise") {
		t.Errorf("logs %q lack the UDF's print", logs)
	}
	s.wantError(t, "POST", "/v1/udfs/faults/run", `{"mode": "raise"}`, 500, "ValueError")
	s.wantError(t, "GET", "/v1/udfs/faults/run?mode=type", "", 500, "unsupported return type", "set")

	start := time.Now()
	s.wantError(t, "GET", "/v1/udfs/faults/run?mode=loop", "", 504, "1s")
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the endless loop answered after %v, want about the 1s timeout", took)
	}
	if body := s.get(t, "/v1/udfs/faults/run?mode=ok", 200).Body.String(); body != "ok" {
		t.Errorf("after the timeout: %q", body)
	}
	for _, mode := range []string{"exit", "kill"} {
		s.wantError(t, "GET", "/v1/udfs/faults/tiles/2/1/1?mode="+mode, "", 502, "died")
		if body := s.get(t, "/v1/udfs/faults/tiles/2/1/1?mode=ok", 200).Body.String(); body != "ok" {
			t.Errorf("after %s: %q", mode, body)
		}
	}

	// Oversized parameters (the default limits): a POST body over 1 MiB, a
	// parameter over 64 KiB, a query string over 256 KiB.
	big := `{"mode": "` + strings.Repeat("x", 2<<20) + `"}`
	s.wantError(t, "POST", "/v1/udfs/faults/run", big, 413, "1048576 bytes", "max_body_bytes")
	long := strings.Repeat("y", 100<<10)
	s.wantError(t, "GET", "/v1/udfs/faults/run?mode="+long, "", 413, "65536 bytes", "POST")
	s.wantError(t, "GET", "/v1/udfs/faults/tiles/2/1/1?mode="+long, "", 413, "65536 bytes")
	many := strings.Repeat("&m="+strings.Repeat("w", 60<<10), 5)
	s.wantError(t, "GET", "/v1/udfs/faults/run?mode=ok"+many, "", 413, "256 KiB")
	// Under the limits a large parameter goes through to the UDF.
	if body := s.get(t, "/v1/udfs/faults/run?mode="+strings.Repeat("z", 60<<10), 200).Body.String(); body != "ok" {
		t.Errorf("a 60 KiB parameter: %q", body)
	}
	if body := s.do(t, "POST", "/v1/udfs/faults/run", `{"mode": "`+strings.Repeat("z", 900<<10)+`"}`, 200).Body.String(); body != "ok" {
		t.Errorf("a 900 KiB POST: %q", body)
	}
}

func TestPythonHTTPIsolation(t *testing.T) {
	t.Setenv("UDFTILES_TEST_SECRET", "x")
	s := newPyServer(t, pyServerOptions{python: python.Config{MemoryMB: 1024}})
	s.add("faults", pyFixture(t, "faults.py"), python.Options{})
	env := pyJSON(t, s.get(t, "/v1/udfs/faults/run?mode=env", 200)).(map[string]any)
	if env["secret"] != nil {
		t.Errorf("the worker sees UDFTILES_TEST_SECRET=%v", env["secret"])
	}
	_, logs := s.wantError(t, "GET", "/v1/udfs/faults/run?mode=memory", "", 500, "MemoryError")
	if !strings.Contains(logs, "faults: mode memory") {
		t.Errorf("logs %q", logs)
	}
	if body := s.get(t, "/v1/udfs/faults/run", 200).Body.String(); body != "ok" {
		t.Errorf("after the MemoryError: %q", body)
	}
}

func TestPythonHTTPQueue(t *testing.T) {
	s := newPyServer(t, pyServerOptions{})
	s.add("slow", pyFixture(t, "pid.py"), python.Options{Queue: 1})
	s.get(t, "/v1/udfs/slow/run", 200) // inspected and warm
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			// Different parameters: two calls, not one shared render.
			s.h.ServeHTTP(rec, httptest.NewRequest("GET", fmt.Sprintf("/v1/udfs/slow/run?sleep=0.8%d", i), nil))
			codes[i] = rec.Code
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.pool.Stats().Busy < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the second call waits for the one worker
	rec := s.do(t, "GET", "/v1/udfs/slow/run?sleep=0.01", "", 503)
	if ra := rec.Header().Get("Retry-After"); ra == "" {
		t.Error("503 without Retry-After")
	}
	pyError(t, rec)
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 {
		t.Errorf("the running and the queued call: %v, want 200 both", codes)
	}
}

func TestPythonHTTPParams(t *testing.T) {
	s := newPyServer(t, pyServerOptions{})
	s.add("params", pyFixture(t, "params.py"), python.Options{})
	s.add("required", pyFixture(t, "required.py"), python.Options{})
	s.add("legacy", pyFixture(t, "legacy.py"), python.Options{})

	var info struct {
		Kwargs     bool `json:"kwargs"`
		Parameters []struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			Default  any    `json:"default"`
			Required bool   `json:"required"`
		} `json:"parameters"`
		Modes []string `json:"modes"`
	}
	if err := json.Unmarshal(s.get(t, "/v1/udfs/params", 200).Body.Bytes(), &info); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range info.Parameters {
		got[p.Name] = fmt.Sprintf("%s=%v", p.Type, p.Default)
	}
	for name, want := range map[string]string{"i": "int=1", "f": "float=0.5", "b": "bool=false", "s": "str=text",
		"l": "list=<nil>", "d": "dict=<nil>", "geom": "geometry=<nil>", "plain": "str=p"} {
		if got[name] != want {
			t.Errorf("schema of %s: %q, want %q", name, got[name], want)
		}
	}
	if _, ok := got["bounds"]; ok || !info.Kwargs || len(info.Modes) != 2 {
		t.Errorf("schema: %+v", info)
	}
	if err := json.Unmarshal(s.get(t, "/v1/udfs/required", 200).Body.Bytes(), &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Parameters) < 1 || info.Parameters[0].Name != "n" || !info.Parameters[0].Required || info.Kwargs {
		t.Errorf("required.py schema: %+v", info)
	}

	check := func(rec *httptest.ResponseRecorder, want map[string]string) {
		t.Helper()
		got := pyJSON(t, rec).(map[string]any)
		for k, w := range want {
			b, _ := json.Marshal(got[k])
			if string(b) != w {
				t.Errorf("%s: %s, want %s", k, b, w)
			}
		}
	}
	check(s.get(t, "/v1/udfs/params/run?i=5&f=2&b=1&s=7&l=a,b&d=%7B%22k%22:1%7D&geom=POINT%20(1%202)&plain=9&extra=x&bounds=1,2,3,4", 200),
		map[string]string{"i": `[5,"int"]`, "f": `[2,"float"]`, "b": `[true,"bool"]`, "s": `["7","str"]`,
			"l": `[["a","b"],"list"]`, "d": `[{"k":1},"dict"]`, "geom": `["POINT (1 2)","Point"]`, "plain": `["9","str"]`,
			"kwargs": `{"extra":["x","str"]}`, "bounds": `[[1,2,3,4],"Bounds"]`, "when_type": `"date"`})
	// POST: JSON values for lists, dicts and GeoJSON.
	check(s.do(t, "POST", "/v1/udfs/params/run", `{"i": 6, "l": [1, 2], "d": {"a": [1]}, "b": false,
		"geom": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}, "bounds": [0, 0, 1, 1]}`, 200),
		map[string]string{"i": `[6,"int"]`, "l": `[[1,2],"list"]`, "d": `[{"a":[1]},"dict"]`, "b": `[false,"bool"]`,
			"geom": `["POLYGON ((0 0, 1 0, 1 1, 0 0))","Polygon"]`, "bounds": `[[0,0,1,1],"Bounds"]`, "kwargs": `{}`})

	for _, c := range []struct {
		target string
		msgs   []string
	}{
		{"/v1/udfs/params/run?i=1.5", []string{"parameter i", "integer"}},
		{"/v1/udfs/params/tiles/1/0/0?f=x", []string{"parameter f", "number"}},
		{"/v1/udfs/params/run?b=perhaps", []string{"parameter b", "true or false"}},
		{"/v1/udfs/params/run?d=%5B1%5D", []string{"parameter d", "JSON object"}},
		{"/v1/udfs/params/run?geom=POINT%20(1", []string{"geom", "GeoJSON or WKT"}},
		{"/v1/udfs/params/run?bounds=1,2,3", []string{"bounds", "xmin,ymin,xmax,ymax"}},
		{"/v1/udfs/required/run", []string{"parameter n", "required"}},
		{"/v1/udfs/required/run?n=1&color=red", []string{"unknown parameter color", "n, name"}},
	} {
		s.wantError(t, "GET", c.target, "", 400, c.msgs...)
	}

	// Tile mode: bbox gets the tile's bounds, x, y and z the tile.
	lb := tiles.Tile{Z: 6, X: 33, Y: 21}.LonLat()
	check(s.get(t, "/v1/udfs/legacy/tiles/6/33/21", 200), map[string]string{
		"x": "33", "y": "21", "z": "6", "type": `"Bounds"`,
		"bbox": fmt.Sprintf("[%s,%s,%s,%s]", pyFloat(lb.MinX), pyFloat(lb.MinY), pyFloat(lb.MaxX), pyFloat(lb.MaxY)),
	})
}

func pyFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func TestPythonHTTPResults(t *testing.T) {
	s := newPyServer(t, pyServerOptions{})
	s.add("r", pyFixture(t, "returns.py"), python.Options{})
	tile := func(kind, extra string) image.Image {
		t.Helper()
		return pyPNG(t, s.get(t, "/v1/udfs/r/tiles/1/1/0?kind="+kind+extra, 200))
	}
	for _, c := range []struct {
		kind, extra string
		x, y        int
		want        color.NRGBA
	}{
		{"uint8", "", 10, 10, color.NRGBA{0, 0, 0, 255}},
		{"uint8", "", 200, 10, color.NRGBA{200, 200, 200, 255}},
		{"rgb", "", 100, 100, color.NRGBA{10, 20, 30, 255}},
		{"hwc", "", 100, 100, color.NRGBA{250, 0, 0, 255}},
		{"rgba", "", 200, 10, color.NRGBA{200, 100, 50, 255}},
		{"rgba", "", 10, 10, color.NRGBA{0, 0, 0, 0}},
		// Floats: stretched min–max to greys, or through a colormap and rescale.
		{"float", "", 10, 10, color.NRGBA{0, 0, 0, 255}},
		{"float", "", 200, 10, color.NRGBA{255, 255, 255, 255}},
		{"float", "&colormap=viridis&rescale=0,100", 10, 10, color.NRGBA{68, 1, 84, 255}},
		{"float", "&colormap=viridis&rescale=0,100", 200, 10, color.NRGBA{253, 231, 37, 255}},
		{"float", "&colormap=viridis&rescale=0,200", 200, 10, color.NRGBA{33, 145, 140, 255}},
		{"masked", "", 10, 10, color.NRGBA{0, 0, 0, 0}},
		{"masked", "", 200, 10, color.NRGBA{150, 150, 150, 255}},
		// Placed by bounds lon 0..90, lat 0..45 on tile 1/1/0 (lon 0..180, lat 0..85).
		{"placed", "", 64, 250, color.NRGBA{200, 200, 200, 255}},
		{"placed", "", 64, 100, color.NRGBA{0, 0, 0, 0}},
		{"placed", "", 200, 250, color.NRGBA{0, 0, 0, 0}},
		{"xarray", "", 64, 250, color.NRGBA{99, 99, 99, 255}},
		{"xarray", "", 64, 194, color.NRGBA{50, 50, 50, 255}},
		{"xarray", "", 200, 250, color.NRGBA{0, 0, 0, 0}},
	} {
		img := tile(c.kind, c.extra)
		if b := img.Bounds(); b.Dx() != 256 || b.Dy() != 256 {
			t.Errorf("%s: %v", c.kind, b)
		}
		if got := pyPixel(img, c.x, c.y); !pyNear(got, c.want, 2) && !(c.want.A == 0 && got.A == 0) {
			t.Errorf("%s%s at (%d,%d): %v, want %v", c.kind, c.extra, c.x, c.y, got, c.want)
		}
	}

	body := func(target, ct string) string {
		t.Helper()
		rec := s.get(t, target, 200)
		if got := rec.Header().Get("Content-Type"); got != ct {
			t.Errorf("%s: Content-Type %q, want %q", target, got, ct)
		}
		return rec.Body.String()
	}
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			Geometry struct {
				Type        string          `json:"type"`
				Coordinates json.RawMessage `json:"coordinates"`
			} `json:"geometry"`
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	decode := func(s string) {
		t.Helper()
		fc.Features = nil
		if err := json.Unmarshal([]byte(s), &fc); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
	}
	decode(body("/v1/udfs/r/run?kind=gdf3857", "application/geo+json"))
	var pt [2]float64
	if len(fc.Features) == 1 {
		_ = json.Unmarshal(fc.Features[0].Geometry.Coordinates, &pt)
	}
	if fc.Type != "FeatureCollection" || len(fc.Features) != 1 || math.Abs(pt[0]-10) > 1e-6 || math.Abs(pt[1]) > 1e-6 ||
		fc.Features[0].Properties["name"] != "a" {
		t.Errorf("GeoDataFrame in EPSG:3857: %+v (point %v), want lon 10 lat 0", fc, pt)
	}
	csv := body("/v1/udfs/r/run?kind=gdf3857&format=csv", "text/csv; charset=utf-8")
	if lines := strings.Split(strings.TrimSpace(csv), "\n"); len(lines) != 2 || lines[0] != "n,name,pop,geometry" ||
		!strings.HasPrefix(lines[1], "3,a,83132799,POINT(10") {
		t.Errorf("GeoDataFrame as csv: %q", csv)
	}
	// Tile mode serves the same GeoJSON.
	decode(body("/v1/udfs/r/tiles/3/4/3?kind=gdf3857", "application/geo+json"))
	if len(fc.Features) != 1 {
		t.Errorf("tile mode: %d features", len(fc.Features))
	}
	decode(body("/v1/udfs/r/run?kind=gdf_bigint", "application/geo+json"))
	if len(fc.Features) != 1 || fc.Features[0].Properties["hex"] != "617700169958293503" {
		t.Errorf("an H3 cell in a GeoDataFrame: %+v", fc.Features)
	}
	decode(body("/v1/udfs/r/run?kind=geoseries", "application/geo+json"))
	if len(fc.Features) != 2 || fc.Features[1].Geometry.Type != "Point" {
		t.Errorf("GeoSeries: %+v", fc)
	}
	decode(body("/v1/udfs/r/run?kind=shapely", "application/geo+json"))
	if len(fc.Features) != 1 || fc.Features[0].Geometry.Type != "Polygon" {
		t.Errorf("shapely geometry: %+v", fc)
	}
	if got := body("/v1/udfs/r/run?kind=empty_gdf", "application/geo+json"); !jsonSame(t, got, `{"type":"FeatureCollection","features":[]}`) {
		t.Errorf("empty GeoDataFrame: %s", got)
	}

	if got := body("/v1/udfs/r/run?kind=df", "application/json"); got != `[{"hex":"617700169958293503","ids":"5","n":1,"name":"a","value":0.5},`+
		`{"hex":"617700169958293504","ids":"9007199254740993","n":2,"name":"b","value":1.5e-11}]` {
		t.Errorf("DataFrame as json: %s", got)
	}
	if got := body("/v1/udfs/r/run?kind=df&format=csv", "text/csv; charset=utf-8"); got != "hex,ids,n,name,value\n617700169958293503,5,1,a,0.5\n617700169958293504,9007199254740993,2,b,1.5e-11\n" {
		t.Errorf("DataFrame as csv: %q", got)
	}
	if got := body("/v1/udfs/r/run?kind=empty_df", "application/json"); got != "[]" {
		t.Errorf("empty DataFrame: %s", got)
	}
	for kind, want := range map[string][2]string{
		"str":         {"text/html; charset=utf-8", "<b>hello</b>"},
		"int":         {"application/json", "42"},
		"float_value": {"application/json", "1.5"},
		"bool":        {"application/json", "true"},
		"dict":        {"application/json", `{"a": 1, "b": [1, 2], "n": 7}`},
		"list":        {"application/json", `[1, "two", 3.0]`},
		"bytes":       {"application/octet-stream", "\x00\x01raw bytes\xff"},
		"bytesio":     {"application/octet-stream", "from a BytesIO"},
	} {
		if got := body("/v1/udfs/r/run?kind="+kind, want[0]); got != want[1] {
			t.Errorf("%s: %q, want %q", kind, got, want[1])
		}
	}
	// A raster in file mode keeps its own size.
	if img := pyPNG(t, s.get(t, "/v1/udfs/r/run?kind=rgb", 200)); img.Bounds().Dx() != 256 {
		t.Errorf("file mode raster: %v", img.Bounds())
	}
}

func jsonSame(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

func pyMaxAge(t *testing.T, rec *httptest.ResponseRecorder) int {
	t.Helper()
	cc := rec.Header().Get("Cache-Control")
	n, err := strconv.Atoi(strings.TrimPrefix(cc, "public, max-age="))
	if !strings.HasPrefix(cc, "public, max-age=") || err != nil {
		t.Fatalf("Cache-Control %q", cc)
	}
	return n
}

func TestPythonHTTPCacheMaxAge(t *testing.T) {
	s := newPyServer(t, pyServerOptions{})
	s.add("hour", pyFixture(t, "max_age.py"), python.Options{})
	set := python.NewUDF(s.pool, python.Options{Path: pyFixture(t, "max_age.py")})
	s.reg.Add(&layer.Layer{Name: "config_wins", Kind: "python", Handler: set, MaxAge: 10 * time.Minute, MaxAgeSet: true})
	s.add("plain", pyFixture(t, "default_params.py"), python.Options{})

	if n := pyMaxAge(t, s.get(t, "/v1/udfs/hour/tiles/2/1/1", 200)); n < 3590 || n > 3600 {
		t.Errorf("@fused.udf(cache_max_age=\"1h\"): max-age=%d, want ~3600", n)
	}
	if n := pyMaxAge(t, s.get(t, "/v1/udfs/config_wins/tiles/2/1/1", 200)); n < 590 || n > 600 {
		t.Errorf("config cache_max_age 10m over the decorator's 1h: max-age=%d, want ~600", n)
	}
	if n := pyMaxAge(t, s.get(t, "/v1/udfs/plain/run", 200)); n < 90*86400-10 || n > 90*86400 {
		t.Errorf("no cache_max_age anywhere: max-age=%d, want the server's 90 days", n)
	}
	// default_parameters reach the call.
	if got := s.get(t, "/v1/udfs/plain/run", 200).Body.String(); !jsonSame(t, got, `{"n": 7, "label": "from default_parameters"}`) {
		t.Errorf("default_parameters: %s", got)
	}
}

func TestPythonHTTPReload(t *testing.T) {
	s := newPyServer(t, pyServerOptions{})
	path := filepath.Join(t.TempDir(), "edit.py")
	write := func(word string) {
		t.Helper()
		code := "import fused\n\n@fused.udf\ndef udf(bounds: fused.types.Bounds = None):\n    return " + strconv.Quote(word) + "\n"
		if err := os.WriteFile(path, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("old code")
	s.add("edit", path, python.Options{})
	for i, want := range []string{"miss", "memory"} {
		rec := s.get(t, "/v1/udfs/edit/tiles/4/8/5", 200)
		if rec.Body.String() != "old code" || rec.Header().Get("X-Cache") != want {
			t.Errorf("request %d: %q X-Cache %s, want old code from %s", i, rec.Body, rec.Header().Get("X-Cache"), want)
		}
	}
	write("new code, longer")
	time.Sleep(600 * time.Millisecond)
	rec := s.get(t, "/v1/udfs/edit/tiles/4/8/5", 200)
	if rec.Body.String() != "new code, longer" || rec.Header().Get("X-Cache") != "miss" {
		t.Errorf("after the edit: %q X-Cache %s, want the new code rendered afresh", rec.Body, rec.Header().Get("X-Cache"))
	}
}

func TestPythonHTTPDocsExamples(t *testing.T) {
	s := newPyServer(t, pyServerOptions{})
	s.add("docs_tile", pyFixture(t, "docs_tile_gdf.py"), python.Options{})
	s.add("docs_bounds", pyFixture(t, "docs_bounds_gdf.py"), python.Options{})
	s.add("docs_plasma", pyFixture(t, "docs_plasma.py"), python.Options{})
	tl := tiles.Tile{Z: 12, X: 655, Y: 1582} // San Francisco
	lb := tl.LonLat()
	for _, name := range []string{"docs_tile", "docs_bounds"} {
		// precision=15: the bounds to the last digit, not GeoJSON's default 7 decimals.
		rec := s.get(t, fmt.Sprintf("/v1/udfs/%s/tiles/12/655/1582?precision=15", name), 200)
		var fc struct {
			Features []struct {
				Geometry struct {
					Coordinates [][][2]float64 `json:"coordinates"`
				} `json:"geometry"`
				Properties map[string]any `json:"properties"`
			} `json:"features"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &fc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(fc.Features) != 1 {
			t.Errorf("%s: %d features, want the one tile: %s", name, len(fc.Features), rec.Body)
			continue
		}
		minx, miny, maxx, maxy := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
		for _, ring := range fc.Features[0].Geometry.Coordinates {
			for _, p := range ring {
				minx, miny, maxx, maxy = math.Min(minx, p[0]), math.Min(miny, p[1]), math.Max(maxx, p[0]), math.Max(maxy, p[1])
			}
		}
		if math.Abs(minx-lb.MinX) > 1e-9 || math.Abs(maxy-lb.MaxY) > 1e-9 || math.Abs(maxx-lb.MaxX) > 1e-9 || math.Abs(miny-lb.MinY) > 1e-9 {
			t.Errorf("%s: polygon %v,%v,%v,%v, want the tile %+v", name, minx, miny, maxx, maxy, lb)
		}
		if p := fc.Features[0].Properties; name == "docs_tile" && (p["x"] != 655.0 || p["y"] != 1582.0 || p["z"] != 12.0) {
			t.Errorf("%s: properties %v, want x 655 y 1582 z 12", name, p)
		}
	}
	img := pyPNG(t, s.get(t, "/v1/udfs/docs_plasma/tiles/12/655/1582", 200))
	// arr_to_plasma reverses plasma by default: low values are yellow, high are purple.
	left, right := pyPixel(img, 2, 128), pyPixel(img, 253, 128)
	if !pyNear(left, color.NRGBA{240, 249, 33, 255}, 12) || !pyNear(right, color.NRGBA{13, 8, 135, 255}, 12) {
		t.Errorf("arr_to_plasma tile: left %v right %v", left, right)
	}
}

func TestPythonHTTPExampleUDFs(t *testing.T) {
	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "data", "demo"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := demo.Write(filepath.Join(work, "data", "demo")); err != nil {
		t.Fatal(err)
	}
	s := newPyServer(t, pyServerOptions{python: python.Config{Workers: 2, WorkDir: work}})
	for _, name := range []string{"hillshade", "countries", "cities", "bounds_echo"} {
		p, err := filepath.Abs(filepath.Join("..", "udfs", name+".py"))
		if err != nil {
			t.Fatal(err)
		}
		s.add(name, p, python.Options{})
	}
	elev := cog.New(cog.Options{Path: filepath.Join(work, "data", "demo", "elevation.tif")})
	t.Cleanup(elev.Close)
	cx, cy := elev.Schema().Bounds.Center()
	ht := tiles.AtLonLat(cx, cy, 10)
	img := pyPNG(t, s.get(t, fmt.Sprintf("/v1/udfs/hillshade/tiles/%d/%d/%d", ht.Z, ht.X, ht.Y), 200))
	grey, shades := 0, map[uint8]bool{}
	for y := 0; y < 256; y += 8 {
		for x := 0; x < 256; x += 8 {
			p := pyPixel(img, x, y)
			if p.A == 255 && p.R == p.G && p.G == p.B {
				grey++
				shades[p.R] = true
			}
		}
	}
	if grey < 900 || len(shades) < 10 {
		t.Errorf("hillshade at %s: %d opaque grey samples of 1024, %d shades", ht, grey, len(shades))
	}

	eu := tiles.AtLonLat(10, 50, 4) // central Europe
	var fc struct {
		Features []struct {
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	rec := s.get(t, fmt.Sprintf("/v1/udfs/countries/tiles/%d/%d/%d", eu.Z, eu.X, eu.Y), 200)
	if err := json.Unmarshal(rec.Body.Bytes(), &fc); err != nil || rec.Header().Get("Content-Type") != "application/geo+json" {
		t.Fatalf("countries: %v %s", err, rec.Header().Get("Content-Type"))
	}
	names := map[any]bool{}
	for _, f := range fc.Features {
		names[f.Properties["name"]] = true
	}
	if !names["Germany"] {
		t.Errorf("countries at %s: %v, want Germany among them", eu, names)
	}

	rows, ok := pyJSON(t, s.get(t, "/v1/udfs/cities/run?bounds=-10,35,30,60&limit=500", 200)).([]any)
	if !ok || len(rows) == 0 {
		t.Fatalf("cities: %v", rows)
	}
	found := false
	for _, r := range rows {
		m := r.(map[string]any)
		lon, lat := m["lon"].(float64), m["lat"].(float64)
		if lon < -10 || lon > 30 || lat < 35 || lat > 60 {
			t.Errorf("city %v outside the bounds", m)
		}
		found = found || m["name"] == "Paris"
	}
	if !found {
		t.Errorf("cities in Europe without Paris: %v", rows)
	}

	echo := pyJSON(t, s.get(t, "/v1/udfs/bounds_echo/tiles/7/66/42?label=hi", 200)).(map[string]any)
	if echo["x"] != 66.0 || echo["y"] != 42.0 || echo["z"] != 7.0 || echo["label"] != "hi" || len(echo["bounds"].([]any)) != 4 {
		t.Errorf("bounds_echo: %v", echo)
	}
}

func TestPythonHTTPSharedTokens(t *testing.T) {
	s := newPyServer(t, pyServerOptions{tokens: map[string]string{
		"fsh_returns": "r", "fsh_echo": "echo", "fsh_gone": "no_such_udf",
	}})
	s.add("r", pyFixture(t, "returns.py"), python.Options{})
	echo, err := filepath.Abs("../udfs/bounds_echo.py")
	if err != nil {
		t.Fatal(err)
	}
	s.add("echo", echo, python.Options{})
	base := "/server/v1/realtime-shared/"
	if img := pyPNG(t, s.get(t, base+"fsh_returns/run/tiles/1/1/0?kind=rgb", 200)); pyPixel(img, 5, 5) != (color.NRGBA{10, 20, 30, 255}) {
		t.Errorf("shared tile: %v", pyPixel(img, 5, 5))
	}
	for _, target := range []string{
		base + "fsh_returns/run/tiles/1/1/0?kind=rgb&dtype_out_raster=tiff",
		base + "fsh_returns/run/tiles/1/1/0.tif?kind=rgb",
		base + "fsh_returns/run/file?kind=rgb&format=tif",
	} {
		rec := s.get(t, target, 200)
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "image/tiff") || !bytes.HasPrefix(rec.Body.Bytes(), []byte("II*\x00")) {
			t.Errorf("%s: %s % x", target, ct, rec.Body.Bytes()[:min(4, rec.Body.Len())])
		}
	}
	rec := s.get(t, base+"fsh_returns/run/file?kind=gdf3857&dtype_out_vector=csv", 200)
	if ct := rec.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" || !strings.HasPrefix(rec.Body.String(), "n,name,pop,geometry\n") {
		t.Errorf("dtype_out_vector=csv: %s %q", ct, rec.Body)
	}
	rec = s.get(t, base+"fsh_returns/run/file?kind=df&format=csv", 200)
	if !strings.HasPrefix(rec.Body.String(), "hex,ids,n,name,value\n") {
		t.Errorf("format=csv: %q", rec.Body)
	}
	rec = s.do(t, "POST", base+"fsh_returns/run/file", `{"kind": "int"}`, 200)
	if rec.Body.String() != "42" {
		t.Errorf("POST to a shared file route: %q", rec.Body)
	}
	// Each token runs its own UDF only: the echo token cannot reach the other UDF's
	// parameters, and the returns token does not run echo.
	if got := pyJSON(t, s.get(t, base+"fsh_echo/run/tiles/3/2/1", 200)).(map[string]any); got["x"] != 2.0 || got["label"] != "echo" {
		t.Errorf("echo token: %v", got)
	}
	s.wantError(t, "GET", base+"fsh_echo/run/file?kind=rgb", "", 400, "unknown parameter kind")
	s.wantError(t, "GET", base+"fsh_returns/run/file?label=x", "", 400, "unknown parameter label")
	s.wantError(t, "GET", base+"fsh_nope/run/tiles/1/1/0", "", 404, "token")
	s.wantError(t, "GET", base+"fsh_nope/run/file", "", 404, "token")
	s.wantError(t, "GET", base+"fsh_gone/run/file", "", 404)
	s.wantError(t, "GET", base+"fsh_returns/run/udfs/echo", "", 404)
}
