package cog

import (
	"fmt"
	"math"
	"strconv"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/algorithm"
	"github.com/udftiles/udftiles/bandmath"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// Crops and statistics of layers made of several files (a mosaic's files,
// a STAC item's assets): each file is warped into one target grid — a CRS,
// an extent in it and a size — and the grids are combined (pixel_selection)
// or stacked (assets). A file is warped only over the part of the grid its
// own bounds cover, on the grid's pixels.

// target is the grid of such a read.
type target struct {
	srs  *godal.SpatialRef
	wkt  string
	epsg int
	ext  [4]float64 // minx, miny, maxx, maxy in srs
	w, h int
}

// Close releases the grid's CRS.
func (t *target) Close() { t.srs.Close() }

// newTarget is a grid in EPSG:epsg over the lon/lat box b (its edges
// densified); its size is set by size.
func newTarget(epsg int, b tiles.Bounds) (*target, error) {
	if b.MinX >= b.MaxX || b.MinY >= b.MaxY {
		return nil, layer.Errorf(layer.BadRequest, "bounds %g,%g,%g,%g: want minx < maxx and miny < maxy", b.MinX, b.MinY, b.MaxX, b.MaxY)
	}
	srs, err := godal.NewSpatialRefFromEPSG(epsg)
	if err != nil {
		return nil, layer.Errorf(layer.BadRequest, "EPSG:%d is not a CRS PROJ knows", epsg)
	}
	ext, err := lonLatTo(srs, b)
	if err != nil {
		srs.Close()
		return nil, layer.Errorf(layer.BadRequest, "the area cannot be projected to EPSG:%d: %v", epsg, err)
	}
	return newTargetIn(srs, epsg, ext)
}

// newTargetIn is a grid in srs (which it owns) over ext.
func newTargetIn(srs *godal.SpatialRef, epsg int, ext [4]float64) (*target, error) {
	if !(ext[2] > ext[0] && ext[3] > ext[1]) {
		srs.Close()
		return nil, layer.Errorf(layer.BadRequest, "the area is empty in EPSG:%d", epsg)
	}
	wkt, err := srs.WKT()
	if err != nil {
		srs.Close()
		return nil, err
	}
	return &target{srs: srs, wkt: wkt, epsg: epsg, ext: ext}, nil
}

// ownTarget is a grid in the file's own CRS over its bounds (a preview).
func (r *Reader) ownTarget() (*target, error) {
	var t *target
	err := r.withHandle(func(h *handle, in *info) error {
		srs := h.src.SpatialRef()
		epsg, err := epsgOf(srs)
		if err != nil {
			srs.Close()
			return layer.Errorf(layer.BadRequest, "the file's CRS has no EPSG code: give dst_crs=")
		}
		ext, err := h.src.Bounds()
		if err != nil {
			srs.Close()
			return err
		}
		t, err = newTargetIn(srs, epsg, ext)
		return err
	})
	return t, err
}

// boundsIn is the envelope of the file in srs, its edges densified (21
// points each): a curved edge reaches past its corners.
func boundsIn(ds *godal.Dataset, srs *godal.SpatialRef) ([4]float64, error) {
	gt, err := ds.GeoTransform()
	if err != nil {
		return [4]float64{}, err
	}
	st := ds.Structure()
	src := ds.SpatialRef()
	defer src.Close()
	tr, err := godal.NewTransform(src, srs)
	if err != nil {
		return [4]float64{}, err
	}
	defer tr.Close()
	// The edges in pixels, then in the file's CRS, then in srs.
	xs, ys := edgePoints(0, 0, float64(st.SizeX), float64(st.SizeY))
	for i := range xs {
		c, r := xs[i], ys[i]
		xs[i], ys[i] = gt[0]+c*gt[1]+r*gt[2], gt[3]+c*gt[4]+r*gt[5]
	}
	return envelope(tr, xs, ys)
}

// resolutionIn is the size of one of the file's pixels in the units of srs:
// its bounds there over its width and height.
func (r *Reader) resolutionIn(srs *godal.SpatialRef) (rx, ry float64, err error) {
	err = r.withHandle(func(h *handle, in *info) error {
		b, err := boundsIn(h.src, srs)
		if err != nil {
			return layer.Errorf(layer.BadRequest, "the file cannot be projected to the crop's CRS: %v", err)
		}
		rx, ry = (b[2]-b[0])/float64(in.width), (b[3]-b[1])/float64(in.height)
		return nil
	})
	return rx, ry, err
}

// size sets the grid's size: width and height as given (one alone keeps the
// extent's proportions), else the longest side at the resolution rx, ry,
// at most co.maxSize pixels.
func (t *target) size(co cropOptions, rx, ry float64) error {
	ew, eh := t.ext[2]-t.ext[0], t.ext[3]-t.ext[1]
	w, h := co.width, co.height
	switch {
	case w > 0 && h > 0:
	case w > 0:
		h = max(1, int(math.Round(float64(w)*eh/ew)))
	case h > 0:
		w = max(1, int(math.Round(float64(h)*ew/eh)))
	default:
		nw, nh := 1.0, 1.0
		if rx > 0 && ry > 0 {
			nw, nh = math.Ceil(ew/rx-1e-3), math.Ceil(eh/ry-1e-3) // a thousandth of a pixel is rounding
		}
		long := min(float64(co.maxSize), max(nw, nh))
		if ew >= eh {
			w, h = int(long), max(1, int(math.Ceil(long*eh/ew-1e-3)))
		} else {
			w, h = max(1, int(math.Ceil(long*ew/eh-1e-3))), int(long)
		}
	}
	if w > MaxQuerySize || h > MaxQuerySize {
		return layer.Errorf(layer.TooLarge, "the crop would be %d×%d pixels: at most %d a side", w, h, MaxQuerySize)
	}
	t.w, t.h = w, h
	return nil
}

// pad grows the grid by p pixels on every side (the border an algorithm reads).
func (t *target) pad(p int) {
	if p <= 0 {
		return
	}
	px, py := float64(p)*(t.ext[2]-t.ext[0])/float64(t.w), float64(p)*(t.ext[3]-t.ext[1])/float64(t.h)
	t.ext = [4]float64{t.ext[0] - px, t.ext[1] - py, t.ext[2] + px, t.ext[3] + py}
	t.w, t.h = t.w+2*p, t.h+2*p
}

// gt is the grid's geotransform.
func (t *target) gt() [6]float64 {
	return [6]float64{t.ext[0], (t.ext[2] - t.ext[0]) / float64(t.w), 0, t.ext[3], 0, -(t.ext[3] - t.ext[1]) / float64(t.h)}
}

// readTarget warps the file's bands into the grid, with its mask (0 where
// the file has no data): nil without error when the file lies outside it.
// Only the grid's pixels within the file's bounds (and one beyond, for
// resampling kernels) are warped.
func (r *Reader) readTarget(t *target, bands []int, resampling string) (*layer.Raster, error) {
	var out *layer.Raster
	err := r.withHandle(func(h *handle, in *info) error {
		for _, b := range bands {
			if b < 1 || b > in.bands {
				return layer.Errorf(layer.BadRequest, "parameter bidx: band %d does not exist; this layer has bands 1..%d", b, in.bands)
			}
		}
		c0, r0, c1, r1 := 0, 0, t.w, t.h
		if fb, err := boundsIn(h.src, t.srs); err == nil { // else the whole grid
			rx, ry := (t.ext[2]-t.ext[0])/float64(t.w), (t.ext[3]-t.ext[1])/float64(t.h)
			c0 = max(0, int(math.Floor((fb[0]-t.ext[0])/rx))-1)
			c1 = min(t.w, int(math.Ceil((fb[2]-t.ext[0])/rx))+1)
			r0 = max(0, int(math.Floor((t.ext[3]-fb[3])/ry))-1)
			r1 = min(t.h, int(math.Ceil((t.ext[3]-fb[1])/ry))+1)
			if c1 <= c0 || r1 <= r0 {
				return nil
			}
		}
		gt := t.gt()
		sw, sh := c1-c0, r1-r0
		f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
		x0, y0 := gt[0]+float64(c0)*gt[1], gt[3]+float64(r0)*gt[5]
		x1, y1 := gt[0]+float64(c1)*gt[1], gt[3]+float64(r1)*gt[5]
		if c1 == t.w {
			x1 = t.ext[2]
		}
		if r1 == t.h {
			y1 = t.ext[1]
		}
		args := []string{"-of", "MEM", "-t_srs", t.wkt, "-te", f(x0), f(y1), f(x1), f(y0),
			"-ts", strconv.Itoa(sw), strconv.Itoa(sh), "-r", resampling, "-dstalpha"}
		if in.hasNoData {
			args = append(args, "-srcnodata", strconv.FormatFloat(in.nodata, 'g', -1, 64))
		}
		ds, err := h.src.Warp("", args)
		if err != nil {
			return fmt.Errorf("warp: %v", err)
		}
		defer ds.Close()
		all := ds.Bands()
		ras := layer.NewRaster(t.w, t.h, len(bands))
		buf := make([]float64, sw*sh)
		paste := func(dst []float64) {
			for y := 0; y < sh; y++ {
				copy(dst[(r0+y)*t.w+c0:(r0+y)*t.w+c1], buf[y*sw:(y+1)*sw])
			}
		}
		for i, b := range bands {
			if err := all[b-1].Read(0, 0, buf, sw, sh); err != nil {
				ras.Release()
				return fmt.Errorf("read: %v", err)
			}
			paste(ras.Bands[i])
		}
		m := make([]uint8, sw*sh)
		if err := all[in.bands].Read(0, 0, m, sw, sh); err != nil {
			ras.Release()
			return fmt.Errorf("read mask: %v", err)
		}
		for y := 0; y < sh; y++ {
			copy(ras.Mask[(r0+y)*t.w+c0:(r0+y)*t.w+c1], m[y*sw:(y+1)*sw])
		}
		if r.opts.NoData != nil { // a nodata GDAL does not know of
			for _, b := range ras.Bands {
				for j, v := range b {
					if v == *r.opts.NoData {
						ras.Mask[j] = 0
					}
				}
			}
		}
		ras.DType, ras.NoData, ras.HasNoData, ras.EPSG = numpyType[in.dtype], in.nodata, in.hasNoData, t.epsg
		ras.Bounds = tiles.Bounds{MinX: t.ext[0], MinY: t.ext[1], MaxX: t.ext[2], MaxY: t.ext[3]}
		out = ras
		return nil
	})
	return out, err
}

// blankTarget is a grid with no data: every pixel masked.
func blankTarget(t *target, nb int, dtype string) *layer.Raster {
	ras := layer.NewRaster(t.w, t.h, nb)
	ras.DType, ras.EPSG = dtype, t.epsg
	ras.Bounds = tiles.Bounds{MinX: t.ext[0], MinY: t.ext[1], MaxX: t.ext[2], MaxY: t.ext[3]}
	return ras
}

// finishCrop computes a crop's expression and algorithm from the bands
// read, and makes the pixels outside a file-mode area (GeoJSON or WKT, in
// lon/lat) transparent; dst is the crop's CRS. It consumes ras.
func finishCrop(ras *layer.Raster, prog *bandmath.Program, alg *algorithm.Algorithm, area string, dst *godal.SpatialRef) (*layer.Raster, error) {
	var err error
	if prog != nil {
		if ras, err = evaluate(prog, ras); err != nil {
			return nil, err
		}
	}
	if alg != nil {
		res, err := applyAlgorithm(alg, ras)
		ras.Release()
		if err != nil {
			return nil, err
		}
		ras = res
	}
	if area != "" {
		if err := maskArea(ras, dst, area); err != nil {
			ras.Release()
			return nil, err
		}
	}
	return ras, nil
}

// selectBands resolves bidx=/expression= and algorithm= against a source of
// nbands bands: the bands to read, the expression's program, and each
// output band's name.
func selectBands(s Selection, defaults []int, nbands int, alg *algorithm.Algorithm) ([]int, *bandmath.Program, []string, error) {
	var (
		bands []int
		prog  *bandmath.Program
		names []string
	)
	if s.Expression != "" {
		if len(s.Bands) > 0 {
			return nil, nil, nil, layer.Errorf(layer.BadRequest, "parameters bidx and expression: give one (the expression names its bands, b1..bN)")
		}
		var err error
		if prog, err = bandmath.Parse(s.Expression, nbands); err != nil {
			return nil, nil, nil, layer.Errorf(layer.BadRequest, "parameter %v", err)
		}
		if bands = prog.Bands(); len(bands) == 0 {
			bands = []int{1}
		}
		names = exprNames(s.Expression, prog)
	} else {
		bands = s.Bands
		if len(bands) == 0 {
			bands = defaults
		}
		if len(bands) == 0 {
			for b := 1; b <= nbands; b++ {
				bands = append(bands, b)
			}
		}
		for _, b := range bands {
			if b < 1 || b > nbands {
				return nil, nil, nil, layer.Errorf(layer.BadRequest, "parameter bidx: band %d does not exist; this layer has bands 1..%d", b, nbands)
			}
			names = append(names, "b"+strconv.Itoa(b))
		}
	}
	if alg != nil {
		have, of := len(bands), "bidx selects"
		if prog != nil {
			have, of = prog.Outputs(), "the expression gives"
		}
		if have < alg.Inputs() {
			return nil, nil, nil, layer.Errorf(layer.BadRequest, "parameter algorithm: %s reads %d bands, %s %d", alg.Name, alg.Inputs(), of, have)
		}
		if prog == nil {
			bands, names = bands[:alg.Inputs()], names[:alg.Inputs()]
		}
	}
	return bands, prog, names, nil
}

// targetStats are the statistics of a grid read: per band, the pixels with
// a value (mask not 0, not NaN) inside geometry (GeoJSON in lon/lat; "" =
// all). It consumes ras.
func targetStats(ras *layer.Raster, t *target, names []string, geometry string, o StatsOptions) (*Statistics, error) {
	defer ras.Release()
	n := ras.Width * ras.Height
	valid := make([]bool, n)
	for j, m := range ras.Mask[:n] {
		valid[j] = m != 0
	}
	if geometry != "" {
		srs, err := dstClone(t.srs)
		if err != nil {
			return nil, err
		}
		inside, err := rasterizeLonLat(srs, geometry, t.gt(), t.w, t.h)
		if err != nil {
			return nil, err
		}
		for j, v := range inside {
			valid[j] = valid[j] && v != 0
		}
	}
	out := &Statistics{Names: names}
	m := make([]bool, n)
	for _, b := range ras.Bands {
		for j, v := range b[:n] {
			m[j] = valid[j] && !math.IsNaN(v)
		}
		out.Bands = append(out.Bands, bandStats(b[:n], m, o))
	}
	return out, nil
}

// statsArea is the lon/lat box statistics read: Bounds, else the geometry's
// envelope, else all (the layer's bounds).
func statsArea(o StatsOptions, all tiles.Bounds) (tiles.Bounds, error) {
	switch {
	case o.Bounds != nil:
		return *o.Bounds, nil
	case o.Geometry != "":
		return GeoJSONBounds(o.Geometry)
	}
	return all, nil
}
