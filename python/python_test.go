package python_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/python"
	"github.com/udftiles/udftiles/tiles"
)

// The Python that runs UDFs: Debian's, with the geo stack. The python3 on PATH
// is a bare build without numpy.
const debianPython = "/usr/bin/python3"

// fixture is the absolute path of a UDF in testdata.
func fixture(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startPool starts a small pool of real workers and waits until they are up.
func startPool(t testing.TB, cfg python.Config) *python.Pool {
	t.Helper()
	cfg.Interpreter = debianPython
	if cfg.Workers == 0 {
		cfg.Workers = 1
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = t.TempDir()
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p, err := python.NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	waitReady(t, p)
	return p
}

// waitReady waits until every worker of p has started.
func waitReady(t testing.TB, p *python.Pool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !p.Ready() {
		if time.Now().After(deadline) {
			t.Fatalf("pool not ready after 30s: %+v", p.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// call coerces query-style parameters against the UDF's schema and runs it, as
// the web layer does.
func call(u *python.UDF, q url.Values, tile *tiles.Tile) (layer.Result, error) {
	params, err := u.Schema().Coerce(q)
	if err != nil {
		return nil, err
	}
	req := layer.Request{Tile: tile, Params: params}
	if tile != nil {
		req.Bounds = tile.LonLat()
	}
	return u.Run(context.Background(), req)
}

// mustCall is call that fails the test on an error.
func mustCall(t testing.TB, u *python.UDF, q url.Values, tile *tiles.Tile) layer.Result {
	t.Helper()
	res, err := call(u, q, tile)
	if err != nil {
		t.Fatalf("run with %v: %v (logs: %s)", q, err, logsOf(err))
	}
	return res
}

func logsOf(err error) string {
	var e *layer.Error
	if errors.As(err, &e) {
		return e.Logs
	}
	return ""
}

// jsonValue runs u and decodes its JSON result.
func jsonValue(t testing.TB, u *python.UDF, q url.Values, tile *tiles.Tile) any {
	t.Helper()
	res := mustCall(t, u, q, tile)
	v, ok := res.(*layer.Value)
	if !ok || v.Kind != "json" {
		t.Fatalf("result %T %+v, want a JSON value", res, res)
	}
	var out any
	if err := json.Unmarshal(v.Body, &out); err != nil {
		t.Fatalf("result %q: %v", v.Body, err)
	}
	return out
}

// wantKind checks that err is an *layer.Error of kind k whose message holds each of msgs.
func wantKind(t testing.TB, err error, k layer.Kind, msgs ...string) *layer.Error {
	t.Helper()
	var e *layer.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want an *layer.Error of kind %d", err, err, k)
	}
	if e.Kind != k {
		t.Fatalf("error kind %d, want %d: %v", e.Kind, k, e)
	}
	for _, m := range msgs {
		if !strings.Contains(e.Msg, m) {
			t.Errorf("error %q does not mention %q", e.Msg, m)
		}
	}
	return e
}

func q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func TestPythonTimeoutReplacesWorker(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "faults.py"), Timeout: 2 * time.Second})
	text(t, u, nil, "ok") // loaded and warm
	before := p.Stats().Restarts
	start := time.Now()
	_, err := call(u, q("mode", "loop"), nil)
	took := time.Since(start)
	wantKind(t, err, layer.Timeout, "2s")
	if took < 2*time.Second || took > 4*time.Second {
		t.Errorf("the endless loop ended after %v, want about the 2s timeout", took)
	}
	if got := p.Stats().Restarts; got != before+1 {
		t.Errorf("restarts %d, want %d", got, before+1)
	}
	waitReady(t, p)
	text(t, u, nil, "ok")
	if s := p.Stats(); s.Idle != 1 || s.Busy != 0 {
		t.Errorf("stats after the calls %+v, want 1 idle", s)
	}
}

func TestPythonWorkerDeath(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "faults.py"), Timeout: 10 * time.Second})
	for mode, how := range map[string]string{"exit": "exit status 1", "kill": "signal: killed"} {
		t.Run(mode, func(t *testing.T) {
			before := p.Stats().Restarts
			_, err := call(u, q("mode", mode), nil)
			wantKind(t, err, layer.WorkerDied, "died", how)
			if got := p.Stats().Restarts; got != before+1 {
				t.Errorf("restarts %d, want %d", got, before+1)
			}
			text(t, u, nil, "ok")
		})
	}
}

func TestPythonFailures(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "faults.py")})
	_, err := call(u, q("mode", "raise"), nil)
	e := wantKind(t, err, layer.Failed, "Traceback", "ValueError: boom from the UDF", "faults.py")
	if !strings.Contains(e.Logs, "faults: mode raise") {
		t.Errorf("logs %q do not hold the UDF's print", e.Logs)
	}
	if strings.Contains(e.Msg, "runner.py") || strings.Contains(e.Msg, "_host.py") {
		t.Errorf("the traceback shows the worker's own frames:\n%s", e.Msg)
	}
	_, err = call(u, q("mode", "type"), nil)
	wantKind(t, err, layer.Failed, "unsupported return type", "set")

	bad := python.NewUDF(p, python.Options{Path: fixture(t, "syntax_error.py")})
	if err := bad.Status(); err == nil {
		t.Fatal("a syntax error: Status is nil")
	}
	_, err = call(bad, nil, nil)
	e = wantKind(t, err, layer.Failed, "SyntaxError", "syntax_error.py", "n +* 2")
	if strings.Contains(e.Msg, "<frozen") {
		t.Errorf("the traceback shows importlib's frames:\n%s", e.Msg)
	}
	if bad.Version() == "" {
		t.Error("a UDF with a syntax error has no version")
	}
	missing := python.NewUDF(p, python.Options{Path: filepath.Join(t.TempDir(), "nope.py")})
	if err := missing.Status(); err == nil || !strings.Contains(err.Error(), "nope.py") {
		t.Errorf("a missing file: status %v", err)
	}
	text(t, u, nil, "ok") // the pool still serves after all of that
}

func TestPythonSchema(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "params.py"), MinZoom: 2, MaxZoom: 9})
	s := u.Schema()
	want := map[string]struct {
		typ layer.ParamType
		def any
	}{
		"i": {layer.Int, 1.0}, "f": {layer.Float, 0.5}, "b": {layer.Bool, false}, "s": {layer.Str, "text"},
		"l": {layer.List, nil}, "d": {layer.Dict, nil}, "geom": {layer.Geometry, nil},
		"li": {layer.List, nil}, "tf": {layer.List, nil},
		"plain": {layer.Str, "p"}, "when": {layer.Str, "datetime.date(2020, 1, 2)"},
	}
	if len(s.Params) != len(want) {
		t.Errorf("params %+v, want %d of them (bounds is the server's)", s.Params, len(want))
	}
	for _, p := range s.Params {
		w, ok := want[p.Name]
		if !ok {
			t.Errorf("unexpected parameter %+v", p)
			continue
		}
		if p.Type != w.typ || fmt.Sprint(p.Default) != fmt.Sprint(w.def) || p.Required {
			t.Errorf("parameter %s: %+v, want type %s default %v", p.Name, p, w.typ, w.def)
		}
	}
	if !s.Kwargs || s.MinZoom != 2 || s.MaxZoom != 9 {
		t.Errorf("schema %+v: want kwargs and zooms 2..9", s)
	}
	req := python.NewUDF(p, python.Options{Path: fixture(t, "required.py")}).Schema()
	if len(req.Params) != 2 || !req.Params[0].Required || req.Params[0].Name != "n" || req.Kwargs {
		t.Errorf("required.py schema %+v", req)
	}
	if !strings.Contains(req.Doc, "n is required") {
		t.Errorf("doc %q", req.Doc)
	}
}

func TestPythonParams(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "params.py")})
	tile := tiles.Tile{Z: 3, X: 4, Y: 2}
	got := jsonValue(t, u, q("i", "5", "f", "3", "b", "true", "s", "42", "l", "[1, \"a\", 2.5]",
		"d", `{"k": [1, 2]}`, "plain", "7", "extra", "12", "geom", `{"type": "Point", "coordinates": [1, 2]}`), &tile).(map[string]any)
	lb := tile.LonLat()
	checks := map[string]string{
		"i":      `[5,"int"]`,
		"f":      `[3,"float"]`,
		"b":      `[true,"bool"]`,
		"s":      `["42","str"]`,
		"l":      `[[1,"a",2.5],"list"]`,
		"d":      `[{"k":[1,2]},"dict"]`,
		"plain":  `["7","str"]`,
		"geom":   `["POINT (1 2)","Point"]`,
		"kwargs": `{"extra":["12","str"]}`,
		"bounds": fmt.Sprintf(`[[%v,%v,%v,%v],"Bounds"]`, lb.MinX, lb.MinY, lb.MaxX, lb.MaxY),
		// Not sent: the UDF's own default, not its JSON rendering.
		"when":      `["2020-01-02","str"]`,
		"when_type": `"date"`,
	}
	for k, want := range checks {
		b, _ := json.Marshal(got[k])
		if !jsonEqual(t, string(b), want) {
			t.Errorf("%s: %s, want %s", k, b, want)
		}
	}

	// Comma-separated lists, WKT geometries, defaults.
	got = jsonValue(t, u, q("l", "a, b,c", "geom", "POLYGON ((0 0, 1 0, 1 1, 0 0))", "li", "1, 2,3", "tf", "0.5,2"), nil).(map[string]any)
	for k, want := range map[string]string{
		"li":     `[[1,2,3],["int","int","int"]]`,
		"tf":     `[[0.5,2],"tuple"]`,
		"l":      `[["a","b","c"],"list"]`,
		"geom":   `["POLYGON ((0 0, 1 0, 1 1, 0 0))","Polygon"]`,
		"i":      `[1,"int"]`,
		"f":      `[0.5,"float"]`,
		"s":      `["text","str"]`,
		"bounds": `null`,
		"d":      `[null,"NoneType"]`,
		"kwargs": `{}`,
	} {
		b, _ := json.Marshal(got[k])
		if !jsonEqual(t, string(b), want) {
			t.Errorf("%s: %s, want %s", k, b, want)
		}
	}

	// The caller's mistakes are BadRequest, naming the parameter and the type.
	for _, c := range []struct {
		path string
		q    url.Values
		msgs []string
	}{
		{"params.py", q("i", "x"), []string{"parameter i", "integer"}},
		{"params.py", q("f", "abc"), []string{"parameter f", "number"}},
		{"params.py", q("b", "maybe"), []string{"parameter b", "true or false"}},
		{"params.py", q("d", "[1]"), []string{"parameter d", "JSON object"}},
		{"params.py", q("l", "[1,"), []string{"parameter l", "JSON list"}},
		{"params.py", q("geom", "POINT (1"), []string{"geom", "GeoJSON or WKT"}},
		{"params.py", q("li", "1,x"), []string{"parameter li", "list of int", "'x'"}},
		{"params.py", q("li", "[1, 2.5]"), []string{"parameter li", "list of int", "2.5"}},
		{"params.py", q("geom", `{"type": "Point"`), []string{"geom", "GeoJSON or WKT"}},
		{"required.py", nil, []string{"parameter n", "required"}},
		{"required.py", q("n", "1", "zzz", "2"), []string{"unknown parameter zzz", "n, name"}},
	} {
		v := python.NewUDF(p, python.Options{Path: fixture(t, c.path)})
		_, err := call(v, c.q, nil)
		wantKind(t, err, layer.BadRequest, c.msgs...)
	}
}

func jsonEqual(t testing.TB, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

func TestPythonLegacySpatialParams(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	tile := tiles.Tile{Z: 5, X: 17, Y: 11}
	lb := tile.LonLat()
	u := python.NewUDF(p, python.Options{Path: fixture(t, "legacy.py")})
	got := jsonValue(t, u, nil, &tile)
	want := fmt.Sprintf(`{"bbox":[%v,%v,%v,%v],"type":"Bounds","x":17,"y":11,"z":5}`, lb.MinX, lb.MinY, lb.MaxX, lb.MaxY)
	b, _ := json.Marshal(got)
	if !jsonEqual(t, string(b), want) {
		t.Errorf("legacy.py: %s, want %s", b, want)
	}
	// File mode: no tile, no bounds.
	b, _ = json.Marshal(jsonValue(t, u, nil, nil))
	if !jsonEqual(t, string(b), `{"bbox":null,"type":"NoneType","x":null,"y":null,"z":null}`) {
		t.Errorf("legacy.py in file mode: %s", b)
	}
	// fused.types.TileGDF: a GeoDataFrame of x, y, z and the tile's polygon.
	lt := python.NewUDF(p, python.Options{Path: fixture(t, "legacy_tile.py")})
	f, ok := mustCall(t, lt, nil, &tile).(*layer.Features)
	if !ok || len(f.Collection.Features) != 1 {
		t.Fatalf("legacy_tile.py: %#v", f)
	}
	ft := f.Collection.Features[0]
	if ft.Properties["x"] != 17.0 || ft.Properties["y"] != 11.0 || ft.Properties["z"] != 5.0 {
		t.Errorf("properties %v", ft.Properties)
	}
	bb := ft.Geometry.Bound()
	if math.Abs(bb.Min[0]-lb.MinX) > 1e-9 || math.Abs(bb.Max[1]-lb.MaxY) > 1e-9 {
		t.Errorf("polygon %v, want the tile %+v", bb, lb)
	}
}

func TestPythonDefaultParametersAndMaxAge(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "default_params.py")})
	b, _ := json.Marshal(jsonValue(t, u, nil, nil))
	if !jsonEqual(t, string(b), `{"n":7,"label":"from default_parameters"}`) {
		t.Errorf("default_parameters: %s", b)
	}
	b, _ = json.Marshal(jsonValue(t, u, q("n", "3"), nil))
	if !jsonEqual(t, string(b), `{"n":3,"label":"from default_parameters"}`) {
		t.Errorf("n=3 over default_parameters: %s", b)
	}
	for name, want := range map[string]time.Duration{"max_age.py": time.Hour, "Saved_A": 2 * time.Hour} {
		m := python.NewUDF(p, python.Options{Path: fixture(t, name)})
		if err := m.Status(); err != nil {
			t.Fatal(err)
		}
		if d, ok := m.MaxAge(); !ok || d != want {
			t.Errorf("%s: MaxAge %v %v, want %v", name, d, ok, want)
		}
	}
	if d, ok := u.MaxAge(); ok {
		t.Errorf("default_params.py sets no cache_max_age, got %v", d)
	}
}

func TestPythonResults(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "returns.py")})
	tile := tiles.Tile{Z: 1, X: 1, Y: 0} // lon 0..180, lat 0..85
	raster := func(kind string, tile *tiles.Tile) *layer.Raster {
		t.Helper()
		r, ok := mustCall(t, u, q("kind", kind), tile).(*layer.Raster)
		if !ok {
			t.Fatalf("%s: not a raster", kind)
		}
		return r
	}
	at := func(r *layer.Raster, band, col, row int) float64 { return r.Bands[band][row*r.Width+col] }
	opaque := func(r *layer.Raster, col, row int) bool {
		return r.Mask == nil || r.Mask[row*r.Width+col] > 0
	}

	r := raster("uint8", nil)
	if r.Width != 256 || r.Height != 256 || len(r.Bands) != 1 || r.DType != "uint8" || at(r, 0, 0, 0) != 0 || at(r, 0, 200, 5) != 200 {
		t.Errorf("uint8: %dx%d %d bands %s", r.Width, r.Height, len(r.Bands), r.DType)
	}
	r = raster("uint8", &tile)
	if r.EPSG != 3857 || r.Bounds != tile.Mercator() || at(r, 0, 200, 5) != 200 {
		t.Errorf("uint8 tile: EPSG %d bounds %+v", r.EPSG, r.Bounds)
	}
	for kind, want := range map[string][]float64{"rgb": {10, 20, 30}, "rgba": {200, 100, 50, 255}, "hwc": {250, 0, 0}} {
		r = raster(kind, &tile)
		if len(r.Bands) != len(want) || r.DType != "uint8" {
			t.Errorf("%s: %d bands %s", kind, len(r.Bands), r.DType)
			continue
		}
		for b, w := range want {
			if got := at(r, b, 200, 10); got != w {
				t.Errorf("%s band %d: %v, want %v", kind, b, got, w)
			}
		}
	}
	r = raster("float", nil)
	if r.DType != "float32" || at(r, 0, 0, 0) != 0 || at(r, 0, 255, 0) != 100 {
		t.Errorf("float: %s %v %v", r.DType, at(r, 0, 0, 0), at(r, 0, 255, 0))
	}
	r = raster("masked", &tile)
	if opaque(r, 10, 10) || !opaque(r, 200, 10) || at(r, 0, 200, 10) != 150 {
		t.Errorf("masked: left half must be transparent, right half 150")
	}
	// (array, bounds) and an xarray with coordinates are placed by their bounds
	// (lon 0..90, lat 0..45): the rest of the tile is transparent.
	for _, kind := range []string{"placed", "xarray"} {
		r = raster(kind, &tile)
		if r.Width != 256 || r.Height != 256 || r.EPSG != 3857 {
			t.Errorf("%s: %dx%d EPSG %d", kind, r.Width, r.Height, r.EPSG)
		}
		south, north := 200.0, 200.0
		if kind == "xarray" {
			south, north = 99, 50
		}
		// Column 64 is lon 45; row 250 is about lat 2, row 194 about lat 40, row 100 about lat 74.
		if !opaque(r, 64, 250) || at(r, 0, 64, 250) != south {
			t.Errorf("%s: south of the block %v opaque %v, want %v", kind, at(r, 0, 64, 250), opaque(r, 64, 250), south)
		}
		if !opaque(r, 64, 194) || at(r, 0, 64, 194) != north {
			t.Errorf("%s: north of the block %v, want %v", kind, at(r, 0, 64, 194), north)
		}
		if opaque(r, 64, 100) || opaque(r, 200, 250) {
			t.Errorf("%s: pixels outside the bounds are not transparent", kind)
		}
	}

	features := func(kind string) *layer.Features {
		t.Helper()
		f, ok := mustCall(t, u, q("kind", kind), nil).(*layer.Features)
		if !ok {
			t.Fatalf("%s: not features", kind)
		}
		return f
	}
	f := features("gdf3857")
	if n := len(f.Collection.Features); n != 1 {
		t.Fatalf("gdf3857: %d features", n)
	}
	pt := f.Collection.Features[0].Geometry.Bound().Min
	if math.Abs(pt[0]-10) > 1e-6 || math.Abs(pt[1]) > 1e-6 || f.Collection.Features[0].Properties["name"] != "a" {
		t.Errorf("gdf3857 reprojected: %v %v, want lon 10 lat 0", pt, f.Collection.Features[0].Properties)
	}
	if n := len(features("geoseries").Collection.Features); n != 2 {
		t.Errorf("geoseries: %d features", n)
	}
	if g := features("shapely").Collection.Features[0].Geometry; g.GeoJSONType() != "Polygon" {
		t.Errorf("shapely: %s", g.GeoJSONType())
	}
	if n := len(features("empty_gdf").Collection.Features); n != 0 {
		t.Errorf("empty_gdf: %d features", n)
	}

	tab, ok := mustCall(t, u, q("kind", "df"), nil).(*layer.Table)
	if !ok {
		t.Fatal("df: not a table")
	}
	if strings.Join(tab.Columns, ",") != "hex,ids,n,name,value" || tab.Types["hex"] != "int" || tab.Types["value"] != "float" || tab.Types["name"] != "str" {
		t.Errorf("df: columns %v types %v", tab.Columns, tab.Types)
	}
	if len(tab.Rows) != 2 || fmt.Sprint(tab.Rows[0][0]) != "617700169958293503" || fmt.Sprint(tab.Rows[1][0]) != "617700169958293504" {
		t.Errorf("df rows %v: the int64 ids must keep every digit", tab.Rows)
	} else if v, _ := tab.Rows[1][4].(json.Number).Float64(); v != 1.5e-11 {
		t.Errorf("df: a small float %v arrived as %v", 1.5e-11, tab.Rows[1][4])
	}
	if tab, ok := mustCall(t, u, q("kind", "empty_df"), nil).(*layer.Table); !ok || len(tab.Rows) != 0 {
		t.Errorf("empty_df: %#v", tab)
	}

	for kind, want := range map[string]struct{ kind, ct, body string }{
		"str":         {"text", "text/html; charset=utf-8", "<b>hello</b>"},
		"int":         {"json", "application/json", "42"},
		"float_value": {"json", "application/json", "1.5"},
		"bool":        {"json", "application/json", "true"},
		"dict":        {"json", "application/json", `{"a": 1, "b": [1, 2], "n": 7}`},
		"list":        {"json", "application/json", `[1, "two", 3.0]`},
		"bytes":       {"bytes", "application/octet-stream", "\x00\x01raw bytes\xff"},
		"bytesio":     {"bytes", "application/octet-stream", "from a BytesIO"},
	} {
		v, ok := mustCall(t, u, q("kind", kind), nil).(*layer.Value)
		if !ok || v.Kind != want.kind || v.ContentType != want.ct || string(v.Body) != want.body {
			t.Errorf("%s: %#v, want %+v", kind, v, want)
		}
	}
}

func TestPythonFusedCache(t *testing.T) {
	p := startPool(t, python.Config{Workers: 2})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "cached.py")})
	dir := t.TempDir()
	counter := filepath.Join(dir, "count")
	lines := func() int {
		b, _ := os.ReadFile(counter)
		return strings.Count(string(b), "\n")
	}
	value := func(params url.Values) (float64, float64) {
		m := jsonValue(t, u, params, nil).(map[string]any)
		return m["value"].(float64), m["pid"].(float64)
	}
	v1, _ := value(q("counter", counter, "key", "a"))
	v2, _ := value(q("counter", counter, "key", "a"))
	if v1 != v2 || lines() != 1 {
		t.Errorf("second call: %v then %v, %d computations; want the cached value", v1, v2, lines())
	}
	v3, _ := value(q("counter", counter, "key", "a", "reset", "true"))
	if v3 == v1 || lines() != 2 {
		t.Errorf("cache_reset: %v (was %v), %d computations; want a new value", v3, v1, lines())
	}
	if v4, _ := value(q("counter", counter, "key", "a")); v4 != v3 {
		t.Errorf("after the reset: %v, want the recomputed %v", v4, v3)
	}

	// Two workers ask for the same key at once: one computes, the other waits
	// on the lock and reads its result.
	counter2 := filepath.Join(dir, "count2")
	var wg sync.WaitGroup
	vals, pids := make([]float64, 2), make([]float64, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals[i], pids[i] = value(q("counter", counter2, "key", "b", "sleep", "0.5"))
		}()
	}
	wg.Wait()
	b, _ := os.ReadFile(counter2)
	if n := strings.Count(string(b), "\n"); n != 1 || vals[0] != vals[1] {
		t.Errorf("concurrent calls: %d computations, values %v; want one computation", n, vals)
	}
	if pids[0] == pids[1] {
		t.Errorf("both calls ran in worker %v; the test wants two workers", pids[0])
	}
}

func TestPythonFusedLoad(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "loader.py")})
	for _, c := range []struct {
		target, attr, v, want string
	}{
		{"helper.py", "", "4", "8"},         // the UDF of a .py file
		{"helper.py", "triple", "4", "12"},  // a helper function of its module
		{"Saved_A", "", "2", "A:20"},        // a saved folder; utils imported in the body
		{"Saved_B", "", "2", "B:200"},       // another folder with another utils.py
		{"Saved_A", "", "3", "A:30"},        // A again: still its own utils
		{"Saved_B", "helper", "5", "B:500"}, // the folder's utils, through its module
	} {
		v, ok := mustCall(t, u, q("target", fixture(t, c.target), "attr", c.attr, "v", c.v), nil).(*layer.Value)
		if !ok || string(v.Body) != c.want {
			t.Errorf("fused.load(%s).%s(%s): %#v, want %s", c.target, c.attr, c.v, v, c.want)
		}
	}
	// The saved folders served directly, alternating in one worker.
	a := python.NewUDF(p, python.Options{Path: fixture(t, "Saved_A")})
	b := python.NewUDF(p, python.Options{Path: fixture(t, "Saved_B")})
	for _, c := range []struct {
		u    *python.UDF
		want string
	}{{a, "A:10"}, {b, "B:100"}, {a, "A:10"}, {b, "B:100"}} {
		text(t, c.u, nil, c.want)
	}

	common := python.NewUDF(p, python.Options{Path: fixture(t, "common_helpers.py"), Timeout: 10 * time.Second})
	got := jsonValue(t, common, nil, nil).(map[string]any)
	bounds := tiles.Bounds{MinX: -122.5, MinY: 37.7, MaxX: -122.3, MaxY: 37.85}
	zoom := 0
	for z := 20; z >= 0; z-- {
		if tiles.Cover(bounds, z).Count() <= 1 {
			zoom = z
			break
		}
	}
	var want [][]int
	tiles.Cover(bounds, 12).Each(func(t tiles.Tile) bool {
		want = append(want, []int{t.X, t.Y, t.Z})
		return true
	})
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(got["tiles"])
	if got["zoom"] != float64(zoom) || !jsonEqual(t, string(gb), string(wb)) || got["tiles_crs"] != 4326.0 || got["tiles_cover"] != true {
		t.Errorf("common: zoom %v (want %d), tiles %s (want %s), crs %v, cover %v", got["zoom"], zoom, gb, wb, got["tiles_crs"], got["tiles_cover"])
	}
	// The bounds of tile 12/655/1582 are that tile's zoom, not a parent's; the
	// world is zoom 0, found without listing the tiles of deep zooms.
	if got["tile_zoom"] != 12.0 || got["world_zoom"] != 0.0 {
		t.Errorf("estimate_zoom: tile %v, world %v; want 12 and 0", got["tile_zoom"], got["world_zoom"])
	}
	rb, _ := json.Marshal([]any{got["rgb"], got["rgba"], got["alpha_first_last"], got["colours_differ"]})
	if !jsonEqual(t, string(rb), `[["uint8",[3,64,64]],["uint8",[4,64,64]],[0,255],true]`) {
		t.Errorf("arr_to_plasma: %s", rb)
	}
}

func TestPythonFusedRun(t *testing.T) {
	echo, err := filepath.Abs("../udfs/bounds_echo.py")
	if err != nil {
		t.Fatal(err)
	}
	p := startPool(t, python.Config{Workers: 1, UDFs: map[string]any{
		"echo":      map[string]string{"path": echo, "kind": "python"},
		"elevation": map[string]string{"path": "data/demo/elevation.tif", "kind": "cog"},
	}})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "run_other.py")})
	got := jsonValue(t, u, q("label", "hi"), nil).(map[string]any)
	lb := tiles.Tile{Z: 4, X: 3, Y: 5}.LonLat()
	if got["label"] != "hi" || got["x"] != 3.0 || got["y"] != 5.0 || got["z"] != 4.0 {
		t.Errorf("fused.run: %v", got)
	}
	b, _ := got["bounds"].([]any)
	for i, w := range []float64{lb.MinX, lb.MinY, lb.MaxX, lb.MaxY} {
		if len(b) != 4 || math.Abs(b[i].(float64)-w) > 1e-9 {
			t.Errorf("fused.run: bounds %v, want those of tile 4/3/5 %+v", got["bounds"], lb)
			break
		}
	}
	_, err = call(u, q("name", "no_such_udf"), nil)
	wantKind(t, err, layer.Failed, "no_such_udf")
}

func TestPythonDownload(t *testing.T) {
	var hits sync.Map
	srv := newSlowFileServer(t, &hits)
	cache := t.TempDir()
	p := startPool(t, python.Config{Workers: 2, CacheDir: cache})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "download.py")})

	local := filepath.Join(t.TempDir(), "local.txt")
	if err := os.WriteFile(local, []byte("local bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := jsonValue(t, u, q("url", local, "name", "copies/local.txt"), nil).(map[string]any)
	if got["text"] != "local bytes" || !strings.HasPrefix(got["path"].(string), cache) {
		t.Errorf("a local file: %v", got)
	}

	var wg sync.WaitGroup
	res := make([]map[string]any, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = jsonValue(t, u, q("url", srv+"/data.txt", "name", "web/data.txt"), nil).(map[string]any)
		}()
	}
	wg.Wait()
	if n, _ := hits.Load("/data.txt"); n != 1 {
		t.Errorf("two concurrent downloads fetched the URL %v times, want once", n)
	}
	for i, r := range res {
		if r["text"] != "served over http" {
			t.Errorf("download %d: %v", i, r)
		}
	}
	if res[0]["pid"] == res[1]["pid"] {
		t.Errorf("both downloads ran in one worker; the test wants two")
	}
	// Already downloaded: no new request.
	jsonValue(t, u, q("url", srv+"/data.txt", "name", "web/data.txt"), nil)
	if n, _ := hits.Load("/data.txt"); n != 1 {
		t.Errorf("a third call fetched again: %v requests", n)
	}
}

func TestPythonSecrets(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1, Secrets: map[string]string{"K": "s3cret"}})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "use_secret.py")})
	text(t, u, nil, "s3cret")
	_, err := call(u, q("key", "MISSING"), nil)
	wantKind(t, err, layer.Failed, "KeyError", "MISSING", "not configured")
}

func TestPythonIsolation(t *testing.T) {
	t.Setenv("UDFTILES_TEST_SECRET", "x")
	cache := t.TempDir()
	p := startPool(t, python.Config{Workers: 1, MemoryMB: 1024, CacheDir: cache})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "faults.py")})
	got := jsonValue(t, u, q("mode", "env"), nil).(map[string]any)
	if got["secret"] != nil || got["home"] != cache {
		t.Errorf("worker environment: %v; want no UDFTILES_TEST_SECRET and HOME=%s", got, cache)
	}
	_, err := call(u, q("mode", "memory"), nil)
	wantKind(t, err, layer.Failed, "MemoryError", "faults.py")
	text(t, u, nil, "ok") // the worker survived its MemoryError
}

func TestPythonQueue(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "pid.py"), Queue: 1})
	if err := u.Status(); err != nil {
		t.Fatal(err)
	}
	// One call runs, one waits in the queue of 1, the third is refused.
	errs := make(chan error, 3)
	for range 2 {
		go func() {
			_, err := call(u, q("sleep", "0.8"), nil)
			errs <- err
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().Busy < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the second call is waiting for the worker
	_, err := call(u, q("sleep", "0"), nil)
	wantKind(t, err, layer.Unavailable, "too many calls")
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("a queued call failed: %v", err)
		}
	}
	// Once drained, calls are accepted again.
	mustCall(t, u, nil, nil)
}

func TestPythonReload(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	dir := t.TempDir()
	path := filepath.Join(dir, "edit.py")
	write := func(path, code string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(path, "import fused\n\n@fused.udf\ndef udf():\n    return 'one'\n")
	u := python.NewUDF(p, python.Options{Path: path})
	v1 := u.Version()
	text(t, u, nil, "one")
	write(path, "import fused\n\n@fused.udf\ndef udf(n: int = 2):\n    return 'two'\n")
	time.Sleep(600 * time.Millisecond)
	if v2 := u.Version(); v2 == v1 || v2 == "" {
		t.Errorf("version after the edit %q, was %q", v2, v1)
	}
	text(t, u, nil, "two")
	if s := u.Schema(); len(s.Params) != 1 || s.Params[0].Name != "n" {
		t.Errorf("schema after the edit: %+v", s.Params)
	}

	// A saved folder: editing only utils.py is a new version, and the worker runs the new code.
	folder := filepath.Join(dir, "Saved_C")
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(folder, "Saved_C.py"), "import fused\n\n@fused.udf\ndef udf():\n    from utils import helper\n    return helper()\n")
	write(filepath.Join(folder, "utils.py"), "def helper():\n    return 'first'\n")
	c := python.NewUDF(p, python.Options{Path: folder})
	c1 := c.Version()
	text(t, c, nil, "first")
	write(filepath.Join(folder, "utils.py"), "def helper():\n    return 'second, longer'\n")
	time.Sleep(600 * time.Millisecond)
	if c2 := c.Version(); c2 == c1 {
		t.Errorf("editing utils.py kept version %q", c1)
	}
	text(t, c, nil, "second, longer")
}

func TestPythonCloseEndsBusyWorkers(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "pid.py")})
	pid := int(jsonValue(t, u, nil, nil).(float64))
	done := make(chan error, 1)
	go func() {
		_, err := call(u, q("sleep", "0.5"), nil)
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().Busy < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	p.Close()
	<-done
	deadline = time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("worker %d still runs after Close", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// text runs u and checks that it returned the string want.
func text(t testing.TB, u *python.UDF, params url.Values, want string) {
	t.Helper()
	v, ok := mustCall(t, u, params, nil).(*layer.Value)
	if !ok || v.Kind != "text" || string(v.Body) != want {
		t.Errorf("result %#v, want the text %q", v, want)
	}
}

// newSlowFileServer serves /data.txt slowly enough for concurrent downloads to
// overlap, counting requests by path.
func newSlowFileServer(t testing.TB, hits *sync.Map) string {
	t.Helper()
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n, _ := hits.Load(r.URL.Path)
		c, _ := n.(int)
		hits.Store(r.URL.Path, c+1)
		mu.Unlock()
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "served over http")
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// The timeout is the UDF's running time: waiting for a busy worker does not
// eat into it, and a call that finds no free worker within it is told to retry.
func TestPythonWaitIsNotRunTime(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	path := fixture(t, "pid.py")
	slow := python.NewUDF(p, python.Options{Path: path, Timeout: 5 * time.Second})
	impatient := python.NewUDF(p, python.Options{Path: path, Timeout: 500 * time.Millisecond})
	patient := python.NewUDF(p, python.Options{Path: path, Timeout: 1500 * time.Millisecond})
	for _, u := range []*python.UDF{slow, impatient, patient} {
		mustCall(t, u, nil, nil) // inspected and loaded
	}
	slowDone := make(chan error, 1)
	go func() {
		_, err := call(slow, q("sleep", "1.0"), nil)
		slowDone <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().Busy < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	patientDone := make(chan error, 1)
	go func() {
		// Waits about 1s for the worker, then runs 0.8s: within its 1.5s.
		_, err := call(patient, q("sleep", "0.8"), nil)
		patientDone <- err
	}()
	start := time.Now()
	_, err := call(impatient, q("sleep", "0.01"), nil)
	wantKind(t, err, layer.Unavailable, "busy")
	if took := time.Since(start); took < 400*time.Millisecond || took > 900*time.Millisecond {
		t.Errorf("gave up waiting after %v, want about its 500ms", took)
	}
	if err := <-slowDone; err != nil {
		t.Errorf("the slow call: %v", err)
	}
	if err := <-patientDone; err != nil {
		t.Errorf("the call that waited for the worker: %v", err)
	}
	if r := p.Stats().Restarts; r != 0 {
		t.Errorf("%d workers restarted; none timed out", r)
	}
}
