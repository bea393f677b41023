package cog

/*
#cgo pkg-config: gdal
#include <gdal_alg.h>
#include <stdlib.h>

typedef struct {
	void *gen;    // GDAL's general image-to-image transformer
	void *approx; // the approximation gdalwarp wraps it in
} udft_tr;

// udft_tr_new builds the transformer gdalwarp would: source pixels from
// destination pixels, approximated along rows within 0.125 pixel.
static int udft_tr_new(const char *src_wkt, double *src_gt, const char *dst_wkt, udft_tr *t) {
	double dst_gt[6] = {0, 1, 0, 0, 0, -1};
	t->gen = GDALCreateGenImgProjTransformer3(src_wkt, src_gt, dst_wkt, dst_gt);
	if (t->gen == NULL) return 0;
	t->approx = GDALCreateApproxTransformer(GDALGenImgProjTransform, t->gen, 0.125);
	if (t->approx == NULL) {
		GDALDestroyGenImgProjTransformer(t->gen);
		return 0;
	}
	return 1;
}

static void udft_tr_free(udft_tr *t) {
	GDALDestroyApproxTransformer(t->approx);
	GDALDestroyGenImgProjTransformer(t->gen);
}

// udft_tr_axes maps an n×n destination grid with geotransform dst_gt to
// source pixels: cols[j] is the source column of destination column j, and
// rows[i] the source row of destination row i. The warper transforms each
// destination row through the approximation, pixel centres at +0.5; for a
// transformation in which source columns follow destination columns alone and
// source rows destination rows alone, every row gives the same columns and a
// row's approximated source rows all equal its first, exactly transformed.
static int udft_tr_axes(udft_tr *t, double *dst_gt, int n, double *cols, double *rows, double *scratch, int *ok) {
	double *y = scratch, *z = scratch + n;
	int i, good = 1;
	GDALSetGenImgProjTransformerDstGeoTransform(t->gen, dst_gt);
	for (i = 0; i < n; i++) { cols[i] = i + 0.5; y[i] = 0.5; z[i] = 0; }
	if (!GDALApproxTransform(t->approx, TRUE, n, cols, y, z, ok)) good = 0;
	for (i = 0; i < n && good; i++) good = ok[i];
	for (i = 0; i < n; i++) { y[i] = 0.5; rows[i] = i + 0.5; z[i] = 0; }
	if (good && !GDALGenImgProjTransform(t->gen, TRUE, n, y, rows, z, ok)) good = 0;
	for (i = 0; i < n && good; i++) good = ok[i];
	return good;
}

// udft_tr_grid maps every pixel of an n×n destination grid (the destination
// geotransform set on the transformer) to source pixels, row by row through
// the approximation, pixel centres at +0.5: the coordinates gdalwarp's
// kernel computes for a chunk one tile wide. xs, ys and ok hold n*n values, row after row.
static void udft_tr_grid(udft_tr *t, int n, double *xs, double *ys, double *z, int *ok) {
	int i, j;
	for (i = 0; i < n; i++) {
		double *x = xs + (size_t)i * n, *y = ys + (size_t)i * n;
		for (j = 0; j < n; j++) { x[j] = j + 0.5; y[j] = i + 0.5; z[j] = 0; }
		if (!GDALApproxTransform(t->approx, TRUE, n, x, y, z, ok + (size_t)i * n)) {
			for (j = 0; j < n; j++) ok[(size_t)i * n + j] = 0;
		}
	}
}

// udft_tr_edges transforms the edges of an n×n destination grid (21 points a
// side, pixel corners, as gdalwarp samples a chunk to size its source
// window) and returns the extent of the source pixels they reach in box
// (min x, max x, min y, max y); 0 when a point fails.
static int udft_tr_edges(udft_tr *t, int n, double *box) {
	double x[84], y[84], z[84];
	int ok[84], i, s;
	for (s = 0; s < 21; s++) {
		double r = s / 20.0 * n;
		x[s] = r; y[s] = 0;
		x[21 + s] = r; y[21 + s] = n;
		x[42 + s] = 0; y[42 + s] = r;
		x[63 + s] = n; y[63 + s] = r;
	}
	for (i = 0; i < 84; i++) z[i] = 0;
	if (!GDALGenImgProjTransform(t->gen, TRUE, 84, x, y, z, ok)) return 0;
	box[0] = box[2] = 1e300; box[1] = box[3] = -1e300;
	for (i = 0; i < 84; i++) {
		if (!ok[i]) return 0;
		if (x[i] < box[0]) box[0] = x[i];
		if (x[i] > box[1]) box[1] = x[i];
		if (y[i] < box[2]) box[2] = y[i];
		if (y[i] > box[3]) box[3] = y[i];
	}
	return 1;
}
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"unsafe"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// The direct path. When the source is north-up in EPSG:4326 or EPSG:3857, a
// tile's source columns depend on its columns alone and its source rows on
// its rows alone, so nearest-neighbour resampling needs the source column of
// each of the tile's 256 columns and the source row of each of its 256 rows,
// not a transformation per pixel. Those are computed by GDAL's own
// transformer, as gdalwarp sets it up, and the pixels are then gathered from
// one window read of the overview gdalwarp would choose: the same values as
// the warp, without the warped dataset, its block cache and its buffers.

// direct is what the direct path needs to know of a dataset; nil when the
// dataset does not qualify.
type direct struct {
	// separable: north-up in EPSG:4326 or EPSG:3857, where a tile's source
	// columns follow its columns alone and its rows its rows alone (axes);
	// otherwise every pixel is transformed (grid), as the warper does.
	separable bool
	wkt       string     // the source CRS
	gt        [6]float64 // full-resolution geotransform
	levels    [][2]int   // size of each overview, finest first
	nodata    bool       // one band with a nodata value: equal samples are masked
	byte      bool       // Byte samples: read as bytes
	trs       map[int]*fastTr
}

// fastTr is one transformer of a handle, for one overview level.
type fastTr struct {
	c         C.udft_tr
	w, h      int  // the level's size
	separable bool // as its direct's
	scratch   []C.double
	ok        []C.int
	// Source coordinates of every pixel of a tile (coords; prepare when it
	// falls back to GDAL's rows).
	gx, gy, gz []C.double
	gok        []C.int
	// The lattice's points (lattice.go), and how many tiles' coordinates
	// were interpolated from one and how many fell back to GDAL's rows.
	lx, ly, lz []C.double
	lok        []C.int
	lattices   [2]int64
	m          int   // cells a side of the lattice prepare built; 0: GDAL's rows
	runs       []run // rowRuns' buffer
}

// newDirect reports whether ds qualifies: a north-up geotransform, EPSG:4326
// or EPSG:3857, no alpha band, and masks that are all-valid or, for one band,
// a nodata value.
func newDirect(ds *godal.Dataset, in *info) *direct {
	gt, err := ds.GeoTransform()
	if err != nil || ds.Projection() == "" {
		return nil
	}
	northUp := gt[2] == 0 && gt[4] == 0 && gt[1] > 0 && gt[5] < 0
	src := ds.SpatialRef()
	defer src.Close()
	same := false
	for _, code := range []int{4326, 3857} {
		sr, err := godal.NewSpatialRefFromEPSG(code)
		if err != nil {
			return nil
		}
		same = same || src.IsSame(sr)
		sr.Close()
	}
	if src.Geographic() && (!northUp || gt[0] < -180 || gt[0]+float64(in.width)*gt[1] > 180) {
		return nil // longitudes past the antimeridian are wrapped by the warper
	}
	for _, b := range ds.Bands() {
		if b.ColorInterp() == godal.CIAlpha {
			return nil
		}
		switch f := b.MaskFlags(); {
		case f == 0x01: // GMF_ALL_VALID
		case f == 0x08 && in.hasNoData && in.bands == 1: // GMF_NODATA
		default:
			return nil
		}
	}
	if in.hasNoData && in.bands != 1 {
		return nil // -srcnodata over several bands: the warper's unified rule
	}
	d := &direct{separable: same && northUp, wkt: ds.Projection(), gt: gt, nodata: in.hasNoData, byte: in.dtype == godal.Byte, trs: map[int]*fastTr{}}
	for _, o := range ds.Bands()[0].Overviews() {
		st := o.Structure()
		d.levels = append(d.levels, [2]int{st.SizeX, st.SizeY})
	}
	if len(d.levels) != len(in.overviews) {
		return nil
	}
	return d
}

// tr returns the handle's transformer for overview lvl (-1: full resolution).
func (d *direct) tr(in *info, lvl int) (*fastTr, error) {
	if t, ok := d.trs[lvl]; ok {
		return t, nil
	}
	gt, w, h := d.gt, in.width, in.height
	if lvl >= 0 {
		// As GDAL's overview dataset scales the geotransform.
		w, h = d.levels[lvl][0], d.levels[lvl][1]
		rx, ry := float64(in.width)/float64(w), float64(in.height)/float64(h)
		gt[1] *= rx
		gt[2] *= ry
		gt[4] *= rx
		gt[5] *= ry
	}
	cgt := (*[6]C.double)(C.malloc(C.size_t(6 * C.sizeof_double)))
	defer C.free(unsafe.Pointer(cgt))
	for i, v := range gt {
		cgt[i] = C.double(v)
	}
	srcWKT, dstWKT := C.CString(d.wkt), C.CString(webMercatorWKT())
	defer C.free(unsafe.Pointer(srcWKT))
	defer C.free(unsafe.Pointer(dstWKT))
	t := &fastTr{w: w, h: h, separable: d.separable}
	if C.udft_tr_new(srcWKT, &cgt[0], dstWKT, &t.c) == 0 {
		return nil, fmt.Errorf("cannot transform the file's coordinates to EPSG:3857")
	}
	d.trs[lvl] = t
	return t, nil
}

func (d *direct) Close() {
	for k, t := range d.trs {
		C.udft_tr_free(&t.c)
		delete(d.trs, k)
	}
}

// axes returns the source column of each tile column and the source row of
// each tile row at the transformer's level, -1 where it is off the data.
func (t *fastTr) axes(b tiles.Bounds, n int) (cols, rows []int, err error) {
	c, r, ok := t.axesAt(b, n)
	if !ok {
		return nil, nil, fmt.Errorf("cannot transform the tile's coordinates")
	}
	// The warper's nearest neighbour: floor(x + 1e-10), inside the raster.
	pick := func(v C.double, size int) int {
		f := math.Floor(float64(v) + 1e-10)
		if f < 0 || f >= float64(size) {
			return -1
		}
		return int(f)
	}
	cols, rows = make([]int, n), make([]int, n)
	for i := 0; i < n; i++ {
		cols[i] = pick(c[i], t.w)
		rows[i] = pick(r[i], t.h)
	}
	return cols, rows, nil
}

// axesAt returns the source column (c) of the centre of each tile column
// and the source row (r) of each tile row, for a separable source; the
// slices are the transformer's, valid until its next use.
func (t *fastTr) axesAt(b tiles.Bounds, n int) (c, r []C.double, ok bool) {
	if len(t.ok) < n {
		t.scratch = make([]C.double, 4*n)
		t.ok = make([]C.int, n)
	}
	gt := [6]C.double{C.double(b.MinX), C.double((b.MaxX - b.MinX) / float64(n)), 0,
		C.double(b.MaxY), 0, C.double(-(b.MaxY - b.MinY) / float64(n))}
	c, r, s := t.scratch[:n], t.scratch[n:2*n], t.scratch[2*n:4*n]
	return c, r, C.udft_tr_axes(&t.c, &gt[0], C.int(n), &c[0], &r[0], &s[0], &t.ok[0]) != 0
}

// span is the first and last index of a not -1, or ok false.
func span(a []int) (lo, hi int, ok bool) {
	lo, hi = math.MaxInt, -1
	for _, v := range a {
		if v >= 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return lo, hi, hi >= 0
}

// directTile reads a tile by the direct path (nearest neighbour).
// With compact, a Byte file's tile is Samples (see tileRaster).
func (r *Reader) directTile(h *handle, in *info, t tiles.Tile, bands []int, n int, compact bool) (*layer.Raster, error) {
	lvl := in.overviewFor(h.ratio(in, t, n))
	tr, err := h.direct.tr(in, lvl)
	if err != nil {
		return nil, err
	}
	if !h.direct.separable {
		return r.gridTile(h, in, t, bands, n, lvl, tr, compact)
	}
	cols, rows, err := tr.axes(t.Mercator(), n)
	if err != nil {
		return nil, err
	}
	ras := tileRaster(in, t, n, len(bands), compact && h.direct.byte)
	c0, c1, okc := span(cols)
	r0, r1, okr := span(rows)
	if !okc || !okr {
		return ras, nil // no pixel on the data: all transparent
	}
	ww, wh := c1-c0+1, r1-r0+1
	bytes, vals, put := windowBuffer(h.direct.byte, ww*wh)
	defer put()
	for bi, b := range bands {
		if err := readWindow(h, b, lvl, c0, r0, ww, wh, bytes, vals); err != nil {
			return nil, fmt.Errorf("read: %v", err)
		}
		if ras.Samples != nil { // bytes as they are
			out := ras.Samples[bi]
			for i, sr := range rows {
				if sr < 0 {
					continue
				}
				line := bytes[(sr-r0)*ww : (sr-r0+1)*ww]
				o := out[i*n : (i+1)*n : (i+1)*n]
				for j, sc := range cols {
					if sc >= 0 {
						o[j] = line[sc-c0]
					}
				}
			}
			continue
		}
		out := ras.Bands[bi]
		for i, sr := range rows {
			if sr < 0 {
				continue
			}
			line := (sr - r0) * ww
			o := out[i*n : (i+1)*n : (i+1)*n]
			for j, sc := range cols {
				if sc < 0 {
					continue
				}
				if bytes != nil {
					o[j] = float64(bytes[line+sc-c0])
				} else {
					o[j] = vals[line+sc-c0]
				}
			}
		}
	}
	// The mask: on the data and, for a band with nodata, not nodata (every
	// band read is then that one band).
	nd := in.nodata
	var onData []uint8 // without nodata, every row's mask on the data is this
	if !h.direct.nodata {
		onData = make([]uint8, n)
		for j, sc := range cols {
			if sc >= 0 {
				onData[j] = 255
			}
		}
	}
	for i, sr := range rows {
		if sr < 0 {
			continue
		}
		m := ras.Mask[i*n : (i+1)*n : (i+1)*n]
		if onData != nil {
			copy(m, onData)
			continue
		}
		for j, sc := range cols {
			if sc < 0 {
				continue
			}
			if h.direct.nodata {
				if v := firstValue(ras, i*n+j); v == nd || (nd != nd && v != v) {
					zeroPixel(ras, i*n+j) // as the warper leaves a pixel it did not write
					continue
				}
			}
			m[j] = 255
		}
	}
	return ras, nil
}

// firstValue is the first band's value at pixel k.
func firstValue(ras *layer.Raster, k int) float64 {
	if ras.Samples == nil {
		return ras.Bands[0][k]
	}
	s := ras.Samples[0]
	switch ras.DType {
	case "int16":
		return float64(int16(binary.LittleEndian.Uint16(s[2*k:])))
	case "uint16":
		return float64(binary.LittleEndian.Uint16(s[2*k:]))
	}
	return float64(s[k])
}

// zeroPixel sets pixel k of every band to 0.
func zeroPixel(ras *layer.Raster, k int) {
	for _, b := range ras.Bands {
		b[k] = 0
	}
	size := layer.SampleSize[ras.DType]
	for _, b := range ras.Samples {
		clear(b[k*size : (k+1)*size])
	}
}

// sixteen reports the one-band Int16 and UInt16 files the grid path reads
// as such (a DEM).
func sixteen(in *info, nb int) bool {
	return nb == 1 && (in.dtype == godal.Int16 || in.dtype == godal.UInt16)
}

// buffers sizes the grid path's buffers for an n×n tile.
func (t *fastTr) buffers(n int) {
	if nn := n * n; len(t.gok) < nn {
		t.gx, t.gy, t.gz = make([]C.double, nn), make([]C.double, nn), make([]C.double, n)
		t.gok = make([]C.int, nn)
	}
}

// tileRaster is a pooled raster of n×n pixels and nb bands for tile t of
// the file described by in: Samples of the file's type when compact (a tile
// only encoded: a byte or two a value, not eight), else float64 Bands.
func tileRaster(in *info, t tiles.Tile, n, nb int, compact bool) *layer.Raster {
	var ras *layer.Raster
	if compact {
		ras = layer.NewSampleRaster(n, n, nb, numpyType[in.dtype])
	} else {
		ras = layer.NewRaster(n, n, nb)
	}
	ras.DType, ras.NoData, ras.HasNoData, ras.Bounds, ras.EPSG = numpyType[in.dtype], in.nodata, in.hasNoData, t.Mercator(), 3857
	return ras
}

// readWindow reads the window c0, r0, w×h of band b (1-based) at overview
// lvl (-1: full resolution) into bytes, or vals when bytes is nil.
func readWindow(h *handle, b, lvl, c0, r0, w, hgt int, bytes []uint8, vals []float64) error {
	band := levelBand(h, b, lvl)
	var err error
	if bytes != nil {
		err = band.Read(c0, r0, bytes, w, hgt)
	} else {
		err = band.Read(c0, r0, vals, w, hgt)
	}
	return err
}

// levelBand is band b (1-based) of h's file at overview lvl (-1: full
// resolution).
func levelBand(h *handle, b, lvl int) godal.Band {
	band := h.src.Bands()[b-1]
	if lvl >= 0 {
		band = band.Overviews()[lvl]
	}
	return band
}

// Window buffers are reused across reads, by size class (powers of two up
// to maxPooledWindow samples; larger windows are allocated each time): a
// tile's window is hundreds of kilobytes, which the GC would otherwise
// collect hundreds of times a second under load.
const maxPooledWindow = 1 << 22

var (
	byteWindows  [23]sync.Pool // *[]uint8 of cap 1<<class
	floatWindows [23]sync.Pool // *[]float64 of cap 1<<class
)

// windowBuffer returns a window of n samples, bytes for a Byte file else
// float64s (the other nil), and the function that gives it back. Its
// contents are undefined: readWindow overwrites all of it.
func windowBuffer(byteFile bool, n int) ([]uint8, []float64, func()) {
	if byteFile {
		b, put := pooledWindow[uint8](&byteWindows, n)
		return b, nil, put
	}
	f, put := pooledWindow[float64](&floatWindows, n)
	return nil, f, put
}

// pooledWindow returns a window of n samples of T from pools (those of T,
// by size class), and the function that gives it back.
func pooledWindow[T any](pools *[23]sync.Pool, n int) ([]T, func()) {
	if n > maxPooledWindow {
		return make([]T, n), func() {}
	}
	class := bits.Len(uint(max(n, 1) - 1))
	p, _ := pools[class].Get().(*[]T)
	if p == nil {
		b := make([]T, 1<<class)
		p = &b
	}
	return (*p)[:n], func() { pools[class].Put(p) }
}

// errWideWindow sends a tile whose source window is too large for one read
// to the warp path.
var errWideWindow = errors.New("the tile's source window is too large for the direct path")

// maxWindow bounds the pixels of the grid path's window read.
const maxWindow = 4096 * 4096

// coords fills t.gx, t.gy and t.gok with the source pixel coordinates of the
// centre of every pixel of an n×n tile over b, row after row (ok 0: the
// point does not transform).
func (t *fastTr) coords(b tiles.Bounds, n int) {
	t.buffers(n)
	if t.separable {
		// Columns and rows apart, exactly as the warper computes them.
		if c, r, ok := t.axesAt(b, n); ok {
			for i := 0; i < n; i++ {
				copy(t.gx[i*n:(i+1)*n], c)
				gy, gok := t.gy[i*n:(i+1)*n], t.gok[i*n:(i+1)*n]
				for j := range gy {
					gy[j], gok[j] = r[i], 1
				}
			}
			return
		}
	}
	t.prepare(b, n)
	if t.m == 0 {
		return // GDAL's rows, already in place
	}
	for i := 0; i < n; i++ {
		t.runs = t.rowRuns(i, n, t.runs)
		gx, gy, gok := t.gx[i*n:(i+1)*n], t.gy[i*n:(i+1)*n], t.gok[i*n:(i+1)*n]
		for _, sp := range t.runs {
			x, y := sp.x, sp.y
			for j := sp.j0; j < sp.j1; j++ {
				gx[j], gy[j], gok[j] = C.double(x), C.double(y), 1
				x += sp.dx
				y += sp.dy
			}
		}
	}
}

// rows fills t.gx, t.gy and t.gok as gdalwarp computes them: row by row
// through GDAL's approximation. The transformer's destination geotransform
// is the tile's.
func (t *fastTr) rows(n int) {
	C.udft_tr_grid(&t.c, C.int(n), &t.gx[0], &t.gy[0], &t.gz[0], &t.gok[0])
}

// gridTile reads a tile of a source that is not separable (another CRS, a
// rotated geotransform) by nearest neighbour: every pixel's source pixel
// from its coordinates (the lattice's, else the warper's), gathered from one
// window read of the level in one pass.
func (r *Reader) gridTile(h *handle, in *info, t tiles.Tile, bands []int, n, lvl int, tr *fastTr, compact bool) (*layer.Raster, error) {
	tr.prepare(t.Mercator(), n)
	nb := len(bands)
	ras := tileRaster(in, t, n, nb, compact && (h.direct.byte || sixteen(in, nb)))
	x0, x1, y0, y1, ok := tr.extent(n)
	// The warper's nearest neighbour is floor(x + 1e-10), on the data when
	// 0 <= x < width. The window holds every pixel the box reaches, with a
	// pixel more each side for rounding in the runs' steps.
	w, hgt := float64(tr.w), float64(tr.h)
	x0, x1, y0, y1 = x0+1e-10, x1+1e-10, y0+1e-10, y1+1e-10
	if !ok || x1 < 0 || y1 < 0 || x0 >= w || y0 >= hgt || x0 != x0 || y0 != y0 {
		return ras, nil // no pixel on the data: all transparent
	}
	c0, c1 := max(0, int(math.Floor(x0))-1), min(tr.w-1, int(math.Floor(min(x1, w)))+1)
	r0, r1 := max(0, int(math.Floor(y0))-1), min(tr.h-1, int(math.Floor(min(y1, hgt)))+1)
	ww, wh := c1-c0+1, r1-r0+1
	if ww*wh > maxWindow {
		ras.Release()
		return nil, errWideWindow
	}
	if ras.Samples != nil && !h.direct.byte {
		// One band of 16-bit integers (a DEM), read and kept as such.
		return r.gridSixteen(h, in, ras, bands[0], n, lvl, tr, [4]int{c0, r0, c1, r1})
	}
	wins8, wins := make([][]uint8, nb), make([][]float64, nb)
	for bi, b := range bands {
		b8, bf, put := windowBuffer(h.direct.byte, ww*wh)
		defer put()
		wins8[bi], wins[bi] = b8, bf
		if err := readWindow(h, b, lvl, c0, r0, ww, wh, b8, bf); err != nil {
			ras.Release()
			return nil, fmt.Errorf("read: %v", err)
		}
	}
	nodata, nd := h.direct.nodata, in.nodata
	mask := ras.Mask[:n*n]
	fc0, fr0 := float64(c0), float64(r0)
	// A pixel is on the data when its coordinates are within the level and
	// the window (the same, but for rounding).
	lox, hix := math.Max(0, fc0), math.Min(w, float64(c1+1))
	loy, hiy := math.Max(0, fr0), math.Min(hgt, float64(r1+1))
	for i := 0; i < n; i++ {
		tr.runs = tr.rowRuns(i, n, tr.runs)
		if nb == 1 && wins[0] != nil {
			// One band of other samples than bytes: its own loop, a sample
			// loaded and stored once.
			gatherRow(tr.runs, wins[0], ww, c0, r0, [4]float64{lox, hix, loy, hiy},
				ras.Bands[0][i*n:(i+1)*n], mask[i*n:(i+1)*n], nodata, nd, nd != nd)
			continue
		}
		for _, sp := range tr.runs {
			x, y := sp.x+1e-10, sp.y+1e-10
			for j := sp.j0; j < sp.j1; j, x, y = j+1, x+sp.dx, y+sp.dy {
				if !(x >= lox && x < hix && y >= loy && y < hiy) {
					continue
				}
				at := (int(y)-r0)*ww + int(x) - c0
				k := i*n + j
				switch {
				case ras.Samples != nil:
					for bi, win := range wins8 {
						ras.Samples[bi][k] = win[at]
					}
				case wins8[0] != nil:
					for bi, win := range wins8 {
						ras.Bands[bi][k] = float64(win[at])
					}
				default:
					for bi, win := range wins {
						ras.Bands[bi][k] = win[at]
					}
				}
				if nodata {
					// One band: a nodata sample leaves the pixel as the
					// warper does, 0 and transparent.
					if v := firstValue(ras, k); v == nd || (nd != nd && v != v) {
						zeroPixel(ras, k)
						continue
					}
				}
				mask[k] = 255
			}
		}
	}
	return ras, nil
}

// warpScale is gdalwarp's kernel scale along one axis for a tile of n
// pixels whose source window spans raw pixels: destination pixels per source
// pixel, 1 when the tile does not shrink the source, and snapped to 1/k when
// within 0.05 of it.
func warpScale(n int, raw float64) float64 {
	if raw <= float64(n) {
		return 1
	}
	s := float64(n) / raw
	if k := math.Floor(1/s + 0.5); math.Abs(1/s-k) < 0.05 {
		s = 1 / k
	}
	return s
}

// taps are the source pixels and weights of one destination pixel along one
// axis.
type taps struct {
	first int
	w     [8]float64
	n     int
}

// trim drops the taps of weight 0 at either end (those off the data among
// them), so that the first lies on the data.
func (tp *taps) trim() {
	k := 0
	for k < tp.n && tp.w[k] == 0 {
		k++
	}
	if k > 0 {
		copy(tp.w[:], tp.w[k:tp.n])
		tp.first += k
		tp.n -= k
	}
	for tp.n > 0 && tp.w[tp.n-1] == 0 {
		tp.n--
	}
}

// bilinearTaps returns the taps of a sample at source coordinate c (pixel
// centres at +0.5; c ≥ 0) with kernel scale s (inv = 1/s): a triangle of
// radius inv pixels (1 when s ≥ 0.95 on both axes: the four-sample
// formula), at most r taps either side, those of weight 0 and those off
// 0..size-1 left out.
func bilinearTaps(c, s, inv float64, r, size int, tp *taps) {
	c -= 0.5
	i0 := int(c+1) - 1 // floor, for c > -1
	d := c - float64(i0)
	lo, hi := int(d-inv+r8)-r8+1, int(d+inv+r8)-r8 // |i-d| < inv
	if float64(hi) == d+inv {
		hi--
	}
	lo, hi = max(lo, -r, -i0), min(hi, r, size-1-i0)
	tp.first, tp.n = i0+lo, 0
	for i := lo; i <= hi; i++ {
		tp.w[tp.n] = 1 - math.Abs((float64(i)-d)*s)
		tp.n++
	}
}

// r8 shifts values above 0 so that int() floors them.
const r8 = 8

// bilinearTile reads a tile by bilinear resampling, as gdalwarp's kernel
// computes it: every pixel's source coordinates from the warper's
// transformation, a triangle kernel widened by the tile's scale, samples off
// the data left out and the weights of those kept normalised; values rounded
// to the file's type.
func (r *Reader) bilinearTile(h *handle, in *info, t tiles.Tile, bands []int, n, lvl int, compact bool) (*layer.Raster, error) {
	tr, err := h.direct.tr(in, lvl)
	if err != nil {
		return nil, err
	}
	b := t.Mercator()
	gt := [6]C.double{C.double(b.MinX), C.double((b.MaxX - b.MinX) / float64(n)), 0,
		C.double(b.MaxY), 0, C.double(-(b.MaxY - b.MinY) / float64(n))}
	var box [4]C.double
	C.GDALSetGenImgProjTransformerDstGeoTransform(tr.c.gen, &gt[0])
	if C.udft_tr_edges(&tr.c, C.int(n), &box[0]) == 0 {
		return nil, errWideWindow
	}
	sxs, sys := warpScale(n, float64(box[1]-box[0])), warpScale(n, float64(box[3]-box[2]))
	if sxs >= 0.95 && sys >= 0.95 {
		sxs, sys = 1, 1
	}
	if sxs < 1.0/3 || sys < 1.0/3 {
		return nil, errWideWindow
	}
	nn := n * n
	tr.coords(b, n)
	ras := tileRaster(in, t, n, len(bands), compact && h.direct.byte)
	out8 := ras.Samples // uint8 values (clamped to 0..255 below) when not nil
	// The window: every pixel whose centre falls on the data, and its taps.
	c0, r0, c1, r1 := math.MaxInt, math.MaxInt, -1, -1
	w, hgt := float64(tr.w), float64(tr.h)
	for k := 0; k < nn; k++ {
		x, y := float64(tr.gx[k]), float64(tr.gy[k])
		if tr.gok[k] == 0 || !(x >= 0 && x < w && y >= 0 && y < hgt) {
			tr.gok[k] = 0
			continue
		}
		c0, c1 = min(c0, int(x)), max(c1, int(x))
		r0, r1 = min(r0, int(y)), max(r1, int(y))
	}
	if c1 < 0 {
		return ras, nil
	}
	c0, r0 = max(0, c0-4), max(0, r0-4)
	c1, r1 = min(tr.w-1, c1+4), min(tr.h-1, r1+4)
	ww, wh := c1-c0+1, r1-r0+1
	if ww*wh > maxWindow {
		ras.Release()
		return nil, errWideWindow
	}
	// Byte files are read as bytes (a quarter of the copying), others as
	// float64.
	var win8 [][]uint8
	var win [][]float64
	for _, bn := range bands {
		b8, bf, put := windowBuffer(h.direct.byte, ww*wh)
		defer put()
		if b8 != nil {
			win8 = append(win8, b8)
		} else {
			win = append(win, bf)
		}
		if err := readWindow(h, bn, lvl, c0, r0, ww, wh, b8, bf); err != nil {
			ras.Release()
			return nil, fmt.Errorf("read: %v", err)
		}
	}
	lo, hi, isInt := typeRange(in.dtype)
	four := sxs == 1 && sys == 1
	radius := func(s float64) int { // taps either side: ceil(1/s), at most 3
		if s >= 1 {
			return 1
		}
		return min(3, int(math.Ceil(1/s)))
	}
	rx, ry := radius(sxs), radius(sys)
	var tx, ty taps
	for k := 0; k < nn; k++ {
		if tr.gok[k] == 0 {
			continue
		}
		if four {
			// The four-sample formula: taps at floor(c-0.5) and the next.
			x, y := float64(tr.gx[k])-0.5, float64(tr.gy[k])-0.5
			ix, iy := int(math.Floor(x)), int(math.Floor(y))
			dx, dy := x-float64(ix), y-float64(iy)
			if win8 != nil && ix >= 0 && ix+1 < tr.w && iy >= 0 && iy+1 < tr.h {
				// All four taps on the data, bytes: the kernel written out,
				// in convolve's order of operations (the same values).
				wx0, wx1, wy0, wy1 := 1-dx, dx, 1-dy, dy
				sum := (wx0 + wx1) * (wy0 + wy1)
				at := (iy-r0)*ww - c0 + ix
				for bi, src := range win8 {
					s := src[at : at+ww+2]
					v := (wy0*(wx0*float64(s[0])+wx1*float64(s[1])) + wy1*(wx0*float64(s[ww])+wx1*float64(s[ww+1]))) / sum
					v = math.Floor(v + 0.5) // rounded half up, clamped
					if v < lo {
						v = lo
					} else if v > hi {
						v = hi
					}
					if out8 != nil {
						out8[bi][k] = uint8(v)
					} else {
						ras.Bands[bi][k] = v
					}
				}
				ras.Mask[k] = 255
				continue
			}
			tx.first, tx.n, tx.w[0], tx.w[1] = ix, 2, 1-dx, dx
			ty.first, ty.n, ty.w[0], ty.w[1] = iy, 2, 1-dy, dy
			if ix < 0 {
				tx.w[0] = 0
			}
			if ix+1 >= tr.w {
				tx.w[1] = 0
			}
			if iy < 0 {
				ty.w[0] = 0
			}
			if iy+1 >= tr.h {
				ty.w[1] = 0
			}
		} else {
			bilinearTaps(float64(tr.gx[k]), sxs, 1/sxs, rx, tr.w, &tx)
			bilinearTaps(float64(tr.gy[k]), sys, 1/sys, ry, tr.h, &ty)
		}
		tx.trim()
		ty.trim()
		var sx, sy float64
		for i := 0; i < tx.n; i++ {
			sx += tx.w[i]
		}
		for j := 0; j < ty.n; j++ {
			sy += ty.w[j]
		}
		sum := sx * sy
		if sum <= 0 {
			continue
		}
		at := (ty.first-r0)*ww - c0 + tx.first
		for bi := range bands {
			var v float64
			if win8 != nil {
				v = convolve(win8[bi][at:], ww, &tx, &ty) / sum
			} else {
				v = convolve(win[bi][at:], ww, &tx, &ty) / sum
			}
			if isInt {
				// As the warper writes integers: rounded half up, clamped.
				v = math.Floor(v + 0.5)
				if v < lo {
					v = lo
				} else if v > hi {
					v = hi
				}
			} else if in.dtype == godal.Float32 {
				v = float64(float32(v))
			}
			if out8 != nil {
				out8[bi][k] = uint8(v)
			} else {
				ras.Bands[bi][k] = v
			}
		}
		ras.Mask[k] = 255
	}
	return ras, nil
}

// convolve sums the window's samples under the taps; src begins at the
// first tap, rows of stride samples.
func convolve[T uint8 | float64](src []T, stride int, tx, ty *taps) float64 {
	var v float64
	for j := 0; j < ty.n; j++ {
		wy := ty.w[j]
		if wy == 0 {
			continue
		}
		row := src[j*stride : j*stride+tx.n]
		w := tx.w[:len(row)]
		var acc float64
		for i, s := range row {
			acc += w[i] * float64(s)
		}
		v += wy * acc
	}
	return v
}

// typeRange is the range of an integer type (isInt false for others).
func typeRange(dt godal.DataType) (lo, hi float64, isInt bool) {
	switch dt {
	case godal.Byte:
		return 0, 255, true
	case godal.UInt16:
		return 0, 65535, true
	case godal.Int16:
		return -32768, 32767, true
	case godal.UInt32:
		return 0, 4294967295, true
	case godal.Int32:
		return -2147483648, 2147483647, true
	}
	return 0, 0, false
}
