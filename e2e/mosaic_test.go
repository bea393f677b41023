package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/udftiles/udftiles/tiles"
)

// TestDemoMosaic serves the demo's elevation_tiles (the DEM cut into 16
// files, half of them warped to EPSG:4326) from the real binary with the
// embedded config: info, tiles equal to the one-file layer's where a piece
// is a copy of its pixels, points equal to gdallocationinfo on the file
// named, statistics, pixel_selection, and crops GDAL reads.
func TestDemoMosaic(t *testing.T) {
	base, dir := serveDefault(t)
	get := func(path string, status int) []byte {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != status {
			t.Fatalf("GET %s: %d, want %d: %.300s", path, resp.StatusCode, status, b)
		}
		return b
	}
	var info struct {
		Source string     `json:"source"`
		Files  int        `json:"files"`
		DType  string     `json:"dtype"`
		Bounds [4]float64 `json:"bounds"`
	}
	if err := json.Unmarshal(get("/v1/udfs/elevation_tiles/info", 200), &info); err != nil {
		t.Fatal(err)
	}
	if info.Source != "directory" || info.Files != 16 || info.DType != "int16" {
		t.Fatalf("info: %+v", info)
	}
	var one struct {
		LonLat [4]float64 `json:"lonlat_bounds"`
	}
	if err := json.Unmarshal(get("/v1/udfs/elevation/info", 200), &one); err != nil {
		t.Fatal(err)
	}
	// A place inside piece r1_c1 (row+col even: a copy in UTM 33N), away from its edges.
	lon := one.LonLat[0] + (one.LonLat[2]-one.LonLat[0])*0.37
	lat := one.LonLat[3] - (one.LonLat[3]-one.LonLat[1])*0.37
	tile := tiles.AtLonLat(lon, lat, 12)
	raw := fmt.Sprintf("/tiles/%s.npy", tile)
	if a, b := get("/v1/udfs/elevation_tiles"+raw, 200), get("/v1/udfs/elevation"+raw, 200); string(a) != string(b) {
		t.Errorf("tile %s inside a copied piece: %d bytes differ from the one-file layer's %d", tile, len(a), len(b))
	}
	type point struct {
		Values []*float64 `json:"values"`
		File   string     `json:"file"`
	}
	var p, q point
	json.Unmarshal(get(fmt.Sprintf("/v1/udfs/elevation_tiles/point/%g,%g", lon, lat), 200), &p)
	json.Unmarshal(get(fmt.Sprintf("/v1/udfs/elevation/point/%g,%g", lon, lat), 200), &q)
	if len(p.Values) != 1 || p.Values[0] == nil || q.Values[0] == nil || *p.Values[0] != *q.Values[0] || filepath.Base(p.File) != "dem_r1_c1.tif" {
		t.Errorf("point in a copied piece: %+v, the one file's %+v", p, q)
	}
	// A place in piece r1_c2 (warped to EPSG:4326): the value of that file.
	lon2 := one.LonLat[0] + (one.LonLat[2]-one.LonLat[0])*0.62
	json.Unmarshal(get(fmt.Sprintf("/v1/udfs/elevation_tiles/point/%g,%g", lon2, lat), 200), &p)
	if filepath.Base(p.File) != "dem_r1_c2.tif" || p.Values[0] == nil {
		t.Fatalf("point in a warped piece: %+v", p)
	}
	out, err := exec.Command("gdallocationinfo", "-valonly", "-wgs84", filepath.Join(dir, p.File), ftoa(lon2), ftoa(lat)).CombinedOutput()
	if err != nil {
		t.Fatalf("gdallocationinfo: %v\n%s", err, out)
	}
	if v, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); v != *p.Values[0] {
		t.Errorf("point in %s: %v, gdallocationinfo %v", p.File, *p.Values[0], v)
	}

	// Statistics over the whole mosaic: the DEM's heights.
	type stats map[string]struct {
		Min, Max, Mean float64
		ValidPercent   float64 `json:"valid_percent"`
	}
	var ms, es stats
	json.Unmarshal(get("/v1/udfs/elevation_tiles/statistics?max_size=512", 200), &ms)
	json.Unmarshal(get("/v1/udfs/elevation/statistics?max_size=512", 200), &es)
	if m, e := ms["b1"], es["b1"]; math.Abs(m.Mean-e.Mean) > 0.02*e.Mean || m.Min < 0 || m.Max > 3000 || m.ValidPercent < 50 {
		t.Errorf("statistics: mosaic %+v, one file %+v", m, e)
	}
	box := fmt.Sprintf("%g,%g,%g,%g", lon-0.1, lat-0.05, lon2+0.05, lat+0.05)
	var hi, lo stats
	json.Unmarshal(get("/v1/udfs/elevation_tiles/statistics?pixel_selection=highest&bbox="+box, 200), &hi)
	json.Unmarshal(get("/v1/udfs/elevation_tiles/statistics?pixel_selection=lowest&bbox="+box, 200), &lo)
	if hi["b1"].Mean < lo["b1"].Mean || hi["b1"].Max == 0 {
		t.Errorf("highest %+v below lowest %+v", hi["b1"], lo["b1"])
	}

	// Crops GDAL reads: a GeoTIFF of a box across pieces of both CRSs.
	tif := filepath.Join(t.TempDir(), "crop.tif")
	if err := os.WriteFile(tif, get("/v1/udfs/elevation_tiles/bbox/"+box+".tif?max_size=300", 200), 0o644); err != nil {
		t.Fatal(err)
	}
	gi, err := exec.Command("gdalinfo", "-json", "-stats", tif).Output()
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Size []int `json:"size"`
		Crs  struct {
			Wkt string `json:"wkt"`
		} `json:"coordinateSystem"`
		Bands []struct {
			Min float64 `json:"minimum"`
			Max float64 `json:"maximum"`
		} `json:"bands"`
	}
	json.Unmarshal(gi, &g)
	if len(g.Size) != 2 || max(g.Size[0], g.Size[1]) != 300 || !strings.Contains(g.Crs.Wkt, `ID["EPSG",4326]`) || len(g.Bands) == 0 || g.Bands[0].Max <= g.Bands[0].Min {
		t.Errorf("bbox crop: %s", gi)
	}
	if png := get("/v1/udfs/elevation_tiles/preview.png?max_size=256", 200); string(png[1:4]) != "PNG" {
		t.Error("preview: not a PNG")
	}
	get("/v1/udfs/elevation_tiles/statistics?pixel_selection=average", 400)
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
