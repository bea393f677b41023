package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/layer"
)

// Tiles and queries of a STAC Item's assets, as TiTiler's /stac endpoints:
// /v1/stac/...?url=<item.json> for an item under cog_urls.allow, whose
// assets must lie under it too (an item names files; it must not make the
// server read what url= could not name), and the layers of handler stac.
// See docs/raster.md.

// stacLayer is the layer of the STAC Item url= names.
func (s *api) stacLayer(r *http.Request) (*layer.Layer, error) {
	return s.namedLayer(r, urlKind{
		name:  "stac",
		check: func(p, raw string) error { return checkLocalFile(p, raw, "a STAC Item") },
		open: func(gdalPath string) (layer.Handler, error) {
			return cog.NewSTAC(cog.STACOptions{Path: gdalPath, Drivers: cog.URLDrivers, Locate: s.locateAsset}), nil
		},
		fail: stacOpenError,
	})
}

// locateAsset allows an asset's href of an item named by url= as url= itself
// would be: under cog_urls.allow, not a private layer's file, and for a
// local file a GeoTIFF.
func (s *api) locateAsset(href string) (string, error) {
	p, err := AllowedURL(href, s.COGAllow)
	if err == nil && s.privateFile(p) {
		err = layer.Errorf(layer.NotFound, "parameter url: no file %s", href)
	}
	if err == nil && !strings.HasPrefix(p, "/vsi") {
		err = checkLocalCOG(p, href)
	}
	if err != nil {
		var ue *layer.Error
		if errors.As(err, &ue) { // the href, not a parameter, is at fault
			return "", &layer.Error{Kind: ue.Kind, Msg: strings.TrimPrefix(ue.Msg, "parameter url: ")}
		}
		return "", err
	}
	return p, nil
}

// stacOpenError is the answer for an allowed url= whose item cannot be read.
func stacOpenError(err error, raw string, local bool) error {
	var ue *layer.Error
	if errors.As(err, &ue) { // not an item
		return layer.Errorf(ue.Kind, "parameter url: %s: %s", raw, ue.Msg)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "HTTP response code: 404") || strings.Contains(msg, "No such file"):
		return layer.Errorf(layer.NotFound, "parameter url: no STAC Item at %s", raw)
	case strings.Contains(msg, "HTTP response code: 403") || strings.Contains(msg, "HTTP response code: 401"):
		return layer.Errorf(layer.Forbidden, "parameter url: %s refuses the server", raw)
	case local:
		return layer.Errorf(layer.Forbidden, "parameter url: %s cannot be read by the server", raw)
	}
	return layer.Errorf(layer.Unavailable, "parameter url: %s cannot be read now", raw)
}

// stacTile serves /v1/stac/tiles/{z}/{x}/{y}[.ext]?url=...
func (s *api) stacTile(w http.ResponseWriter, r *http.Request) {
	l, err := s.stacLayer(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	v := mux.Vars(r)
	y, ext, _ := strings.Cut(v["y"], ".")
	t, err := parseTile(v["z"], v["x"], y)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	q.Del("url")
	s.serve(w, r, l, call{tile: t, isTile: true, ext: ext, query: q})
}

// stacTileJSON serves /v1/stac/tilejson.json?url=...
func (s *api) stacTileJSON(w http.ResponseWriter, r *http.Request) {
	l, err := s.stacLayer(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeTileJSON(w, r, l, "/v1/stac/tiles/{z}/{x}/{y}", r.URL.Query())
}

// stacQueryLayer finds the STAC layer of a query route: the {name} layer
// (which the request may use) or the item url= names. The query is
// returned without url=.
func (s *api) stacQueryLayer(r *http.Request) (*layer.Layer, *cog.STAC, error) {
	var l *layer.Layer
	if name, ok := mux.Vars(r)["name"]; ok {
		var found bool
		if l, found = s.Registry.Get(name); !found {
			return nil, nil, layer.Errorf(layer.NotFound, "no UDF named %q (see /v1/udfs)", name)
		}
		if err := s.mayUse(r, l); err != nil {
			return nil, nil, err
		}
	} else {
		var err error
		if l, err = s.stacLayer(r); err != nil {
			return nil, nil, err
		}
	}
	st, ok := l.Handler.(*cog.STAC)
	if !ok {
		return nil, nil, layer.Errorf(layer.NotFound, "UDF %s is not a STAC layer (handler %s)", l.Name, l.Kind)
	}
	if err := st.Status(); err != nil {
		return nil, nil, layer.Errorf(layer.Unavailable, "UDF %s is unavailable: %v", l.Name, err)
	}
	return l, st, nil
}

// isSTAC reports whether a query route's {name} is a STAC layer: its info
// and point are served by stacInfo and stacPoint.
func (s *api) isSTAC(r *http.Request) bool {
	name, ok := mux.Vars(r)["name"]
	if !ok {
		return false
	}
	l, found := s.Registry.Get(name)
	if !found {
		return false
	}
	_, ok = l.Handler.(*cog.STAC)
	return ok
}

// stacInfo serves GET .../info of a STAC layer: the item's raster assets
// and the info of those assets= names (default: the layer's, else all).
func (s *api) stacInfo(w http.ResponseWriter, r *http.Request) {
	l, st, err := s.stacQueryLayer(r)
	q := r.URL.Query()
	q.Del("url")
	if err == nil {
		err = onlyParams(q, "info", "assets")
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	var assets []string
	for _, v := range q["assets"] {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				assets = append(assets, a)
			}
		}
	}
	in, err := st.Info(assets)
	if err != nil {
		writeError(w, r, err)
		return
	}
	privateDoc(w, l)
	writeJSON(w, in)
}

// stacPoint serves GET .../point/{lon},{lat} of a STAC layer.
func (s *api) stacPoint(w http.ResponseWriter, r *http.Request) {
	l, st, err := s.stacQueryLayer(r)
	q := r.URL.Query()
	q.Del("url")
	if err == nil {
		err = onlyParams(q, "point", "assets", "asset_bidx", "bidx", "expression")
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
	params, err := st.Schema().Coerce(q)
	if err != nil {
		writeError(w, r, err)
		return
	}
	p, err := st.Point(ll[0], ll[1], params)
	if err != nil {
		writeError(w, r, err)
		return
	}
	privateDoc(w, l)
	writeJSON(w, p)
}
