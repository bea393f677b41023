// Package cog serves Cloud-Optimized GeoTIFFs (and any raster GDAL opens) as tiles:
// it picks the overview that matches the zoom, warps that window into the tile's
// EPSG:3857 grid, and turns nodata and masks into transparent pixels.
package cog

import (
	"fmt"
	"math"

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
	vrt, err := ds.Warp("", []string{"-of", "VRT", "-t_srs", "EPSG:3857"})
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
	if in.inner, err = innerBox(ds, st.SizeX, st.SizeY); err != nil {
		return nil, err
	}
	in.maxZoom = zoomForRes(in.nativeRes, 256)
	coarsest := in.nativeRes
	if n := len(in.overviews); n > 0 {
		coarsest = in.nativeRes * float64(in.width) / float64(in.overviews[n-1])
	}
	// Up to 8x below the coarsest level still reads little; lower zooms would not.
	in.minZoom = max(0, zoomForRes(coarsest, 256)-3)
	if in.minZoom > in.maxZoom {
		in.minZoom = in.maxZoom
	}
	return in, nil
}

// zoomForRes is the zoom whose tiles of the given size are at least as fine as res.
func zoomForRes(res float64, tileSize int) int {
	z := int(math.Ceil(math.Log2(2 * tiles.OriginShift / (float64(tileSize) * res))))
	return max(0, min(z, tiles.MaxZoom))
}

// overviewFor returns the overview level gdalwarp's AUTO choice would read for a
// target resolution: the coarsest level not coarser than the target (within 10%),
// or -1 for full resolution.
func (in *info) overviewFor(targetRes float64) int {
	ratio := targetRes / in.nativeRes
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
