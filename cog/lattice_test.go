package cog

import (
	"math"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/tiles"
)

// TestLatticeWithinTolerance holds the coordinates interpolated from a
// lattice to exact transformations of every pixel centre, for tiles of UTM
// and polar stereographic sources at every zoom from a whole continent down to
// pixels of a few centimetres, at 256 and 512 px, each from the overview a
// reader would pick (power-of-two levels over the source): every pixel within
// 1.5×gridTolerance (the checks bound the error at the points where a smooth
// mapping's bilinear error peaks; between them it is smaller), and no worse
// than gdalwarp's own row approximation plus gridTolerance. It also reports
// how far gdalwarp's approximation strays, which is what pixels read by the
// lattice may differ from gdalwarp's by. Tiles of zoom 10 and more (40 km and
// less) take the lattice.
func TestLatticeWithinTolerance(t *testing.T) {
	for _, c := range []struct {
		name string
		epsg int
		gt   [6]float64
		w, h int
		lon  float64
		lat  float64
	}{
		{"utm 33N, 30 m", 32633, [6]float64{300000, 30, 0, 5300000, 0, -30}, 8192, 8192, 16.5, 46.5},
		{"utm 33N, 1 m, far east of its meridian", 32633, [6]float64{700000, 1, 0, 5300000, 0, -1}, 100000, 100000, 18.2, 47.5},
		{"polar stereographic, 100 m", 3413, [6]float64{-1000000, 100, 0, 0, 0, -100}, 20000, 20000, -60, 80},
	} {
		t.Run(c.name, func(t *testing.T) {
			sr, err := godal.NewSpatialRefFromEPSG(c.epsg)
			if err != nil {
				t.Fatal(err)
			}
			wkt, err := sr.WKT()
			sr.Close()
			if err != nil {
				t.Fatal(err)
			}
			for z := 3; z <= 22; z++ {
				for _, n := range []int{256, 512} {
					// The level a reader would pick: the coarsest power-of-two
					// overview whose pixels are not larger than the tile's
					// (the tile's ground resolution, as the source's units are
					// metres).
					ground := tiles.Size(z) / float64(n) * math.Cos(c.lat*math.Pi/180)
					f := 1.0
					for f*2*c.gt[1] <= ground && float64(c.w)/(f*2) >= 1 {
						f *= 2
					}
					gt := c.gt
					gt[1], gt[5] = gt[1]*f, gt[5]*f
					d := &direct{wkt: wkt, gt: gt, trs: map[int]*fastTr{}}
					tr, err := d.tr(&info{width: int(float64(c.w) / f), height: int(float64(c.h) / f)}, -1)
					if err != nil {
						t.Fatal(err)
					}
					tile := tiles.AtLonLat(c.lon, c.lat, z)
					b := tile.Mercator()
					dst := [6]float64{b.MinX, (b.MaxX - b.MinX) / float64(n), 0, b.MaxY, 0, -(b.MaxY - b.MinY) / float64(n)}
					ex, ey, eok := tr.exactCoords(dst, n)
					before := tr.lattices
					tr.coords(b, n)
					ours := worst(tr, ex, ey, eok)
					byLattice := tr.lattices[0] > before[0]
					tr.rows(n)
					gdal := worst(tr, ex, ey, eok)
					t.Logf("z%d@%d (source pixels %g units): lattice %d×%d, largest error %.2g px (gdalwarp's rows %.2g px)", z, n, gt[1], tr.m, tr.m, ours, gdal)
					if !byLattice {
						if z >= 10 {
							t.Errorf("z%d@%d: GDAL's rows, not the lattice", z, n)
						}
						d.Close()
						continue // GDAL's own rows, as gdalwarp
					}
					if ours > 1.5*gridTolerance || ours > gdal+gridTolerance {
						t.Errorf("z%d@%d: the lattice strays %.3g px from the exact coordinates (gdalwarp %.3g)", z, n, ours, gdal)
					}
					d.Close()
				}
			}
		})
	}
}

// worst is the largest distance along an axis between tr's coordinates and
// the exact ones, over the points both transformed.
func worst(tr *fastTr, ex, ey []float64, eok []bool) float64 {
	w := 0.0
	for k := range ex {
		if !eok[k] || tr.gok[k] == 0 {
			continue
		}
		w = math.Max(w, math.Max(math.Abs(float64(tr.gx[k])-ex[k]), math.Abs(float64(tr.gy[k])-ey[k])))
	}
	return w
}
