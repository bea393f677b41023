package cog

import (
	"context"
	"fmt"
	"math"

	"github.com/udftiles/udftiles/algorithm"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// The query routes on a mosaic: info describes the mosaic, point reads the
// first file with a value at the point; statistics and the crops (preview,
// bbox, feature) warp the files meeting the area into one grid (target.go)
// and combine them by pixel_selection, as tiles do.

// MosaicInfo describes a mosaic; GET .../info answers with it.
type MosaicInfo struct {
	Source    string     `json:"source"` // list, glob, directory, stac, mosaicjson or index
	Files     int        `json:"files"`
	Count     int        `json:"count"` // bands of every file
	DType     string     `json:"dtype"`
	NoData    *float64   `json:"nodata_value"` // the layer's nodata option; else each file's own
	BandNames []string   `json:"band_names"`
	CRS       string     `json:"crs"`    // of bounds
	Bounds    [4]float64 `json:"bounds"` // the union of the footprints
	MinZoom   int        `json:"minzoom"`
	MaxZoom   int        `json:"maxzoom"`
	// PixelSelection lists the values pixel_selection= takes; the first is the default.
	PixelSelection []string `json:"pixel_selection"`
	OpenFiles      int      `json:"open_files"` // files holding GDAL handles now
	MaxOpenFiles   int      `json:"max_open_files"`
}

// Info describes the mosaic.
func (m *Mosaic) Info() (*MosaicInfo, error) {
	idx, err := m.load()
	if err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	open, _ := m.files.counts()
	in := &MosaicInfo{Source: idx.kind, Files: len(idx.files), Count: idx.bands, DType: numpyType[idx.dtype], NoData: m.opts.NoData,
		CRS: "EPSG:4326", Bounds: [4]float64{idx.lonlat.MinX, idx.lonlat.MinY, idx.lonlat.MaxX, idx.lonlat.MaxY},
		MinZoom: idx.minZoom, MaxZoom: idx.maxZoom, PixelSelection: PixelSelections, OpenFiles: open, MaxOpenFiles: m.opts.MaxOpen}
	for b := 1; b <= idx.bands; b++ {
		in.BandNames = append(in.BandNames, fmt.Sprintf("b%d", b))
	}
	return in, nil
}

// Describe is the mosaic's MosaicInfo.
func (m *Mosaic) Describe() (any, error) { return m.Info() }

// Point reads the values at lon, lat of the first file, in the mosaic's
// order, with a value there (as pixel_selection=first); File names it. A
// point where every file is masked gives the first file's masked values; a
// point outside every file is NotFound.
func (m *Mosaic) Point(lon, lat float64, s Selection) (*PointValues, error) {
	if math.IsNaN(lon) || math.IsNaN(lat) || lon < -180 || lon > 180 || lat < -90 || lat > 90 {
		return nil, layer.Errorf(layer.BadRequest, "point %g,%g: want a longitude in -180..180 and a latitude in -90..90", lon, lat)
	}
	idx, err := m.load()
	if err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	x, y := tiles.LonLatToMercator(lon, lat)
	var masked *PointValues
	for _, f := range idx.filesAt(tiles.Bounds{MinX: x, MinY: y, MaxX: x, MaxY: y}) {
		path := idx.files[f]
		p, err := m.pointOf(idx, path, lon, lat, s)
		if layer.KindOf(err) == layer.NotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		p.File = path
		for _, v := range p.Masked {
			if !v {
				return p, nil
			}
		}
		if masked == nil {
			masked = p
		}
	}
	if masked == nil {
		return nil, layer.Errorf(layer.NotFound, "point %g,%g is outside this mosaic's files", lon, lat)
	}
	return masked, nil
}

func (m *Mosaic) pointOf(idx *mosaicIndex, path string, lon, lat float64, s Selection) (*PointValues, error) {
	r, release, err := m.open(idx, path)
	if err != nil {
		return nil, err
	}
	defer release()
	return r.Point(lon, lat, s)
}

// maxCropFiles bounds the files a crop or statistics read under first
// (which stops once the grid is filled); other methods combine at most
// maxCombined.
const maxCropFiles = 1024

// combineTarget warps the files meeting the lon/lat box into the grid and
// combines them by method.
func (m *Mosaic) combineTarget(ctx context.Context, idx *mosaicIndex, box tiles.Bounds, t *target, bands []int, resampling, method string) (*layer.Raster, error) {
	if !validMethod(method) {
		return nil, layer.Errorf(layer.BadRequest, "parameter pixel_selection: want one of first, highest, lowest, mean, median, stdev, count, got %q", method)
	}
	files := idx.filesAt(box.ToMercator())
	if len(files) == 0 {
		return nil, layer.Errorf(layer.NotFound, "the area %g,%g,%g,%g meets none of this mosaic's %d files", box.MinX, box.MinY, box.MaxX, box.MaxY, len(idx.files))
	}
	limit := maxCropFiles
	if method != "first" {
		limit = maxCombined
	}
	if len(files) > limit {
		return nil, layer.Errorf(layer.TooLarge, "the area meets %d files; pixel_selection=%s combines at most %d in a crop or statistics: choose a smaller area", len(files), method, limit)
	}
	c := newCombiner(method)
	defer c.release()
	read := func(path string) (*layer.Raster, error) {
		return m.readWith(ctx, idx, path, func(r *Reader) (*layer.Raster, error) { return r.readTarget(t, bands, resampling) })
	}
	var err error
	if method == "first" {
		err = m.inOrder(idx, files, nil, read, c.feed)
	} else {
		err = m.each(ctx, idx, files, read, c.feed)
	}
	if err != nil {
		return nil, err
	}
	out := c.result()
	if out == nil && method == "count" { // no file has data: a count of 0 everywhere
		out = blankTarget(t, 1, "uint8")
		for i := range out.Mask {
			out.Mask[i] = opaque
		}
	} else if out == nil {
		out = blankTarget(t, len(bands), numpyType[idx.dtype])
	}
	return out, nil
}

// mosaicTarget is the grid of a crop or statistics read over the lon/lat
// box: EPSG:epsg, at the resolution of the first file meeting it.
func (m *Mosaic) mosaicTarget(idx *mosaicIndex, epsg int, box tiles.Bounds, co cropOptions) (*target, error) {
	t, err := newTarget(epsg, box)
	if err != nil {
		return nil, err
	}
	var rx, ry float64
	if files := idx.filesAt(box.ToMercator()); len(files) > 0 {
		r, release, err := m.open(idx, idx.files[files[0]])
		if err != nil {
			t.Close()
			return nil, err
		}
		rx, ry, err = r.resolutionIn(t.srs)
		release()
		if err != nil {
			t.Close()
			return nil, err
		}
	}
	if err := t.size(co, rx, ry); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// crop serves file mode: the mosaic's files over a lon/lat box (the whole
// mosaic for a preview) in EPSG:4326 or dst_crs, combined by method.
func (m *Mosaic) crop(ctx context.Context, req layer.Request, o TileOptions, p *process, method string) (*layer.Raster, error) {
	co, err := parseCrop(req.Params)
	if err != nil {
		return nil, err
	}
	idx, err := m.load()
	if err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	sel := Selection{Bands: o.Bands}
	var alg *algorithm.Algorithm
	if p != nil {
		sel.Expression, alg = p.expr, p.alg
		if p.expr != "" {
			sel.Bands = nil
		}
	}
	bands, prog, _, err := selectBands(sel, m.opts.Bands, idx.bands, alg)
	if err != nil {
		return nil, err
	}
	box := idx.lonlat
	if req.Bounds != (tiles.Bounds{}) {
		box = req.Bounds
		if !box.Intersects(idx.lonlat) {
			return nil, layer.Errorf(layer.NotFound, "the area %g,%g,%g,%g is outside this mosaic's bounds", box.MinX, box.MinY, box.MaxX, box.MaxY)
		}
	}
	epsg := co.dstEPSG
	if epsg == 0 {
		epsg = 4326
	}
	t, err := m.mosaicTarget(idx, epsg, box, co)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	if alg != nil {
		t.pad(alg.Pad())
	}
	ras, err := m.combineTarget(ctx, idx, box, t, bands, o.Resampling, method)
	if err != nil {
		return nil, err
	}
	return finishCrop(ras, prog, alg, req.Area, t.srs)
}

// Statistics warps the files meeting the area (Bounds, the geometry's
// envelope, or the whole mosaic) into one EPSG:4326 grid of at most MaxSize
// pixels a side, at the first file's resolution, combines them by
// PixelSelection (default first), and computes each band's statistics over
// the pixels with a value (and inside the geometry).
func (m *Mosaic) Statistics(o StatsOptions) (*Statistics, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	idx, err := m.load()
	if err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	bands, prog, names, err := selectBands(o.Selection, m.opts.Bands, idx.bands, nil)
	if err != nil {
		return nil, err
	}
	if o.PixelSelection == "count" {
		if prog != nil {
			return nil, errCountProcess
		}
		names = []string{"count"}
	}
	box, err := statsArea(o, idx.lonlat)
	if err != nil {
		return nil, err
	}
	if !box.Intersects(idx.lonlat) {
		return nil, layer.Errorf(layer.NotFound, "the area %g,%g,%g,%g is outside this mosaic's bounds", box.MinX, box.MinY, box.MaxX, box.MaxY)
	}
	t, err := m.mosaicTarget(idx, 4326, box, cropOptions{maxSize: o.MaxSize})
	if err != nil {
		return nil, err
	}
	defer t.Close()
	method := o.PixelSelection
	if method == "" {
		method = "first"
	}
	ras, err := m.combineTarget(o.context(), idx, box, t, bands, m.opts.Resampling, method)
	if err != nil {
		return nil, err
	}
	if prog != nil {
		if ras, err = evaluate(prog, ras); err != nil {
			return nil, err
		}
	}
	return targetStats(ras, t, names, o.Geometry, o)
}
