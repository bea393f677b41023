package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udftiles/udftiles/jobs"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/store"
	"github.com/udftiles/udftiles/web"
)

// storeQueue opens the SQLite store at path and a job queue on it named
// replica; both are closed when the test ends.
func storeQueue(t *testing.T, path, replica string) *jobs.Queue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := store.Open(ctx, "sqlite://"+path, store.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q, err := jobs.NewQueue(ctx, st, jobs.QueueOptions{Replica: replica, Logger: log, Workers: 4, RescueAfter: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		q.Close(ctx)
	})
	return q
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// TestJobsOnTheQueue: with a store, jobs live in it and any replica answers
// any job: a submit to one, its status, results and logs from the other
// agree; both run items. The caller's jobs are listed, newest first, a page
// at a time; owner rules are as for jobs on files.
func TestJobsOnTheQueue(t *testing.T) {
	e := newTestServer(t)
	// Items of 60 ms: 4 workers of one replica take 600 ms over the 40,
	// past the other's polling (200 ms), even on a busy machine.
	e.reg.Add(&layer.Layer{Name: "echo", Kind: "go", Handler: &jobEcho{pause: 60 * time.Millisecond}, MaxAge: time.Hour})
	db := filepath.Join(t.TempDir(), "udftiles.db")
	a := e.withDeps(t, web.Deps{JobQueue: storeQueue(t, db, "ra"), Bearers: jobBearers()})
	b := e.withDeps(t, web.Deps{JobQueue: storeQueue(t, db, "rb"), Bearers: jobBearers()})

	body := `{"arg_list": [` + strings.TrimSuffix(strings.Repeat("1,2,3,4,13,", 8), ",") + `], "params": {"k": "q"}, "max_workers": 8}`
	id := submitAs(t, a, "echo", body, aliceAuth)
	st := waitState(t, b, id, aliceAuth)
	if st["state"] != "done" || st["ok"] != 32.0 || st["error"] != 8.0 || st["total"] != 40.0 {
		t.Errorf("status from the other replica: %v", st)
	}
	ra, rb := resultRows(t, a, id, aliceAuth), resultRows(t, b, id, aliceAuth)
	ja, _ := json.Marshal(ra)
	jb, _ := json.Marshal(rb)
	if string(ja) != string(jb) || len(ra) != 40 {
		t.Errorf("the replicas' results differ (%d and %d rows)", len(ra), len(rb))
	}
	if _, ok := ra[0]["replica"]; ok {
		t.Errorf("results have a replica column without ?replica=true: %v", ra[0])
	}
	if ra[0]["status"] != "ok" || ra[4]["status"] != "error" || ra[0]["result"].(map[string]any)["k"] != "q" {
		t.Errorf("rows: %v %v", ra[0], ra[4])
	}
	var res struct{ Results []map[string]any }
	json.Unmarshal(req(a, "GET", "/v1/jobs/"+id+"/results?replica=true", "", "", "Authorization", aliceAuth).Body.Bytes(), &res)
	by := map[any]int{}
	for _, r := range res.Results {
		by[r["replica"]]++
	}
	if by["ra"]+by["rb"] != 40 || by["ra"] == 0 || by["rb"] == 0 {
		t.Errorf("items by replica: %v", by)
	}
	if rec := req(b, "GET", "/v1/jobs/"+id, "", "", "Authorization", bobAuth); rec.Code != 404 {
		t.Errorf("another bearer on the other replica: %d", rec.Code)
	}
	// Logs: one line per item.
	rec := req(b, "GET", "/v1/jobs/"+id+"/logs", "", "", "Authorization", aliceAuth)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("logs: %d %s", rec.Code, rec.Header())
	}
	lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
	if len(lines) != 40 || !strings.Contains(rec.Body.String(), `"status":"error"`) || !strings.Contains(rec.Body.String(), `"replica":"r`) {
		t.Errorf("logs: %d lines\n%.400s", len(lines), rec.Body)
	}

	// Retry on one replica, cancel and remove on the other.
	if rec := req(b, "POST", "/v1/jobs/"+id+"/retry", "", "", "Authorization", aliceAuth); rec.Code != 202 || !strings.Contains(rec.Body.String(), `"retried":8`) {
		t.Errorf("retry: %d %s", rec.Code, rec.Body)
	}
	waitState(t, a, id, aliceAuth)
	if rec := req(a, "DELETE", "/v1/jobs/"+id+"?remove=true", "", "", "Authorization", aliceAuth); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"deleted":true`) {
		t.Errorf("remove: %d %s", rec.Code, rec.Body)
	}
	if rec := req(b, "GET", "/v1/jobs/"+id, "", "", "Authorization", aliceAuth); rec.Code != 404 {
		t.Errorf("a removed job on the other replica: %d", rec.Code)
	}

	// GET /v1/jobs: alice's, newest first, paged; an admin's ?all=true.
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, submitAs(t, a, "echo", `{"arg_list": [1]}`, aliceAuth))
		time.Sleep(2 * time.Millisecond)
	}
	submitAs(t, b, "echo", `{"arg_list": [1]}`, bobAuth)
	var page struct {
		Jobs    []map[string]any
		Next    string
		NextURL string `json:"next_url"`
	}
	json.Unmarshal(req(b, "GET", "/v1/jobs?limit=2", "", "", "Authorization", aliceAuth).Body.Bytes(), &page)
	if len(page.Jobs) != 2 || page.Jobs[0]["id"] != ids[2] || page.Jobs[1]["id"] != ids[1] || page.Next != ids[1] || !strings.Contains(page.NextURL, "after="+ids[1]) {
		t.Errorf("first page: %+v", page)
	}
	next := page.Next
	page.Next = ""
	json.Unmarshal(req(a, "GET", "/v1/jobs?limit=2&after="+next, "", "", "Authorization", aliceAuth).Body.Bytes(), &page)
	if len(page.Jobs) != 1 || page.Jobs[0]["id"] != ids[0] || page.Next != "" {
		t.Errorf("second page: %+v", page)
	}
	for _, c := range []struct {
		path, auth string
		code       int
	}{
		{"/v1/jobs", "", 401},
		{"/v1/jobs?all=true", aliceAuth, 403},
		{"/v1/jobs?limit=0", aliceAuth, 400},
		{"/v1/jobs?all=true", opsAuth, 200},
	} {
		if rec := req(a, "GET", c.path, "", "", "Authorization", c.auth); rec.Code != c.code {
			t.Errorf("GET %s as %q: %d %s", c.path, c.auth, rec.Code, rec.Body)
		}
	}
	json.Unmarshal(req(a, "GET", "/v1/jobs?all=true", "", "", "Authorization", opsAuth).Body.Bytes(), &page)
	if len(page.Jobs) != 4 {
		t.Errorf("all jobs: %d", len(page.Jobs))
	}
}

// TestJobLogsFollow: ?follow=1 writes items as they end and ends with the
// job's status once it has ended.
func TestJobLogsFollow(t *testing.T) {
	e := newTestServer(t)
	gate := &gateEcho{}
	e.reg.Add(&layer.Layer{Name: "slow", Kind: "go", Handler: gate, MaxAge: time.Hour})
	h := e.withDeps(t, web.Deps{JobQueue: storeQueue(t, filepath.Join(t.TempDir(), "u.db"), "r1"), Bearers: jobBearers()})
	release := gate.holdRuns(t)
	id := submitAs(t, h, "slow", `{"arg_list": [1, 2, 3]}`, aliceAuth)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	rq, _ := http.NewRequest("GET", srv.URL+"/v1/jobs/"+id+"/logs?follow=1", nil)
	rq.Header.Set("Authorization", aliceAuth)
	r, err := srv.Client().Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	time.AfterFunc(300*time.Millisecond, release)
	sc := bufio.NewScanner(r.Body)
	var items int
	var last map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if _, ok := m["index"]; ok {
			items++
		}
		last = m
	}
	st, _ := last["status"].(map[string]any)
	if items != 3 || st == nil || st["state"] != "done" {
		t.Errorf("%d item lines, last line %v", items, last)
	}
}

// TestQueueCancelInFlight: on the queue, running items end cancelled at
// once when their job is cancelled.
func TestQueueCancelInFlight(t *testing.T) {
	e := newTestServer(t)
	gate := &gateEcho{}
	e.reg.Add(&layer.Layer{Name: "slow", Kind: "go", Handler: gate, MaxAge: time.Hour})
	h := e.withDeps(t, web.Deps{JobQueue: storeQueue(t, filepath.Join(t.TempDir(), "u.db"), "r1"), Bearers: jobBearers()})
	gate.holdRuns(t)
	id := submitAs(t, h, "slow", `{"arg_list": [1, 2, 3, 4], "max_workers": 2}`, aliceAuth)
	deadline := time.Now().Add(10 * time.Second)
	for gate.running.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if rec := req(h, "DELETE", "/v1/jobs/"+id, "", "", "Authorization", aliceAuth); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"state":"cancelled"`) || !strings.Contains(rec.Body.String(), `"cancelled":4`) {
		t.Fatalf("cancel: %d %s", rec.Code, rec.Body)
	}
	for _, r := range resultRows(t, h, id, aliceAuth) {
		if r["status"] != "cancelled" || r["result"] != nil {
			t.Errorf("item %v: %v %v", r["index"], r["status"], r["result"])
		}
	}
}
