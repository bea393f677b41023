package web

// OGC API – Tiles (Part 1, core) and WMTS 1.0.0 faces of the layers. Both
// describe the one tiling the server has, WebMercatorQuad, and answer tiles
// through serve, so they share the cache with /v1/udfs/{name}/tiles.

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/render"
	"github.com/udftiles/udftiles/tiles"
)

const (
	wmqID       = "WebMercatorQuad"
	wmqURI      = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
	wmqCRS      = "http://www.opengis.net/def/crs/EPSG/0/3857"
	crs84       = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
	wmqOrigin   = 20037508.3427892
	wmqMaxZoom  = 24
	wmqTileSize = 256
	// pixelSize is the standard rendering pixel of OGC scale denominators: 0.28 mm.
	pixelSize = 0.00028
	relTiling = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
)

// The media types OGC API documents name, from the format table.
var (
	mimeMVT  = render.MediaType("mvt")
	mimePNG  = render.MediaType("png")
	mimeJSON = render.MediaType("json")
)

var ogcConformance = []string{
	"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
	"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
	"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
	"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
	"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/png",
	"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
}

type ogcLink struct {
	Rel       string `json:"rel"`
	Href      string `json:"href"`
	Type      string `json:"type,omitempty"`
	Title     string `json:"title,omitempty"`
	Templated bool   `json:"templated,omitempty"`
}

// cellSize is the width of a pixel of zoom z in metres.
func cellSize(z int) float64 { return 2 * wmqOrigin / wmqTileSize / float64(uint64(1)<<uint(z)) }

func (s *api) ogcBase(r *http.Request) string { return s.baseURL(r) + "/ogc" }

func (s *api) ogcLanding(w http.ResponseWriter, r *http.Request) {
	b := s.ogcBase(r)
	writeJSON(w, map[string]any{
		"title":       "udftiles",
		"description": "OGC API – Tiles of the server's layers",
		"links": []ogcLink{
			{Rel: "self", Href: b, Type: mimeJSON, Title: "this document"},
			{Rel: "conformance", Href: b + "/conformance", Type: mimeJSON, Title: "conformance classes"},
			{Rel: "http://www.opengis.net/def/rel/ogc/1.0/conformance", Href: b + "/conformance", Type: mimeJSON},
			{Rel: "data", Href: b + "/collections", Type: mimeJSON, Title: "collections"},
			{Rel: "http://www.opengis.net/def/rel/ogc/1.0/data", Href: b + "/collections", Type: mimeJSON},
			{Rel: "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes", Href: b + "/tileMatrixSets", Type: mimeJSON, Title: "tile matrix sets"},
		},
	})
}

func (s *api) ogcConformance(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"conformsTo": ogcConformance})
}

// tileMatrixSet is the OGC Two Dimensional Tile Matrix Set (2.0) JSON of WebMercatorQuad.
func tileMatrixSet(self string) map[string]any {
	tms := make([]map[string]any, 0, wmqMaxZoom+1)
	v1 := make([]map[string]any, 0, wmqMaxZoom+1)
	for z := 0; z <= wmqMaxZoom; z++ {
		n := 1 << uint(z)
		tms = append(tms, map[string]any{
			"id": strconv.Itoa(z), "scaleDenominator": cellSize(z) / pixelSize, "cellSize": cellSize(z),
			"cornerOfOrigin": "topLeft", "pointOfOrigin": []float64{-wmqOrigin, wmqOrigin},
			"tileWidth": wmqTileSize, "tileHeight": wmqTileSize, "matrixWidth": n, "matrixHeight": n,
		})
		v1 = append(v1, map[string]any{
			"type": "TileMatrixType", "identifier": strconv.Itoa(z), "scaleDenominator": cellSize(z) / pixelSize,
			"topLeftCorner": []float64{-wmqOrigin, wmqOrigin},
			"tileWidth":     wmqTileSize, "tileHeight": wmqTileSize, "matrixWidth": n, "matrixHeight": n,
		})
	}
	return map[string]any{
		"id": wmqID, "title": "Google Maps Compatible for the World", "uri": wmqURI, "crs": wmqCRS,
		"orderedAxes":       []string{"X", "Y"},
		"wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
		"tileMatrices":      tms,
		"links":             []ogcLink{{Rel: "self", Href: self, Type: mimeJSON}},
		// The same matrices in the TMS 1.0 JSON encoding, which is all that
		// readers before TMS 2.0 (GDAL up to 3.6) parse; 2.0 readers key on
		// tileMatrices and ignore these members.
		"type": "TileMatrixSetType", "identifier": wmqID, "supportedCRS": wmqCRS, "tileMatrix": v1,
	}
}

func (s *api) ogcTileMatrixSets(w http.ResponseWriter, r *http.Request) {
	b := s.ogcBase(r)
	writeJSON(w, map[string]any{"tileMatrixSets": []map[string]any{{
		"id": wmqID, "title": "Google Maps Compatible for the World", "uri": wmqURI, "crs": wmqCRS,
		"links": []ogcLink{{Rel: "self", Href: b + "/tileMatrixSets/" + wmqID, Type: mimeJSON}},
	}}})
}

func (s *api) ogcTileMatrixSet(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["tms"]
	if id != wmqID {
		writeError(w, r, layer.Errorf(layer.NotFound, "no tile matrix set %q (this server has %s)", id, wmqID))
		return
	}
	writeJSON(w, tileMatrixSet(s.ogcBase(r)+"/tileMatrixSets/"+wmqID))
}

// dataKind is one kind of tiles a layer serves: map (PNG) or vector (MVT).
type dataKind struct {
	DataType, Format, Mime string
}

var (
	kindMap    = dataKind{"map", "png", mimePNG}
	kindVector = dataKind{"vector", "mvt", mimeMVT}
)

// dataKinds are the kinds of tiles a layer serves, its main kind first; the
// main kind's tilesets are at {collection}/tiles, the other's at
// {collection}/{map|vector}/tiles.
func dataKinds(l *layer.Layer) []dataKind {
	if l.Handler == nil {
		return nil
	}
	sch := l.Handler.Schema()
	if !slices.Contains(sch.Modes, "tile") {
		return nil
	}
	var out []dataKind
	png, mvt := sch.HasFormat("png"), sch.HasFormat("mvt")
	if mvt && (sch.DefaultFormat == "mvt" || sch.DefaultFormat == "pbf" || !png) {
		out = append(out, kindVector)
		if png {
			out = append(out, kindMap)
		}
		return out
	}
	if png {
		out = append(out, kindMap)
	}
	if mvt {
		out = append(out, kindVector)
	}
	return out
}

// tilesPath is the path, under the collection, of the tilesets of kind k.
func tilesPath(l *layer.Layer, k dataKind) string {
	if ks := dataKinds(l); len(ks) > 0 && ks[0] == k {
		return "/tiles"
	}
	return "/" + k.DataType + "/tiles"
}

// ogcLayer finds the collection of the request, and the kind of tiles its path names.
func (s *api) ogcLayer(w http.ResponseWriter, r *http.Request) (*layer.Layer, dataKind, bool) {
	v := mux.Vars(r)
	l, ok := s.Registry.Get(v["id"])
	if !ok || l.Handler == nil {
		writeError(w, r, layer.Errorf(layer.NotFound, "no collection %q (see /ogc/collections)", v["id"]))
		return nil, dataKind{}, false
	}
	if err := s.mayUse(r, l); err != nil {
		writeError(w, r, err)
		return nil, dataKind{}, false
	}
	ks := dataKinds(l)
	k, explicit := dataKind{}, v["kind"]
	switch {
	case explicit == "" && len(ks) > 0:
		k = ks[0]
	case explicit == "map" && slices.Contains(ks, kindMap):
		k = kindMap
	case explicit == "vector" && slices.Contains(ks, kindVector):
		k = kindVector
	default:
		what := "tiles"
		if explicit != "" {
			what = explicit + " tiles"
		}
		writeError(w, r, layer.Errorf(layer.NotFound, "collection %q has no %s", l.Name, what))
		return nil, dataKind{}, false
	}
	if v["tms"] != "" && v["tms"] != wmqID {
		writeError(w, r, layer.Errorf(layer.NotFound, "no tile matrix set %q (this server has %s)", v["tms"], wmqID))
		return nil, dataKind{}, false
	}
	privateDoc(w, l) // a tile's own Cache-Control replaces this
	return l, k, true
}

func (s *api) ogcCollectionInfo(r *http.Request, l *layer.Layer) map[string]any {
	b := s.ogcBase(r) + "/collections/" + url.PathEscape(l.Name)
	sch := l.Handler.Schema()
	links := []ogcLink{{Rel: "self", Href: b, Type: mimeJSON}}
	ks := dataKinds(l)
	for _, k := range ks {
		links = append(links, ogcLink{Rel: "http://www.opengis.net/def/rel/ogc/1.0/tilesets-" + k.DataType,
			Href: b + tilesPath(l, k), Type: mimeJSON, Title: k.DataType + " tilesets"})
	}
	c := map[string]any{
		"id": l.Name, "title": l.Name, "description": l.Description,
		"extent": map[string]any{"spatial": map[string]any{
			"bbox": [][4]float64{{sch.Bounds.MinX, sch.Bounds.MinY, sch.Bounds.MaxX, sch.Bounds.MaxY}},
			"crs":  crs84,
		}},
		"crs":   []string{crs84, wmqCRS},
		"links": links,
	}
	if len(ks) > 0 {
		c["dataType"] = ks[0].DataType
	}
	return c
}

func (s *api) ogcCollections(w http.ResponseWriter, r *http.Request) {
	cs := []map[string]any{}
	w.Header().Add("Vary", "Authorization")
	visible := s.visible(r)
	privateDoc(w, visible...)
	for _, l := range visible {
		if l.Handler != nil {
			cs = append(cs, s.ogcCollectionInfo(r, l))
		}
	}
	writeJSON(w, map[string]any{
		"collections": cs,
		"links":       []ogcLink{{Rel: "self", Href: s.ogcBase(r) + "/collections", Type: mimeJSON}},
	})
}

func (s *api) ogcCollection(w http.ResponseWriter, r *http.Request) {
	l, ok := s.Registry.Get(mux.Vars(r)["id"])
	if !ok || l.Handler == nil {
		writeError(w, r, layer.Errorf(layer.NotFound, "no collection %q (see /ogc/collections)", mux.Vars(r)["id"]))
		return
	}
	if err := s.mayUse(r, l); err != nil {
		writeError(w, r, err)
		return
	}
	privateDoc(w, l)
	writeJSON(w, s.ogcCollectionInfo(r, l))
}

// tilesetSummary is an entry of a tileset list, or the start of a tileset's metadata.
func (s *api) tilesetSummary(r *http.Request, l *layer.Layer, k dataKind) map[string]any {
	b := s.ogcBase(r) + "/collections/" + url.PathEscape(l.Name) + tilesPath(l, k) + "/" + wmqID
	return map[string]any{
		"title": l.Name + " " + k.DataType + " tiles", "dataType": k.DataType,
		"crs": wmqCRS, "tileMatrixSetURI": wmqURI,
		"links": []ogcLink{
			{Rel: "self", Href: b, Type: mimeJSON, Title: "tileset"},
			{Rel: relTiling, Href: s.ogcBase(r) + "/tileMatrixSets/" + wmqID, Type: mimeJSON, Title: wmqID},
		},
	}
}

func (s *api) ogcTilesets(w http.ResponseWriter, r *http.Request) {
	l, k, ok := s.ogcLayer(w, r)
	if !ok {
		return
	}
	// A layer's own tiles list holds every kind; a /{kind}/tiles list that kind.
	ks := dataKinds(l)
	if mux.Vars(r)["kind"] != "" {
		ks = []dataKind{k}
	}
	sets := []map[string]any{}
	for _, k := range ks {
		sets = append(sets, s.tilesetSummary(r, l, k))
	}
	self := s.ogcBase(r) + "/collections/" + url.PathEscape(l.Name) + tilesPath(l, k)
	writeJSON(w, map[string]any{"tilesets": sets, "links": []ogcLink{{Rel: "self", Href: self, Type: mimeJSON}}})
}

func (s *api) ogcTileset(w http.ResponseWriter, r *http.Request) {
	l, k, ok := s.ogcLayer(w, r)
	if !ok {
		return
	}
	sch := l.Handler.Schema()
	ts := s.tilesetSummary(r, l, k)
	col := s.ogcBase(r) + "/collections/" + url.PathEscape(l.Name)
	self := col + tilesPath(l, k) + "/" + wmqID
	links := ts["links"].([]ogcLink)
	links = append(links,
		ogcLink{Rel: "item", Href: self + "/{tileMatrix}/{tileRow}/{tileCol}", Type: k.Mime, Templated: true, Title: k.DataType + " tiles"},
		ogcLink{Rel: "dataset", Href: col, Type: mimeJSON, Title: "the collection"})
	ts["links"] = links
	ts["tileMatrixSetLimits"] = tileMatrixSetLimits(sch)
	// In the tile matrix set's CRS, as the specification recommends for a
	// tileset (and as GDAL reads it).
	mb := sch.Bounds.ToMercator()
	ts["boundingBox"] = map[string]any{"lowerLeft": []float64{mb.MinX, mb.MinY},
		"upperRight": []float64{mb.MaxX, mb.MaxY}, "crs": "http://www.opengis.net/def/crs/EPSG/0/3857"}
	if k == kindVector {
		id := l.MVTLayer
		if id == "" {
			id = render.DefaultLayer
		}
		ts["layers"] = []map[string]any{{"id": id, "dataType": "vector",
			"minTileMatrix": strconv.Itoa(sch.MinZoom), "maxTileMatrix": strconv.Itoa(sch.MaxZoom)}}
	}
	writeJSON(w, ts)
}

type tmsLimit struct {
	TileMatrix string `json:"tileMatrix"`
	MinTileRow int    `json:"minTileRow"`
	MaxTileRow int    `json:"maxTileRow"`
	MinTileCol int    `json:"minTileCol"`
	MaxTileCol int    `json:"maxTileCol"`
}

// tileMatrixSetLimits are the tiles of the layer's bounds at each of its zooms.
func tileMatrixSetLimits(sch layer.Schema) []tmsLimit {
	var out []tmsLimit
	for z := max(sch.MinZoom, 0); z <= min(sch.MaxZoom, wmqMaxZoom); z++ {
		c := tiles.Cover(sch.Bounds, z)
		out = append(out, tmsLimit{TileMatrix: strconv.Itoa(z), MinTileRow: c.MinY, MaxTileRow: c.MaxY, MinTileCol: c.MinX, MaxTileCol: c.MaxX})
	}
	return out
}

// ogcTile serves {collection}/tiles/WebMercatorQuad/{z}/{row}/{col}: the
// format is the tileset's, or f=png|mvt, or the Accept header's.
func (s *api) ogcTile(w http.ResponseWriter, r *http.Request) {
	l, k, ok := s.ogcLayer(w, r)
	if !ok {
		return
	}
	v := mux.Vars(r)
	t, err := parseTile(v["z"], v["col"], v["row"])
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	format := k.Format
	if f := q.Get("f"); f != "" {
		// f= is a format's name or its media type.
		format = render.Normalize(f)
		if ft, ok := render.FormatOfMediaType(f); ok && strings.Contains(f, "/") {
			format = ft.Name
		}
	} else if a := r.Header.Get("Accept"); a != "" && !strings.Contains(a, k.Mime) {
		switch {
		case strings.Contains(a, mimePNG):
			format = "png"
		case strings.Contains(a, mimeMVT):
			format = "mvt"
		}
	}
	q.Del("f")
	s.serveTile(w, r, l, t, format, q)
}

// serveTile answers tile t of layer l as if asked on /v1/udfs/{name}/tiles,
// which keeps one cache entry (and alias) for the tile whatever route asked.
func (s *api) serveTile(w http.ResponseWriter, r *http.Request, l *layer.Layer, t tiles.Tile, format string, q url.Values) {
	path := fmt.Sprintf("/v1/udfs/%s/tiles/%d/%d/%d.%s", url.PathEscape(l.Name), t.Z, t.X, t.Y, format)
	s.serve(w, r, l, call{tile: t, isTile: true, ext: format, query: q, spelling: path + "\x00" + q.Encode()})
}

// --- WMTS 1.0.0 ---

// wmtsLayers are the layers WMTS offers: those serving PNG tiles.
func (s *api) wmtsLayers(r *http.Request) []*layer.Layer {
	var out []*layer.Layer
	for _, l := range s.visible(r) {
		if slices.Contains(dataKinds(l), kindMap) {
			out = append(out, l)
		}
	}
	return out
}

// wmts is the KVP endpoint: GetCapabilities and GetTile. Parameter names are
// case-insensitive, as OGC's KVP encoding has them, so a name given twice in
// two spellings is given twice. Every error is an OWS ExceptionReport (see
// owsErrors for those raised outside this function).
func (s *api) wmts(w http.ResponseWriter, r *http.Request) {
	q := url.Values{}
	for k, v := range r.URL.Query() {
		K := strings.ToUpper(k)
		if _, dup := q[K]; dup || len(v) > 1 {
			wmtsException(w, http.StatusBadRequest, "InvalidParameterValue", strings.ToLower(k), k+" is given more than once")
			return
		}
		q[K] = v
	}
	switch svc := q.Get("SERVICE"); {
	case svc == "":
		wmtsException(w, http.StatusBadRequest, "MissingParameterValue", "service", "SERVICE=WMTS is required")
		return
	case !strings.EqualFold(svc, "WMTS"):
		wmtsException(w, http.StatusBadRequest, "InvalidParameterValue", "service", "SERVICE="+svc+": this is a WMTS (SERVICE=WMTS)")
		return
	}
	switch req := q.Get("REQUEST"); strings.ToLower(req) {
	case "getcapabilities":
		s.wmtsCapabilities(w, r)
	case "gettile":
		s.wmtsGetTile(w, r, q)
	case "":
		wmtsException(w, http.StatusBadRequest, "MissingParameterValue", "request", "REQUEST is required")
	default:
		wmtsException(w, http.StatusNotImplemented, "OperationNotSupported", "request", "request "+req+" is not supported (GetCapabilities, GetTile)")
	}
}

func (s *api) wmtsGetTile(w http.ResponseWriter, r *http.Request, q url.Values) {
	for _, p := range []string{"LAYER", "TILEMATRIX", "TILEROW", "TILECOL"} {
		if q.Get(p) == "" {
			wmtsException(w, http.StatusBadRequest, "MissingParameterValue", strings.ToLower(p), p+" is required")
			return
		}
	}
	l, ok := s.Registry.Get(q.Get("LAYER"))
	if !ok || !slices.Contains(dataKinds(l), kindMap) {
		wmtsException(w, http.StatusNotFound, "InvalidParameterValue", "layer", "no layer "+q.Get("LAYER"))
		return
	}
	if err := s.mayUse(r, l); err != nil {
		writeError(w, r, err) // made an ExceptionReport by owsErrors, with its status and WWW-Authenticate
		return
	}
	if tms := q.Get("TILEMATRIXSET"); tms != "" && tms != wmqID {
		wmtsException(w, http.StatusBadRequest, "InvalidParameterValue", "tilematrixset", "no tile matrix set "+tms+" (this server has "+wmqID+")")
		return
	}
	if f := q.Get("FORMAT"); f != "" && f != mimePNG && f != "png" {
		wmtsException(w, http.StatusBadRequest, "InvalidParameterValue", "format", "format "+f+": this server serves image/png")
		return
	}
	if st := q.Get("STYLE"); st != "" && st != "default" {
		wmtsException(w, http.StatusBadRequest, "InvalidParameterValue", "style", "no style "+st+" (default)")
		return
	}
	tm := q.Get("TILEMATRIX")
	if i := strings.LastIndex(tm, ":"); i >= 0 {
		tm = tm[i+1:]
	}
	z, err := strconv.Atoi(tm)
	if err != nil || z < 0 || z > wmqMaxZoom {
		wmtsException(w, http.StatusBadRequest, "InvalidParameterValue", "tilematrix", "no tile matrix "+q.Get("TILEMATRIX"))
		return
	}
	// A tile off the tile matrix is a 400, as the standard has it; a tile of
	// the matrix that the layer does not serve (zooms, bounds) is not found.
	sch := l.Handler.Schema()
	if z < sch.MinZoom || z > sch.MaxZoom {
		wmtsException(w, http.StatusNotFound, "TileOutOfRange", "tilematrix", fmt.Sprintf("tile matrix %d is outside %s's %d..%d", z, l.Name, sch.MinZoom, sch.MaxZoom))
		return
	}
	var rc [2]int
	for i, p := range []string{"TILEROW", "TILECOL"} {
		if rc[i], err = strconv.Atoi(q.Get(p)); err != nil {
			wmtsException(w, http.StatusBadRequest, "InvalidParameterValue", strings.ToLower(p), p+" "+q.Get(p)+" is not an integer")
			return
		}
	}
	t, err := tiles.New(z, rc[1], rc[0])
	if err != nil {
		locator := "tilerow"
		if n := 1 << z; rc[1] < 0 || rc[1] >= n {
			locator = "tilecol"
		}
		wmtsException(w, http.StatusBadRequest, "TileOutOfRange", locator, fmt.Sprintf("tile row %d, column %d: %v", rc[0], rc[1], err))
		return
	}
	if !t.LonLat().Intersects(sch.Bounds) {
		locator, c := "tilerow", tiles.Cover(sch.Bounds, z)
		if t.X < c.MinX || t.X > c.MaxX {
			locator = "tilecol"
		}
		wmtsException(w, http.StatusNotFound, "TileOutOfRange", locator, fmt.Sprintf("tile row %d, column %d is outside %s's bounds", rc[0], rc[1], l.Name))
		return
	}
	s.serveTile(w, r, l, t, "png", url.Values{})
}

// wmtsException answers an OWS 1.1 ExceptionReport (OGC 06-121r9, 8.5) with
// the HTTP status of its code: 400 for MissingParameterValue,
// InvalidParameterValue and TileOutOfRange off the tile matrix, 404 for
// TileOutOfRange of a tile the layer does not serve and for unknown layers,
// 501 for OperationNotSupported, and the failure's own status (401, 429, 500,
// 503, ...) for NoApplicableCode.
func wmtsException(w http.ResponseWriter, status int, code, locator, text string) {
	h := w.Header()
	h.Del("ETag")
	h.Del("Content-Length")
	h.Set("Content-Type", "application/xml")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	loc := ""
	if locator != "" {
		loc = ` locator="` + xmlEsc(locator) + `"`
	}
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1" version="1.1.0" xml:lang="en">
  <ows:Exception exceptionCode="%s"%s><ows:ExceptionText>%s</ows:ExceptionText></ows:Exception>
</ows:ExceptionReport>
`, xmlEsc(code), loc, xmlEsc(text))
}

// owsErrors makes the JSON errors of the /wmts route (request limits, rate
// limits, tokens, a failed render) OWS ExceptionReports with the same status,
// so that a WMTS client only ever reads XML from it.
func (s *api) owsErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/wmts" {
			next.ServeHTTP(w, r)
			return
		}
		ow := &owsWriter{ResponseWriter: w}
		next.ServeHTTP(ow, r)
		ow.finish()
	})
}

// owsWriter holds back a JSON error body to rewrite it as an ExceptionReport.
type owsWriter struct {
	http.ResponseWriter
	status int // of the error held back; 0 passes everything through
	wrote  bool
	body   strings.Builder
}

func (o *owsWriter) WriteHeader(code int) {
	if o.wrote {
		return
	}
	o.wrote = true
	if code >= 400 && strings.HasPrefix(o.Header().Get("Content-Type"), "application/json") {
		o.status = code
		return
	}
	o.ResponseWriter.WriteHeader(code)
}

func (o *owsWriter) Write(b []byte) (int, error) {
	if !o.wrote {
		o.WriteHeader(http.StatusOK)
	}
	if o.status != 0 {
		return o.body.Write(b)
	}
	return o.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (o *owsWriter) Unwrap() http.ResponseWriter { return o.ResponseWriter }

func (o *owsWriter) finish() {
	if o.status == 0 {
		return
	}
	var e errorBody
	_ = json.Unmarshal([]byte(o.body.String()), &e)
	code := "NoApplicableCode"
	switch o.status {
	case http.StatusBadRequest:
		code = "InvalidParameterValue"
	case http.StatusNotFound:
		code = "TileOutOfRange"
	}
	wmtsException(o.ResponseWriter, o.status, code, "", e.Error)
}

func xmlEsc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// wmtsCapabilities answers the Capabilities document, KVP or RESTful.
func (s *api) wmtsCapabilities(w http.ResponseWriter, r *http.Request) {
	base := s.baseURL(r)
	w.Header().Add("Vary", "Authorization")
	layers := s.wmtsLayers(r)
	privateDoc(w, layers...)
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p(`<?xml version="1.0" encoding="UTF-8"?>
<Capabilities xmlns="http://www.opengis.net/wmts/1.0" xmlns:ows="http://www.opengis.net/ows/1.1" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:gml="http://www.opengis.net/gml" xsi:schemaLocation="http://www.opengis.net/wmts/1.0 http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd" version="1.0.0">
  <ows:ServiceIdentification>
    <ows:Title>udftiles</ows:Title>
    <ows:ServiceType>OGC WMTS</ows:ServiceType>
    <ows:ServiceTypeVersion>1.0.0</ows:ServiceTypeVersion>
  </ows:ServiceIdentification>
  <ows:OperationsMetadata>
`)
	for _, op := range []string{"GetCapabilities", "GetTile"} {
		p(`    <ows:Operation name="%s"><ows:DCP><ows:HTTP><ows:Get xlink:href="%s/wmts?"><ows:Constraint name="GetEncoding"><ows:AllowedValues><ows:Value>KVP</ows:Value></ows:AllowedValues></ows:Constraint></ows:Get></ows:HTTP></ows:DCP></ows:Operation>
`, op, xmlEsc(base))
	}
	p("  </ows:OperationsMetadata>\n  <Contents>\n")
	maxZoom := 0
	for _, l := range layers {
		sch := l.Handler.Schema()
		maxZoom = max(maxZoom, min(sch.MaxZoom, wmqMaxZoom))
		bb := sch.Bounds
		// WGS84BoundingBox is clamped to what Web Mercator can show.
		miny, maxy := max(bb.MinY, -tiles.MaxLat), min(bb.MaxY, tiles.MaxLat)
		p(`    <Layer>
      <ows:Title>%s</ows:Title>
      <ows:Abstract>%s</ows:Abstract>
      <ows:WGS84BoundingBox crs="urn:ogc:def:crs:OGC:2:84">
        <ows:LowerCorner>%s %s</ows:LowerCorner>
        <ows:UpperCorner>%s %s</ows:UpperCorner>
      </ows:WGS84BoundingBox>
      <ows:Identifier>%s</ows:Identifier>
      <Style isDefault="true"><ows:Identifier>default</ows:Identifier></Style>
      <Format>image/png</Format>
      <TileMatrixSetLink>
        <TileMatrixSet>%s</TileMatrixSet>
        <TileMatrixSetLimits>
`, xmlEsc(l.Name), xmlEsc(l.Description), num(bb.MinX), num(miny), num(bb.MaxX), num(maxy), xmlEsc(l.Name), wmqID)
		for _, lim := range tileMatrixSetLimits(sch) {
			p(`          <TileMatrixLimits><TileMatrix>%s</TileMatrix><MinTileRow>%d</MinTileRow><MaxTileRow>%d</MaxTileRow><MinTileCol>%d</MinTileCol><MaxTileCol>%d</MaxTileCol></TileMatrixLimits>
`, lim.TileMatrix, lim.MinTileRow, lim.MaxTileRow, lim.MinTileCol, lim.MaxTileCol)
		}
		p(`        </TileMatrixSetLimits>
      </TileMatrixSetLink>
      <ResourceURL format="image/png" resourceType="tile" template="%s/v1/udfs/%s/tiles/{TileMatrix}/{TileCol}/{TileRow}.png"/>
    </Layer>
`, xmlEsc(base), xmlEsc(url.PathEscape(l.Name)))
	}
	p(`    <TileMatrixSet>
      <ows:Title>Google Maps Compatible for the World</ows:Title>
      <ows:Identifier>%s</ows:Identifier>
      <ows:BoundingBox crs="urn:ogc:def:crs:EPSG::3857">
        <ows:LowerCorner>%s %s</ows:LowerCorner>
        <ows:UpperCorner>%s %s</ows:UpperCorner>
      </ows:BoundingBox>
      <ows:SupportedCRS>urn:ogc:def:crs:EPSG::3857</ows:SupportedCRS>
      <WellKnownScaleSet>urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible</WellKnownScaleSet>
`, wmqID, num(-wmqOrigin), num(-wmqOrigin), num(wmqOrigin), num(wmqOrigin))
	for z := 0; z <= maxZoom; z++ {
		n := 1 << uint(z)
		p(`      <TileMatrix>
        <ows:Identifier>%d</ows:Identifier>
        <ScaleDenominator>%s</ScaleDenominator>
        <TopLeftCorner>%s %s</TopLeftCorner>
        <TileWidth>%d</TileWidth>
        <TileHeight>%d</TileHeight>
        <MatrixWidth>%d</MatrixWidth>
        <MatrixHeight>%d</MatrixHeight>
      </TileMatrix>
`, z, num(cellSize(z)/pixelSize), num(-wmqOrigin), num(wmqOrigin), wmqTileSize, wmqTileSize, n, n)
	}
	p(`    </TileMatrixSet>
  </Contents>
  <ServiceMetadataURL xlink:href="%s/wmts/1.0.0/WMTSCapabilities.xml"/>
</Capabilities>
`, xmlEsc(base))
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(b.String()))
	}
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
