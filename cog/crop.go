package cog

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/algorithm"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// File mode: crops of the file, for GET .../preview, .../bbox/... and POST
// .../feature (and /run). Without bounds the whole file is read in its own
// CRS (a preview); with bounds, the lon/lat box in EPSG:4326; dst_crs=
// chooses another CRS. Each is one gdalwarp of the file into the crop's
// grid, at most max_size pixels a side unless width and height say.

// CropParams are the parameters of file mode; tiles refuse them.
func CropParams() []layer.Param {
	return []layer.Param{
		{Name: "max_size", Type: layer.Int, Description: "preview, bbox, feature: longest side in pixels (default 1024, at most 4096); " +
			"smaller areas are read at their native resolution"},
		{Name: "width", Type: layer.Int, Description: "preview, bbox, feature: output width in pixels (with height: exactly; alone: height in proportion)"},
		{Name: "height", Type: layer.Int, Description: "preview, bbox, feature: output height in pixels"},
		{Name: "dst_crs", Type: layer.Str, Description: "preview, bbox, feature: output CRS as EPSG:n (default: the file's own for a preview, EPSG:4326 for bbox and feature)"},
	}
}

type cropOptions struct {
	maxSize, width, height int
	dstEPSG                int // 0 = the default
}

func parseCrop(params map[string]any) (cropOptions, error) {
	o := cropOptions{maxSize: DefaultMaxSize}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"max_size", &o.maxSize}, {"width", &o.width}, {"height", &o.height}} {
		v, ok := params[p.name].(int)
		if !ok {
			continue
		}
		if v < 1 {
			return o, layer.Errorf(layer.BadRequest, "parameter %s: want 1 to %d pixels, got %d", p.name, MaxQuerySize, v)
		}
		if v > MaxQuerySize {
			return o, layer.Errorf(layer.TooLarge, "parameter %s: at most %d pixels, got %d", p.name, MaxQuerySize, v)
		}
		*p.dst = v
	}
	if s, _ := params["dst_crs"].(string); s != "" {
		code, ok := strings.CutPrefix(strings.ToUpper(strings.TrimSpace(s)), "EPSG:")
		n, err := strconv.Atoi(code)
		if !ok || err != nil || n <= 0 {
			return o, layer.Errorf(layer.BadRequest, "parameter dst_crs: want EPSG:<code>, e.g. EPSG:3857, got %q", s)
		}
		sr, err := godal.NewSpatialRefFromEPSG(n)
		if err != nil {
			return o, layer.Errorf(layer.BadRequest, "parameter dst_crs: EPSG:%d is not a CRS PROJ knows", n)
		}
		sr.Close()
		o.dstEPSG = n
	}
	return o, nil
}

// hasCrop reports whether a tile request was given a parameter of file mode.
func hasCrop(params map[string]any) string {
	for _, p := range CropParams() {
		if _, ok := params[p.Name]; ok {
			return p.Name
		}
	}
	return ""
}

// runCrop serves file mode.
func (r *Reader) runCrop(ctx context.Context, req layer.Request, o TileOptions, p *process) (*layer.Raster, error) {
	co, err := parseCrop(req.Params)
	if err != nil {
		return nil, err
	}
	var out *layer.Raster
	err = r.withHandle(func(h *handle, in *info) error {
		if err := ctx.Err(); err != nil {
			return layer.Errorf(layer.Timeout, "request cancelled before the read: %v", err)
		}
		sel := Selection{Bands: o.Bands}
		var alg *algorithm.Algorithm
		if p != nil {
			sel.Expression, alg = p.expr, p.alg
			if p.expr != "" {
				sel.Bands = nil
			}
		}
		bands, prog, _, err := selectBands(sel, r.opts.Bands, in.bands, alg)
		if err != nil {
			return err
		}
		pad := 0
		if alg != nil {
			pad = alg.Pad()
		}
		ras, dst, err := r.warpCrop(h, in, req, co, bands, o.Resampling, pad)
		if err != nil {
			return err
		}
		defer dst.Close()
		out, err = finishCrop(ras, prog, alg, req.Area, dst)
		return err
	})
	return out, err
}

// applyAlgorithm runs an algorithm over a crop. Its resolution is taken in
// metres (degrees at the crop's centre latitude for a geographic crop); the
// pixels at the crop's edge have no neighbours beyond it.
func applyAlgorithm(a *algorithm.Algorithm, src *layer.Raster) (*layer.Raster, error) {
	pad := a.Pad()
	out := layer.NewRaster(src.Width-2*pad, src.Height-2*pad, a.Outputs())
	out.DType = a.DType()
	out.NoData, out.HasNoData = a.NoData()
	rx := (src.Bounds.MaxX - src.Bounds.MinX) / float64(src.Width)
	ry := (src.Bounds.MaxY - src.Bounds.MinY) / float64(src.Height)
	px, py := float64(pad)*rx, float64(pad)*ry
	out.Bounds = tiles.Bounds{MinX: src.Bounds.MinX + px, MinY: src.Bounds.MinY + py, MaxX: src.Bounds.MaxX - px, MaxY: src.Bounds.MaxY - py}
	out.EPSG = src.EPSG
	if src.EPSG == 4326 {
		lat := (src.Bounds.MinY + src.Bounds.MaxY) / 2 * math.Pi / 180
		rx *= 111320 * math.Cos(lat)
		ry *= 110540
	}
	if err := a.Apply(algorithm.Input{Width: src.Width, Height: src.Height, Bands: src.Bands, Mask: src.Mask, ResX: rx, ResY: -ry}, out.Bands, out.Mask); err != nil {
		out.Release()
		return nil, layer.Errorf(layer.Internal, "%v", err)
	}
	return out, nil
}

// warpCrop warps the crop's bands into its grid, with the mask as alpha,
// and a border of pad pixels around it (for an algorithm). It returns the
// grid's CRS, which the caller closes.
func (r *Reader) warpCrop(h *handle, in *info, req layer.Request, co cropOptions, bands []int, resampling string, pad int) (ras *layer.Raster, dst *godal.SpatialRef, err error) {
	var sr *godal.SpatialRef
	ds := h.src
	preview := req.Bounds == (tiles.Bounds{})
	epsg := co.dstEPSG
	switch {
	case epsg != 0:
		dst, err = godal.NewSpatialRefFromEPSG(epsg)
	case preview:
		dst = ds.SpatialRef()
		if code, e := epsgOf(dst); e == nil {
			epsg = code
		}
	default:
		epsg = 4326
		dst, err = wgs84()
	}
	if err != nil {
		return nil, nil, err
	}
	sr = dst
	defer func() {
		if err != nil {
			sr.Close()
		}
	}()
	// The source window the crop covers, for its natural size.
	sw, sh := in.width, in.height
	var ext [4]float64
	if preview {
		if ext, err = ds.Bounds(dst); err != nil {
			return nil, nil, layer.Errorf(layer.BadRequest, "the layer cannot be projected to EPSG:%d: %v", epsg, err)
		}
	} else {
		b := req.Bounds
		if b.MinX >= b.MaxX || b.MinY >= b.MaxY {
			return nil, nil, layer.Errorf(layer.BadRequest, "bounds %g,%g,%g,%g: want minx < maxx and miny < maxy", b.MinX, b.MinY, b.MaxX, b.MaxY)
		}
		var ok bool
		if _, _, sw, sh, ok, err = sourceWindow(ds, in, b); err != nil {
			return nil, nil, err
		} else if !ok {
			return nil, nil, layer.Errorf(layer.NotFound, "the area %g,%g,%g,%g is outside this layer's bounds", b.MinX, b.MinY, b.MaxX, b.MaxY)
		}
		if ext, err = lonLatTo(dst, b); err != nil {
			return nil, nil, layer.Errorf(layer.BadRequest, "the area cannot be projected to EPSG:%d: %v", epsg, err)
		}
	}
	w, hh := co.width, co.height
	ew, eh := ext[2]-ext[0], ext[3]-ext[1]
	if !(ew > 0 && eh > 0) {
		return nil, nil, layer.Errorf(layer.BadRequest, "the area is empty in EPSG:%d", epsg)
	}
	switch {
	case w > 0 && hh > 0:
	case w > 0:
		hh = max(1, int(math.Round(float64(w)*eh/ew)))
	case hh > 0:
		w = max(1, int(math.Round(float64(hh)*ew/eh)))
	case preview && co.dstEPSG == 0: // the file's own grid, its pixels as they are
		w, hh = outShape(sw, sh, co.maxSize)
	default:
		long := min(co.maxSize, max(sw, sh))
		if ew >= eh {
			w, hh = long, max(1, int(math.Ceil(float64(long)*eh/ew)))
		} else {
			w, hh = max(1, int(math.Ceil(float64(long)*ew/eh))), long
		}
	}
	if w > MaxQuerySize || hh > MaxQuerySize {
		return nil, nil, layer.Errorf(layer.TooLarge, "the crop would be %d×%d pixels: at most %d a side", w, hh, MaxQuerySize)
	}
	wkt, err := dst.WKT()
	if err != nil {
		return nil, nil, err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	px, py := float64(pad)*ew/float64(w), float64(pad)*eh/float64(hh)
	ext = [4]float64{ext[0] - px, ext[1] - py, ext[2] + px, ext[3] + py}
	w, hh = w+2*pad, hh+2*pad
	sw2 := []string{"-of", "MEM", "-t_srs", wkt, "-te", f(ext[0]), f(ext[1]), f(ext[2]), f(ext[3]),
		"-ts", strconv.Itoa(w), strconv.Itoa(hh), "-r", resampling, "-dstalpha"}
	if in.hasNoData {
		sw2 = append(sw2, "-srcnodata", strconv.FormatFloat(in.nodata, 'g', -1, 64))
	}
	out, err := ds.Warp("", sw2)
	if err != nil {
		return nil, nil, fmt.Errorf("warp: %v", err)
	}
	defer out.Close()
	all := out.Bands()
	ras = layer.NewRaster(w, hh, len(bands))
	for i, b := range bands {
		if err := all[b-1].Read(0, 0, ras.Bands[i], w, hh); err != nil {
			ras.Release()
			return nil, nil, fmt.Errorf("read: %v", err)
		}
	}
	if err := all[in.bands].Read(0, 0, ras.Mask, w, hh); err != nil {
		ras.Release()
		return nil, nil, fmt.Errorf("read mask: %v", err)
	}
	ras.DType, ras.NoData, ras.HasNoData, ras.EPSG = numpyType[in.dtype], in.nodata, in.hasNoData, epsg
	ras.Bounds = tiles.Bounds{MinX: ext[0], MinY: ext[1], MaxX: ext[2], MaxY: ext[3]}
	return ras, dst, nil
}

// maskArea makes the pixels of ras (in the CRS dst) outside a file-mode
// area transparent.
func maskArea(ras *layer.Raster, dst *godal.SpatialRef, area string) error {
	b := ras.Bounds
	gt := [6]float64{b.MinX, (b.MaxX - b.MinX) / float64(ras.Width), 0, b.MaxY, 0, -(b.MaxY - b.MinY) / float64(ras.Height)}
	d2, err := dstClone(dst)
	if err != nil {
		return err
	}
	inside, err := rasterizeLonLat(d2, areaGeoJSON(area), gt, ras.Width, ras.Height)
	if err != nil {
		return err
	}
	if ras.Mask == nil {
		ras.Mask = make([]uint8, ras.Width*ras.Height)
		for i := range ras.Mask {
			ras.Mask[i] = 255
		}
	}
	for i, v := range inside {
		if v == 0 {
			ras.Mask[i] = 0
		}
	}
	return nil
}

// areaGeoJSON is a file-mode area as GeoJSON: WKT is converted.
func areaGeoJSON(area string) string {
	if strings.HasPrefix(strings.TrimSpace(area), "{") {
		return area
	}
	g, err := godal.NewGeometryFromWKT(area, nil)
	if err != nil {
		return area // the GeoJSON parser reports it
	}
	defer g.Close()
	s, err := g.GeoJSON()
	if err != nil {
		return area
	}
	return s
}

func dstClone(sr *godal.SpatialRef) (*godal.SpatialRef, error) {
	wkt, err := sr.WKT()
	if err != nil {
		return nil, err
	}
	return godal.NewSpatialRefFromWKT(wkt)
}

// lonLatTo is a lon/lat box's envelope in dst, its edges densified.
func lonLatTo(dst *godal.SpatialRef, b tiles.Bounds) ([4]float64, error) {
	ll, err := wgs84()
	if err != nil {
		return [4]float64{}, err
	}
	defer ll.Close()
	tr, err := godal.NewTransform(ll, dst)
	if err != nil {
		return [4]float64{}, err
	}
	defer tr.Close()
	xs, ys := edgePoints(b.MinX, b.MinY, b.MaxX, b.MaxY)
	return envelope(tr, xs, ys)
}

// edgePoints are 21 points along each edge of a box, corners included.
func edgePoints(minX, minY, maxX, maxY float64) (xs, ys []float64) {
	const n = 21
	for i := 0; i < n; i++ {
		f := float64(i) / (n - 1)
		x, y := minX+f*(maxX-minX), minY+f*(maxY-minY)
		xs = append(xs, x, x, minX, maxX)
		ys = append(ys, minY, maxY, y, y)
	}
	return xs, ys
}

// envelope transforms the points in place and returns their envelope; a
// point that cannot be transformed is an error.
func envelope(tr *godal.Transform, xs, ys []float64) ([4]float64, error) {
	ok := make([]bool, len(xs))
	if err := tr.TransformEx(xs, ys, nil, ok); err != nil {
		return [4]float64{}, err
	}
	e := [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	for i := range xs {
		if !ok[i] {
			return e, fmt.Errorf("a point of the edge cannot be transformed")
		}
		e[0], e[1] = math.Min(e[0], xs[i]), math.Min(e[1], ys[i])
		e[2], e[3] = math.Max(e[2], xs[i]), math.Max(e[3], ys[i])
	}
	return e, nil
}

// GeoJSONBounds is the lon/lat envelope of a GeoJSON geometry.
func GeoJSONBounds(geojson string) (tiles.Bounds, error) {
	g, err := godal.NewGeometryFromGeoJSON(geojson)
	if err != nil {
		return tiles.Bounds{}, layer.Errorf(layer.BadRequest, "the geometry: not GeoJSON GDAL reads: %v", err)
	}
	defer g.Close()
	if g.Empty() {
		return tiles.Bounds{}, layer.Errorf(layer.BadRequest, "the geometry is empty")
	}
	e, err := g.Bounds()
	if err != nil {
		return tiles.Bounds{}, layer.Errorf(layer.BadRequest, "the geometry: %v", err)
	}
	return tiles.Bounds{MinX: e[0], MinY: e[1], MaxX: e[2], MaxY: e[3]}, nil
}
