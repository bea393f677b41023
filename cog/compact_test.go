package cog_test

import (
	"fmt"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/demo"
)

// TestCompactTiles: with TileOptions.Compact, the tiles of Byte files (and,
// on the grid path, one band of Int16 or UInt16) come as Samples of the
// file's type holding the values and mask the float64 Bands hold without
// it, by every path the reader takes (direct, grid, bilinear; nodata; off the
// data's edges); other types, several 16-bit bands and GDAL's warp keep Bands.
func TestCompactTiles(t *testing.T) {
	utmGT := [6]float64{500000, 30, 0, 5300000, 0, -30}
	geoGT := [6]float64{10, 0.001, 0, 48, 0, -0.001}
	withNodata := func(g demo.Grid, nd float64) demo.Grid {
		g.NoData = &nd
		for i := range g.Bands[0] {
			if i%97 < 5 {
				g.Bands[0][i] = nd
			}
		}
		return g
	}
	cases := []struct {
		name    string
		grid    demo.Grid
		resamp  string
		compact bool // tiles expected as Samples
	}{
		{"byte rgb 4326 nearest", filled(4326, geoGT, 1200, 900, godal.Byte, 3, noise), "nearest", true},
		{"byte rgb utm nearest", filled(32633, utmGT, 1200, 900, godal.Byte, 3, noise), "nearest", true},
		{"byte rgb utm bilinear", filled(32633, utmGT, 1200, 900, godal.Byte, 3, noise), "bilinear", true},
		{"byte grey utm nodata", withNodata(filled(32633, utmGT, 1200, 900, godal.Byte, 1, noise), 7), "nearest", true},
		{"int16 utm nodata", withNodata(filled(32633, utmGT, 1200, 900, godal.Int16, 1, func(x, y, b int) float64 { return noise(x, y, b)*40 - 3000 }), -32768), "nearest", true},
		{"uint16 utm", filled(32633, utmGT, 1200, 900, godal.UInt16, 1, func(x, y, b int) float64 { return noise(x, y, b) * 250 }), "nearest", true},
		{"int16 two bands utm", filled(32633, utmGT, 1200, 900, godal.Int16, 2, noise), "nearest", false},
		{"int16 4326", filled(4326, geoGT, 1200, 900, godal.Int16, 1, noise), "nearest", false},
		{"float32 utm", filled(32633, utmGT, 1200, 900, godal.Float32, 1, noise), "nearest", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newReader(t, cog.Options{Path: writeCOG(t, "src", c.grid)})
			s := r.Schema()
			checked, compact := 0, 0
			for z := s.MinZoom; z <= s.MaxZoom; z++ {
				list := sampleTiles(r, z)
				for _, tile := range list {
					for _, size := range []int{256, 512} {
						o := cog.TileOptions{Size: size, Resampling: c.resamp}
						want := read(t, r, tile, o)
						o.Compact = true
						got, err := r.ReadTile(tile, o)
						if err != nil {
							t.Fatalf("%s %d: %v", tile, size, err)
						}
						what := fmt.Sprintf("%s %d", tile, size)
						if got.Samples != nil {
							compact++
							if got.Bands != nil || got.DType != want.DType || len(got.Samples) != len(want.Bands) {
								t.Fatalf("%s: Samples of %s, %d bands (and %d Bands); want %s and %d", what, got.DType, len(got.Samples), len(got.Bands), want.DType, len(want.Bands))
							}
							got.Widen()
						}
						if !sameRaster(got, want) {
							t.Fatalf("%s: the tile compact differs from the tile without", what)
						}
						checked++
						got.Release()
					}
				}
			}
			switch {
			case c.compact && compact == 0:
				t.Fatalf("no tile of %d came as Samples", checked)
			case !c.compact && compact > 0:
				t.Fatalf("%d tiles of %d came as Samples; want Bands", compact, checked)
			}
			t.Logf("%d tiles, %d as Samples", checked, compact)
		})
	}
}
