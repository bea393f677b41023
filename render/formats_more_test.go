package render

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/colormap"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
	"github.com/xuri/excelize/v2"
)

// sampleResults are one result of each kind the format table knows.
func sampleResults() map[string]layer.Result {
	ras := &layer.Raster{Width: 4, Height: 2, DType: "uint8", Bands: [][]float64{{0, 50, 100, 150, 200, 250, 255, 1}}}
	fc := geojson.NewFeatureCollection()
	ft := geojson.NewFeature(orb.Point{10, 20})
	ft.Properties = geojson.Properties{"name": "a", "n": 3.0}
	fc.Append(ft)
	return map[string]layer.Result{
		KindRaster:   ras,
		KindFeatures: &layer.Features{Collection: fc},
		KindTable: &layer.Table{Columns: []string{"n", "name"}, Types: map[string]string{"n": "int", "name": "str"},
			Rows: [][]any{{json.Number("1"), "a"}}},
		KindText: &layer.Value{Kind: "text", ContentType: "text/html; charset=utf-8", Body: []byte("<b>hi</b>")},
		KindJSON: &layer.Value{Kind: "json", ContentType: "application/json", Body: []byte(`{"a": 1}`)},
	}
}

// Every format encodes every kind of result the table says it does, with its
// media type, and refuses the others naming the formats that do.
func TestFormatTableMatchesEncoders(t *testing.T) {
	results := sampleResults()
	tile := tiles.Tile{Z: 3, X: 4, Y: 3}
	if got := ResultFormats(); !reflect.DeepEqual(got, []string{"png", "jpg", "webp", "gif", "tif", "npy", "mvt", "geojson",
		"json", "csv", "parquet", "feather", "xlsx", "html"}) {
		t.Errorf("ResultFormats %v", got)
	}
	for _, name := range ResultFormats() {
		f, _ := LookupFormat(name)
		for _, kind := range ResultKinds() {
			b, ct, err := Encode(results[kind], name, Options{Tile: &tile})
			if !f.Encodes(kind) {
				if layer.KindOf(err) != layer.BadRequest {
					t.Errorf("%s as %s: %v, want a 400", kind, name, err)
					continue
				}
				for _, ok := range FormatsFor(kind) {
					if !strings.Contains(err.Error(), ok) {
						t.Errorf("%s as %s: %q does not name %s", kind, name, err, ok)
					}
				}
				continue
			}
			if err != nil {
				t.Errorf("%s as %s: %v", kind, name, err)
				continue
			}
			want := f.MediaType
			if name == "json" && kind == KindFeatures {
				want = MediaType("geojson") // features as json are GeoJSON
			}
			if ct != want || len(b) == 0 {
				t.Errorf("%s as %s: %q (%d bytes), want %q", kind, name, ct, len(b), want)
			}
		}
	}
	if got := FormatsFor(KindText); !reflect.DeepEqual(got, []string{"json", "html"}) {
		t.Errorf("a str: %v", got)
	}
	for alias, name := range map[string]string{"excel": "xlsx", "arrow": "feather", "GIF": "gif", ".html": "html"} {
		if Normalize(alias) != name {
			t.Errorf("%s: %s, want %s", alias, Normalize(alias), name)
		}
	}
	// A str is html or json; bytes are as they are in any format.
	b, ct, err := Encode(results[KindText], "html", Options{})
	if err != nil || ct != "text/html; charset=utf-8" || string(b) != "<b>hi</b>" {
		t.Errorf("str as html: %q %q %v", b, ct, err)
	}
	_, _, err = Encode(results[KindJSON], "html", Options{})
	if err == nil || !strings.Contains(err.Error(), "a dict, list or number, which can be json") {
		t.Errorf("a dict as html: %v", err)
	}
	raw := &layer.Value{Kind: "bytes", ContentType: "application/octet-stream", Body: []byte{0, 1}}
	if b, ct, err := Encode(raw, "html", Options{}); err != nil || ct != "application/octet-stream" || len(b) != 2 {
		t.Errorf("bytes as html: %q %v", ct, err)
	}
}

func decodeGIF(t *testing.T, b []byte) *image.Paletted {
	t.Helper()
	g, err := gif.DecodeAll(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Image) != 1 {
		t.Fatalf("%d frames", len(g.Image))
	}
	return g.Image[0]
}

func nrgbaAt(img image.Image, x, y int) color.NRGBA {
	return color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
}

// One band through a colormap keeps its colours exactly, masked pixels transparent.
func TestGIFOneBandExact(t *testing.T) {
	r := elevationTile() // int16 with a nodata lake
	cm, err := colormap.Lookup("viridis")
	if err != nil {
		t.Fatal(err)
	}
	st := Style{Colormap: cm, Rescale: [][2]float64{{0, 3000}}}
	b, ct, err := Encode(r, "gif", Options{Style: st})
	if err != nil || ct != "image/gif" {
		t.Fatal(ct, err)
	}
	want, err := Image(r, st)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeGIF(t, b)
	if got.Bounds().Dx() != 256 || got.Bounds().Dy() != 256 {
		t.Fatalf("bounds %v", got.Bounds())
	}
	transparent := 0
	for y := range 256 {
		for x := range 256 {
			w, g := nrgbaAt(want, x, y), nrgbaAt(got, x, y)
			if w.A == 0 {
				if g.A != 0 {
					t.Fatalf("(%d,%d): %v, want transparent", x, y, g)
				}
				transparent++
				continue
			}
			if g != w {
				t.Fatalf("(%d,%d): %v, want %v", x, y, g, w)
			}
		}
	}
	if transparent == 0 {
		t.Error("no masked pixel in the test tile")
	}
}

// A grey ramp of all 256 values with masked pixels is 257 colours: the
// median cut merges two neighbours and keeps the mask.
func TestGIFRampWithMask(t *testing.T) {
	r := &layer.Raster{Width: 256, Height: 2, DType: "uint8", Bands: [][]float64{make([]float64, 512)}, Mask: make([]uint8, 512)}
	for x := range 256 {
		r.Bands[0][x], r.Bands[0][256+x] = float64(x), float64(x)
		r.Mask[x], r.Mask[256+x] = 255, 255
	}
	r.Mask[256+7] = 0
	b, _, err := Encode(r, "gif", Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := decodeGIF(t, b)
	if len(got.Palette) > 256 {
		t.Fatalf("%d colours", len(got.Palette))
	}
	for x := range 256 {
		c := nrgbaAt(got, x, 0)
		if c.A != 255 || absDiff(c.R, uint8(x)) > 4 || c.R != c.G || c.G != c.B {
			t.Errorf("x %d: %v", x, c)
		}
	}
	if c := nrgbaAt(got, 7, 1); c.A != 0 {
		t.Errorf("masked pixel: %v", c)
	}
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// An RGB image of thousands of colours is reduced to 256 close ones.
func TestGIFQuantisesRGB(t *testing.T) {
	const n = 128
	r := &layer.Raster{Width: n, Height: n, DType: "uint8", Bands: [][]float64{make([]float64, n*n), make([]float64, n*n), make([]float64, n*n)}}
	for y := range n {
		for x := range n {
			i := y*n + x
			r.Bands[0][i] = float64(2 * x)
			r.Bands[1][i] = float64(2 * y)
			r.Bands[2][i] = float64(x + y)
		}
	}
	b, _, err := Encode(r, "gif", Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := decodeGIF(t, b)
	if len(got.Palette) > 256 {
		t.Fatalf("%d colours", len(got.Palette))
	}
	var sum, worst int
	for y := range n {
		for x := range n {
			c := nrgbaAt(got, x, y)
			if c.A != 255 {
				t.Fatalf("(%d,%d) not opaque: %v", x, y, c)
			}
			i := y*n + x
			for ch, v := range []uint8{c.R, c.G, c.B} {
				d := absDiff(v, uint8(r.Bands[ch][i]))
				sum += d
				worst = max(worst, d)
			}
		}
	}
	// Closer than Plan 9's fixed palette, drawn to the nearest colour.
	p9 := image.NewPaletted(image.Rect(0, 0, n, n), palette.Plan9)
	want, _ := Image(r, Style{})
	draw.Draw(p9, p9.Rect, want, image.Point{}, draw.Src)
	p9sum := 0
	for y := range n {
		for x := range n {
			a, b := nrgbaAt(p9, x, y), nrgbaAt(want, x, y)
			p9sum += absDiff(a.R, b.R) + absDiff(a.G, b.G) + absDiff(a.B, b.B)
		}
	}
	mean, p9mean := float64(sum)/float64(3*n*n), float64(p9sum)/float64(3*n*n)
	t.Logf("colour error: mean %.2f (Plan 9's palette: %.2f), worst %d", mean, p9mean, worst)
	if mean > 0.8*p9mean || worst > 48 {
		t.Errorf("colour error: mean %.2f (Plan 9's palette: %.2f), worst %d", mean, p9mean, worst)
	}
	// A few colours are kept exactly, by the exact palette.
	few := &layer.Raster{Width: 3, Height: 1, DType: "uint8", Bands: [][]float64{{255, 0, 10}, {0, 255, 20}, {0, 0, 30}}}
	b, _, err = Encode(few, "gif", Options{})
	if err != nil {
		t.Fatal(err)
	}
	got = decodeGIF(t, b)
	for x, want := range []color.NRGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {10, 20, 30, 255}} {
		if c := nrgbaAt(got, x, 0); c != want {
			t.Errorf("x %d: %v, want %v", x, c, want)
		}
	}
}

// A large array held as samples is drawn a row at a time into the GIF.
func TestGIFFromSamples(t *testing.T) {
	const w, h = 300, 200
	s := make([]byte, w*h)
	mask := make([]uint8, w*h)
	for i := range s {
		s[i] = uint8(i % 251)
		mask[i] = 255
	}
	mask[5] = 0
	r := &layer.Raster{Width: w, Height: h, DType: "uint8", Samples: [][]byte{s}, Mask: mask}
	b, ct, err := Encode(r, "gif", Options{})
	if err != nil || ct != "image/gif" {
		t.Fatal(ct, err)
	}
	got := decodeGIF(t, b)
	if got.Bounds().Dx() != w || got.Bounds().Dy() != h {
		t.Fatalf("bounds %v", got.Bounds())
	}
	if c := nrgbaAt(got, 7, 0); c != (color.NRGBA{7, 7, 7, 255}) {
		t.Errorf("pixel 7: %v", c)
	}
	if c := nrgbaAt(got, 5, 0); c.A != 0 {
		t.Errorf("masked pixel: %v", c)
	}
}

func readXLSX(t *testing.T, b []byte) (*excelize.File, [][]string) {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	sheets := f.GetSheetList()
	if len(sheets) != 1 {
		t.Fatalf("sheets %v", sheets)
	}
	rows, err := f.GetRows(sheets[0])
	if err != nil {
		t.Fatal(err)
	}
	return f, rows
}

func cellType(t *testing.T, f *excelize.File, ref string) excelize.CellType {
	t.Helper()
	ct, err := f.GetCellType("Sheet1", ref)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func TestXLSXTable(t *testing.T) {
	tbl := &layer.Table{
		Columns: []string{"hex", "n", "name", "value", "flag", "obj"},
		Types:   map[string]string{"hex": "int", "n": "int", "name": "str", "value": "float", "flag": "bool", "obj": "str"},
		Rows: [][]any{
			{json.Number("617700169958293503"), json.Number("1"), "a", json.Number("0.5"), true, map[string]any{"k": 1.0}},
			{json.Number("617700169958293504"), nil, "  spaced <&>", math.NaN(), false, nil},
			{nil, json.Number("-3"), nil, json.Number("1.5e-11"), nil, []any{1.0, "x"}},
		},
	}
	b, ct, err := Encode(tbl, "xlsx", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ct != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" || !bytes.HasPrefix(b, []byte("PK")) {
		t.Errorf("content type %q, % x", ct, b[:4])
	}
	f, rows := readXLSX(t, b)
	want := [][]string{
		{"hex", "n", "name", "value", "flag", "obj"},
		{"617700169958293503", "1", "a", "0.5", "TRUE", `{"k":1}`},
		{"617700169958293504", "", "  spaced <&>", "", "FALSE"},
		{"", "-3", "", "0.000000000015", "", `[1,"x"]`},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows\n%q, want\n%q", rows, want)
	}
	// Numbers have no type attribute (t="n" is the default): a value without one.
	const number, empty = excelize.CellTypeUnset, excelize.CellType(255)
	for ref, want := range map[string]excelize.CellType{
		"A1": excelize.CellTypeInlineString, // the header
		"A2": excelize.CellTypeInlineString, // 18 digits: text, Excel keeps 15
		"B2": number, "B4": number,
		"C2": excelize.CellTypeInlineString,
		"D2": number, "D4": number,
		"E2": excelize.CellTypeBool, "E3": excelize.CellTypeBool,
		"F2": excelize.CellTypeInlineString,
		"B3": empty, "D3": empty, // null, NaN
	} {
		got := cellType(t, f, ref)
		if v, _ := f.GetCellValue("Sheet1", ref, excelize.Options{RawCellValue: true}); got == excelize.CellTypeUnset && v == "" {
			got = empty
		}
		if got != want {
			t.Errorf("%s: type %v, want %v", ref, got, want)
		}
	}

	// No rows: the header alone.
	b, _, err = Encode(&layer.Table{Columns: []string{"a"}}, "xlsx", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, rows := readXLSX(t, b); !reflect.DeepEqual(rows, [][]string{{"a"}}) {
		t.Errorf("empty table: %q", rows)
	}
	// Text over what a cell holds is refused, not cut.
	long := &layer.Table{Columns: []string{"s"}, Rows: [][]any{{strings.Repeat("x", 40000)}}}
	if _, _, err := Encode(long, "xlsx", Options{}); layer.KindOf(err) != layer.BadRequest || !strings.Contains(err.Error(), "32767") ||
		!strings.Contains(err.Error(), "column s") {
		t.Errorf("a 40000-character cell: %v", err)
	}
}

func TestXLSXFeatures(t *testing.T) {
	fc := geojson.NewFeatureCollection()
	a := geojson.NewFeature(orb.Point{10.123456789, -20.5})
	a.Properties = geojson.Properties{"name": "a", "pop": 83132799.0, "ok": true}
	c := geojson.NewFeature(orb.Polygon{{{0, 0}, {1, 0}, {1, 1}, {0, 0}}})
	c.Properties = geojson.Properties{"name": "c", "pop": 1.5}
	fc.Append(a)
	fc.Append(c)
	fc.Features = append(fc.Features, &geojson.Feature{Type: "Feature", Properties: geojson.Properties{"name": "no geometry"}})
	b, _, err := Encode(&layer.Features{Collection: fc}, "xlsx", Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, rows := readXLSX(t, b)
	want := [][]string{
		{"name", "ok", "pop", "geometry"},
		{"a", "TRUE", "83132799", "POINT(10.1234568 -20.5)"},
		{"c", "", "1.5", "POLYGON((0 0,1 0,1 1,0 0))"},
		{"no geometry"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows\n%q, want\n%q", rows, want)
	}
	if got, v := cellType(t, f, "C2"), rows[1][2]; got != excelize.CellTypeUnset || v != "83132799" {
		t.Errorf("pop: type %v, %q; want a number", got, v)
	}
	if got := cellType(t, f, "B2"); got != excelize.CellTypeBool {
		t.Errorf("ok: type %v; want a bool", got)
	}
	// precision= rounds the WKT as it rounds GeoJSON.
	p := 2
	b, _, _ = Encode(&layer.Features{Collection: fc}, "xlsx", Options{Precision: &p})
	if _, rows := readXLSX(t, b); rows[1][3] != "POINT(10.12 -20.5)" {
		t.Errorf("precision 2: %q", rows[1][3])
	}
	// Natural Earth's countries fit in cells at the default precision.
	b, _, err = Encode(countries(t), "xlsx", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, rows := readXLSX(t, b); len(rows) != 178 || rows[0][len(rows[0])-1] != "geometry" {
		t.Errorf("countries: %d rows, header %q", len(rows), rows[0])
	}
}

// pandas reads the spreadsheet (through openpyxl) with its types.
func TestXLSXReadByPandas(t *testing.T) {
	if exec.Command(numpyPython, "-c", "import openpyxl, pandas").Run() != nil {
		t.Fatal("Debian's python3-openpyxl and python3-pandas are needed (scripts/deps.sh)")
	}
	tbl := &layer.Table{
		Columns: []string{"hex", "n", "name", "value", "flag"},
		Types:   map[string]string{"hex": "int", "n": "int", "name": "str", "value": "float", "flag": "bool"},
		Rows: [][]any{
			{json.Number("617700169958293503"), json.Number("1"), "a", json.Number("0.5"), true},
			{json.Number("617700169958293504"), json.Number("2"), "é", json.Number("-1.25"), false},
		},
	}
	b, _, err := Encode(tbl, "xlsx", Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "t.xlsx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(numpyPython, "-c", `
import sys, pandas as pd
df = pd.read_excel(sys.argv[1])
print(list(df.columns), [str(d) for d in df.dtypes], df.iloc[1].tolist())
`, path).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// The 18-digit ids are text cells, which pandas turns back into exact integers.
	want := "['hex', 'n', 'name', 'value', 'flag'] ['int64', 'int64', 'object', 'float64', 'bool'] [617700169958293504, 2, 'é', -1.25, False]\n"
	if string(out) != want {
		t.Errorf("pandas:\n%s want\n%s", out, want)
	}
}

// featherFile is a Feather file read back with Arrow's Go IPC reader.
type featherFile struct {
	schema  *arrow.Schema
	batches int
	rows    []map[string]any
}

func readFeather(t *testing.T, b []byte) featherFile {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("ARROW1")) || !bytes.HasSuffix(b, []byte("ARROW1")) {
		t.Fatalf("not an Arrow IPC file: % x", b[:min(8, len(b))])
	}
	r, err := ipc.NewFileReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := featherFile{schema: r.Schema(), batches: r.NumRecords()}
	for i := range r.NumRecords() {
		rec, err := r.RecordBatch(i)
		if err != nil {
			t.Fatal(err)
		}
		for row := range int(rec.NumRows()) {
			m := map[string]any{}
			for c, f := range rec.Schema().Fields() {
				m[f.Name] = arrowValue(t, rec.Column(c), row)
			}
			out.rows = append(out.rows, m)
		}
		rec.Release()
	}
	return out
}

func featherTypes(s *arrow.Schema) []string {
	var out []string
	for _, f := range s.Fields() {
		out = append(out, f.Name+":"+f.Type.String())
	}
	return out
}

func TestFeatherTable(t *testing.T) {
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
	b, ct, err := Encode(tbl, "feather", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ct != "application/vnd.apache.arrow.file" {
		t.Errorf("content type %q", ct)
	}
	ff := readFeather(t, b)
	if got, want := featherTypes(ff.schema), []string{"hex:int64", "big:uint64", "n:int64", "name:utf8", "value:float64",
		"flag:bool", "bad:utf8", "name_:utf8"}; !reflect.DeepEqual(got, want) {
		t.Errorf("schema %v, want %v", got, want)
	}
	want := []map[string]any{
		{"hex": int64(617700169958293503), "big": uint64(18446744073709551615), "n": int64(1), "name": "a",
			"value": 0.5, "flag": true, "bad": "x", "name_": "dup"},
		{"hex": int64(617700169958293504), "big": uint64(1), "n": nil, "name": nil, "value": 1.5e-11, "flag": nil,
			"bad": "2", "name_": nil},
		{"hex": nil, "big": nil, "n": int64(-3), "name": "c", "value": nil, "flag": false, "bad": nil, "name_": nil},
	}
	if !reflect.DeepEqual(ff.rows, want) {
		t.Errorf("rows\n%v, want\n%v", ff.rows, want)
	}
	// Many rows come in several record batches; no rows, the schema alone.
	big := &layer.Table{Columns: []string{"i"}, Types: map[string]string{"i": "int"}}
	for i := range featherBatch + 10 {
		big.Rows = append(big.Rows, []any{json.Number(itoa(i))})
	}
	b, _, err = Encode(big, "feather", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ff = readFeather(t, b)
	if ff.batches != 2 || len(ff.rows) != featherBatch+10 || ff.rows[featherBatch+9]["i"] != int64(featherBatch+9) {
		t.Errorf("%d batches, %d rows", ff.batches, len(ff.rows))
	}
	b, _, err = Encode(&layer.Table{Columns: []string{"a"}, Types: map[string]string{"a": "float"}}, "feather", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ff = readFeather(t, b); len(ff.rows) != 0 || !reflect.DeepEqual(featherTypes(ff.schema), []string{"a:float64"}) {
		t.Errorf("empty table: %d rows, %v", len(ff.rows), featherTypes(ff.schema))
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestFeatherFeatures(t *testing.T) {
	f := countries(t)
	b, _, err := Encode(f, "feather", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ff := readFeather(t, b)
	if len(ff.rows) != len(f.Collection.Features) {
		t.Fatalf("%d rows, want %d", len(ff.rows), len(f.Collection.Features))
	}
	fields := ff.schema.Fields()
	geom := fields[len(fields)-1]
	if geom.Name != "geometry" || geom.Type.ID() != arrow.BINARY {
		t.Fatalf("last field %v", geom)
	}
	if name, _ := geom.Metadata.GetValue("ARROW:extension:name"); name != "geoarrow.wkb" {
		t.Errorf("geometry field metadata %v", geom.Metadata)
	}
	var geo struct {
		Version       string `json:"version"`
		PrimaryColumn string `json:"primary_column"`
		Columns       map[string]struct {
			Encoding      string    `json:"encoding"`
			GeometryTypes []string  `json:"geometry_types"`
			BBox          []float64 `json:"bbox"`
		} `json:"columns"`
	}
	meta := ff.schema.Metadata()
	raw, _ := meta.GetValue("geo")
	if err := json.Unmarshal([]byte(raw), &geo); err != nil {
		t.Fatalf("geo metadata %q: %v", raw, err)
	}
	if g := geo.Columns["geometry"]; geo.PrimaryColumn != "geometry" || g.Encoding != "WKB" ||
		!reflect.DeepEqual(g.GeometryTypes, []string{"MultiPolygon", "Polygon"}) || len(g.BBox) != 4 || g.BBox[0] > -179 {
		t.Errorf("geo metadata %s", raw)
	}
	types := map[string]string{}
	for _, fd := range fields {
		types[fd.Name] = fd.Type.String()
	}
	if types["pop_est"] == "utf8" || types["name"] != "utf8" {
		t.Errorf("types %v", types)
	}
	for i, ft := range f.Collection.Features {
		g, err := wkb.Unmarshal(ff.rows[i]["geometry"].([]byte))
		if err != nil || !orb.Equal(g, ft.Geometry) {
			t.Fatalf("row %d: geometry differs (%v)", i, err)
		}
		if ff.rows[i]["name"] != ft.Properties["name"] {
			t.Errorf("row %d: name %v, want %v", i, ff.rows[i]["name"], ft.Properties["name"])
		}
	}

	// A feature without geometry is a null; a property named geometry is renamed.
	fc := geojson.NewFeatureCollection()
	fc.Features = append(fc.Features, &geojson.Feature{Type: "Feature", Properties: geojson.Properties{"geometry": "mine"}})
	b, _, err = Encode(&layer.Features{Collection: fc}, "feather", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ff = readFeather(t, b)
	if want := []map[string]any{{"geometry_": "mine", "geometry": nil}}; !reflect.DeepEqual(ff.rows, want) {
		t.Errorf("rows %v, want %v", ff.rows, want)
	}
}
