package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkt"
	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/store"
	"github.com/udftiles/udftiles/tiles"
)

// run serves file (single) mode: GET /v1/udfs/{name}/run?bounds=...&param=... or
// POST with a JSON object of parameters.
func (s *api) run(w http.ResponseWriter, r *http.Request) {
	l, ok := s.layer(w, r, mux.Vars(r)["name"])
	if !ok {
		return
	}
	c, err := s.fileCall(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.serve(w, r, l, c)
}

// readBody reads a request body within limits.max_body_bytes.
func (s *api) readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, layer.Errorf(layer.TooLarge, "the body is over %d bytes (limits.max_body_bytes)", s.limits.MaxBodyBytes)
	case err != nil:
		return nil, layer.Errorf(layer.BadRequest, "reading the body: %v", err)
	}
	return body, nil
}

// fileCall reads a file-mode call's parameters from the query and, for POST, a
// JSON body; bounds= (or the legacy bbox=) is xmin,ymin,xmax,ymax in lon/lat.
func (s *api) fileCall(r *http.Request) (call, error) {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		body, err := s.readBody(r)
		if err != nil {
			return call{}, err
		}
		if len(strings.TrimSpace(string(body))) > 0 {
			params, err := jsonParams(body)
			if err != nil {
				return call{}, asBadRequest(err, "the body must be a JSON object of parameters")
			}
			if n := len(params) + len(q); n > s.limits.MaxParams {
				return call{}, layer.Errorf(layer.BadRequest, "%d parameters: at most %d", n, s.limits.MaxParams)
			}
			for k, v := range params {
				if _, dup := q[k]; dup {
					return call{}, layer.Errorf(layer.BadRequest, "parameter %s: given in both the query and the body; give it once", truncate(k, 64))
				}
				q[k] = []string{queryValue(v)}
			}
		}
	}
	b, area, err := queryBounds(q)
	if err != nil {
		return call{}, err
	}
	return call{query: q, bounds: b, area: area}, nil
}

// queryBounds reads and removes bounds= (or the legacy bbox=): xmin,ymin,xmax,ymax
// in lon/lat, or a geometry (see areaBounds); nil when neither is given.
func queryBounds(q url.Values) (*tiles.Bounds, string, error) {
	if q.Has("bounds") && q.Has("bbox") {
		return nil, "", layer.Errorf(layer.BadRequest, "parameters bounds and bbox: the same setting; give one")
	}
	var out *tiles.Bounds
	var area string
	for _, k := range []string{"bounds", "bbox"} {
		if v := q.Get(k); v != "" {
			b, a, err := areaBounds(v)
			if err != nil {
				return nil, "", layer.Errorf(layer.BadRequest, "parameter %s: %v", k, err)
			}
			out, area = &b, a
		}
		q.Del(k)
	}
	return out, area, nil
}

// areaBounds reads a bounds value: four numbers (xmin,ymin,xmax,ymax, bare or
// a JSON list), or a geometry in lon/lat as GeoJSON (a geometry, a Feature or a
// FeatureCollection) or WKT. A geometry's envelope is the bounds, and its text
// is returned as the area for handlers that take shapes.
func areaBounds(v string) (b tiles.Bounds, area string, err error) {
	s := strings.TrimSpace(v)
	var bound orb.Bound
	switch {
	case strings.HasPrefix(s, "{"):
		if bound, err = geojsonBound([]byte(s)); err != nil {
			return b, "", fmt.Errorf("want xmin,ymin,xmax,ymax or a GeoJSON or WKT geometry: %v", err)
		}
	case s != "" && (s[0]|0x20 >= 'a' && s[0]|0x20 <= 'z'):
		g, err := wktGeometry(s)
		if err != nil {
			return b, "", fmt.Errorf("want xmin,ymin,xmax,ymax or a GeoJSON or WKT geometry: %v", err)
		}
		if g == nil || isEmpty(g) {
			return b, "", fmt.Errorf("the geometry is empty")
		}
		bound = g.Bound()
	default:
		b, err = tiles.ParseBounds(s)
		return b, "", err
	}
	b = tiles.Bounds{MinX: bound.Min[0], MinY: bound.Min[1], MaxX: bound.Max[0], MaxY: bound.Max[1]}
	if b.MinX >= b.MaxX || b.MinY >= b.MaxY {
		return b, "", fmt.Errorf("the geometry's envelope %g,%g,%g,%g has no area: give a polygon, or xmin,ymin,xmax,ymax",
			b.MinX, b.MinY, b.MaxX, b.MaxY)
	}
	if err := b.Validate(); err != nil {
		return b, "", fmt.Errorf("the geometry's envelope: %v", err)
	}
	return b, s, nil
}

// wktGeometry parses WKT; a panic of the parser is an error of the request.
func wktGeometry(s string) (g orb.Geometry, err error) {
	defer func() {
		if r := recover(); r != nil {
			g, err = nil, fmt.Errorf("malformed WKT: %v", r)
		}
	}()
	return wkt.Unmarshal(s)
}

// geojsonBound is the envelope of a GeoJSON geometry, Feature or
// FeatureCollection. orb's reader panics on some malformed documents: that is
// an error of the request.
func geojsonBound(data []byte) (bound orb.Bound, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed GeoJSON: %v", r)
		}
	}()
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return bound, err
	}
	var geoms []orb.Geometry
	switch head.Type {
	case "FeatureCollection":
		fc, err := geojson.UnmarshalFeatureCollection(data)
		if err != nil {
			return bound, err
		}
		for _, f := range fc.Features {
			geoms = append(geoms, f.Geometry)
		}
	case "Feature":
		f, err := geojson.UnmarshalFeature(data)
		if err != nil {
			return bound, err
		}
		geoms = append(geoms, f.Geometry)
	case "":
		return bound, fmt.Errorf(`a GeoJSON object needs a "type"`)
	default:
		g, err := geojson.UnmarshalGeometry(data)
		if err != nil {
			return bound, err
		}
		geoms = append(geoms, g.Geometry())
	}
	found := false
	for _, g := range geoms {
		if g == nil || isEmpty(g) {
			continue
		}
		if !found {
			bound, found = g.Bound(), true
		} else {
			bound = bound.Union(g.Bound())
		}
	}
	if !found {
		return bound, fmt.Errorf("the %s has no geometry", head.Type)
	}
	return bound, nil
}

// isEmpty reports a geometry without coordinates (an empty collection, an
// empty polygon), whose envelope would be a made-up point.
func isEmpty(g orb.Geometry) bool {
	switch c := g.(type) {
	case orb.Collection:
		for _, m := range c {
			if !isEmpty(m) {
				return false
			}
		}
		return true
	case orb.MultiPolygon:
		return len(c) == 0
	case orb.Polygon:
		return len(c) == 0 || len(c[0]) == 0
	case orb.MultiLineString:
		return len(c) == 0
	case orb.LineString:
		return len(c) == 0
	case orb.MultiPoint:
		return len(c) == 0
	case orb.Ring:
		return len(c) == 0
	}
	return false
}

// queryValue turns a JSON parameter into the string a query would carry.
func queryValue(v any) string { return layer.QueryText(v) }

// sharedLayer resolves the route's shared token (from config, or made at
// run time) to its layer, under the token's rate limit, and says whether
// the token was made with its cache off. Otherwise it answers the error.
func (s *api) sharedLayer(w http.ResponseWriter, r *http.Request) (l *layer.Layer, noCache bool, ok bool) {
	token := mux.Vars(r)["token"]
	name, ok := s.Tokens[token]
	if !ok && s.Catalog != nil && strings.HasPrefix(token, "fsh_") {
		// A token made at run time (POST /v1/udfs/{name}/tokens).
		var t store.Token
		if t, ok = s.Catalog.Token(r.Context(), token); ok {
			name, noCache = t.UDF, !t.Cache
		}
	}
	if !ok {
		writeError(w, r, layer.Errorf(layer.NotFound, "unknown shared token"))
		return nil, false, false
	}
	if lim := s.tokenLimits[token]; lim != nil {
		if ok, wait := lim.allow("", time.Now()); !ok {
			tooMany(w, r, wait, "this shared token")
			return nil, false, false
		}
	}
	// A shared token grants its layer, private or not.
	l, ok = s.Registry.Get(name)
	if !ok {
		writeError(w, r, layer.Errorf(layer.NotFound, "the UDF of this token is not served"))
		return nil, false, false
	}
	return l, noCache, true
}

// sharedTileJSON serves /server/v1/realtime-shared/{token}/run/tilejson.json:
// the TileJSON of the token's UDF, whose tile URL is the token's own tile
// route (no bearer token needed), with the request's query carried through.
func (s *api) sharedTileJSON(w http.ResponseWriter, r *http.Request) {
	l, _, ok := s.sharedLayer(w, r)
	if !ok {
		return
	}
	token := mux.Vars(r)["token"]
	s.writeTileJSON(w, r, l, "/server/v1/realtime-shared/"+url.PathEscape(token)+"/run/tiles/{z}/{x}/{y}", r.URL.Query())
}

// shared serves the Fused-compatible shared-token routes: a token from config
// grants anonymous use of one UDF, in tile or file mode.
func (s *api) shared(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	l, noCache, ok := s.sharedLayer(w, r)
	if !ok {
		return
	}
	var c call
	if zs, ok := v["z"]; ok {
		y, ext, _ := strings.Cut(v["y"], ".")
		t, err := parseTile(zs, v["x"], y)
		if err != nil {
			writeError(w, r, err)
			return
		}
		c = call{tile: t, isTile: true, ext: ext, query: r.URL.Query()}
	} else {
		var err error
		if c, err = s.fileCall(r); err != nil {
			writeError(w, r, err)
			return
		}
		c.ext = v["ext"] // run/file.csv, as format=csv
	}
	// Fused's legacy output parameters name the format per kind of result.
	c.rasterFormat = legacyFormat(c.query.Get("dtype_out_raster"))
	c.vectorFormat = legacyFormat(c.query.Get("dtype_out_vector"))
	c.query.Del("dtype_out_raster")
	c.query.Del("dtype_out_vector")
	if noCache {
		c.query.Set("cache", "false") // the token was made with its cache off
	}
	s.serve(w, r, l, c)
}

func legacyFormat(f string) string {
	switch f = strings.ToLower(f); f {
	case "tiff", "geotiff":
		return "tif"
	case "jpeg":
		return "jpg"
	}
	return f
}
