package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/web"
)

const (
	aliceAuth = "Bearer alice-token"
	bobAuth   = "Bearer bob-token"
	opsAuth   = "Bearer ops-token"
)

// jobBearers are alice and bob (readers) and ops (an admin); without names
// some are left out, as a config that no longer lists them.
func jobBearers(names ...string) []web.Bearer {
	all := map[string]web.Bearer{}
	for _, b := range []struct {
		name, token string
		admin       bool
	}{{"alice", "alice-token", false}, {"bob", "bob-token", false}, {"ops", "ops-token", true}} {
		all[b.name], _ = web.NewBearer(b.name, web.HashToken(b.token), b.admin)
	}
	if len(names) == 0 {
		names = []string{"alice", "bob", "ops"}
	}
	var out []web.Bearer
	for _, n := range names {
		out = append(out, all[n])
	}
	return out
}

// gateEcho is a file-mode layer answering {"x": x}: while broken it fails
// with a 400; while hold is set each run waits for it to be released.
type gateEcho struct {
	broken  atomic.Bool
	mu      sync.Mutex
	hold    chan struct{}
	running atomic.Int64
}

func (h *gateEcho) Schema() layer.Schema {
	return layer.Schema{Params: []layer.Param{{Name: "x", Type: layer.Int, Default: 0}}, Modes: []string{"file"}, Formats: []string{"json"}, DefaultFormat: "json"}
}
func (h *gateEcho) Version() string { return "g1" }
func (h *gateEcho) Run(ctx context.Context, r layer.Request) (layer.Result, error) {
	h.running.Add(1)
	defer h.running.Add(-1)
	h.mu.Lock()
	hold := h.hold
	h.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-time.After(20 * time.Second):
		}
	}
	if h.broken.Load() {
		return nil, layer.Errorf(layer.BadRequest, "broken for now")
	}
	b, _ := json.Marshal(map[string]any{"x": r.Params["x"]})
	return &layer.Value{ContentType: "application/json", Body: b, Kind: "json"}, nil
}

// holdRuns makes runs wait until the returned release is called (also at the
// test's end).
func (h *gateEcho) holdRuns(t *testing.T) (release func()) {
	ch := make(chan struct{})
	h.mu.Lock()
	h.hold = ch
	h.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			h.mu.Lock()
			h.hold = nil
			h.mu.Unlock()
			close(ch)
		})
	}
	// At the test's end the held runs fail (no answer is cached while
	// the cache closes) and are waited for.
	t.Cleanup(func() {
		h.broken.Store(true)
		release()
		for deadline := time.Now().Add(10 * time.Second); h.running.Load() > 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
	})
	return release
}

// req sends a request with a body, a client address and headers.
func req(h http.Handler, method, target, body, addr string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if addr != "" {
		r.RemoteAddr = addr
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// submitAs submits and returns the job's id.
func submitAs(t *testing.T, h http.Handler, udf, body, auth string) string {
	t.Helper()
	rec := req(h, "POST", "/v1/udfs/"+udf+"/submit", body, "", "Authorization", auth)
	if rec.Code != 202 {
		t.Fatalf("submit to %s as %q: %d %s", udf, auth, rec.Code, rec.Body)
	}
	var acc struct{ ID string }
	json.Unmarshal(rec.Body.Bytes(), &acc)
	return acc.ID
}

// waitState polls the job's status (as auth) until it is no longer running.
func waitState(t *testing.T, h http.Handler, id, auth string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st map[string]any
		rec := req(h, "GET", "/v1/jobs/"+id, "", "", "Authorization", auth)
		json.Unmarshal(rec.Body.Bytes(), &st)
		if rec.Code != 200 {
			t.Fatalf("status of %s as %q: %d %s", id, auth, rec.Code, rec.Body)
		}
		if st["state"] != "running" {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still running: %v", id, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// resultRows are the rows of a job's JSON results.
func resultRows(t *testing.T, h http.Handler, id, auth string) []map[string]any {
	t.Helper()
	var res struct{ Results []map[string]any }
	rec := req(h, "GET", "/v1/jobs/"+id+"/results", "", "", "Authorization", auth)
	if err := json.Unmarshal(rec.Body.Bytes(), &res); rec.Code != 200 || err != nil {
		t.Fatalf("results of %s: %d %v %s", id, rec.Code, err, rec.Body)
	}
	return res.Results
}

// TestJobsBelongToSubmitter: a bearer's job is seen, cancelled, retried and
// deleted by that bearer and admins only; another bearer, or no token, gets
// the 404 of an unknown id. An anonymous job is read by anyone holding its
// id, but cancelled or retried by admins only (401 without a token, 403
// with a reader's), unless auth.anonymous_job_control is on. Answers about
// private jobs are not for shared caches.
func TestJobsBelongToSubmitter(t *testing.T) {
	e := newTestServer(t)
	gate := &gateEcho{}
	e.reg.Add(&layer.Layer{Name: "vault", Kind: "go", Handler: gate, MaxAge: time.Hour, Private: true})
	e.reg.Add(&layer.Layer{Name: "echo", Kind: "go", Handler: &jobEcho{}, MaxAge: time.Hour})
	h := e.withDeps(t, web.Deps{JobsDir: t.TempDir(), Bearers: jobBearers()})

	gate.broken.Store(true)
	id := submitAs(t, h, "vault", `{"arg_list": [1, 2]}`, aliceAuth)
	waitState(t, h, id, aliceAuth)
	gate.broken.Store(false)
	for _, c := range []struct {
		method, path, auth string
		code               int
	}{
		{"GET", "", aliceAuth, 200},
		{"GET", "/results", aliceAuth, 200},
		{"GET", "", opsAuth, 200},
		{"GET", "/results", opsAuth, 200},
		{"GET", "", bobAuth, 404},
		{"GET", "/results", bobAuth, 404},
		{"POST", "/retry", bobAuth, 404},
		{"DELETE", "", bobAuth, 404},
		{"GET", "", "", 404},
		{"GET", "/results", "", 404},
		{"POST", "/retry", "", 404},
		{"DELETE", "", "", 404},
		{"GET", "", "Bearer nobody", 401},
	} {
		rec := req(h, c.method, "/v1/jobs/"+id+c.path, "", "", "Authorization", c.auth)
		if rec.Code != c.code {
			t.Errorf("%s %s as %q: %d %s, want %d", c.method, c.path, c.auth, rec.Code, rec.Body, c.code)
		}
		if c.code == 404 && !strings.Contains(rec.Body.String(), "no job") {
			t.Errorf("%s %s as %q: %s, want the answer of an unknown id", c.method, c.path, c.auth, rec.Body)
		}
		if c.code == 200 && c.path == "" && rec.Header().Get("Cache-Control") != "private, no-store" {
			t.Errorf("status of a private job: Cache-Control %q", rec.Header().Get("Cache-Control"))
		}
		if c.code == 200 && c.path == "/results" && rec.Header().Get("Cache-Control") != "private" {
			t.Errorf("results of a private job: Cache-Control %q", rec.Header().Get("Cache-Control"))
		}
	}
	unknown := req(h, "GET", "/v1/jobs/0123456789abcdef0123456789abcdef", "", "", "Authorization", bobAuth)
	other := req(h, "GET", "/v1/jobs/"+id, "", "", "Authorization", bobAuth)
	if strings.ReplaceAll(unknown.Body.String(), "0123456789abcdef0123456789abcdef", id) != other.Body.String() {
		t.Errorf("another's job %s and an unknown id answer differently:\n%s\n%s", id, other.Body, unknown.Body)
	}
	// The owner and an admin retry it.
	for _, auth := range []string{aliceAuth, opsAuth} {
		if rec := req(h, "POST", "/v1/jobs/"+id+"/retry", "", "", "Authorization", auth); rec.Code != 202 {
			t.Fatalf("retry as %q: %d %s", auth, rec.Code, rec.Body)
		}
		waitState(t, h, id, auth)
	}
	if st := waitState(t, h, id, aliceAuth); st["ok"] != 2.0 {
		t.Errorf("after the retries: %v", st)
	}
	if rec := req(h, "DELETE", "/v1/jobs/"+id+"?remove=true", "", "", "Authorization", opsAuth); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"deleted":true`) {
		t.Errorf("an admin's DELETE: %d %s", rec.Code, rec.Body)
	}

	// An anonymous job on a public layer.
	anon := submitAs(t, h, "echo", `{"arg_list": [1, 13]}`, "")
	waitState(t, h, anon, "")
	for _, c := range []struct {
		method, path, auth string
		code               int
	}{
		{"GET", "", "", 200},
		{"GET", "/results", "", 200},
		{"GET", "", bobAuth, 200},
		{"GET", "/results", bobAuth, 200},
		{"POST", "/retry", "", 401},
		{"DELETE", "", "", 401},
		{"POST", "/retry", bobAuth, 403},
		{"DELETE", "", bobAuth, 403},
		{"POST", "/retry", opsAuth, 202},
	} {
		rec := req(h, c.method, "/v1/jobs/"+anon+c.path, "", "", "Authorization", c.auth)
		if rec.Code != c.code {
			t.Errorf("anonymous job: %s %s as %q: %d %s, want %d", c.method, c.path, c.auth, rec.Code, rec.Body, c.code)
		}
		if rec.Code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("anonymous job: %s %s: 401 without WWW-Authenticate", c.method, c.path)
		}
		if c.code == 200 && strings.Contains(rec.Header().Get("Cache-Control"), "private") {
			t.Errorf("anonymous job on a public layer: %s %s: Cache-Control %q", c.method, c.path, rec.Header().Get("Cache-Control"))
		}
	}
	waitState(t, h, anon, "")

	// With auth.anonymous_job_control, anyone holding the id.
	h2 := e.withDeps(t, web.Deps{JobsDir: t.TempDir(), Bearers: jobBearers(), AnonymousJobControl: true})
	release := gate.holdRuns(t)
	anon2 := submitAs(t, h2, "echo", `{"arg_list": [1, 13]}`, "")
	waitState(t, h2, anon2, "")
	if rec := req(h2, "POST", "/v1/jobs/"+anon2+"/retry", "", ""); rec.Code != 202 {
		t.Errorf("anonymous retry with anonymous_job_control: %d %s", rec.Code, rec.Body)
	}
	waitState(t, h2, anon2, "")
	if rec := req(h2, "DELETE", "/v1/jobs/"+anon2+"?remove=true", "", ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"deleted":true`) {
		t.Errorf("anonymous DELETE with anonymous_job_control: %d %s", rec.Code, rec.Body)
	}
	// ... but a bearer's job stays its owner's.
	owned := submitAs(t, h2, "vault", `{"arg_list": [5]}`, aliceAuth)
	if rec := req(h2, "DELETE", "/v1/jobs/"+owned, "", ""); rec.Code != 404 {
		t.Errorf("anonymous DELETE of a bearer's job with anonymous_job_control: %d %s", rec.Code, rec.Body)
	}
	release()
	waitState(t, h2, owned, aliceAuth)
}

// TestRetryRunsAsOwner: a retry runs the items as the job's owner, never as
// whoever asks, and after a restart too: the owner's name is kept, not the
// token. With the owner gone from the config the items fail with a 403
// saying so, even when an admin retries; with the owner back they run,
// without a token sent for them.
func TestRetryRunsAsOwner(t *testing.T) {
	e := newTestServer(t)
	gate := &gateEcho{}
	e.reg.Add(&layer.Layer{Name: "vault", Kind: "go", Handler: gate, MaxAge: time.Hour, Private: true})
	dir := t.TempDir()
	h1 := e.withDeps(t, web.Deps{JobsDir: dir, Bearers: jobBearers()})
	gate.broken.Store(true)
	id := submitAs(t, h1, "vault", `{"arg_list": [1, 2]}`, aliceAuth)
	if st := waitState(t, h1, id, aliceAuth); st["error"] != 2.0 {
		t.Fatalf("the first run: %v", st)
	}
	gate.broken.Store(false)
	// On disk: the owner's name, never her token.
	if b, err := os.ReadFile(filepath.Join(dir, id+".job")); err != nil || !strings.Contains(string(b), `"owner":"alice"`) || strings.Contains(string(b), "alice-token") {
		t.Errorf("the job's file: %v; names its owner: %v; holds the token: %v", err, strings.Contains(string(b), `"owner":"alice"`), strings.Contains(string(b), "alice-token"))
	}

	// A restart with alice no longer in the config.
	h2 := e.withDeps(t, web.Deps{JobsDir: dir, Bearers: jobBearers("bob", "ops")})
	if rec := req(h2, "POST", "/v1/jobs/"+id+"/retry", "", ""); rec.Code != 404 {
		t.Errorf("retry without a token after the restart: %d %s", rec.Code, rec.Body)
	}
	if rec := req(h2, "POST", "/v1/jobs/"+id+"/retry", "", "", "Authorization", bobAuth); rec.Code != 404 {
		t.Errorf("retry as another bearer after the restart: %d %s", rec.Code, rec.Body)
	}
	if rec := req(h2, "POST", "/v1/jobs/"+id+"/retry", "", "", "Authorization", opsAuth); rec.Code != 202 {
		t.Fatalf("retry as an admin: %d %s", rec.Code, rec.Body)
	}
	waitState(t, h2, id, opsAuth)
	for _, r := range resultRows(t, h2, id, opsAuth) {
		if msg, _ := r["error"].(string); r["status"] != "error" || !strings.HasPrefix(msg, "403:") || !strings.Contains(msg, "alice") {
			t.Errorf("an item run for a removed owner: %v, want a 403 naming alice", r)
		}
	}

	// Another restart, alice back: her items run as her.
	h3 := e.withDeps(t, web.Deps{JobsDir: dir, Bearers: jobBearers()})
	if rec := req(h3, "GET", "/v1/jobs/"+id, "", "", "Authorization", bobAuth); rec.Code != 404 {
		t.Errorf("another bearer after the restart: %d", rec.Code)
	}
	if rec := req(h3, "POST", "/v1/jobs/"+id+"/retry", "", "", "Authorization", aliceAuth); rec.Code != 202 {
		t.Fatalf("the owner's retry: %d %s", rec.Code, rec.Body)
	}
	if st := waitState(t, h3, id, aliceAuth); st["ok"] != 2.0 {
		t.Errorf("the owner's retry after the restart: %v", st)
	}
	rec := req(h3, "GET", "/v1/jobs/"+id+"/results", "", "", "Authorization", aliceAuth)
	if rec.Header().Get("Cache-Control") != "private" || !strings.Contains(rec.Body.String(), `"result":{"x":2}`) {
		t.Errorf("results: %q %s", rec.Header().Get("Cache-Control"), rec.Body)
	}
	// The header of a request cannot pose as an in-process run: a forged
	// Authorization on a private layer is still refused.
	if rec := req(h3, "GET", "/v1/udfs/vault/run?x=1", "", "", "Authorization", "Bearer alice"); rec.Code != 401 {
		t.Errorf("a forged token: %d", rec.Code)
	}
}

// TestCancelInFlightItems: the items running when their job is cancelled
// end cancelled, never ok with an empty result.
func TestCancelInFlightItems(t *testing.T) {
	e := newTestServer(t)
	gate := &gateEcho{}
	e.reg.Add(&layer.Layer{Name: "slow", Kind: "go", Handler: gate, MaxAge: time.Hour})
	h := e.withDeps(t, web.Deps{JobsDir: t.TempDir(), Bearers: jobBearers()})
	gate.holdRuns(t)
	id := submitAs(t, h, "slow", `{"arg_list": [1, 2, 3, 4], "max_workers": 2}`, aliceAuth)
	deadline := time.Now().Add(10 * time.Second)
	for gate.running.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if rec := req(h, "DELETE", "/v1/jobs/"+id, "", "", "Authorization", aliceAuth); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"state":"cancelled"`) {
		t.Fatalf("cancel: %d %s", rec.Code, rec.Body)
	}
	// The job is cancelled at once; its running items end as soon as their
	// runs are abandoned.
	var st map[string]any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st = waitState(t, h, id, aliceAuth); st["running"] == 0.0 {
			break
		}
	}
	if st["cancelled"] != 4.0 || st["ok"] != 0.0 {
		t.Errorf("after the cancel: %v, want 4 cancelled, none ok", st)
	}
	for _, r := range resultRows(t, h, id, aliceAuth) {
		if r["status"] != "cancelled" || r["result"] != nil {
			t.Errorf("item %v: %v %v, want cancelled without a result", r["index"], r["status"], r["result"])
		}
	}
}

// TestJobLimits: a client (a bearer, or an anonymous address; behind a
// trusted proxy, X-Forwarded-For's) has at most max_jobs_running jobs
// running and max_jobs_stored kept: past them a submit is a 429 with
// Retry-After saying which limit and how to make room, and writes nothing.
// DELETE of an ended job makes room.
func TestJobLimits(t *testing.T) {
	e := newTestServer(t)
	gate := &gateEcho{}
	e.reg.Add(&layer.Layer{Name: "slow", Kind: "go", Handler: gate, MaxAge: time.Hour})
	dir := t.TempDir()
	h := e.withDeps(t, web.Deps{JobsDir: dir, Bearers: jobBearers(), Limits: web.Limits{MaxJobsRunning: 2, MaxJobsStored: 3, TrustProxy: true}})
	files := func() int { return len(mustReadDir(t, dir)) }
	submit := func(addr, auth, fwd string, x int) *httptest.ResponseRecorder {
		body := `{"arg_list": [` + string(rune('0'+x)) + `]}`
		return req(h, "POST", "/v1/udfs/slow/submit", body, addr, "Authorization", auth, "X-Forwarded-For", fwd)
	}
	id := func(rec *httptest.ResponseRecorder) string {
		var acc struct{ ID string }
		json.Unmarshal(rec.Body.Bytes(), &acc)
		return acc.ID
	}
	release := gate.holdRuns(t)
	var anon, mine, others []string
	for _, c := range []struct {
		name, addr, auth, fwd string
		code                  int
		says                  string
	}{
		{"first", "10.0.0.1:1", "", "", 202, ""},
		{"second", "10.0.0.1:2", "", "", 202, ""},
		{"third running", "10.0.0.1:3", "", "", 429, "limits.max_jobs_running"},
		{"another address", "10.0.0.2:1", "", "", 202, ""},
		{"another address behind the proxy", "10.0.0.1:4", "", "10.9.9.9", 202, ""},
		{"a bearer from the same address", "10.0.0.1:5", aliceAuth, "", 202, ""},
		{"the bearer's second", "10.0.0.7:5", aliceAuth, "", 202, ""},
		{"the bearer's third", "10.0.0.8:5", aliceAuth, "", 429, "limits.max_jobs_running"},
	} {
		before := files()
		rec := submit(c.addr, c.auth, c.fwd, 1)
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.says) {
			t.Errorf("%s: %d %s, want %d saying %q", c.name, rec.Code, rec.Body, c.code, c.says)
		}
		if c.code == 429 && (rec.Header().Get("Retry-After") == "" || files() != before) {
			t.Errorf("%s: Retry-After %q, %d files before and %d after", c.name, rec.Header().Get("Retry-After"), before, files())
		}
		switch {
		case c.code != 202:
		case c.auth != "":
			mine = append(mine, id(rec))
		case c.fwd == "" && strings.HasPrefix(c.addr, "10.0.0.1:"):
			anon = append(anon, id(rec))
		default:
			others = append(others, id(rec))
		}
	}
	release()
	for _, j := range append(anon, others...) {
		waitState(t, h, j, "")
	}
	// Stored: two ended, one more fits, the next does not.
	if rec := submit("10.0.0.1:6", "", "", 2); rec.Code != 202 {
		t.Fatalf("third stored: %d %s", rec.Code, rec.Body)
	} else {
		anon = append(anon, id(rec))
		waitState(t, h, id(rec), "")
	}
	before := files()
	rec := submit("10.0.0.1:7", "", "", 3)
	if rec.Code != 429 || !strings.Contains(rec.Body.String(), "limits.max_jobs_stored") || !strings.Contains(rec.Body.String(), "server.jobs_ttl (7d)") || rec.Header().Get("Retry-After") == "" {
		t.Errorf("past the stored limit: %d %s (Retry-After %q)", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
	if files() != before {
		t.Errorf("a refused submit wrote a file")
	}
	// Deleting an ended job (an admin's, for an anonymous one) makes room.
	if rec := req(h, "DELETE", "/v1/jobs/"+anon[0], "", "10.0.0.1:8"); rec.Code != 401 {
		t.Errorf("anonymous DELETE of an anonymous job: %d", rec.Code)
	}
	if rec := req(h, "DELETE", "/v1/jobs/"+anon[0]+"?remove=true", "", "", "Authorization", opsAuth); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"deleted":true`) {
		t.Fatalf("DELETE of an ended job: %d %s", rec.Code, rec.Body)
	}
	if files() != before-1 {
		t.Errorf("DELETE left the job's file: %d files, want %d", files(), before-1)
	}
	if rec := submit("10.0.0.1:9", "", "", 4); rec.Code != 202 {
		t.Errorf("a submit after DELETE: %d %s", rec.Code, rec.Body)
	} else {
		waitState(t, h, id(rec), "")
	}

	// A bearer deletes its own ended jobs; its stored limit says so.
	for _, j := range mine {
		waitState(t, h, j, aliceAuth)
	}
	rec = submit("10.0.0.3:1", aliceAuth, "", 5)
	if rec.Code != 202 {
		t.Fatalf("alice's third job: %d %s", rec.Code, rec.Body)
	}
	waitState(t, h, id(rec), aliceAuth)
	rec = submit("10.0.0.3:1", aliceAuth, "", 6)
	if rec.Code != 429 || !strings.Contains(rec.Body.String(), "limits.max_jobs_stored") || !strings.Contains(rec.Body.String(), "DELETE /v1/jobs/{id}?remove=true") {
		t.Errorf("alice past her stored limit: %d %s", rec.Code, rec.Body)
	}
	if rec := req(h, "DELETE", "/v1/jobs/"+mine[0]+"?remove=true", "", "", "Authorization", aliceAuth); rec.Code != 200 {
		t.Errorf("alice deletes her job: %d %s", rec.Code, rec.Body)
	}
	if rec := submit("10.0.0.3:1", aliceAuth, "", 6); rec.Code != 202 {
		t.Errorf("alice after deleting: %d %s", rec.Code, rec.Body)
	} else {
		waitState(t, h, id(rec), aliceAuth)
	}
}

func mustReadDir(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestSubmitFlood: 200 anonymous submits at once from one address leave at
// most max_jobs_stored jobs on disk, one file each; the rest are 429s.
func TestSubmitFlood(t *testing.T) {
	e := newTestServer(t)
	e.reg.Add(&layer.Layer{Name: "echo", Kind: "go", Handler: &jobEcho{}, MaxAge: time.Hour})
	dir := t.TempDir()
	h := e.withDeps(t, web.Deps{JobsDir: dir, Limits: web.Limits{MaxJobsRunning: 200, MaxJobsStored: 5}})
	var wg sync.WaitGroup
	var accepted, refused atomic.Int64
	ids := make(chan string, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := req(h, "POST", "/v1/udfs/echo/submit", `{"arg_list": [1, 2]}`, "10.1.1.1:4000")
			switch rec.Code {
			case 202:
				accepted.Add(1)
				var acc struct{ ID string }
				json.Unmarshal(rec.Body.Bytes(), &acc)
				ids <- acc.ID
			case 429:
				refused.Add(1)
			default:
				t.Errorf("submit: %d %s", rec.Code, rec.Body)
			}
		}()
	}
	wg.Wait()
	close(ids)
	for id := range ids {
		waitState(t, h, id, "")
	}
	if accepted.Load() != 5 || refused.Load() != 195 {
		t.Errorf("%d accepted and %d refused, want 5 and 195", accepted.Load(), refused.Load())
	}
	if es := mustReadDir(t, dir); len(es) > 5 {
		t.Errorf("%d files in the jobs directory, want at most 5", len(es))
	}
}
