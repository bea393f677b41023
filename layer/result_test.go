package layer

import "testing"

// TestRasterPool: NewRaster hands out zeroed bands and mask of the right size
// every time, also after rasters were written to and released, and Release
// leaves rasters it did not make alone.
func TestRasterPool(t *testing.T) {
	for round := 0; round < 50; round++ {
		r := NewRaster(16, 8, 3)
		if len(r.Bands) != 3 || len(r.Mask) != 128 {
			t.Fatalf("round %d: %d bands, mask of %d", round, len(r.Bands), len(r.Mask))
		}
		for _, b := range r.Bands {
			if len(b) != 128 {
				t.Fatalf("round %d: band of %d values", round, len(b))
			}
			for i, v := range b {
				if v != 0 {
					t.Fatalf("round %d: band value %d is %v, want 0", round, i, v)
				}
				b[i] = float64(round + 1)
			}
		}
		for i, m := range r.Mask {
			if m != 0 {
				t.Fatalf("round %d: mask %d is %d, want 0", round, i, m)
			}
			r.Mask[i] = 255
		}
		r.Release()
		if r.Bands != nil || r.Mask != nil {
			t.Fatal("a released raster keeps its buffers")
		}
		r.Release() // twice is harmless
	}
	own := &Raster{Width: 2, Height: 1, Bands: [][]float64{{1, 2}}, Mask: []uint8{255, 0}}
	own.Release()
	if own.Bands == nil || own.Mask == nil {
		t.Error("Release took the buffers of a raster NewRaster did not make")
	}
}
