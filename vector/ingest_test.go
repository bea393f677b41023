package vector

import "testing"

// The curve visits every cell once, each step to a neighbouring cell.
func TestHilbertCurve(t *testing.T) {
	for _, side := range []uint32{2, 8, 64} {
		at := make(map[uint64][2]int)
		for x := uint32(0); x < side; x++ {
			for y := uint32(0); y < side; y++ {
				d := hilbert(x, y, side)
				if d >= uint64(side*side) {
					t.Fatalf("side %d: (%d,%d) at %d, past the end", side, x, y, d)
				}
				if p, dup := at[d]; dup {
					t.Fatalf("side %d: (%d,%d) and %v both at %d", side, x, y, p, d)
				}
				at[d] = [2]int{int(x), int(y)}
			}
		}
		for d := uint64(1); d < uint64(side*side); d++ {
			a, b := at[d-1], at[d]
			if dx, dy := a[0]-b[0], a[1]-b[1]; dx*dx+dy*dy != 1 {
				t.Fatalf("side %d: step %d goes from %v to %v", side, d, a, b)
			}
		}
	}
}
