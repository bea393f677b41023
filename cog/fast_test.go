package cog_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/tiles"
)

// noise is a value per pixel and band that no neighbour shares, so that a
// tile read from the wrong source pixel cannot pass for the right one.
func noise(x, y, b int) float64 {
	h := uint32(x)*73856093 ^ uint32(y)*19349663 ^ uint32(b)*83492791
	h ^= h >> 13
	h *= 0x5bd1e995
	h ^= h >> 15
	return float64(h % 251)
}

// TestDirectPathMatchesGDALWarp holds tiles read by the direct path (EPSG:4326
// and EPSG:3857 sources, nearest neighbour) to gdalwarp's output pixel for
// pixel, on sources whose pixels are binary fractions of a degree, where tile
// pixel centres fall exactly on source pixel edges at low zooms; at every zoom,
// at the data's edges and inside, at 256 and 512 px, from overviews and the
// full resolution; and checks that the path was taken, and not for bilinear
// resampling. Sources in another CRS (UTM) take it for tiles inside their
// data, every pixel transformed as gdalwarp's kernel does: every tile of
// every zoom is compared.
func TestDirectPathMatchesGDALWarp(t *testing.T) {
	nd := 7.0
	cases := []struct {
		name   string
		epsg   int
		gt     [6]float64
		w, h   int
		dt     godal.DataType
		bands  int
		nodata *float64
	}{
		{"rgb bytes epsg4326", 4326, [6]float64{10, 10.0 / 1024, 0, 50, 0, -8.0 / 1024}, 1024, 1024, godal.Byte, 3, nil},
		{"world float32", 4326, [6]float64{-180, 360.0 / 1024, 0, 90, 0, -180.0 / 512}, 1024, 512, godal.Float32, 1, nil},
		// Tile pixel centres on source pixel edges: ratio 2 at zoom 0 and from the overview.
		{"world edges", 4326, [6]float64{-180, 360.0 / 2048, 0, 90, 0, -180.0 / 1024}, 2048, 1024, godal.Byte, 1, nil},
		{"dem int16 nodata", 4326, [6]float64{5, 0.01, 0, 47, 0, -0.01}, 900, 700, godal.Int16, 1, &nd},
		{"epsg3857 uint16", 3857, [6]float64{1000000, 611.49622628141, 0, 6000000, 0, -611.49622628141}, 800, 600, godal.UInt16, 2, nil},
		// Other CRSs: every pixel transformed, tiles inside the data only.
		{"utm rgb bytes", 32633, [6]float64{380000, 30, 0, 5250000, 0, -30}, 1200, 1000, godal.Byte, 3, nil},
		{"utm dem int16 nodata", 32633, [6]float64{380000, 30, 0, 5250000, 0, -30}, 1000, 900, godal.Int16, 1, &nd},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := filled(c.epsg, c.gt, c.w, c.h, c.dt, c.bands, noise)
			g.NoData = c.nodata
			path := writeCOG(t, "direct", g)
			r := newReader(t, cog.Options{Path: path})
			s := r.Schema()
			n := 0
			for z := s.MinZoom; z <= s.MaxZoom; z++ {
				tiles := sampleTiles(r, z)
				if c.epsg == 32633 {
					tiles = allTiles(r, z) // interior ones, and those at the edges
				}
				for _, tile := range tiles {
					for _, size := range []int{256, 512} {
						t.Run(fmt.Sprintf("%s@%d", tile, size), func(t *testing.T) {
							got := read(t, r, tile, cog.TileOptions{Size: size})
							sameAsGDAL(t, got, gdalwarpTile(t, path, tile, size, "nearest", "-ovr", "AUTO"), 0)
						})
						n++
					}
				}
			}
			direct, warped := r.Reads()
			if c.epsg != 32633 && (direct != int64(n) || warped != 0) {
				t.Errorf("%d tiles: %d read directly, %d warped; want all direct", n, direct, warped)
			}
			if c.epsg == 32633 && (direct < int64(n)/5 || warped == 0 || direct+warped != int64(n)) {
				t.Errorf("%d tiles: %d read directly, %d warped; want those inside the data direct, those at its edges warped", n, direct, warped)
			}
			t.Logf("%d tiles: %d direct, %d warped", n, direct, warped)
			_, warpedBefore := r.Reads()
			if c.nodata != nil {
				lon, lat := (s.Bounds.MinX+s.Bounds.MaxX)/2, (s.Bounds.MinY+s.Bounds.MaxY)/2
				ras := read(t, r, tiles.AtLonLat(lon, lat, s.MaxZoom), cog.TileOptions{})
				masked := 0
				for i, m := range ras.Mask {
					if m == 0 {
						masked++
						if ras.Bands[0][i] != 0 {
							t.Fatalf("a nodata pixel holds %v, want 0 as the warp leaves it", ras.Bands[0][i])
						}
					}
				}
				if want := 256 * 256 / 251; math.Abs(float64(masked-want)) > float64(want)/2 {
					t.Errorf("%d nodata pixels in a full tile, want about %d", masked, want)
				}
			}
			// Bilinear: by the bilinear path inside the data, unless a
			// nodata value masks samples (the warp's).
			tile := sampleTiles(r, s.MaxZoom)[0]
			sameAsGDAL(t, read(t, r, tile, cog.TileOptions{Resampling: "bilinear"}), gdalwarpTile(t, path, tile, 256, "bilinear"), 1e-3)
			if _, warped := r.Reads(); (warped != warpedBefore+1) != (c.nodata == nil) {
				t.Errorf("bilinear: %d warped reads with nodata %v", warped-warpedBefore, c.nodata)
			}
		})
	}
}

// allTiles lists every tile of zoom z over the reader's bounds.
func allTiles(r *cog.Reader, z int) []tiles.Tile {
	rg := tiles.Cover(r.Schema().Bounds, z)
	var out []tiles.Tile
	for x := rg.MinX; x <= rg.MaxX; x++ {
		for y := rg.MinY; y <= rg.MaxY; y++ {
			out = append(out, tiles.Tile{Z: z, X: x, Y: y})
		}
	}
	return out
}

// TestBilinearMatchesGDALWarp holds tiles of a UTM source read by the
// bilinear path to gdalwarp's: every tile of every zoom, at 256 and 512 px,
// from overviews and the full resolution, on a source whose every pixel
// differs from its neighbours. The kernel's scale is the tile's, as a
// one-tile gdalwarp sizes its chunk: values agree within 1 for bytes, 1e-3
// for floats (in practice exactly); tiles at the data's edges take the warp.
func TestBilinearMatchesGDALWarp(t *testing.T) {
	smooth := func(x, y, b int) float64 { return math.Mod(float64(x*3+y*2+b*40), 200) + noise(x, y, b)/10 }
	for _, c := range []struct {
		name  string
		dt    godal.DataType
		bands int
		value func(x, y, b int) float64
		sizes []int
	}{
		{"rgb bytes, noise", godal.Byte, 3, noise, []int{256, 512}},
		{"float32, smooth", godal.Float32, 1, smooth, []int{256}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeCOG(t, "bilinear", filled(32633, [6]float64{380000, 30, 0, 5250000, 0, -30}, 1200, 1000, c.dt, c.bands, c.value))
			r := newReader(t, cog.Options{Path: path, Resampling: "bilinear"})
			s := r.Schema()
			var pixels, off, worse int
			worst := 0.0
			for z := s.MinZoom; z <= s.MaxZoom; z++ {
				for _, tile := range allTiles(r, z) {
					for _, size := range c.sizes {
						d0, _ := r.Reads()
						got := read(t, r, tile, cog.TileOptions{Size: size, Resampling: "bilinear"})
						d1, _ := r.Reads()
						want := gdalwarpTile(t, path, tile, size, "bilinear")
						tol := 1e-3
						if c.dt == godal.Byte {
							tol = 1
						}
						if d1 == d0 { // warped, as before
							sameAsGDAL(t, got, want, tol)
							continue
						}
						for i := range want.alpha {
							if (got.Mask[i] > 0) != (want.alpha[i] > 0) {
								t.Fatalf("%s@%d pixel %d: mask %d, gdalwarp alpha %d", tile, size, i, got.Mask[i], want.alpha[i])
							}
							if want.alpha[i] == 0 {
								continue
							}
							pixels++
							for b := range want.bands {
								d := math.Abs(got.Bands[b][i] - want.bands[b][i])
								worst = math.Max(worst, d)
								if d > 0 {
									off++
								}
								if d > tol {
									worse++
								}
							}
						}
					}
				}
			}
			direct, warped := r.Reads()
			t.Logf("%d tiles by the bilinear path, %d warped; %d pixel values, %d differ, %d by more than 1 (largest %.3g)", direct, warped, pixels*c.bands, off, worse, worst)
			if direct == 0 || pixels == 0 {
				t.Fatalf("no tile took the bilinear path")
			}
			if worse > 0 {
				t.Errorf("%d of %d values differ from gdalwarp's by more than the tolerance", worse, pixels*c.bands)
			}
		})
	}
}
