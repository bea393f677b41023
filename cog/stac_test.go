package cog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// stacFixture is a STAC Item written beside its assets: B04 (10 m, uint16,
// nodata 0 over its western columns), B08 (20 m, uint16), visual (10 m,
// three uint8 bands), all in EPSG:32633 and of smooth values, and two
// assets that are not rasters.
type stacFixture struct {
	dir, item string
	files     map[string]string // asset → file
}

func writeSTAC(t testing.TB) stacFixture {
	t.Helper()
	dir := t.TempDir()
	f := stacFixture{dir: dir, item: filepath.Join(dir, "item.json"), files: map[string]string{}}
	gt10 := [6]float64{500000, 10, 0, 5000000, 0, -10}
	gt20 := [6]float64{500000, 20, 0, 5000000, 0, -20}
	zero := 0.0
	b04 := filled(32633, gt10, 1024, 1024, godal.UInt16, 1, func(x, y, _ int) float64 {
		if x < 40 {
			return 0
		}
		return math.Round(400 + 250*math.Sin(float64(x)/37) + 150*math.Cos(float64(y)/53))
	})
	b04.NoData = &zero
	b08 := filled(32633, gt20, 512, 512, godal.UInt16, 1, func(x, y, _ int) float64 {
		return math.Round(1500 + 600*math.Sin(float64(x+y)/29) + 200*math.Cos(float64(x)/11))
	})
	visual := filled(32633, gt10, 1024, 1024, godal.Byte, 3, func(x, y, b int) float64 {
		return math.Round(128 + 100*math.Sin(float64(x+2*y+60*b)/41))
	})
	for name, g := range map[string]struct {
		g    demo.Grid
		file string
	}{"B04": {b04, "B04.tif"}, "B08": {b08, "bands/B08.tif"}, "visual": {visual, "TCI.tif"}} {
		p := filepath.Join(dir, g.file)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := demo.WriteCOG(p, g.g); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f.files[name] = p
	}
	os.WriteFile(filepath.Join(dir, "thumb.png"), []byte("\x89PNG"), 0o644)
	item := map[string]any{
		"type": "Feature", "stac_version": "1.0.0", "id": "S2_TEST",
		"bbox":     []float64{14.99, 44.99, 15.15, 45.16},
		"geometry": nil, "properties": map[string]any{"datetime": "2024-06-01T10:00:00Z"},
		"assets": map[string]any{
			"B04":       map[string]any{"href": "./B04.tif", "type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": []string{"data"}},
			"B08":       map[string]any{"href": "bands/B08.tif", "type": "image/tiff; application=geotiff"},
			"visual":    map[string]any{"href": f.files["visual"], "type": "image/tiff; application=geotiff; profile=cloud-optimized"},
			"thumbnail": map[string]any{"href": "thumb.png", "type": "image/png", "roles": []string{"thumbnail"}},
			"metadata":  map[string]any{"href": "MTD.xml", "type": "application/xml"},
		},
	}
	b, _ := json.Marshal(item)
	if err := os.WriteFile(f.item, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// runSTAC calls the handler as the tile service does.
func runSTAC(t testing.TB, s *cog.STAC, tile tiles.Tile, query string) (*layer.Raster, error) {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	params, err := s.Schema().Coerce(q)
	if err != nil {
		return nil, err
	}
	res, err := s.Run(context.Background(), layer.Request{Tile: &tile, Params: params})
	if err != nil {
		return nil, err
	}
	return res.(*layer.Raster), nil
}

func newSTAC(t testing.TB, o cog.STACOptions) *cog.STAC {
	t.Helper()
	s := cog.NewSTAC(o)
	t.Cleanup(s.Close)
	if err := s.Status(); err != nil {
		t.Fatalf("status: %v", err)
	}
	return s
}

// stacTiles are tiles of zoom z over the fixture: inside, and at its edge.
func stacTiles(t testing.TB, f stacFixture, z int) []tiles.Tile {
	r := newReader(t, cog.Options{Path: f.files["B04"]})
	return sampleTiles(r, z)[:2]
}

// TestSTACAssetsMatchGDALWarp reads assets= and asset_bidx= tiles and holds
// each band to gdalwarp run on its asset's file for the same tile; a pixel
// is valid where every asset read has it.
func TestSTACAssetsMatchGDALWarp(t *testing.T) {
	f := writeSTAC(t)
	s := newSTAC(t, cog.STACOptions{Path: f.item})
	sc := s.Schema()
	if sc.MinZoom != 0 || sc.MaxZoom != 24 || math.Abs(sc.Bounds.MinX-14.99) > 1e-9 {
		t.Errorf("schema: zooms %d..%d, bounds %+v; want 0..24 and the item's bbox", sc.MinZoom, sc.MaxZoom, sc.Bounds)
	}
	for _, z := range []int{12, 14} {
		for _, tile := range stacTiles(t, f, z) {
			for _, resampling := range []string{"nearest", "bilinear"} {
				ref := map[string]warped{}
				for _, a := range []string{"B04", "B08", "visual"} {
					// The assets are in UTM: their tiles' coordinates come
					// from the lattice, held to gdalwarp's exact ones.
					ref[a] = gdalwarpTile(t, f.files[a], tile, 256, resampling, "-et", "0")
				}
				for _, c := range []struct {
					query string
					bands []struct {
						asset string
						band  int
					}
				}{
					{"assets=B04,B08", []struct {
						asset string
						band  int
					}{{"B04", 1}, {"B08", 1}}},
					{"assets=B08&assets=B04", []struct {
						asset string
						band  int
					}{{"B08", 1}, {"B04", 1}}},
					{"assets=visual,B04&asset_bidx=" + url.QueryEscape("visual|3,1"), []struct {
						asset string
						band  int
					}{{"visual", 3}, {"visual", 1}, {"B04", 1}}},
					{"assets=B08,visual&bidx=1", []struct {
						asset string
						band  int
					}{{"B08", 1}, {"visual", 1}}},
				} {
					name := fmt.Sprintf("%s %s %s", tile, resampling, c.query)
					got, err := runSTAC(t, s, tile, "resampling="+resampling+"&"+c.query)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					want := warped{alpha: make([]uint8, 256*256)}
					for i := range want.alpha {
						want.alpha[i] = 255
					}
					for _, b := range c.bands {
						w := ref[b.asset]
						want.bands = append(want.bands, w.bands[b.band-1])
						for i, a := range w.alpha {
							want.alpha[i] = min(want.alpha[i], a)
						}
					}
					// Within 1 for bilinear, as every COG tile (TestResamplings):
					// a sawtooth rounds either way where the warps' grids
					// differ by a hair. A pixel within the lattice's 1/32
					// pixel of a source pixel's edge may take the other side.
					tol := 0.0
					if resampling != "nearest" {
						tol = 1
					}
					t.Run(name, func(t *testing.T) { closeToGDAL(t, got, want, tol, 0.01) })
					if valid(got) == 0 && tile == stacTiles(t, f, z)[0] {
						t.Errorf("%s: an empty tile inside the item", name)
					}
					got.Release()
				}
			}
		}
	}
}

// TestSTACExpressionMatchesGDALCalc computes band math across assets (two
// of them of different resolutions) and holds it to gdal_calc.py run on the
// assets warped by gdalwarp to the tile's grid (nearest: the warp is held to
// gdalwarp for the other resamplings by TestSTACAssetsMatchGDALWarp). A
// pixel is valid where every asset the expression reads has it and the
// result is finite.
func TestSTACExpressionMatchesGDALCalc(t *testing.T) {
	calc, err := exec.LookPath("gdal_calc.py")
	if err != nil {
		if calc, err = exec.LookPath("gdal_calc"); err != nil {
			t.Skip("gdal_calc.py is not installed (gdal-bin)")
		}
	}
	f := writeSTAC(t)
	s := newSTAC(t, cog.STACOptions{Path: f.item})
	exprs := []struct {
		ours   string
		numpy  []string // gdal_calc's A = B04, B = B08, C and D = visual's bands 2 and 3
		assets []string
	}{
		{"(B08_b1-B04_b1)/(B08_b1+B04_b1)", []string{"(B.astype(float32)-A)/(B.astype(float32)+A)"}, []string{"B04", "B08"}},
		{"visual_b2 * 0.5 + sqrt(B04_b1); B08_b1 - visual_b3",
			[]string{"C.astype(float32)*float32(0.5) + sqrt(A.astype(float32))", "B.astype(float32) - D"}, []string{"B04", "B08", "visual"}},
	}
	for _, tile := range stacTiles(t, f, 13) {
		for _, resampling := range []string{"nearest"} {
			refs, alphas := map[string]string{}, map[string][]float64{}
			for _, a := range []string{"B04", "B08", "visual"} {
				refs[a] = gdalwarpArea(t, f.files[a], tile.Z, tile.X, tile.Y, tile.X, tile.Y, 256, 0, resampling, "-dstalpha", "-et", "0")
				bands, _, _ := readAll(t, refs[a])
				alphas[a] = bands[len(bands)-1]
			}
			for _, e := range exprs {
				name := fmt.Sprintf("%s/%s/%s", tile, resampling, e.ours)
				got, err := runSTAC(t, s, tile, "resampling="+resampling+"&expression="+url.QueryEscape(e.ours))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if got.DType != "float32" || len(got.Bands) != len(e.numpy) {
					t.Fatalf("%s: %s, %d bands; want float32, %d", name, got.DType, len(got.Bands), len(e.numpy))
				}
				var want [][]float64
				for _, calcExpr := range e.numpy {
					out := filepath.Join(t.TempDir(), "calc.tif")
					args := []string{calc, "--quiet", "-A", refs["B04"], "--A_band=1", "-B", refs["B08"], "--B_band=1",
						"-C", refs["visual"], "--C_band=2", "-D", refs["visual"], "--D_band=3",
						"--calc=" + calcExpr, "--type=Float32", "--hideNoData", "--outfile=" + out, "--overwrite"}
					if msg, err := exec.Command("/usr/bin/python3", args...).CombinedOutput(); err != nil {
						t.Fatalf("%s: gdal_calc %v: %v\n%s", name, args, err, msg)
					}
					b, _, _ := readAll(t, out)
					want = append(want, b[0])
				}
				valid, bad := 0, 0
				for i := range want[0] {
					ok := true
					for _, a := range e.assets {
						ok = ok && alphas[a][i] > 0
					}
					for _, w := range want {
						ok = ok && !math.IsNaN(w[i]) && !math.IsInf(w[i], 0)
					}
					switch {
					case !ok:
						if got.Mask[i] != 0 {
							bad++
						}
					case got.Mask[i] == 0:
						bad++
					default:
						valid++
						for k, w := range want {
							if g := got.Bands[k][i]; math.Abs(g-w[i]) > 1e-5*math.Max(1, math.Abs(w[i])) {
								bad++
								if bad < 4 {
									t.Logf("%s band %d pixel %d: %v, gdal_calc %v", name, k+1, i, g, w[i])
								}
							}
						}
					}
				}
				// The assets' coordinates come from the lattice: a pixel within
				// its 1/32 pixel of a source pixel's edge may take the other
				// side of gdalwarp's exact coordinates.
				if bad > len(want[0])/100 || valid == 0 {
					t.Errorf("%s: %d of %d pixels differ from gdal_calc (%d agree)", name, bad, len(want[0]), valid)
				}
				t.Logf("%s: %d valid pixels agree", name, valid)
				got.Release()
			}
		}
	}
}

// TestSTACErrors: what a STAC request is refused for, and how.
func TestSTACErrors(t *testing.T) {
	f := writeSTAC(t)
	s := newSTAC(t, cog.STACOptions{Path: f.item})
	tile := stacTiles(t, f, 13)[0]
	q := url.QueryEscape
	for _, c := range []struct {
		query string
		kind  layer.Kind
		want  string
	}{
		{"", layer.BadRequest, "parameter assets: required: the assets to read, e.g. assets=B04 (the item's raster assets: B04, B08, visual)"},
		{"assets=B05", layer.BadRequest, "asset B05: the item has no such asset (its raster assets: B04, B08, visual)"},
		{"assets=B04,thumbnail", layer.BadRequest, "asset thumbnail: not a raster (image/png); the item's raster assets: B04, B08, visual"},
		{"assets=metadata", layer.BadRequest, "asset metadata: not a raster (application/xml)"},
		{"assets=B04&asset_bidx=" + q("B04|2"), layer.BadRequest, "parameter asset_bidx: asset B04 has no band 2 (it has bands 1..1)"},
		{"assets=B04&asset_bidx=" + q("B08|1"), layer.BadRequest, "parameter asset_bidx: asset B08 is not in assets= (B04)"},
		{"assets=B04&asset_bidx=" + q("1"), layer.BadRequest, "parameter asset_bidx: want ASSET|BAND[,BAND...], e.g. B04|1, got \"1\""},
		{"assets=B04&asset_bidx=" + q("B04|x"), layer.BadRequest, "parameter asset_bidx: want 1-based band numbers after B04|, got \"x\""},
		{"assets=B04&asset_bidx=" + q("B04|1") + "&bidx=1", layer.BadRequest, "parameters asset_bidx and bidx: give one"},
		{"assets=visual&bidx=4", layer.BadRequest, "parameter bidx: asset visual has no band 4 (it has bands 1..3)"},
		{"expression=" + q("B08_b1/B04_b1") + "&asset_bidx=" + q("B04|1"), layer.BadRequest, "parameters asset_bidx and expression: give one"},
		{"expression=" + q("B08_b1/B04_b1") + "&bidx=1", layer.BadRequest, "parameters bidx and expression: give one"},
		{"assets=B04&expression=" + q("(B08_b1-B04_b1)"), layer.BadRequest, "parameter expression: B08_b1 names asset B08, which is not in assets= (B04) at 2"},
		{"expression=" + q("B04_b1 + B05_b1"), layer.BadRequest, "parameter expression: B05_b1: the item has no such asset (its raster assets: B04, B08, visual) at 10"},
		{"expression=" + q("thumbnail_b1"), layer.BadRequest, "parameter expression: thumbnail_b1: not a raster (image/png)"},
		{"expression=" + q("B04_b2"), layer.BadRequest, "parameter expression: B04_b2: asset B04 has no band 2 (it has bands 1..1) at 1"},
		{"expression=" + q("B04 * 2"), layer.BadRequest, `parameter expression: unknown name "B04": name an asset's band as ASSET_bN, e.g. B04_b1`},
		{"expression=" + q("b1 * 2"), layer.BadRequest, `parameter expression: unknown name "b1"`},
		{"expression=" + q("B04_b1 % 2"), layer.BadRequest, `parameter expression: unsupported token "%" at 8`},
		{"assets=B04&algorithm=normalized_index", layer.BadRequest, "parameter algorithm: normalized_index reads 2 bands, the assets give 1"},
		{"assets=B04&algorithm=hillshade&algorithm_params=" + q(`{"azimut":1}`), layer.BadRequest, `hillshade takes no parameter "azimut"`},
	} {
		_, err := runSTAC(t, s, tile, c.query)
		if err == nil || layer.KindOf(err) != c.kind || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v (%v), want %v with %q", c.query, err, layer.KindOf(err), c.kind, c.want)
		}
	}
	// A tile outside the item's bbox.
	if _, err := runSTAC(t, s, tiles.Tile{Z: 13, X: 0, Y: 0}, "assets=B04"); layer.KindOf(err) != layer.NotFound {
		t.Errorf("a tile outside the bbox: %v, want not found", err)
	}
}

// TestSTACAlgorithm: algorithm= applies to the stacked bands, as on a COG
// layer: normalized_index over assets=B04,B08 is the expression's value.
func TestSTACAlgorithm(t *testing.T) {
	f := writeSTAC(t)
	s := newSTAC(t, cog.STACOptions{Path: f.item})
	tile := stacTiles(t, f, 13)[0]
	ni, err := runSTAC(t, s, tile, "assets=B04,B08&algorithm=normalized_index")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := runSTAC(t, s, tile, "expression="+url.QueryEscape("(B08_b1-B04_b1)/(B08_b1+B04_b1)"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range ex.Mask {
		if (ex.Mask[i] == 0) != (ni.Mask[i] == 0) {
			t.Fatalf("pixel %d: mask %d, expression's %d", i, ni.Mask[i], ex.Mask[i])
		}
		if ex.Mask[i] != 0 {
			n++
			if math.Abs(ni.Bands[0][i]-ex.Bands[0][i]) > 1e-6 {
				t.Fatalf("pixel %d: normalized_index %v, expression %v", i, ni.Bands[0][i], ex.Bands[0][i])
			}
		}
	}
	if n == 0 {
		t.Fatal("no valid pixel")
	}
	// hillshade reads a border around the tile from every asset.
	hs, err := runSTAC(t, s, tile, "assets=B08&algorithm=hillshade")
	if err != nil || hs.Width != 256 || hs.DType != "uint8" || valid(hs) == 0 {
		t.Fatalf("hillshade: %v %+v", err, hs)
	}
}

// TestSTACLocate: an item's asset hrefs go through Locate, whose refusal is
// the request's answer, naming the asset; relative hrefs resolve against
// the item's location.
func TestSTACLocate(t *testing.T) {
	f := writeSTAC(t)
	var asked []string
	s := newSTAC(t, cog.STACOptions{Path: f.item, Locate: func(href string) (string, error) {
		asked = append(asked, href)
		if strings.HasSuffix(href, "TCI.tif") {
			return "", layer.Errorf(layer.Forbidden, "%s is not under cog_urls.allow", href)
		}
		return href, nil
	}})
	tile := stacTiles(t, f, 13)[0]
	if _, err := runSTAC(t, s, tile, "assets=B04,B08"); err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(f.dir, "B04.tif"), filepath.Join(f.dir, "bands", "B08.tif")}
	if fmt.Sprint(asked) != fmt.Sprint(want) {
		t.Errorf("Locate was asked %v, want %v", asked, want)
	}
	for _, query := range []string{"assets=visual", "expression=" + url.QueryEscape("visual_b1*2")} {
		_, err := runSTAC(t, s, tile, query)
		if layer.KindOf(err) != layer.Forbidden || !strings.Contains(err.Error(), "asset visual: "+f.files["visual"]+" is not under cog_urls.allow") {
			t.Errorf("%s: %v, want 403 naming the asset", query, err)
		}
	}
}
