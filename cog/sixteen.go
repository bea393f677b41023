package cog

import (
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/layer"
)

// gridSixteen is gridTile's one-band loop for Int16 and UInt16 files (a
// DEM) whose tile is kept as Samples: the window read in the file's type
// and the tile written in it, two bytes a value where float64 moved eight.
// box is the window, c0, r0, c1, r1, as gridTile chose it.
func (r *Reader) gridSixteen(h *handle, in *info, ras *layer.Raster, band, n, lvl int, tr *fastTr, box [4]int) (*layer.Raster, error) {
	if in.dtype == godal.Int16 {
		return gridSixteenOf[int16](h, in, ras, band, n, lvl, tr, box)
	}
	return gridSixteenOf[uint16](h, in, ras, band, n, lvl, tr, box)
}

func gridSixteenOf[T int16 | uint16](h *handle, in *info, ras *layer.Raster, band, n, lvl int, tr *fastTr, box [4]int) (*layer.Raster, error) {
	c0, r0, c1, r1 := box[0], box[1], box[2], box[3]
	ww, wh := c1-c0+1, r1-r0+1
	win, put := window16[T](ww * wh)
	defer put()
	if err := levelBand(h, band, lvl).Read(c0, r0, win, ww, wh); err != nil {
		ras.Release()
		return nil, fmt.Errorf("read: %v", err)
	}
	// A sample equal to the nodata value (when the type holds it) is left
	// as the warper leaves it: 0 and transparent.
	nodata, nd := h.direct.nodata, T(in.nodata)
	nodata = nodata && float64(nd) == in.nodata
	// On the data: within the level and the window, as in gridTile.
	on := [4]float64{math.Max(0, float64(c0)), math.Min(float64(tr.w), float64(c1+1)),
		math.Max(0, float64(r0)), math.Min(float64(tr.h), float64(r1+1))}
	// The tile's samples in their type (little-endian machines, as
	// render's typedSamples).
	out, mask := unsafe.Slice((*T)(unsafe.Pointer(&ras.Samples[0][0])), n*n), ras.Mask[:n*n]
	for i := 0; i < n; i++ {
		tr.runs = tr.rowRuns(i, n, tr.runs)
		gatherRow(tr.runs, win, ww, c0, r0, on, out[i*n:(i+1)*n], mask[i*n:(i+1)*n], nodata, nd, false)
	}
	return ras, nil
}

// gatherRow writes a row of a one-band tile from win, the window read at
// c0, r0, ww samples wide, by the row's runs of source coordinates: the
// pixels whose coordinates fall within on (x from on[0] to on[1], y from
// on[2] to on[3]) take their sample and 255 in row (the mask), unless the
// sample is nodata (equal to nd, or NaN when ndNaN), which the warper
// leaves 0 and transparent.
func gatherRow[T int16 | uint16 | float64](runs []run, win []T, ww, c0, r0 int, on [4]float64, out []T, row []uint8, nodata bool, nd T, ndNaN bool) {
	lox, hix, loy, hiy := on[0], on[1], on[2], on[3]
	for _, sp := range runs {
		x, y := sp.x+1e-10, sp.y+1e-10
		for j := sp.j0; j < sp.j1; j, x, y = j+1, x+sp.dx, y+sp.dy {
			if !(x >= lox && x < hix && y >= loy && y < hiy) {
				continue
			}
			v := win[(int(y)-r0)*ww+int(x)-c0]
			if nodata && (v == nd || ndNaN && v != v) {
				continue
			}
			out[j], row[j] = v, 255
		}
	}
}

// Windows of 16-bit samples, pooled by size class as windowBuffer's.
var int16Windows, uint16Windows [23]sync.Pool

// window16 returns a window of n samples and the function that gives it back.
func window16[T int16 | uint16](n int) ([]T, func()) {
	pools := &int16Windows
	var zero T
	if _, ok := any(zero).(uint16); ok {
		pools = &uint16Windows
	}
	return pooledWindow[T](pools, n)
}
