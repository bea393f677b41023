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
// full resolution; and checks that the path was taken, and not for a UTM
// source or bilinear resampling.
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
				for _, tile := range sampleTiles(r, z) {
					for _, size := range []int{256, 512} {
						t.Run(fmt.Sprintf("%s@%d", tile, size), func(t *testing.T) {
							got := read(t, r, tile, cog.TileOptions{Size: size})
							sameAsGDAL(t, got, gdalwarpTile(t, path, tile, size, "nearest", "-ovr", "AUTO"), 0)
						})
						n++
					}
				}
			}
			if direct, warped := r.Reads(); direct != int64(n) || warped != 0 {
				t.Errorf("%d tiles: %d read directly, %d warped; want all direct", n, direct, warped)
			}
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
			read(t, r, sampleTiles(r, s.MaxZoom)[0], cog.TileOptions{Resampling: "bilinear"})
			if _, warped := r.Reads(); warped != 1 {
				t.Errorf("bilinear: %d warped reads, want 1", warped)
			}
		})
	}
	utm := writeCOG(t, "utm", filled(32633, [6]float64{380000, 30, 0, 5250000, 0, -30}, 300, 300, godal.Byte, 1, noise))
	r := newReader(t, cog.Options{Path: utm})
	read(t, r, sampleTiles(r, r.Schema().MaxZoom)[0], cog.TileOptions{})
	if direct, warped := r.Reads(); direct != 0 || warped != 1 {
		t.Errorf("UTM: %d direct, %d warped reads; want the warp", direct, warped)
	}
}
