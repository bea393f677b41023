package tilegeom

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
)

// toGEOS converts an orb geometry for GEOS's checks; GDAL's log of each
// invalid geometry goes to /dev/null.
func toGEOS(t testing.TB, g orb.Geometry) *godal.Geometry {
	t.Helper()
	os.Setenv("CPL_LOG", os.DevNull)
	godal.RegisterAll()
	b, err := wkb.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	gg, err := godal.NewGeometryFromWKB(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return gg
}

// TestFindFaultAgreesWithGEOS: whatever findFault passes, GEOS calls valid, on
// random small polygons of which many are invalid.
func TestFindFaultAgreesWithGEOS(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	passed, faulted := 0, 0
	for range 20000 {
		var parts []Polygon
		for range 1 + rng.IntN(2) {
			var p Polygon
			for k := range 1 + rng.IntN(2) {
				r := make(Ring, 3+rng.IntN(4))
				for i := range r {
					r[i] = Point{int64(rng.IntN(8)), int64(rng.IntN(8))}
				}
				if a := r.area2(); a != 0 && (k == 0) != (a > 0) {
					for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
						r[i], r[j] = r[j], r[i]
					}
				}
				p = append(p, r)
			}
			parts = append(parts, p)
		}
		if _, bad := FindFault(parts); bad {
			faulted++
			fixed := Repair(parts)
			if _, bad := FindFault(fixed); bad {
				t.Fatalf("repair left a fault in %v", fixed)
			}
			parts = fixed
			if len(parts) == 0 {
				continue
			}
		} else {
			passed++
		}
		var mp orb.MultiPolygon
		for _, p := range parts {
			var poly orb.Polygon
			for _, r := range p {
				ring := make(orb.Ring, 0, len(r)+1)
				for _, q := range r {
					ring = append(ring, orb.Point{float64(q.X), float64(q.Y)})
				}
				poly = append(poly, append(ring, ring[0]))
			}
			mp = append(mp, poly)
		}
		g := toGEOS(t, mp)
		if !g.Valid() {
			t.Fatalf("findFault passes %v; GEOS calls it invalid", mp)
		}
		g.Close()
	}
	t.Logf("%d passed as they were, %d repaired", passed, faulted)
	if passed < 100 || faulted < 100 {
		t.Errorf("want both kinds often: %d passed, %d faulted", passed, faulted)
	}
}
