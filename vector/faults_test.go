package vector

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/render"
	"github.com/udftiles/udftiles/tiles"
)

// TestBrokenFiles: a file that cannot be read makes the layer report why and
// answer 503; nothing panics and nothing is a 500.
func TestBrokenFiles(t *testing.T) {
	files := naturalEarth(t)
	dir := t.TempDir()
	good, err := os.ReadFile(files["cities.fgb"])
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pq, err := os.ReadFile(ingestTest(t, files["countries.gpkg"], 16))
	if err != nil {
		t.Fatal(err)
	}
	// Zeros over the middle of the file: the footer is intact, the pages are not.
	corrupt := slices.Clone(pq)
	clear(corrupt[len(pq)/3 : len(pq)/3+4096])
	var plain bytes.Buffer
	type row struct{ A int64 }
	if err := parquet.Write(&plain, []row{{1}, {2}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"missing", Options{Path: filepath.Join(dir, "nope.gpkg")}, "cannot open"},
		{"garbage gpkg", Options{Path: write("garbage.gpkg", []byte("SQLite format 3\x00 but not really"))}, "cannot open"},
		{"text as geojson", Options{Path: write("broken.geojson", []byte(`{"type": "FeatureCollection", "features": [{"type": "Feat`))}, "cannot open"},
		{"truncated flatgeobuf", Options{Path: write("truncated.fgb", good[:len(good)*6/10])}, "reading feature"},
		{"garbage geoparquet", Options{Path: write("countries.parquet", []byte("PAR1"))}, "not a Parquet file"},
		{"truncated geoparquet", Options{Path: write("truncated.parquet", pq[:len(pq)*6/10])}, "not a Parquet file"},
		{"corrupt geoparquet", Options{Path: write("corrupt.parquet", corrupt)}, "row group"},
		{"parquet without geo", Options{Path: write("plain.parquet", plain.Bytes())}, "without GeoParquet's `geo` metadata"},
		{"unknown layer", Options{Path: files["countries.gpkg"], Layer: "states"}, `no layer named "states"; the file has: [countries]`},
		{"unknown geoparquet layer", Options{Path: write("c.parquet", pq), Layer: "states"}, `no layer named "states": a GeoParquet file has one layer, c`},
	}
	for _, tt := range tests {
		l := newLayer(tt.opts, directBudget, residentFeatures)
		_ = waitReady(l)
		err := l.Status()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: status %v, want %q", tt.name, err, tt.want)
		}
		_, err = l.Run(context.Background(), layer.Request{Tile: &tiles.Tile{}, Params: map[string]any{}})
		if layer.KindOf(err) != layer.Unavailable {
			t.Errorf("%s: tile %v (kind %v), want 503", tt.name, err, layer.KindOf(err))
		}
		if s := l.Schema(); s.DefaultFormat != "mvt" || len(s.Params) != 2 {
			t.Errorf("%s: schema %+v", tt.name, s)
		}
		l.Close()
	}
}

// TestFileReplaced: a file replaced in place is served anew, under a new version.
func TestFileReplaced(t *testing.T) {
	files := naturalEarth(t)
	p := filepath.Join(t.TempDir(), "layer.fgb")
	if err := demo.Translate(files["cities.fgb"], p, "-f", "FlatGeobuf", "-where", "name = 'Paris'"); err != nil {
		t.Fatal(err)
	}
	l := newTestLayer(t, Options{Path: p}, directBudget)
	v1 := l.Version()
	if n := len(runTile(t, l, tiles.Tile{}, nil).Collection.Features); n != 1 {
		t.Fatalf("%d features, want Paris alone", n)
	}
	time.Sleep(10 * time.Millisecond) // a new modification time
	if err := demo.Translate(files["cities.fgb"], p, "-f", "FlatGeobuf", "-where", "name IN ('Paris', 'Berlin')"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.Version() == v1 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if l.Version() == v1 {
		t.Fatal("the version did not change with the file")
	}
	if err := waitReady(l); err != nil {
		t.Fatal(err)
	}
	if n := len(runTile(t, l, tiles.Tile{}, nil).Collection.Features); n != 2 {
		t.Errorf("after the file changed: %d features, want 2", n)
	}
}

// TestInvalidGeometries: a self-intersecting polygon is repaired (valid
// polygons come out), one that cannot be is skipped, and both are counted once
// per read.
func TestInvalidGeometries(t *testing.T) {
	fc := `{"type": "FeatureCollection", "features": [
	 {"type": "Feature", "properties": {"name": "bowtie"}, "geometry": {"type": "Polygon", "coordinates": [[[0,0],[10,10],[10,0],[0,10],[0,0]]]}},
	 {"type": "Feature", "properties": {"name": "collapsed"}, "geometry": {"type": "Polygon", "coordinates": [[[5,5],[5,5],[5,5],[5,5]]]}},
	 {"type": "Feature", "properties": {"name": "fine"}, "geometry": {"type": "Polygon", "coordinates": [[[20,20],[30,20],[30,30],[20,20]]]}},
	 {"type": "Feature", "properties": {"name": "nothing"}, "geometry": null}
	]}`
	p := filepath.Join(t.TempDir(), "bad.geojson")
	if err := os.WriteFile(p, []byte(fc), 0o644); err != nil {
		t.Fatal(err)
	}
	// The same features as GeoParquet, written as they are (ingest would repair them).
	parsed, err := geojson.UnmarshalFeatureCollection([]byte(fc))
	if err != nil {
		t.Fatal(err)
	}
	b, err := render.GeoParquet(&layer.Features{Collection: parsed})
	if err != nil {
		t.Fatal(err)
	}
	pq := filepath.Join(t.TempDir(), "bad.parquet")
	if err := os.WriteFile(pq, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, run := range []struct {
		path   string
		budget int
	}{{p, directBudget}, {p, 0}, {pq, directBudget}, {pq, 0}} {
		l := newTestLayer(t, Options{Path: run.path}, run.budget)
		res, err := l.Run(context.Background(), layer.Request{Params: map[string]any{}})
		if err != nil {
			t.Fatal(err)
		}
		f := res.(*layer.Features)
		names := map[string]orb.Geometry{}
		for _, ft := range f.Collection.Features {
			names[ft.Properties["name"].(string)] = ft.Geometry
		}
		if len(names) != 2 || names["bowtie"] == nil || names["fine"] == nil {
			t.Fatalf("features %v, want the repaired bowtie and the fine one", names)
		}
		if mp, ok := names["bowtie"].(orb.MultiPolygon); !ok || len(mp) != 2 {
			t.Errorf("the repaired bowtie is %v, want two triangles", names["bowtie"])
		}
		if !strings.Contains(f.Logs, "1 repaired, 1 invalid") {
			t.Errorf("logs %q, want the repair and the skip counted", f.Logs)
		}
		// The same in a tile: the collapsed polygon is under half a pixel anyway.
		tile := runTile(t, l, tiles.AtLonLat(5, 5, 3), nil)
		if len(tile.Collection.Features) != 2 || !strings.Contains(tile.Logs, "1 repaired, 0 invalid") {
			t.Errorf("tile: %d features, logs %q", len(tile.Collection.Features), tile.Logs)
		}
	}
}

// TestPropertyTypes: dates and times become ISO 8601 text, lists and objects
// JSON text, booleans bool, integers int64, NaN and infinities null.
func TestPropertyTypes(t *testing.T) {
	dir := t.TempDir()
	fc := `{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {
	 "day": "2020-01-02", "when": "2020-01-02T03:04:05.250Z", "at": "2021-06-07T08:09:10+02:00",
	 "ints": [1, 2], "reals": [1.5, 2], "words": ["a", "b"], "ok": true, "obj": {"a": 1},
	 "big": 9007199254740993, "x": 1.25, "s": "text", "none": null},
	 "geometry": {"type": "Point", "coordinates": [1, 2]}}]}`
	src := filepath.Join(dir, "types.geojson")
	if err := os.WriteFile(src, []byte(fc), 0o644); err != nil {
		t.Fatal(err)
	}
	gpkg := filepath.Join(dir, "types.gpkg")
	if err := demo.Translate(src, gpkg, "-f", "GPKG", "-mapFieldType", "IntegerList=String,RealList=String,StringList=String"); err != nil {
		t.Fatal(err)
	}
	// GDAL's JSON reader takes NaN and Infinity, which JSON itself has no words for.
	nan := filepath.Join(dir, "nan.geojson")
	if err := os.WriteFile(nan, []byte(`{"type": "FeatureCollection", "features": [{"type": "Feature",
	 "properties": {"v": NaN, "w": -Infinity, "x": 1.5}, "geometry": {"type": "Point", "coordinates": [1, 2]}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	fgb := filepath.Join(dir, "nan.fgb")
	if err := demo.Translate(nan, fgb, "-f", "FlatGeobuf"); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"day": "2020-01-02", "when": "2020-01-02T03:04:05.250Z", "at": "2021-06-07T08:09:10+02:00",
		"ints": "[1,2]", "reals": "[1.5,2]", "words": `["a","b"]`, "ok": true, "big": int64(9007199254740993),
		"x": 1.25, "s": "text", "none": nil}
	for _, p := range []string{src, gpkg} {
		l := newTestLayer(t, Options{Path: p}, directBudget)
		res, err := l.Run(context.Background(), layer.Request{Params: map[string]any{}})
		if err != nil {
			t.Fatal(err)
		}
		props := res.(*layer.Features).Collection.Features[0].Properties
		for k, v := range want {
			if p == gpkg && (k == "ints" || k == "reals" || k == "words") {
				continue // GeoPackage keeps lists as JSON text of its own spelling
			}
			if got, ok := props[k]; !ok || got != v {
				t.Errorf("%s %s: %#v, want %#v", filepath.Base(p), k, got, v)
			}
		}
		if s, _ := props["obj"].(string); !strings.Contains(s, `"a"`) {
			t.Errorf("%s obj: %#v, want JSON text", filepath.Base(p), props["obj"])
		}
		if _, err := json.Marshal(res.(*layer.Features).Collection); err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
	}
	l := newTestLayer(t, Options{Path: fgb}, directBudget)
	res, err := l.Run(context.Background(), layer.Request{Params: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	props := res.(*layer.Features).Collection.Features[0].Properties
	if v, ok := props["v"]; !ok || v != nil || props["w"] != nil || props["x"] != 1.5 {
		t.Errorf("NaN and inf: %#v, want null", props)
	}
	if _, err := json.Marshal(res.(*layer.Features).Collection); err != nil {
		t.Errorf("NaN: %v", err)
	}
}

// TestGeometryKinds: curves are linearised, surfaces become multipolygons, Z
// and M are dropped: every kind OGR reads comes out as plain 2D GeoJSON.
func TestGeometryKinds(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "kinds.csv")
	rows := "WKT,kind\n" +
		"\"CIRCULARSTRING (0 0,1 1,2 0)\",arc\n" +
		"\"CURVEPOLYGON (CIRCULARSTRING (0 0,2 0,2 2,0 2,0 0))\",disc\n" +
		"\"TIN (((0 0 1,1 0 1,0 1 1,0 0 1)))\",tin\n" +
		"\"POLYGON ZM ((0 0 1 2,1 0 1 2,1 1 1 2,0 0 1 2))\",zm\n" +
		"\"GEOMETRYCOLLECTION (POINT (1 1),COMPOUNDCURVE ((0 0,1 0),CIRCULARSTRING (1 0,2 1,3 0)))\",mixed\n"
	if err := os.WriteFile(csv, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	fgb := filepath.Join(dir, "kinds.fgb")
	if err := demo.Translate(csv, fgb, "-f", "FlatGeobuf", "-a_srs", "EPSG:4326", "-select", "kind", "-nlt", "GEOMETRYZM"); err != nil {
		t.Fatal(err)
	}
	l := newTestLayer(t, Options{Path: fgb}, directBudget)
	res, err := l.Run(context.Background(), layer.Request{Params: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	f := res.(*layer.Features)
	got := map[string]string{}
	for _, ft := range f.Collection.Features {
		got[ft.Properties["kind"].(string)] = ft.Geometry.GeoJSONType()
	}
	want := map[string]string{"arc": "LineString", "disc": "Polygon", "tin": "MultiPolygon", "zm": "Polygon", "mixed": "GeometryCollection"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %s (all: %v, logs %q)", k, got[k], v, got, f.Logs)
		}
	}
	if b, err := json.Marshal(f.Collection); err != nil || strings.Contains(string(b), ",1,2]") {
		t.Errorf("GeoJSON %v %.300s", err, b)
	}
}
