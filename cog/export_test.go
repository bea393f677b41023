package cog

import (
	"fmt"

	"github.com/udftiles/udftiles/tiles"
)

// Coords are the source pixel coordinates of the centre of every pixel of a
// tile, at the overview level the tile is read from (W×H pixels).
type Coords struct {
	X, Y, ExactX, ExactY []float64
	OK                   []bool
	W, H                 int
	Lattice              bool // X and Y come from the lattice, not GDAL's rows
}

// SourceCoords returns the coordinates the grid and bilinear paths use for
// tile t at n px, and the exact ones, for tests.
func SourceCoords(r *Reader, t tiles.Tile, n int) (*Coords, error) {
	in, err := r.load()
	if err != nil {
		return nil, err
	}
	h, release, err := r.pool.Acquire(columnSlot(t), r.open)
	if err != nil {
		return nil, err
	}
	defer release(false)
	if !h.checked {
		h.direct, h.checked = newDirect(h.src, in), true
	}
	if h.direct == nil {
		return nil, fmt.Errorf("the file does not take the direct paths")
	}
	tr, err := h.direct.tr(in, in.overviewFor(h.ratio(in, t, n)))
	if err != nil {
		return nil, err
	}
	b := t.Mercator()
	c := &Coords{W: tr.w, H: tr.h, X: make([]float64, n*n), Y: make([]float64, n*n)}
	before := tr.lattices[0]
	tr.coords(b, n)
	c.Lattice = tr.lattices[0] > before
	for k := range c.X {
		c.X[k], c.Y[k] = float64(tr.gx[k]), float64(tr.gy[k])
	}
	gt := [6]float64{b.MinX, (b.MaxX - b.MinX) / float64(n), 0, b.MaxY, 0, -(b.MaxY - b.MinY) / float64(n)}
	c.ExactX, c.ExactY, c.OK = tr.exactCoords(gt, n)
	return c, nil
}

// GridTolerance is gridTolerance.
const GridTolerance = gridTolerance
