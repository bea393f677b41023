package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/web"
)

// authEnv is a server with a public fake layer, a private one, two bearer
// tokens (an admin and a reader) and a shared token for the private layer.
func authEnv(t *testing.T, d web.Deps) (*testEnv, http.Handler, *bytes.Buffer) {
	t.Helper()
	e := newTestServer(t)
	e.addFake("open", &fakeHandler{}, time.Hour)
	e.reg.Add(&layer.Layer{Name: "secret", Kind: "go", Handler: &fakeHandler{}, MaxAge: time.Hour, Private: true})
	admin, _ := web.NewBearer("ops", web.HashToken("admin-token-1"), true)
	reader, _ := web.NewBearer("analyst", web.HashToken("reader-token-2"), false)
	d.Bearers = []web.Bearer{admin, reader}
	d.Tokens = map[string]string{"sharedtok3": "secret"}
	var logs bytes.Buffer
	var mu sync.Mutex
	d.Logger = slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return e, e.withDeps(t, d), &logs
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

const (
	adminAuth  = "Bearer admin-token-1"
	readerAuth = "Bearer reader-token-2"
)

// TestBearerTokens: admin routes take admin tokens only (401 without or with
// an unknown token, 403 with a reader's); private layers take any known
// token, are left out of anonymous listings and are cached privately; a shared
// token grants its private layer; no token ever reaches the logs.
func TestBearerTokens(t *testing.T) {
	_, h, logs := authEnv(t, web.Deps{})
	for _, c := range []struct {
		auth string
		code int
	}{{"", 401}, {"Bearer", 401}, {"Basic abc", 401}, {"Bearer wrong", 401}, {readerAuth, 403}, {adminAuth, 200}, {"bearer admin-token-1", 200}} {
		rec := do(h, "DELETE", "/v1/udfs/open/cache", "Authorization", c.auth)
		if rec.Code != c.code {
			t.Errorf("purge with %q: %d, want %d (%s)", c.auth, rec.Code, c.code, rec.Body)
		}
		if rec.Code == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("purge with %q: 401 without WWW-Authenticate: Bearer", c.auth)
		}
	}
	tile := "/v1/udfs/secret/tiles/3/2/2.png"
	for _, c := range []struct {
		auth string
		code int
	}{{"", 401}, {"Bearer wrong", 401}, {readerAuth, 200}, {adminAuth, 200}} {
		rec := do(h, "GET", tile, "Authorization", c.auth)
		if rec.Code != c.code {
			t.Errorf("private tile with %q: %d, want %d", c.auth, rec.Code, c.code)
		}
		if c.code == 200 && !strings.HasPrefix(rec.Header().Get("Cache-Control"), "private,") {
			t.Errorf("private tile: Cache-Control %q, want private", rec.Header().Get("Cache-Control"))
		}
	}
	if rec := do(h, "GET", "/v1/udfs/open/tiles/3/2/2.png"); rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Cache-Control"), "public,") {
		t.Errorf("public tile: %d, Cache-Control %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	for _, path := range []string{"/v1/udfs/secret", "/v1/udfs/secret/tilejson.json", "/v1/udfs/secret/run", "/ogc/collections/secret", "/ogc/collections/secret/tiles"} {
		if rec := do(h, "GET", path); rec.Code != 401 {
			t.Errorf("GET %s anonymously: %d, want 401", path, rec.Code)
		}
	}
	names := func(auth string) []string {
		var out struct{ UDFs []struct{ Name string } }
		rec := do(h, "GET", "/v1/udfs", "Authorization", auth)
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, u := range out.UDFs {
			n = append(n, u.Name)
		}
		return n
	}
	if got := strings.Join(names(""), ","); strings.Contains(got, "secret") || !strings.Contains(got, "open") {
		t.Errorf("anonymous /v1/udfs lists %s", got)
	}
	if got := strings.Join(names(readerAuth), ","); !strings.Contains(got, "secret") {
		t.Errorf("/v1/udfs with a token lists %s", got)
	}
	if rec := do(h, "GET", "/ogc/collections"); strings.Contains(rec.Body.String(), `"secret"`) {
		t.Errorf("anonymous /ogc/collections shows the private layer")
	}
	// The shared token of the private layer: anonymous use of that one layer.
	if rec := do(h, "GET", "/server/v1/realtime-shared/sharedtok3/run/tiles/3/2/2?dtype_out_raster=png"); rec.Code != 200 {
		t.Errorf("shared token: %d %s", rec.Code, rec.Body)
	}
	// A failing request is logged at error level: still no token in the logs.
	do(h, "GET", "/server/v1/realtime-shared/sharedtok3/run/tiles/99/2/2", "Authorization", adminAuth)
	do(h, "GET", "/v1/udfs/secret/tiles/3/2/2.png", "Authorization", readerAuth, "X-Request-Id", "req-1")
	for _, secret := range []string{"admin-token-1", "reader-token-2", "sharedtok3"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the logs hold the token %q:\n%s", secret, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "realtime-shared/***") {
		t.Errorf("the shared route is not logged with its token masked:\n%.2000s", logs.String())
	}
}

// TestLegacyAdminToken: the config's plain admin_token still opens admin
// routes, and no token at all turns them off (403).
func TestLegacyAdminToken(t *testing.T) {
	e := newTestServer(t)
	e.addFake("f", &fakeHandler{}, time.Hour)
	if rec := do(e.withDeps(t, web.Deps{}), "DELETE", "/v1/udfs/f/cache", "Authorization", "Bearer x"); rec.Code != 403 {
		t.Errorf("no admin token configured: %d, want 403", rec.Code)
	}
	h := e.withDeps(t, web.Deps{AdminToken: "plain"})
	if rec := do(h, "DELETE", "/v1/udfs/f/cache", "Authorization", "Bearer plain"); rec.Code != 200 {
		t.Errorf("admin_token: %d %s", rec.Code, rec.Body)
	}
}

// TestRequestLimits: parameter count and size, tilesize, and body size are
// checked before anything runs, with 400 or 413 and a message saying which.
func TestRequestLimits(t *testing.T) {
	e := newTestServer(t)
	h := &fakeHandler{}
	e.addFake("f", h, time.Hour)
	srv := e.withDeps(t, web.Deps{Limits: web.Limits{MaxParams: 5, MaxParamBytes: 100, MaxTileSize: 256, MaxBodyBytes: 2048}})
	many := "?a=1&b=2&c=3&d=4&e=5&f=6"
	for _, c := range []struct {
		method, target, body string
		code                 int
		says                 string
	}{
		{"GET", "/v1/udfs/f/tiles/3/2/2.png" + many, "", 400, "at most 5"},
		{"GET", "/v1/udfs/f/tiles/3/2/2.png?n=" + strings.Repeat("1", 101), "", 413, "100 bytes"},
		{"GET", "/v1/udfs/f/tiles/3/2/2.png?" + strings.Repeat("k", 101) + "=1", "", 413, "name"},
		{"GET", "/v1/udfs/f/tiles/3/2/2.png?tilesize=512", "", 400, "at most 256"},
		{"POST", "/v1/udfs/f/run", `{"n": "` + strings.Repeat("1", 3000) + `"}`, 413, "2048 bytes"},
		{"GET", "/v1/udfs/f/tiles/3/2/2.png?n=2", "", 200, ""},
	} {
		req := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.says) {
			t.Errorf("%s %.80s: %d %s, want %d saying %q", c.method, c.target, rec.Code, rec.Body, c.code, c.says)
		}
	}
	if n := h.calls.Load(); n != 1 {
		t.Errorf("the handler ran %d times, want once (only for the request within the limits)", n)
	}
}

// TestRateLimits: a client over its bucket gets 429 with Retry-After, another
// client does not; behind a trusted proxy clients are told apart by
// X-Forwarded-For; a shared token's own bucket is shared by all its users.
func TestRateLimits(t *testing.T) {
	e := newTestServer(t)
	e.addFake("f", &fakeHandler{}, time.Hour)
	get := func(h http.Handler, target, addr string, headers ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", target, nil)
		req.RemoteAddr = addr
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	h := e.withDeps(t, web.Deps{Limits: web.Limits{RatePerClient: 0.05, BurstPerClient: 3}})
	for i := 0; i < 3; i++ {
		if rec := get(h, "/v1/udfs/f/tiles/3/2/2.png", "10.0.0.1:5000"); rec.Code != 200 {
			t.Fatalf("request %d within the burst: %d", i, rec.Code)
		}
	}
	rec := get(h, "/v1/udfs/f/tiles/3/2/2.png", "10.0.0.1:5001")
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("over the burst: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	if rec := get(h, "/v1/udfs/f/tiles/3/2/2.png", "10.0.0.2:5000"); rec.Code != 200 {
		t.Errorf("another client: %d", rec.Code)
	}
	// X-Forwarded-For is ignored unless the proxy is trusted.
	if rec := get(h, "/v1/udfs/f/tiles/3/2/2.png", "10.0.0.1:5002", "X-Forwarded-For", "192.0.2.9"); rec.Code != 429 {
		t.Errorf("an untrusted X-Forwarded-For changed the client: %d", rec.Code)
	}
	p := e.withDeps(t, web.Deps{Limits: web.Limits{RatePerClient: 0.05, BurstPerClient: 1, TrustProxy: true}})
	if get(p, "/healthz", "10.0.0.9:1", "X-Forwarded-For", "192.0.2.1, 10.0.0.9").Code != 200 ||
		get(p, "/healthz", "10.0.0.9:1", "X-Forwarded-For", "192.0.2.2").Code != 200 ||
		get(p, "/healthz", "10.0.0.9:1", "X-Forwarded-For", "192.0.2.1").Code != 429 {
		t.Errorf("behind a trusted proxy, clients are not told apart by X-Forwarded-For")
	}
	s := e.withDeps(t, web.Deps{Tokens: map[string]string{"tk": "f"}, TokenRates: map[string]web.Rate{"tk": {PerSecond: 0.05, Burst: 2}}})
	codes := []int{}
	for i := 0; i < 3; i++ {
		codes = append(codes, get(s, "/server/v1/realtime-shared/tk/run/tiles/3/2/2?dtype_out_raster=png", fmt.Sprintf("10.1.0.%d:1", i)).Code)
	}
	if fmt.Sprint(codes) != "[200 200 429]" {
		t.Errorf("a shared token of burst 2, three clients: %v", codes)
	}
}

// TestRenderSlots: with one render at a time and one waiting, a third
// simultaneous render is refused with 503 and Retry-After, and the others
// complete.
func TestRenderSlots(t *testing.T) {
	e := newTestServer(t)
	e.addFake("slow", &fakeHandler{delay: 1500 * time.Millisecond}, time.Hour)
	h := e.withDeps(t, web.Deps{Limits: web.Limits{MaxRenders: 1, MaxRenderQueue: 1}})
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	retry := ""
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := do(h, "GET", fmt.Sprintf("/v1/udfs/slow/tiles/4/%d/3.png", i))
			mu.Lock()
			codes[rec.Code]++
			if rec.Code == 503 {
				retry = rec.Header().Get("Retry-After")
			}
			mu.Unlock()
		}()
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	if codes[200] != 2 || codes[503] != 1 || retry == "" {
		t.Errorf("three renders with one slot and one waiting: %v, Retry-After %q", codes, retry)
	}
}
