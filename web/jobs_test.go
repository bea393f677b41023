package web_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/web"
)

// jobEcho is a file-mode layer: {"x": 2x, "k": k}; x = 13 is a bad
// request, and every run sleeps a little.
type jobEcho struct {
	runs  atomic.Int64
	pause time.Duration // each run's time; 0: 10 ms
}

func (h *jobEcho) Schema() layer.Schema {
	return layer.Schema{Params: []layer.Param{{Name: "x", Type: layer.Int, Default: 0}, {Name: "k", Type: layer.Str, Default: ""}},
		Modes: []string{"file"}, Formats: []string{"json"}, DefaultFormat: "json"}
}
func (h *jobEcho) Version() string { return "e1" }
func (h *jobEcho) Run(ctx context.Context, r layer.Request) (layer.Result, error) {
	h.runs.Add(1)
	time.Sleep(cmp.Or(h.pause, 10*time.Millisecond))
	x, _ := r.Params["x"].(int)
	if x == 13 {
		return nil, layer.Errorf(layer.BadRequest, "13 is not welcome")
	}
	b, _ := json.Marshal(map[string]any{"x": 2 * x, "k": r.Params["k"]})
	return &layer.Value{ContentType: "application/json", Body: b, Kind: "json"}, nil
}

func post(h http.Handler, target, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", target, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// submitAndWait submits and polls the job's status until it ends.
func submitAndWait(t *testing.T, h http.Handler, udf, body string) (string, map[string]any) {
	t.Helper()
	rec := post(h, "/v1/udfs/"+udf+"/submit", body)
	if rec.Code != 202 {
		t.Fatalf("submit %s: %d %s", body, rec.Code, rec.Body)
	}
	var acc struct {
		ID         string `json:"id"`
		ResultsURL string `json:"results_url"`
	}
	json.Unmarshal(rec.Body.Bytes(), &acc)
	if acc.ID == "" || !strings.HasSuffix(acc.ResultsURL, "/v1/jobs/"+acc.ID+"/results") || rec.Header().Get("Location") == "" {
		t.Fatalf("submit answer: %s", rec.Body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st map[string]any
		json.Unmarshal(do(h, "GET", "/v1/jobs/"+acc.ID).Body.Bytes(), &st)
		if st["state"] != "running" {
			return acc.ID, st
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still running: %v", acc.ID, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSubmitJobs: arg_list as values of the first parameter, as objects and
// as a table; results in argument order as JSON, CSV and Parquet; failures
// reported per item; a repeated submit is served from the cache; too many
// items is a 413; private layers need the token; cancel and retry.
func TestSubmitJobs(t *testing.T) {
	e := newTestServer(t)
	h := &jobEcho{}
	e.reg.Add(&layer.Layer{Name: "echo", Kind: "go", Handler: h, MaxAge: time.Hour})
	e.reg.Add(&layer.Layer{Name: "hidden", Kind: "go", Handler: &jobEcho{}, MaxAge: time.Hour, Private: true})
	reader, _ := web.NewBearer("r", web.HashToken("tok"), false)
	// Anonymous jobs are cancelled and retried here without a token.
	srv := e.withDeps(t, web.Deps{JobsDir: t.TempDir(), Bearers: []web.Bearer{reader}, Limits: web.Limits{MaxSubmitItems: 20}, AnonymousJobControl: true})

	id, st := submitAndWait(t, srv, "echo", `{"arg_list": [3, 1, 13, 2], "params": {"k": "a"}, "max_workers": 3}`)
	if st["state"] != "done" || st["ok"] != 3.0 || st["error"] != 1.0 || st["total"] != 4.0 {
		t.Errorf("status %v", st)
	}
	var res struct {
		Results []struct {
			Index    int
			X        string
			Status   string
			Attempts int
			Error    string
			Cache    string
			Result   map[string]any
		}
	}
	json.Unmarshal(do(srv, "GET", "/v1/jobs/"+id+"/results").Body.Bytes(), &res)
	want := []string{"6 a", "2 a", "error", "4 a"}
	for i, r := range res.Results {
		got := fmt.Sprintf("%v %v", r.Result["x"], r.Result["k"])
		if r.Status != "ok" {
			got = r.Status
		}
		if r.Index != i || got != want[i] {
			t.Errorf("result %d: index %d %q, want %q", i, r.Index, got, want[i])
		}
	}
	if len(res.Results) != 4 || res.Results[2].Attempts != 1 || !strings.Contains(res.Results[2].Error, "13 is not welcome") {
		t.Errorf("the failed item (a 400 is not retried): %+v", res.Results)
	}
	csv := do(srv, "GET", "/v1/jobs/"+id+"/results?format=csv").Body.String()
	if lines := strings.Split(strings.TrimSpace(csv), "\n"); len(lines) != 5 || !strings.HasPrefix(lines[0], "index,x,status,seconds,attempts,cache,error,logs,content_type,result") {
		t.Errorf("csv:\n%s", csv)
	}
	if pq := do(srv, "GET", "/v1/jobs/"+id+"/results?format=parquet").Body.Bytes(); len(pq) < 8 || string(pq[:4]) != "PAR1" {
		t.Errorf("parquet results are not Parquet: %q", pq[:min(8, len(pq))])
	}

	// The same items again: every one from the cache.
	runs := h.runs.Load()
	id2, _ := submitAndWait(t, srv, "echo", `{"arg_list": [{"x": 3, "k": "a"}, {"x": 1, "k": "a"}]}`)
	json.Unmarshal(do(srv, "GET", "/v1/jobs/"+id2+"/results").Body.Bytes(), &res)
	if h.runs.Load() != runs || res.Results[0].Cache != "memory" {
		t.Errorf("a repeated submit ran the layer %d more times (cache %q)", h.runs.Load()-runs, res.Results[0].Cache)
	}
	_, st = submitAndWait(t, srv, "echo", `{"arg_list": {"columns": ["x", "k"], "rows": [[5, "b"], [6, "c"]]}}`)
	if st["ok"] != 2.0 {
		t.Errorf("a table arg_list: %v", st)
	}

	for _, c := range []struct {
		body string
		code int
		says string
	}{
		{`{"arg_list": [` + strings.TrimSuffix(strings.Repeat("1,", 21), ",") + `]}`, 413, "at most 20"},
		{`{"arg_list": 5}`, 400, "arg_list"},
		{`{}`, 400, "arg_list"},
		{`{"arg_list": {"columns": ["x"], "rows": [[1, 2]]}}`, 400, "row 0"},
		{`{"arg_list": [1], "max_workers": 100000}`, 400, "max_workers"},
		{`not json`, 400, "JSON"},
	} {
		if rec := post(srv, "/v1/udfs/echo/submit", c.body); rec.Code != c.code || !strings.Contains(rec.Body.String(), c.says) {
			t.Errorf("submit %.60s: %d %s, want %d saying %q", c.body, rec.Code, rec.Body, c.code, c.says)
		}
	}
	if rec := post(srv, "/v1/udfs/hidden/submit", `{"arg_list": [1]}`); rec.Code != 401 {
		t.Errorf("submit to a private layer without a token: %d", rec.Code)
	}
	if rec := post(srv, "/v1/udfs/hidden/submit", `{"arg_list": [1]}`, "Authorization", "Bearer tok"); rec.Code != 202 {
		t.Errorf("submit to a private layer with a token: %d %s", rec.Code, rec.Body)
	}
	if rec := do(srv, "GET", "/v1/jobs/nope"); rec.Code != 404 {
		t.Errorf("an unknown job: %d", rec.Code)
	}

	// Retry reruns the failed item only; DELETE cancels, ?remove=true removes.
	runs = h.runs.Load()
	if rec := post(srv, "/v1/jobs/"+id+"/retry", ""); rec.Code != 202 || !strings.Contains(rec.Body.String(), `"retried":1`) {
		t.Errorf("retry: %d %s", rec.Code, rec.Body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(do(srv, "GET", "/v1/jobs/"+id).Body.String(), `"state":"done"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if h.runs.Load() != runs+1 {
		t.Errorf("retry ran the layer %d times, want once", h.runs.Load()-runs)
	}
	if rec := do(srv, "DELETE", "/v1/jobs/"+id); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"state":"done"`) || strings.Contains(rec.Body.String(), `"deleted"`) {
		t.Errorf("DELETE (a cancel) of an ended job: %d %s", rec.Code, rec.Body)
	}
	if rec := do(srv, "GET", "/v1/jobs/"+id+"/results"); rec.Code != 200 {
		t.Errorf("a cancel removed an ended job's results: %d %s", rec.Code, rec.Body)
	}
	if rec := do(srv, "DELETE", "/v1/jobs/"+id+"?remove=true"); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"state":"done"`) || !strings.Contains(rec.Body.String(), `"deleted":true`) {
		t.Errorf("DELETE ?remove=true of an ended job: %d %s", rec.Code, rec.Body)
	}
	if rec := do(srv, "GET", "/v1/jobs/"+id); rec.Code != 404 {
		t.Errorf("a deleted job: %d", rec.Code)
	}
}

// TestDepthHeader: runs and submits nested deeper than layer.MaxDepth (the
// X-Udftiles-Depth a UDF's fused.run and fused.submit send) are refused.
func TestDepthHeader(t *testing.T) {
	e := newTestServer(t)
	e.reg.Add(&layer.Layer{Name: "echo", Kind: "go", Handler: &jobEcho{}, MaxAge: time.Hour})
	srv := e.withDeps(t, web.Deps{JobsDir: t.TempDir()})
	for _, c := range []struct {
		depth string
		code  int
	}{{"1", 200}, {"5", 200}, {"6", 400}, {"x", 400}, {"-1", 400}} {
		if rec := do(srv, "GET", "/v1/udfs/echo/run?x=1", "X-Udftiles-Depth", c.depth); rec.Code != c.code {
			t.Errorf("run at depth %s: %d, want %d", c.depth, rec.Code, c.code)
		}
	}
	if rec := post(srv, "/v1/udfs/echo/submit", `{"arg_list": [1]}`, "X-Udftiles-Depth", "6"); rec.Code != 400 || !strings.Contains(rec.Body.String(), "nested") {
		t.Errorf("submit at depth 6: %d %s", rec.Code, rec.Body)
	}
}
