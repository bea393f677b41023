package e2e

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/python"
	"github.com/udftiles/udftiles/render"
	"github.com/udftiles/udftiles/tiles"
	"github.com/xuri/excelize/v2"
)

// listing is the part of /v1/udfs this test reads.
type listing struct {
	UDFs []struct {
		Name            string              `json:"name"`
		Handler         string              `json:"handler"`
		Formats         []string            `json:"formats"`
		Modes           []string            `json:"modes"`
		MinZoom         int                 `json:"minzoom"`
		FormatsByResult map[string][]string `json:"formats_by_result"`
		Center          [3]float64          `json:"center"`
	} `json:"udfs"`
}

// formatServer serves a Python UDF returning each kind of result (returns.py,
// kind= picks it), the demo COGs and the demo countries as vector layers.
func formatServer(t *testing.T) *pyServer {
	t.Helper()
	s := newPyServer(t, pyServerOptions{tokens: map[string]string{"fsh_returns": "r"}})
	s.add("r", pyFixture(t, "returns.py"), python.Options{})
	dir := demoFiles(t)
	for _, name := range []string{"elevation", "rgb"} {
		r := cog.New(cog.Options{Path: filepath.Join(dir, name+".tif")})
		t.Cleanup(r.Close)
		s.reg.Add(&layer.Layer{Name: name, Kind: "cog", Handler: r, MaxAge: time.Hour})
	}
	for _, l := range vectorLayers(t) {
		s.reg.Add(l)
	}
	return s
}

// checkBody checks that a body is what its format says: it decodes.
func checkBody(t *testing.T, what, format string, rec *httptest.ResponseRecorder) {
	t.Helper()
	b := rec.Body.Bytes()
	var err error
	switch format {
	case "png":
		_, err = png.Decode(bytes.NewReader(b))
	case "jpg":
		_, err = jpeg.Decode(bytes.NewReader(b))
	case "gif":
		_, err = gif.Decode(bytes.NewReader(b))
	case "webp":
		if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
			t.Errorf("%s: not a WebP", what)
		}
	case "tif":
		if !bytes.HasPrefix(b, []byte("II*\x00")) {
			t.Errorf("%s: not a TIFF", what)
		}
	case "npy":
		if !bytes.HasPrefix(b, []byte("\x93NUMPY")) {
			t.Errorf("%s: not a NumPy file", what)
		}
	case "geojson", "json":
		if !json.Valid(b) {
			t.Errorf("%s: not JSON: %.200s", what, b)
		}
	case "csv":
		_, err = csv.NewReader(bytes.NewReader(b)).ReadAll()
	case "parquet":
		if !bytes.HasPrefix(b, []byte("PAR1")) || !bytes.HasSuffix(b, []byte("PAR1")) {
			t.Errorf("%s: not Parquet", what)
		}
	case "feather":
		var r *ipc.FileReader
		if r, err = ipc.NewFileReader(bytes.NewReader(b)); err == nil {
			r.Close()
		}
	case "xlsx":
		var f *excelize.File
		if f, err = excelize.OpenReader(bytes.NewReader(b)); err == nil {
			_, err = f.GetRows("Sheet1")
			f.Close()
		}
	case "html":
		if len(b) == 0 {
			t.Errorf("%s: empty", what)
		}
	}
	if err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

// wantType is the Content-Type of a format; features asked for as json are GeoJSON.
func wantType(format, kind string) string {
	if format == "json" && kind == render.KindFeatures {
		return render.MediaType("geojson")
	}
	return render.MediaType(format)
}

// Every format /v1/udfs lists for a layer answers for that layer's results: a
// COG's and a vector layer's all of them; a Python UDF's those that
// formats_by_result lists for what it returned, the others a 400 naming those.
func TestEveryListedFormatAnswers(t *testing.T) {
	s := formatServer(t)
	var list listing
	if err := json.Unmarshal(s.get(t, "/v1/udfs", 200).Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.UDFs) != 5 {
		t.Fatalf("%d layers", len(list.UDFs))
	}
	// A Python UDF returning each kind of result, by returns.py's kind=.
	kinds := map[string]string{render.KindRaster: "rgb", render.KindFeatures: "gdf3857", render.KindTable: "df",
		render.KindText: "str", render.KindJSON: "dict"}
	for _, l := range list.UDFs {
		tileMode := func(format string) bool {
			return !slices.Contains(l.Modes, "file") || render.Normalize(format) == "mvt"
		}
		target := func(format, extra string) string {
			if tileMode(format) {
				z := max(l.MinZoom, 1)
				return "/v1/udfs/" + l.Name + "/tiles/" + tiles.AtLonLat(l.Center[0], l.Center[1], z).String() + "." + format + "?" + extra
			}
			return "/v1/udfs/" + l.Name + "/run?format=" + format + "&" + extra
		}
		if l.Handler != "python" {
			if l.FormatsByResult != nil {
				t.Errorf("%s: formats_by_result %v for a layer of one kind of result", l.Name, l.FormatsByResult)
			}
			kind := render.KindRaster
			if l.Handler == "vector" {
				kind = render.KindFeatures
			}
			for _, f := range l.Formats {
				rec := s.get(t, target(f, ""), 200)
				if ct := rec.Header().Get("Content-Type"); ct != wantType(render.Normalize(f), kind) {
					t.Errorf("%s as %s: Content-Type %q, want %q", l.Name, f, ct, wantType(render.Normalize(f), kind))
				}
				checkBody(t, l.Name+" as "+f, render.Normalize(f), rec)
			}
			continue
		}
		for _, f := range render.ResultFormats() {
			if !slices.Contains(l.Formats, f) {
				t.Errorf("%s: format %s of render's table is not listed: %v", l.Name, f, l.Formats)
			}
		}
		if len(l.FormatsByResult) != len(render.ResultKinds()) {
			t.Errorf("%s: formats_by_result %v", l.Name, l.FormatsByResult)
		}
		for kind, arg := range kinds {
			ok := l.FormatsByResult[kind]
			if len(ok) == 0 {
				t.Errorf("%s: no format for a %s", l.Name, kind)
			}
			for _, f := range l.Formats {
				what := l.Name + " returning " + arg + " as " + f
				u := target(f, "kind="+arg)
				if !slices.Contains(ok, f) {
					msg, _ := pyError(t, s.get(t, u, 400))
					for _, o := range ok {
						if o = render.Normalize(o); !strings.Contains(msg, o) {
							t.Errorf("%s: %q does not name %s", what, msg, o)
						}
					}
					continue
				}
				rec := s.get(t, u, 200)
				if ct := rec.Header().Get("Content-Type"); ct != wantType(render.Normalize(f), kind) {
					t.Errorf("%s: Content-Type %q, want %q", what, ct, wantType(render.Normalize(f), kind))
				}
				checkBody(t, what, render.Normalize(f), rec)
			}
		}
	}
}

// The new formats through the routes: html for a str (sandboxed), gif with
// transparency, xlsx and feather of a GeoDataFrame and a DataFrame, and the
// shared-token file route with an extension, as format=.
func TestFormatRoutes(t *testing.T) {
	s := formatServer(t)

	// A str: as it is, or format=html, sandboxed either way; json quotes it.
	for _, u := range []string{"/v1/udfs/r/run?kind=str", "/v1/udfs/r/run?kind=str&format=html",
		"/server/v1/realtime-shared/fsh_returns/run/file.html?kind=str"} {
		rec := s.get(t, u, 200)
		if ct, csp := rec.Header().Get("Content-Type"), rec.Header().Get("Content-Security-Policy"); ct != "text/html; charset=utf-8" ||
			csp != "sandbox" || rec.Body.String() != "<b>hello</b>" {
			t.Errorf("%s: %q, CSP %q, %q", u, ct, csp, rec.Body)
		}
	}
	if got := pyJSON(t, s.get(t, "/v1/udfs/r/run?kind=str&format=json", 200)); got != "<b>hello</b>" {
		t.Errorf("a str as json: %v", got)
	}
	s.wantError(t, "GET", "/v1/udfs/r/run?kind=dict&format=html", "", 400, "dict", "json")
	s.wantError(t, "GET", "/v1/udfs/r/run?kind=df&format=html", "", 400, "a table", "csv", "xlsx", "feather")

	// GIF keeps the mask as transparency.
	img, err := gif.Decode(bytes.NewReader(s.get(t, "/v1/udfs/r/tiles/1/1/0.gif?kind=masked", 200).Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := pyPixel(img, 10, 10), pyPixel(img, 200, 10); a.A != 0 || b != (color.NRGBA{150, 150, 150, 255}) {
		t.Errorf("masked gif: %v %v", a, b)
	}
	img, err = gif.Decode(bytes.NewReader(s.get(t, "/v1/udfs/elevation/tiles/11/1101/719.gif?colormap=viridis&rescale=0,3000", 200).Body.Bytes()))
	if err != nil || img.Bounds().Dx() != 256 {
		t.Fatalf("elevation gif: %v", err)
	}

	// The shared file route takes an extension as format= would.
	base := "/server/v1/realtime-shared/fsh_returns/run/"
	for _, c := range []struct{ ext, query string }{
		{"csv", "kind=df"}, {"xlsx", "kind=gdf3857"}, {"feather", "kind=df"}, {"gif", "kind=rgb"},
		{"parquet", "kind=gdf3857"}, {"json", "kind=dict"}, {"tif", "kind=rgb"},
	} {
		byExt := s.get(t, base+"file."+c.ext+"?"+c.query, 200)
		byParam := s.get(t, base+"file?"+c.query+"&format="+c.ext, 200)
		if ct := byExt.Header().Get("Content-Type"); ct != render.MediaType(c.ext) || ct != byParam.Header().Get("Content-Type") {
			t.Errorf("file.%s: Content-Type %q, format=%s: %q", c.ext, ct, c.ext, byParam.Header().Get("Content-Type"))
		}
		if !bytes.Equal(byExt.Body.Bytes(), byParam.Body.Bytes()) {
			t.Errorf("file.%s and format=%s differ", c.ext, c.ext)
		}
	}
	if ct := s.get(t, base+"file.excel?kind=df", 200).Header().Get("Content-Type"); ct != render.MediaType("xlsx") {
		t.Errorf("file.excel: %q", ct)
	}
	if rec := s.do(t, "POST", base+"file.csv", `{"kind": "df"}`, 200); !strings.HasPrefix(rec.Body.String(), "hex,ids,n,name,value\n") {
		t.Errorf("POST file.csv: %q", rec.Body)
	}
	s.wantError(t, "GET", base+"file.bmp?kind=df", "", 400, `"bmp"`)
	s.wantError(t, "GET", base+"file.png?kind=df", "", 400, "a table", "csv")

	// A DataFrame as feather: typed columns, the big ids exact.
	fr, err := ipc.NewFileReader(bytes.NewReader(s.get(t, "/v1/udfs/r/run?kind=df&format=feather", 200).Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	var types []string
	for _, f := range fr.Schema().Fields() {
		types = append(types, f.Name+":"+f.Type.String())
	}
	if want := []string{"hex:int64", "ids:int64", "n:int64", "name:utf8", "value:float64"}; !slices.Equal(types, want) {
		t.Errorf("feather schema %v, want %v", types, want)
	}
	if rec, err := fr.RecordBatch(0); err != nil || rec.NumRows() != 2 {
		t.Errorf("feather batch: %v", err)
	} else if got := rec.Column(1).ValueStr(1); got != "9007199254740993" {
		t.Errorf("ids[1] = %s", got)
	}

	// A GeoDataFrame as xlsx, read by pandas through openpyxl.
	if exec.Command("/usr/bin/python3", "-c", "import openpyxl, pandas").Run() != nil {
		t.Fatal("Debian's python3-openpyxl and python3-pandas are needed (scripts/deps.sh)")
	}
	path := filepath.Join(t.TempDir(), "gdf.xlsx")
	if err := os.WriteFile(path, s.get(t, base+"file.xlsx?kind=gdf3857", 200).Body.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/python3", "-c", `
import sys, pandas as pd
df = pd.read_excel(sys.argv[1])
print(list(df.columns), df.iloc[0].tolist())
`, path).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if want := "['n', 'name', 'pop', 'geometry'] [3, 'a', 83132799, 'POINT(10 0)']\n"; string(out) != want {
		t.Errorf("pandas read\n%s want\n%s", out, want)
	}
}
