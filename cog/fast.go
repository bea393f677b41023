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
*/
import "C"

import (
	"fmt"
	"math"
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
	wkt    string     // the source CRS
	gt     [6]float64 // full-resolution geotransform
	levels [][2]int   // size of each overview, finest first
	nodata bool       // one band with a nodata value: equal samples are masked
	byte   bool       // Byte samples: read as bytes
	trs    map[int]*fastTr
}

// fastTr is one transformer of a handle, for one overview level.
type fastTr struct {
	c       C.udft_tr
	w, h    int // the level's size
	scratch []C.double
	ok      []C.int
}

// newDirect reports whether ds qualifies: a north-up geotransform, EPSG:4326
// or EPSG:3857, no alpha band, and masks that are all-valid or, for one band,
// a nodata value.
func newDirect(ds *godal.Dataset, in *info) *direct {
	gt, err := ds.GeoTransform()
	if err != nil || gt[2] != 0 || gt[4] != 0 || gt[1] <= 0 || gt[5] >= 0 {
		return nil
	}
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
	if !same {
		return nil
	}
	if src.Geographic() && (gt[0] < -180 || gt[0]+float64(in.width)*gt[1] > 180) {
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
	d := &direct{wkt: ds.Projection(), gt: gt, nodata: in.hasNoData, byte: in.dtype == godal.Byte, trs: map[int]*fastTr{}}
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
	t := &fastTr{w: w, h: h}
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
	if len(t.ok) < n {
		t.scratch = make([]C.double, 4*n)
		t.ok = make([]C.int, n)
	}
	gt := [6]C.double{C.double(b.MinX), C.double((b.MaxX - b.MinX) / float64(n)), 0,
		C.double(b.MaxY), 0, C.double(-(b.MaxY - b.MinY) / float64(n))}
	c, r, s := t.scratch[:n], t.scratch[n:2*n], t.scratch[2*n:4*n]
	if C.udft_tr_axes(&t.c, &gt[0], C.int(n), &c[0], &r[0], &s[0], &t.ok[0]) == 0 {
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
func (r *Reader) directTile(h *handle, in *info, t tiles.Tile, bands []int, n int) (*layer.Raster, error) {
	lvl := in.overviewFor(h.ratio(in, t, n))
	tr, err := h.direct.tr(in, lvl)
	if err != nil {
		return nil, err
	}
	cols, rows, err := tr.axes(t.Mercator(), n)
	if err != nil {
		return nil, err
	}
	ras := layer.NewRaster(n, n, len(bands))
	ras.DType, ras.NoData, ras.HasNoData, ras.Bounds, ras.EPSG = numpyType[in.dtype], in.nodata, in.hasNoData, t.Mercator(), 3857
	c0, c1, okc := span(cols)
	r0, r1, okr := span(rows)
	if !okc || !okr {
		return ras, nil // no pixel on the data: all transparent
	}
	ww, wh := c1-c0+1, r1-r0+1
	var bytes []uint8
	var vals []float64
	if h.direct.byte {
		bytes = make([]uint8, ww*wh)
	} else {
		vals = make([]float64, ww*wh)
	}
	all := h.src.Bands()
	for bi, b := range bands {
		band := all[b-1]
		if lvl >= 0 {
			band = band.Overviews()[lvl]
		}
		var err error
		if bytes != nil {
			err = band.Read(c0, r0, bytes, ww, wh)
		} else {
			err = band.Read(c0, r0, vals, ww, wh)
		}
		if err != nil {
			return nil, fmt.Errorf("read: %v", err)
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
	nd, first := in.nodata, ras.Bands[0]
	for i, sr := range rows {
		if sr < 0 {
			continue
		}
		m := ras.Mask[i*n : (i+1)*n : (i+1)*n]
		for j, sc := range cols {
			if sc < 0 {
				continue
			}
			if h.direct.nodata {
				if v := first[i*n+j]; v == nd || (nd != nd && v != v) {
					for _, b := range ras.Bands {
						b[i*n+j] = 0 // as the warper leaves a pixel it did not write
					}
					continue
				}
			}
			m[j] = 255
		}
	}
	return ras, nil
}
