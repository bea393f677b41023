package cog_test

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// smallGT is a 0.01° grid whose top left corner is at 10°E 50°N.
var smallGT = [6]float64{10, 0.01, 0, 50, 0, -0.01}

// fineGT is a 0.001° grid whose top left corner is at 10°E 46°N.
var fineGT = [6]float64{10, 0.001, 0, 46, 0, -0.001}

func gradient(x, y, _ int) float64 { return float64(x + 2*y) }

func constant(v float64) func(x, y, b int) float64 {
	return func(int, int, int) float64 { return v }
}

// srcPixel returns the column and row of an EPSG:4326 grid (north up, geotransform
// gt) under the centre of pixel (i, j) of a tile read at size pixels.
func srcPixel(tile tiles.Tile, size, i, j int, gt [6]float64) (col, row float64) {
	b := tile.Mercator()
	res := (b.MaxX - b.MinX) / float64(size)
	lon, lat := tiles.MercatorToLonLat(b.MinX+(float64(i)+0.5)*res, b.MaxY-(float64(j)+0.5)*res)
	return (lon - gt[0]) / gt[1], (lat - gt[3]) / gt[5]
}

func TestSourceCRSMatchesGDALWarp(t *testing.T) {
	cases := []struct {
		name    string
		epsg    int
		gt      [6]float64
		w, h    int
		maxZoom int
	}{
		{"epsg4326", 4326, smallGT, 1000, 800, 7},
		{"utm33n", 32633, [6]float64{380000, 30, 0, 5250000, 0, -30}, 1000, 800, 12},
		// From pole to pole: the layer covers EPSG:3857's square.
		{"world", 4326, [6]float64{-180, 360.0 / 2048, 0, 90, 0, -180.0 / 1024}, 2048, 1024, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeCOG(t, c.name, filled(c.epsg, c.gt, c.w, c.h, godal.Float32, 1, gradient))
			r := newReader(t, cog.Options{Path: path})
			s := r.Schema()
			if s.MinZoom >= s.MaxZoom || s.MaxZoom != c.maxZoom {
				t.Fatalf("zooms %d..%d: want a range up to %d", s.MinZoom, s.MaxZoom, c.maxZoom)
			}
			if s.Bounds.MinX < -180 || s.Bounds.MaxX > 180 || s.Bounds.MinY < -tiles.MaxLat-0.1 || s.Bounds.MaxY > tiles.MaxLat+0.1 {
				t.Errorf("bounds %+v are not in EPSG:3857's square", s.Bounds)
			}
			for z := s.MinZoom; z <= s.MaxZoom; z++ {
				for _, tile := range sampleTiles(r, z) {
					for _, rs := range []string{"nearest", "bilinear", "cubic"} {
						d0, _ := r.Reads()
						got := read(t, r, tile, cog.TileOptions{Resampling: rs})
						d1, _ := r.Reads()
						switch {
						case c.epsg != 32633 || d1 == d0: // GDAL's own coordinates
							sameAsGDAL(t, got, gdalwarpTile(t, path, tile, 256, rs), 1)
						case rs == "nearest": // the lattice's
							nearestNearGDAL(t, r, tile, got, gdalwarpTile(t, path, tile, 256, rs))
						default:
							slack, _ := latticeSlack(t, r, tile, 256, 2)
							sameAsGDAL(t, got, gdalwarpTile(t, path, tile, 256, rs, "-et", "0"), 1+slack)
						}
					}
				}
			}
			// The middle of the data at full resolution is all valid.
			lon, lat := (s.Bounds.MinX+s.Bounds.MaxX)/2, (s.Bounds.MinY+s.Bounds.MaxY)/2
			if n := valid(read(t, r, tiles.AtLonLat(lon, lat, s.MaxZoom), cog.TileOptions{})); n != 256*256 {
				t.Errorf("centre tile at zoom %d has %d valid pixels, want all", s.MaxZoom, n)
			}
		})
	}
}

func TestMasks(t *testing.T) {
	const w, h = 1000, 1000
	hole := func(x, y int) bool { return x >= 300 && x < 600 && y >= 300 && y < 600 }
	nd := -9999.0
	withNoData := filled(4326, fineGT, w, h, godal.Int16, 1, func(x, y, _ int) float64 {
		if hole(x, y) {
			return nd
		}
		return 50
	})
	withNoData.NoData = &nd
	withMask := filled(4326, fineGT, w, h, godal.Byte, 1, constant(77))
	withMask.Mask = make([]uint8, w*h)
	for i := range withMask.Mask {
		if !hole(i%w, i/w) {
			withMask.Mask[i] = 255
		}
	}
	override := filled(4326, fineGT, w, h, godal.Byte, 1, func(x, y, _ int) float64 {
		if hole(x, y) {
			return 50
		}
		return 77
	})
	fifty := 50.0

	cases := []struct {
		name      string
		grid      demo.Grid
		nodata    *float64
		value     float64
		hasNoData bool
	}{
		{"nodata", withNoData, nil, 50, true},
		{"internal mask", withMask, nil, 77, false},
		{"nodata option", override, &fifty, 77, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newReader(t, cog.Options{Path: writeCOG(t, "masked", c.grid), NoData: c.nodata})
			z := r.Schema().MaxZoom
			counts := map[string]int{}
			for _, tile := range []tiles.Tile{
				tiles.AtLonLat(10.45, 45.55, z), // the middle of the hole
				tiles.AtLonLat(10.3, 45.7, z),   // the hole's top left corner
				tiles.AtLonLat(10, 46, z),       // the data's top left corner
				tiles.AtLonLat(11, 45, z),       // the data's bottom right corner
			} {
				for _, rs := range []string{"nearest", "bilinear"} {
					ras := read(t, r, tile, cog.TileOptions{Resampling: rs})
					if ras.HasNoData != c.hasNoData || (c.hasNoData && ras.NoData != *orDefault(c.nodata, nd)) {
						t.Errorf("HasNoData %v NoData %v, want %v", ras.HasNoData, ras.NoData, c.hasNoData)
					}
					for j := 0; j < 256; j++ {
						for i := 0; i < 256; i++ {
							col, row := srcPixel(tile, 256, i, j, fineGT)
							p := j*256 + i
							m, v := ras.Mask[p], ras.Bands[0][p]
							switch {
							case col < -1 || row < -1 || col > w+1 || row > h+1:
								counts["outside"]++
								if m != 0 {
									t.Fatalf("%s %s pixel %d,%d lies outside the data but has mask %d", tile, rs, i, j, m)
								}
							case col > 301 && col < 599 && row > 301 && row < 599:
								counts["hole"]++
								if m != 0 {
									t.Fatalf("%s %s pixel %d,%d lies in the hole but has mask %d, value %v", tile, rs, i, j, m, v)
								}
							case col > 1 && row > 1 && col < w-1 && row < h-1 && (col < 299 || col > 601 || row < 299 || row > 601):
								counts["valid"]++
								if m != 255 || v != c.value {
									t.Fatalf("%s %s pixel %d,%d is valid data but has mask %d, value %v (want 255, %v)", tile, rs, i, j, m, v, c.value)
								}
							}
						}
					}
				}
			}
			for _, k := range []string{"outside", "hole", "valid"} {
				if counts[k] == 0 {
					t.Errorf("no %s pixels were checked", k)
				}
			}
		})
	}
}

func orDefault(p *float64, v float64) *float64 {
	if p == nil {
		return &v
	}
	return p
}

func TestBandSelection(t *testing.T) {
	g := filled(4326, smallGT, 600, 600, godal.Byte, 3, func(x, y, b int) float64 { return float64(60*b + (x+y)%50) })
	path := writeCOG(t, "rgb", g)
	r := newReader(t, cog.Options{Path: path})
	s := r.Schema()
	tile := tiles.AtLonLat(13, 47, s.MaxZoom)
	all := read(t, r, tile, cog.TileOptions{})
	if len(all.Bands) != 3 || all.DType != "uint8" {
		t.Fatalf("all bands: got %d bands of %s, want 3 of uint8", len(all.Bands), all.DType)
	}
	for b, band := range all.Bands {
		for p, v := range band {
			if all.Mask[p] > 0 && (v < float64(60*b) || v > float64(60*b+49)) {
				t.Fatalf("band %d pixel %d is %v, not one of its values", b+1, p, v)
			}
		}
	}
	for _, bidx := range [][]int{{3, 1}, {2}, {1, 1}, {3, 2, 1}} {
		got := read(t, r, tile, cog.TileOptions{Bands: bidx})
		if len(got.Bands) != len(bidx) {
			t.Fatalf("bidx %v: got %d bands", bidx, len(got.Bands))
		}
		for i, b := range bidx {
			if !slices.Equal(got.Bands[i], all.Bands[b-1]) {
				t.Errorf("bidx %v: band %d of the result is not band %d", bidx, i, b)
			}
		}
		if !slices.Equal(got.Mask, all.Mask) {
			t.Errorf("bidx %v: the mask depends on the bands read", bidx)
		}
	}
	for _, bidx := range [][]int{{4}, {0}, {-1}, {1, 4}} {
		_, err := r.ReadTile(tile, cog.TileOptions{Bands: bidx, Resampling: "nearest", Size: 256})
		if layer.KindOf(err) != layer.BadRequest || !strings.Contains(err.Error(), "bidx") {
			t.Errorf("bidx %v: got %v, want a bad request about bidx", bidx, err)
		}
	}

	// The layer's default bands apply when a request names none.
	def := newReader(t, cog.Options{Path: path, Bands: []int{2}})
	res, err := def.Run(context.Background(), layer.Request{Tile: &tile})
	if err != nil {
		t.Fatal(err)
	}
	got := res.(*layer.Raster)
	got.Widen() // a Byte file's tile comes as Samples
	if len(got.Bands) != 1 || !slices.Equal(got.Bands[0], all.Bands[1]) {
		t.Errorf("default bands [2]: got %d bands, not band 2", len(got.Bands))
	}
	bad := cog.New(cog.Options{Path: path, Bands: []int{4}})
	defer bad.Close()
	if err := bad.Status(); err == nil || !strings.Contains(err.Error(), "band 4") {
		t.Errorf("default bands [4] of a 3-band file: status %v, want an error about band 4", err)
	}
}

func TestResamplings(t *testing.T) {
	path := writeCOG(t, "gradient", filled(4326, smallGT, 800, 600, godal.Float32, 1, gradient))
	r := newReader(t, cog.Options{Path: path})
	s := r.Schema()
	tls := []tiles.Tile{
		tiles.AtLonLat(13, 47, s.MaxZoom),   // inside, full resolution
		tiles.AtLonLat(13, 47, s.MaxZoom-2), // inside, from an overview
		tiles.AtLonLat(10, 50, s.MaxZoom),   // the data's corner
	}
	for _, rs := range []string{"nearest", "bilinear", "cubic", "average", "mode"} {
		for _, tile := range tls {
			sameAsGDAL(t, read(t, r, tile, cog.TileOptions{Resampling: rs}), gdalwarpTile(t, path, tile, 256, rs), 1)
		}
	}
	for _, rs := range cog.Resamplings {
		if n := valid(read(t, r, tls[0], cog.TileOptions{Resampling: rs})); n != 256*256 {
			t.Errorf("resampling %s: %d valid pixels, want all", rs, n)
		}
	}
	if !slices.Contains(r.Schema().Params[1].Enum, "mode") {
		t.Errorf("schema resampling enum %v lacks mode", r.Schema().Params[1].Enum)
	}
}

func TestTileSize(t *testing.T) {
	path := writeCOG(t, "gradient", filled(4326, smallGT, 800, 600, godal.Float32, 1, gradient))
	r := newReader(t, cog.Options{Path: path})
	s := r.Schema()
	for _, tile := range []tiles.Tile{tiles.AtLonLat(13, 47, s.MaxZoom-1), tiles.AtLonLat(10, 50, s.MaxZoom)} {
		small := read(t, r, tile, cog.TileOptions{Resampling: "bilinear"})
		big := read(t, r, tile, cog.TileOptions{Resampling: "bilinear", Size: 512})
		if big.Bounds != tile.Mercator() || big.Bounds != small.Bounds || big.EPSG != 3857 {
			t.Errorf("%s at 512: bounds %v EPSG %d, want %v in 3857", tile, big.Bounds, big.EPSG, tile.Mercator())
		}
		sameAsGDAL(t, big, gdalwarpTile(t, path, tile, 512, "bilinear"), 1)
		// Each pixel of the 256 tile is the mean of the 2×2 pixels of the 512 tile it
		// covers: the values are a plane, which every resolution samples alike.
		compared := 0
		for j := 2; j < 254; j++ {
			for i := 2; i < 254; i++ {
				ps := []int{2*j*512 + 2*i, 2*j*512 + 2*i + 1, (2*j+1)*512 + 2*i, (2*j+1)*512 + 2*i + 1}
				if small.Mask[j*256+i] != 255 || slices.ContainsFunc(ps, func(p int) bool { return big.Mask[p] != 255 }) {
					continue
				}
				mean := 0.0
				for _, p := range ps {
					mean += big.Bands[0][p] / 4
				}
				if d := math.Abs(mean - small.Bands[0][j*256+i]); d > 1.5 {
					t.Fatalf("%s pixel %d,%d: %v at 256, %v at 512", tile, i, j, small.Bands[0][j*256+i], mean)
				}
				compared++
			}
		}
		if compared < 1000 {
			t.Errorf("%s: only %d pixels compared", tile, compared)
		}
	}
	for _, size := range []int{300, 0, 128, 1024} {
		_, err := r.ReadTile(tiles.AtLonLat(13, 47, s.MaxZoom), cog.TileOptions{Size: size, Resampling: "nearest"})
		if layer.KindOf(err) != layer.BadRequest || !strings.Contains(err.Error(), "tilesize") {
			t.Errorf("tilesize %d: got %v, want a bad request about tilesize", size, err)
		}
	}
}

func TestDTypes(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		dtype  godal.DataType
		numpy  string
		value  float64
		nodata float64
	}{
		{godal.Byte, "uint8", 250, 0},
		{godal.UInt16, "uint16", 60000, 0},
		{godal.Int16, "int16", -1234, -32768},
		{godal.UInt32, "uint32", 4e9, 0},
		{godal.Int32, "int32", -2e9, -1},
		{godal.Float32, "float32", -3.25, nan},
		{godal.Float64, "float64", -12345.678, -1e30},
	}
	for _, c := range cases {
		t.Run(c.numpy, func(t *testing.T) {
			// The right half is nodata.
			g := filled(4326, smallGT, 400, 400, c.dtype, 1, func(x, _, _ int) float64 {
				if x >= 200 {
					return c.nodata
				}
				return c.value
			})
			g.NoData = &c.nodata
			r := newReader(t, cog.Options{Path: writeCOG(t, c.numpy, g)})
			tile := tiles.AtLonLat(12, 48, r.Schema().MaxZoom) // across the edge of the nodata half
			ras := read(t, r, tile, cog.TileOptions{})
			if ras.DType != c.numpy {
				t.Errorf("dtype %s, want %s", ras.DType, c.numpy)
			}
			if !ras.HasNoData || !(ras.NoData == c.nodata || math.IsNaN(ras.NoData) && math.IsNaN(c.nodata)) {
				t.Errorf("nodata %v (%v), want %v", ras.NoData, ras.HasNoData, c.nodata)
			}
			left, right := 0, 0
			for j := 0; j < 256; j++ {
				for i := 0; i < 256; i++ {
					col, _ := srcPixel(tile, 256, i, j, smallGT)
					p := j*256 + i
					switch {
					case col < 199:
						left++
						if ras.Mask[p] != 255 || ras.Bands[0][p] != c.value {
							t.Fatalf("pixel %d,%d: mask %d value %v, want 255 and %v", i, j, ras.Mask[p], ras.Bands[0][p], c.value)
						}
					case col > 201:
						right++
						if ras.Mask[p] != 0 {
							t.Fatalf("pixel %d,%d is nodata but has mask %d", i, j, ras.Mask[p])
						}
					}
				}
			}
			if left == 0 || right == 0 {
				t.Errorf("tile %s checked %d valid and %d nodata pixels, want both", tile, left, right)
			}
		})
	}
}

func TestMissingFileBecomesAvailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.tif")
	start := time.Now()
	r := cog.New(cog.Options{Path: path})
	defer r.Close()
	err := r.Status()
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("status of a missing file: %v, want an error naming %s", err, path)
	}
	tile := tiles.AtLonLat(12, 48, 8)
	if _, err := r.ReadTile(tile, cog.TileOptions{Size: 256, Resampling: "nearest"}); layer.KindOf(err) != layer.Unavailable {
		t.Errorf("tile of a missing file: %v, want unavailable", err)
	}
	if _, err := r.Run(context.Background(), layer.Request{Tile: &tile}); layer.KindOf(err) != layer.Unavailable {
		t.Errorf("run on a missing file: %v, want unavailable", err)
	}
	if s := r.Schema(); len(s.Params) == 0 || s.MaxZoom < s.MinZoom {
		t.Errorf("schema of a missing file: %+v", s)
	}

	if err := demo.WriteCOG(path, filled(4326, smallGT, 400, 400, godal.Byte, 1, constant(9))); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 4*time.Second && r.Status() == nil {
		t.Errorf("the file was tried again at once; want at most every 5 s")
	}
	time.Sleep(5500*time.Millisecond - time.Since(start))
	if err := r.Status(); err != nil {
		t.Fatalf("status once the file exists: %v", err)
	}
	if r.Version() == "" {
		t.Errorf("no version once the file exists")
	}
	ras := read(t, r, tiles.AtLonLat(12, 48, r.Schema().MaxZoom), cog.TileOptions{})
	if valid(ras) == 0 || ras.Bands[0][slices.Index(ras.Mask, 255)] != 9 {
		t.Errorf("tile once the file exists has %d valid pixels", valid(ras))
	}
}

func TestBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noise := make([]byte, 64<<10)
	for i := range noise {
		noise[i] = byte(i*7919 + i>>3)
	}
	noCRS := filepath.Join(dir, "nocrs.tif")
	ds, err := godal.Create(godal.GTiff, noCRS, 1, godal.Byte, 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.SetGeoTransform([6]float64{10, 1, 0, 50, 0, -1}); err != nil {
		t.Fatal(err)
	}
	if err := ds.Close(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string
	}{
		{"random bytes", write("noise.tif", noise), "noise.tif"},
		{"empty", write("empty.tif", nil), "empty.tif"},
		{"text", write("text.tif", []byte("not a tiff\n")), "text.tif"},
		{"no crs", noCRS, "coordinate reference system"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := cog.New(cog.Options{Path: c.path})
			defer r.Close()
			err := r.Status()
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
				t.Fatalf("status: %v, want an error naming %s and %q", err, c.path, c.want)
			}
			_, err = r.ReadTile(tiles.Tile{Z: 3, X: 4, Y: 2}, cog.TileOptions{Size: 256, Resampling: "nearest"})
			if layer.KindOf(err) != layer.Unavailable {
				t.Errorf("tile: %v, want unavailable", err)
			}
			_ = r.Schema()
			_ = r.Version()
		})
	}
}

func TestTilesOutsideTheLayer(t *testing.T) {
	path := writeCOG(t, "small", filled(4326, smallGT, 400, 400, godal.Byte, 1, constant(1)))
	r := newReader(t, cog.Options{Path: path})
	s := r.Schema()
	z := s.MaxZoom
	rg := tiles.Cover(s.Bounds, z)
	inside := tiles.AtLonLat(12, 48, z)
	cases := []struct {
		name string
		tile tiles.Tile
	}{
		{"far away", tiles.AtLonLat(-100, -40, z)},
		{"east of the data", tiles.Tile{Z: z, X: rg.MaxX + 1, Y: rg.MinY}},
		{"north of the data", tiles.Tile{Z: z, X: rg.MinX, Y: rg.MinY - 1}},
		{"above maxzoom", tiles.AtLonLat(12, 48, s.MaxZoom+1)},
		{"below minzoom", tiles.AtLonLat(12, 48, s.MinZoom-1)},
	}
	if s.MinZoom == 0 {
		t.Fatalf("minzoom 0 for a small file")
	}
	for _, c := range cases {
		_, err := r.ReadTile(c.tile, cog.TileOptions{Size: 256, Resampling: "nearest"})
		if layer.KindOf(err) != layer.NotFound {
			t.Errorf("%s (%s): %v, want not found", c.name, c.tile, err)
		}
	}
	// Every corner of the covering range is served, even one with no data in it.
	for _, tile := range sampleTiles(r, z) {
		read(t, r, tile, cog.TileOptions{})
	}

	minZ, maxZ := 2, s.MaxZoom+3
	wide := newReader(t, cog.Options{Path: path, MinZoom: &minZ, MaxZoom: &maxZ})
	if ws := wide.Schema(); ws.MinZoom != minZ || ws.MaxZoom != maxZ {
		t.Errorf("zoom overrides: schema %d..%d, want %d..%d", ws.MinZoom, ws.MaxZoom, minZ, maxZ)
	}
	read(t, wide, tiles.AtLonLat(12, 48, minZ), cog.TileOptions{})
	read(t, wide, tiles.AtLonLat(12, 48, maxZ), cog.TileOptions{})
	if _, err := wide.ReadTile(tiles.AtLonLat(12, 48, minZ-1), cog.TileOptions{Size: 256, Resampling: "nearest"}); layer.KindOf(err) != layer.NotFound {
		t.Errorf("below the minzoom override: %v, want not found", err)
	}

	// Run: the same reads through the handler interface.
	ctx := context.Background()
	got, err := r.Run(ctx, layer.Request{Tile: &inside, Params: map[string]any{"bidx": []int{1}, "resampling": "bilinear", "tilesize": 512}})
	if err != nil {
		t.Fatal(err)
	}
	want := read(t, r, inside, cog.TileOptions{Bands: []int{1}, Resampling: "bilinear", Size: 512})
	ras := got.(*layer.Raster)
	ras.Widen()
	if !slices.Equal(ras.Bands[0], want.Bands[0]) || !slices.Equal(ras.Mask, want.Mask) {
		t.Errorf("Run with params differs from ReadTile")
	}
	// Without a tile, file mode: a preview of the whole file (crop.go).
	if res, err := r.Run(ctx, layer.Request{}); err != nil || res.(*layer.Raster).Width > cog.DefaultMaxSize {
		t.Errorf("Run without a tile: %v, want a preview", err)
	}
	far := cases[0].tile
	if _, err := r.Run(ctx, layer.Request{Tile: &far}); layer.KindOf(err) != layer.NotFound {
		t.Errorf("Run outside the bounds: %v, want not found", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Run(cancelled, layer.Request{Tile: &inside}); layer.KindOf(err) != layer.Timeout {
		t.Errorf("Run with a cancelled context: %v, want a timeout", err)
	}
}

func TestVersion(t *testing.T) {
	path := writeCOG(t, "versioned", filled(4326, smallGT, 400, 400, godal.Byte, 1, constant(1)))
	r := newReader(t, cog.Options{Path: path})
	tile := tiles.AtLonLat(12, 48, r.Schema().MaxZoom)
	v1 := r.Version()
	if v1 == "" || r.Version() != v1 {
		t.Fatalf("version %q, then %q: want a stable one", v1, r.Version())
	}
	if v := newReader(t, cog.Options{Path: path}).Version(); v != v1 {
		t.Errorf("a second reader of the same file has version %s, want %s", v, v1)
	}
	one := 1.0
	for name, o := range map[string]cog.Options{
		"bands":  {Path: path, Bands: []int{1}},
		"nodata": {Path: path, NoData: &one},
	} {
		if v := newReader(t, o).Version(); v == v1 {
			t.Errorf("options with %s: same version as without", name)
		}
	}
	if got := read(t, r, tile, cog.TileOptions{}); got.Bands[0][0] != 1 {
		t.Fatalf("first file: value %v", got.Bands[0][0])
	}

	// A new file at the same path: a new version, and tiles of the new data.
	if err := demo.WriteCOG(path, filled(4326, smallGT, 300, 400, godal.Byte, 1, constant(2))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // a served file is checked once a second
	v2 := r.Version()
	if v2 == v1 {
		t.Errorf("version unchanged after the file was replaced")
	}
	if got := read(t, r, tile, cog.TileOptions{}); got.Bands[0][0] != 2 {
		t.Errorf("after the file was replaced: value %v, want 2", got.Bands[0][0])
	}
	// Only the modification time changes.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if v3 := r.Version(); v3 == v2 || v3 == v1 {
		t.Errorf("version unchanged after the file's mtime changed")
	}
}

func TestSchemaOfDemoDEM(t *testing.T) {
	path := demoDEM(t)
	r := newReader(t, cog.Options{Path: path})
	s := r.Schema()
	// The DEM spans x 380000..441440, y 5188560..5250000 in UTM 33N.
	src, err := godal.NewSpatialRefFromEPSG(32633)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := godal.NewSpatialRefFromEPSG(4326)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	tr, err := godal.NewTransform(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	xs := []float64{380000, 441440, 380000, 441440, 410720}
	ys := []float64{5250000, 5250000, 5188560, 5188560, 5219280}
	if err := tr.TransformEx(xs, ys, nil, nil); err != nil {
		t.Fatal(err)
	}
	const eps = 1e-6
	for i := range xs {
		if xs[i] < s.Bounds.MinX-eps || xs[i] > s.Bounds.MaxX+eps || ys[i] < s.Bounds.MinY-eps || ys[i] > s.Bounds.MaxY+eps {
			t.Errorf("bounds %+v leave out the DEM's point %.4f,%.4f", s.Bounds, xs[i], ys[i])
		}
	}
	if s.Bounds.MaxX-s.Bounds.MinX > 1 || s.Bounds.MaxY-s.Bounds.MinY > 1 {
		t.Errorf("bounds %+v are far larger than the DEM", s.Bounds)
	}
	// 30 m pixels are about 44 m in EPSG:3857 at 47°N: zoom 12 (38 m) is the first
	// at least as fine. The coarsest overview (1/16) is 700 m, zoom 8, and the layer
	// starts 3 zooms above it.
	if s.MaxZoom != 12 || s.MinZoom != 5 {
		t.Errorf("zooms %d..%d, want 5..12", s.MinZoom, s.MaxZoom)
	}
	var names []string
	for _, p := range s.Params {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"bidx", "resampling", "tilesize", "expression", "algorithm", "algorithm_params", "max_size", "width", "height", "dst_crs"}) ||
		s.DefaultFormat != "png" || !slices.Equal(s.Modes, []string{"tile", "file"}) {
		t.Errorf("schema params %v, default format %s, modes %v", names, s.DefaultFormat, s.Modes)
	}
	// The hole in the DEM is transparent; the land around it is not.
	ras := read(t, r, tiles.AtLonLat(14.0, 47.15, 12), cog.TileOptions{})
	if ras.DType != "int16" || !ras.HasNoData || ras.NoData != demo.ElevationNoData {
		t.Errorf("dtype %s nodata %v %v", ras.DType, ras.HasNoData, ras.NoData)
	}
	for p, m := range ras.Mask {
		if m > 0 && (ras.Bands[0][p] < 0 || ras.Bands[0][p] > 3000) {
			t.Fatalf("pixel %d: elevation %v", p, ras.Bands[0][p])
		}
	}
}

// TestConcurrentReads reads random tiles of the demo DEM from 16 goroutines on one
// reader (more than its pool of handles) and holds each to a sequential read.
func TestConcurrentReads(t *testing.T) {
	path := demoDEM(t)
	type key struct {
		tile tiles.Tile
		o    cog.TileOptions
	}
	seq := newReader(t, cog.Options{Path: path})
	s := seq.Schema()
	var keys []key
	for z := s.MinZoom; z <= s.MaxZoom; z++ {
		for i, tile := range sampleTiles(seq, z) {
			keys = append(keys,
				key{tile, cog.TileOptions{Size: 256, Resampling: "nearest"}},
				key{tile, cog.TileOptions{Size: 256 << (i % 2), Resampling: []string{"bilinear", "cubic", "average"}[i%3]}})
		}
	}
	want := make([]*layer.Raster, len(keys))
	for i, k := range keys {
		want[i] = read(t, seq, k.tile, k.o)
	}

	r := newReader(t, cog.Options{Path: path, Pool: 4})
	const workers, reads = 16, 50
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for n := 0; n < reads; n++ {
				i := rng.IntN(len(keys))
				got, err := r.ReadTile(keys[i].tile, keys[i].o)
				if err != nil {
					t.Errorf("worker %d: tile %s: %v", w, keys[i].tile, err)
					return
				}
				if !sameRaster(got, want[i]) {
					t.Errorf("worker %d: tile %s %+v differs from the sequential read", w, keys[i].tile, keys[i].o)
					return
				}
			}
		}()
	}
	wg.Wait()
}
