package cog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/config"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/vector"
)

// The test mosaic: 8×8 files on a 0.05° grid from 14°E 48°N, each 0.1°
// wide (so that most places lie in four files), alternately in EPSG:4326
// and in UTM 33N. File i (named f%03d.tif, i = row·8 + column) holds the
// value i+1, with nodata 0; every fifth file has a nodata hole in its
// middle.
const (
	mosaicCols, mosaicRows = 8, 8
	mosaicCell, mosaicSpan = 0.05, 0.1
	mosaicLon, mosaicLat   = 14.0, 48.0
)

// mosaicZoom is the zoom the test mosaic is read at; the files' own are up
// to 11, and deeper zooms are allowed with MaxZoom.
var mosaicMax = 15

var writeMosaicFiles = sync.OnceValues(func() ([]string, error) {
	return writeMosaic(filepath.Join(shared, "mosaic"), mosaicCols, mosaicRows, 100)
})

// mosaicFiles writes the test mosaic once and returns its files, in order.
func mosaicFiles(t testing.TB) []string {
	t.Helper()
	files, err := writeMosaicFiles()
	if err != nil {
		t.Fatalf("mosaic files: %v", err)
	}
	return files
}

// writeMosaic writes cols×rows files of size px (EPSG:4326 ones; UTM ones
// about as many metres) into dir.
func writeMosaic(dir string, cols, rows, px int) ([]string, error) {
	ll, err := godal.NewSpatialRefFromEPSG(4326)
	if err != nil {
		return nil, err
	}
	defer ll.Close()
	utm, err := godal.NewSpatialRefFromEPSG(32633)
	if err != nil {
		return nil, err
	}
	defer utm.Close()
	tr, err := godal.NewTransform(ll, utm)
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	zero := 0.0
	var files []string
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			i := r*cols + c
			west, north := mosaicLon+float64(c)*mosaicCell, mosaicLat-float64(r)*mosaicCell
			east, south := west+mosaicSpan, north-mosaicSpan
			g := demo.Grid{DType: godal.Byte, NoData: &zero}
			if (r+c)%2 == 0 {
				res := mosaicSpan / float64(px)
				g.EPSG, g.GeoTransform, g.Width, g.Height = 4326, [6]float64{west, res, 0, north, 0, -res}, px, px
			} else {
				xs, ys := []float64{west, east, west, east}, []float64{north, north, south, south}
				if err := tr.TransformEx(xs, ys, nil, nil); err != nil {
					return nil, err
				}
				res := 8000.0 / float64(px) * 1.0 // about 0.1° of latitude's width at 48°N: 7.4 km
				x0, y1 := math.Floor(slices.Min(xs)/res)*res, math.Ceil(slices.Max(ys)/res)*res
				w, h := int(math.Ceil((slices.Max(xs)-x0)/res)), int(math.Ceil((y1-slices.Min(ys))/res))
				g.EPSG, g.GeoTransform, g.Width, g.Height = 32633, [6]float64{x0, res, 0, y1, 0, -res}, w, h
			}
			band := make([]float64, g.Width*g.Height)
			for y := 0; y < g.Height; y++ {
				for x := 0; x < g.Width; x++ {
					v := float64(i + 1)
					if i%5 == 0 && x >= g.Width*2/5 && x < g.Width*3/5 && y >= g.Height*2/5 && y < g.Height*3/5 {
						v = 0
					}
					band[y*g.Width+x] = v
				}
			}
			g.Bands = [][]float64{band}
			p := filepath.Join(dir, fmt.Sprintf("f%03d.tif", i))
			if err := demo.WriteCOG(p, g); err != nil {
				return nil, err
			}
			files = append(files, p)
		}
	}
	return files, nil
}

// newMosaic builds a mosaic and fails t unless it can be served.
func newMosaic(t testing.TB, o cog.MosaicOptions) *cog.Mosaic {
	t.Helper()
	if o.MaxZoom == nil {
		o.MaxZoom = &mosaicMax
	}
	m := cog.NewMosaic(o)
	t.Cleanup(m.Close)
	if err := m.Status(); err != nil {
		t.Fatalf("status: %v", err)
	}
	return m
}

var nearest256 = cog.TileOptions{Size: 256, Resampling: "nearest"}

func readMosaic(t testing.TB, m *cog.Mosaic, tile tiles.Tile, method string) *layer.Raster {
	t.Helper()
	ras, err := m.ReadTile(context.Background(), tile, nearest256, method)
	if err != nil {
		t.Fatalf("tile %s, %s: %v", tile, method, err)
	}
	return ras
}

// mosaicTiles are tiles of the test mosaic at zoom z: its middle and its
// corners, where few files meet.
func mosaicTiles(z int) []tiles.Tile {
	west, north := mosaicLon, mosaicLat
	east, south := west+mosaicCell*(mosaicCols-1)+mosaicSpan, north-mosaicCell*(mosaicRows-1)-mosaicSpan
	out := []tiles.Tile{tiles.AtLonLat((west+east)/2, (north+south)/2, z)}
	for _, p := range [][2]float64{{west + 0.01, north - 0.01}, {east - 0.01, south + 0.01}, {west + 0.12, south + 0.07}} {
		out = append(out, tiles.AtLonLat(p[0], p[1], z))
	}
	return out
}

// expectSelection computes a tile of the mosaic the plain way, from each
// file's own tile: the values of the files with a value at each pixel, in
// order, reduced as rio-tiler's methods do.
func expectSelection(t *testing.T, files []string, tile tiles.Tile) map[string]*layer.Raster {
	t.Helper()
	var stack []*layer.Raster
	for _, f := range files {
		r := cog.New(cog.Options{Path: f, MaxZoom: &mosaicMax})
		ras, err := r.ReadTile(tile, nearest256)
		r.Close()
		if layer.KindOf(err) == layer.NotFound {
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		stack = append(stack, ras)
	}
	out := map[string]*layer.Raster{}
	n := 256 * 256
	for _, method := range cog.PixelSelections {
		ras := &layer.Raster{Width: 256, Height: 256, Bands: [][]float64{make([]float64, n)}, Mask: make([]uint8, n)}
		for i := 0; i < n; i++ {
			var vals []float64
			for _, s := range stack {
				if s.Mask[i] > 0 {
					vals = append(vals, s.Bands[0][i])
				}
			}
			if method == "count" {
				ras.Bands[0][i], ras.Mask[i] = float64(len(vals)), 255
				continue
			}
			if len(vals) == 0 {
				continue
			}
			ras.Mask[i] = 255
			var v float64
			switch method {
			case "first":
				v = vals[0]
			case "highest":
				v = slices.Max(vals)
			case "lowest":
				v = slices.Min(vals)
			case "mean":
				sum := 0.0
				for _, x := range vals {
					sum += x
				}
				v = math.Trunc(sum / float64(len(vals)))
			case "median":
				s := slices.Sorted(slices.Values(vals))
				v = s[len(s)/2]
				if len(s)%2 == 0 {
					v = math.Trunc((s[len(s)/2-1] + s[len(s)/2]) / 2)
				}
			case "stdev":
				mean := 0.0
				for _, x := range vals {
					mean += x
				}
				mean /= float64(len(vals))
				ss := 0.0
				for _, x := range vals {
					ss += (x - mean) * (x - mean)
				}
				v = math.Sqrt(ss / float64(len(vals)))
			}
			ras.Bands[0][i] = v
		}
		out[method] = ras
	}
	return out
}

// sameValues fails t unless got has want's mask and, where valid, its
// values within tol.
func sameValues(t *testing.T, what string, got, want *layer.Raster, tol float64) {
	t.Helper()
	closeValues(t, what, got, want, tol, 0)
}

// closeValues is sameValues allowing a share of the pixels to differ (as
// closeToGDAL does).
func closeValues(t *testing.T, what string, got, want *layer.Raster, tol, share float64) {
	t.Helper()
	bad := 0
	var first []string
	for i := range want.Mask {
		switch {
		case (got.Mask[i] > 0) != (want.Mask[i] > 0):
			first = append(first, fmt.Sprintf("%s: pixel %d,%d: mask %d, want %d", what, i%256, i/256, got.Mask[i], want.Mask[i]))
		case want.Mask[i] > 0 && math.Abs(got.Bands[0][i]-want.Bands[0][i]) > tol:
			first = append(first, fmt.Sprintf("%s: pixel %d,%d: %v, want %v", what, i%256, i/256, got.Bands[0][i], want.Bands[0][i]))
		default:
			continue
		}
		bad++
	}
	if float64(bad) > share*float64(len(want.Mask)) {
		for _, m := range first[:min(5, len(first))] {
			t.Error(m)
		}
		t.Errorf("%s: %d pixels differ", what, bad)
	} else if bad > 0 {
		t.Logf("%s: %d of %d pixels differ (%.2g%% allowed)", what, bad, len(want.Mask), 100*share)
	}
}

// TestMosaicPixelSelection: every method on tiles where up to four files
// in two CRSs overlap, some with nodata holes, against the same reduction
// made pixel by pixel from each file's own tile.
func TestMosaicPixelSelection(t *testing.T) {
	files := mosaicFiles(t)
	m := newMosaic(t, cog.MosaicOptions{Paths: files})
	for _, z := range []int{11, 13} {
		for _, tile := range mosaicTiles(z) {
			want := expectSelection(t, files, tile)
			multi := 0
			for i := range want["count"].Bands[0] {
				if want["count"].Bands[0][i] > 1 {
					multi++
				}
			}
			if z == 11 && multi == 0 {
				t.Errorf("tile %s: no pixel in several files; the test would prove little", tile)
			}
			for _, method := range cog.PixelSelections {
				got := readMosaic(t, m, tile, method)
				wantType := map[string]string{"count": "uint8", "stdev": "float64"}[method]
				if wantType == "" {
					wantType = "uint8"
				}
				if got.DType != wantType || len(got.Bands) != 1 {
					t.Errorf("tile %s, %s: %s with %d bands, want %s with 1", tile, method, got.DType, len(got.Bands), wantType)
				}
				sameValues(t, fmt.Sprintf("tile %s, %s", tile, method), got, want[method], 1e-9)
			}
		}
	}
	// The values the layout gives: in file 0's nodata hole (14.04..14.06°E,
	// 47.94..47.96°N) lie files 0, 1, 8 and 9 (values 1, 2, 9, 10), file 0
	// without a value; and a little east of the hole, the four with theirs.
	for _, c := range []struct {
		lon, lat float64
		want     map[string]float64
	}{
		{14.055, 47.945, map[string]float64{"first": 2, "highest": 10, "lowest": 2, "count": 3, "median": 9, "mean": 7, "stdev": math.Sqrt(38.0 / 3)}},
		{14.075, 47.925, map[string]float64{"first": 1, "highest": 10, "lowest": 1, "count": 4, "median": 5, "mean": 5, "stdev": math.Sqrt(65.0 / 4)}},
	} {
		tile, px := pixelAt(c.lon, c.lat, 15)
		for method, want := range c.want {
			got := readMosaic(t, m, tile, method)
			if v := got.Bands[0][px]; math.Abs(v-want) > 1e-9 || got.Mask[px] == 0 {
				t.Errorf("%s at %g,%g: %v (mask %d), want %v", method, c.lon, c.lat, v, got.Mask[px], want)
			}
		}
	}
}

// pixelAt returns the tile of zoom z under lon, lat and the index of the
// pixel there.
func pixelAt(lon, lat float64, z int) (tiles.Tile, int) {
	t := tiles.AtLonLat(lon, lat, z)
	b := t.Mercator()
	x, y := tiles.LonLatToMercator(lon, lat)
	col := int((x - b.MinX) / (b.MaxX - b.MinX) * 256)
	row := int((b.MaxY - y) / (b.MaxY - b.MinY) * 256)
	return t, row*256 + col
}

// TestMosaicFirstMatchesGDALWarp: pixel_selection=first is what gdalwarp
// writes given the files in reverse order (each written over the ones
// before), for tiles meeting files in both CRSs; and, for the EPSG:4326
// files alone, what gdalwarp reads of gdalbuildvrt's mosaic of them (whose
// later files win where they overlap).
func TestMosaicFirstMatchesGDALWarp(t *testing.T) {
	files := mosaicFiles(t)
	var geographic []string
	for i, f := range files {
		if (i/mosaicCols+i%mosaicCols)%2 == 0 {
			geographic = append(geographic, f)
		}
	}
	vrt := filepath.Join(t.TempDir(), "mosaic.vrt")
	args := append([]string{"-q", vrt}, reversed(geographic)...)
	if msg, err := exec.Command("gdalbuildvrt", args...).CombinedOutput(); err != nil {
		t.Fatalf("gdalbuildvrt: %v\n%s", err, msg)
	}
	for _, c := range []struct {
		name   string
		files  []string
		inputs []string // gdalwarp's
		exact  bool     // files in another CRS, read through the lattice
	}{
		{"gdalwarp of the files", files, reversed(files), true},
		{"gdalwarp of gdalbuildvrt's VRT", geographic, []string{vrt}, false},
	} {
		m := newMosaic(t, cog.MosaicOptions{Paths: c.files})
		for _, tile := range []tiles.Tile{mosaicTiles(11)[0], mosaicTiles(13)[3]} {
			got := readMosaic(t, m, tile, "first")
			what := "tile " + tile.String() + " against " + c.name
			if c.exact {
				// Against gdalwarp's exact coordinates: a pixel within the
				// lattice's 1/32 pixel of a source pixel's edge may differ.
				closeValues(t, what, got, warpFiles(t, tile, c.inputs, "-et", "0"), 0, 0.005)
			} else {
				sameValues(t, what, got, warpFiles(t, tile, c.inputs), 0)
			}
		}
	}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

// warpFiles runs gdalwarp on inputs for one 256 px tile: the first band and
// the alpha band.
func warpFiles(t *testing.T, tile tiles.Tile, inputs []string, extra ...string) *layer.Raster {
	t.Helper()
	b := tile.Mercator()
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	out := filepath.Join(t.TempDir(), "ref.tif")
	args := append([]string{"-q", "-of", "GTiff", "-t_srs", "EPSG:3857", "-te", f(b.MinX), f(b.MinY), f(b.MaxX), f(b.MaxY),
		"-ts", "256", "256", "-r", "near", "-dstalpha"}, extra...)
	args = append(args, inputs...)
	args = append(args, out)
	if msg, err := exec.Command("gdalwarp", args...).CombinedOutput(); err != nil {
		t.Fatalf("gdalwarp: %v\n%s", err, msg)
	}
	ds, err := godal.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	want := &layer.Raster{Bands: [][]float64{make([]float64, 256*256)}, Mask: make([]uint8, 256*256)}
	if err := ds.Bands()[0].Read(0, 0, want.Bands[0], 256, 256); err != nil {
		t.Fatal(err)
	}
	if err := ds.Bands()[1].Read(0, 0, want.Mask, 256, 256); err != nil {
		t.Fatal(err)
	}
	return want
}

// TestMosaicFirstStopsEarly: a tile inside four files, the first of which
// fills it, reads that file alone under first; the other methods read all
// four. Reversing the order gives the last file's value.
func TestMosaicFirstStopsEarly(t *testing.T) {
	files := mosaicFiles(t)
	// The middle of file 11's cell (row 1, column 3): files 2, 3, 10 and 11;
	// none has a hole there.
	tile := tiles.AtLonLat(mosaicLon+3*mosaicCell+0.025, mosaicLat-mosaicCell-0.025, 15)
	m := newMosaic(t, cog.MosaicOptions{Paths: files})
	before := m.Reads()
	got := readMosaic(t, m, tile, "first")
	if n := m.Reads() - before; n != 1 {
		t.Errorf("first read %d files, want 1 (the first fills the tile)", n)
	}
	if valid(got) != 256*256 || got.Bands[0][0] != 3 {
		t.Errorf("first: %d valid pixels of value %v, want all of 3", valid(got), got.Bands[0][0])
	}
	before = m.Reads()
	got = readMosaic(t, m, tile, "count")
	if n := m.Reads() - before; n < 4 {
		t.Errorf("count read %d files, want the 4 meeting the tile", n)
	}
	if got.Bands[0][128*256+128] != 4 {
		t.Errorf("count: %v, want 4", got.Bands[0][128*256+128])
	}
	mr := newMosaic(t, cog.MosaicOptions{Paths: reversed(files)})
	if got := readMosaic(t, mr, tile, "first"); got.Bands[0][0] != 12 {
		t.Errorf("first in reverse order: %v, want 12 (file 11)", got.Bands[0][0])
	}
}

// TestMosaicOutsideIsNotFound: tiles meeting no file, and zooms outside the
// mosaic's, are NotFound (404) as a file's are outside its bounds.
func TestMosaicOutsideIsNotFound(t *testing.T) {
	m := newMosaic(t, cog.MosaicOptions{Paths: mosaicFiles(t)})
	for _, tile := range []tiles.Tile{tiles.AtLonLat(10, 40, 12), tiles.AtLonLat(mosaicLon-0.2, mosaicLat-0.1, 13), tiles.AtLonLat(14.2, 47.8, 3)} {
		_, err := m.ReadTile(context.Background(), tile, nearest256, "first")
		if layer.KindOf(err) != layer.NotFound {
			t.Errorf("tile %s: %v, want NotFound", tile, err)
		}
	}
	s := m.Schema()
	if s.MinZoom != 8 || s.MaxZoom != mosaicMax || s.Bounds.MinX > mosaicLon || s.Bounds.MaxX < mosaicLon+0.4 {
		t.Errorf("schema zooms %d..%d, bounds %+v", s.MinZoom, s.MaxZoom, s.Bounds)
	}
	_, err := m.ReadTile(context.Background(), mosaicTiles(11)[0], nearest256, "average")
	if layer.KindOf(err) != layer.BadRequest || !strings.Contains(err.Error(), "pixel_selection") {
		t.Errorf("pixel_selection=average: %v, want a BadRequest naming it", err)
	}
}

// footprints are the files' lon/lat boxes (their corners, as gdalinfo's
// wgs84Extent, with a margin: an index's footprint may be larger than the
// data).
func footprints(t *testing.T, files []string) [][4]float64 {
	t.Helper()
	ll, err := godal.NewSpatialRefFromEPSG(4326)
	if err != nil {
		t.Fatal(err)
	}
	defer ll.Close()
	var out [][4]float64
	for _, f := range files {
		ds, err := godal.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ds.Bounds(ll)
		ds.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, [4]float64{b[0] - 0.002, b[1] - 0.002, b[2] + 0.002, b[3] + 0.002})
	}
	return out
}

// TestMosaicSources: a list, a glob, a directory, a STAC ItemCollection, a
// MosaicJSON, a GeoJSON and a FlatGeobuf index (gdaltindex's) of the same
// files give the same tiles.
func TestMosaicSources(t *testing.T) {
	files := mosaicFiles(t)
	dir := filepath.Dir(files[0])
	work := t.TempDir()
	boxes := footprints(t, files)

	var items []map[string]any
	for i, f := range files {
		rel, _ := filepath.Rel(work, f)
		items = append(items, map[string]any{"type": "Feature", "stac_version": "1.0.0", "id": fmt.Sprintf("item%d", i),
			"bbox": boxes[i], "geometry": nil, "properties": map[string]any{},
			"assets": map[string]any{
				"thumbnail": map[string]any{"href": "thumb.png", "type": "image/png"},
				"data":      map[string]any{"href": rel, "type": "image/tiff; application=geotiff; profile=cloud-optimized"},
			}})
	}
	stac := writeJSON(t, filepath.Join(work, "items.json"), map[string]any{"type": "FeatureCollection", "features": items})

	var feats []map[string]any
	for i, f := range files {
		b := boxes[i]
		feats = append(feats, map[string]any{"type": "Feature", "properties": map[string]any{"path": f},
			"geometry": map[string]any{"type": "Polygon", "coordinates": [][][2]float64{{{b[0], b[1]}, {b[2], b[1]}, {b[2], b[3]}, {b[0], b[3]}, {b[0], b[1]}}}}})
	}
	geojson := writeJSON(t, filepath.Join(work, "index.geojson"), map[string]any{"type": "FeatureCollection", "features": feats})

	// MosaicJSON: zoom 10 quadkeys, each listing the files meeting it.
	qtiles := map[string][]string{}
	tiles.Cover(tiles.Bounds{MinX: 13.9, MinY: 47.5, MaxX: 14.6, MaxY: 48.1}, 10).Each(func(q tiles.Tile) bool {
		for i, f := range files {
			b := boxes[i]
			if q.LonLat().Intersects(tiles.Bounds{MinX: b[0], MinY: b[1], MaxX: b[2], MaxY: b[3]}) {
				qtiles[quadkey(q)] = append(qtiles[quadkey(q)], f)
			}
		}
		return true
	})
	mj := writeJSON(t, filepath.Join(work, "mosaic.json"), map[string]any{"mosaicjson": "0.0.3", "minzoom": 8, "maxzoom": mosaicMax,
		"quadkey_zoom": 10, "bounds": []float64{14, 47.55, 14.45, 48}, "tiles": qtiles})

	// gdaltindex's index, as FlatGeobuf without a spatial index: with one,
	// the driver stores the features in its own order, which first follows.
	shp := filepath.Join(work, "index.shp")
	args := append([]string{"-f", "ESRI Shapefile", "-t_srs", "EPSG:4326", shp}, files...)
	if msg, err := exec.Command("gdaltindex", args...).CombinedOutput(); err != nil {
		t.Fatalf("gdaltindex: %v\n%s", err, msg)
	}
	fgb := filepath.Join(work, "index.fgb")
	if msg, err := exec.Command("ogr2ogr", "-f", "FlatGeobuf", "-lco", "SPATIAL_INDEX=NO", fgb, shp).CombinedOutput(); err != nil {
		t.Fatalf("ogr2ogr: %v\n%s", err, msg)
	}

	// GeoParquet, as tileserver ingest writes it: its rows sorted along a
	// Hilbert curve, so in another order than the files'.
	pq := filepath.Join(work, "index.parquet")
	if _, err := vector.Ingest(context.Background(), shp, pq, vector.IngestOptions{}); err != nil {
		t.Fatal(err)
	}

	ref := newMosaic(t, cog.MosaicOptions{Paths: files})
	for _, src := range []struct {
		name, path, kind string
		unordered        bool // the index keeps the files in an order of its own
	}{
		{"glob", filepath.Join(dir, "f0*.tif"), "glob", false},
		{"directory", dir, "directory", false},
		{"stac", stac, "stac", false},
		{"geojson", geojson, "index", false},
		{"mosaicjson", mj, "mosaicjson", false},
		{"flatgeobuf", fgb, "index", false},
		{"shapefile", shp, "index", false},
		{"geoparquet", pq, "index", true},
	} {
		t.Run(src.name, func(t *testing.T) {
			if !cog.IsMosaic(src.path, nil) {
				t.Fatalf("IsMosaic(%s) = false", src.path)
			}
			m := newMosaic(t, cog.MosaicOptions{Path: src.path})
			info, err := m.Info()
			if err != nil {
				t.Fatal(err)
			}
			if info.Source != src.kind || info.Files != len(files) || info.Count != 1 || info.DType != "uint8" {
				t.Errorf("info %+v, want a %s of %d files of 1 uint8 band", info, src.kind, len(files))
			}
			for _, tile := range append(mosaicTiles(11), mosaicTiles(13)...) {
				for _, method := range []string{"first", "mean"} {
					if src.unordered && method == "first" {
						continue
					}
					want := readMosaic(t, ref, tile, method)
					got := readMosaic(t, m, tile, method)
					if !sameRaster(got, want) {
						t.Errorf("tile %s, %s: differs from the list's", tile, method)
					}
				}
			}
		})
	}
	// Through the config, as the server builds layers.
	for _, u := range []config.UDF{{Name: "d", Handler: "cog", Path: dir}, {Name: "l", Handler: "cog", Path: files[0], Paths: files},
		{Name: "s", Handler: "cog", Path: stac, Assets: []string{"data"}}} {
		h, err := cog.Factory(u)
		if err != nil {
			t.Fatal(err)
		}
		if m, ok := h.(*cog.Mosaic); !ok {
			t.Errorf("%s: %T, want a mosaic", u.Name, h)
		} else {
			m.Close()
		}
	}
	if h, err := cog.Factory(config.UDF{Name: "one", Handler: "cog", Path: files[0]}); err != nil {
		t.Fatal(err)
	} else if _, ok := h.(*cog.Reader); !ok {
		t.Errorf("one file: %T, want a reader", h)
	}
	// An asset the items do not have names the ones they have.
	m := cog.NewMosaic(cog.MosaicOptions{Path: stac, Asset: "B04"})
	if err := m.Status(); err == nil || !strings.Contains(err.Error(), `no asset "B04" (it has data, thumbnail)`) {
		t.Errorf("asset B04: %v", err)
	}
}

func writeJSON(t *testing.T, p string, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func quadkey(t tiles.Tile) string {
	var sb strings.Builder
	for i := t.Z; i > 0; i-- {
		d := byte('0')
		mask := 1 << (i - 1)
		if t.X&mask != 0 {
			d++
		}
		if t.Y&mask != 0 {
			d += 2
		}
		sb.WriteByte(d)
	}
	return sb.String()
}

// TestMosaicPicksUpNewFiles: a file added to a directory mosaic is read
// once the directory has been looked at again (at most a second later);
// the layer's version changes with it.
func TestMosaicPicksUpNewFiles(t *testing.T) {
	files := mosaicFiles(t)
	dir := t.TempDir()
	for _, f := range files[:2] {
		link(t, f, filepath.Join(dir, filepath.Base(f)))
	}
	m := newMosaic(t, cog.MosaicOptions{Path: dir})
	// The middle of file 9's cell: files 0 and 1 have a value there, file 9
	// is not there yet.
	tile, px := pixelAt(mosaicLon+0.075, mosaicLat-0.075, 15)
	v0 := m.Version()
	if got := readMosaic(t, m, tile, "highest"); got.Bands[0][px] != 2 {
		t.Fatalf("before: %v, want 2", got.Bands[0][px])
	}
	link(t, files[9], filepath.Join(dir, filepath.Base(files[9])))
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := readMosaic(t, m, tile, "highest")
		if got.Bands[0][px] == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after adding file 9: %v, want 10", got.Bands[0][px])
		}
		time.Sleep(100 * time.Millisecond)
	}
	if m.Version() == v0 || mustInfo(t, m).Files != 3 {
		t.Errorf("version %s (was %s), %d files: want a new version over 3 files", m.Version(), v0, mustInfo(t, m).Files)
	}
}

func link(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMosaicOpenFilesBounded: reading tiles over all the files from several
// goroutines never holds more than MaxOpen files open, and gives the tiles
// a mosaic with room for every file gives.
func TestMosaicOpenFilesBounded(t *testing.T) {
	files := mosaicFiles(t)
	const bound = 5
	m := newMosaic(t, cog.MosaicOptions{Paths: files, MaxOpen: bound})
	ref := newMosaic(t, cog.MosaicOptions{Paths: files})
	var list []tiles.Tile
	tiles.Cover(m.Schema().Bounds, 12).Each(func(t tiles.Tile) bool {
		list = append(list, t)
		return true
	})
	var wg sync.WaitGroup
	errs := make(chan error, len(list)*2)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(list); i += 4 {
				for _, method := range []string{"first", "median"} {
					got, err := m.ReadTile(context.Background(), list[i], nearest256, method)
					if layer.KindOf(err) == layer.NotFound {
						continue
					}
					if err != nil {
						errs <- err
						continue
					}
					want, err := ref.ReadTile(context.Background(), list[i], nearest256, method)
					if err != nil || !sameRaster(got, want) {
						errs <- fmt.Errorf("tile %s, %s: differs from the unbounded mosaic's (%v)", list[i], method, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	now, peak := m.OpenFiles()
	if peak > bound || now > bound {
		t.Errorf("%d files open, at most %d at once; the bound is %d", now, peak, bound)
	}
	if peak != bound || m.Reads() < int64(len(files)) {
		t.Errorf("peak %d open, %d reads over %d tiles: the test did not reach the bound", peak, m.Reads(), len(list))
	}
	t.Logf("%d tiles, %d file reads, at most %d open", len(list), m.Reads(), peak)
}

// TestMosaicBandsMustAgree: a file with other bands than the rest is
// refused when a listed mosaic is read, and per tile (503, not 500) when
// an index names it.
func TestMosaicBandsMustAgree(t *testing.T) {
	files := mosaicFiles(t)
	odd := writeCOG(t, "rgb", filled(4326, [6]float64{14, 0.001, 0, 48, 0, -0.001}, 100, 100, godal.Byte, 3, constant(7)))
	m := cog.NewMosaic(cog.MosaicOptions{Paths: append(slices.Clone(files[:3]), odd)})
	defer m.Close()
	if err := m.Status(); err == nil || !strings.Contains(err.Error(), "3 bands of uint8") || !strings.Contains(err.Error(), "same bands") {
		t.Errorf("status: %v, want a refusal naming the bands", err)
	}
	work := t.TempDir()
	feats := []map[string]any{
		{"type": "Feature", "properties": map[string]any{"location": files[0]}, "geometry": map[string]any{"type": "Point", "coordinates": []float64{14.05, 47.95}}, "bbox": []float64{14, 47.9, 14.1, 48}},
		{"type": "Feature", "properties": map[string]any{"location": odd}, "bbox": []float64{14, 47.9, 14.1, 48}},
	}
	idx := writeJSON(t, filepath.Join(work, "index.json"), map[string]any{"type": "FeatureCollection", "features": feats})
	mi := newMosaic(t, cog.MosaicOptions{Path: idx})
	_, err := mi.ReadTile(context.Background(), tiles.AtLonLat(14.05, 47.95, 13), nearest256, "mean")
	if layer.KindOf(err) != layer.Unavailable || !strings.Contains(err.Error(), "rgb.tif has 3 bands of uint8") {
		t.Errorf("tile over the odd file: %v, want Unavailable naming it", err)
	}
}

// TestMosaicExpression: band math and algorithms apply to the combined tile.
func TestMosaicExpression(t *testing.T) {
	m := newMosaic(t, cog.MosaicOptions{Paths: mosaicFiles(t)})
	tile := mosaicTiles(11)[0]
	plain := readMosaic(t, m, tile, "highest")
	res, err := m.Run(context.Background(), layer.Request{Tile: &tile, Params: map[string]any{"expression": "b1*2+0.5", "pixel_selection": "highest"}})
	if err != nil {
		t.Fatal(err)
	}
	got := res.(*layer.Raster)
	for i := range plain.Mask {
		if (plain.Mask[i] > 0) != (got.Mask[i] > 0) || plain.Mask[i] > 0 && got.Bands[0][i] != plain.Bands[0][i]*2+0.5 {
			t.Fatalf("pixel %d: %v (mask %d), want %v*2+0.5 (mask %d)", i, got.Bands[0][i], got.Mask[i], plain.Bands[0][i], plain.Mask[i])
		}
	}
	res, err = m.Run(context.Background(), layer.Request{Tile: &tile, Params: map[string]any{"algorithm": "hillshade"}})
	if err != nil {
		t.Fatal(err)
	}
	if ras := res.(*layer.Raster); ras.DType != "uint8" || ras.Width != 256 || valid(ras) == 0 {
		t.Errorf("hillshade: %s %dx%d with %d valid pixels", ras.DType, ras.Width, ras.Height, valid(ras))
	}
	if _, err := m.Run(context.Background(), layer.Request{Tile: &tile, Params: map[string]any{"max_size": 100}}); layer.KindOf(err) != layer.BadRequest || !strings.Contains(err.Error(), "max_size") {
		t.Errorf("a tile with max_size: %v, want a BadRequest naming it", err)
	}
}

func mustInfo(t *testing.T, m *cog.Mosaic) *cog.MosaicInfo {
	t.Helper()
	in, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestMosaicPoint: a point's values come from the first file with a value
// there, which File names; outside every file it is NotFound.
func TestMosaicPoint(t *testing.T) {
	files := mosaicFiles(t)
	m := newMosaic(t, cog.MosaicOptions{Paths: files})
	for _, c := range []struct {
		lon, lat float64
		file     int
		value    float64
	}{
		{14.055, 47.945, 1, 2}, // in file 0's hole: file 1
		{14.075, 47.925, 0, 1}, // file 0 has a value
	} {
		p, err := m.Point(c.lon, c.lat, cog.Selection{})
		if err != nil {
			t.Fatalf("%g,%g: %v", c.lon, c.lat, err)
		}
		if len(p.Values) != 1 || p.Values[0] == nil || *p.Values[0] != c.value || p.File != files[c.file] {
			t.Errorf("%g,%g: %+v from %s, want %v from %s", c.lon, c.lat, p.Values, p.File, c.value, files[c.file])
		}
	}
	if _, err := m.Point(10, 40, cog.Selection{}); layer.KindOf(err) != layer.NotFound {
		t.Errorf("a point outside: %v, want NotFound", err)
	}
	var q cog.Queryable = m
	in, err := q.Describe()
	if mi, ok := in.(*cog.MosaicInfo); err != nil || !ok || mi.Files != len(files) || mi.Source != "list" || len(mi.BandNames) != 1 {
		t.Errorf("describe: %+v, %v", in, err)
	}
}
