package vector

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkt"
)

// TestMeetsRectAgreesWithGEOS holds the Go intersection test of resident
// layers to GEOS (through OGR, as the file path tests) on random rects against
// a polygon with a hole, a concave multipolygon, a line, a multipoint and a
// collection: inside, outside, across edges, inside the hole, touching.
func TestMeetsRectAgreesWithGEOS(t *testing.T) {
	geoms := []orb.Geometry{
		orb.Polygon{{{0, 0}, {10, 0}, {10, 10}, {0, 10}, {0, 0}}, {{3, 3}, {7, 3}, {7, 7}, {3, 7}, {3, 3}}},
		orb.MultiPolygon{
			{{{20, 0}, {30, 0}, {30, 10}, {25, 2}, {20, 10}, {20, 0}}},
			{{{40, 40}, {44, 40}, {42, 45}, {40, 40}}},
		},
		orb.LineString{{0, 20}, {15, 35}, {30, 20}},
		orb.MultiPoint{{50, 50}, {55, 52}},
		orb.Collection{orb.Point{60, 60}, orb.LineString{{60, 0}, {70, 10}}},
	}
	rng := rand.New(rand.NewSource(3))
	n, hits := 0, 0
	for _, g := range geoms {
		ogrG, err := godal.NewGeometryFromWKT(wkt.MarshalString(g), nil)
		if err != nil {
			t.Fatal(err)
		}
		b := g.Bound()
		for i := 0; i < 3000; i++ {
			// Rects on a half-unit lattice around the geometry: edges and
			// vertices are often shared exactly.
			x0 := b.Min[0] - 4 + float64(rng.Intn(int(2*(b.Max[0]-b.Min[0]+8))))/2
			y0 := b.Min[1] - 4 + float64(rng.Intn(int(2*(b.Max[1]-b.Min[1]+8))))/2
			w, h := float64(rng.Intn(12))/2, float64(rng.Intn(12))/2
			rect := [4]float64{x0, y0, x0 + w, y0 + h}
			box, err := godal.NewGeometryFromWKT(fmt.Sprintf("POLYGON((%g %g,%g %g,%g %g,%g %g,%g %g))",
				rect[0], rect[1], rect[2], rect[1], rect[2], rect[3], rect[0], rect[3], rect[0], rect[1]), nil)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ogrG.Intersects(box)
			if err != nil {
				t.Fatal(err)
			}
			box.Close()
			if w == 0 || h == 0 {
				continue // a degenerate rect is not a polygon to GEOS
			}
			if got := meetsRect(g, g.Bound(), &rect); got != want {
				t.Errorf("%s and rect %v: Go says %v, GEOS %v", g.GeoJSONType(), rect, got, want)
			}
			n++
			if want {
				hits++
			}
		}
		ogrG.Close()
	}
	if hits < n/5 || hits > 4*n/5 {
		t.Errorf("%d of %d rects meet the geometries: the sample says little", hits, n)
	}
}
