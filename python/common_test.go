package python_test

// Tests of the helpers of Fused's public `common` UDF as the fused module carries
// them (python/pyruntime/fused/common.py, _tiles.py) and of the packages of the
// Python runtime, each through a real worker and checked against GDAL, the Go
// tiles package, data written here, or values worked out by hand.

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/python"
	"github.com/udftiles/udftiles/tiles"
)

// cmUDF starts a one-worker pool and returns the UDF of fixture name.
func cmUDF(t *testing.T, name string) *python.UDF {
	t.Helper()
	p := startPool(t, python.Config{Workers: 1})
	return python.NewUDF(p, python.Options{Path: fixture(t, name), Timeout: 60 * time.Second})
}

func cmMap(t testing.TB, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("result %T %v, want a JSON object", v, v)
	}
	return m
}

// cmNums reads a JSON list of numbers; null is NaN.
func cmNums(t testing.TB, v any) []float64 {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("%T %v is not a list", v, v)
	}
	out := make([]float64, len(l))
	for i, x := range l {
		switch x := x.(type) {
		case float64:
			out[i] = x
		case nil:
			out[i] = math.NaN()
		case bool:
			out[i] = 0
			if x {
				out[i] = 1
			}
		default:
			t.Fatalf("item %d: %T %v is not a number", i, x, x)
		}
	}
	return out
}

// cmRows reads a JSON list of lists of numbers.
func cmRows(t testing.TB, v any) [][]float64 {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("%T is not a list of rows", v)
	}
	out := make([][]float64, len(l))
	for i, r := range l {
		out[i] = cmNums(t, r)
	}
	return out
}

func cmJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cmInBounds runs u in file mode over lon/lat bounds and decodes its JSON result.
func cmInBounds(t testing.TB, u *python.UDF, params url.Values, b tiles.Bounds) map[string]any {
	t.Helper()
	coerced, err := u.Schema().Coerce(params)
	if err != nil {
		t.Fatal(err)
	}
	res, err := u.Run(context.Background(), layer.Request{Bounds: b, Params: coerced})
	if err != nil {
		t.Fatalf("run with %v over %+v: %v (logs: %s)", params, b, err, logsOf(err))
	}
	v, ok := res.(*layer.Value)
	if !ok || v.Kind != "json" {
		t.Fatalf("result %T %+v, want a JSON value", res, res)
	}
	var out map[string]any
	if err := json.Unmarshal(v.Body, &out); err != nil {
		t.Fatalf("result %q: %v", v.Body, err)
	}
	return out
}

func cmNear(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol
}

// cmUTMGrid is an Int16 raster in UTM zone 33N (EPSG:32633), 30 m pixels, whose west
// edge is the zone's central meridian (15°E): pixel (x, y) holds (7x + 13y) mod 1000.
func cmUTMGrid() demo.Grid {
	const w, h = 600, 600
	nodata := -1.0
	band := make([]float64, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			band[y*w+x] = float64((7*x + 13*y) % 1000)
		}
	}
	return demo.Grid{EPSG: 32633, GeoTransform: [6]float64{500000, 30, 0, 5000000, 0, -30},
		Width: w, Height: h, DType: godal.Int16, Bands: [][]float64{band}, NoData: &nodata}
}

// cmGdalwarp reprojects one tile of path onto a size×size EPSG:3857 grid with the
// gdalwarp program (nearest neighbour): band 1 and the alpha band.
func cmGdalwarp(t *testing.T, path string, tl tiles.Tile, size int) ([]int16, []uint8) {
	t.Helper()
	b := tl.Mercator()
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	out := filepath.Join(t.TempDir(), "ref.tif")
	args := []string{"-q", "-of", "GTiff", "-t_srs", "EPSG:3857", "-te", f(b.MinX), f(b.MinY), f(b.MaxX), f(b.MaxY),
		"-ts", strconv.Itoa(size), strconv.Itoa(size), "-r", "near", "-dstalpha", path, out}
	if msg, err := exec.Command("gdalwarp", args...).CombinedOutput(); err != nil {
		t.Fatalf("gdalwarp %v: %v\n%s", args, err, msg)
	}
	ds, err := godal.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	vals, alpha := make([]int16, size*size), make([]uint8, size*size)
	if err := ds.Bands()[0].Read(0, 0, vals, size, size); err != nil {
		t.Fatal(err)
	}
	if err := ds.Bands()[1].Read(0, 0, alpha, size, size); err != nil {
		t.Fatal(err)
	}
	return vals, alpha
}

func TestCommonReadTiff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "utm.tif")
	if err := demo.WriteCOG(path, cmUTMGrid()); err != nil {
		t.Fatal(err)
	}
	u := cmUDF(t, "common_read_tiff.py")

	t.Run("tile like gdalwarp", func(t *testing.T) {
		// The tile holding 15.01°E 45.07°N straddles the file's west edge (15°E).
		tl := tiles.AtLonLat(15.01, 45.07, 12)
		res := cmMap(t, jsonValue(t, u, q("path", path, "mode", "tile"), &tl))
		if !reflect.DeepEqual(res["shape"], []any{256.0, 256.0}) || res["dtype"] != "int16" ||
			res["is_masked_array"] != "MaskedArray" {
			t.Fatalf("read_tiff gave %v %v %v, want a (256, 256) int16 masked array",
				res["shape"], res["dtype"], res["is_masked_array"])
		}
		want, alpha := cmGdalwarp(t, path, tl, 256)
		data, masked := cmRows(t, res["data"]), cmRows(t, res["masked"])
		valid, differ, maskDiffer := 0, 0, 0
		for y := 0; y < 256; y++ {
			for x := 0; x < 256; x++ {
				i := y*256 + x
				gdalValid := alpha[i] != 0
				ours := masked[y][x] == 0
				if gdalValid != ours {
					maskDiffer++
					continue
				}
				if ours {
					valid++
					if data[y][x] != float64(want[i]) {
						differ++
					}
				}
			}
		}
		if valid < 256*256/4 || valid > 256*256*9/10 {
			t.Fatalf("%d valid pixels: the tile should be partly outside the file", valid)
		}
		if differ != 0 || maskDiffer != 0 {
			t.Errorf("read_tiff differs from gdalwarp: %d of %d values, %d mask pixels", differ, valid, maskDiffer)
		}
	})

	t.Run("window at the file's resolution", func(t *testing.T) {
		west, south, east, north := 15.01, 45.05, 15.03, 45.06
		res := cmInBounds(t, u, q("path", path, "mode", "window"), tiles.Bounds{MinX: west, MinY: south, MaxX: east, MaxY: north})
		if res["crs"] != 32633.0 {
			t.Errorf("crs %v, want the file's 32633", res["crs"])
		}
		tr := cmNums(t, res["transform"]) // a, b, c, d, e, f
		if tr[0] != 30 || tr[4] != -30 || tr[1] != 0 || tr[3] != 0 {
			t.Fatalf("transform %v, want 30 m pixels", tr)
		}
		col, row := (tr[2]-500000)/30, (5000000-tr[5])/30
		if col != math.Trunc(col) || row != math.Trunc(row) {
			t.Fatalf("window origin at pixel %v, %v: not on the file's grid", col, row)
		}
		data := cmRows(t, res["data"])
		h, w := len(data), len(data[0])
		// GDAL's own read of the same window.
		ds, err := godal.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer ds.Close()
		buf := make([]int16, w*h)
		if err := ds.Bands()[0].Read(int(col), int(row), buf, w, h); err != nil {
			t.Fatal(err)
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				if data[y][x] != float64(buf[y*w+x]) {
					t.Fatalf("pixel %d,%d of the window (file pixel %d,%d): %v, GDAL reads %d",
						x, y, x+int(col), y+int(row), data[y][x], buf[y*w+x])
				}
			}
		}
		// The window holds the bounds (projected by GDAL, edges densified) and
		// is at most a pixel wider on each side.
		src, _ := godal.NewSpatialRefFromEPSG(4326)
		dst, _ := godal.NewSpatialRefFromEPSG(32633)
		defer src.Close()
		defer dst.Close()
		trn, err := godal.NewTransform(src, dst)
		if err != nil {
			t.Fatal(err)
		}
		defer trn.Close()
		var xs, ys []float64
		for i := 0; i <= 20; i++ {
			f := float64(i) / 20
			lon, lat := west+f*(east-west), south+f*(north-south)
			xs = append(xs, lon, lon, west, east)
			ys = append(ys, south, north, lat, lat)
		}
		if err := trn.TransformEx(xs, ys, make([]float64, len(xs)), nil); err != nil {
			t.Fatal(err)
		}
		minx, maxx, miny, maxy := slices.Min(xs), slices.Max(xs), slices.Min(ys), slices.Max(ys)
		wx0, wy1 := tr[2], tr[5]
		wx1, wy0 := wx0+30*float64(w), wy1-30*float64(h)
		if wx0 > minx || wx1 < maxx || wy0 > miny || wy1 < maxy {
			t.Errorf("window %v..%v, %v..%v does not hold the bounds %v..%v, %v..%v", wx0, wx1, wy0, wy1, minx, maxx, miny, maxy)
		}
		if minx-wx0 >= 30 || wx1-maxx >= 30 || miny-wy0 >= 30 || wy1-maxy >= 30 {
			t.Errorf("window %v..%v, %v..%v is more than a pixel wider than the bounds %v..%v, %v..%v",
				wx0, wx1, wy0, wy1, minx, maxx, miny, maxy)
		}
		if b := cmNums(t, res["bounds"]); !cmNear(b[0], wx0, 1e-6) || !cmNear(b[3], wy1, 1e-6) || !cmNear(b[2], wx1, 1e-6) {
			t.Errorf("metadata bounds %v, want the window's %v %v %v %v", b, wx0, wy0, wx1, wy1)
		}
	})

	t.Run("outside the file", func(t *testing.T) {
		res := cmInBounds(t, u, q("path", path, "mode", "outside"), tiles.Bounds{MinX: -10, MinY: 0, MaxX: -9, MaxY: 1})
		if res["none"] != true {
			t.Errorf("read_tiff outside the file: %v, want None", res)
		}
	})
}

func TestCommonTableToTile(t *testing.T) {
	u := cmUDF(t, "common_table.py")
	europe := tiles.Tile{Z: 3, X: 4, Y: 2} // 0..45°E, 41..66.5°N
	run := func(t *testing.T, tl tiles.Tile, kv ...string) map[string]any {
		t.Helper()
		return cmMap(t, jsonValue(t, u, q(kv...), &tl))
	}
	var fromFile []any
	for _, source := range []string{"file", "gdf"} {
		t.Run(source, func(t *testing.T) {
			res := run(t, europe, "source", source)
			names, _ := res["names"].([]any)
			for _, want := range []string{"France", "Germany", "Poland", "Italy", "Norway", "Sweden", "United Kingdom", "Spain"} {
				if !slices.Contains(names, any(want)) {
					t.Errorf("%s not in the tile's countries %v", want, names)
				}
			}
			for _, not := range []string{"Brazil", "United States of America", "Australia", "Portugal", "Iceland", "Egypt"} {
				if slices.Contains(names, any(not)) {
					t.Errorf("%s is in the countries of tile %v, which it does not reach", not, europe)
				}
			}
			if !reflect.DeepEqual(res["columns"], []any{"name", "geometry"}) || res["crs"] != 4326.0 {
				t.Errorf("columns %v crs %v, want [name geometry] in 4326", res["columns"], res["crs"])
			}
			if res["n"].(float64) >= res["rows_in_file"].(float64) {
				t.Errorf("%v rows of %v: nothing was filtered", res["n"], res["rows_in_file"])
			}
			if source == "file" {
				fromFile = names
			} else if fromFile != nil && !reflect.DeepEqual(fromFile, names) {
				t.Errorf("a GeoDataFrame gives %v, the file %v", names, fromFile)
			}
		})
	}
	t.Run("default columns are geometry only, as Fused's", func(t *testing.T) {
		res := run(t, europe, "columns", "default")
		if !reflect.DeepEqual(res["columns"], []any{"geometry"}) {
			t.Errorf("columns %v, want [geometry]", res["columns"])
		}
		res = run(t, europe, "columns", "*")
		if cols := res["columns"].([]any); len(cols) < 4 || !slices.Contains(cols, any("pop_est")) {
			t.Errorf("use_columns=None gave columns %v, want all of them", cols)
		}
	})
	t.Run("clip", func(t *testing.T) {
		res := run(t, europe, "clip", "true")
		b, tb := cmNums(t, res["total_bounds"]), europe.LonLat()
		if b[0] < tb.MinX-1e-9 || b[1] < tb.MinY-1e-9 || b[2] > tb.MaxX+1e-9 || b[3] > tb.MaxY+1e-9 {
			t.Errorf("clipped rows reach %v, outside the tile %v", b, tb)
		}
		if !reflect.DeepEqual(res["geom_types"], []any{"Polygon"}) {
			t.Errorf("clipped geometry types %v, want single polygons", res["geom_types"])
		}
		if res["n"].(float64) < 40 { // multi-part countries become one row per part
			t.Errorf("%v rows after clipping", res["n"])
		}
	})
	t.Run("centroids just above min_zoom", func(t *testing.T) {
		res := run(t, europe, "min_zoom", "3", "offset", "1")
		if !reflect.DeepEqual(res["geom_types"], []any{"Point"}) {
			t.Errorf("geometry types %v, want centroids", res["geom_types"])
		}
	})
	t.Run("below min_zoom the extent", func(t *testing.T) {
		res := run(t, europe, "min_zoom", "5", "columns", "*")
		if res["n"] != 1.0 || !reflect.DeepEqual(res["file_ids"], []any{0.0}) ||
			res["num_rows"].([]any)[0] != res["rows_in_file"] {
			t.Fatalf("below min_zoom: %v, want the file's one extent row", res)
		}
		b := cmNums(t, res["total_bounds"])
		if !cmNear(b[0], -180, 1e-6) || !cmNear(b[2], 180, 1e-6) || b[1] > -89 || b[3] < 83 {
			t.Errorf("extent %v, want the world's", b)
		}
	})
	t.Run("nothing there", func(t *testing.T) {
		pacific := tiles.AtLonLat(-140, -30, 6)
		if res := run(t, pacific); res["n"] != 0.0 {
			t.Errorf("%v rows in the South Pacific", res["n"])
		}
	})
}

// cmInside reports whether the point lies inside the ring (even-odd rule).
func cmInside(px, py float64, ring [][]float64) bool {
	in := false
	for i, j := 0, len(ring)-1; i < len(ring); j, i = i, i+1 {
		xi, yi, xj, yj := ring[i][0], ring[i][1], ring[j][0], ring[j][1]
		if (yi > py) != (yj > py) && px < (xj-xi)*(py-yi)/(yj-yi)+xi {
			in = !in
		}
	}
	return in
}

func TestCommonGeomStats(t *testing.T) {
	u := cmUDF(t, "common_geom_stats.py")
	for _, bands := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d bands", bands), func(t *testing.T) {
			res := cmMap(t, jsonValue(t, u, q("bands", strconv.Itoa(bands)), nil))
			data := cmRows(t, res["data"])
			rings := res["rings"].([]any)
			counts := cmNums(t, res["counts"])
			stat := func(key string, i, band int) float64 {
				v := res[key].([]any)[i]
				if bands == 1 {
					if v == nil {
						return math.NaN()
					}
					return v.(float64)
				}
				return cmNums(t, v)[band]
			}
			for i, r := range rings {
				ring := cmRows(t, r)
				var sum, sumMasked float64
				var n, nValid, nMasked int
				for y := range data {
					for x := range data[y] {
						if !cmInside(float64(x)+0.5, float64(y)+0.5, ring) {
							continue
						}
						n++
						v := data[y][x]
						if math.IsNaN(v) {
							continue
						}
						nValid++
						sum += v
						if int(v)%10 != 3 {
							sumMasked += v
							nMasked++
						}
					}
				}
				if int(counts[i]) != n {
					t.Errorf("geometry %d covers %v pixels, numpy-style count %d", i, counts[i], n)
				}
				for band := 0; band < bands; band++ {
					off := 1000 * float64(band)
					want := math.NaN()
					if nValid > 0 {
						want = sum/float64(nValid) + off
					}
					if got := stat("stats_outside", i, band); !cmNear(got, want, 1e-9) {
						t.Errorf("geometry %d band %d: mean %v, want %v over %d pixels", i, band, got, want, nValid)
					}
					if i == 3 {
						continue // only in stats_outside
					}
					if got := stat("stats", i, band); !cmNear(got, want, 1e-9) {
						t.Errorf("geometry %d band %d: mean %v, want %v", i, band, got, want)
					}
					if got := stat("stats_by_gdf", i, band); !cmNear(got, want, 1e-9) {
						t.Errorf("geometry %d band %d over the gdf's extent: mean %v, want %v", i, band, got, want)
					}
					if bands == 1 {
						if got, want := stat("stats_masked", i, band), sumMasked/float64(nMasked); !cmNear(got, want, 1e-9) {
							t.Errorf("geometry %d, masked array: mean %v, want %v", i, got, want)
						}
					}
				}
				if i == 1 && nValid != n-1 {
					t.Errorf("the box should hold the NaN pixel: %d of %d valid", nValid, n)
				}
				if i == 3 && n != 0 {
					t.Errorf("the geometry outside the grid covers %d pixels", n)
				}
			}
			if !reflect.DeepEqual(res["kept_columns"], []any{"id", "geometry", "stats", "count"}) || res["input_untouched"] != true {
				t.Errorf("columns %v, input untouched %v", res["kept_columns"], res["input_untouched"])
			}
		})
	}
}

func TestCommonURLToArr(t *testing.T) {
	dir := t.TempDir()
	// RGBA: pixel (x, y) = (40x, 50y, x+y, 255-10x).
	rgba := image.NewNRGBA(image.Rect(0, 0, 5, 4))
	for y := 0; y < 4; y++ {
		for x := 0; x < 5; x++ {
			rgba.SetNRGBA(x, y, color.NRGBA{uint8(40 * x), uint8(50 * y), uint8(x + y), uint8(255 - 10*x)})
		}
	}
	pal := color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255}, color.RGBA{9, 8, 7, 255}}
	paletted := image.NewPaletted(image.Rect(0, 0, 3, 2), pal)
	for i := range paletted.Pix {
		paletted.Pix[i] = uint8((i * 3) % 4)
	}
	write := func(name string, img image.Image) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return p
	}
	rgbaPath := write("rgba.png", rgba)
	write("pal.png", paletted)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()

	u := cmUDF(t, "common_url_to_arr.py")
	for _, url := range []string{rgbaPath, "file://" + rgbaPath, srv.URL + "/rgba.png"} {
		t.Run(url, func(t *testing.T) {
			res := cmMap(t, jsonValue(t, u, q("url", url), nil))
			if !reflect.DeepEqual(res["shape"], []any{4.0, 4.0, 5.0}) || res["dtype"] != "uint8" {
				t.Fatalf("shape %v dtype %v, want uint8 (4, 4, 5)", res["shape"], res["dtype"])
			}
			bandsOf := res["data"].([]any)
			for b := 0; b < 4; b++ {
				band := cmRows(t, bandsOf[b])
				for y := 0; y < 4; y++ {
					for x := 0; x < 5; x++ {
						c := rgba.NRGBAAt(x, y)
						want := []uint8{c.R, c.G, c.B, c.A}[b]
						if band[y][x] != float64(want) {
							t.Fatalf("band %d pixel %d,%d: %v, want %d", b, x, y, band[y][x], want)
						}
					}
				}
			}
		})
	}
	t.Run("colormap", func(t *testing.T) {
		res := cmMap(t, jsonValue(t, u, q("url", srv.URL+"/pal.png", "colormap", "true"), nil))
		if !reflect.DeepEqual(res["shape"], []any{1.0, 2.0, 3.0}) {
			t.Fatalf("shape %v, want (1, 2, 3)", res["shape"])
		}
		got := cmRows(t, res["data"].([]any)[0])
		for i, idx := range paletted.Pix {
			if got[i/3][i%3] != float64(idx) {
				t.Errorf("pixel %d: index %v, want %d", i, got[i/3][i%3], idx)
			}
		}
		cmap := cmMap(t, res["colormap"])
		for i, c := range pal {
			r, g, b, a := c.RGBA()
			want := []any{float64(r >> 8), float64(g >> 8), float64(b >> 8), float64(a >> 8)}
			if !reflect.DeepEqual(cmap[strconv.Itoa(i)], want) {
				t.Errorf("colormap entry %d: %v, want %v", i, cmap[strconv.Itoa(i)], want)
			}
		}
	})
}

// cmQuadkey is Bing Maps' quadkey of a tile, from its definition.
func cmQuadkey(tl tiles.Tile) string {
	s := ""
	for i := tl.Z; i > 0; i-- {
		d := 0
		if tl.X&(1<<(i-1)) != 0 {
			d++
		}
		if tl.Y&(1<<(i-1)) != 0 {
			d += 2
		}
		s += strconv.Itoa(d)
	}
	return s
}

func TestCommonTileHelpers(t *testing.T) {
	points := [][3]float64{{-122.4194, 37.7749, 12}, {2.3522, 48.8566, 15}, {139.6917, 35.6895, 7},
		{-58.3816, -34.6037, 10}, {151.2093, -33.8688, 18}, {0.5, 0.5, 1}, {-179.9, 84.9, 4}}
	tls := []tiles.Tile{{Z: 12, X: 655, Y: 1583}, {Z: 0, X: 0, Y: 0}, {Z: 3, X: 3, Y: 5}, {Z: 15, X: 16597, Y: 11273},
		{Z: 1, X: 1, Y: 0}, {Z: 20, X: 524287, Y: 349525}}
	boxes := [][5]float64{{-122.5, 37.7, -122.3, 37.85, 12}, {-10, 35, 30, 60, 5}, {5.1, -3.2, 5.3, 1.7, 9},
		{-179, -80, 179, 80, 2}}
	var tileArgs [][3]int
	for _, tl := range tls {
		tileArgs = append(tileArgs, [3]int{tl.X, tl.Y, tl.Z})
	}
	u := cmUDF(t, "common_tiles.py")
	res := cmMap(t, jsonValue(t, u, q("points", cmJSON(t, points), "tiles", cmJSON(t, tileArgs),
		"boxes", cmJSON(t, boxes)), nil))
	if res["same_functions"] != true {
		t.Error("fused.utils.common, fused.load(<common URL>).utils and common.mercantile do not share the helpers")
	}
	xyz := func(v any) tiles.Tile {
		n := cmNums(t, v)
		return tiles.Tile{X: int(n[0]), Y: int(n[1]), Z: int(n[2])}
	}
	for i, p := range points {
		want := tiles.AtLonLat(p[0], p[1], int(p[2]))
		if got := xyz(res["tile"].([]any)[i]); got != want {
			t.Errorf("tile(%v, %v, %v) = %v, the tiles package says %v", p[0], p[1], p[2], got, want)
		}
		wx, wy := tiles.LonLatToMercator(p[0], p[1])
		if got := cmNums(t, res["xy"].([]any)[i]); !cmNear(got[0], wx, 1e-6) || !cmNear(got[1], wy, 1e-6) {
			t.Errorf("xy(%v, %v) = %v, want %v %v", p[0], p[1], got, wx, wy)
		}
		if got := cmNums(t, res["lnglat"].([]any)[i]); !cmNear(got[0], p[0], 1e-9) || !cmNear(got[1], p[1], 1e-9) {
			t.Errorf("lnglat(xy(%v, %v)) = %v", p[0], p[1], got)
		}
	}
	for i, tl := range tls {
		ll, m := tl.LonLat(), tl.Mercator()
		for _, key := range []string{"bounds", "bounds_of_tile"} {
			if got := cmNums(t, res[key].([]any)[i]); !cmNear(got[0], ll.MinX, 1e-9) || !cmNear(got[1], ll.MinY, 1e-9) ||
				!cmNear(got[2], ll.MaxX, 1e-9) || !cmNear(got[3], ll.MaxY, 1e-9) {
				t.Errorf("%s(%v) = %v, want %+v", key, tl, got, ll)
			}
		}
		if got := cmNums(t, res["xy_bounds"].([]any)[i]); !cmNear(got[0], m.MinX, 1e-6) || !cmNear(got[1], m.MinY, 1e-6) ||
			!cmNear(got[2], m.MaxX, 1e-6) || !cmNear(got[3], m.MaxY, 1e-6) {
			t.Errorf("xy_bounds(%v) = %v, want %+v", tl, got, m)
		}
		if got := cmNums(t, res["ul"].([]any)[i]); !cmNear(got[0], ll.MinX, 1e-9) || !cmNear(got[1], ll.MaxY, 1e-9) {
			t.Errorf("ul(%v) = %v", tl, got)
		}
		if tl.Z == 0 {
			if res["parent"].([]any)[i] != nil {
				t.Errorf("parent of the zoom-0 tile: %v, want None", res["parent"].([]any)[i])
			}
		} else if got := xyz(res["parent"].([]any)[i]); got != tl.Parent() {
			t.Errorf("parent(%v) = %v, want %v", tl, got, tl.Parent())
		}
		var kids []tiles.Tile
		for _, c := range res["children"].([]any)[i].([]any) {
			kids = append(kids, xyz(c))
		}
		want := tl.Children()
		// mercantile's order: top left, top right, bottom right, bottom left
		if !reflect.DeepEqual(kids, []tiles.Tile{want[0], want[1], want[3], want[2]}) {
			t.Errorf("children(%v) = %v, want %v", tl, kids, want)
		}
		if got := res["grandchildren"].([]any)[i]; got != 16.0 {
			t.Errorf("children(%v, zoom=z+2): %v tiles", tl, got)
		}
		if got := res["quadkey"].([]any)[i]; got != cmQuadkey(tl) {
			t.Errorf("quadkey(%v) = %v, want %q", tl, got, cmQuadkey(tl))
		}
		if got := xyz(res["quadkey_back"].([]any)[i]); got != tl {
			t.Errorf("quadkey_to_tile(quadkey(%v)) = %v", tl, got)
		}
	}
	// Worked out by hand: Bing's documented example, and the zoom-0 tile.
	if res["quadkey"].([]any)[2] != "213" || res["quadkey"].([]any)[1] != "" {
		t.Errorf("quadkeys %v: want 213 for 3/3/5 and \"\" for 0/0/0", res["quadkey"])
	}
	parentsZ0 := res["parent_z0"].([]any)
	for _, p := range parentsZ0 {
		if got := xyz(p); got != (tiles.Tile{}) {
			t.Errorf("parent(..., zoom=0) = %v, want the zoom-0 tile", got)
		}
	}
	for i, b := range boxes {
		bb := tiles.Bounds{MinX: b[0], MinY: b[1], MaxX: b[2], MaxY: b[3]}
		r := tiles.Cover(bb, int(b[4]))
		var want []tiles.Tile
		r.Each(func(tl tiles.Tile) bool { want = append(want, tl); return true })
		var got []tiles.Tile
		for _, v := range res["tiles"].([]any)[i].([]any) {
			got = append(got, xyz(v))
		}
		sortTiles := func(l []tiles.Tile) {
			slices.SortFunc(l, func(a, b tiles.Tile) int {
				if a.Y != b.Y {
					return a.Y - b.Y
				}
				return a.X - b.X
			})
		}
		sortTiles(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("tiles(%v) = %v, the tiles package covers them with %v", b, got, want)
		}
		bt := xyz(res["bounding_tile"].([]any)[i])
		contains := func(tl tiles.Tile) bool { return tl.LonLat().Contains(bb) }
		if !contains(bt) {
			t.Errorf("bounding_tile(%v) = %v, which does not hold the box", b, bt)
		}
		for _, c := range bt.Children() {
			if contains(c) {
				t.Errorf("bounding_tile(%v) = %v, but its child %v holds the box", b, bt, c)
			}
		}
	}
	checks := map[string]any{
		"neighbors_corner": []any{[]any{0.0, 1.0, 3.0}, []any{1.0, 0.0, 3.0}, []any{1.0, 1.0, 3.0}},
		"simplify":         []any{[]any{0.0, 0.0, 4.0}, []any{5.0, 9.0, 4.0}},
		"feature_title":    "XYZ tile Tile(x=1, y=2, z=3)",
		"antimeridian":     []any{[]any{0.0, 3.0, 3.0}, []any{0.0, 4.0, 3.0}, []any{7.0, 3.0, 3.0}, []any{7.0, 4.0, 3.0}},
	}
	for k, want := range checks {
		if !reflect.DeepEqual(res[k], want) {
			t.Errorf("%s = %v, want %v", k, res[k], want)
		}
	}
}

// The packages docs/udfs.md ("Python runtime") lists as installed, as imported by
// UDFs.
var cmRuntimePackages = []string{"scipy", "skimage", "rioxarray", "pyproj", "fiona", "boto3", "fsspec", "dotenv",
	"openpyxl", "netCDF4", "h5py", "zarr", "dask", "PIL", "rtree", "requests", "numpy", "pandas", "geopandas", "shapely",
	"rasterio", "osgeo", "xarray", "matplotlib"}

func TestRuntimePackages(t *testing.T) {
	u := cmUDF(t, "common_runtime.py")
	res := cmMap(t, jsonValue(t, u, nil, nil))
	if errs := cmMap(t, res["errors"]); len(errs) > 0 {
		t.Errorf("packages that do not import in a worker (scripts/deps.sh installs them): %v", errs)
	}
	versions := cmMap(t, res["versions"])
	for _, p := range cmRuntimePackages {
		v, _ := versions[p].(string)
		if v == "" || v == "unknown" {
			t.Errorf("%s: version %q", p, v)
		}
	}
	t.Logf("versions: %v", versions)
	checks := cmMap(t, res["checks"])
	if checks["dask_sum"] != 10000.0 || checks["rio_accessor"] != true || !reflect.DeepEqual(checks["sobel_shape"], []any{8.0, 8.0}) {
		t.Errorf("the packages at work: %v", checks)
	}
	// What the docs list as absent is not installed by scripts/deps.sh; a machine
	// may have more.
	for mod, absent := range cmMap(t, res["absent"]) {
		if absent != true {
			t.Logf("%s imports here, though scripts/deps.sh does not install it", mod)
		}
	}
}

// TestRuntimeVenvInterpreter runs a worker on a virtualenv's python, as
// docs/udfs.md ("Python runtime") shows: a package installed only in the venv and
// Debian's packages (--system-site-packages) both import, through the scrubbed
// worker environment; so does a wrapper script in front of it.
func TestRuntimeVenvInterpreter(t *testing.T) {
	venv := filepath.Join(t.TempDir(), "venv")
	if out, err := exec.Command(debianPython, "-m", "venv", "--system-site-packages", "--without-pip", venv).CombinedOutput(); err != nil {
		t.Skipf("python3 -m venv (python3-venv): %v: %s", err, out)
	}
	py := filepath.Join(venv, "bin", "python")
	out, err := exec.Command(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").Output()
	if err != nil {
		t.Fatal(err)
	}
	site := string(out[:len(out)-1])
	if err := os.WriteFile(filepath.Join(site, "venv_only.py"), []byte("MARKER = 'from the venv'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(t.TempDir(), "udf-python")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nexport GDAL_HTTP_TIMEOUT=30\nexec "+py+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, interp := range []string{py, wrapper} {
		t.Run(filepath.Base(interp), func(t *testing.T) {
			p, err := python.NewPool(python.Config{Interpreter: interp, Workers: 1, CacheDir: t.TempDir(),
				StartTimeout: 30 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
			waitReady(t, p)
			u := python.NewUDF(p, python.Options{Path: fixture(t, "common_venv.py"), Timeout: 30 * time.Second})
			res := cmMap(t, jsonValue(t, u, nil, nil))
			if res["prefix"] != venv || res["base_prefix"] != "/usr" || res["marker"] != "from the venv" ||
				res["numpy"] == "" || !reflect.DeepEqual(res["tile"], []any{1.0, 0.0, 1.0}) {
				t.Errorf("the venv's worker: %v", res)
			}
		})
	}
}
