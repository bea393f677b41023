package cog

/*
#cgo pkg-config: gdal
#include <gdal_alg.h>
*/
import "C"

import (
	"math"

	"github.com/udftiles/udftiles/tiles"
)

// The source coordinates of a tile's pixels. GDAL's transformer maps a point
// of EPSG:3857 to a source pixel exactly (PROJ), at about 0.2 µs a point;
// gdalwarp does not transform every pixel but three a row and interpolates
// between them where the middle one is within 0.125 pixel of the line
// (GDALApproxTransform), which for a 256 px tile is still 768 or more exact
// transformations and most of an uncached tile's CPU. A tile is smaller and
// smoother than that needs: its source coordinates are transformed exactly
// at the corners of a lattice of m×m cells, interpolated bilinearly in
// between, and the interpolation is checked against exact transformations at
// the centre and the middle of every edge of every cell (where a smooth
// mapping's bilinear error is largest; the edges matter for a conformal
// projection, whose two second derivatives cancel at the centre). The lattice
// is refined until every check is within gridTolerance, and a tile that
// needs more than maxCells cells a side or cells smaller than minCell
// pixels, or has a point that does not transform, goes back to GDAL's
// row-by-row approximation.

// gridTolerance is the largest distance, in source pixels along either axis,
// allowed between an interpolated and an exact coordinate at the checked
// points: a quarter of the 0.125 gdalwarp allows its own approximation.
const gridTolerance = 1.0 / 32

// Lattices tried: from firstCells×firstCells cells to at most
// maxCells×maxCells, each cell at least minCell pixels wide. A 16×16 lattice
// and its checks are 1,089 exact points, about what GDAL's rows of a 256 px
// tile take where they bend: past it the rows are cheaper.
const (
	firstCells = 4
	maxCells   = 16
	minCell    = 8
)

// A run is a run of pixels j0..j1-1 of one row whose source coordinates
// are (x, y) at j0 and step by (dx, dy) from one pixel to the next.
type run struct {
	j0, j1       int
	x, y, dx, dy float64
}

// prepare computes the source coordinates of an n×n tile over b: by the
// lattice when it holds (t.m its cells a side), else by GDAL's rows into
// t.gx, t.gy and t.gok (t.m 0). rowRuns and extent then read them.
func (t *fastTr) prepare(b tiles.Bounds, n int) {
	t.buffers(n)
	gt := [6]C.double{C.double(b.MinX), C.double((b.MaxX - b.MinX) / float64(n)), 0,
		C.double(b.MaxY), 0, C.double(-(b.MaxY - b.MinY) / float64(n))}
	C.GDALSetGenImgProjTransformerDstGeoTransform(t.c.gen, &gt[0])
	for m := firstCells; m <= maxCells && n/m >= minCell; {
		worst := t.lattice(n, m)
		if worst <= gridTolerance {
			t.lattices[0]++
			return
		}
		// The error of a bilinear interpolation falls with the square of
		// the cell's side: the next lattice is the one that should hold.
		grow := 2
		for float64(grow*grow)*gridTolerance < worst && m*grow <= maxCells && n/(m*grow) >= minCell {
			grow *= 2
		}
		m *= grow
	}
	t.lattices[1]++
	t.m = 0
	t.rows(n)
}

// rowRuns appends to s the runs of row i of the tile prepare was given:
// from its lattice cell by cell, every pixel's centre (j+0.5, i+0.5) on the
// straight line between its cell's left and right edges; else one run a
// pixel, leaving out those that did not transform.
func (t *fastTr) rowRuns(i, n int, s []run) []run {
	s = s[:0]
	m := t.m
	if m == 0 {
		for j := 0; j < n; j++ {
			if k := i*n + j; t.gok[k] != 0 {
				s = append(s, run{j0: j, j1: j + 1, x: float64(t.gx[k]), y: float64(t.gy[k])})
			}
		}
		return s
	}
	side := m + 1
	lx, ly := t.lx, t.ly
	cell := float64(n) / float64(m)
	v := (float64(i) + 0.5) / cell
	ci := min(int(v), m-1)
	fv := v - float64(ci)
	j := 0
	for cj := 0; cj < m; cj++ {
		a, c := ci*side+cj, (ci+1)*side+cj // the cell's top-left and bottom-left nodes
		lxv := float64(lx[a]) + fv*float64(lx[c]-lx[a])
		lyv := float64(ly[a]) + fv*float64(ly[c]-ly[a])
		rxv := float64(lx[a+1]) + fv*float64(lx[c+1]-lx[a+1])
		ryv := float64(ly[a+1]) + fv*float64(ly[c+1]-ly[a+1])
		end := n
		if cj < m-1 {
			// The pixels whose centre lies before the cell's right edge.
			end = min(n, int(math.Ceil(float64(cj+1)*cell-0.5)))
		}
		if end > j {
			u := (float64(j)+0.5)/cell - float64(cj)
			s = append(s, run{j0: j, j1: end, x: lxv + u*(rxv-lxv), y: lyv + u*(ryv-lyv),
				dx: (rxv - lxv) / cell, dy: (ryv - lyv) / cell})
			j = end
		}
	}
	return s
}

// extent is the box of the tile's source coordinates: those of the
// lattice's nodes (every interpolated point lies between its cell's), else
// of every pixel that transformed; ok false when none did.
func (t *fastTr) extent(n int) (x0, x1, y0, y1 float64, ok bool) {
	x0, y0, x1, y1 = math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	xs, ys := t.lx, t.ly
	if t.m > 0 {
		nodes := (t.m + 1) * (t.m + 1)
		xs, ys = xs[:nodes], ys[:nodes]
	} else {
		xs, ys = t.gx[:n*n], t.gy[:n*n]
	}
	for k := range xs {
		x, y := float64(xs[k]), float64(ys[k])
		if t.m == 0 && t.gok[k] == 0 || math.IsInf(x, 0) || math.IsInf(y, 0) || x != x || y != y {
			continue
		}
		x0, x1, y0, y1 = min(x0, x), max(x1, x), min(y0, y), max(y1, y)
	}
	return x0, x1, y0, y1, x0 <= x1
}

// lattice transforms the nodes of a lattice of m×m cells over an n×n tile
// and checks the interpolation between them: it returns the largest error
// of the checks, in source pixels along either axis (+Inf when a point does
// not transform), and sets t.m to m. The transformer's destination
// geotransform is the tile's.
func (t *fastTr) lattice(n, m int) float64 {
	side := m + 1
	nodes := side * side
	// Then the checks: m×m centres, side×m middles of horizontal edges,
	// m×side middles of vertical ones.
	total := nodes + m*m + 2*side*m
	if len(t.lok) < total {
		t.lx, t.ly, t.lz = make([]C.double, total), make([]C.double, total), make([]C.double, total)
		t.lok = make([]C.int, total)
	}
	lx, ly, lz, lok := t.lx[:total], t.ly[:total], t.lz[:total], t.lok[:total]
	cell := float64(n) / float64(m)
	k := 0
	put := func(u, v float64) {
		lx[k], ly[k], lz[k] = C.double(u*cell), C.double(v*cell), 0
		k++
	}
	for i := 0; i <= m; i++ {
		for j := 0; j <= m; j++ {
			put(float64(j), float64(i))
		}
	}
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			put(float64(j)+0.5, float64(i)+0.5)
		}
	}
	for i := 0; i <= m; i++ {
		for j := 0; j < m; j++ {
			put(float64(j)+0.5, float64(i))
		}
	}
	for i := 0; i < m; i++ {
		for j := 0; j <= m; j++ {
			put(float64(j), float64(i)+0.5)
		}
	}
	C.GDALGenImgProjTransform(t.c.gen, 1, C.int(total), &lx[0], &ly[0], &lz[0], &lok[0])
	for k, ok := range lok {
		if x, y := float64(lx[k]), float64(ly[k]); ok == 0 || math.IsInf(x, 0) || math.IsInf(y, 0) || x != x || y != y {
			return math.Inf(1)
		}
	}
	node := func(i, j int) (float64, float64) { return float64(lx[i*side+j]), float64(ly[i*side+j]) }
	worst := 0.0
	check := func(k int, x, y float64) {
		worst = max(worst, math.Abs(float64(lx[k])-x), math.Abs(float64(ly[k])-y))
	}
	k = nodes
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			x00, y00 := node(i, j)
			x01, y01 := node(i, j+1)
			x10, y10 := node(i+1, j)
			x11, y11 := node(i+1, j+1)
			check(k, (x00+x01+x10+x11)/4, (y00+y01+y10+y11)/4)
			k++
		}
	}
	for i := 0; i <= m; i++ {
		for j := 0; j < m; j++ {
			x0, y0 := node(i, j)
			x1, y1 := node(i, j+1)
			check(k, (x0+x1)/2, (y0+y1)/2)
			k++
		}
	}
	for i := 0; i < m; i++ {
		for j := 0; j <= m; j++ {
			x0, y0 := node(i, j)
			x1, y1 := node(i+1, j)
			check(k, (x0+x1)/2, (y0+y1)/2)
			k++
		}
	}
	t.m = m
	return worst
}

// exactCoords transforms the centre of every pixel of an n×n tile exactly,
// without approximation; for tests of the others.
func (t *fastTr) exactCoords(gt [6]float64, n int) (xs, ys []float64, ok []bool) {
	cgt := [6]C.double{}
	for i, v := range gt {
		cgt[i] = C.double(v)
	}
	C.GDALSetGenImgProjTransformerDstGeoTransform(t.c.gen, &cgt[0])
	x, y, z, o := make([]C.double, n*n), make([]C.double, n*n), make([]C.double, n*n), make([]C.int, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			x[i*n+j], y[i*n+j] = C.double(float64(j)+0.5), C.double(float64(i)+0.5)
		}
	}
	C.GDALGenImgProjTransform(t.c.gen, 1, C.int(n*n), &x[0], &y[0], &z[0], &o[0])
	xs, ys, ok = make([]float64, n*n), make([]float64, n*n), make([]bool, n*n)
	for k := range xs {
		xs[k], ys[k], ok[k] = float64(x[k]), float64(y[k]), o[k] != 0
	}
	return xs, ys, ok
}
