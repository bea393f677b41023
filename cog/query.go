package cog

/*
#cgo pkg-config: gdal
#include <gdal.h>
*/
import "C"

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unsafe"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/bandmath"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// The raster query API, as TiTiler spells it: a dataset's info, a pixel's
// values at a point and statistics over the layer, a box or a geometry. Reads
// are made in the file's own grid, as rasterio's read(out_shape=...) makes
// them: GDAL's RasterIO at the requested size, which reads the overview that
// suits it. See docs/raster.md.

// MaxQuerySize bounds max_size, width and height of query reads and crops.
const MaxQuerySize = 4096

// DefaultMaxSize is the longest side of a read when max_size is not given.
const DefaultMaxSize = 1024

// Selection is what a query reads: bands (bidx) or an expression over them.
type Selection struct {
	Bands      []int  // 1-based; empty = the layer's default bands, else all
	Expression string // band math (bandmath); replaces Bands
}

// DatasetInfo describes a layer's file; GET .../info answers with it.
type DatasetInfo struct {
	Driver     string     `json:"driver"`
	Width      int        `json:"width"`
	Height     int        `json:"height"`
	Count      int        `json:"count"`
	DType      string     `json:"dtype"`
	NoData     *float64   `json:"nodata_value"`
	NoDataType string     `json:"nodata_type"` // Nodata, Alpha, Mask or None, as rio-tiler says
	CRS        string     `json:"crs"`         // EPSG:n, or the WKT when there is no code
	EPSG       int        `json:"epsg,omitempty"`
	WKT        string     `json:"crs_wkt"`
	Bounds     [4]float64 `json:"bounds"`        // in the file's CRS
	LonLat     [4]float64 `json:"lonlat_bounds"` // in EPSG:4326
	GeoTrans   [6]float64 `json:"geotransform"`
	Overviews  [][2]int   `json:"overviews"` // width, height of each, finest first
	Bands      []BandInfo `json:"band_metadata"`
	MinZoom    int        `json:"minzoom"`
	MaxZoom    int        `json:"maxzoom"`
}

// BandInfo is one band of DatasetInfo.
type BandInfo struct {
	Name        string   `json:"name"` // b1, b2...
	Description string   `json:"description"`
	ColorInterp string   `json:"colorinterp"`
	DType       string   `json:"dtype"`
	NoData      *float64 `json:"nodata"`
	Scale       float64  `json:"scale"`
	Offset      float64  `json:"offset"`
}

// bandHandle is the GDAL handle under a godal Band, for what godal does not
// expose (scale and offset): a Band is one C pointer.
func bandHandle(b godal.Band) C.GDALRasterBandH {
	return *(*C.GDALRasterBandH)(unsafe.Pointer(&b))
}

// withHandle runs f on a dataset handle of the pool.
func (r *Reader) withHandle(f func(h *handle, in *info) error) error {
	in, err := r.load()
	if err != nil {
		return &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	h, release, err := r.pool.Acquire(0, r.open)
	if err != nil {
		return &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	err = f(h, in)
	var ue *layer.Error
	broken := err != nil && !asLayerError(err, &ue)
	release(broken)
	if broken {
		return &layer.Error{Kind: layer.Unavailable, Msg: "the layer's file cannot be read now (damaged or being replaced?): " + err.Error()}
	}
	return err
}

func asLayerError(err error, ue **layer.Error) bool {
	e, ok := err.(*layer.Error)
	if ok {
		*ue = e
	}
	return ok
}

// DatasetInfo describes the file.
func (r *Reader) DatasetInfo() (*DatasetInfo, error) {
	var out *DatasetInfo
	err := r.withHandle(func(h *handle, in *info) error {
		ds := h.src
		st := ds.Structure()
		d := &DatasetInfo{Driver: ds.Driver().ShortName(), Width: st.SizeX, Height: st.SizeY, Count: st.NBands,
			DType: numpyType[in.dtype], MinZoom: in.minZoom, MaxZoom: in.maxZoom, NoDataType: "None"}
		gt, err := ds.GeoTransform()
		if err != nil {
			return err
		}
		d.GeoTrans = gt
		sr := ds.SpatialRef()
		defer sr.Close()
		d.WKT, _ = sr.WKT()
		d.CRS = d.WKT
		if code, err := epsgOf(sr); err == nil {
			d.EPSG, d.CRS = code, "EPSG:"+strconv.Itoa(code)
		}
		b, err := ds.Bounds()
		if err != nil {
			return err
		}
		d.Bounds = b
		if d.LonLat, err = lonLatBounds(ds); err != nil {
			return err
		}
		bands := ds.Bands()
		for _, o := range bands[0].Overviews() {
			os := o.Structure()
			d.Overviews = append(d.Overviews, [2]int{os.SizeX, os.SizeY})
		}
		if in.hasNoData {
			v := in.nodata
			d.NoData, d.NoDataType = &v, "Nodata"
		} else if f := bands[0].MaskFlags(); f&0x04 != 0 { // GMF_ALPHA
			d.NoDataType = "Alpha"
		} else if f&0x01 == 0 { // not GMF_ALL_VALID: a mask band
			d.NoDataType = "Mask"
		}
		for i, band := range bands {
			bs := band.Structure()
			bi := BandInfo{Name: "b" + strconv.Itoa(i+1), Description: band.Description(), DType: numpyType[bs.DataType],
				ColorInterp: strings.ToLower(band.ColorInterp().Name())}
			if bi.ColorInterp == "" {
				bi.ColorInterp = "undefined"
			}
			if v, ok := band.NoData(); ok {
				bi.NoData = &v
			}
			if r.opts.NoData != nil {
				v := *r.opts.NoData
				bi.NoData = &v
			}
			hb := bandHandle(band)
			bi.Scale = float64(C.GDALGetRasterScale(hb, nil))
			bi.Offset = float64(C.GDALGetRasterOffset(hb, nil))
			d.Bands = append(d.Bands, bi)
		}
		out = d
		return nil
	})
	return out, err
}

// epsgOf is the EPSG code of a CRS, identified if it carries none.
func epsgOf(sr *godal.SpatialRef) (int, error) {
	for _, target := range []string{"", "PROJCS", "GEOGCS"} {
		if sr.AuthorityName(target) == "EPSG" {
			if n, err := strconv.Atoi(sr.AuthorityCode(target)); err == nil {
				if target == "GEOGCS" && !sr.Geographic() {
					break
				}
				return n, nil
			}
		}
	}
	wkt, err := sr.WKT()
	if err != nil {
		return 0, err
	}
	c, err := godal.NewSpatialRefFromWKT(wkt)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := c.AutoIdentifyEPSG(); err != nil {
		return 0, err
	}
	return strconv.Atoi(c.AuthorityCode(""))
}

// wgs84 is EPSG:4326 in longitude, latitude order.
func wgs84() (*godal.SpatialRef, error) {
	return godal.NewSpatialRefFromEPSG(4326)
}

// lonLatBounds are the file's bounds in EPSG:4326, its edges densified.
func lonLatBounds(ds *godal.Dataset) ([4]float64, error) {
	ll, err := wgs84()
	if err != nil {
		return [4]float64{}, err
	}
	defer ll.Close()
	b, err := ds.Bounds(ll)
	if err != nil {
		return b, fmt.Errorf("cannot transform the bounds to EPSG:4326: %v", err)
	}
	return b, nil
}

// toSource transforms lon/lat points to the file's CRS in place.
func toSource(ds *godal.Dataset, xs, ys []float64) error {
	ll, err := wgs84()
	if err != nil {
		return err
	}
	defer ll.Close()
	src := ds.SpatialRef()
	defer src.Close()
	tr, err := godal.NewTransform(ll, src)
	if err != nil {
		return err
	}
	defer tr.Close()
	ok := make([]bool, len(xs))
	if err := tr.TransformEx(xs, ys, nil, ok); err != nil {
		return err
	}
	for _, v := range ok {
		if !v {
			return fmt.Errorf("a point cannot be transformed to the file's CRS")
		}
	}
	return nil
}

// PointValues are the values of the bands at a point.
type PointValues struct {
	Coordinates [2]float64 `json:"coordinates"`
	Values      []*float64 `json:"values"` // null where masked
	Masked      []bool     `json:"masked"`
	BandNames   []string   `json:"band_names"`
	Pixel       [2]int     `json:"pixel"` // column, row of the full-resolution pixel
	// File is, on a mosaic, the file the values come from.
	File string `json:"file,omitempty"`
}

// Queryable is what the query routes read: one file (Reader) or a mosaic.
type Queryable interface {
	Status() error
	// Describe is GET .../info's answer: a DatasetInfo, or a MosaicInfo.
	Describe() (any, error)
	Point(lon, lat float64, s Selection) (*PointValues, error)
	Statistics(o StatsOptions) (*Statistics, error)
}

// Describe is the file's DatasetInfo.
func (r *Reader) Describe() (any, error) { return r.DatasetInfo() }

// selection resolves a Selection: the bands to read and the program, if any.
func (r *Reader) selection(in *info, s Selection) ([]int, *bandmath.Program, []string, error) {
	return selectBands(s, r.opts.Bands, in.bands, nil)
}

// Point reads the full-resolution pixel under lon, lat, as gdallocationinfo
// -wgs84 does. A point outside the file is NotFound.
func (r *Reader) Point(lon, lat float64, s Selection) (*PointValues, error) {
	if math.IsNaN(lon) || math.IsNaN(lat) || lon < -180 || lon > 180 || lat < -90 || lat > 90 {
		return nil, layer.Errorf(layer.BadRequest, "point %g,%g: want a longitude in -180..180 and a latitude in -90..90", lon, lat)
	}
	var out *PointValues
	err := r.withHandle(func(h *handle, in *info) error {
		bands, prog, names, err := r.selection(in, s)
		if err != nil {
			return err
		}
		xs, ys := []float64{lon}, []float64{lat}
		if err := toSource(h.src, xs, ys); err != nil {
			return layer.Errorf(layer.NotFound, "point %g,%g is outside this layer's bounds", lon, lat)
		}
		gt, err := h.src.GeoTransform()
		if err != nil {
			return err
		}
		g := newSourceGridGT(gt)
		col := g[0] + xs[0]*g[1] + ys[0]*g[2]
		row := g[3] + xs[0]*g[4] + ys[0]*g[5]
		if col < 0 || row < 0 || col >= float64(in.width) || row >= float64(in.height) || math.IsNaN(col) || math.IsNaN(row) {
			return layer.Errorf(layer.NotFound, "point %g,%g is outside this layer's bounds", lon, lat)
		}
		c, rw := int(math.Floor(col)), int(math.Floor(row))
		all := h.src.Bands()
		vals := make([]float64, len(bands))
		masked := make([]bool, len(bands))
		for i, b := range bands {
			v := []float64{0}
			if err := all[b-1].Read(c, rw, v, 1, 1); err != nil {
				return fmt.Errorf("read: %v", err)
			}
			vals[i] = v[0]
			m := []uint8{0}
			if err := r.maskBand(all[b-1]).Read(c, rw, m, 1, 1); err != nil {
				return fmt.Errorf("read mask: %v", err)
			}
			masked[i] = m[0] == 0 || r.opts.NoData != nil && v[0] == *r.opts.NoData
		}
		p := &PointValues{Coordinates: [2]float64{lon, lat}, BandNames: names, Pixel: [2]int{c, rw}}
		if prog != nil {
			in := make([][]float32, len(vals))
			any := false
			for i, v := range vals {
				in[i] = []float32{float32(v)}
				any = any || masked[i]
			}
			outs := make([][]float32, prog.Outputs())
			for i := range outs {
				outs[i] = make([]float32, 1)
			}
			if err := prog.Eval(in, outs); err != nil {
				return layer.Errorf(layer.Internal, "%v", err)
			}
			vals, masked = vals[:0], masked[:0]
			for _, o := range outs {
				v := float64(o[0])
				vals = append(vals, v)
				masked = append(masked, any || math.IsNaN(v) || math.IsInf(v, 0))
			}
		}
		for i, v := range vals {
			if masked[i] {
				p.Values = append(p.Values, nil)
			} else {
				v := v
				p.Values = append(p.Values, &v)
			}
			p.Masked = append(p.Masked, masked[i])
		}
		out = p
		return nil
	})
	return out, err
}

// maskBand is the band's GDAL mask; with a nodata set in the layer's options
// (which GDAL does not know of) the nodata test is made on the values.
func (r *Reader) maskBand(b godal.Band) godal.Band { return b.MaskBand() }

// newSourceGridGT inverts a geotransform.
func newSourceGridGT(gt [6]float64) [6]float64 {
	det := gt[1]*gt[5] - gt[2]*gt[4]
	return [6]float64{
		(gt[2]*gt[3] - gt[0]*gt[5]) / det, gt[5] / det, -gt[2] / det,
		(gt[0]*gt[4] - gt[1]*gt[3]) / det, -gt[4] / det, gt[1] / det,
	}
}

// outShape is rio-tiler's size of a read of w×h source pixels within maxSize:
// the longest side maxSize, the other in proportion (rounded up); a read
// smaller than maxSize is made at full resolution.
func outShape(w, h, maxSize int) (int, int) {
	if maxSize <= 0 || (w <= maxSize && h <= maxSize) {
		return w, h
	}
	ratio := float64(h) / float64(w)
	if ratio > 1 {
		return max(1, int(math.Ceil(float64(maxSize)/ratio))), maxSize
	}
	return maxSize, max(1, int(math.Ceil(float64(maxSize)*ratio)))
}

// sourceWindow is the window of source pixels covering a lon/lat box (its
// edges densified), clipped to the file; ok = false when they do not meet.
func sourceWindow(ds *godal.Dataset, in *info, b tiles.Bounds) (x0, y0, w, h int, ok bool, err error) {
	xs, ys := edgePoints(b.MinX, b.MinY, b.MaxX, b.MaxY)
	if err := toSource(ds, xs, ys); err != nil {
		return 0, 0, 0, 0, false, layer.Errorf(layer.BadRequest, "the area cannot be transformed to the layer's CRS")
	}
	gt, err := ds.GeoTransform()
	if err != nil {
		return 0, 0, 0, 0, false, err
	}
	inv := newSourceGridGT(gt)
	minC, minR, maxC, maxR := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for i := range xs {
		c := inv[0] + xs[i]*inv[1] + ys[i]*inv[2]
		r := inv[3] + xs[i]*inv[4] + ys[i]*inv[5]
		minC, maxC = math.Min(minC, c), math.Max(maxC, c)
		minR, maxR = math.Min(minR, r), math.Max(maxR, r)
	}
	c0, r0 := max(0, int(math.Floor(minC+1e-9))), max(0, int(math.Floor(minR+1e-9)))
	c1, r1 := min(in.width, int(math.Ceil(maxC-1e-9))), min(in.height, int(math.Ceil(maxR-1e-9)))
	if c1 <= c0 || r1 <= r0 {
		return 0, 0, 0, 0, false, nil
	}
	return c0, r0, c1 - c0, r1 - r0, true, nil
}
