package web_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb/encoding/mvt"
	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/vector"
	"github.com/udftiles/udftiles/web"
)

// ogcServer serves a raster layer (the demo elevation COG) and a vector layer
// (the demo countries GeoPackage) over real HTTP on 127.0.0.1, for GDAL.
func ogcServer(t *testing.T) (*httptest.Server, *layer.Registry) {
	t.Helper()
	dir := demoFiles(t)
	vdir := t.TempDir()
	if _, err := demo.WriteVectors(vdir); err != nil {
		t.Fatal(err)
	}
	reg := layer.NewRegistry()
	elev := cog.New(cog.Options{Path: filepath.Join(dir, "elevation.tif")})
	t.Cleanup(elev.Close)
	reg.Add(&layer.Layer{Name: "elevation", Kind: "cog", Handler: elev, MaxAge: time.Hour, Description: "demo DEM",
		Defaults: url.Values{"colormap": {"plasma"}, "rescale": {"0,3000"}}})
	countries := vector.New(vector.Options{Path: filepath.Join(vdir, "countries.gpkg")})
	t.Cleanup(countries.Close)
	reg.Add(&layer.Layer{Name: "countries", Kind: "vector", Handler: countries, MaxAge: time.Hour, Defaults: url.Values{}})
	c, err := cache.New(64<<20, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	srv := httptest.NewServer(web.New(web.Deps{Registry: reg, Cache: c}))
	t.Cleanup(srv.Close)
	return srv, reg
}

func httpGet(t *testing.T, u string, status int, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: status %d, want %d; body %s", u, resp.StatusCode, status, body)
	}
	return resp, body
}

func getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	resp, body := httpGet(t, u, 200)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET %s: Content-Type %q", u, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return m
}

// findLink returns the href of the first link of rel (and type, if given).
func findLink(v any, rel, typ string) (map[string]any, bool) {
	ls, _ := v.([]any)
	for _, l := range ls {
		m, _ := l.(map[string]any)
		if m["rel"] == rel && (typ == "" || m["type"] == typ) {
			return m, true
		}
	}
	return nil, false
}

// gdal runs a GDAL utility with a deadline and returns its combined output.
func gdal(t *testing.T, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not installed (apt-get install gdal-bin)", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = gdalEnv(t, cmd.Environ())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// gdalEnv bounds GDAL's HTTP and keeps its WMS tile cache (the WMTS and
// OGCAPI drivers' <Cache/>) in the test's temporary directory.
func gdalEnv(t *testing.T, env []string) []string {
	return append(env, "GDAL_HTTP_TIMEOUT=20", "GDAL_HTTP_MAX_RETRY=0", "GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR",
		"GDAL_DEFAULT_WMS_CACHE_PATH="+filepath.Join(t.TempDir(), "gdalwmscache"),
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
}

func TestOGCTilesJSON(t *testing.T) {
	srv, _ := ogcServer(t)
	b := srv.URL + "/ogc"

	land := getJSON(t, b)
	for rel, href := range map[string]string{"self": b, "conformance": b + "/conformance", "data": b + "/collections",
		"http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes": b + "/tileMatrixSets"} {
		if l, ok := findLink(land["links"], rel, ""); !ok || l["href"] != href {
			t.Errorf("landing link %s: %v, want %s", rel, l, href)
		}
	}
	conf := fmt.Sprint(getJSON(t, b+"/conformance")["conformsTo"])
	for _, c := range []string{"core", "tileset", "tilesets-list", "geodata-tilesets"} {
		if !strings.Contains(conf, "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"+c+" ") &&
			!strings.Contains(conf, "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"+c+"]") {
			t.Errorf("conformsTo lacks %s: %s", c, conf)
		}
	}

	list := getJSON(t, b+"/tileMatrixSets")
	if s := fmt.Sprint(list["tileMatrixSets"]); !strings.Contains(s, "id:WebMercatorQuad") {
		t.Errorf("tileMatrixSets: %s", s)
	}
	tms := getJSON(t, b+"/tileMatrixSets/WebMercatorQuad")
	if tms["id"] != "WebMercatorQuad" || tms["uri"] != "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad" ||
		tms["crs"] != "http://www.opengis.net/def/crs/EPSG/0/3857" {
		t.Errorf("tms: id %v uri %v crs %v", tms["id"], tms["uri"], tms["crs"])
	}
	tmx, _ := tms["tileMatrices"].([]any)
	if len(tmx) != 25 {
		t.Fatalf("%d tile matrices, want 25", len(tmx))
	}
	for z, m := range tmx {
		m := m.(map[string]any)
		n := float64(int(1) << z)
		cell := 2 * 20037508.3427892 / 256 / n
		if m["id"] != fmt.Sprint(z) || m["matrixWidth"] != n || m["matrixHeight"] != n || m["tileWidth"] != 256.0 ||
			!near(m["cellSize"].(float64), cell) || !near(m["scaleDenominator"].(float64), cell/0.00028) ||
			fmt.Sprint(m["pointOfOrigin"]) != "[-2.00375083427892e+07 2.00375083427892e+07]" {
			t.Errorf("tile matrix %d: %v", z, m)
		}
	}
	if !near(tmx[0].(map[string]any)["scaleDenominator"].(float64), 559082264.0287178) {
		t.Errorf("z0 scale denominator %v", tmx[0])
	}

	cols := getJSON(t, b+"/collections")["collections"].([]any)
	if len(cols) != 2 {
		t.Fatalf("%d collections", len(cols))
	}
	for _, tc := range []struct{ id, dataType, mime string }{
		{"elevation", "map", "image/png"}, {"countries", "vector", "application/vnd.mapbox-vector-tile"}} {
		col := getJSON(t, b+"/collections/"+tc.id)
		bbox := col["extent"].(map[string]any)["spatial"].(map[string]any)["bbox"].([]any)
		if col["id"] != tc.id || col["title"] != tc.id || len(bbox) != 1 || len(bbox[0].([]any)) != 4 {
			t.Errorf("collection %s: %v", tc.id, col)
		}
		l, ok := findLink(col["links"], "http://www.opengis.net/def/rel/ogc/1.0/tilesets-"+tc.dataType, "application/json")
		if !ok || l["href"] != b+"/collections/"+tc.id+"/tiles" {
			t.Fatalf("collection %s: tilesets link %v", tc.id, col["links"])
		}
		sets := getJSON(t, b+"/collections/"+tc.id+"/tiles")["tilesets"].([]any)
		if len(sets) != 1 || sets[0].(map[string]any)["dataType"] != tc.dataType ||
			sets[0].(map[string]any)["tileMatrixSetURI"] != "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad" {
			t.Errorf("tilesets of %s: %v", tc.id, sets)
		}
		ts := getJSON(t, b+"/collections/"+tc.id+"/tiles/WebMercatorQuad")
		if ts["dataType"] != tc.dataType || ts["crs"] != "http://www.opengis.net/def/crs/EPSG/0/3857" {
			t.Errorf("tileset of %s: %v", tc.id, ts)
		}
		item, ok := findLink(ts["links"], "item", tc.mime)
		if want := b + "/collections/" + tc.id + "/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}"; !ok ||
			item["href"] != want || item["templated"] != true {
			t.Errorf("tileset of %s: item link %v, want %s", tc.id, item, want)
		}
		if l, ok := findLink(ts["links"], "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", ""); !ok ||
			l["href"] != b+"/tileMatrixSets/WebMercatorQuad" {
			t.Errorf("tileset of %s: tiling-scheme link %v", tc.id, l)
		}
	}

	// Tiles: z/row/col is the XYZ tile z/x=col/y=row, the same bytes.
	resp, body := httpGet(t, b+"/collections/countries/tiles/WebMercatorQuad/1/0/1", 200)
	if resp.Header.Get("Content-Type") != "application/vnd.mapbox-vector-tile" {
		t.Errorf("vector tile Content-Type %q", resp.Header.Get("Content-Type"))
	}
	if layers, err := mvt.Unmarshal(body); err != nil || len(layers) != 1 || len(layers[0].Features) == 0 {
		t.Errorf("vector tile 1/0/1: %v, %d layers", err, len(layers))
	}
	_, xyz := httpGet(t, srv.URL+"/v1/udfs/countries/tiles/1/1/0.mvt", 200)
	if string(xyz) != string(body) {
		t.Errorf("OGC tile 1/0/1 differs from XYZ tile 1/1/0")
	}
	// Fetched through the XYZ route before: the OGC route hits the same cache entry.
	ebox := getJSON(t, b+"/collections/elevation")["extent"].(map[string]any)["spatial"].(map[string]any)["bbox"].([]any)[0].([]any)
	z, row, col := elevationTile(ebox)
	httpGet(t, fmt.Sprintf("%s/v1/udfs/elevation/tiles/%d/%d/%d.png", srv.URL, z, col, row), 200)
	resp, body = httpGet(t, fmt.Sprintf("%s/collections/elevation/tiles/WebMercatorQuad/%d/%d/%d", b, z, row, col), 200)
	if resp.Header.Get("Content-Type") != "image/png" || resp.Header.Get("X-Cache") == "miss" {
		t.Errorf("raster tile: Content-Type %q, X-Cache %q", resp.Header.Get("Content-Type"), resp.Header.Get("X-Cache"))
	}
	if _, err := png.Decode(strings.NewReader(string(body))); err != nil {
		t.Errorf("raster tile: %v", err)
	}
	// f= and Accept pick a format the layer has, and one it has not is 400.
	resp, _ = httpGet(t, b+"/collections/countries/tiles/WebMercatorQuad/1/0/1?f=mvt", 200)
	if resp.Header.Get("Content-Type") != "application/vnd.mapbox-vector-tile" {
		t.Errorf("f=mvt: %q", resp.Header.Get("Content-Type"))
	}
	httpGet(t, b+"/collections/countries/tiles/WebMercatorQuad/1/0/1?f=png", 400)
	resp, _ = httpGet(t, fmt.Sprintf("%s/collections/elevation/tiles/WebMercatorQuad/%d/%d/%d", b, z, row, col), 200, "Accept", "image/png")
	if resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("Accept image/png: %q", resp.Header.Get("Content-Type"))
	}

	// Errors: JSON 404s and 400s.
	for path, status := range map[string]int{
		"/collections/nope":                                   404,
		"/collections/nope/tiles":                             404,
		"/collections/nope/tiles/WebMercatorQuad/0/0/0":       404,
		"/collections/elevation/tiles/WorldCRS84Quad":         404,
		"/collections/elevation/tiles/WorldCRS84Quad/0/0/0":   404,
		"/tileMatrixSets/WorldCRS84Quad":                      404,
		"/collections/elevation/vector/tiles":                 404,
		"/collections/elevation/tiles/WebMercatorQuad/a/0/0":  400,
		"/collections/elevation/tiles/WebMercatorQuad/1/2/0":  400,
		"/collections/elevation/tiles/WebMercatorQuad/1/0/2":  400,
		"/collections/elevation/tiles/WebMercatorQuad/1/-1/0": 400,
	} {
		resp, body := httpGet(t, b+path, status)
		var e map[string]any
		if json.Unmarshal(body, &e) != nil || e["error"] == nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %s", path, body)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-6*max(1, b) && b-a < 1e-6*max(1, b) }

// elevationTile is a tile at zoom 8 in the middle of the bounding box.
func elevationTile(bbox []any) (z, row, col int) {
	lon := (bbox[0].(float64) + bbox[2].(float64)) / 2
	lat := (bbox[1].(float64) + bbox[3].(float64)) / 2
	t := tiles.AtLonLat(lon, lat, 8)
	return t.Z, t.Y, t.X
}

// TestOGCAPIWithGDAL opens the collections with GDAL's OGCAPI driver.
//
// GDAL 3.6 reads a collection's extent.spatial.bbox as if it were in the tile
// matrix set's CRS (later versions reproject it from CRS84), so the raster is
// opened with its bounds in EPSG:3857 through MINX..MAXY; and it computes the
// rows of a tileset with tileMatrixSetLimits wrongly (its row count is the
// whole matrix's while its extent is the limits'), so only the X resolution
// and the extent are checked, not the Y resolution.
func TestOGCAPIWithGDAL(t *testing.T) {
	srv, reg := ogcServer(t)
	l, _ := reg.Get("elevation")
	sch := l.Handler.Schema()
	m := sch.Bounds.ToMercator()
	out := gdal(t, "gdalinfo", "-oo", "API=TILES", "-oo", "TILEMATRIX="+fmt.Sprint(sch.MaxZoom),
		"-oo", "MINX="+fmt.Sprint(m.MinX), "-oo", "MINY="+fmt.Sprint(m.MinY),
		"-oo", "MAXX="+fmt.Sprint(m.MaxX), "-oo", "MAXY="+fmt.Sprint(m.MaxY),
		"OGCAPI:"+srv.URL+"/ogc/collections/elevation")
	for _, want := range []string{"Driver: OGCAPI/OGCAPI", "Pseudo-Mercator", "TITLE=elevation",
		"Band 4 Block=", "Type=Byte, ColorInterp=Alpha",
		fmt.Sprintf("Pixel Size = (%.6f", 2*tiles.OriginShift/256/float64(int(1)<<sch.MaxZoom))} {
		if !strings.Contains(out, want) {
			t.Errorf("gdalinfo OGCAPI: no %q in\n%s", want, out)
		}
	}
	var ox, oy float64
	if _, err := fmt.Sscanf(out[strings.Index(out, "Origin = "):], "Origin = (%g,%g)", &ox, &oy); err != nil ||
		ox < m.MinX-200 || ox > m.MinX+200 || oy < m.MaxY-200 || oy > m.MaxY+200 {
		t.Errorf("gdalinfo OGCAPI: origin %g,%g (%v), want about %g,%g", ox, oy, err, m.MinX, m.MaxY)
	}

	// The vector collection. GDAL's OGCAPI driver builds its vector-tile
	// layers only when it was compiled with the GML driver's headers
	// (OGR_ENABLE_DRIVER_GML); Debian's GDAL 3.6.2 was not, so its driver
	// follows the chain (collection, tilesets, tileset, tile matrix set) and
	// opens nothing, from any server. Such a GDAL lacks the code's strings
	// ("vectorType"). With it, ogrinfo must list the zoom levels as layers;
	// without it, the chain the driver follows is walked here as its code does,
	// and the tile it would fetch is read with GDAL's MVT driver.
	if gdalHasOGCAPIVectorTiles(t) {
		out := gdal(t, "ogrinfo", "-ro", "-so", "-oo", "API=TILES", "OGCAPI:"+srv.URL+"/ogc/collections/countries")
		if !strings.Contains(out, "Driver: OGCAPI") || !strings.Contains(out, "1: ") {
			t.Errorf("ogrinfo OGCAPI vector:\n%s", out)
		}
		return
	}
	col := getJSON(t, srv.URL+"/ogc/collections/countries")
	tsLink, ok := findLink(col["links"], "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", "application/json")
	if !ok {
		t.Fatalf("collection: no tilesets-vector link of type application/json")
	}
	list := getJSON(t, tsLink["href"].(string))
	var tilesetURL string
	for _, ts := range list["tilesets"].([]any) {
		m := ts.(map[string]any)
		if m["dataType"] != "vector" {
			continue
		}
		if self, ok := findLink(m["links"], "self", "application/json"); ok && strings.Contains(fmt.Sprint(m["tileMatrixSetURI"]), "WebMercatorQuad") {
			tilesetURL = self["href"].(string)
		}
	}
	if tilesetURL == "" {
		t.Fatalf("tilesets: no vector WebMercatorQuad tileset with a self link:\n%v", list)
	}
	tileset := getJSON(t, tilesetURL)
	item, ok := findLink(tileset["links"], "item", "application/vnd.mapbox-vector-tile")
	scheme, ok2 := findLink(tileset["links"], "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "application/json")
	if !ok || !ok2 {
		t.Fatalf("tileset: want an MVT item link and a tiling-scheme link:\n%v", tileset["links"])
	}
	tmpl := item["href"].(string)
	for _, needle := range []string{"{tileMatrix}", "{tileRow}", "{tileCol}"} {
		if !strings.Contains(tmpl, needle) {
			t.Fatalf("tile URL %s lacks %s", tmpl, needle)
		}
	}
	// The tiling scheme parses as GDAL's TileMatrixSet::parse wants it.
	tms := getJSON(t, scheme["href"].(string))
	if !strings.Contains(fmt.Sprint(tms["crs"]), "3857") || len(tms["tileMatrices"].([]any)) == 0 {
		t.Fatalf("tile matrix set: crs %v, %d matrices", tms["crs"], len(tms["tileMatrices"].([]any)))
	}
	tileURL := strings.NewReplacer("{tileMatrix}", "2", "{tileRow}", "1", "{tileCol}", "2").Replace(tmpl)
	_, body := httpGet(t, tileURL, 200)
	p := filepath.Join(t.TempDir(), "1.pbf")
	if err := os.WriteFile(p, body, 0o644); err != nil {
		t.Fatal(err)
	}
	out = gdal(t, "ogrinfo", "-ro", "-al", "-so", "-oo", "X=2", "-oo", "Y=1", "-oo", "Z=2", p)
	if !strings.Contains(out, "Layer name: udf") || !strings.Contains(out, "Feature Count: ") || strings.Contains(out, "Feature Count: 0") {
		t.Errorf("ogrinfo of the tile the OGCAPI driver would read (%s):\n%s", tileURL, out)
	}
}

// gdalHasOGCAPIVectorTiles reports whether the GDAL library ogrinfo runs on
// holds the OGCAPI driver's vector-tile code (see TestOGCAPIWithGDAL).
func gdalHasOGCAPIVectorTiles(t *testing.T) bool {
	t.Helper()
	bin, err := exec.LookPath("ogrinfo")
	if err != nil {
		t.Fatalf("ogrinfo not installed (apt-get install gdal-bin)")
	}
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", bin, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, "libgdal.so") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			break
		}
		lib, err := os.ReadFile(f[2])
		if err != nil {
			t.Fatalf("reading %s: %v", f[2], err)
		}
		return strings.Contains(string(lib), "vectorType\x00")
	}
	t.Fatalf("ldd %s names no libgdal:\n%s", bin, out)
	return false
}

type wmtsCaps struct {
	XMLName xml.Name `xml:"Capabilities"`
	Version string   `xml:"version,attr"`
	Layers  []struct {
		Identifier string `xml:"Identifier"`
		BBox       struct {
			Lower string `xml:"LowerCorner"`
			Upper string `xml:"UpperCorner"`
		} `xml:"WGS84BoundingBox"`
		Style struct {
			IsDefault  string `xml:"isDefault,attr"`
			Identifier string `xml:"Identifier"`
		} `xml:"Style"`
		Format string `xml:"Format"`
		Link   struct {
			TMS    string `xml:"TileMatrixSet"`
			Limits []struct {
				TileMatrix string `xml:"TileMatrix"`
				MinRow     int    `xml:"MinTileRow"`
				MaxRow     int    `xml:"MaxTileRow"`
				MinCol     int    `xml:"MinTileCol"`
				MaxCol     int    `xml:"MaxTileCol"`
			} `xml:"TileMatrixSetLimits>TileMatrixLimits"`
		} `xml:"TileMatrixSetLink"`
		Resource struct {
			Format   string `xml:"format,attr"`
			Type     string `xml:"resourceType,attr"`
			Template string `xml:"template,attr"`
		} `xml:"ResourceURL"`
	} `xml:"Contents>Layer"`
	TMS []struct {
		Identifier   string `xml:"Identifier"`
		SupportedCRS string `xml:"SupportedCRS"`
		Matrices     []struct {
			Identifier string  `xml:"Identifier"`
			Scale      float64 `xml:"ScaleDenominator"`
			TopLeft    string  `xml:"TopLeftCorner"`
			TileWidth  int     `xml:"TileWidth"`
			TileHeight int     `xml:"TileHeight"`
			Width      int     `xml:"MatrixWidth"`
			Height     int     `xml:"MatrixHeight"`
		} `xml:"TileMatrix"`
	} `xml:"Contents>TileMatrixSet"`
}

func TestWMTSCapabilities(t *testing.T) {
	srv, reg := ogcServer(t)
	l, _ := reg.Get("elevation")
	sch := l.Handler.Schema()
	resp, rest := httpGet(t, srv.URL+"/wmts/1.0.0/WMTSCapabilities.xml", 200)
	if !strings.Contains(resp.Header.Get("Content-Type"), "xml") {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	_, kvp := httpGet(t, srv.URL+"/wmts?service=WMTS&request=GetCapabilities", 200)
	if string(kvp) != string(rest) {
		t.Errorf("KVP and RESTful capabilities differ")
	}
	var c wmtsCaps
	if err := xml.Unmarshal(rest, &c); err != nil {
		t.Fatal(err)
	}
	if c.Version != "1.0.0" || len(c.Layers) != 1 || len(c.TMS) != 1 {
		t.Fatalf("capabilities: version %s, %d layers (want only the raster one), %d TMS", c.Version, len(c.Layers), len(c.TMS))
	}
	ly := c.Layers[0]
	if ly.Identifier != "elevation" || ly.Format != "image/png" || ly.Style.Identifier != "default" || ly.Style.IsDefault != "true" ||
		ly.Link.TMS != "WebMercatorQuad" || ly.Resource.Format != "image/png" || ly.Resource.Type != "tile" ||
		ly.Resource.Template != srv.URL+"/v1/udfs/elevation/tiles/{TileMatrix}/{TileCol}/{TileRow}.png" {
		t.Errorf("layer: %+v", ly)
	}
	if want := fmt.Sprintf("%v %v", sch.Bounds.MinX, sch.Bounds.MinY); ly.BBox.Lower != want {
		t.Errorf("WGS84BoundingBox lower %q, want %q", ly.BBox.Lower, want)
	}
	if len(ly.Link.Limits) != sch.MaxZoom-sch.MinZoom+1 {
		t.Errorf("%d TileMatrixLimits for zooms %d..%d", len(ly.Link.Limits), sch.MinZoom, sch.MaxZoom)
	}
	for _, lim := range ly.Link.Limits {
		var z int
		fmt.Sscan(lim.TileMatrix, &z)
		r := tiles.Cover(sch.Bounds, z)
		if lim.MinRow != r.MinY || lim.MaxRow != r.MaxY || lim.MinCol != r.MinX || lim.MaxCol != r.MaxX {
			t.Errorf("limits %+v, want %+v", lim, r)
		}
	}
	tms := c.TMS[0]
	if tms.Identifier != "WebMercatorQuad" || tms.SupportedCRS != "urn:ogc:def:crs:EPSG::3857" || len(tms.Matrices) != sch.MaxZoom+1 {
		t.Fatalf("TMS %s %s with %d matrices", tms.Identifier, tms.SupportedCRS, len(tms.Matrices))
	}
	for z, m := range tms.Matrices {
		n := 1 << z
		if m.Identifier != fmt.Sprint(z) || m.Width != n || m.Height != n || m.TileWidth != 256 || m.TileHeight != 256 ||
			m.TopLeft != "-20037508.3427892 20037508.3427892" || !near(m.Scale, 559082264.0287178/float64(n)) {
			t.Errorf("tile matrix %d: %+v", z, m)
		}
	}

	// KVP GetTile is the XYZ tile; errors are OWS exception reports.
	z, row, col := elevationTile([]any{sch.Bounds.MinX, sch.Bounds.MinY, sch.Bounds.MaxX, sch.Bounds.MaxY})
	resp, body := httpGet(t, fmt.Sprintf("%s/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=elevation&STYLE=default&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=%d&TILEROW=%d&TILECOL=%d&FORMAT=image/png",
		srv.URL, z, row, col), 200)
	_, xyz := httpGet(t, fmt.Sprintf("%s/v1/udfs/elevation/tiles/%d/%d/%d.png", srv.URL, z, col, row), 200)
	if resp.Header.Get("Content-Type") != "image/png" || string(body) != string(xyz) {
		t.Errorf("GetTile: %q, %d bytes; XYZ %d bytes", resp.Header.Get("Content-Type"), len(body), len(xyz))
	}
	type exc struct {
		code   string
		status int // as OGC 06-121r9 and WMTS 1.0.0 give it; 404 for what the layer does not serve
	}
	for q, want := range map[string]exc{
		"REQUEST=GetCapabilities":             {"MissingParameterValue", 400},
		"SERVICE=WMS&REQUEST=GetCapabilities": {"InvalidParameterValue", 400},
		"SERVICE=WMTS":                        {"MissingParameterValue", 400},
		"SERVICE=WMTS&REQUEST=GetFeatureInfo": {"OperationNotSupported", 501},
		"SERVICE=WMTS&REQUEST=GetTile&LAYER=elevation&TILEMATRIX=1&TILEROW=0":                                           {"MissingParameterValue", 400},
		"SERVICE=WMTS&REQUEST=GetTile&LAYER=countries&TILEMATRIX=1&TILEROW=0&TILECOL=0":                                 {"InvalidParameterValue", 404},
		"SERVICE=WMTS&REQUEST=GetTile&LAYER=nope&TILEMATRIX=1&TILEROW=0&TILECOL=0":                                      {"InvalidParameterValue", 404},
		"SERVICE=WMTS&REQUEST=GetTile&LAYER=elevation&TILEMATRIX=x&TILEROW=0&TILECOL=0":                                 {"InvalidParameterValue", 400},
		"SERVICE=WMTS&REQUEST=GetTile&LAYER=elevation&TILEMATRIX=1&TILEROW=0&TILECOL=0&FORMAT=image/jpeg":               {"InvalidParameterValue", 400},
		"SERVICE=WMTS&REQUEST=GetTile&LAYER=elevation&TILEMATRIX=1&TILEROW=0&TILECOL=0&TILEMATRIXSET=CRS84":             {"InvalidParameterValue", 400},
		"SERVICE=WMTS&REQUEST=GetTile&LAYER=elevation&TILEMATRIX=" + fmt.Sprint(sch.MaxZoom) + "&TILEROW=-1&TILECOL=0":  {"TileOutOfRange", 400},
		"SERVICE=WMTS&REQUEST=GetTile&LAYER=elevation&TILEMATRIX=" + fmt.Sprint(sch.MaxZoom+1) + "&TILEROW=0&TILECOL=0": {"TileOutOfRange", 404},
	} {
		code := want.code
		resp, body := httpGet(t, srv.URL+"/wmts?"+q, want.status)
		var rep struct {
			XMLName    xml.Name `xml:"ExceptionReport"`
			Exceptions []struct {
				Code string `xml:"exceptionCode,attr"`
				Text string `xml:"ExceptionText"`
			} `xml:"Exception"`
		}
		if err := xml.Unmarshal(body, &rep); err != nil || len(rep.Exceptions) != 1 || rep.Exceptions[0].Code != code ||
			!strings.Contains(resp.Header.Get("Content-Type"), "xml") {
			t.Errorf("%s: %v %s", q, err, body)
		}
	}
}

// TestWMTSWithGDAL opens the WMTS layer with GDAL and reads a window of pixels.
func TestWMTSWithGDAL(t *testing.T) {
	srv, reg := ogcServer(t)
	l, _ := reg.Get("elevation")
	sch := l.Handler.Schema()
	ds := "WMTS:" + srv.URL + "/wmts/1.0.0/WMTSCapabilities.xml,layer=elevation"
	out := gdal(t, "gdalinfo", ds)
	for _, want := range []string{"Driver: WMTS/", "Pseudo-Mercator", "Band 4 Block=", "ColorInterp=Alpha",
		fmt.Sprintf("Pixel Size = (%.6f", 2*tiles.OriginShift/256/float64(int(1)<<sch.MaxZoom))} {
		if !strings.Contains(out, want) {
			t.Errorf("gdalinfo WMTS: no %q in\n%s", want, out)
		}
	}
	var w, h int
	if _, err := fmt.Sscanf(out[strings.Index(out, "Size is "):], "Size is %d, %d", &w, &h); err != nil || w < 256 || h < 256 {
		t.Fatalf("gdalinfo WMTS: size %dx%d (%v)", w, h, err)
	}
	dst := filepath.Join(t.TempDir(), "window.png")
	gdal(t, "gdal_translate", "-q", "-of", "PNG", "-srcwin", fmt.Sprint(w/2-128), fmt.Sprint(h/2-128), "256", "256",
		"-outsize", "64", "64", ds, dst)
	img, err := png.Decode(strings.NewReader(string(readBytes(t, dst))))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 64 {
		t.Fatalf("window %v", b)
	}
	opaque, colours := 0, map[[3]uint32]bool{}
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			r, g, b, a := img.At(x, y).RGBA()
			if a > 0 {
				opaque++
				colours[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
			}
		}
	}
	if opaque < 64*64/2 || len(colours) < 10 {
		t.Errorf("window in the middle of the DEM: %d opaque pixels, %d colours", opaque, len(colours))
	}
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
