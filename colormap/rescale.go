package colormap

import "math"

// Rescale maps v linearly from [lo, hi] to [0, 255], clamped and rounded to
// the nearest integer, for indexing a named map. NaN gives 0; when lo == hi,
// v <= lo gives 0 and anything above gives 255. lo > hi inverts the ramp.
func Rescale(v, lo, hi float64) uint8 {
	if lo == hi {
		if v > lo {
			return 255
		}
		return 0
	}
	t := (v - lo) * 255 / (hi - lo)
	switch {
	case t >= 255:
		return 255
	case t > 0:
		return uint8(math.Round(t))
	}
	return 0 // also NaN, which fails every comparison
}
