// Package cog serves Cloud-Optimized GeoTIFFs (and any raster GDAL opens) as tiles:
// it picks the overview that matches the zoom, warps that window into the tile's
// EPSG:3857 grid, and turns nodata and masks into transparent pixels.
package cog

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/tiles"
)

// info is what is learnt about a dataset once, when it is first opened.
type info struct {
	width, height int
	bands         int
	dtype         godal.DataType
	overviews     []int   // widths of the overview levels, finest first
	nativeRes     float64 // metres per pixel of the full resolution in EPSG:3857
	merc          tiles.Bounds
	inner         tiles.Bounds // a box in EPSG:3857 lying wholly inside the data's footprint
	lonlat        tiles.Bounds
	nodata        float64
	pipeline      string // PROJ string of the transformation to EPSG:3857, for -ct; "" = let GDAL search
	hasNoData     bool
	minZoom       int
	maxZoom       int
}

func readInfo(ds *godal.Dataset) (*info, error) {
	st := ds.Structure()
	if st.NBands == 0 {
		return nil, fmt.Errorf("the file has no raster bands")
	}
	if ds.Projection() == "" {
		return nil, fmt.Errorf("the file has no coordinate reference system")
	}
	if _, err := ds.GeoTransform(); err != nil {
		return nil, fmt.Errorf("the file has no geotransform: %v", err)
	}
	b := ds.Bands()
	in := &info{width: st.SizeX, height: st.SizeY, bands: st.NBands, dtype: st.DataType}
	if _, ok := numpyType[in.dtype]; !ok {
		return nil, fmt.Errorf("sample type %s is not supported", in.dtype)
	}
	in.nodata, in.hasNoData = b[0].NoData()
	for _, o := range b[0].Overviews() {
		in.overviews = append(in.overviews, o.Structure().SizeX)
	}
	// GDAL's own idea of the dataset in EPSG:3857 (what gdalwarp would pick with no
	// -tr/-te) gives the native resolution that overview choice is measured against.
	src, err := mercatorPart(ds)
	if err != nil {
		return nil, err
	}
	if src != ds {
		defer src.Close()
	}
	vrt, err := src.Warp("", []string{"-of", "VRT", "-t_srs", "EPSG:3857"})
	if err != nil {
		return nil, fmt.Errorf("cannot project the file to EPSG:3857: %v", err)
	}
	defer vrt.Close()
	gt, err := vrt.GeoTransform()
	if err != nil {
		return nil, err
	}
	vs := vrt.Structure()
	in.nativeRes = math.Abs(gt[1])
	in.merc = tiles.Bounds{MinX: gt[0], MaxY: gt[3], MaxX: gt[0] + gt[1]*float64(vs.SizeX), MinY: gt[3] + gt[5]*float64(vs.SizeY)}
	in.lonlat = in.merc.ToLonLat()
	ss := src.Structure()
	if in.inner, err = innerBox(src, ss.SizeX, ss.SizeY); err != nil {
		return nil, err
	}
	in.minZoom, in.maxZoom = in.zooms()
	return in, nil
}

// zooms are the zooms the file serves well: from one where its coarsest
// level is read at most 8× down to the one of its full resolution.
func (in *info) zooms() (minZoom, maxZoom int) {
	maxZoom = zoomForRes(in.nativeRes, 256)
	coarsest := in.nativeRes
	if n := len(in.overviews); n > 0 {
		coarsest = in.nativeRes * float64(in.width) / float64(in.overviews[n-1])
	}
	// Up to 8x below the coarsest level still reads little; lower zooms would not.
	minZoom = max(0, zoomForRes(coarsest, 256)-3)
	return min(minZoom, maxZoom), maxZoom
}

// mercatorPart returns the rows of a geographic dataset within EPSG:3857's
// latitudes, or ds itself when it lies within them: GDAL's EPSG:3857 grid for a
// dataset reaching a pole is hundreds of kilometres per pixel, and would make a
// global raster a one-zoom layer.
func mercatorPart(ds *godal.Dataset) (*godal.Dataset, error) {
	gt, err := ds.GeoTransform()
	if err != nil || !ds.SpatialRef().Geographic() || gt[2] != 0 || gt[4] != 0 {
		return ds, nil
	}
	st := ds.Structure()
	top, bottom := gt[3], gt[3]+float64(st.SizeY)*gt[5]
	north, south := max(top, bottom), min(top, bottom)
	if north <= tiles.MaxLat && south >= -tiles.MaxLat {
		return ds, nil
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	part, err := ds.Translate("", []string{"-of", "VRT", "-projwin",
		f(gt[0]), f(min(north, tiles.MaxLat)), f(gt[0] + float64(st.SizeX)*gt[1]), f(max(south, -tiles.MaxLat))})
	if err != nil {
		return nil, fmt.Errorf("cannot clip the file to EPSG:3857's latitudes: %v", err)
	}
	return part, nil
}

// zoomForRes is the zoom whose tiles of the given size are at least as fine as res.
func zoomForRes(res float64, tileSize int) int {
	z := int(math.Ceil(math.Log2(2 * tiles.OriginShift / (float64(tileSize) * res))))
	return max(0, min(z, tiles.MaxZoom))
}

// overviewFor returns the overview level gdalwarp's AUTO choice would read for a
// ratio of source pixels per tile pixel: the coarsest level not coarser than the
// ratio (within 0.1), or -1 for full resolution.
func (in *info) overviewFor(ratio float64) int {
	if ratio <= 1 || len(in.overviews) == 0 {
		return -1
	}
	lvl := -1
	for ; lvl < len(in.overviews)-1; lvl++ {
		cur := 1.0
		if lvl >= 0 {
			cur = float64(in.width) / float64(in.overviews[lvl])
		}
		next := float64(in.width) / float64(in.overviews[lvl+1])
		if cur < ratio && next > ratio {
			break
		}
		if math.Abs(cur-ratio) < 0.1 {
			break
		}
	}
	return lvl
}

// numpyType spells GDAL sample types as numpy does.
var numpyType = map[godal.DataType]string{
	godal.Byte: "uint8", godal.UInt16: "uint16", godal.Int16: "int16",
	godal.UInt32: "uint32", godal.Int32: "int32", godal.Float32: "float32", godal.Float64: "float64",
}

// innerBox samples the edges of the source grid in EPSG:3857 and returns the box
// bounded by the innermost sample of each edge: inside the footprint for the mild
// rotations of a projected grid. Tiles within it are warped as whole columns.
func innerBox(ds *godal.Dataset, w, h int) (tiles.Bounds, error) {
	gt, err := ds.GeoTransform()
	if err != nil {
		return tiles.Bounds{}, err
	}
	src := ds.SpatialRef()
	defer src.Close()
	dst, err := godal.NewSpatialRefFromEPSG(3857)
	if err != nil {
		return tiles.Bounds{}, err
	}
	defer dst.Close()
	tr, err := godal.NewTransform(src, dst)
	if err != nil {
		return tiles.Bounds{}, fmt.Errorf("cannot transform to EPSG:3857: %v", err)
	}
	defer tr.Close()
	const n = 32
	var px, py []float64
	for i := 0; i <= n; i++ {
		f := float64(i) / n
		px = append(px, f*float64(w), f*float64(w), 0, float64(w)) // top, bottom, left, right
		py = append(py, 0, float64(h), f*float64(h), f*float64(h))
	}
	xs, ys := make([]float64, len(px)), make([]float64, len(px))
	for i := range px {
		xs[i] = gt[0] + px[i]*gt[1] + py[i]*gt[2]
		ys[i] = gt[3] + px[i]*gt[4] + py[i]*gt[5]
	}
	ok := make([]bool, len(xs))
	if err := tr.TransformEx(xs, ys, nil, ok); err != nil {
		return tiles.Bounds{}, nil // no inner box: every tile is warped on its own
	}
	b := tiles.Bounds{MinX: math.Inf(-1), MinY: math.Inf(-1), MaxX: math.Inf(1), MaxY: math.Inf(1)}
	top, bottom := math.Inf(1), math.Inf(-1)
	for i := range xs {
		if !ok[i] {
			return tiles.Bounds{}, nil
		}
		switch i % 4 {
		case 0:
			top = math.Min(top, ys[i])
		case 1:
			bottom = math.Max(bottom, ys[i])
		case 2:
			b.MinX = math.Max(b.MinX, xs[i])
		case 3:
			b.MaxX = math.Min(b.MaxX, xs[i])
		}
	}
	// A north-up source has its top edge north; a south-up one the other way round.
	b.MinY, b.MaxY = math.Min(top, bottom), math.Max(top, bottom)
	if b.MinX >= b.MaxX || b.MinY >= b.MaxY {
		return tiles.Bounds{}, nil
	}
	return b, nil
}

// interior reports whether tile t of the given pixel size lies inside the data with
// a margin for the resampling kernel, so that it can be read from a column grid.
func (in *info) interior(t tiles.Tile, size int) bool {
	b := t.Mercator()
	m := 4 * (b.MaxX - b.MinX) / float64(size)
	return b.MinX-m >= in.inner.MinX && b.MaxX+m <= in.inner.MaxX && b.MinY-m >= in.inner.MinY && b.MaxY+m <= in.inner.MaxY
}

// sourceGrid takes EPSG:3857 points to source pixels the way gdalwarp's
// transformer does, so that overviews can be chosen as gdalwarp chooses them.
type sourceGrid struct {
	tr    *godal.Transform
	invGT [6]float64
	// For a geographic source, gdalwarp wraps longitudes into center±180 (its
	// CENTER_LONG, printed with %g).
	wrap   bool
	center float64
}

// newSourceGrid returns nil when the dataset has no usable georeferencing.
func newSourceGrid(ds *godal.Dataset) *sourceGrid {
	gt, err := ds.GeoTransform()
	if err != nil || ds.Projection() == "" {
		return nil
	}
	det := gt[1]*gt[5] - gt[2]*gt[4]
	if det == 0 {
		return nil
	}
	g := &sourceGrid{invGT: [6]float64{
		(gt[2]*gt[3] - gt[0]*gt[5]) / det, gt[5] / det, -gt[2] / det,
		(gt[0]*gt[4] - gt[1]*gt[3]) / det, -gt[4] / det, gt[1] / det,
	}}
	merc, err := godal.NewSpatialRefFromWKT(webMercatorWKT())
	if err != nil {
		return nil
	}
	defer merc.Close()
	src := ds.SpatialRef()
	if g.tr, err = godal.NewTransform(merc, src); err != nil {
		return nil
	}
	if src.Geographic() {
		st := ds.Structure()
		w, h := float64(st.SizeX), float64(st.SizeY)
		xs := []float64{gt[0], gt[0] + w*gt[1], gt[0] + h*gt[2], gt[0] + w*gt[1] + h*gt[2]}
		lo, hi := slices.Min(xs), slices.Max(xs)
		if hi-lo <= 360 {
			g.wrap = true
			g.center, _ = strconv.ParseFloat(strconv.FormatFloat((lo+hi)/2, 'g', 6, 64), 64)
		}
	}
	return g
}

func (g *sourceGrid) Close() { g.tr.Close() }

// project transforms EPSG:3857 points to the source CRS in place and reports which
// succeeded. It goes through a geometry rather than Transform.TransformEx because
// godal then collects GDAL's errors instead of printing them, and points outside a
// projection's domain are to be expected at low zooms. When some points fail, the
// others are transformed one by one.
func (g *sourceGrid) project(xs, ys []float64) []bool {
	ok := make([]bool, len(xs))
	if g.transform(xs, ys) {
		for i := range ok {
			ok[i] = true
		}
		return ok
	}
	for i := range xs {
		ok[i] = g.transform(xs[i:i+1], ys[i:i+1])
	}
	return ok
}

// transform reprojects the points as one line string, in place; on failure the
// points are left as they were.
func (g *sourceGrid) transform(xs, ys []float64) bool {
	wkb := binary.LittleEndian.AppendUint32([]byte{1}, 2) // NDR, LineString
	wkb = binary.LittleEndian.AppendUint32(wkb, uint32(len(xs)))
	for i := range xs {
		wkb = binary.LittleEndian.AppendUint64(wkb, math.Float64bits(xs[i]))
		wkb = binary.LittleEndian.AppendUint64(wkb, math.Float64bits(ys[i]))
	}
	geom, err := godal.NewGeometryFromWKB(wkb, nil)
	if err != nil {
		return false
	}
	defer geom.Close()
	if err := geom.Transform(g.tr); err != nil {
		return false
	}
	out, err := geom.WKB()
	if err != nil || len(out) < 9 || out[0] != 1 {
		return false
	}
	// ISO WKB: 1000 adds Z, 2000 M, 3000 both.
	dims := map[uint32]int{0: 2, 1: 3, 2: 3, 3: 4}[binary.LittleEndian.Uint32(out[1:])/1000]
	if n := int(binary.LittleEndian.Uint32(out[5:])); n != len(xs) || dims == 0 || len(out) != 9+8*dims*n {
		return false
	}
	for i := range xs {
		p := out[9+8*dims*i:]
		xs[i] = math.Float64frombits(binary.LittleEndian.Uint64(p))
		ys[i] = math.Float64frombits(binary.LittleEndian.Uint64(p[8:]))
	}
	return true
}

// ratio is the number of source columns per tile pixel that gdalwarp's `-ovr AUTO`
// picks an overview by: it maps a 10×10 sample of the tile's pixel grid to source
// pixels and divides the span of their columns by the tile width. The ratio is
// local, so it differs from tile to tile where the projection stretches.
func (g *sourceGrid) ratio(t tiles.Tile, size int) float64 {
	b := t.Mercator()
	const n = 10
	res := (b.MaxX - b.MinX) / float64(size)
	xs, ys := make([]float64, 0, n*n), make([]float64, 0, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			xs = append(xs, b.MinX+float64(size)*float64(i)/(n-1)*res)
			ys = append(ys, b.MaxY-float64(size)*float64(j)/(n-1)*res)
		}
	}
	ok := g.project(xs, ys) // points that fail are left out, as gdalwarp does
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range xs {
		if !ok[i] {
			continue
		}
		if g.wrap && xs[i] < g.center-180 {
			xs[i] += 360
		} else if g.wrap && xs[i] > g.center+180 {
			xs[i] -= 360
		}
		col := g.invGT[0] + xs[i]*g.invGT[1] + ys[i]*g.invGT[2]
		lo, hi = math.Min(lo, col), math.Max(hi, col)
	}
	if hi > lo {
		return (hi - lo) / float64(size)
	}
	return 0
}
