package web_test

import (
	"bytes"
	"encoding/json"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/web"
)

func postBody(h http.Handler, target, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

const lakeArea = `{"type":"Polygon","coordinates":[[[13.6,47.0],[14.0,47.0],[14.0,47.25],[13.6,47.25],[13.6,47.0]]]}`

// TestRasterQueryRoutes serves info, statistics, point, preview, bbox and
// feature of the demo layers, with the errors users make.
func TestRasterQueryRoutes(t *testing.T) {
	e := newTestServer(t)
	var in cog.DatasetInfo
	if err := json.Unmarshal(e.get(t, "/v1/udfs/elevation/info", 200).Body.Bytes(), &in); err != nil {
		t.Fatal(err)
	}
	if in.Count != 1 || in.EPSG != 32633 || in.DType != "int16" || in.NoData == nil {
		t.Errorf("info: %+v", in)
	}
	// Statistics: whole, bbox, percentiles, histogram; the same numbers as the cog package.
	var st map[string]map[string]any
	body := e.get(t, "/v1/udfs/elevation/statistics?max_size=512&p=5&p=95&histogram_bins=4&histogram_range=0,3000", 200).Body.Bytes()
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	b1 := st["b1"]
	if _, ok := b1["percentile_5"]; !ok || b1["percentile_95"] == nil || len(b1["histogram"].([]any)[0].([]any)) != 4 {
		t.Errorf("statistics: %s", body)
	}
	r := cog.New(cog.Options{Path: e.demoPath})
	defer r.Close()
	want, _ := r.Statistics(cog.StatsOptions{MaxSize: 512})
	if b1["mean"].(float64) != *want.Bands[0].Mean {
		t.Errorf("mean %v, want %v", b1["mean"], *want.Bands[0].Mean)
	}
	e.get(t, "/v1/udfs/elevation/statistics?bbox=13.6,47.0,14.0,47.25", 200)
	e.get(t, "/v1/udfs/rgb/statistics?expression="+url.QueryEscape("(b3-b1)/(b3+b1)"), 200)
	e.get(t, "/v1/udfs/rgb/statistics?bidx=2,1", 200)
	// POST: a geometry, a Feature, a FeatureCollection.
	rec := postBody(e.handler, "/v1/udfs/elevation/statistics", lakeArea)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"b1":{"min"`) {
		t.Errorf("POST geometry: %d %s", rec.Code, rec.Body)
	}
	rec = postBody(e.handler, "/v1/udfs/elevation/statistics", `{"type":"Feature","properties":{"name":"lake"},"geometry":`+lakeArea+`}`)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"statistics":{"b1"`) || !strings.Contains(rec.Body.String(), `"name":"lake"`) {
		t.Errorf("POST Feature: %d %s", rec.Code, rec.Body)
	}
	rec = postBody(e.handler, "/v1/udfs/elevation/statistics", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":`+lakeArea+`},{"type":"Feature","properties":{},"geometry":`+lakeArea+`}]}`)
	if rec.Code != 200 || strings.Count(rec.Body.String(), `"statistics"`) != 2 {
		t.Errorf("POST FeatureCollection: %d %.300s", rec.Code, rec.Body)
	}
	// Point.
	var p cog.PointValues
	if err := json.Unmarshal(e.get(t, "/v1/udfs/rgb/point/15,46", 200).Body.Bytes(), &p); err != nil || len(p.Values) != 3 {
		t.Errorf("point: %+v %v", p, err)
	}
	e.get(t, "/v1/udfs/rgb/point/15,46?expression=b1*2", 200)
	// Crops.
	for _, c := range []struct {
		target string
		w, h   int
	}{
		{"/v1/udfs/elevation/preview.png?max_size=300", 300, 300},
		{"/v1/udfs/rgb/preview.png", 1024, 1024},
		{"/v1/udfs/rgb/bbox/11,43,13,44.png?width=100&height=50", 100, 50},
		{"/v1/udfs/rgb/bbox/11,43,13,44.png?max_size=200", 200, 100},
		{"/v1/udfs/elevation/bbox/13.6,47.0,14.0,47.25.png?max_size=256&dst_crs=EPSG:3857", 256, 0},
		{"/v1/udfs/rgb/preview.png?expression=" + url.QueryEscape("(b3-b1)/(b3+b1)") + "&rescale=-1,1&colormap=rdylgn&max_size=64", 64, 64},
		{"/v1/udfs/elevation/preview.png?algorithm=hillshade&max_size=128", 128, 128},
	} {
		rec := e.get(t, c.target, 200)
		img, err := png.Decode(rec.Body)
		if err != nil {
			t.Fatalf("%s: %v", c.target, err)
		}
		if sz := img.Bounds().Size(); sz.X != c.w || c.h != 0 && sz.Y != c.h {
			t.Errorf("%s: %v, want %dx%d", c.target, sz, c.w, c.h)
		}
	}
	e.get(t, "/v1/udfs/elevation/preview.tif?max_size=64", 200)
	e.get(t, "/v1/udfs/elevation/preview.npy?max_size=64", 200)
	rec = postBody(e.handler, "/v1/udfs/elevation/feature.png?max_size=128", lakeArea)
	if rec.Code != 200 {
		t.Fatalf("feature: %d %s", rec.Code, rec.Body)
	}
	img, _ := png.Decode(rec.Body)
	full := e.get(t, "/v1/udfs/elevation/bbox/13.6,47.0,14.0,47.25.png?max_size=128", 200)
	if !bytes.Equal(rec.Body.Bytes(), full.Body.Bytes()) && img == nil {
		t.Error("feature: no image")
	}
	// A tilted polygon leaves corners of its envelope transparent.
	tri := `{"type":"Polygon","coordinates":[[[13.6,47.0],[14.0,47.0],[13.6,47.25],[13.6,47.0]]]}`
	rec = postBody(e.handler, "/v1/udfs/elevation/feature.png?max_size=128", tri)
	img, err := png.Decode(rec.Body)
	if err != nil {
		t.Fatalf("feature triangle: %d %v", rec.Code, err)
	}
	if _, _, _, a := img.At(img.Bounds().Max.X-2, 1).RGBA(); a != 0 {
		t.Error("feature: the corner outside the triangle is opaque")
	}
	if _, _, _, a := img.At(3, img.Bounds().Max.Y-3).RGBA(); a == 0 {
		t.Error("feature: the corner inside the triangle is transparent")
	}

	// Errors, each naming what is wrong.
	for _, c := range []struct {
		method, target, body string
		status               int
		want                 string
	}{
		{"GET", "/v1/udfs/nope/info", "", 404, "no UDF"},
		{"GET", "/v1/udfs/elevation/statistics?max_size=9000", "", 413, "max_size"},
		{"GET", "/v1/udfs/elevation/statistics?max_size=x", "", 400, "max_size"},
		{"GET", "/v1/udfs/elevation/statistics?bbox=1,2,3", "", 400, "bbox"},
		{"GET", "/v1/udfs/elevation/statistics?bbox=1,2,3,4", "", 404, "outside"},
		{"GET", "/v1/udfs/elevation/statistics?p=120", "", 400, "parameter p"},
		{"GET", "/v1/udfs/elevation/statistics?histogram_range=5,1", "", 400, "histogram_range"},
		{"GET", "/v1/udfs/elevation/statistics?bidx=2", "", 400, "bidx"},
		{"GET", "/v1/udfs/elevation/statistics?expression=b2", "", 400, "b2"},
		{"GET", "/v1/udfs/elevation/statistics?bidx=1&bidx=1", "", 400, "bidx"},
		{"GET", "/v1/udfs/elevation/statistics?colour=red", "", 400, "colour"},
		{"POST", "/v1/udfs/elevation/statistics", "{", 400, "body"},
		{"POST", "/v1/udfs/elevation/statistics", `{"type":"Point","coordinates":[1,2]}`, 400, "Point"},
		{"GET", "/v1/udfs/elevation/point/13.8", "", 400, "point"},
		{"GET", "/v1/udfs/elevation/point/20,20", "", 404, "outside"},
		{"GET", "/v1/udfs/elevation/point/200,20", "", 400, "longitude"},
		{"GET", "/v1/udfs/elevation/preview.png?max_size=5000", "", 413, "max_size"},
		{"GET", "/v1/udfs/elevation/preview.png?width=0", "", 400, "width"},
		{"GET", "/v1/udfs/elevation/preview.png?dst_crs=EPSG:999999", "", 400, "dst_crs"},
		{"GET", "/v1/udfs/elevation/preview.gif2", "", 400, "format"},
		{"GET", "/v1/udfs/elevation/bbox/14,47,13,48.png", "", 400, "bbox"},
		{"GET", "/v1/udfs/elevation/bbox/1,2,3,4.png", "", 404, "outside"},
		{"POST", "/v1/udfs/elevation/feature.png", `{"type":"Polygon","coordinates":[]}`, 400, "geometry"},
		{"GET", "/v1/udfs/elevation/tiles/9/275/180.png?max_size=10", "", 400, "max_size"},
	} {
		var rec *httptest.ResponseRecorder
		if c.method == "POST" {
			rec = postBody(e.handler, c.target, c.body)
		} else {
			rec = do(e.handler, c.method, c.target)
		}
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("%s %s: %d %s, want %d naming %q", c.method, c.target, rec.Code, strings.TrimSpace(rec.Body.String()), c.status, c.want)
		}
	}
}

// TestRasterQueryOfOtherLayers: a layer of another handler answers 404.
func TestRasterQueryOfOtherLayers(t *testing.T) {
	e := newTestServer(t)
	e.addFake("fake", &fakeHandler{}, time.Hour)
	for _, p := range []string{"info", "statistics", "point/1,2", "preview.png", "bbox/1,2,3,4.png"} {
		rec := do(e.handler, "GET", "/v1/udfs/fake/"+p)
		if rec.Code != 404 || !strings.Contains(rec.Body.String(), "not a COG layer") {
			t.Errorf("%s of a go layer: %d %s", p, rec.Code, rec.Body)
		}
	}
}

// TestRasterQueryPrivate: private layers need a token and their answers are private.
func TestRasterQueryPrivate(t *testing.T) {
	e := newTestServer(t)
	dem := cog.New(cog.Options{Path: e.demoPath})
	t.Cleanup(dem.Close)
	e.reg.Add(&layer.Layer{Name: "secretdem", Kind: "cog", Handler: dem, MaxAge: time.Hour, Private: true})
	reader, _ := web.NewBearer("analyst", web.HashToken("reader-token-2"), false)
	h := e.withDeps(t, web.Deps{Bearers: []web.Bearer{reader}})
	for _, p := range []string{"info", "statistics?max_size=64", "point/13.8,47.1", "preview.png?max_size=64", "bbox/13.6,47.0,14.0,47.25.png?max_size=64"} {
		if rec := do(h, "GET", "/v1/udfs/secretdem/"+p); rec.Code != 401 {
			t.Errorf("%s without a token: %d", p, rec.Code)
		}
		rec := do(h, "GET", "/v1/udfs/secretdem/"+p, "Authorization", "Bearer reader-token-2")
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Cache-Control"), "private") {
			t.Errorf("%s with a token: %d Cache-Control %q", p, rec.Code, rec.Header().Get("Cache-Control"))
		}
	}
	if rec := postBody(h, "/v1/udfs/secretdem/statistics", lakeArea); rec.Code != 401 {
		t.Errorf("POST statistics without a token: %d", rec.Code)
	}
	if rec := postBody(h, "/v1/udfs/secretdem/feature.png", lakeArea); rec.Code != 401 {
		t.Errorf("POST feature without a token: %d", rec.Code)
	}
}

// TestRasterQueryByURL: /v1/cog/... take url= under the allow-list.
func TestRasterQueryByURL(t *testing.T) {
	e := newTestServer(t)
	open := func(p string) (layer.Handler, error) { return cog.New(cog.Options{Path: p}), nil }
	h := e.withDeps(t, web.Deps{COGAllow: []string{filepath.Dir(e.demoPath)}, COGSource: open, COGMaxAge: time.Hour})
	u := url.QueryEscape(e.demoPath)
	for _, p := range []string{"info?url=" + u, "statistics?max_size=64&url=" + u, "point/13.8,47.1?url=" + u,
		"preview.png?max_size=64&url=" + u, "bbox/13.6,47.0,14.0,47.25.png?max_size=64&url=" + u} {
		want := e.get(t, "/v1/udfs/elevation/"+strings.Replace(strings.Replace(p, "url="+u, "", 1), "?&", "?", 1), 200)
		rec := do(h, "GET", "/v1/cog/"+p)
		if rec.Code != 200 {
			t.Errorf("%s: %d %s", p, rec.Code, rec.Body)
		}
		if !strings.HasPrefix(p, "info") && !strings.HasSuffix(p, "png") && !bytes.Equal(rec.Body.Bytes(), want.Body.Bytes()) && !strings.Contains(p, "png") {
			t.Errorf("%s: differs from the layer's answer", p)
		}
	}
	if rec := postBody(h, "/v1/cog/statistics?url="+u, lakeArea); rec.Code != 200 {
		t.Errorf("POST statistics by url: %d %s", rec.Code, rec.Body)
	}
	for _, c := range []struct {
		target string
		status int
	}{
		{"/v1/cog/info", 400},
		{"/v1/cog/info?url=" + url.QueryEscape("/etc/passwd"), 403},
		{"/v1/cog/statistics?url=" + url.QueryEscape("https://evil.example.com/a.tif"), 403},
	} {
		if rec := do(h, "GET", c.target); rec.Code != c.status {
			t.Errorf("%s: %d, want %d: %s", c.target, rec.Code, c.status, rec.Body)
		}
	}
	// Off without cog_urls.allow.
	if rec := do(e.handler, "GET", "/v1/cog/info?url="+u); rec.Code != 404 {
		t.Errorf("without an allow-list: %d", rec.Code)
	}
}
