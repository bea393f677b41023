package gohandler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/gohandler"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/web"
)

// run coerces query parameters against h's schema, as the server does, and runs h.
func run(t *testing.T, h layer.Handler, tile *tiles.Tile, bounds tiles.Bounds, query string) (layer.Result, error) {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	params, err := h.Schema().Coerce(q)
	if err != nil {
		return nil, err
	}
	if tile != nil {
		bounds = tile.LonLat()
	}
	return h.Run(context.Background(), layer.Request{Tile: tile, Bounds: bounds, Params: params})
}

func mustTile(t *testing.T, z, x, y int) *tiles.Tile {
	t.Helper()
	tl, err := tiles.New(z, x, y)
	if err != nil {
		t.Fatal(err)
	}
	return &tl
}

func newBuiltin(t *testing.T, name string, opts map[string]any) layer.Handler {
	t.Helper()
	h, err := gohandler.Builtin().New(name, opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type stubHandler struct{ layer.Handler }

func TestGoHandlersNew(t *testing.T) {
	boom := errors.New("boom")
	g := gohandler.Builtin()
	g["failing"] = func(map[string]any) (layer.Handler, error) { return nil, boom }
	g["panicking"] = func(map[string]any) (layer.Handler, error) { panic("kaput") }
	g["empty"] = func(map[string]any) (layer.Handler, error) { return nil, nil }
	var got map[string]any
	g["echo"] = func(o map[string]any) (layer.Handler, error) { got = o; return stubHandler{}, nil }

	if got := g.Names(); strings.Join(got, ",") != "checker,echo,empty,failing,panicking,tilegrid" {
		t.Errorf("Names() = %v", got)
	}
	// The map is the caller's: another call starts from the built-ins again.
	if n := len(gohandler.Builtin()); n != 2 {
		t.Errorf("Builtin() has %d entries after another map was changed, want 2", n)
	}
	if _, err := g.New("echo", map[string]any{"a": 1}); err != nil || got["a"] != 1 {
		t.Errorf("echo: err %v, options passed %v", err, got)
	}
	for _, c := range []struct{ name, want string }{
		{"nope", `no Go handler named "nope" in this server; it has: checker, echo, empty, failing, panicking, tilegrid`},
		{"failing", "Go handler failing: boom"},
		{"panicking", "Go handler panicking panicked while starting: kaput"},
		{"empty", "Go handler empty returned no handler and no error"},
	} {
		h, err := g.New(c.name, nil)
		if err == nil || err.Error() != c.want || h != nil {
			t.Errorf("New(%q) = %v, %v; want nil, %q", c.name, h, err, c.want)
		}
	}
	if _, err := g.New("failing", nil); !errors.Is(err, boom) {
		t.Errorf("a factory's error is not wrapped: %v", err)
	}
}

func TestDecodeOptions(t *testing.T) {
	type opts struct {
		N     int               `json:"n"`
		Name  string            `json:"name"`
		Props map[string]string `json:"props"`
	}
	var o opts
	if err := gohandler.DecodeOptions(map[string]any{"n": 3, "name": "x", "props": map[string]any{"a": "b"}}, &o); err != nil {
		t.Fatal(err)
	}
	if o.N != 3 || o.Name != "x" || o.Props["a"] != "b" {
		t.Errorf("decoded %+v", o)
	}
	if err := gohandler.DecodeOptions(nil, &o); err != nil || o.N != 3 {
		t.Errorf("nil options: %v, %+v (want no change)", err, o)
	}
	for _, c := range []struct {
		in   map[string]any
		want string
	}{
		{map[string]any{"nn": 3}, `options: unknown field "nn"`},
		{map[string]any{"n": "three"}, "options: n: want int, got string"},
		{map[string]any{"props": map[string]any{"a": 1}}, "options: props: want string, got number"},
	} {
		if err := gohandler.DecodeOptions(c.in, &opts{}); err == nil || err.Error() != c.want {
			t.Errorf("DecodeOptions(%v) = %v, want %q", c.in, err, c.want)
		}
	}
}

func TestTileGrid(t *testing.T) {
	h := newBuiltin(t, "tilegrid", map[string]any{"properties": map[string]any{"source": "grid"}})
	tile := mustTile(t, 3, 4, 2)
	res, err := run(t, h, tile, tiles.Bounds{}, "")
	if err != nil {
		t.Fatal(err)
	}
	fc := res.(*layer.Features).Collection
	if len(fc.Features) != 1 {
		t.Fatalf("%d features, want 1", len(fc.Features))
	}
	f := fc.Features[0]
	b := tile.LonLat()
	if got := f.Geometry.Bound(); got != (orb.Bound{Min: orb.Point{b.MinX, b.MinY}, Max: orb.Point{b.MaxX, b.MaxY}}) {
		t.Errorf("outline %v, want the tile's bounds %v", got, b)
	}
	if f.Properties["label"] != "3/4/2" || f.Properties["z"] != 3 || f.Properties["x"] != 4 || f.Properties["y"] != 2 || f.Properties["source"] != "grid" {
		t.Errorf("properties %v", f.Properties)
	}

	// depth= outlines the descendants.
	res, err = run(t, h, tile, tiles.Bounds{}, "depth=2")
	if err != nil {
		t.Fatal(err)
	}
	fc = res.(*layer.Features).Collection
	if len(fc.Features) != 16 || fc.Features[0].Properties["label"] != "5/16/8" || fc.Features[15].Properties["label"] != "5/19/11" {
		t.Errorf("depth=2: %d features, first %v, last %v", len(fc.Features), fc.Features[0].Properties, fc.Features[len(fc.Features)-1].Properties)
	}
	if _, err := run(t, h, tile, tiles.Bounds{}, "depth=5"); layer.KindOf(err) != layer.BadRequest {
		t.Errorf("depth=5: %v, want a bad request", err)
	}

	// File mode: the tiles of zoom= across the bounds; the whole world by default.
	res, err = run(t, h, nil, tiles.Bounds{MinX: 1, MinY: 1, MaxX: 50, MaxY: 50}, "zoom=3")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.(*layer.Features).Collection.Features); n != 4 { // 45° tiles: x 4..5, y 2..3
		t.Errorf("file mode zoom=3: %d features, want 4", n)
	}
	res, err = run(t, h, nil, tiles.Bounds{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.(*layer.Features).Collection.Features); n != 16 {
		t.Errorf("file mode, default zoom 2 over the world: %d features, want 16", n)
	}
	if _, err := run(t, h, nil, tiles.Bounds{}, "zoom=7"); layer.KindOf(err) != layer.TooLarge {
		t.Errorf("16384 tiles: %v, want too large", err)
	}

	// Options: zooms, and the version follows them.
	z := newBuiltin(t, "tilegrid", map[string]any{"minzoom": 2, "maxzoom": 9})
	if s := z.Schema(); s.MinZoom != 2 || s.MaxZoom != 9 {
		t.Errorf("zooms %d..%d, want 2..9", s.MinZoom, s.MaxZoom)
	}
	if z.Version() == h.Version() || z.Version() != newBuiltin(t, "tilegrid", map[string]any{"maxzoom": 9, "minzoom": 2}).Version() {
		t.Errorf("versions do not follow the options: %s, %s", z.Version(), h.Version())
	}
	for opts, want := range map[string]string{
		`{"maxzoom": 40}`:   "Go handler tilegrid: options: minzoom 0 / maxzoom 40: want 0 <= minzoom <= maxzoom <= 30",
		`{"colour": "red"}`: `Go handler tilegrid: options: unknown field "colour"`,
	} {
		var o map[string]any
		json.Unmarshal([]byte(opts), &o)
		if _, err := gohandler.Builtin().New("tilegrid", o); err == nil || err.Error() != want {
			t.Errorf("options %s: %v, want %q", opts, err, want)
		}
	}
}

func TestChecker(t *testing.T) {
	h := newBuiltin(t, "checker", nil)
	res, err := run(t, h, mustTile(t, 0, 0, 0), tiles.Bounds{}, "")
	if err != nil {
		t.Fatal(err)
	}
	r := res.(*layer.Raster)
	if r.Width != 256 || r.Height != 256 || len(r.Bands) != 1 || r.DType != "uint8" || r.EPSG != 3857 || r.Mask != nil {
		t.Fatalf("raster %dx%d, %d bands, %s, EPSG:%d, mask %v", r.Width, r.Height, len(r.Bands), r.DType, r.EPSG, r.Mask != nil)
	}
	at := func(r *layer.Raster, i, j int) float64 { return r.Bands[0][j*r.Width+i] }
	for _, c := range []struct {
		i, j int
		want float64
	}{{0, 0, 0}, {31, 31, 0}, {32, 0, 255}, {0, 32, 255}, {32, 32, 0}, {255, 0, 255}} {
		if v := at(r, c.i, c.j); v != c.want {
			t.Errorf("default 32 px squares: pixel %d,%d = %g, want %g", c.i, c.j, v, c.want)
		}
	}
	// Squares follow the global pixel grid: 100 px squares, tile x=1 starts at pixel 256.
	res, err = run(t, h, mustTile(t, 1, 1, 0), tiles.Bounds{}, "size=100&tilesize=512&transparent=true")
	if err != nil {
		t.Fatal(err)
	}
	r = res.(*layer.Raster)
	if r.Width != 512 {
		t.Errorf("tilesize=512: width %d", r.Width)
	}
	// Global pixel x 512 is in square 5, y 0 in square 0: odd, light; x 600 is square 6: dark.
	if at(r, 0, 0) != 255 || at(r, 88, 0) != 0 || r.Mask[0] != 255 || r.Mask[88] != 0 {
		t.Errorf("global alignment or transparency: %g %g mask %d %d", at(r, 0, 0), at(r, 88, 0), r.Mask[0], r.Mask[88])
	}
	if _, err := run(t, h, mustTile(t, 0, 0, 0), tiles.Bounds{}, "size=0"); layer.KindOf(err) != layer.BadRequest {
		t.Errorf("size=0: %v, want a bad request", err)
	}
	if _, err := run(t, h, mustTile(t, 0, 0, 0), tiles.Bounds{}, "tilesize=300"); layer.KindOf(err) != layer.BadRequest {
		t.Errorf("tilesize=300: %v, want a bad request", err)
	}
	f := newBuiltin(t, "checker", map[string]any{"low": -1.5, "high": 2})
	res, err = run(t, f, mustTile(t, 0, 0, 0), tiles.Bounds{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if r := res.(*layer.Raster); r.DType != "float32" || at(r, 0, 0) != -1.5 || at(r, 32, 0) != 2 {
		t.Errorf("low/high: %s %g %g", r.DType, at(r, 0, 0), at(r, 32, 0))
	}
}

// TestGoHandlersOverHTTP serves the built-in Go handlers through the real router.
func TestGoHandlersOverHTTP(t *testing.T) {
	reg := layer.NewRegistry()
	goh := gohandler.Builtin()
	for _, l := range []struct {
		name, factory string
		opts          map[string]any
		defaults      url.Values
	}{
		{"grid", "tilegrid", nil, nil},
		{"checker", "checker", nil, url.Values{"colormap": {"plasma"}}},
		{"broken", "nope", nil, nil},
	} {
		h, err := goh.New(l.factory, l.opts)
		reg.Add(&layer.Layer{Name: l.name, Kind: "go", Handler: h, Err: err, MaxAge: 3600e9, Defaults: l.defaults})
	}
	c, err := cache.New(16<<20, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	srv := web.New(web.Deps{Registry: reg, Cache: c, Version: "test"})
	get := func(target string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		return w
	}

	w := get("/v1/udfs/grid/tiles/3/4/2")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/geo+json" {
		t.Fatalf("grid tile: %d %s %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	fc, err := geojson.UnmarshalFeatureCollection(w.Body.Bytes())
	if err != nil || len(fc.Features) != 1 || fc.Features[0].Properties["label"] != "3/4/2" {
		t.Errorf("grid tile body: %v %s", err, w.Body)
	}
	if w := get("/v1/udfs/grid/tiles/3/4/2.csv?depth=1"); w.Code != 200 || strings.Count(w.Body.String(), "\n") != 5 {
		t.Errorf("grid csv depth=1: %d %q", w.Code, w.Body)
	}
	if w := get("/v1/udfs/grid/run?bounds=1,1,50,50&zoom=3"); w.Code != 200 || strings.Count(w.Body.String(), `"label"`) != 4 {
		t.Errorf("grid file mode: %d %s", w.Code, w.Body)
	}

	for _, size := range []int{256, 512} {
		w := get("/v1/udfs/checker/tiles/3/4/2.png?tilesize=" + map[int]string{256: "256", 512: "512"}[size])
		if w.Code != 200 || w.Header().Get("Content-Type") != "image/png" {
			t.Fatalf("checker tile: %d %s %s", w.Code, w.Header().Get("Content-Type"), w.Body)
		}
		img, err := png.Decode(bytes.NewReader(w.Body.Bytes()))
		if err != nil || img.Bounds().Dx() != size {
			t.Errorf("checker png: %v, %v", err, img.Bounds())
		}
	}
	for target, status := range map[string]int{
		"/v1/udfs/checker/tiles/3/4/2?size=0":   400,
		"/v1/udfs/checker/tiles/3/4/2.geojson":  400,
		"/v1/udfs/checker/run":                  400, // tile mode only
		"/v1/udfs/grid/tiles/3/4/2?depth=9":     400,
		"/v1/udfs/broken/tiles/3/4/2":           503,
		"/v1/udfs/grid/tiles/3/4/2?unknown=yes": 400,
	} {
		if w := get(target); w.Code != status {
			t.Errorf("GET %s: %d, want %d: %s", target, w.Code, status, w.Body)
		}
	}

	var list struct {
		UDFs []struct {
			Name, Handler, Status, Error string
		} `json:"udfs"`
	}
	if err := json.Unmarshal(get("/v1/udfs").Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	for _, u := range list.UDFs {
		want := "ok"
		if u.Name == "broken" {
			want = "error"
			if !strings.Contains(u.Error, `no Go handler named "nope"`) {
				t.Errorf("broken layer's error: %q", u.Error)
			}
		}
		if u.Status != want || u.Handler != "go" {
			t.Errorf("/v1/udfs %s: handler %s status %s, want go %s", u.Name, u.Handler, u.Status, want)
		}
	}
}
