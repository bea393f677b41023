package web_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/udftiles/udftiles/metrics"
	"github.com/udftiles/udftiles/web"
)

// TestCacheMaxAge: the layer's age unless the request's cache_max_age= says
// otherwise (capped), 0s and cache=false render every time, cache_reset=true
// renders and overwrites, bad values are 400; Cache-Control agrees.
func TestCacheMaxAge(t *testing.T) {
	e := newTestServer(t)
	h := &fakeHandler{}
	e.addFake("f", h, time.Hour)
	m := metrics.New()
	srv := e.withDeps(t, web.Deps{MaxAgeLimit: 2 * time.Hour, Metrics: m})
	get := func(q string) (string, string) {
		t.Helper()
		rec := do(srv, "GET", "/v1/udfs/f/tiles/3/1/1.png"+q)
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d %s", q, rec.Code, rec.Body.String())
		}
		return rec.Header().Get("X-Cache"), rec.Header().Get("Cache-Control")
	}
	maxAge := func(cc string) int {
		n, err := strconv.Atoi(strings.TrimPrefix(cc, "public, max-age="))
		if err != nil {
			return -1
		}
		return n
	}
	if src, cc := get(""); src != "miss" || maxAge(cc) < 3590 || maxAge(cc) > 3600 {
		t.Errorf("first: %s %s", src, cc)
	}
	if src, cc := get(""); src != "memory" || maxAge(cc) > 3600 {
		t.Errorf("second: %s %s", src, cc)
	}
	// A shorter acceptable age: the entry is young enough, the header is shorter.
	if src, cc := get("?cache_max_age=10m"); src != "memory" || maxAge(cc) > 600 || maxAge(cc) < 590 {
		t.Errorf("cache_max_age=10m: %s %s", src, cc)
	}
	// A longer one is capped by the server limit (2h) and the entry's own hour.
	if src, cc := get("?cache_max_age=90d"); src != "memory" || maxAge(cc) > 3600 {
		t.Errorf("cache_max_age=90d: %s %s", src, cc)
	}
	calls := h.calls.Load()
	for _, q := range []string{"?cache_max_age=0s", "?cache_max_age=0", "?cache=false"} {
		for i := 0; i < 2; i++ {
			if src, cc := get(q); src != "miss" || cc != "no-cache" {
				t.Errorf("%s: %s %s, want a render and no-cache", q, src, cc)
			}
		}
	}
	if n := h.calls.Load() - calls; n != 6 {
		t.Errorf("%d renders for 6 uncached requests", n)
	}
	if src, _ := get("?cache_reset=true"); src != "miss" {
		t.Errorf("cache_reset: %s", src)
	}
	if src, _ := get(""); src != "memory" {
		t.Errorf("after the reset: %s", src)
	}
	if v := testutil.ToFloat64(m.Renders.WithLabelValues("f", "ok")); v != float64(h.calls.Load()) {
		t.Errorf("renders metric %v, handler calls %d", v, h.calls.Load())
	}
	for _, q := range []string{"cache_max_age=10", "cache_max_age=1w", "cache_max_age=-1h", "cache_max_age=abc", "cache=maybe", "cache_reset=2"} {
		rec := do(srv, "GET", "/v1/udfs/f/tiles/3/1/1.png?"+q)
		if msg := jsonError(t, rec); rec.Code != 400 || !strings.Contains(msg, strings.Split(q, "=")[0]) {
			t.Errorf("%s: %d %s, want 400 naming the parameter", q, rec.Code, msg)
		}
	}
	// The cache parameters are not the handler's, and not part of the key.
	calls = h.calls.Load()
	get("?n=1&cache_max_age=1h")
	get("?n=1")
	if h.calls.Load() != calls {
		t.Errorf("n=1 with and without cache_max_age rendered %d times, want 0 (n=1 is the default, cached)", h.calls.Load()-calls)
	}
}

// TestPurgeRoute: the admin token guards DELETE /v1/udfs/{name}/cache; a purge
// makes the next tile render.
func TestPurgeRoute(t *testing.T) {
	e := newTestServer(t)
	h := &fakeHandler{}
	e.addFake("f", h, time.Hour)
	off := e.withDeps(t, web.Deps{})
	if rec := do(off, "DELETE", "/v1/udfs/f/cache"); rec.Code != http.StatusForbidden {
		t.Errorf("no admin token configured: %d", rec.Code)
	}
	srv := e.withDeps(t, web.Deps{AdminToken: "s3cret"})
	do(srv, "GET", "/v1/udfs/f/tiles/3/1/1.png")
	do(srv, "GET", "/v1/udfs/f/tiles/3/6/6.png")
	for _, c := range []struct {
		auth string
		code int
	}{{"", 401}, {"Bearer", 401}, {"Basic s3cret", 401}, {"Bearer nope", 401}} {
		rec := do(srv, "DELETE", "/v1/udfs/f/cache", "Authorization", c.auth)
		if rec.Code != c.code {
			t.Errorf("Authorization %q: %d, want %d", c.auth, rec.Code, c.code)
		}
		if c.code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate")
		}
	}
	for _, q := range []string{"bbox=1,2,3", "minzoom=x", "minzoom=5&maxzoom=4", "maxzoom=99"} {
		if rec := do(srv, "DELETE", "/v1/udfs/f/cache?"+q, "Authorization", "Bearer s3cret"); rec.Code != 400 {
			t.Errorf("%s: %d, want 400", q, rec.Code)
		}
	}
	if rec := do(srv, "DELETE", "/v1/udfs/nope/cache", "Authorization", "Bearer s3cret"); rec.Code != 404 {
		t.Errorf("unknown UDF: %d", rec.Code)
	}
	// Tile 3/1/1 is lon -135..-90, lat 66.5..79.2; purge a bbox inside it only.
	rec := do(srv, "DELETE", "/v1/udfs/f/cache?bbox=-130,70,-100,75&minzoom=3&maxzoom=3", "Authorization", "Bearer s3cret")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"selection":"zooms 3-3, bbox -130,70,-100,75"`) {
		t.Fatalf("purge: %d %s", rec.Code, rec.Body.String())
	}
	if src := do(srv, "GET", "/v1/udfs/f/tiles/3/1/1.png").Header().Get("X-Cache"); src != "miss" {
		t.Errorf("the purged tile: %s", src)
	}
	if src := do(srv, "GET", "/v1/udfs/f/tiles/3/6/6.png").Header().Get("X-Cache"); src != "memory" {
		t.Errorf("a tile outside the bbox: %s", src)
	}
	do(srv, "DELETE", "/v1/udfs/f/cache", "Authorization", "Bearer s3cret")
	if src := do(srv, "GET", "/v1/udfs/f/tiles/3/6/6.png").Header().Get("X-Cache"); src != "miss" {
		t.Errorf("after purging all: %s", src)
	}
	if rec := do(srv, "GET", "/metrics"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "udftiles_renders_total") {
		t.Errorf("/metrics: %d %.200s", rec.Code, rec.Body.String())
	}
}

// TestInstrumentAndPprof: requests are counted by route template and status;
// pprof answers the admin token only.
func TestInstrumentAndPprof(t *testing.T) {
	e := newTestServer(t)
	e.addFake("f", &fakeHandler{}, time.Hour)
	m := metrics.New()
	srv := e.withDeps(t, web.Deps{Metrics: m, AdminToken: "s3cret"})
	do(srv, "GET", "/v1/udfs/f/tiles/3/1/1.png")
	do(srv, "GET", "/v1/udfs/f/tiles/3/2/1.png")
	do(srv, "GET", "/v1/udfs/f/tiles/3/x/1.png")
	if v := testutil.ToFloat64(m.Requests.WithLabelValues("/v1/udfs/{name}/tiles/{z}/{x}/{y}", "GET", "200")); v != 2 {
		t.Errorf("tile requests with 200: %v", v)
	}
	if v := testutil.ToFloat64(m.Requests.WithLabelValues("/v1/udfs/{name}/tiles/{z}/{x}/{y}", "GET", "400")); v != 1 {
		t.Errorf("tile requests with 400: %v", v)
	}
	if n := testutil.CollectAndCount(m.RenderSeconds); n != 1 {
		t.Errorf("render time series: %d", n)
	}
	if id := do(srv, "GET", "/healthz").Header().Get("X-Request-Id"); len(id) != 16 {
		t.Errorf("a new request id %q", id)
	}
	if id := do(srv, "GET", "/healthz", "X-Request-Id", "abc-123").Header().Get("X-Request-Id"); id != "abc-123" {
		t.Errorf("the client's request id came back as %q", id)
	}
	if id := do(srv, "GET", "/healthz", "X-Request-Id", "bad id\n").Header().Get("X-Request-Id"); id == "bad id\n" || len(id) != 16 {
		t.Errorf("an unsafe request id came back as %q", id)
	}
	if rec := do(srv, "GET", "/debug/pprof/"); rec.Code != 401 {
		t.Errorf("pprof without a token: %d", rec.Code)
	}
	if rec := do(srv, "GET", "/debug/pprof/goroutine?debug=1", "Authorization", "Bearer s3cret"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "goroutine") {
		t.Errorf("pprof with the token: %d %.100s", rec.Code, rec.Body.String())
	}
}
