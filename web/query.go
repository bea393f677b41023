package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// The raster query API of COG layers (/v1/udfs/{name}/...) and of COGs named
// by url= (/v1/cog/...?url=), as TiTiler spells it: info, statistics, point,
// and the preview, bbox and feature crops. See docs/raster.md.

// queryLayer finds the COG a query route names: the {name} layer (which the
// request may use: one file or a mosaic) or the url= file (allow-listed).
// The query is returned without url=.
func (s *api) queryLayer(r *http.Request) (*layer.Layer, cog.Queryable, url.Values, error) {
	q := r.URL.Query()
	var l *layer.Layer
	if name, ok := mux.Vars(r)["name"]; ok {
		var found bool
		if l, found = s.Registry.Get(name); !found {
			return nil, nil, nil, layer.Errorf(layer.NotFound, "no UDF named %q (see /v1/udfs)", name)
		}
		if err := s.mayUse(r, l); err != nil {
			return nil, nil, nil, err
		}
	} else {
		var err error
		if l, err = s.urlLayer(r); err != nil {
			var ue *layer.Error
			if !errors.As(err, &ue) {
				err = layer.Errorf(layer.Unavailable, "%v", err)
			}
			return nil, nil, nil, err
		}
		q.Del("url")
	}
	rd, ok := l.Handler.(cog.Queryable)
	if !ok {
		return nil, nil, nil, layer.Errorf(layer.NotFound, "UDF %s is not a COG layer (handler %s): info, statistics, point, preview, bbox and feature serve handler cog only", l.Name, l.Kind)
	}
	if err := rd.Status(); err != nil {
		return nil, nil, nil, layer.Errorf(layer.Unavailable, "UDF %s is unavailable: %v", l.Name, err)
	}
	return l, rd, q, nil
}

// onlyParams refuses parameters a route does not read, naming them.
func onlyParams(q url.Values, route string, known ...string) error {
	for k := range q {
		ok := false
		for _, n := range known {
			ok = ok || k == n
		}
		if !ok {
			return layer.Errorf(layer.BadRequest, "parameter %s: not a parameter of %s (it takes %s)", truncate(k, 64), route, strings.Join(known, ", "))
		}
	}
	return nil
}

// selection reads bidx= and expression=.
func selection(q url.Values) (cog.Selection, error) {
	sel := cog.Selection{Expression: strings.TrimSpace(q.Get("expression"))}
	if v := q.Get("bidx"); v != "" {
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return sel, layer.Errorf(layer.BadRequest, "parameter bidx: want 1-based band numbers, e.g. 1 or 3,2,1, got %q", v)
			}
			sel.Bands = append(sel.Bands, n)
		}
	}
	if q.Has("expression") && sel.Expression == "" {
		return sel, layer.Errorf(layer.BadRequest, "parameter expression: empty")
	}
	return sel, nil
}

// floats parses n comma-separated finite numbers.
func floats(name, v string, n int) ([]float64, error) {
	parts := strings.Split(v, ",")
	if len(parts) != n {
		return nil, layer.Errorf(layer.BadRequest, "parameter %s: want %d comma-separated numbers, got %q", name, n, truncate(v, 100))
	}
	out := make([]float64, n)
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, layer.Errorf(layer.BadRequest, "parameter %s: %q is not a number", name, truncate(p, 40))
		}
		out[i] = f
	}
	return out, nil
}

// lonLatBox parses minx,miny,maxx,maxy in lon/lat.
func lonLatBox(name, v string) (tiles.Bounds, error) {
	f, err := floats(name, v, 4)
	if err != nil {
		return tiles.Bounds{}, err
	}
	b := tiles.Bounds{MinX: f[0], MinY: f[1], MaxX: f[2], MaxY: f[3]}
	if b.MinX >= b.MaxX || b.MinY >= b.MaxY || b.MinX < -180 || b.MaxX > 180 || b.MinY < -90 || b.MaxY > 90 {
		return b, layer.Errorf(layer.BadRequest, "parameter %s: want minx,miny,maxx,maxy in lon/lat with minx < maxx and miny < maxy, got %q", name, v)
	}
	return b, nil
}

// rasterInfo serves GET .../info.
func (s *api) rasterInfo(w http.ResponseWriter, r *http.Request) {
	if s.isSTAC(r) {
		s.stacInfo(w, r)
		return
	}
	l, rd, q, err := s.queryLayer(r)
	if err == nil {
		err = onlyParams(q, "info")
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	in, err := rd.Describe()
	if err != nil {
		writeError(w, r, err)
		return
	}
	privateDoc(w, l)
	writeJSON(w, in)
}

// rasterPoint serves GET .../point/{lon},{lat}.
func (s *api) rasterPoint(w http.ResponseWriter, r *http.Request) {
	if s.isSTAC(r) {
		s.stacPoint(w, r)
		return
	}
	l, rd, q, err := s.queryLayer(r)
	if err == nil {
		err = onlyParams(q, "point", "bidx", "expression")
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	ll, err := floats("point", mux.Vars(r)["lonlat"], 2)
	if err != nil {
		writeError(w, r, err)
		return
	}
	sel, err := selection(q)
	if err != nil {
		writeError(w, r, err)
		return
	}
	p, err := rd.Point(ll[0], ll[1], sel)
	if err != nil {
		writeError(w, r, err)
		return
	}
	privateDoc(w, l)
	writeJSON(w, p)
}

// maxStatsFeatures bounds the features of a POSTed FeatureCollection.
const maxStatsFeatures = 64

// rasterStatistics serves GET .../statistics (the whole layer, or bbox=)
// and POST .../statistics with a GeoJSON geometry, Feature or
// FeatureCollection: the statistics of the pixels inside, in the Feature's
// properties.statistics as TiTiler answers.
func (s *api) rasterStatistics(w http.ResponseWriter, r *http.Request) {
	l, stats, q, err := s.statsLayer(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	o, err := statsOptions(q)
	if err != nil {
		writeError(w, r, err)
		return
	}
	o.Ctx = r.Context()
	if r.Method != http.MethodPost {
		if v := q.Get("bbox"); v != "" {
			b, err := lonLatBox("bbox", v)
			if err != nil {
				writeError(w, r, err)
				return
			}
			o.Bounds = &b
		}
		st, err := stats(o)
		if err != nil {
			writeError(w, r, err)
			return
		}
		privateDoc(w, l)
		writeJSON(w, st)
		return
	}
	if q.Has("bbox") {
		writeError(w, r, layer.Errorf(layer.BadRequest, "parameter bbox: a POST gives its area as the GeoJSON body; leave bbox out"))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, r, layer.Errorf(layer.TooLarge, "the body: %v", err))
		return
	}
	doc, geoms, err := readGeoJSON(body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var results []*cog.Statistics
	for _, g := range geoms {
		o.Geometry = string(g)
		st, err := stats(o)
		if err != nil {
			writeError(w, r, err)
			return
		}
		results = append(results, st)
	}
	privateDoc(w, l)
	switch doc["type"] {
	case "Feature":
		writeJSON(w, withStatistics(doc, results[0]))
	case "FeatureCollection":
		feats, _ := doc["features"].([]any)
		for i, f := range feats {
			feats[i] = withStatistics(f.(map[string]any), results[i])
		}
		writeJSON(w, doc)
	default:
		writeJSON(w, results[0])
	}
}

// statsParams are the parameters of .../statistics, beside a STAC layer's
// assets= and asset_bidx=.
var statsParams = []string{"bidx", "expression", "max_size", "bbox", "p", "histogram_bins", "histogram_range", "pixel_selection"}

// statsLayer finds the layer of a statistics route and how it computes
// them: a COG layer or mosaic (Queryable), or a STAC layer, whose band
// selection (assets=, asset_bidx=, bidx=, expression=) its Schema coerces.
func (s *api) statsLayer(r *http.Request) (*layer.Layer, func(cog.StatsOptions) (*cog.Statistics, error), url.Values, error) {
	if !s.isSTAC(r) && !strings.HasPrefix(r.URL.Path, "/v1/stac/") {
		l, rd, q, err := s.queryLayer(r)
		if err == nil {
			err = onlyParams(q, "statistics", statsParams...)
		}
		if err != nil {
			return nil, nil, nil, err
		}
		return l, rd.Statistics, q, nil
	}
	l, st, err := s.stacQueryLayer(r)
	if err != nil {
		return nil, nil, nil, err
	}
	q := r.URL.Query()
	q.Del("url")
	if err := onlyParams(q, "statistics", append([]string{"assets", "asset_bidx"}, statsParams...)...); err != nil {
		return nil, nil, nil, err
	}
	sel := url.Values{}
	for _, k := range []string{"assets", "asset_bidx", "bidx", "expression"} {
		if v, ok := q[k]; ok {
			sel[k] = v
		}
	}
	params, err := st.Schema().Coerce(sel)
	if err != nil {
		return nil, nil, nil, err
	}
	stats := func(o cog.StatsOptions) (*cog.Statistics, error) {
		o.Selection = cog.Selection{} // the assets' selection is params'
		return st.Statistics(params, o)
	}
	return l, stats, q, nil
}

func withStatistics(f map[string]any, st *cog.Statistics) map[string]any {
	props, _ := f["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	props["statistics"] = st
	f["properties"] = props
	return f
}

// statsOptions reads the statistics parameters of a query.
func statsOptions(q url.Values) (cog.StatsOptions, error) {
	var o cog.StatsOptions
	var err error
	if o.Selection, err = selection(q); err != nil {
		return o, err
	}
	o.PixelSelection = q.Get("pixel_selection")
	if v := q.Get("max_size"); v != "" {
		if o.MaxSize, err = strconv.Atoi(v); err != nil || o.MaxSize < 1 {
			return o, layer.Errorf(layer.BadRequest, "parameter max_size: want a number of pixels 1 to %d, got %q", cog.MaxQuerySize, truncate(v, 40))
		}
	}
	if v := q.Get("histogram_bins"); v != "" {
		if o.Bins, err = strconv.Atoi(v); err != nil || o.Bins < 1 {
			return o, layer.Errorf(layer.BadRequest, "parameter histogram_bins: want a number of bins, got %q", truncate(v, 40))
		}
	}
	if v := q.Get("histogram_range"); v != "" {
		f, err := floats("histogram_range", v, 2)
		if err != nil {
			return o, err
		}
		if f[0] >= f[1] {
			return o, layer.Errorf(layer.BadRequest, "parameter histogram_range: want min,max with min < max, got %q", v)
		}
		o.Range = &[2]float64{f[0], f[1]}
	}
	if vs, ok := q["p"]; ok {
		o.Percentiles = []float64{}
		for _, v := range vs {
			for _, f := range strings.Split(v, ",") {
				p, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
				if err != nil || p < 0 || p > 100 {
					return o, layer.Errorf(layer.BadRequest, "parameter p: want percentiles 0 to 100, got %q", truncate(f, 40))
				}
				o.Percentiles = append(o.Percentiles, p)
			}
		}
	}
	return o, nil
}

// readGeoJSON reads a GeoJSON geometry, Feature or FeatureCollection and
// returns the document and its geometries (as GeoJSON text), one a feature.
func readGeoJSON(body []byte) (map[string]any, []json.RawMessage, error) {
	bad := func(format string, args ...any) (map[string]any, []json.RawMessage, error) {
		return nil, nil, layer.Errorf(layer.BadRequest, "the body: "+format, args...)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return bad("want a GeoJSON geometry, Feature or FeatureCollection in lon/lat")
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return bad("not a JSON object: %v", err)
	}
	var shape struct {
		Type     string          `json:"type"`
		Geometry json.RawMessage `json:"geometry"`
		Features []struct {
			Geometry json.RawMessage `json:"geometry"`
		} `json:"features"`
	}
	_ = json.Unmarshal(body, &shape)
	var geoms []json.RawMessage
	switch shape.Type {
	case "Feature":
		geoms = append(geoms, shape.Geometry)
	case "FeatureCollection":
		if len(shape.Features) == 0 {
			return bad("the FeatureCollection has no features")
		}
		if len(shape.Features) > maxStatsFeatures {
			return nil, nil, layer.Errorf(layer.TooLarge, "the body: %d features, at most %d", len(shape.Features), maxStatsFeatures)
		}
		for _, f := range shape.Features {
			geoms = append(geoms, f.Geometry)
		}
	case "Polygon", "MultiPolygon", "GeometryCollection":
		geoms = append(geoms, json.RawMessage(body))
	case "":
		return bad(`want a GeoJSON object with a "type"`)
	default:
		return bad("a %s has no area: want a Polygon or MultiPolygon geometry, Feature or FeatureCollection", shape.Type)
	}
	for i, g := range geoms {
		if len(bytes.TrimSpace(g)) == 0 || string(bytes.TrimSpace(g)) == "null" {
			return bad("feature %d has no geometry", i)
		}
		if _, err := cog.GeoJSONBounds(string(g)); err != nil {
			return nil, nil, err
		}
	}
	return doc, geoms, nil
}

// cropLayer finds the layer of a crop route: a COG layer or mosaic, or a
// STAC layer (the {name} layer or the url= file or item).
func (s *api) cropLayer(r *http.Request) (*layer.Layer, url.Values, error) {
	var (
		l   *layer.Layer
		q   url.Values
		err error
	)
	if s.isSTAC(r) || strings.HasPrefix(r.URL.Path, "/v1/stac/") {
		l, _, err = s.stacQueryLayer(r)
		q = r.URL.Query()
		q.Del("url")
	} else {
		l, _, q, err = s.queryLayer(r)
	}
	if err != nil {
		return nil, nil, err
	}
	q, err = cropQuery(q)
	return l, q, err
}

// cropQuery checks the parameters of a crop: the style and the layer's
// parameters go to the tile service as for tiles.
func cropQuery(q url.Values) (url.Values, error) {
	for _, k := range []string{"bbox", "bounds", "p", "histogram_bins", "histogram_range"} {
		if q.Has(k) {
			return nil, layer.Errorf(layer.BadRequest, "parameter %s: not a parameter of preview, bbox and feature crops", k)
		}
	}
	return q, nil
}

// rasterPreview serves GET .../preview[.ext]: the whole layer within max_size.
func (s *api) rasterPreview(w http.ResponseWriter, r *http.Request) {
	l, q, err := s.cropLayer(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.serve(w, r, l, call{ext: mux.Vars(r)["ext"], query: q})
}

// rasterBBox serves GET .../bbox/{minx},{miny},{maxx},{maxy}[.ext].
func (s *api) rasterBBox(w http.ResponseWriter, r *http.Request) {
	l, q, err := s.cropLayer(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	box, ext := mux.Vars(r)["bbox"], ""
	// The extension follows the last number: 1.5,2,3.25,4.png
	if i := strings.LastIndexByte(box, '.'); i > strings.LastIndexByte(box, ',') {
		if _, err := strconv.Atoi(box[i+1:]); err != nil {
			box, ext = box[:i], box[i+1:]
		}
	}
	b, err := lonLatBox("bbox", box)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.serve(w, r, l, call{bounds: &b, ext: ext, query: q})
}

// rasterFeature serves POST .../feature[.ext]: the crop of a GeoJSON
// geometry's envelope, transparent outside the geometry.
func (s *api) rasterFeature(w http.ResponseWriter, r *http.Request) {
	l, q, err := s.cropLayer(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, r, layer.Errorf(layer.TooLarge, "the body: %v", err))
		return
	}
	_, geoms, err := readGeoJSON(body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	area := string(geoms[0])
	if len(geoms) > 1 {
		area = `{"type":"GeometryCollection","geometries":[` + string(bytes.Join(func() [][]byte {
			out := make([][]byte, len(geoms))
			for i, g := range geoms {
				out[i] = g
			}
			return out
		}(), []byte(","))) + `]}`
	}
	b, err := cog.GeoJSONBounds(area)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.serve(w, r, l, call{bounds: &b, area: area, ext: mux.Vars(r)["ext"], query: q})
}
