package cog

import (
	"errors"
	"math"

	"github.com/udftiles/udftiles/layer"
)

// The raster queries of a STAC layer, as TiTiler's /stac/info and
// /stac/point: each asset's info, and the values at a point of the bands a
// request selects (assets=, asset_bidx=, bidx=, expression=).

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
