package e2e

import (
	"encoding/json"
	"image/color"
	"net/url"
	"strings"
	"testing"

	"github.com/udftiles/udftiles/python"
)

// TestPythonHTTPTileNumbersInFileMode: x, y and z reach a UDF that declares
// them in file mode, and are refused by one that does not.
func TestPythonHTTPTileNumbersInFileMode(t *testing.T) {
	s := newPyServer(t, pyServerOptions{})
	s.add("forms", pyFixture(t, "bounds_forms.py"), python.Options{})
	s.add("legacy", pyFixture(t, "legacy.py"), python.Options{})
	s.add("required", pyFixture(t, "required.py"), python.Options{})

	got := pyJSON(t, s.get(t, "/v1/udfs/forms/run?x=5&y=3&z=4", 200)).(map[string]any)
	if b, _ := json.Marshal([]any{got["x"], got["y"], got["z"], got["types"]}); string(b) != `[5,3,4,["int","int","int"]]` {
		t.Errorf("forms x, y, z: %s", b)
	}
	// Unannotated x, y, z too; POSTed ones as well.
	got = pyJSON(t, s.get(t, "/v1/udfs/legacy/run?x=7&z=2", 200)).(map[string]any)
	if b, _ := json.Marshal([]any{got["x"], got["y"], got["z"]}); string(b) != `[7,null,2]` {
		t.Errorf("legacy x, y, z: %s", b)
	}
	got = pyJSON(t, s.do(t, "POST", "/v1/udfs/forms/run", `{"x": 1, "y": 2, "z": 3, "label": "post"}`, 200)).(map[string]any)
	if b, _ := json.Marshal([]any{got["x"], got["y"], got["z"], got["label"]}); string(b) != `[1,2,3,"post"]` {
		t.Errorf("POSTed x, y, z: %s", b)
	}
	// The schema lists them as ints.
	var info struct {
		Parameters []struct{ Name, Type string } `json:"parameters"`
	}
	if err := json.Unmarshal(s.get(t, "/v1/udfs/forms", 200).Body.Bytes(), &info); err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, p := range info.Parameters {
		types[p.Name] = p.Type
	}
	if types["x"] != "int" || types["y"] != "int" || types["z"] != "int" || types["label"] != "str" {
		t.Errorf("schema %v", types)
	}

	s.wantError(t, "GET", "/v1/udfs/required/run?n=1&x=5", "", 400, "unknown parameter x")
	s.wantError(t, "GET", "/v1/udfs/forms/run?x=five", "", 400, "parameter x", "integer")
	// Tile mode: the path gives them.
	s.wantError(t, "GET", "/v1/udfs/forms/tiles/3/4/2?x=9", "", 400, "parameter x=9", "x=4")
	got = pyJSON(t, s.get(t, "/v1/udfs/forms/tiles/3/4/2", 200)).(map[string]any)
	if b, _ := json.Marshal([]any{got["x"], got["y"], got["z"]}); string(b) != `[4,2,3]` {
		t.Errorf("tile x, y, z: %s", b)
	}
}

// TestPythonHTTPGeometryBounds: bounds= and bbox= given as GeoJSON or WKT over
// /run reach the UDF as its annotation wants them.
func TestPythonHTTPGeometryBounds(t *testing.T) {
	s := newPyServer(t, pyServerOptions{})
	s.add("forms", pyFixture(t, "bounds_forms.py"), python.Options{})
	s.add("shape", pyFixture(t, "bounds_shape.py"), python.Options{})

	type answer struct {
		Bounds []any `json:"bounds"`
		BBox   struct {
			Type    string   `json:"type"`
			WKT     []string `json:"wkt"`
			Columns []string `json:"columns"`
			CRS     string   `json:"crs"`
		} `json:"bbox"`
	}
	read := func(method, target, body string) answer {
		t.Helper()
		var a answer
		if err := json.Unmarshal(s.do(t, method, target, body, 200).Body.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	tri := `{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,5],[0,0]]]}`
	// The same envelope, another triangle: a different answer, not the cached one.
	mirrored := `{"type":"Polygon","coordinates":[[[0,0],[10,5],[0,5],[0,0]]]}`
	for _, c := range []struct {
		name, method, target, body string
		wkt                        string
		columns                    string
	}{
		{"GeoJSON geometry", "GET", "/v1/udfs/forms/run?bbox=" + url.QueryEscape(tri), "", "POLYGON ((0 0, 10 0, 10 5, 0 0))", "geometry"},
		{"mirrored", "GET", "/v1/udfs/forms/run?bounds=" + url.QueryEscape(mirrored), "", "POLYGON ((0 0, 10 5, 0 5, 0 0))", "geometry"},
		{"WKT", "GET", "/v1/udfs/forms/run?bounds=" + url.QueryEscape("POLYGON ((0 0, 10 0, 10 5, 0 0))"), "", "POLYGON ((0 0, 10 0, 10 5, 0 0))", "geometry"},
		{"POSTed Feature", "POST", "/v1/udfs/forms/run", `{"bounds": {"type": "Feature", "properties": {"id": 7}, "geometry": ` + tri + `}}`,
			"POLYGON ((0 0, 10 0, 10 5, 0 0))", "id,geometry"},
		{"POSTed FeatureCollection", "POST", "/v1/udfs/forms/run", `{"bbox": {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": ` + mirrored + `}]}}`,
			"POLYGON ((0 0, 10 5, 0 5, 0 0))", "geometry"},
	} {
		a := read(c.method, c.target, c.body)
		if b, _ := json.Marshal(a.Bounds); string(b) != `[[0,0,10,5],"Bounds"]` {
			t.Errorf("%s: bounds %s, want the envelope", c.name, b)
		}
		if a.BBox.Type != "GeoDataFrame" || strings.Join(a.BBox.WKT, ";") != c.wkt || strings.Join(a.BBox.Columns, ",") != c.columns || a.BBox.CRS != "EPSG:4326" {
			t.Errorf("%s: bbox %+v, want %s with %s", c.name, a.BBox, c.wkt, c.columns)
		}
	}
	// Four numbers: as before, the box.
	a := read("GET", "/v1/udfs/forms/run?bounds=0,0,10,5", "")
	if strings.Join(a.BBox.WKT, ";") != "POLYGON ((10 0, 10 5, 0 5, 0 0, 10 0))" {
		t.Errorf("numbers: bbox %+v", a.BBox)
	}
	// A shapely annotation gets the geometry.
	got := pyJSON(t, s.get(t, "/v1/udfs/shape/run?bounds="+url.QueryEscape(tri), 200))
	if b, _ := json.Marshal(got); string(b) != `{"type":"Polygon","wkt":"POLYGON ((0 0, 10 0, 10 5, 0 0))"}` {
		t.Errorf("shape: %s", b)
	}

	for _, c := range []struct {
		target string
		msgs   []string
	}{
		{"/v1/udfs/forms/run?bounds=" + url.QueryEscape(`{"type":"Polygon","coordinates":[[[0,0],[10,0]`), []string{"parameter bounds", "GeoJSON"}},
		{"/v1/udfs/forms/run?bounds=" + url.QueryEscape("POINT (1 2)"), []string{"parameter bounds", "no area"}},
		{"/v1/udfs/forms/run?bounds=" + url.QueryEscape("POLYGON ((0 0, 200 0, 200 5, 0 0))"), []string{"parameter bounds", "-180,-90,180,90"}},
		{"/v1/udfs/forms/run?bbox=" + url.QueryEscape(`{"type":"FeatureCollection","features":[]}`), []string{"parameter bbox", "no geometry"}},
		{"/v1/udfs/forms/run?bounds=1,2,3", []string{"parameter bounds", "xmin,ymin,xmax,ymax"}},
	} {
		s.wantError(t, "GET", c.target, "", 400, c.msgs...)
	}
}

// TestPythonHTTPParityResults: PIL images and frames over HTTP.
func TestPythonHTTPParityResults(t *testing.T) {
	s := newPyServer(t, pyServerOptions{})
	s.add("p", pyFixture(t, "returns_parity.py"), python.Options{})
	s.add("frames", pyFixture(t, "frame_params.py"), python.Options{})

	// A PIL image: a PNG of its pixels in file mode, over the tile in tile mode.
	img := pyPNG(t, s.get(t, "/v1/udfs/p/run?kind=pil_rgb", 200))
	if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 32 {
		t.Errorf("pil_rgb file: %v", b)
	}
	if got := pyPixel(img, 10, 10); got != (color.NRGBA{255, 0, 0, 255}) {
		t.Errorf("pil_rgb file west: %v", got)
	}
	if got := pyPixel(img, 50, 10); got != (color.NRGBA{0, 0, 255, 255}) {
		t.Errorf("pil_rgb file east: %v", got)
	}
	img = pyPNG(t, s.get(t, "/v1/udfs/p/tiles/2/1/1?kind=pil_rgb", 200))
	if b := img.Bounds(); b.Dx() != 256 || pyPixel(img, 60, 128) != (color.NRGBA{255, 0, 0, 255}) || pyPixel(img, 200, 128) != (color.NRGBA{0, 0, 255, 255}) {
		t.Errorf("pil_rgb tile: %v %v %v", b, pyPixel(img, 60, 128), pyPixel(img, 200, 128))
	}
	img = pyPNG(t, s.get(t, "/v1/udfs/p/run?kind=pil_palette", 200))
	if pyPixel(img, 1, 1).A != 0 || pyPixel(img, 6, 1) != (color.NRGBA{0, 200, 0, 255}) {
		t.Errorf("pil_palette: %v %v", pyPixel(img, 1, 1), pyPixel(img, 6, 1))
	}
	// (xarray, bounds) on a tile.
	img = pyPNG(t, s.get(t, "/v1/udfs/p/tiles/1/1/0?kind=xarray_tuple", 200))
	if !pyNear(pyPixel(img, 32, 250), color.NRGBA{99, 99, 99, 255}, 2) || !pyNear(pyPixel(img, 32, 194), color.NRGBA{50, 50, 50, 255}, 2) || pyPixel(img, 32, 100).A != 0 {
		t.Errorf("xarray_tuple tile: %v %v %v", pyPixel(img, 32, 250), pyPixel(img, 32, 194), pyPixel(img, 32, 100))
	}
	// A GeoDataFrame without geometry: a table, as JSON records or CSV.
	if b, _ := json.Marshal(pyJSON(t, s.get(t, "/v1/udfs/p/run?kind=gdf_no_geometry", 200))); string(b) != `[{"a":1,"b":"x"},{"a":2,"b":"y"}]` {
		t.Errorf("gdf_no_geometry: %s", b)
	}
	// A dict of frames and arrays: their values.
	got := pyJSON(t, s.get(t, "/v1/udfs/p/run?kind=dict_frames", 200)).(map[string]any)
	for k, want := range map[string]string{"df": `[{"n":1,"v":0.5,"when":"2024-01-02T00:00:00"},{"n":2,"v":null,"when":null}]`,
		"arr": `[[1,null],[3,4]]`, "counts": `{"a":3,"b":1}`, "n": `7`} {
		if b, _ := json.Marshal(got[k]); string(b) != want {
			t.Errorf("dict_frames %s: %s, want %s", k, b, want)
		}
	}

	// DataFrame parameters from a POSTed body, as JSON values.
	body := `{"df": [{"a": 1}], "gdf": {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"n": 2},
		"geometry": {"type": "Point", "coordinates": [1, 2]}}]}}`
	got = pyJSON(t, s.do(t, "POST", "/v1/udfs/frames/run", body, 200)).(map[string]any)
	if b, _ := json.Marshal(got); string(b) != `{"df":{"columns":["a"],"crs":null,"rows":[{"a":1}],"type":"DataFrame","wkt":null},`+
		`"gdf":{"columns":["n","geometry"],"crs":"EPSG:4326","rows":[{"n":2}],"type":"GeoDataFrame","wkt":["POINT (1 2)"]}}` {
		t.Errorf("frames: %s", b)
	}
	var info struct {
		Parameters []struct{ Name, Type string } `json:"parameters"`
	}
	if err := json.Unmarshal(s.get(t, "/v1/udfs/frames", 200).Body.Bytes(), &info); err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, p := range info.Parameters {
		types[p.Name] = p.Type
	}
	if types["df"] != "dataframe" || types["gdf"] != "geodataframe" || types["opt"] != "geodataframe" {
		t.Errorf("frames schema: %v", types)
	}
	s.wantError(t, "POST", "/v1/udfs/frames/run", `{"df": [1, 2]}`, 400, "parameter df", "record 0")
}

// TestPythonHTTPBoundsNeverDropped: bounds= and bbox= reach a UDF that takes
// bounds in file mode, and are refused, naming the parameter, by one that
// does not and in tile mode (where the path gives the bounds).
func TestPythonHTTPBoundsNeverDropped(t *testing.T) {
	s := newPyServer(t, pyServerOptions{})
	s.add("forms", pyFixture(t, "bounds_forms.py"), python.Options{})
	s.add("required", pyFixture(t, "required.py"), python.Options{})

	got := pyJSON(t, s.get(t, "/v1/udfs/forms/run?bbox=0,0,1,1", 200)).(map[string]any)
	if b, _ := json.Marshal(got["bounds"]); string(b) != `[[0,0,1,1],"Bounds"]` {
		t.Errorf("bbox to a UDF that takes bounds: %s", b)
	}
	s.wantError(t, "GET", "/v1/udfs/required/run?n=1&bbox=0,0,1,1", "", 400, "parameter bbox", "takes no bounds")
	s.wantError(t, "GET", "/v1/udfs/required/run?n=1&bounds=0,0,1,1", "", 400, "parameter bounds", "takes no bounds")
	s.wantError(t, "POST", "/v1/udfs/required/run", `{"n": 1, "bbox": [0, 0, 1, 1]}`, 400, "parameter bounds (or bbox)", "takes no bounds")
	s.wantError(t, "GET", "/v1/udfs/required/tiles/3/4/2?n=1&bbox=0,0,1,1", "", 400, "unknown parameter bbox")
	s.wantError(t, "GET", "/v1/udfs/forms/tiles/3/4/2?bbox=0,0,1,1", "", 400, "parameter bbox", "tile mode")
	s.wantError(t, "GET", "/v1/udfs/forms/tiles/3/4/2?bounds=0,0,1,1", "", 400, "parameter bounds", "tile mode")
	// Without them, both still answer.
	s.get(t, "/v1/udfs/required/run?n=1", 200)
	s.get(t, "/v1/udfs/forms/tiles/3/4/2", 200)
	// /v1/udfs says which take them (the Workbench sends its view's bounds to those alone).
	for name, want := range map[string]bool{"forms": true, "required": false} {
		var d struct {
			TakesBounds *bool `json:"takes_bounds"`
		}
		if err := json.Unmarshal(s.get(t, "/v1/udfs/"+name, 200).Body.Bytes(), &d); err != nil || d.TakesBounds == nil || *d.TakesBounds != want {
			t.Errorf("/v1/udfs/%s takes_bounds %v (%v), want %v", name, d.TakesBounds, err, want)
		}
	}
}
