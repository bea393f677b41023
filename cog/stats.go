package cog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// StatsOptions say what GET|POST .../statistics computes.
type StatsOptions struct {
	Selection
	// MaxSize bounds the longest side of the read (0 = DefaultMaxSize): a
	// larger area is read at a coarser resolution, from the overviews.
	MaxSize int
	// Bounds limits the read to a lon/lat box; nil = the whole file.
	Bounds *tiles.Bounds
	// Geometry is a GeoJSON geometry in lon/lat: the pixels whose centres lie
	// outside it are left out (masked). Bounds is then its envelope.
	Geometry string
	// Percentiles to compute; nil = 2 and 98.
	Percentiles []float64
	// Bins of the histogram (0 = 10) over Range (nil = min..max).
	Bins  int
	Range *[2]float64
	// PixelSelection is, on a mosaic, how its files give a pixel's value
	// (PixelSelections; "" = first). Files refuse it.
	PixelSelection string
	// Ctx ends the reads of a mosaic's files (the request's); nil = none.
	Ctx context.Context
}

// context is o.Ctx, else a context that never ends.
func (o *StatsOptions) context() context.Context {
	if o.Ctx == nil {
		return context.Background()
	}
	return o.Ctx
}

// BandStats are one band's statistics, as rio-tiler names them. Min, Max,
// Mean... are null when no pixel is valid.
type BandStats struct {
	Min          *float64     `json:"min"`
	Max          *float64     `json:"max"`
	Mean         *float64     `json:"mean"`
	Count        float64      `json:"count"` // valid pixels
	Sum          float64      `json:"sum"`
	Std          *float64     `json:"std"`
	Median       *float64     `json:"median"`
	Majority     *float64     `json:"majority"`
	Minority     *float64     `json:"minority"`
	Unique       float64      `json:"unique"`
	Histogram    [2][]float64 `json:"histogram"` // counts, then the bins+1 edges
	ValidPercent float64      `json:"valid_percent"`
	MaskedPixels float64      `json:"masked_pixels"`
	ValidPixels  float64      `json:"valid_pixels"`
	// Percentiles by their p, written as percentile_<p>.
	Percentiles []Percentile `json:"-"`
}

// Percentile is the value below which P percent of the valid values lie.
type Percentile struct {
	P     float64
	Value *float64
}

// MarshalJSON adds the percentiles as percentile_<p> keys.
func (b BandStats) MarshalJSON() ([]byte, error) {
	type plain BandStats
	raw, err := json.Marshal(plain(b))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Write(raw[:len(raw)-1])
	for _, p := range b.Percentiles {
		v, _ := json.Marshal(p.Value)
		fmt.Fprintf(&buf, `,"percentile_%s":%s`, strconv.FormatFloat(p.P, 'f', -1, 64), v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// Statistics are the statistics of each band read, in the order read.
type Statistics struct {
	Names []string
	Bands []BandStats
}

// MarshalJSON writes {"b1": {...}, ...} in band order.
func (s Statistics) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, n := range s.Names {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(n)
		v, err := json.Marshal(s.Bands[i])
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// check validates the options and fills in their defaults.
func (o *StatsOptions) check() error {
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.MaxSize < 1 {
		return layer.Errorf(layer.BadRequest, "parameter max_size: want 1 to %d, got %d", MaxQuerySize, o.MaxSize)
	}
	if o.MaxSize > MaxQuerySize {
		return layer.Errorf(layer.TooLarge, "parameter max_size: at most %d, got %d", MaxQuerySize, o.MaxSize)
	}
	if o.Bins == 0 {
		o.Bins = 10
	}
	if o.Bins < 1 || o.Bins > 10000 {
		return layer.Errorf(layer.BadRequest, "parameter histogram_bins: want 1 to 10000, got %d", o.Bins)
	}
	if o.Percentiles == nil {
		o.Percentiles = []float64{2, 98}
	}
	for _, p := range o.Percentiles {
		if !(p >= 0 && p <= 100) {
			return layer.Errorf(layer.BadRequest, "parameter p: want percentiles in 0..100, got %g", p)
		}
	}
	return nil
}

// Statistics reads the file (or the part Bounds or Geometry say) at a
// resolution within MaxSize and computes each band's statistics over the
// valid pixels: those GDAL's mask keeps (nodata, alpha, mask band), not NaN,
// and inside the geometry.
func (r *Reader) Statistics(o StatsOptions) (*Statistics, error) {
	if o.PixelSelection != "" {
		return nil, layer.Errorf(layer.BadRequest, "parameter pixel_selection: for mosaics; this layer is one file")
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	var out *Statistics
	err := r.withHandle(func(h *handle, in *info) error {
		a, err := r.readArea(h, in, o.Selection, o.Bounds, o.Geometry, o.MaxSize)
		if err != nil {
			return err
		}
		out = &Statistics{Names: a.names}
		for i := range a.values {
			out.Bands = append(out.Bands, bandStats(a.values[i], a.masks[i], o))
		}
		return nil
	})
	return out, err
}

// area is what readArea read: per band, values and validity.
type area struct {
	names  []string
	values [][]float64
	masks  [][]bool // true = valid
	w, h   int
}

// readArea reads the selection over a lon/lat box (nil = the whole file) in
// the file's grid, at most maxSize pixels a side, with each band's mask;
// pixels outside geometry (GeoJSON, lon/lat) are invalid.
func (r *Reader) readArea(h *handle, in *info, s Selection, b *tiles.Bounds, geometry string, maxSize int) (*area, error) {
	bands, prog, names, err := r.selection(in, s)
	if err != nil {
		return nil, err
	}
	ds := h.src
	var geom *godal.Geometry
	if geometry != "" {
		if geom, err = godal.NewGeometryFromGeoJSON(geometry); err != nil {
			return nil, layer.Errorf(layer.BadRequest, "the geometry: not GeoJSON GDAL reads: %v", err)
		}
		defer geom.Close()
		if b == nil {
			e, err := geom.Bounds()
			if err != nil {
				return nil, layer.Errorf(layer.BadRequest, "the geometry: %v", err)
			}
			b = &tiles.Bounds{MinX: e[0], MinY: e[1], MaxX: e[2], MaxY: e[3]}
		}
	}
	x0, y0, w, hh := 0, 0, in.width, in.height
	if b != nil {
		var ok bool
		if x0, y0, w, hh, ok, err = sourceWindow(ds, in, *b); err != nil {
			return nil, err
		} else if !ok {
			return nil, layer.Errorf(layer.NotFound, "the area %g,%g,%g,%g is outside this layer's bounds", b.MinX, b.MinY, b.MaxX, b.MaxY)
		}
	}
	ow, oh := outShape(w, hh, maxSize)
	n := ow * oh
	all := ds.Bands()
	a := &area{names: names, w: ow, h: oh}
	vals := make([][]float64, len(bands))
	masks := make([][]bool, len(bands))
	m8 := make([]uint8, n)
	for i, bd := range bands {
		vals[i] = make([]float64, n)
		if err := all[bd-1].Read(x0, y0, vals[i], ow, oh, godal.Window(w, hh)); err != nil {
			return nil, fmt.Errorf("read: %v", err)
		}
		if err := all[bd-1].MaskBand().Read(x0, y0, m8, ow, oh, godal.Window(w, hh)); err != nil {
			return nil, fmt.Errorf("read mask: %v", err)
		}
		masks[i] = make([]bool, n)
		for j, m := range m8 {
			v := vals[i][j]
			masks[i][j] = m != 0 && !math.IsNaN(v) && (r.opts.NoData == nil || v != *r.opts.NoData)
		}
	}
	if geom != nil {
		gt, err := ds.GeoTransform()
		if err != nil {
			return nil, err
		}
		wgt := [6]float64{
			gt[0] + float64(x0)*gt[1] + float64(y0)*gt[2], gt[1] * float64(w) / float64(ow), gt[2] * float64(hh) / float64(oh),
			gt[3] + float64(x0)*gt[4] + float64(y0)*gt[5], gt[4] * float64(w) / float64(ow), gt[5] * float64(hh) / float64(oh),
		}
		inside, err := rasterizeLonLat(ds.SpatialRef(), geometry, wgt, ow, oh)
		if err != nil {
			return nil, err
		}
		for i := range masks {
			for j, v := range inside {
				if v == 0 {
					masks[i][j] = false
				}
			}
		}
	}
	if prog == nil {
		a.values, a.masks = vals, masks
		return a, nil
	}
	f32 := make([][]float32, len(vals))
	for i, v := range vals {
		f32[i] = make([]float32, n)
		for j, x := range v {
			f32[i][j] = float32(x)
		}
	}
	outs := make([][]float32, prog.Outputs())
	for i := range outs {
		outs[i] = make([]float32, n)
	}
	if err := prog.Eval(f32, outs); err != nil {
		return nil, layer.Errorf(layer.Internal, "%v", err)
	}
	valid := make([]bool, n)
	for j := range valid {
		valid[j] = true
		for _, m := range masks {
			valid[j] = valid[j] && m[j]
		}
	}
	for _, o := range outs {
		v := make([]float64, n)
		m := make([]bool, n)
		for j, x := range o {
			v[j] = float64(x)
			m[j] = valid[j] && !math.IsNaN(v[j]) && !math.IsInf(v[j], 0)
		}
		a.values = append(a.values, v)
		a.masks = append(a.masks, m)
	}
	return a, nil
}

// rasterizeLonLat burns a lon/lat geometry into a w×h grid of the CRS sr
// (which it closes) with geotransform gt: 255 inside (pixel centres), 0 out.
func rasterizeLonLat(sr *godal.SpatialRef, geojson string, gt [6]float64, w, h int) ([]uint8, error) {
	defer sr.Close()
	ll, err := wgs84()
	if err != nil {
		return nil, err
	}
	defer ll.Close()
	g, err := godal.NewGeometryFromGeoJSON(geojson)
	if err != nil {
		return nil, layer.Errorf(layer.BadRequest, "the geometry: %v", err)
	}
	defer g.Close()
	g.SetSpatialRef(ll)
	if err := g.Reproject(sr); err != nil {
		return nil, layer.Errorf(layer.BadRequest, "the geometry cannot be transformed to the layer's CRS: %v", err)
	}
	mem, err := godal.Create(godal.Memory, "", 1, godal.Byte, w, h)
	if err != nil {
		return nil, err
	}
	defer mem.Close()
	if err := mem.SetGeoTransform(gt); err != nil {
		return nil, err
	}
	if err := mem.SetSpatialRef(sr); err != nil {
		return nil, err
	}
	if err := mem.RasterizeGeometry(g, godal.Values(255)); err != nil {
		return nil, layer.Errorf(layer.BadRequest, "the geometry cannot be rasterized: %v", err)
	}
	out := make([]uint8, w*h)
	if err := mem.Bands()[0].Read(0, 0, out, w, h); err != nil {
		return nil, err
	}
	return out, nil
}

// bandStats computes one band's statistics as numpy would on the valid
// values: population std (ddof=0), linear percentiles, numpy.histogram.
func bandStats(vals []float64, valid []bool, o StatsOptions) BandStats {
	v := make([]float64, 0, len(vals))
	for i, x := range vals {
		if valid[i] {
			v = append(v, x)
		}
	}
	total := len(vals)
	s := BandStats{Count: float64(len(v)), ValidPixels: float64(len(v)), MaskedPixels: float64(total - len(v))}
	if total > 0 {
		s.ValidPercent = math.Round(float64(len(v))/float64(total)*100*100) / 100
	}
	for _, p := range o.Percentiles {
		s.Percentiles = append(s.Percentiles, Percentile{P: p})
	}
	if len(v) == 0 {
		s.Histogram = [2][]float64{make([]float64, o.Bins), edges(0, 1, o.Bins)}
		return s
	}
	slices.Sort(v)
	ptr := func(x float64) *float64 { return &x }
	var sum float64
	for _, x := range v {
		sum += x
	}
	mean := sum / float64(len(v))
	var ss float64
	for _, x := range v {
		d := x - mean
		ss += d * d
	}
	s.Sum, s.Mean, s.Std = sum, ptr(mean), ptr(math.Sqrt(ss/float64(len(v))))
	s.Min, s.Max = ptr(v[0]), ptr(v[len(v)-1])
	s.Median = ptr(percentile(v, 50))
	for i := range s.Percentiles {
		s.Percentiles[i].Value = ptr(percentile(v, s.Percentiles[i].P))
	}
	// Unique values and their counts, from the sorted values: the majority
	// is the most frequent (the smallest of ties), the minority the least.
	bestN, worstN := 0, math.MaxInt
	var best, worst float64
	for i := 0; i < len(v); {
		j := i + 1
		for j < len(v) && v[j] == v[i] {
			j++
		}
		s.Unique++
		if c := j - i; c > bestN {
			bestN, best = c, v[i]
		}
		if c := j - i; c < worstN {
			worstN, worst = c, v[i]
		}
		i = j
	}
	s.Majority, s.Minority = ptr(best), ptr(worst)
	lo, hi := v[0], v[len(v)-1]
	if o.Range != nil {
		lo, hi = o.Range[0], o.Range[1]
	}
	s.Histogram = histogram(v, lo, hi, o.Bins)
	return s
}

// percentile is numpy.percentile's linear interpolation over sorted v.
func percentile(v []float64, p float64) float64 {
	rank := p / 100 * float64(len(v)-1)
	i := int(math.Floor(rank))
	if i >= len(v)-1 {
		return v[len(v)-1]
	}
	f := rank - float64(i)
	return v[i] + (v[i+1]-v[i])*f
}

// edges are numpy.linspace(lo, hi, bins+1).
func edges(lo, hi float64, bins int) []float64 {
	e := make([]float64, bins+1)
	step := (hi - lo) / float64(bins)
	for i := range e {
		e[i] = lo + float64(i)*step
	}
	e[bins] = hi
	return e
}

// histogram is numpy.histogram(v, bins, range=(lo, hi)): values outside the
// range are left out, the last bin includes hi.
func histogram(v []float64, lo, hi float64, bins int) [2][]float64 {
	if lo == hi {
		lo, hi = lo-0.5, hi+0.5
	}
	e := edges(lo, hi, bins)
	counts := make([]float64, bins)
	norm := float64(bins) / (hi - lo)
	for _, x := range v {
		if x < lo || x > hi {
			continue
		}
		i := int((x - lo) * norm)
		if i >= bins {
			i = bins - 1
		}
		if x < e[i] {
			i--
		} else if i != bins-1 && x >= e[i+1] {
			i++
		}
		counts[i]++
	}
	return [2][]float64{counts, e}
}
