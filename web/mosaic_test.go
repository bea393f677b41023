package web_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/web"
)

// TestMosaicRoutes serves a mosaic of three overlapping files (values 10,
// 20, 30 over 10..10.2°E, 10.1..10.3°E and 10.2..10.4°E at 50°N): tiles
// with pixel_selection, info, point, statistics and crops.
func TestMosaicRoutes(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 3; i++ {
		west := 10 + 0.1*float64(i)
		band := make([]float64, 200*100)
		for k := range band {
			band[k] = float64(10 * (i + 1))
		}
		g := demo.Grid{EPSG: 4326, GeoTransform: [6]float64{west, 0.001, 0, 50.05, 0, -0.001}, Width: 200, Height: 100,
			DType: godal.Byte, Bands: [][]float64{band}}
		if err := demo.WriteCOG(filepath.Join(dir, fmt.Sprintf("m%d.tif", i)), g); err != nil {
			t.Fatal(err)
		}
	}
	reg := layer.NewRegistry()
	m := cog.NewMosaic(cog.MosaicOptions{Path: dir})
	t.Cleanup(m.Close)
	if err := m.Status(); err != nil {
		t.Fatal(err)
	}
	reg.Add(&layer.Layer{Name: "m", Kind: "cog", Handler: m, MaxAge: 3600e9})
	c, err := cache.New(16<<20, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e := &testEnv{handler: web.New(web.Deps{Registry: reg, Cache: c, CORSOrigins: []string{"*"}}), reg: reg}

	var in cog.MosaicInfo
	if err := json.Unmarshal(e.get(t, "/v1/udfs/m/info", 200).Body.Bytes(), &in); err != nil {
		t.Fatal(err)
	}
	if in.Source != "directory" || in.Files != 3 || in.Count != 1 || in.DType != "uint8" || in.Bounds[0] > 10 || in.Bounds[2] < 10.4 {
		t.Errorf("info: %+v", in)
	}
	// 10.15°E lies in files 0 and 1: first gives 10, highest 20.
	var p cog.PointValues
	if err := json.Unmarshal(e.get(t, "/v1/udfs/m/point/10.15,50", 200).Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Values) != 1 || *p.Values[0] != 10 || filepath.Base(p.File) != "m0.tif" {
		t.Errorf("point: %+v", p)
	}
	e.get(t, "/v1/udfs/m/point/12,50", 404)

	tile := tiles.AtLonLat(10.15, 50, 11)
	first := e.get(t, fmt.Sprintf("/v1/udfs/m/tiles/%s.npy", tile), 200).Body.Bytes()
	highest := e.get(t, fmt.Sprintf("/v1/udfs/m/tiles/%s.npy?pixel_selection=highest", tile), 200).Body.Bytes()
	if npyMax(t, first) != 10 || npyMax(t, highest) != 20 {
		t.Errorf("tile %s: first up to %v, highest up to %v; want 10 and 20", tile, npyMax(t, first), npyMax(t, highest))
	}
	e.get(t, fmt.Sprintf("/v1/udfs/m/tiles/%s.png?pixel_selection=count&rescale=0,3", tile), 200)
	e.get(t, fmt.Sprintf("/v1/udfs/m/tiles/%s.png?expression=b1*2&rescale=0,60", tile), 200)
	e.get(t, fmt.Sprintf("/v1/udfs/m/tiles/%s.png", tiles.AtLonLat(10.15, 45, 11)), 404)
	// Statistics and crops read the files into one grid, combined as tiles.
	var st map[string]struct {
		Min, Max float64
		Count    float64
	}
	if err := json.Unmarshal(e.get(t, "/v1/udfs/m/statistics", 200).Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	// 0.4° by 0.1° of 0.001° pixels: 400×100; each file's 0.1° beyond the
	// next is its own, first gives 10 and 20 over 0.1° each, 30 over 0.2°.
	if b := st["b1"]; b.Min != 10 || b.Max != 30 || b.Count != 400*100 {
		t.Errorf("statistics: %+v, want 10..30 over 40000 pixels", b)
	}
	if err := json.Unmarshal(e.get(t, "/v1/udfs/m/statistics?bbox=10.12,50,10.18,50.04&pixel_selection=highest", 200).Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if b := st["b1"]; b.Min != 20 || b.Max != 20 {
		t.Errorf("statistics, highest where files 0 and 1 meet: %+v, want 20", b)
	}
	body := `{"type":"Polygon","coordinates":[[[10.25,50],[10.35,50],[10.35,50.04],[10.25,50]]]}`
	rec := postBody(e.handler, "/v1/udfs/m/statistics?pixel_selection=lowest", body)
	if rec.Code != 200 {
		t.Fatalf("POST statistics: %d %s", rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if b := st["b1"]; b.Min != 20 || b.Max != 30 {
		t.Errorf("statistics of a triangle over files 1 and 2, lowest: %+v, want 20..30", b)
	}
	if v := npyMax(t, e.get(t, "/v1/udfs/m/bbox/10.21,50,10.29,50.04.npy?pixel_selection=highest", 200).Body.Bytes()); v != 30 {
		t.Errorf("bbox crop, highest: up to %v, want 30", v)
	}
	if r := e.get(t, "/v1/udfs/m/preview.png?max_size=200", 200); r.Header().Get("Content-Type") != "image/png" {
		t.Errorf("preview: %s", r.Header().Get("Content-Type"))
	}
	for _, c := range []struct{ target, want string }{
		{fmt.Sprintf("/v1/udfs/m/tiles/%s.png?pixel_selection=average", tile), "pixel_selection"},
		{"/v1/udfs/m/statistics?pixel_selection=average", "pixel_selection"},
		{fmt.Sprintf("/v1/udfs/m/tiles/%s.png?max_size=10", tile), "max_size"},
	} {
		if body := e.get(t, c.target, 400).Body.String(); !strings.Contains(body, c.want) {
			t.Errorf("%s: %s, want a message with %q", c.target, body, c.want)
		}
	}
}

// npyMax is the largest value of a uint8 .npy array.
func npyMax(t *testing.T, b []byte) float64 {
	t.Helper()
	if len(b) < 10 || string(b[1:6]) != "NUMPY" {
		t.Fatalf("not an npy file: %.20q", b)
	}
	hl := int(b[8]) | int(b[9])<<8
	if !strings.Contains(string(b[10:10+hl]), "|u1") {
		t.Fatalf("npy header %q: want uint8", b[10:10+hl])
	}
	mx := 0.0
	for _, v := range b[10+hl:] {
		mx = max(mx, float64(v))
	}
	return mx
}
