package python_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/python"
	"github.com/udftiles/udftiles/tiles"
)

// parityRaster runs returns_parity.py with kind and wants a raster.
func parityRaster(t *testing.T, u *python.UDF, kind string, tile *tiles.Tile) *layer.Raster {
	t.Helper()
	r, ok := mustCall(t, u, q("kind", kind), tile).(*layer.Raster)
	if !ok {
		t.Fatalf("%s: not a raster", kind)
	}
	if r.Bands == nil {
		r.Widen()
	}
	return r
}

func pixel(r *layer.Raster, band, col, row int) float64 { return r.Bands[band][row*r.Width+col] }

func opaqueAt(r *layer.Raster, col, row int) bool {
	return r.Mask == nil || r.Mask[row*r.Width+col] > 0
}

// jsonOf marshals v for comparing with jsonEqual.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReturnsParityArraysWithBounds(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "returns_parity.py")})
	tile := tiles.Tile{Z: 1, X: 1, Y: 0} // lon 0..180, lat 0..85

	// (array, bounds) with the bounds as a list, a tuple, an ndarray,
	// fused.types.Bounds, a shapely geometry (its bounds) and GeoDataFrames (their
	// total_bounds, reprojected): the block covers lon 0..90, lat 0..45 only.
	for _, kind := range []string{"bounds_list", "bounds_tuple", "bounds_ndarray", "bounds_fused", "bounds_shapely",
		"bounds_gdf", "bounds_gdf3857", "xarray_tuple", "dataset_tuple", "pil_tuple"} {
		r := parityRaster(t, u, kind, &tile)
		if r.Width != 256 || r.Height != 256 || r.EPSG != 3857 {
			t.Errorf("%s: %dx%d EPSG %d", kind, r.Width, r.Height, r.EPSG)
			continue
		}
		// Column 32 is lon 22.5, column 96 lon 67.5; row 250 about lat 2, row 194
		// about lat 40, row 100 about lat 74 (outside).
		south, north := 200.0, 200.0
		switch kind {
		case "xarray_tuple", "dataset_tuple":
			south, north = 99, 50
		case "pil_tuple":
			south, north = 255, 255 // red on the west half
		}
		for _, c := range []struct {
			col, row int
			want     float64
		}{{32, 250, south}, {32, 194, north}} {
			if !opaqueAt(r, c.col, c.row) || pixel(r, 0, c.col, c.row) != c.want {
				t.Errorf("%s: pixel (%d, %d) = %v (opaque %v), want %v", kind, c.col, c.row,
					pixel(r, 0, c.col, c.row), opaqueAt(r, c.col, c.row), c.want)
			}
		}
		if opaqueAt(r, 32, 100) || opaqueAt(r, 200, 250) {
			t.Errorf("%s: pixels outside the bounds are not transparent", kind)
		}
		if kind == "pil_tuple" {
			if len(r.Bands) != 3 || pixel(r, 0, 96, 194) != 0 || pixel(r, 2, 96, 194) != 255 {
				t.Errorf("pil_tuple: %d bands, east half %v,%v,%v, want blue", len(r.Bands),
					pixel(r, 0, 96, 194), pixel(r, 1, 96, 194), pixel(r, 2, 96, 194))
			}
		}
	}

	// In file mode the tuple's bounds place the array, not the xarray's metres.
	r := parityRaster(t, u, "xarray_tuple", nil)
	if r.Width != 30 || r.Height != 20 || r.EPSG != 4326 || r.Bounds != (tiles.Bounds{MinX: 0, MinY: 0, MaxX: 90, MaxY: 45}) {
		t.Errorf("xarray_tuple in file mode: %dx%d EPSG %d bounds %+v", r.Width, r.Height, r.EPSG, r.Bounds)
	}
	if pixel(r, 0, 0, 0) != 50 || pixel(r, 0, 0, 19) != 99 {
		t.Errorf("xarray_tuple in file mode: north %v south %v, want 50 and 99", pixel(r, 0, 0, 0), pixel(r, 0, 0, 19))
	}

	_, err := call(u, q("kind", "bounds_short"), nil)
	wantKind(t, err, layer.Failed, "(array, bounds)", "[xmin, ymin, xmax, ymax]", "[0.0, 0.0, 90.0]")
}

func TestReturnsParityManyDimensionsAndImages(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "returns_parity.py")})

	// (time, band, y, x): the first time step, as Fused truncates to 3 dimensions.
	r := parityRaster(t, u, "4d", nil)
	if len(r.Bands) != 3 || r.Width != 16 || r.Height != 16 {
		t.Fatalf("4d: %d bands %dx%d, want 3 bands 16x16", len(r.Bands), r.Width, r.Height)
	}
	for b, want := range []float64{10, 20, 30} {
		if got := pixel(r, b, 5, 5); got != want {
			t.Errorf("4d band %d: %v, want %v (time 0)", b, got, want)
		}
	}
	// (1, 1, H, W, 1): one band.
	r = parityRaster(t, u, "5d", nil)
	if len(r.Bands) != 1 || r.Width != 16 || pixel(r, 0, 2, 2) != 77 || pixel(r, 0, 12, 2) != 177 {
		t.Errorf("5d: %d bands %dx%d, values %v %v", len(r.Bands), r.Width, r.Height, pixel(r, 0, 2, 2), pixel(r, 0, 12, 2))
	}
	_, err := call(u, q("kind", "1d"), nil)
	wantKind(t, err, layer.Failed, "unsupported array shape (5,)")

	// A PIL image: its pixels, RGB (a palette with transparency as RGBA), in
	// file mode at its size and in tile mode over the tile.
	r = parityRaster(t, u, "pil_rgb", nil)
	if len(r.Bands) != 3 || r.Width != 64 || r.Height != 32 || r.DType != "uint8" {
		t.Fatalf("pil_rgb: %d bands %dx%d %s", len(r.Bands), r.Width, r.Height, r.DType)
	}
	rgb := func(r *layer.Raster, col, row int) string {
		return fmt.Sprintf("%v,%v,%v", pixel(r, 0, col, row), pixel(r, 1, col, row), pixel(r, 2, col, row))
	}
	if rgb(r, 10, 10) != "255,0,0" || rgb(r, 50, 10) != "0,0,255" {
		t.Errorf("pil_rgb: %s and %s, want red then blue", rgb(r, 10, 10), rgb(r, 50, 10))
	}
	tile := tiles.Tile{Z: 2, X: 1, Y: 1}
	r = parityRaster(t, u, "pil_rgb", &tile)
	if r.Width != 256 || r.Height != 256 || rgb(r, 60, 128) != "255,0,0" || rgb(r, 200, 128) != "0,0,255" {
		t.Errorf("pil_rgb tile: %dx%d %s %s", r.Width, r.Height, rgb(r, 60, 128), rgb(r, 200, 128))
	}
	r = parityRaster(t, u, "pil_palette", nil)
	if len(r.Bands) != 4 || pixel(r, 3, 1, 1) != 0 || pixel(r, 3, 6, 1) != 255 || pixel(r, 1, 6, 1) != 200 {
		t.Errorf("pil_palette: %d bands, alpha %v/%v green %v", len(r.Bands), pixel(r, 3, 1, 1), pixel(r, 3, 6, 1), pixel(r, 1, 6, 1))
	}
}

func TestReturnsParityTablesAndJSON(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "returns_parity.py")})

	// A GeoDataFrame without an active geometry column is a table.
	tab, ok := mustCall(t, u, q("kind", "gdf_no_geometry"), nil).(*layer.Table)
	if !ok {
		t.Fatal("gdf_no_geometry: not a table")
	}
	if strings.Join(tab.Columns, ",") != "a,b" || tab.Types["a"] != "int" || fmt.Sprint(tab.Rows) != "[[1 x] [2 y]]" {
		t.Errorf("gdf_no_geometry: %v %v %v", tab.Columns, tab.Types, tab.Rows)
	}

	// Dicts of frames, series, arrays and NumPy scalars: their values, not their printed text.
	got := jsonOf(t, jsonValue(t, u, q("kind", "dict_frames"), nil))
	want := `{
		"df": [{"n": 1, "v": 0.5, "when": "2024-01-02T00:00:00"}, {"n": 2, "v": null, "when": null}],
		"series": [1.5, 2.5],
		"counts": {"a": 3, "b": 1},
		"arr": [[1, null], [3, 4]],
		"ints": [0, 1, 2],
		"n": 7, "f": 1.5, "ok": true,
		"gdf": {"type": "FeatureCollection", "features": [{"id": "0", "type": "Feature", "properties": {"name": "p"},
			"geometry": {"type": "Point", "coordinates": [1, 2]}}]},
		"geom": {"type": "Point", "coordinates": [3, 4]}
	}`
	if !jsonEqual(t, got, want) {
		t.Errorf("dict_frames: %s\nwant %s", got, want)
	}
	// Other tuples are JSON lists.
	got = jsonOf(t, jsonValue(t, u, q("kind", "tuple"), nil))
	if want := `[1, "two", [0, 1, 2], {"f": 2.5}, [{"a": 1}]]`; !jsonEqual(t, got, want) {
		t.Errorf("tuple: %s, want %s", got, want)
	}
}

func TestReturnsParityAsync(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "async_udf.py")})
	// File mode: awaited, with a nested fused.run of another async UDF.
	for i := 0; i < 2; i++ { // a second call gets a fresh event loop
		got := jsonOf(t, jsonValue(t, u, q("n", "4"), nil))
		if want := `{"squares": [0, 1, 4, 9], "doubled": [0, 2, 4, 6], "bounds": null}`; !jsonEqual(t, got, want) {
			t.Errorf("async file mode: %s, want %s", got, want)
		}
	}
	tile := tiles.Tile{Z: 3, X: 4, Y: 2}
	r, ok := mustCall(t, u, nil, &tile).(*layer.Raster)
	if !ok {
		t.Fatal("async tile: not a raster")
	}
	if r.Bands == nil {
		r.Widen()
	}
	if r.Width != 256 || pixel(r, 0, 10, 10) != 103 {
		t.Errorf("async tile: %dx%d value %v, want 103", r.Width, r.Height, pixel(r, 0, 10, 10))
	}
}

func TestParamsParityFrames(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "frame_params.py")})
	types := map[string]layer.ParamType{}
	for _, p := range u.Schema().Params {
		types[p.Name] = p.Type
	}
	if types["df"] != layer.DataFrame || types["gdf"] != layer.GeoDataFrame || types["opt"] != layer.GeoDataFrame {
		t.Errorf("schema types %v, want df dataframe, gdf and opt geodataframe", types)
	}

	fc := `{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"n": 1},
		"geometry": {"type": "Point", "coordinates": [1, 2]}}]}`
	got := jsonOf(t, jsonValue(t, u, q("df", `[{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]`, "gdf", fc, "opt", "POINT (3 4)"), nil))
	want := `{
		"df": {"type": "DataFrame", "columns": ["a", "b"], "rows": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], "wkt": null, "crs": null},
		"gdf": {"type": "GeoDataFrame", "columns": ["n", "geometry"], "rows": [{"n": 1}], "wkt": ["POINT (1 2)"], "crs": "EPSG:4326"},
		"opt": {"type": "GeoDataFrame", "columns": ["geometry"], "rows": [], "wkt": ["POINT (3 4)"], "crs": "EPSG:4326"}
	}`
	if !jsonEqual(t, got, want) {
		t.Errorf("frames: %s\nwant %s", got, want)
	}
	// A Feature and a geometry as GeoDataFrames; records with a geometry field;
	// a JSON object of columns as a DataFrame.
	got = jsonOf(t, jsonValue(t, u, q(
		"df", `{"a": [1, 2], "b": [3, 4]}`,
		"gdf", `[{"name": "a", "geometry": "POINT (1 2)"}, {"name": "b", "geometry": {"type": "Point", "coordinates": [5, 6]}}]`,
		"opt", `{"type": "Feature", "properties": {"k": "v"}, "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}`), nil))
	want = `{
		"df": {"type": "DataFrame", "columns": ["a", "b"], "rows": [{"a": 1, "b": 3}, {"a": 2, "b": 4}], "wkt": null, "crs": null},
		"gdf": {"type": "GeoDataFrame", "columns": ["name", "geometry"], "rows": [{"name": "a"}, {"name": "b"}],
			"wkt": ["POINT (1 2)", "POINT (5 6)"], "crs": "EPSG:4326"},
		"opt": {"type": "GeoDataFrame", "columns": ["k", "geometry"], "rows": [{"k": "v"}], "wkt": ["LINESTRING (0 0, 1 1)"], "crs": "EPSG:4326"}
	}`
	if !jsonEqual(t, got, want) {
		t.Errorf("frames: %s\nwant %s", got, want)
	}
	got = jsonOf(t, jsonValue(t, u, q("gdf", `{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}`), nil))
	if want := `{"gdf": {"type": "GeoDataFrame", "columns": ["geometry"], "rows": [], "wkt": ["POLYGON ((0 0, 1 0, 1 1, 0 0))"], "crs": "EPSG:4326"}}`; !jsonEqual(t, got, want) {
		t.Errorf("geometry as a GeoDataFrame: %s", got)
	}

	for _, c := range []struct {
		q    url.Values
		msgs []string
	}{
		{q("df", "[1, 2]"), []string{"parameter df", "record 0 is not a JSON object"}},
		{q("df", "POINT (1 2)"), []string{"parameter df", "JSON records"}},
		{q("gdf", `{"type": "Point"`), []string{"parameter gdf", "GeoJSON"}},
		{q("gdf", `[{"a": 1}]`), []string{"parameter gdf", "no geometry field"}},
		{q("gdf", `POINT (1`), []string{"parameter gdf"}},
	} {
		_, err := call(u, c.q, nil)
		wantKind(t, err, layer.BadRequest, c.msgs...)
	}
}

func TestParamsParitySpatial(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	forms := python.NewUDF(p, python.Options{Path: fixture(t, "bounds_forms.py")})
	shape := python.NewUDF(p, python.Options{Path: fixture(t, "bounds_shape.py")})
	run := func(u *python.UDF, req layer.Request) string {
		t.Helper()
		res, err := u.Run(context.Background(), req)
		if err != nil {
			t.Fatalf("%+v: %v (%s)", req, err, logsOf(err))
		}
		v, ok := res.(*layer.Value)
		if !ok {
			t.Fatalf("%T, want a JSON value", res)
		}
		return string(v.Body)
	}
	// A geometry given as bounds: the envelope for fused.types.Bounds, the
	// geometry itself for GeoDataFrame and shapely annotations.
	tri := `{"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 5], [0, 0]]]}`
	env := tiles.Bounds{MinX: 0, MinY: 0, MaxX: 10, MaxY: 5}
	got := run(forms, layer.Request{Bounds: env, Area: tri})
	want := `{"bounds": [[0, 0, 10, 5], "Bounds"], "bbox": {"type": "GeoDataFrame", "wkt": ["POLYGON ((0 0, 10 0, 10 5, 0 0))"],
		"columns": ["geometry"], "crs": "EPSG:4326"}, "x": null, "y": null, "z": null, "types": ["NoneType", "NoneType", "NoneType"], "label": ""}`
	if !jsonEqual(t, got, want) {
		t.Errorf("GeoJSON bounds: %s\nwant %s", got, want)
	}
	fc := `{"type": "FeatureCollection", "features": [
		{"type": "Feature", "properties": {"name": "a"}, "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}},
		{"type": "Feature", "properties": {"name": "b"}, "geometry": {"type": "Polygon", "coordinates": [[[5, 5], [6, 5], [6, 6], [5, 5]]]}}]}`
	got = run(forms, layer.Request{Bounds: tiles.Bounds{MaxX: 6, MaxY: 6}, Area: fc})
	want = `{"bounds": [[0, 0, 6, 6], "Bounds"], "bbox": {"type": "GeoDataFrame", "wkt": ["POLYGON ((0 0, 1 0, 1 1, 0 0))",
		"POLYGON ((5 5, 6 5, 6 6, 5 5))"], "columns": ["name", "geometry"], "crs": "EPSG:4326"}, "x": null, "y": null, "z": null,
		"types": ["NoneType", "NoneType", "NoneType"], "label": ""}`
	if !jsonEqual(t, got, want) {
		t.Errorf("FeatureCollection bounds: %s\nwant %s", got, want)
	}
	if got := run(shape, layer.Request{Bounds: env, Area: "POLYGON ((0 0, 10 0, 10 5, 0 0))"}); !jsonEqual(t, got,
		`{"type": "Polygon", "wkt": "POLYGON ((0 0, 10 0, 10 5, 0 0))"}`) {
		t.Errorf("WKT bounds as shapely: %s", got)
	}
	// Four numbers: the box, as a shapely polygon.
	if got := run(shape, layer.Request{Bounds: env}); !jsonEqual(t, got,
		`{"type": "Polygon", "wkt": "POLYGON ((10 0, 10 5, 0 5, 0 0, 10 0))"}`) {
		t.Errorf("bounds as shapely: %s", got)
	}

	// x, y and z: declared parameters (ints) in the schema, given in file mode.
	declared := map[string]layer.ParamType{}
	for _, p := range forms.Schema().Params {
		declared[p.Name] = p.Type
	}
	for _, n := range []string{"x", "y", "z"} {
		if declared[n] != layer.Int {
			t.Errorf("schema: %s is %q, want int", n, declared[n])
		}
	}
	got = jsonOf(t, jsonValue(t, forms, q("x", "5", "y", "3", "z", "4"), nil))
	if !strings.Contains(got, `"x":5,"y":3,"z":4`) || !strings.Contains(got, `"types":["int","int","int"]`) {
		t.Errorf("file mode x, y, z: %s", got)
	}
	// A UDF without them refuses them, as any unknown parameter.
	req := python.NewUDF(p, python.Options{Path: fixture(t, "required.py")})
	_, err := call(req, q("n", "1", "x", "5"), nil)
	wantKind(t, err, layer.BadRequest, "unknown parameter x")
	// Tile mode: the path gives them; a query that says otherwise is refused.
	tile := tiles.Tile{Z: 3, X: 4, Y: 2}
	got = jsonOf(t, jsonValue(t, forms, q("x", "4"), &tile))
	if !strings.Contains(got, `"x":4,"y":2,"z":3`) {
		t.Errorf("tile mode: %s", got)
	}
	_, err = call(forms, q("x", "5"), &tile)
	wantKind(t, err, layer.BadRequest, "parameter x=5", "x=4")
}

func TestParamsParityFusedRunBounds(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "run_bounds.py")})
	// fused.run(udf, bounds=...) of a local UDF: a GeoDataFrame (with its
	// columns), a shapely geometry or GeoJSON reach the UDF whole.
	for kind, columns := range map[string]string{"gdf": `["id", "geometry"]`, "shapely": `["geometry"]`, "geojson": `["geometry"]`} {
		got := jsonOf(t, jsonValue(t, u, q("kind", kind), nil))
		want := `{"forms": {"bounds": [[0, 0, 10, 5], "Bounds"], "bbox": {"type": "GeoDataFrame", "wkt": ["POLYGON ((0 0, 10 0, 10 5, 0 0))"],
			"columns": ` + columns + `, "crs": "EPSG:4326"}, "x": null, "y": null, "z": null, "types": ["NoneType", "NoneType", "NoneType"], "label": ""},
			"shape": {"type": "Polygon", "wkt": "POLYGON ((0 0, 10 0, 10 5, 0 0))"}}`
		if !jsonEqual(t, got, want) {
			t.Errorf("%s: %s\nwant %s", kind, got, want)
		}
	}
}
