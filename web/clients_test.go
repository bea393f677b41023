package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udftiles/udftiles/tiles"
)

// TestGDALReadsXYZ: GDAL's WMS driver, given our XYZ URL in a TMS description
// (as QGIS and others use XYZ sources), reads a window of the DEM with colours
// and transparency where the DEM has none.
func TestGDALReadsXYZ(t *testing.T) {
	srv, _ := ogcServer(t)
	dir := t.TempDir()
	xml := fmt.Sprintf(`<GDAL_WMS>
  <Service name="TMS"><ServerUrl>%s/v1/udfs/elevation/tiles/${z}/${x}/${y}.png</ServerUrl></Service>
  <DataWindow>
    <UpperLeftX>-20037508.34</UpperLeftX><UpperLeftY>20037508.34</UpperLeftY>
    <LowerRightX>20037508.34</LowerRightX><LowerRightY>-20037508.34</LowerRightY>
    <TileLevel>11</TileLevel><TileCountX>1</TileCountX><TileCountY>1</TileCountY><YOrigin>top</YOrigin>
  </DataWindow>
  <Projection>EPSG:3857</Projection><BlockSizeX>256</BlockSizeX><BlockSizeY>256</BlockSizeY><BandsCount>4</BandsCount>
  <ZeroBlockHttpCodes>404</ZeroBlockHttpCodes>
</GDAL_WMS>`, srv.URL)
	desc := filepath.Join(dir, "xyz.xml")
	if err := os.WriteFile(desc, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	info := gdal(t, "gdalinfo", desc)
	if !strings.Contains(info, "Band 4") || !strings.Contains(info, "3857") {
		t.Fatalf("gdalinfo of the XYZ description:\n%s", info)
	}
	// A window over the DEM (13.4–14.2°E, 46.8–47.4°N), larger than it.
	b := tiles.Bounds{MinX: 13.2, MinY: 46.7, MaxX: 14.4, MaxY: 47.5}.ToMercator()
	out := filepath.Join(dir, "window.tif")
	gdal(t, "gdal_translate", "-q", "-projwin", fmt.Sprint(b.MinX), fmt.Sprint(b.MaxY), fmt.Sprint(b.MaxX), fmt.Sprint(b.MinY),
		"-outsize", "128", "128", desc, out)
	stats := gdal(t, "gdalinfo", "-stats", out)
	// Colours vary across the DEM, and the margin around it is transparent.
	if !strings.Contains(stats, "Band 1") || strings.Contains(stats, "STATISTICS_STDDEV=0\n") ||
		!strings.Contains(stats, "Band 4") || !strings.Contains(stats, "STATISTICS_MINIMUM=0") || !strings.Contains(stats, "STATISTICS_MAXIMUM=255") {
		t.Errorf("the window read through GDAL's WMS driver:\n%s", stats)
	}
}

// TestGDALReadsMVT: GDAL's MVT driver decodes one of our vector tiles, placed
// by its z/x/y, with the countries' properties.
func TestGDALReadsMVT(t *testing.T) {
	srv, _ := ogcServer(t)
	_, body := httpGet(t, srv.URL+"/v1/udfs/countries/tiles/3/4/2.mvt", 200)
	p := filepath.Join(t.TempDir(), "2.pbf")
	if err := os.WriteFile(p, body, 0o644); err != nil {
		t.Fatal(err)
	}
	out := gdal(t, "ogrinfo", "-ro", "-oo", "Z=3", "-oo", "X=4", "-oo", "Y=2", "-al", "-where", "name = 'Germany'", p)
	if !strings.Contains(out, "Layer name: udf") || !strings.Contains(out, "name (String) = Germany") || !strings.Contains(out, "MULTIPOLYGON") {
		t.Errorf("ogrinfo of tile 3/4/2:\n%.2000s", out)
	}
	// Placed: Germany's first vertex is in EPSG:3857 metres within 5–16°E, 47–56°N.
	_, geom, _ := strings.Cut(out, "MULTIPOLYGON (((")
	var x, y float64
	if _, err := fmt.Sscanf(geom, "%g %g", &x, &y); err != nil || x < 550000 || x > 1800000 || y < 5900000 || y > 7600000 {
		t.Errorf("Germany's first vertex %g %g (%v), want EPSG:3857 metres over Germany", x, y, err)
	}
}

// TestNodeDecodesMVT: @mapbox/vector-tile in Node decodes our tile: layer udf,
// extent 4096, typed properties, geometries placed in lon/lat.
func TestNodeDecodesMVT(t *testing.T) {
	srv, _ := ogcServer(t)
	_, body := httpGet(t, srv.URL+"/v1/udfs/countries/tiles/3/4/2.mvt", 200)
	p := filepath.Join(t.TempDir(), "2.pbf")
	if err := os.WriteFile(p, body, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", "testdata/decode-mvt.mjs", p, "3", "4", "2").CombinedOutput()
	if err != nil {
		t.Fatalf("node (after make web-assets, which installs @mapbox/vector-tile): %v\n%s", err, out)
	}
	var layers map[string]struct {
		Extent, Version int
		Features        []struct {
			Type       string
			Properties map[string]any
			First      []float64
		}
	}
	if err := json.Unmarshal(out, &layers); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	l, ok := layers["udf"]
	if !ok || l.Extent != 4096 || l.Version != 2 || len(l.Features) < 10 {
		t.Fatalf("decoded %s", out)
	}
	found := false
	for _, f := range l.Features {
		if f.Properties["name"] == "Germany" {
			found = true
			if _, num := f.Properties["pop_est"].(float64); !num || !strings.Contains(f.Type, "Polygon") ||
				f.First[0] < 4 || f.First[0] > 17 || f.First[1] < 46 || f.First[1] > 56 {
				t.Errorf("Germany decoded as %+v", f)
			}
		}
	}
	if !found {
		t.Errorf("no Germany in tile 3/4/2")
	}
}
