package web_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/udftiles/udftiles/metrics"
	"github.com/udftiles/udftiles/web"
)

// TestTilesFirst: tiles answered ahead of the router behave as the router's
// route did: paths it cleans are redirected, other methods refused, every
// answer counted under the route's template, and the shared header values of
// one answer never show in another's.
func TestTilesFirst(t *testing.T) {
	e := newTestServer(t)
	e.addFake("f", &fakeHandler{}, time.Hour)
	m := metrics.New()
	srv := e.withDeps(t, web.Deps{Metrics: m, CORSOrigins: []string{"https://a.example"}})
	const route = "/v1/udfs/{name}/tiles/{z}/{x}/{y}"

	if rec := do(srv, "GET", "/v1/udfs/f/tiles/3/9/../1/1.png"); rec.Code != http.StatusMovedPermanently ||
		rec.Header().Get("Location") != "/v1/udfs/f/tiles/3/1/1.png" {
		t.Errorf("a path to clean: %d Location %q", rec.Code, rec.Header().Get("Location"))
	}
	if rec := do(srv, "POST", "/v1/udfs/f/tiles/3/1/1.png"); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST of a tile: %d", rec.Code)
	}

	a := do(srv, "GET", "/v1/udfs/f/tiles/3/1/1.png", "Origin", "https://a.example")
	b := do(srv, "GET", "/v1/udfs/f/tiles/3/2/1.png")
	a2 := do(srv, "GET", "/v1/udfs/f/tiles/3/1/1.png", "Origin", "https://a.example")
	if a.Code != 200 || b.Code != 200 || a2.Code != 200 || a2.Header().Get("X-Cache") != "memory" {
		t.Fatalf("tiles: %d %d %d (X-Cache %q)", a.Code, b.Code, a2.Code, a2.Header().Get("X-Cache"))
	}
	if a.Header().Get("ETag") == b.Header().Get("ETag") || a.Header().Get("ETag") != a2.Header().Get("ETag") {
		t.Errorf("ETags %q %q %q", a.Header().Get("ETag"), b.Header().Get("ETag"), a2.Header().Get("ETag"))
	}
	if a2.Header().Get("Access-Control-Allow-Origin") != "https://a.example" || b.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("Access-Control-Allow-Origin %q, and without Origin %q", a2.Header().Get("Access-Control-Allow-Origin"), b.Header().Get("Access-Control-Allow-Origin"))
	}
	for _, rec := range []http.Header{a.Header(), b.Header(), a2.Header()} {
		if v := rec.Values("Vary"); len(v) != 1 || v[0] != "Origin" {
			t.Errorf("Vary %q", v)
		}
		if rec.Get("X-Request-Id") == "" || rec.Get("Content-Type") != "image/png" || rec.Get("Content-Length") == "" {
			t.Errorf("headers %v", rec)
		}
	}
	if a.Header().Get("X-Request-Id") == a2.Header().Get("X-Request-Id") {
		t.Error("two requests with one id")
	}
	head := do(srv, "HEAD", "/v1/udfs/f/tiles/3/1/1.png")
	if head.Code != 200 || head.Body.Len() != 0 || head.Header().Get("Content-Length") != a.Header().Get("Content-Length") {
		t.Errorf("HEAD: %d, %d bytes, Content-Length %q", head.Code, head.Body.Len(), head.Header().Get("Content-Length"))
	}
	if rec := do(srv, "GET", "/v1/udfs/f/tiles/3/1/1.png", "If-None-Match", a.Header().Get("ETag")); rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", rec.Code)
	}
	if rec := do(srv, "GET", "/v1/udfs/nope/tiles/3/1/1.png"); rec.Code != http.StatusNotFound {
		t.Errorf("an unknown layer: %d", rec.Code)
	}
	for _, c := range []struct {
		method, code string
		want         float64
	}{{"GET", "200", 3}, {"HEAD", "200", 1}, {"GET", "304", 1}, {"GET", "404", 1}, {"POST", "405", 0}} {
		if v := testutil.ToFloat64(m.Requests.WithLabelValues(route, c.method, c.code)); v != c.want {
			t.Errorf("%s %s counted %v times, want %v", c.method, c.code, v, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.RequestSeconds); n != 1 {
		t.Errorf("%d latency series, want the tile route's", n)
	}
}
