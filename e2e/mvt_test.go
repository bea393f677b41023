package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/encoding/mvt/vectortile"
	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/python"
	"github.com/udftiles/udftiles/tiles"
)

// request sends a GET (or HEAD) with headers given as name, value pairs.
func (s *pyServer) request(t *testing.T, method, target string, status int, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	if rec.Code != status {
		t.Fatalf("%s %s: status %d, want %d; body %.500s", method, target, rec.Code, status, rec.Body.String())
	}
	return rec
}

// mvtValues reads a tile's first layer raw: each feature's properties with the
// kind of value the tile stores them as ("sint 3", "double 0.5", "string a").
func mvtValues(t *testing.T, b []byte) (name string, feats []map[string]string) {
	t.Helper()
	var vt vectortile.Tile
	if err := vt.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	if len(vt.Layers) != 1 {
		t.Fatalf("%d layers, want 1", len(vt.Layers))
	}
	l := vt.Layers[0]
	for _, f := range l.Features {
		m := map[string]string{}
		for i := 0; i+1 < len(f.Tags); i += 2 {
			v := l.Values[f.Tags[i+1]]
			switch {
			case v.StringValue != nil:
				m[l.Keys[f.Tags[i]]] = "string " + *v.StringValue
			case v.SintValue != nil:
				m[l.Keys[f.Tags[i]]] = fmt.Sprint("sint ", *v.SintValue)
			case v.DoubleValue != nil:
				m[l.Keys[f.Tags[i]]] = fmt.Sprint("double ", *v.DoubleValue)
			case v.BoolValue != nil:
				m[l.Keys[f.Tags[i]]] = fmt.Sprint("bool ", *v.BoolValue)
			default:
				m[l.Keys[f.Tags[i]]] = v.String()
			}
		}
		feats = append(feats, m)
	}
	return l.GetName(), feats
}

// TestPythonMVT serves a Python UDF's GeoDataFrame as vector tiles, as a
// MapLibre vector source or a QGIS vector-tile connection asks for them.
func TestPythonMVT(t *testing.T) {
	s := newPyServer(t, pyServerOptions{})
	s.add("vt", pyFixture(t, "vector_tile.py"), python.Options{})
	s.add("ret", pyFixture(t, "returns.py"), python.Options{})
	tl := tiles.Tile{Z: 2, X: 2, Y: 1} // lon 0..90, lat 0..66.5: India, Arabia, Russia's west
	url := tileURL("vt", tl, ".mvt")

	rec := s.request(t, "GET", url, 200)
	h := rec.Header()
	if h.Get("Content-Type") != "application/vnd.mapbox-vector-tile" || h.Get("Content-Encoding") != "" ||
		!slices.Contains(h.Values("Vary"), "Accept-Encoding") || h.Get("ETag") == "" {
		t.Fatalf("headers %v: want an MVT, not encoded, varying on Accept-Encoding, with an ETag", h)
	}
	plain := rec.Body.Bytes()
	ls, err := mvt.Unmarshal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Name != "udf" || len(ls[0].Features) < 20 {
		t.Fatalf("%d layers, first %q with %d features; want layer udf with the countries", len(ls), ls[0].Name, len(ls[0].Features))
	}
	for _, f := range ls[0].Features {
		for _, p := range orbPoints(f.Geometry) {
			if p[0] < -1024 || p[1] < -1024 || p[0] > 5120 || p[1] > 5120 {
				t.Fatalf("%v: vertex %v outside the tile and its 64 px buffer", f.Properties["name"], p)
			}
		}
	}
	name, feats := mvtValues(t, plain)
	var india map[string]string
	for _, f := range feats {
		if f["name"] == "string India" {
			india = f
		}
	}
	if name != "udf" || india == nil {
		t.Fatalf("layer %q, no India in %v", name, feats)
	}
	// pop_est is a float column of whole numbers: GeoJSON in between, it is an integer, as tippecanoe writes it.
	for k, kind := range map[string]string{"rank": "sint ", "share": "double ", "big": "bool true", "pop_est": "sint ",
		"continent": "string Asia", "tags": `string {"iso":"IND","n":[1,2]}`} {
		if !strings.HasPrefix(india[k], kind) {
			t.Errorf("India's %s is %q in the tile, want %q", k, india[k], kind)
		}
	}
	if _, ok := india["note"]; ok {
		t.Errorf("a null property is in the tile: %q", india["note"])
	}

	// Other spellings, the same tile.
	for _, u := range []string{tileURL("vt", tl, ".pbf"), tileURL("vt", tl, "?format=mvt"), tileURL("vt", tl, "?format=pbf")} {
		if b := s.request(t, "GET", u, 200).Body.Bytes(); !bytes.Equal(b, plain) {
			t.Errorf("%s: %d bytes, not the %d of .mvt", u, len(b), len(plain))
		}
	}

	// gzip for a client that accepts it, with an ETag of its own.
	rec = s.request(t, "GET", url, 200, "Accept-Encoding", "br, gzip;q=0.8")
	gzETag := rec.Header().Get("ETag")
	if rec.Header().Get("Content-Encoding") != "gzip" || gzETag != strings.TrimSuffix(h.Get("ETag"), `"`)+`-gzip"` ||
		rec.Header().Get("Content-Length") != fmt.Sprint(rec.Body.Len()) {
		t.Fatalf("gzip headers %v", rec.Header())
	}
	zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); !bytes.Equal(b, plain) {
		t.Error("the gzipped tile is not the plain one")
	}
	if ls, err := mvt.UnmarshalGzipped(rec.Body.Bytes()); err != nil || len(ls[0].Features) != len(feats) {
		t.Errorf("orb reads the gzipped tile: %v", err)
	}
	t.Logf("z2 tile: %d bytes, %d gzipped", len(plain), rec.Body.Len())
	if rec.Header().Get("X-Cache") != "memory" {
		t.Errorf("X-Cache %q: the gzipped answer should come from the one cached tile", rec.Header().Get("X-Cache"))
	}
	s.request(t, "GET", url, http.StatusNotModified, "Accept-Encoding", "gzip", "If-None-Match", gzETag)
	s.request(t, "GET", url, http.StatusNotModified, "If-None-Match", h.Get("ETag"))
	s.request(t, "GET", url, 200, "If-None-Match", gzETag) // the other representation
	s.request(t, "GET", url, 200, "Accept-Encoding", "gzip", "If-None-Match", h.Get("ETag"))
	for enc, want := range map[string]bool{"gzip": true, "GZIP;q=0.5": true, "x-gzip": true, "*": true, "deflate, *;q=0.1": true,
		"gzip;q=0": false, "gzip;q=0, *": false, "*, gzip;q=0": false, "br": false, "identity": false, "": false} {
		if got := s.request(t, "GET", url, 200, "Accept-Encoding", enc).Header().Get("Content-Encoding") == "gzip"; got != want {
			t.Errorf("Accept-Encoding %q: gzipped %v, want %v", enc, got, want)
		}
	}
	if rec := s.request(t, "HEAD", url, 200, "Accept-Encoding", "gzip"); rec.Header().Get("Content-Length") != gzLen(t, s, url) || rec.Body.Len() != 0 {
		t.Errorf("HEAD: Content-Length %s, body %d bytes", rec.Header().Get("Content-Length"), rec.Body.Len())
	}
	// PNG is not gzipped: it is compressed already.
	if rec := s.request(t, "GET", tileURL("ret", tl, ".png"), 200, "Accept-Encoding", "gzip"); rec.Header().Get("Content-Encoding") != "" || slices.Contains(rec.Header().Values("Vary"), "Accept-Encoding") {
		t.Errorf("a PNG tile: headers %v", rec.Header())
	}

	// No country: 200 with an empty body, gzip or not.
	empty := tileURL("vt", tiles.Tile{Z: 5, X: 3, Y: 14}, ".mvt")
	for _, enc := range []string{"", "gzip"} {
		rec := s.request(t, "GET", empty, 200, "Accept-Encoding", enc)
		if rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != "0" || rec.Header().Get("Content-Encoding") != "" ||
			rec.Header().Get("Content-Type") != "application/vnd.mapbox-vector-tile" {
			t.Errorf("empty tile (Accept-Encoding %q): %d bytes, headers %v", enc, rec.Body.Len(), rec.Header())
		}
	}

	// The UDF declares buffer: buffer= is its own, not the tile's margin in pixels.
	grown := s.request(t, "GET", url+"?buffer=0.5", 200).Body.Bytes()
	if bytes.Equal(grown, plain) {
		t.Error("buffer=0.5 did not reach the UDF")
	}

	// With no format asked for, features in tile mode are GeoJSON, as in Fused.
	rec = s.request(t, "GET", tileURL("vt", tl, ""), 200, "Accept-Encoding", "gzip")
	if rec.Header().Get("Content-Type") != "application/geo+json" || rec.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("default format: headers %v", rec.Header())
	}
	// precision= rounds GeoJSON coordinates; it is checked.
	gj := s.request(t, "GET", tileURL("vt", tl, ".geojson?precision=2"), 200).Body.Bytes()
	fc, err := geojson.UnmarshalFeatureCollection(gj)
	if err != nil || len(fc.Features) < 20 {
		t.Fatalf("precision=2: %v, %d features", err, len(fc.Features))
	}
	for _, p := range orbPoints(fc.Features[0].Geometry) {
		for _, c := range p {
			if s := fmt.Sprint(c); strings.Contains(s, ".") && len(s)-strings.Index(s, ".")-1 > 2 {
				t.Fatalf("precision=2 wrote %s", s)
			}
		}
	}
	for _, q := range []string{"precision=16", "precision=x", "format=mvt&precision=-1"} {
		s.wantError(t, "GET", tileURL("vt", tl, ".geojson?"+q), "", 400, "precision")
	}

	// MVT needs a tile; a table has no geometry.
	s.wantError(t, "GET", "/v1/udfs/vt/run?format=mvt", "", 400, "tiles")
	s.wantError(t, "GET", tileURL("ret", tl, ".mvt?kind=df"), "", 400, "a table has no geometry")

	// /v1/udfs lists the formats.
	var info struct {
		Formats []string `json:"formats"`
	}
	if err := json.Unmarshal(s.get(t, "/v1/udfs/vt", 200).Body.Bytes(), &info); err != nil || !slices.Contains(info.Formats, "mvt") || !slices.Contains(info.Formats, "pbf") {
		t.Errorf("formats %v (%v): want mvt and pbf", info.Formats, err)
	}
}

func gzLen(t *testing.T, s *pyServer, url string) string {
	t.Helper()
	return fmt.Sprint(s.request(t, "GET", url, 200, "Accept-Encoding", "gzip").Body.Len())
}

// orbPoints lists every vertex of a geometry.
func orbPoints(g orb.Geometry) []orb.Point {
	var out []orb.Point
	switch g := g.(type) {
	case orb.Point:
		out = append(out, g)
	case orb.MultiPoint:
		out = append(out, g...)
	case orb.LineString:
		out = append(out, g...)
	case orb.MultiLineString:
		for _, l := range g {
			out = append(out, l...)
		}
	case orb.Ring:
		out = append(out, g...)
	case orb.Polygon:
		for _, r := range g {
			out = append(out, r...)
		}
	case orb.MultiPolygon:
		for _, p := range g {
			out = append(out, orbPoints(p)...)
		}
	}
	return out
}

// TestMVTLayerName: a layer's mvt_layer names the layer inside its vector tiles.
func TestMVTLayerName(t *testing.T) {
	s := newPyServer(t, pyServerOptions{})
	u := python.NewUDF(s.pool, python.Options{Path: pyFixture(t, "vector_tile.py")})
	s.reg.Add(&layer.Layer{Name: "named", Kind: "python", Handler: u, MaxAge: time.Hour, MVTLayer: "countries"})
	rec := s.request(t, "GET", tileURL("named", tiles.Tile{Z: 2, X: 2, Y: 1}, ".mvt"), 200)
	ls, err := mvt.Unmarshal(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Name != "countries" || len(ls[0].Features) == 0 {
		t.Fatalf("layers %d, first %q with %d features; want one layer named countries", len(ls), ls[0].Name, len(ls[0].Features))
	}
}

// TestTileJSONVectorLayers: a vector tileset's TileJSON names its layer.
func TestTileJSONVectorLayers(t *testing.T) {
	s := newPyServer(t, pyServerOptions{})
	u := python.NewUDF(s.pool, python.Options{Path: pyFixture(t, "vector_tile.py")})
	s.reg.Add(&layer.Layer{Name: "named", Kind: "python", Handler: u, MaxAge: time.Hour, MVTLayer: "countries"})
	body := s.request(t, "GET", "/v1/udfs/named/tilejson.json?format=mvt", 200).Body.String()
	if !strings.Contains(body, `"vector_layers":[{"id":"countries"`) || !strings.Contains(body, `{y}.mvt`) {
		t.Fatalf("TileJSON %s: want vector_layers with id countries and .mvt tiles", body)
	}
}
