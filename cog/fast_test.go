package cog_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/layer"
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
// resampling. Sources in another CRS (UTM) take it for every tile, every
// pixel's coordinates interpolated from a lattice (lattice.go): every tile of
// every zoom is compared, and a pixel may differ from gdalwarp's only where
// the two approximations of its source coordinates (gdalwarp's within 0.125
// pixel of the exact ones, the lattice's within what SourceCoords measures)
// could fall on either side of a source pixel's edge.
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
			n, differ, pixels := 0, 0, 0
			for z := s.MinZoom; z <= s.MaxZoom; z++ {
				tiles := sampleTiles(r, z)
				if c.epsg == 32633 {
					tiles = allTiles(r, z) // interior ones, and those at the edges
				}
				for _, tile := range tiles {
					for _, size := range []int{256, 512} {
						t.Run(fmt.Sprintf("%s@%d", tile, size), func(t *testing.T) {
							got := read(t, r, tile, cog.TileOptions{Size: size})
							want := gdalwarpTile(t, path, tile, size, "nearest", "-ovr", "AUTO")
							if c.epsg != 32633 {
								sameAsGDAL(t, got, want, 0)
								return
							}
							d, p := nearestNearGDAL(t, r, tile, got, want)
							differ += d
							pixels += p
						})
						n++
					}
				}
			}
			direct, warped := r.Reads()
			if direct != int64(n) || warped != 0 {
				t.Errorf("%d tiles: %d read directly, %d warped; want all direct", n, direct, warped)
			}
			t.Logf("%d tiles: %d direct, %d warped", n, direct, warped)
			if c.epsg == 32633 {
				t.Logf("%d of %d pixels differ from gdalwarp's, each where its approximation and ours may pick another pixel", differ, pixels)
				if pixels == 0 {
					t.Error("no pixel compared")
				}
			}
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
			if c.epsg == 32633 && c.nodata == nil { // by the bilinear path, its coordinates from the lattice
				got := read(t, r, tile, cog.TileOptions{Resampling: "bilinear"})
				slack, _ := latticeSlack(t, r, tile, 256, 250)
				sameAsGDAL(t, got, gdalwarpTile(t, path, tile, 256, "bilinear", "-et", "0"), 1+slack)
			} else {
				sameAsGDAL(t, read(t, r, tile, cog.TileOptions{Resampling: "bilinear"}), gdalwarpTile(t, path, tile, 256, "bilinear"), 1e-3)
			}
			if _, warped := r.Reads(); (warped != warpedBefore+1) != (c.nodata == nil) {
				t.Errorf("bilinear: %d warped reads with nodata %v", warped-warpedBefore, c.nodata)
			}
		})
	}
}

// nearestNearGDAL compares a tile read by nearest neighbour from a source in
// another CRS with gdalwarp's: a pixel may differ (in value or in being on the
// data) only when its exact source coordinates lie within 0.125 pixel plus the
// lattice's largest error of a source pixel's edge. It returns how many
// pixels differ and how many were compared.
func nearestNearGDAL(t *testing.T, r *cog.Reader, tile tiles.Tile, got *layer.Raster, want warped) (differ, pixels int) {
	t.Helper()
	c, ours := latticeCoords(t, r, tile, got.Width)
	slack := 0.125 + ours
	nearEdge := func(v float64) bool { return math.Abs(v-math.Round(v)) <= slack }
	bad := 0
	for k := range want.alpha {
		pixels++
		same := (got.Mask[k] > 0) == (want.alpha[k] > 0)
		for b := range want.bands {
			same = same && (want.alpha[k] == 0 || got.Bands[b][k] == want.bands[b][k])
		}
		if same {
			continue
		}
		differ++
		if !c.OK[k] || nearEdge(c.ExactX[k]) || nearEdge(c.ExactY[k]) {
			continue
		}
		if bad < 5 {
			t.Errorf("pixel %d,%d (source %.4f, %.4f, not within %.3f of an edge): mask %d value %v, gdalwarp alpha %d value %v",
				k%got.Width, k/got.Width, c.ExactX[k], c.ExactY[k], slack, got.Mask[k], got.Bands[0][k], want.alpha[k], want.bands[0][k])
		}
		bad++
	}
	if bad > 0 {
		t.Errorf("%d of %d pixels differ from gdalwarp's away from source pixel edges", bad, pixels)
	}
	return differ, pixels
}

// latticeSlack is how far the bilinear path's value of a pixel may move
// because its coordinates come from the lattice: a bilinear surface over
// samples whose neighbours differ by at most slope changes by at most slope
// per pixel along each axis.
func latticeSlack(t *testing.T, r *cog.Reader, tile tiles.Tile, size int, slope float64) (float64, *cog.Coords) {
	t.Helper()
	c, ours := latticeCoords(t, r, tile, size)
	return 2 * slope * ours, c
}

// latticeCoords returns the coordinates the reader uses for a tile, and
// exact ones, with the largest distance between them along an axis; it
// fails t when the lattice's exceed 1.5×GridTolerance.
func latticeCoords(t *testing.T, r *cog.Reader, tile tiles.Tile, size int) (*cog.Coords, float64) {
	t.Helper()
	c, err := cog.SourceCoords(r, tile, size)
	if err != nil {
		t.Fatal(err)
	}
	ours := 0.0
	for k := range c.X {
		if c.OK[k] {
			ours = math.Max(ours, math.Max(math.Abs(c.X[k]-c.ExactX[k]), math.Abs(c.Y[k]-c.ExactY[k])))
		}
	}
	if c.Lattice && ours > 1.5*cog.GridTolerance {
		t.Errorf("%s@%d: the lattice's coordinates are %.3g px from the exact ones", tile, size, ours)
	}
	return c, ours
}

// nearDataEdge reports whether pixel k's exact source coordinates lie within
// the lattice's error of the edge of the data (or its coordinates differ
// from the exact ones by that much).
func nearDataEdge(c *cog.Coords, k int) bool {
	d := math.Max(math.Abs(c.X[k]-c.ExactX[k]), math.Abs(c.Y[k]-c.ExactY[k])) + 1e-9
	x, y := c.ExactX[k], c.ExactY[k]
	return math.Abs(x) <= d || math.Abs(x-float64(c.W)) <= d || math.Abs(y) <= d || math.Abs(y-float64(c.H)) <= d
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
// one-tile gdalwarp sizes its chunk. The path's coordinates come from a
// lattice (lattice.go), so the reference is gdalwarp with exact coordinates
// (-et 0): values agree within 1 for bytes, 1e-3 for floats, plus what the
// lattice's largest error in the tile can move a bilinear surface of the
// values (latticeSlack). Tiles at the data's edges take the warp and
// are held to gdalwarp's default.
func TestBilinearMatchesGDALWarp(t *testing.T) {
	smooth := func(x, y, b int) float64 { return math.Mod(float64(x*3+y*2+b*40), 200) + noise(x, y, b)/10 }
	for _, c := range []struct {
		name  string
		dt    godal.DataType
		bands int
		value func(x, y, b int) float64
		sizes []int
		slope float64 // the largest difference between neighbouring samples
	}{
		{"rgb bytes, noise", godal.Byte, 3, noise, []int{256, 512}, 250},
		{"float32, smooth", godal.Float32, 1, smooth, []int{256}, 225},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeCOG(t, "bilinear", filled(32633, [6]float64{380000, 30, 0, 5250000, 0, -30}, 1200, 1000, c.dt, c.bands, c.value))
			r := newReader(t, cog.Options{Path: path, Resampling: "bilinear"})
			s := r.Schema()
			var pixels, off, worse, edge int
			worst := 0.0
			for z := s.MinZoom; z <= s.MaxZoom; z++ {
				for _, tile := range allTiles(r, z) {
					for _, size := range c.sizes {
						d0, _ := r.Reads()
						got := read(t, r, tile, cog.TileOptions{Size: size, Resampling: "bilinear"})
						d1, _ := r.Reads()
						tol := 1e-3
						if c.dt == godal.Byte {
							tol = 1
						}
						if d1 == d0 { // warped, as before
							sameAsGDAL(t, got, gdalwarpTile(t, path, tile, size, "bilinear"), tol)
							continue
						}
						want := gdalwarpTile(t, path, tile, size, "bilinear", "-et", "0")
						slack, co := latticeSlack(t, r, tile, size, c.slope)
						tol += slack
						for i := range want.alpha {
							if (got.Mask[i] > 0) != (want.alpha[i] > 0) {
								// Only a pixel whose centre lies within the lattice's
								// error of the data's edge may be on it in one and
								// off it in the other.
								if !nearDataEdge(co, i) {
									t.Fatalf("%s@%d pixel %d (source %.5f, %.5f): mask %d, gdalwarp alpha %d", tile, size, i, co.ExactX[i], co.ExactY[i], got.Mask[i], want.alpha[i])
								}
								edge++
								continue
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
			t.Logf("%d tiles by the bilinear path, %d warped; %d pixel values, %d differ, %d by more than the tolerance (largest %.3g); %d pixels on the data's edge in one only", direct, warped, pixels*c.bands, off, worse, worst, edge)
			if direct == 0 || pixels == 0 {
				t.Fatalf("no tile took the bilinear path")
			}
			if worse > 0 {
				t.Errorf("%d of %d values differ from gdalwarp's by more than the tolerance", worse, pixels*c.bands)
			}
		})
	}
}
