package cog

import (
	"context"
	"errors"
	"math"

	"github.com/udftiles/udftiles/algorithm"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// The raster queries of a STAC layer, as TiTiler's /stac endpoints: each
// asset's info; the values at a point, statistics and crops (preview, bbox,
// feature) of the bands a request selects (assets=, asset_bidx=, bidx=,
// expression=), the assets warped into one grid (target.go).

// STACInfo describes an item and its raster assets.
type STACInfo struct {
	ID     string                  `json:"id"`
	BBox   []float64               `json:"bbox,omitempty"`
	Raster []string                `json:"raster_assets"` // the assets tiles may read
	Assets map[string]*DatasetInfo `json:"assets"`        // those asked for
}

// Info describes the assets named (default: the layer's, else every raster
// asset of the item).
func (s *STAC) Info(assets []string) (*STACInfo, error) {
	it, err := s.load()
	if err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	out := &STACInfo{ID: it.ID, BBox: it.BBox, Raster: it.rasterAssets(), Assets: map[string]*DatasetInfo{}}
	if len(assets) == 0 {
		assets = s.opts.Assets
	}
	if len(assets) == 0 {
		assets = out.Raster
	}
	for _, name := range assets {
		r, err := s.reader(it, name)
		if err != nil {
			return nil, err
		}
		in, err := r.DatasetInfo()
		if err != nil {
			return nil, assetError(name, err)
		}
		out.Assets[name] = in
	}
	return out, nil
}

// STACPoint are the values at a point of the bands a request selects.
type STACPoint struct {
	Coordinates [2]float64 `json:"coordinates"`
	Values      []*float64 `json:"values"` // null where masked
	Masked      []bool     `json:"masked"`
	BandNames   []string   `json:"band_names"` // ASSET_bN, or the expressions
}

// Point reads the full-resolution pixel of each asset under lon, lat, as
// Reader.Point does, and stacks the values or computes the expression.
// params are the query coerced by Schema.
func (s *STAC) Point(lon, lat float64, params map[string]any) (*STACPoint, error) {
	if math.IsNaN(lon) || math.IsNaN(lat) || lon < -180 || lon > 180 || lat < -90 || lat > 90 {
		return nil, layer.Errorf(layer.BadRequest, "point %g,%g: want a longitude in -180..180 and a latitude in -90..90", lon, lat)
	}
	it, err := s.load()
	if err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	sel, err := s.selection(it, params)
	if err != nil {
		return nil, err
	}
	vals := make([]float64, sel.nb)
	masked := make([]bool, sel.nb)
	for _, p := range sel.parts {
		pv, err := p.r.Point(lon, lat, Selection{Bands: p.bands})
		if err != nil {
			return nil, assetError(p.asset, err)
		}
		for k, at := range p.at {
			if v := pv.Values[k]; v != nil {
				vals[at] = *v
			}
			masked[at] = pv.Masked[k]
		}
	}
	out := &STACPoint{Coordinates: [2]float64{lon, lat}, BandNames: sel.names}
	if sel.prog != nil {
		in := make([][]float32, len(vals))
		anyMasked := false
		for i, v := range vals {
			in[i] = []float32{float32(v)}
			anyMasked = anyMasked || masked[i]
		}
		outs := make([][]float32, sel.prog.Outputs())
		for i := range outs {
			outs[i] = make([]float32, 1)
		}
		if err := sel.prog.Eval(in, outs); err != nil {
			return nil, layer.Errorf(layer.Internal, "%v", err)
		}
		vals, masked = vals[:0], masked[:0]
		for _, o := range outs {
			v := float64(o[0])
			vals = append(vals, v)
			masked = append(masked, anyMasked || math.IsNaN(v) || math.IsInf(v, 0))
		}
	}
	for i, v := range vals {
		if masked[i] {
			out.Values = append(out.Values, nil)
		} else {
			out.Values = append(out.Values, &v)
		}
		out.Masked = append(out.Masked, masked[i])
	}
	return out, nil
}

// assetError names the asset in an error of its reader.
func assetError(asset string, err error) error {
	var ue *layer.Error
	if errors.As(err, &ue) {
		return &layer.Error{Kind: ue.Kind, Msg: "asset " + asset + ": " + ue.Msg}
	}
	return &layer.Error{Kind: layer.Unavailable, Msg: "asset " + asset + ": " + err.Error()}
}

// readTarget reads the selection's assets into the grid and stacks their
// bands; an asset outside the grid leaves its bands masked.
func (sel *stacSelection) readTarget(t *target, resampling string) (*layer.Raster, error) {
	got := make([]*layer.Raster, len(sel.parts))
	defer func() {
		for _, r := range got {
			r.Release()
		}
	}()
	for i, p := range sel.parts {
		ras, err := p.r.readTarget(t, p.bands, resampling)
		if err != nil {
			return nil, assetError(p.asset, err)
		}
		if ras == nil { // the asset's type and nodata, so that the stack keeps them
			in, err := p.r.load()
			if err != nil {
				return nil, assetError(p.asset, err)
			}
			ras = blankTarget(t, len(p.bands), numpyType[in.dtype])
			ras.NoData, ras.HasNoData = in.nodata, in.hasNoData
		}
		got[i] = ras
	}
	return sel.stack(got), nil
}

// stacTarget is the grid of a crop or statistics read: EPSG:epsg over the
// lon/lat box, or (epsg 0, no box: a preview) the first asset's own CRS over
// its bounds; at the finest resolution of the assets read.
func (s *STAC) stacTarget(sel *stacSelection, epsg int, box *tiles.Bounds, co cropOptions) (*target, error) {
	var (
		t   *target
		err error
	)
	if box == nil && epsg == 0 {
		t, err = sel.parts[0].r.ownTarget()
	} else {
		if epsg == 0 {
			epsg = 4326
		}
		t, err = newTarget(epsg, *box)
	}
	if err != nil {
		return nil, assetError(sel.parts[0].asset, err)
	}
	rx, ry := math.Inf(1), math.Inf(1)
	for _, p := range sel.parts {
		x, y, err := p.r.resolutionIn(t.srs)
		if err != nil {
			t.Close()
			return nil, assetError(p.asset, err)
		}
		rx, ry = min(rx, x), min(ry, y)
	}
	if err := t.size(co, rx, ry); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// itemBox is the item's bbox; nil when it has none.
func itemBox(it *stacItem) *tiles.Bounds {
	if b := it.BBox; len(b) >= 4 {
		return &tiles.Bounds{MinX: b[0], MinY: b[1], MaxX: b[2], MaxY: b[3]}
	}
	return nil
}

// area is the item's bbox, else the union of the assets' lon/lat bounds.
func (sel *stacSelection) area(it *stacItem) (tiles.Bounds, error) {
	if b := itemBox(it); b != nil {
		return *b, nil
	}
	var u tiles.Bounds
	for i, p := range sel.parts {
		in, err := p.r.load()
		if err != nil {
			return u, assetError(p.asset, err)
		}
		if i == 0 {
			u = in.lonlat
		} else {
			u = union(u, in.lonlat)
		}
	}
	return u, nil
}

// crop serves file mode: the assets over a lon/lat box in EPSG:4326 (or
// dst_crs), or the whole item in the first asset's CRS (a preview).
func (s *STAC) crop(ctx context.Context, it *stacItem, req layer.Request, o TileOptions, p *process, sel *stacSelection) (*layer.Raster, error) {
	co, err := parseCrop(req.Params)
	if err != nil {
		return nil, err
	}
	var box *tiles.Bounds
	if req.Bounds != (tiles.Bounds{}) {
		box = &req.Bounds
		if ib := itemBox(it); ib != nil && !box.Intersects(*ib) {
			return nil, layer.Errorf(layer.NotFound, "the area %g,%g,%g,%g is outside this item's bbox", box.MinX, box.MinY, box.MaxX, box.MaxY)
		}
	} else if co.dstEPSG != 0 {
		b, err := sel.area(it)
		if err != nil {
			return nil, err
		}
		box = &b
	}
	t, err := s.stacTarget(sel, co.dstEPSG, box, co)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	var alg *algorithm.Algorithm
	if p != nil {
		alg = p.alg
	}
	if alg != nil {
		t.pad(alg.Pad())
	}
	if err := ctx.Err(); err != nil {
		return nil, layer.Errorf(layer.Timeout, "request cancelled before the read: %v", err)
	}
	ras, err := sel.readTarget(t, o.Resampling)
	if err != nil {
		return nil, err
	}
	return finishCrop(ras, sel.prog, alg, req.Area, t.srs)
}

// Statistics reads the bands a request selects (params, as Schema coerced
// them: assets=, asset_bidx=, bidx=, expression=) over the area (Bounds,
// the geometry's envelope, or the item's bbox) into one EPSG:4326 grid of
// at most MaxSize pixels a side, at the finest resolution of the assets
// read, and computes each band's statistics over the pixels every asset has
// (and inside the geometry). Without a bbox, the item's area is the union of
// the assets' bounds.
func (s *STAC) Statistics(params map[string]any, o StatsOptions) (*Statistics, error) {
	if o.PixelSelection != "" {
		return nil, layer.Errorf(layer.BadRequest, "parameter pixel_selection: for mosaics; a STAC item's assets are stacked")
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	it, err := s.load()
	if err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	sel, err := s.selection(it, params)
	if err != nil {
		return nil, err
	}
	all, err := sel.area(it)
	if err != nil {
		return nil, err
	}
	box, err := statsArea(o, all)
	if err != nil {
		return nil, err
	}
	if !box.Intersects(all) {
		return nil, layer.Errorf(layer.NotFound, "the area %g,%g,%g,%g is outside this item's bbox", box.MinX, box.MinY, box.MaxX, box.MaxY)
	}
	t, err := s.stacTarget(sel, 4326, &box, cropOptions{maxSize: o.MaxSize})
	if err != nil {
		return nil, err
	}
	defer t.Close()
	if err := o.context().Err(); err != nil {
		return nil, layer.Errorf(layer.Timeout, "request cancelled before the read: %v", err)
	}
	ras, err := sel.readTarget(t, s.opts.Resampling)
	if err != nil {
		return nil, err
	}
	if sel.prog != nil {
		if ras, err = evaluate(sel.prog, ras); err != nil {
			return nil, err
		}
	}
	return targetStats(ras, t, sel.names, o.Geometry, o)
}
