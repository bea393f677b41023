package tiles

import (
	"fmt"
	"math"
	"testing"
)

// FuzzTile checks the validation behind every tile request (New, Validate)
// and the arithmetic of the tiles it accepts. Nothing panics; New fails
// exactly for coordinates off the WebMercatorQuad grid; a valid tile's String
// reads back as the tile, its bounds are finite and ordered in both CRSs,
// AtLonLat of its centre and Cover of its bounds give the tile again, and
// its parent and children contain each other.
func FuzzTile(f *testing.F) {
	for _, t := range [][3]int{
		{0, 0, 0}, {1, 1, 1}, {9, 275, 180}, {22, 4194303, 0}, {30, 0, 1<<30 - 1}, {30, 1<<30 - 1, 1<<30 - 1},
		{30, 536870912, 536870911}, {31, 0, 0}, {-1, 0, 0}, {3, 8, 0}, {3, 0, -1},
		{math.MaxInt, 0, 0}, {math.MinInt, math.MinInt, math.MinInt}, {63, 0, 0}, {64, 1, 1},
	} {
		f.Add(t[0], t[1], t[2])
	}
	f.Fuzz(func(t *testing.T, z, x, y int) {
		tl, err := New(z, x, y)
		onGrid := z >= 0 && z <= MaxZoom && x >= 0 && y >= 0 && x < 1<<z && y < 1<<z
		if (err == nil) != onGrid {
			t.Fatalf("New(%d, %d, %d): error %v", z, x, y, err)
		}
		if err != nil {
			return
		}
		var back Tile
		if _, err := fmt.Sscanf(tl.String(), "%d/%d/%d", &back.Z, &back.X, &back.Y); err != nil || back != tl {
			t.Fatalf("%s reads back as %v (%v)", tl, back, err)
		}
		ll, m := tl.LonLat(), tl.Mercator()
		for _, b := range []Bounds{ll, m} {
			for _, v := range []float64{b.MinX, b.MinY, b.MaxX, b.MaxY} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("%s: bounds %+v", tl, b)
				}
			}
			if !(b.MinX < b.MaxX && b.MinY < b.MaxY) {
				t.Fatalf("%s: bounds %+v not ordered", tl, b)
			}
		}
		if err := ll.Validate(); err != nil {
			t.Fatalf("%s: lon/lat bounds %+v: %v", tl, ll, err)
		}
		if got := AtLonLat((ll.MinX+ll.MaxX)/2, (ll.MinY+ll.MaxY)/2, tl.Z); got != tl {
			// The centre in lon/lat is inside the tile even where latitudes are
			// not linear in y.
			t.Fatalf("AtLonLat of the centre of %s is %s", tl, got)
		}
		if r := Cover(ll, tl.Z); r.Count() != 1 || !r.Contains(tl) {
			t.Fatalf("Cover(%s's bounds) = %+v, want the tile alone", tl, r)
		}
		if tl.Z > 0 {
			p := tl.Parent()
			if p.Validate() != nil || !p.Mercator().Contains(m) {
				t.Fatalf("parent %s of %s", p, tl)
			}
		}
		if tl.Z < MaxZoom {
			for _, c := range tl.Children() {
				if c.Validate() != nil || c.Parent() != tl {
					t.Fatalf("child %s of %s", c, tl)
				}
			}
		}
	})
}
