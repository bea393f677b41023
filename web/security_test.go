package web_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/web"
)

// htmlHandler returns HTML with a script in it, in tile and file mode, as a
// Python UDF returning a str does.
type htmlHandler struct{}

const evilHTML = `<p style="color: red">hi</p><script>fetch('/v1/udfs').then(r => r.text()).then(alert)</script>`

func (htmlHandler) Schema() layer.Schema {
	return layer.Schema{
		Params:  []layer.Param{{Name: "n", Type: layer.Int, Default: 1}},
		Modes:   []string{"tile", "file"},
		Formats: []string{"json"}, Natural: true,
		MaxZoom: 22,
		Bounds:  tiles.Bounds{MinX: -180, MinY: -tiles.MaxLat, MaxX: 180, MaxY: tiles.MaxLat},
	}
}

func (htmlHandler) Version() string { return "v1" }

func (htmlHandler) Run(ctx context.Context, r layer.Request) (layer.Result, error) {
	return &layer.Value{ContentType: "text/html; charset=utf-8", Kind: "text", Body: []byte(evilHTML)}, nil
}

// TestSecurityHeaders: every answer whose body a UDF or a request chooses
// (HTML results in tile and file mode, shared-token routes, inline code, OGC
// tiles, errors) carries Content-Security-Policy: sandbox and nosniff, so an
// HTML result opened in a browser cannot script the server's origin; the map
// page carries a policy of its own that keeps it working and frames it only
// on this server.
func TestSecurityHeaders(t *testing.T) {
	e := newTestServer(t)
	e.reg.Add(&layer.Layer{Name: "page", Kind: "go", Handler: htmlHandler{}, MaxAge: time.Hour})
	e.addFake("f", &fakeHandler{}, time.Hour)
	admin, _ := web.NewBearer("ops", web.HashToken("admin-token-1"), true)
	h := e.withDeps(t, web.Deps{Tokens: map[string]string{"tok123": "page"}, Bearers: []web.Bearer{admin},
		Inline: func(string) (layer.Handler, error) { return htmlHandler{}, nil }})
	tile := e.centerTile(9)
	for _, c := range []struct {
		method, target, body string
		code                 int
		headers              []string
	}{
		{"GET", "/v1/udfs/page/tiles/3/2/2", "", 200, nil},
		{"GET", "/v1/udfs/page/run", "", 200, nil},
		{"POST", "/v1/udfs/page/run", `{"n": 2}`, 200, nil},
		{"GET", "/server/v1/realtime-shared/tok123/run/tiles/3/2/2", "", 200, nil},
		{"GET", "/server/v1/realtime-shared/tok123/run/file", "", 200, nil},
		{"POST", "/v1/run", `{"code": "x"}`, 200, []string{"Authorization", "Bearer admin-token-1"}},
		{"GET", fmt.Sprintf("/ogc/collections/elevation/tiles/WebMercatorQuad/%d/%d/%d", tile.Z, tile.Y, tile.X), "", 200, nil},
		{"GET", tileURL("elevation", tile, ".png"), "", 200, nil},
		{"GET", "/v1/udfs/page/tilejson.json", "", 200, nil},
		{"GET", "/v1/udfs", "", 200, nil},
		{"GET", "/v1/udfs/%3Cscript%3E", "", 404, nil},
		{"GET", "/nowhere/<script>", "", 404, nil},
		{"GET", "/v1/jobs/nope", "", 404, nil},
		{"GET", "/wmts?SERVICE=WMTS&REQUEST=GetTile", "", 400, nil},
		{"GET", "/metrics", "", 200, nil},
	} {
		req := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
		for i := 0; i+1 < len(c.headers); i += 2 {
			req.Header.Set(c.headers[i], c.headers[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.code {
			t.Errorf("%s %s: %d, want %d; %.200s", c.method, c.target, rec.Code, c.code, rec.Body)
		}
		if got := rec.Header().Get("Content-Security-Policy"); got != "sandbox" {
			t.Errorf("%s %s: Content-Security-Policy %q, want sandbox", c.method, c.target, got)
		}
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s: X-Content-Type-Options %q, want nosniff", c.method, c.target, got)
		}
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") && !strings.Contains(rec.Body.String(), "<script>") {
			t.Errorf("%s %s: the HTML result was changed: %s", c.method, c.target, rec.Body)
		}
	}
	// HTML results are HTML (the page shows them), only never with the server's origin.
	if ct := do(h, "GET", "/v1/udfs/page/run").Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("an HTML result is served as %q", ct)
	}
	for _, p := range []string{"/", "/map/elevation", "/static/app.js", "/static/vendor/maplibre-gl.js"} {
		rec := do(h, "GET", p)
		csp := rec.Header().Get("Content-Security-Policy")
		if rec.Code != 200 || strings.Contains(csp, "sandbox") {
			t.Errorf("%s: %d, Content-Security-Policy %q: the page must not be sandboxed", p, rec.Code, csp)
		}
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "worker-src 'self' blob:", "img-src 'self' data: blob:",
			"connect-src 'self'", "object-src 'none'", "frame-ancestors 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: Content-Security-Policy %q has no %q", p, csp, want)
			}
		}
		if strings.Contains(strings.SplitN(strings.SplitN(csp, "script-src", 2)[1], ";", 2)[0], "unsafe") {
			t.Errorf("%s: scripts may run inline or from eval: %q", p, csp)
		}
		if rec.Header().Get("X-Frame-Options") != "SAMEORIGIN" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: X-Frame-Options %q, X-Content-Type-Options %q", p, rec.Header().Get("X-Frame-Options"), rec.Header().Get("X-Content-Type-Options"))
		}
	}
	// No inline script in the page: the policy would block it.
	if body := do(h, "GET", "/").Body.String(); strings.Contains(body, "<script>") || strings.Contains(body, "onclick=") {
		t.Errorf("the map page has an inline script")
	}
}

// TestDuplicateParams: a parameter given twice is a 400 naming it, however it
// is spelt, so the limits and the handler never read different values;
// rescale repeats once per band. A query Go cannot parse whole (';', a broken
// escape, more than 10,000 parameters) is a 400, not a query with parts
// silently dropped.
func TestDuplicateParams(t *testing.T) {
	e := newTestServer(t)
	e.addFake("f", &fakeHandler{}, time.Hour)
	e.reg.Add(&layer.Layer{Name: "page", Kind: "go", Handler: htmlHandler{}, MaxAge: time.Hour})
	wide := e.withDeps(t, web.Deps{Limits: web.Limits{MaxParams: 10000}})
	tile := e.centerTile(9)
	many := strings.Repeat("x=1&", 10001)
	for _, c := range []struct {
		h      http.Handler
		target string
		code   int
		has    string
	}{
		{e.handler, "/v1/udfs/f/tiles/3/2/2.png?n=1&n=2", 400, "parameter n"},
		{e.handler, "/v1/udfs/f/tiles/3/2/2.png?n=1&%6E=2", 400, "parameter n"},
		{e.handler, "/v1/udfs/f/tiles/3/2/2.png?n=1&n=1", 400, "parameter n"},
		{e.handler, "/v1/udfs/f/tiles/3/2/2.png?n=2", 200, ""},
		{wide, "/v1/udfs/f/tiles/3/2/2.png?" + strings.Repeat("cache=true&", 70)[:len("cache=true&")*70-1], 400, "parameter cache"},
		{e.handler, tileURL("elevation", tile, ".png") + "?tilesize=256&tilesize=512", 400, "parameter tilesize"},
		{e.handler, tileURL("elevation", tile, ".png") + "?colormap=viridis&colormap=magma", 400, "parameter colormap"},
		{e.handler, tileURL("elevation", tile, ".png") + "?colormap=viridis&colormap_name=magma", 400, "colormap_name"},
		{e.handler, tileURL("rgb", tiles.AtLonLat(15, 46, 6), ".png") + "?rescale=0,255&rescale=0,200&rescale=0,180", 200, ""},
		{e.handler, "/v1/udfs/page/run?bounds=0,0,1,1&bbox=0,0,1,1", 400, "bbox"},
		{e.handler, "/v1/udfs/f/tiles/3/2/2.png?n=1;n=2", 400, "malformed"},
		{e.handler, "/v1/udfs/f/tiles/3/2/2.png?n=%zz", 400, "malformed"},
		{e.handler, "/v1/udfs/f/tiles/3/2/2.png?" + many, 400, "10000"},
		{wide, "/v1/udfs/f/tiles/3/2/2.png?" + many, 400, "10000"},
		{e.handler, "/v1/udfs/f/tilejson.json?n=1&n=2", 400, "parameter n"},
		{e.handler, "/ogc/collections/f/tiles/WebMercatorQuad/3/2/2?f=png&f=mvt", 400, "parameter f"},
	} {
		rec := do(c.h, "GET", c.target)
		if rec.Code != c.code {
			t.Errorf("%.120s: %d, want %d; %.300s", c.target, rec.Code, c.code, rec.Body)
			continue
		}
		if c.has != "" && !strings.Contains(jsonError(t, rec), c.has) {
			t.Errorf("%.120s: %s, want it to name %q", c.target, rec.Body, c.has)
		}
	}
	// POSTed parameters: a key twice in the body, or in the body and the query.
	for _, c := range []struct{ target, body, has string }{
		{"/v1/udfs/page/run", `{"n": 1, "n": 2}`, "parameter n"},
		{"/v1/udfs/page/run?n=1", `{"n": 2}`, "parameter n"},
		{"/v1/udfs/page/run?bounds=0,0,1,1", `{"bbox": [0, 0, 1, 1]}`, "bbox"},
	} {
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, httptest.NewRequest("POST", c.target, strings.NewReader(c.body)))
		if rec.Code != 400 || !strings.Contains(jsonError(t, rec), c.has) {
			t.Errorf("POST %s %s: %d %s, want 400 naming %q", c.target, c.body, rec.Code, rec.Body, c.has)
		}
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/udfs/page/run", strings.NewReader(`{"n": 2}`)))
	if rec.Code != 200 {
		t.Errorf("POST with one n: %d %s", rec.Code, rec.Body)
	}
	// WMTS names are case-insensitive: LAYER and layer are one parameter.
	rec = do(e.handler, "GET", "/wmts?SERVICE=WMTS&REQUEST=GetTile&layer=elevation&LAYER=rgb&TILEMATRIX=1&TILEROW=0&TILECOL=0")
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `exceptionCode="InvalidParameterValue"`) || !strings.Contains(rec.Body.String(), `locator="layer"`) {
		t.Errorf("WMTS with layer twice: %d %s", rec.Code, rec.Body)
	}
}

// TestEmptyColormap: colormap= with no value is a 400 saying so, rather than
// silently dropping the layer's default colormap.
func TestEmptyColormap(t *testing.T) {
	e := newTestServer(t)
	tile := e.centerTile(9)
	for _, target := range []string{
		tileURL("elevation", tile, ".png") + "?colormap=",
		tileURL("elevation", tile, ".png") + "?colormap_name=",
		tileURL("elevation", tile, ".png") + "?colormap=%20",
		"/v1/udfs/elevation/tilejson.json?colormap=",
	} {
		rec := do(e.handler, "GET", target)
		if rec.Code != 400 || !strings.Contains(jsonError(t, rec), "empty") {
			t.Errorf("%s: %d %s, want 400 saying the colormap is empty", target, rec.Code, rec.Body)
		}
	}
	e.get(t, tileURL("elevation", tile, ".png")+"?colormap=viridis", 200)
}

// TestPrivateLayerDocs: documents about a private layer (its info, TileJSON,
// OGC API collection and tilesets, listings that include it) are
// Cache-Control: private, as its tiles are; a public layer's are not.
func TestPrivateLayerDocs(t *testing.T) {
	_, h, _ := authEnv(t, web.Deps{})
	for _, c := range []struct {
		target  string
		private bool
	}{
		{"/v1/udfs/secret", true},
		{"/v1/udfs/secret/tilejson.json", true},
		{"/ogc/collections/secret", true},
		{"/ogc/collections/secret/tiles", true},
		{"/ogc/collections/secret/tiles/WebMercatorQuad", true},
		{"/v1/udfs", true},
		{"/ogc/collections", true},
		{"/wmts?SERVICE=WMTS&REQUEST=GetCapabilities", true},
		{"/v1/udfs/open", false},
		{"/v1/udfs/open/tilejson.json", false},
		{"/ogc/collections/open", false},
	} {
		rec := do(h, "GET", c.target, "Authorization", readerAuth)
		if rec.Code != 200 {
			t.Errorf("%s: %d %s", c.target, rec.Code, rec.Body)
			continue
		}
		cc := rec.Header().Get("Cache-Control")
		if got := strings.HasPrefix(cc, "private"); got != c.private {
			t.Errorf("%s: Cache-Control %q, private %v, want %v", c.target, cc, got, c.private)
		}
	}
	// Anonymous listings hold no private layer and need not be private.
	if cc := do(h, "GET", "/v1/udfs").Header().Get("Cache-Control"); strings.HasPrefix(cc, "private") {
		t.Errorf("anonymous /v1/udfs: Cache-Control %q", cc)
	}
}

// TestTrustProxy: X-Forwarded-Proto and X-Forwarded-Host make the base of
// document URLs only behind a trusted proxy (server.trust_proxy); otherwise
// anyone could put their host into TileJSON, OGC and WMTS documents.
func TestTrustProxy(t *testing.T) {
	e := newTestServer(t)
	trusted := e.withDeps(t, web.Deps{Limits: web.Limits{TrustProxy: true}})
	fwd := []string{"Host", "tiles.local", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.example"}
	for _, c := range []struct {
		trust bool
		path  string
		want  string
	}{
		{false, "/v1/udfs/elevation/tilejson.json", `"http://tiles.local/v1/udfs/elevation/tiles/`},
		{false, "/ogc/collections", `"http://tiles.local/ogc/collections`},
		{false, "/wmts/1.0.0/WMTSCapabilities.xml", `"http://tiles.local/wmts?"`},
		{true, "/v1/udfs/elevation/tilejson.json", `"https://evil.example/v1/udfs/elevation/tiles/`},
		{true, "/ogc/collections", `"https://evil.example/ogc/collections`},
	} {
		h := e.handler
		if c.trust {
			h = trusted
		}
		rec := do(h, "GET", c.path, fwd...)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("%s: %d, want %s in %.400s", c.path, rec.Code, c.want, rec.Body)
		}
		if !c.trust && strings.Contains(rec.Body.String(), "evil.example") {
			t.Errorf("%s: an untrusted X-Forwarded-Host made the URLs: %.400s", c.path, rec.Body)
		}
	}
}

// TestMetricsAccess: /metrics is open by default, and then never names a
// private layer to a request without a token (its series are added up under
// udf="(private)"); auth.metrics: token or admin closes it.
func TestMetricsAccess(t *testing.T) {
	_, h, _ := authEnv(t, web.Deps{})
	for _, p := range []string{"/v1/udfs/secret/tiles/3/2/2.png", "/v1/udfs/secret/tiles/3/2/3.png", "/v1/udfs/open/tiles/3/2/2.png"} {
		if rec := do(h, "GET", p, "Authorization", readerAuth); rec.Code != 200 {
			t.Fatalf("%s: %d %s", p, rec.Code, rec.Body)
		}
	}
	anon := do(h, "GET", "/metrics").Body.String()
	if strings.Contains(anon, "secret") {
		t.Errorf("an anonymous scrape names the private layer:\n%s", grepLines(anon, "secret"))
	}
	if !strings.Contains(anon, `udftiles_renders_total{outcome="ok",udf="(private)"} 2`) ||
		!strings.Contains(anon, `udftiles_render_seconds_count{udf="(private)"} 2`) ||
		!strings.Contains(anon, `udftiles_renders_total{outcome="ok",udf="open"} 1`) {
		t.Errorf("an anonymous scrape does not add up the private layer's renders:\n%s", grepLines(anon, "udftiles_render"))
	}
	for _, auth := range []string{readerAuth, "Bearer nope"} {
		body := do(h, "GET", "/metrics", "Authorization", auth).Body.String()
		if got := strings.Contains(body, `udftiles_renders_total{outcome="ok",udf="secret"} 2`); got != (auth == readerAuth) {
			t.Errorf("%s: the private layer's series shown %v:\n%s", auth, got, grepLines(body, "udftiles_renders_total"))
		}
	}
	for _, c := range []struct {
		access string
		auth   string
		code   int
	}{
		{"", "", 200},
		{web.MetricsPublic, "", 200},
		{web.MetricsToken, "", 401},
		{web.MetricsToken, "Bearer nope", 401},
		{web.MetricsToken, readerAuth, 200},
		{web.MetricsAdmin, readerAuth, 403},
		{web.MetricsAdmin, "", 401},
		{web.MetricsAdmin, adminAuth, 200},
	} {
		_, h, _ := authEnv(t, web.Deps{MetricsAccess: c.access})
		var headers []string
		if c.auth != "" {
			headers = []string{"Authorization", c.auth}
		}
		rec := do(h, "GET", "/metrics", headers...)
		if rec.Code != c.code {
			t.Errorf("auth.metrics %q with %q: %d, want %d", c.access, c.auth, rec.Code, c.code)
		}
		if c.code == 200 && !strings.Contains(rec.Body.String(), "go_goroutines") {
			t.Errorf("auth.metrics %q with %q: no metrics in %.200s", c.access, c.auth, rec.Body)
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestWMTSErrorsAreExceptionReports: whatever goes wrong on /wmts (a missing
// parameter, a tile outside the layer, a private layer without a token, a
// failed render, the request limits) answers an OWS ExceptionReport with the
// status its code calls for, never JSON.
func TestWMTSErrorsAreExceptionReports(t *testing.T) {
	e, h, _ := authEnv(t, web.Deps{Limits: web.Limits{MaxParams: 12}})
	e.addFake("down", &fakeHandler{err: layer.Errorf(layer.Unavailable, "the source is away")}, time.Hour)
	get := "/wmts?SERVICE=WMTS&REQUEST=GetTile&TILEMATRIXSET=WebMercatorQuad&FORMAT=image/png&STYLE=default"
	tile := e.centerTile(9)
	for _, c := range []struct {
		query   string
		code    int
		exc     string
		locator string
		header  string
	}{
		{"?REQUEST=GetCapabilities", 400, "MissingParameterValue", "service", ""},
		{"?SERVICE=WMTS&REQUEST=GetFeatureInfo", 501, "OperationNotSupported", "request", ""},
		{"?SERVICE=WMS&REQUEST=GetCapabilities", 400, "InvalidParameterValue", "service", ""},
		{fmt.Sprintf("&LAYER=nope&TILEMATRIX=%d&TILEROW=%d&TILECOL=%d", tile.Z, tile.Y, tile.X), 404, "InvalidParameterValue", "layer", ""},
		{fmt.Sprintf("&LAYER=elevation&TILEMATRIX=%d&TILEROW=%d&TILECOL=%d", 3, 0, 0), 404, "TileOutOfRange", "tilematrix", ""},
		{fmt.Sprintf("&LAYER=elevation&TILEMATRIX=%d&TILEROW=%d&TILECOL=%d", tile.Z, 0, 0), 404, "TileOutOfRange", "tilecol", ""},
		{fmt.Sprintf("&LAYER=elevation&TILEMATRIX=%d&TILEROW=%d&TILECOL=%d", tile.Z, 1<<tile.Z, tile.X), 400, "TileOutOfRange", "tilerow", ""},
		{fmt.Sprintf("&LAYER=elevation&TILEMATRIX=%d&TILEROW=%d&TILECOL=%d", tile.Z, tile.Y, -1), 400, "TileOutOfRange", "tilecol", ""},
		{"&LAYER=elevation&TILEMATRIX=25&TILEROW=0&TILECOL=0", 400, "InvalidParameterValue", "tilematrix", ""},
		{fmt.Sprintf("&LAYER=elevation&TILEMATRIX=%d&TILEROW=x&TILECOL=%d", tile.Z, tile.X), 400, "InvalidParameterValue", "tilerow", ""},
		{"&LAYER=secret&TILEMATRIX=3&TILEROW=2&TILECOL=2", 401, "NoApplicableCode", "", "WWW-Authenticate"},
		{"&LAYER=down&TILEMATRIX=3&TILEROW=2&TILECOL=2", 503, "NoApplicableCode", "", "Retry-After"},
		{"&LAYER=open&TILEMATRIX=3&TILEROW=2&TILECOL=2&A=1&B=2&C=3&D=4&E=5", 400, "InvalidParameterValue", "", ""},
		{"&LAYER=open&TILEMATRIX=3&TILEROW=2&TILECOL=2&LAYER=open", 400, "InvalidParameterValue", "", ""},
	} {
		target := get + c.query
		if strings.HasPrefix(c.query, "?") {
			target = "/wmts" + c.query
		}
		rec := do(h, "GET", target)
		var rep struct {
			XMLName    xml.Name `xml:"ExceptionReport"`
			Exceptions []struct {
				Code    string `xml:"exceptionCode,attr"`
				Locator string `xml:"locator,attr"`
				Text    string `xml:"ExceptionText"`
			} `xml:"Exception"`
		}
		err := xml.Unmarshal(rec.Body.Bytes(), &rep)
		switch {
		case rec.Code != c.code:
			t.Errorf("%s: %d, want %d; %s", c.query, rec.Code, c.code, rec.Body)
		case err != nil || len(rep.Exceptions) != 1 || !strings.Contains(rec.Header().Get("Content-Type"), "xml"):
			t.Errorf("%s: not an ExceptionReport (%v): %s %s", c.query, err, rec.Header().Get("Content-Type"), rec.Body)
		case rep.Exceptions[0].Code != c.exc || rep.Exceptions[0].Locator != c.locator || rep.Exceptions[0].Text == "":
			t.Errorf("%s: %+v, want code %s, locator %q", c.query, rep.Exceptions[0], c.exc, c.locator)
		case c.header != "" && rec.Header().Get(c.header) == "":
			t.Errorf("%s: no %s header", c.query, c.header)
		}
	}
	// A good GetTile is still the tile.
	rec := do(h, "GET", get+"&LAYER=open&TILEMATRIX=3&TILEROW=2&TILECOL=2")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/png" {
		t.Errorf("GetTile: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
}
