package render

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/layer"
)

// pqFile is a Parquet file read back: its rows as plain Go values (nil, int64,
// uint64, float64, bool, string, []byte, map[string]any for a struct) by column
// name, and its key/value metadata.
type pqFile struct {
	rows  []map[string]any
	meta  map[string]string
	types map[string]string // column → arrow type name
}

// readArrow reads a file with Apache Arrow's Go implementation and checks
// every column chunk is zstd.
func readArrow(t *testing.T, b []byte) pqFile {
	t.Helper()
	rdr, err := file.NewParquetReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("arrow: %v", err)
	}
	defer rdr.Close()
	md := rdr.MetaData()
	out := pqFile{meta: map[string]string{}, types: map[string]string{}}
	for _, kv := range md.KeyValueMetadata() {
		if kv.Value != nil {
			out.meta[kv.Key] = *kv.Value
		}
	}
	for i := 0; i < rdr.NumRowGroups(); i++ {
		rg := md.RowGroup(i)
		for j := 0; j < rg.NumColumns(); j++ {
			cc, err := rg.ColumnChunk(j)
			if err != nil {
				t.Fatal(err)
			}
			if cc.Compression() != compress.Codecs.Zstd {
				t.Errorf("arrow: row group %d column %s: compression %v, want ZSTD", i, cc.PathInSchema(), cc.Compression())
			}
		}
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatalf("arrow: read table: %v", err)
	}
	defer tbl.Release()
	n := int(tbl.NumRows())
	out.rows = make([]map[string]any, n)
	for i := range out.rows {
		out.rows[i] = map[string]any{}
	}
	for c := 0; c < int(tbl.NumCols()); c++ {
		col := tbl.Column(c)
		out.types[col.Name()] = col.DataType().String()
		i := 0
		for _, chunk := range col.Data().Chunks() {
			for k := 0; k < chunk.Len(); k++ {
				out.rows[i][col.Name()] = arrowValue(t, chunk, k)
				i++
			}
		}
	}
	return out
}

func arrowValue(t *testing.T, a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Uint64:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	case *array.Binary:
		return bytes.Clone(a.Value(i))
	case *array.Struct:
		m := map[string]any{}
		st := a.DataType().(*arrow.StructType)
		for f := 0; f < a.NumField(); f++ {
			m[st.Field(f).Name] = arrowValue(t, a.Field(f), i)
		}
		return m
	}
	t.Fatalf("arrow: unexpected array %T", a)
	return nil
}

// readParquetGo reads a file with parquet-go, leaf by leaf, and checks every
// column chunk is zstd.
func readParquetGo(t *testing.T, b []byte) pqFile {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("parquet-go: %v", err)
	}
	out := pqFile{meta: map[string]string{}}
	for _, kv := range f.Metadata().KeyValueMetadata {
		out.meta[kv.Key] = kv.Value
	}
	for i, rg := range f.Metadata().RowGroups {
		for _, cc := range rg.Columns {
			if cc.MetaData.Codec != format.Zstd {
				t.Errorf("parquet-go: row group %d column %v: codec %v, want ZSTD", i, cc.MetaData.PathInSchema, cc.MetaData.Codec)
			}
		}
	}
	schema := f.Schema()
	leaves := schema.Columns()
	r := parquet.NewReader(f)
	defer r.Close()
	rows := make([]parquet.Row, 16)
	for {
		n, err := r.ReadRows(rows)
		for _, row := range rows[:n] {
			m := map[string]any{}
			for _, v := range row {
				path := leaves[v.Column()]
				leaf, _ := schema.Lookup(path...)
				var x any
				if !v.IsNull() {
					switch v.Kind() {
					case parquet.Int64:
						x = v.Int64()
						if lt := leaf.Node.Type().LogicalType(); lt != nil {
							if it, ok := lt.Value.(*format.IntType); ok && !it.IsSigned {
								x = v.Uint64()
							}
						}
					case parquet.Double:
						x = v.Double()
					case parquet.Boolean:
						x = v.Boolean()
					case parquet.ByteArray:
						if lt := leaf.Node.Type().LogicalType(); lt != nil && isString(lt.Value) {
							x = string(v.ByteArray())
						} else {
							x = bytes.Clone(v.ByteArray())
						}
					default:
						t.Fatalf("parquet-go: column %v: kind %v", path, v.Kind())
					}
				}
				if len(path) == 2 {
					s, _ := m[path[0]].(map[string]any)
					if s == nil {
						s = map[string]any{}
					}
					if v.DefinitionLevel() == 0 { // the struct is null
						m[path[0]] = nil
						continue
					}
					s[path[1]] = x
					m[path[0]] = s
				} else {
					m[path[0]] = x
				}
			}
			out.rows = append(out.rows, m)
		}
		if err != nil {
			break
		}
	}
	if int64(len(out.rows)) != f.NumRows() {
		t.Fatalf("parquet-go: read %d rows of %d", len(out.rows), f.NumRows())
	}
	return out
}

// geoMeta is the `geo` metadata, as the GeoParquet 1.1 JSON schema requires it.
type geoMeta struct {
	Version       string `json:"version"`
	PrimaryColumn string `json:"primary_column"`
	Columns       map[string]struct {
		Encoding      string                         `json:"encoding"`
		GeometryTypes []string                       `json:"geometry_types"`
		CRS           json.RawMessage                `json:"crs"`
		BBox          []float64                      `json:"bbox"`
		Covering      map[string]map[string][]string `json:"covering"`
	} `json:"columns"`
}

// checkGeo checks the `geo` metadata against the GeoParquet 1.1 schema and the
// file's columns, and returns it.
func checkGeo(t *testing.T, f pqFile) geoMeta {
	t.Helper()
	raw, ok := f.meta["geo"]
	if !ok {
		t.Fatal("no geo metadata")
	}
	var m geoMeta
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("geo metadata %s: %v", raw, err)
	}
	if m.Version != "1.1.0" || m.PrimaryColumn != "geometry" {
		t.Errorf("geo metadata %s: version/primary_column", raw)
	}
	g, ok := m.Columns[m.PrimaryColumn]
	if !ok {
		t.Fatalf("geo metadata %s: no primary column", raw)
	}
	if g.Encoding != "WKB" || g.GeometryTypes == nil {
		t.Errorf("geo metadata %s: encoding or geometry_types", raw)
	}
	valid := map[string]bool{"Point": true, "LineString": true, "Polygon": true, "MultiPoint": true,
		"MultiLineString": true, "MultiPolygon": true, "GeometryCollection": true}
	for _, gt := range g.GeometryTypes {
		if !valid[gt] {
			t.Errorf("geometry type %q", gt)
		}
	}
	if g.CRS != nil {
		t.Errorf("crs %s, want it omitted (OGC:CRS84)", g.CRS)
	}
	if g.BBox != nil && len(g.BBox) != 4 {
		t.Errorf("bbox %v", g.BBox)
	}
	cov := g.Covering["bbox"]
	for _, k := range []string{"xmin", "ymin", "xmax", "ymax"} {
		if p := cov[k]; len(p) != 2 || p[0] != "bbox" || p[1] != k {
			t.Errorf("covering.bbox.%s = %v", k, p)
		}
	}
	if raw := json.RawMessage(raw); !bytes.Contains(raw, []byte(`"covering":{"bbox":`)) {
		t.Errorf("geo metadata %s: no covering", raw)
	}
	return m
}

func readBoth(t *testing.T, b []byte) (arrowFile, goFile pqFile) {
	t.Helper()
	arrowFile, goFile = readArrow(t, b), readParquetGo(t, b)
	if len(arrowFile.rows) != len(goFile.rows) {
		t.Fatalf("arrow read %d rows, parquet-go %d", len(arrowFile.rows), len(goFile.rows))
	}
	for i := range arrowFile.rows {
		if !reflect.DeepEqual(arrowFile.rows[i], goFile.rows[i]) {
			t.Errorf("row %d: arrow %v, parquet-go %v", i, arrowFile.rows[i], goFile.rows[i])
		}
	}
	if !reflect.DeepEqual(arrowFile.meta["geo"], goFile.meta["geo"]) {
		t.Errorf("geo: arrow %q, parquet-go %q", arrowFile.meta["geo"], goFile.meta["geo"])
	}
	return arrowFile, goFile
}

func TestGeoParquet(t *testing.T) {
	poly := orb.Polygon{{{0, 0}, {2, 0}, {2, 1}, {0, 1}, {0, 0}}}
	multi := orb.MultiPolygon{poly, {{{10, 10}, {11, 10}, {11, 12}, {10, 10}}}}
	line := orb.LineString{{-5, -6}, {-4, 3}}
	pt := orb.Point{30.5, -20.25}
	feats := []struct {
		g     orb.Geometry
		props map[string]any
	}{
		{poly, map[string]any{"name": "a", "n": json.Number("3"), "pop": 83132799.0, "x": 0.5, "ok": true,
			"obj": map[string]any{"k": []any{1.0, 2.0}}, "mixed": json.Number("1"), "bbox": "prop", "none": nil,
			"big": json.Number("617700169958293503")}},
		{multi, map[string]any{"name": nil, "n": 4.0, "pop": 1.0, "x": json.Number("2"), "ok": false,
			"mixed": "b", "big": json.Number("-1")}},
		{nil, map[string]any{"name": "no geometry", "n": nil, "x": nil, "ok": nil}},
		{line, map[string]any{"name": "c", "n": 5, "x": json.Number("1e-3")}},
		{pt, map[string]any{"name": "d", "n": int64(-7), "x": 7.0, "ok": true, "obj": []any{"z"}}},
	}
	fc := geojson.NewFeatureCollection()
	for _, f := range feats {
		ft := geojson.NewFeature(f.g)
		ft.Properties = f.props
		fc.Append(ft)
	}
	fc.Features = append(fc.Features, nil) // skipped, as other encoders do
	b, ctype, err := Encode(&layer.Features{Collection: fc}, "geoparquet", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "application/vnd.apache.parquet" {
		t.Errorf("content type %q", ctype)
	}
	af, _ := readBoth(t, b)
	if len(af.rows) != len(feats) {
		t.Fatalf("%d rows, want %d", len(af.rows), len(feats))
	}
	m := checkGeo(t, af)
	g := m.Columns["geometry"]
	if want := []string{"LineString", "MultiPolygon", "Point", "Polygon"}; !reflect.DeepEqual(g.GeometryTypes, want) {
		t.Errorf("geometry_types %v, want %v", g.GeometryTypes, want)
	}
	if want := []float64{-5, -20.25, 30.5, 12}; !reflect.DeepEqual(g.BBox, want) {
		t.Errorf("bbox %v, want %v", g.BBox, want)
	}
	wantTypes := map[string]string{"geometry": "binary", "name": "utf8", "n": "int64", "pop": "int64", "x": "float64",
		"ok": "bool", "obj": "utf8", "mixed": "utf8", "bbox_": "utf8", "none": "utf8", "big": "int64"}
	for k, want := range wantTypes {
		if af.types[k] != want {
			t.Errorf("column %s: type %s, want %s", k, af.types[k], want)
		}
	}
	if !bytes.HasPrefix([]byte(af.types["bbox"]), []byte("struct<")) {
		t.Errorf("bbox type %s", af.types["bbox"])
	}
	for i, f := range feats {
		row := af.rows[i]
		if f.g == nil {
			if row["geometry"] != nil || row["bbox"] != nil {
				t.Errorf("row %d: geometry %v bbox %v, want nulls", i, row["geometry"], row["bbox"])
			}
			continue
		}
		got, err := wkb.Unmarshal(row["geometry"].([]byte))
		if err != nil {
			t.Fatalf("row %d: wkb: %v", i, err)
		}
		if !orb.Equal(got, f.g) {
			t.Errorf("row %d: geometry %v, want %v", i, got, f.g)
		}
		bd := f.g.Bound()
		want := map[string]any{"xmin": bd.Min[0], "ymin": bd.Min[1], "xmax": bd.Max[0], "ymax": bd.Max[1]}
		if !reflect.DeepEqual(row["bbox"], want) {
			t.Errorf("row %d: bbox %v, want %v", i, row["bbox"], want)
		}
	}
	want := []map[string]any{
		{"name": "a", "n": int64(3), "pop": int64(83132799), "x": 0.5, "ok": true, "obj": `{"k":[1,2]}`,
			"mixed": "1", "bbox_": "prop", "none": nil, "big": int64(617700169958293503)},
		{"name": nil, "n": int64(4), "pop": int64(1), "x": 2.0, "ok": false, "obj": nil, "mixed": "b", "bbox_": nil,
			"none": nil, "big": int64(-1)},
		{"name": "no geometry", "n": nil, "pop": nil, "x": nil, "ok": nil, "obj": nil, "mixed": nil, "bbox_": nil,
			"none": nil, "big": nil},
		{"name": "c", "n": int64(5), "pop": nil, "x": 0.001, "ok": nil, "obj": nil, "mixed": nil, "bbox_": nil,
			"none": nil, "big": nil},
		{"name": "d", "n": int64(-7), "pop": nil, "x": 7.0, "ok": true, "obj": `["z"]`, "mixed": nil, "bbox_": nil,
			"none": nil, "big": nil},
	}
	for i, w := range want {
		for k, v := range w {
			if got := af.rows[i][k]; !reflect.DeepEqual(got, v) {
				t.Errorf("row %d %s: %#v, want %#v", i, k, got, v)
			}
		}
		if len(af.rows[i]) != len(w)+2 {
			t.Errorf("row %d: %d columns, want %d", i, len(af.rows[i]), len(w)+2)
		}
	}
}

func TestGeoParquetEmpty(t *testing.T) {
	for name, f := range map[string]*layer.Features{
		"nil collection": {},
		"no features":    {Collection: geojson.NewFeatureCollection()},
	} {
		t.Run(name, func(t *testing.T) {
			b, _, err := Encode(f, "parquet", Options{})
			if err != nil {
				t.Fatal(err)
			}
			af, _ := readBoth(t, b)
			if len(af.rows) != 0 {
				t.Errorf("%d rows", len(af.rows))
			}
			if len(af.types) != 2 || af.types["geometry"] != "binary" || af.types["bbox"] == "" {
				t.Errorf("columns %v, want geometry and bbox", af.types)
			}
			m := checkGeo(t, af)
			if g := m.Columns["geometry"]; len(g.GeometryTypes) != 0 || g.BBox != nil {
				t.Errorf("geometry_types %v bbox %v, want [] and none", g.GeometryTypes, g.BBox)
			}
		})
	}
}

func TestGeoParquetCountries(t *testing.T) {
	f := countries(t)
	b, err := GeoParquet(f)
	if err != nil {
		t.Fatal(err)
	}
	af, _ := readBoth(t, b)
	if len(af.rows) != 177 {
		t.Fatalf("%d rows", len(af.rows))
	}
	m := checkGeo(t, af)
	if want := []string{"MultiPolygon", "Polygon"}; !reflect.DeepEqual(m.Columns["geometry"].GeometryTypes, want) {
		t.Errorf("geometry_types %v", m.Columns["geometry"].GeometryTypes)
	}
	if bb := m.Columns["geometry"].BBox; bb[0] < -180.001 || bb[1] < -90.001 || bb[2] > 180.001 || bb[3] > 90.001 || bb[0] > -179 || bb[2] < 179 {
		t.Errorf("bbox %v", bb)
	}
	for i, ft := range f.Collection.Features {
		g, err := wkb.Unmarshal(af.rows[i]["geometry"].([]byte))
		if err != nil || !orb.Equal(g, ft.Geometry) {
			t.Fatalf("row %d: geometry differs (%v)", i, err)
		}
		for k, v := range ft.Properties {
			if got := fmt.Sprint(af.rows[i][k]); got != fmt.Sprint(v) {
				t.Errorf("row %d %s: %v, want %v", i, k, got, v)
			}
		}
	}
	if af.types["pop_est"] == "utf8" || af.types["name"] != "utf8" {
		t.Errorf("types %v", af.types)
	}
}

func TestParquetTable(t *testing.T) {
	tbl := &layer.Table{
		Columns: []string{"hex", "big", "n", "name", "value", "flag", "bad", "name"},
		Types: map[string]string{"hex": "int", "big": "int", "n": "int", "name": "str", "value": "float",
			"flag": "bool", "bad": "int"},
		Rows: [][]any{
			{json.Number("617700169958293503"), json.Number("18446744073709551615"), json.Number("1"), "a", json.Number("0.5"), true, "x", "dup"},
			{json.Number("617700169958293504"), json.Number("1"), nil, nil, json.Number("1.5e-11"), nil, json.Number("2")},
			{nil, nil, json.Number("-3"), "c", nil, false, nil, nil},
		},
	}
	b, ctype, err := Encode(tbl, "parquet", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "application/vnd.apache.parquet" {
		t.Errorf("content type %q", ctype)
	}
	af, _ := readBoth(t, b)
	if _, ok := af.meta["geo"]; ok {
		t.Error("a table has geo metadata")
	}
	wantTypes := map[string]string{"hex": "int64", "big": "uint64", "n": "int64", "name": "utf8", "value": "float64",
		"flag": "bool", "bad": "utf8", "name_": "utf8"}
	if !reflect.DeepEqual(af.types, wantTypes) {
		t.Errorf("types %v, want %v", af.types, wantTypes)
	}
	want := []map[string]any{
		{"hex": int64(617700169958293503), "big": uint64(18446744073709551615), "n": int64(1), "name": "a",
			"value": 0.5, "flag": true, "bad": "x", "name_": "dup"},
		{"hex": int64(617700169958293504), "big": uint64(1), "n": nil, "name": nil, "value": 1.5e-11, "flag": nil,
			"bad": "2", "name_": nil},
		{"hex": nil, "big": nil, "n": int64(-3), "name": "c", "value": nil, "flag": false, "bad": nil, "name_": nil},
	}
	if !reflect.DeepEqual(af.rows, want) {
		t.Errorf("rows\n%v, want\n%v", af.rows, want)
	}

	// Empty: the schema and no rows; no columns at all: one null column.
	b, _, err = Encode(&layer.Table{Columns: []string{"a", "b"}, Types: map[string]string{"a": "int", "b": "str"}}, "parquet", Options{})
	if err != nil {
		t.Fatal(err)
	}
	af, _ = readBoth(t, b)
	if len(af.rows) != 0 || !reflect.DeepEqual(af.types, map[string]string{"a": "int64", "b": "utf8"}) {
		t.Errorf("empty table: %d rows, types %v", len(af.rows), af.types)
	}
	b, _, err = Encode(&layer.Table{}, "parquet", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if af, _ = readBoth(t, b); len(af.rows) != 0 {
		t.Errorf("no columns: %d rows", len(af.rows))
	}
}

func BenchmarkGeoParquetCountries(b *testing.B) {
	f := countries(b)
	var n int
	for b.Loop() {
		buf, err := GeoParquet(f)
		if err != nil {
			b.Fatal(err)
		}
		n = len(buf)
	}
	b.ReportMetric(float64(n), "bytes/file")
}

func isString(v format.LogicalTypeValue) bool {
	_, ok := v.(*format.StringType)
	return ok
}
