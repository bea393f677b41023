package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udftiles/udftiles/internal/pgtest"
	"github.com/udftiles/udftiles/store"
)

// A queue test runs on SQLite (a file of its own) and on PostgreSQL (a
// database of its own on one server for the package's tests).
type queueBackend struct {
	name   string
	newURL func(t *testing.T) string
}

var pgOnce struct {
	sync.Mutex
	srv *pgtest.Server
}

func queueBackends(t *testing.T) []queueBackend {
	return []queueBackend{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "q.db") }},
		{"postgres", func(t *testing.T) string {
			pgOnce.Lock()
			defer pgOnce.Unlock()
			if pgOnce.srv == nil {
				pgOnce.srv = pgtest.Start(t)
			}
			return pgOnce.srv.NewDatabase(t)
		}},
	}
}

// TestQueue runs every queue test on both dialects.
func TestQueue(t *testing.T) {
	// One PostgreSQL server for every subtest, stopped at the end.
	srv := pgtest.Start(t)
	pgOnce.Lock()
	pgOnce.srv = srv
	pgOnce.Unlock()
	tests := []struct {
		name string
		fn   func(t *testing.T, url string)
	}{
		{"SubmitRun", testQueueSubmitRun},
		{"ExactlyOnce", testQueueExactlyOnce},
		{"MaxWorkers", testQueueMaxWorkers},
		{"Cancel", testQueueCancel},
		{"Retry", testQueueRetry},
		{"Rescue", testQueueRescue},
		{"LimitsAndList", testQueueLimitsAndList},
	}
	for _, b := range queueBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, b.newURL(t)) })
			}
		})
	}
}

func quietLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// openQueue opens the store at url and a queue on it named replica, started
// with run; both are closed when the test ends.
func openQueue(t *testing.T, url, replica string, run Runner, o QueueOptions) *Queue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, url, store.WithLogger(quietLog(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o.Replica, o.Logger = replica, quietLog(t)
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.RescueAfter == 0 {
		o.RescueAfter = 3 * time.Second
	}
	q, err := NewQueue(ctx, st, o)
	if err != nil {
		t.Fatal(err)
	}
	q.SetRunner(run)
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		q.Close(cctx)
	})
	return q
}

// echo answers {"x": x}.
func echo(ctx context.Context, udf string, params map[string]string, spec *Spec) (Output, error) {
	b, _ := json.Marshal(map[string]string{"x": params["x"], "k": params["k"]})
	return Output{Body: b, ContentType: "application/json", Logs: "ran " + params["x"] + "\n"}, nil
}

func xs(n int) []map[string]string {
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = map[string]string{"x": strconv.Itoa(i)}
	}
	return out
}

func waitQueueJob(t *testing.T, j *QueueJob, within time.Duration) Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := j.Wait(ctx); err != nil {
		s, _ := j.Status(context.Background())
		t.Fatalf("job %s still running after %v: %+v", j.ID(), within, s)
	}
	s, err := j.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testQueueSubmitRun(t *testing.T, url string) {
	ctx := context.Background()
	q := openQueue(t, url, "a", echo, QueueOptions{})
	j, err := q.Submit(ctx, Spec{UDF: "echo", Items: xs(20), Params: map[string]string{"k": "v"}, Owner: "alice", Client: "bearer:alice"})
	if err != nil {
		t.Fatal(err)
	}
	s := waitQueueJob(t, j, 30*time.Second)
	if s.State != JobDone || s.OK != 20 || s.Total != 20 || s.Progress != 1 || s.Finished.IsZero() || s.UDF != "echo" {
		t.Errorf("status %+v", s)
	}
	n := 0
	err = j.Results(ctx, func(it Item, body []byte) error {
		want := fmt.Sprintf(`{"k":"v","x":"%d"}`, n)
		if it.Index != n || string(body) != want || it.Replica != "a" || it.Attempts != 1 || it.Logs == "" || it.ContentType != "application/json" {
			t.Errorf("item %d: %+v %s, want %s", n, it, body, want)
		}
		n++
		return nil
	})
	if err != nil || n != 20 {
		t.Errorf("results: %v, %d items", err, n)
	}
	// The rescue compares River's times with the queue's (on SQLite,
	// through julianday): both read as times.
	if q.dialect == store.SQLite {
		var n int
		q.b.db().queryRow(ctx, `SELECT COUNT(*) FROM river_job WHERE julianday(attempted_at) < julianday($1) AND julianday(attempted_at) > julianday($2)`,
			q.ts(now().Add(time.Minute)), q.ts(now().Add(-time.Minute))).Scan(&n)
		if n != 20 {
			t.Errorf("%d River jobs attempted within a minute, as julianday reads them; want 20", n)
		}
	}
	// Any handle on the job sees it: another Get, the owner, the UDF.
	j2, ok, err := q.Get(ctx, j.ID())
	if !ok || err != nil || j2.Owner() != "alice" || j2.UDF() != "echo" {
		t.Errorf("Get: %v %v %+v", ok, err, j2)
	}
	if _, ok, _ := q.Get(ctx, "0123456789abcdef0123456789abcdef"); ok {
		t.Errorf("Get of an unknown id found a job")
	}
	ended, err := j.Ended(ctx, time.Time{})
	if err != nil || len(ended) != 20 {
		t.Errorf("Ended: %v, %d items", err, len(ended))
	}
	if err := q.Delete(ctx, j.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Status(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("status of a deleted job: %v", err)
	}
	// An empty job is done at once... once a worker would have nothing to do.
	e, err := q.Submit(ctx, Spec{UDF: "echo", Items: nil})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := e.Status(ctx); s.Total != 0 || s.Progress != 1 {
		t.Errorf("an empty job: %+v", s)
	}
}

// testQueueExactlyOnce: two replicas on one database run every item of a
// job exactly once between them, and both take part.
func testQueueExactlyOnce(t *testing.T, url string) {
	ctx := context.Background()
	var mu sync.Mutex
	runs := map[string]int{}
	run := func(ctx context.Context, udf string, p map[string]string, spec *Spec) (Output, error) {
		mu.Lock()
		runs[p["x"]]++
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		return echo(ctx, udf, p, spec)
	}
	qa := openQueue(t, url, "a", run, QueueOptions{Workers: 6})
	openQueue(t, url, "b", run, QueueOptions{Workers: 6})
	const n = 300
	j, err := qa.Submit(ctx, Spec{UDF: "echo", Items: xs(n), MaxWorkers: 12})
	if err != nil {
		t.Fatal(err)
	}
	s := waitQueueJob(t, j, 60*time.Second)
	if s.OK != n || s.State != JobDone {
		t.Errorf("status %+v", s)
	}
	mu.Lock()
	for i := 0; i < n; i++ {
		if c := runs[strconv.Itoa(i)]; c != 1 {
			t.Errorf("item %d ran %d times", i, c)
		}
	}
	mu.Unlock()
	by := map[string]int{}
	j.Results(ctx, func(it Item, _ []byte) error {
		by[it.Replica]++
		return nil
	})
	t.Logf("items by replica: %v", by)
	if by["a"] == 0 || by["b"] == 0 || by["a"]+by["b"] != n {
		t.Errorf("items by replica: %v", by)
	}
}

// testQueueMaxWorkers: max_workers bounds the items running at once over
// every replica.
func testQueueMaxWorkers(t *testing.T, url string) {
	ctx := context.Background()
	var now, peak atomic.Int64
	run := func(ctx context.Context, udf string, p map[string]string, spec *Spec) (Output, error) {
		c := now.Add(1)
		for {
			old := peak.Load()
			if c <= old || peak.CompareAndSwap(old, c) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		now.Add(-1)
		return echo(ctx, udf, p, spec)
	}
	qa := openQueue(t, url, "a", run, QueueOptions{Workers: 8})
	openQueue(t, url, "b", run, QueueOptions{Workers: 8})
	j, err := qa.Submit(ctx, Spec{UDF: "echo", Items: xs(40), MaxWorkers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if s := waitQueueJob(t, j, 60*time.Second); s.OK != 40 {
		t.Errorf("status %+v", s)
	}
	if p := peak.Load(); p > 3 || p < 2 {
		t.Errorf("%d items ran at once, want at most max_workers=3 (and more than one)", p)
	}
}

// testQueueCancel: a cancel ends the pending and running items cancelled at
// once, and the runs under way are abandoned.
func testQueueCancel(t *testing.T, url string) {
	ctx := context.Background()
	var started, abandoned atomic.Int64
	run := func(ctx context.Context, udf string, p map[string]string, spec *Spec) (Output, error) {
		started.Add(1)
		select {
		case <-ctx.Done():
			abandoned.Add(1)
			return Output{}, ctx.Err()
		case <-time.After(30 * time.Second):
			return echo(ctx, udf, p, spec)
		}
	}
	q := openQueue(t, url, "a", run, QueueOptions{})
	j, err := q.Submit(ctx, Spec{UDF: "echo", Items: xs(10), MaxWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); started.Load() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no item started")
		}
	}
	if err := q.Delete(ctx, j.ID()); !errors.Is(err, ErrRunning) {
		t.Errorf("Delete of a running job: %v", err)
	}
	if err := j.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	s, _ := j.Status(ctx)
	if s.State != JobCancelled || s.Cancel != 10 || s.Running != 0 || s.OK != 0 {
		t.Errorf("after the cancel: %+v", s)
	}
	for deadline := time.Now().Add(5 * time.Second); abandoned.Load() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the running items were not abandoned: %d of 2", abandoned.Load())
		}
	}
	time.Sleep(300 * time.Millisecond)
	if started.Load() != 2 {
		t.Errorf("%d items started, want 2 (the others were cancelled before)", started.Load())
	}
	if s, _ := j.Status(ctx); s.Cancel != 10 {
		t.Errorf("later: %+v", s)
	}
	if err := q.Delete(ctx, j.ID()); err != nil {
		t.Errorf("Delete of a cancelled job: %v", err)
	}
}

// testQueueRetry: 5xx failures are tried again up to max_retry, 4xx are
// not; Retry runs the failed items again.
func testQueueRetry(t *testing.T, url string) {
	ctx := context.Background()
	var mu sync.Mutex
	runs := map[string]int{}
	var healed atomic.Bool
	run := func(ctx context.Context, udf string, p map[string]string, spec *Spec) (Output, error) {
		mu.Lock()
		runs[p["x"]]++
		n := runs[p["x"]]
		mu.Unlock()
		switch {
		case p["x"] == "1" && !healed.Load():
			return Output{}, &RunError{Status: 400, Msg: "400: bad one", Logs: "log of 1"}
		case p["x"] == "2" && n == 1:
			return Output{}, &RunError{Status: 502, Msg: "502: worker died"}
		case p["x"] == "3" && !healed.Load():
			return Output{}, &RunError{Status: 500, Msg: "500: always"}
		}
		return echo(ctx, udf, p, spec)
	}
	q := openQueue(t, url, "a", run, QueueOptions{})
	j, err := q.Submit(ctx, Spec{UDF: "echo", Items: xs(4), MaxRetry: 2})
	if err != nil {
		t.Fatal(err)
	}
	s := waitQueueJob(t, j, 30*time.Second)
	if s.OK != 2 || s.Failed != 2 || s.State != JobDone {
		t.Errorf("status %+v", s)
	}
	items, _ := j.Items(ctx)
	want := []struct {
		status   string
		attempts int
	}{{OK, 1}, {Failed, 1}, {OK, 2}, {Failed, 3}}
	for i, it := range items {
		if it.Status != want[i].status || it.Attempts != want[i].attempts {
			t.Errorf("item %d: %s after %d attempts (%s), want %s after %d", i, it.Status, it.Attempts, it.Error, want[i].status, want[i].attempts)
		}
	}
	if items[1].Logs != "log of 1" || items[1].Error != "400: bad one" {
		t.Errorf("the failed item: %+v", items[1])
	}
	healed.Store(true)
	n, err := j.Retry(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Retry: %d %v", n, err)
	}
	if _, err := j.Retry(ctx); !errors.Is(err, ErrRunning) {
		t.Errorf("Retry of a running job: %v", err)
	}
	if s := waitQueueJob(t, j, 30*time.Second); s.OK != 4 || s.State != JobDone {
		t.Errorf("after the retry: %+v", s)
	}
	mu.Lock()
	if runs["0"] != 1 || runs["2"] != 2 {
		t.Errorf("runs %v: the items that had ended ran again", runs)
	}
	mu.Unlock()
}

// testQueueRescue: the items of a replica whose heartbeat stops run again
// on another, once each; the late run of the first is not written.
func testQueueRescue(t *testing.T, url string) {
	ctx := context.Background()
	release := make(chan struct{})
	var aStarted atomic.Int64
	runA := func(ctx context.Context, udf string, p map[string]string, spec *Spec) (Output, error) {
		aStarted.Add(1)
		<-release // a replica that hangs, then answers late
		return Output{Body: []byte("late"), ContentType: "text/plain"}, nil
	}
	qa := openQueue(t, url, "a", runA, QueueOptions{Workers: 2, RescueAfter: time.Second})
	defer close(release)
	j, err := qa.Submit(ctx, Spec{UDF: "echo", Items: xs(6), MaxWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); aStarted.Load() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a started nothing")
		}
	}
	// a's heartbeat and watch stop, as if it were gone; its runs hang.
	qa.stopBg()
	<-qa.bgDone
	// (Its two workers hang: it fetches nothing more.)
	var bRuns atomic.Int64
	runB := func(ctx context.Context, udf string, p map[string]string, spec *Spec) (Output, error) {
		bRuns.Add(1)
		return echo(ctx, udf, p, spec)
	}
	openQueue(t, url, "b", runB, QueueOptions{Workers: 2, RescueAfter: time.Second})
	s := waitQueueJob(t, j, 60*time.Second)
	if s.OK != 6 || s.State != JobDone {
		t.Errorf("status %+v", s)
	}
	if bRuns.Load() != 6 {
		t.Errorf("b ran %d items, want 6", bRuns.Load())
	}
	rescued := 0
	j.Results(ctx, func(it Item, body []byte) error {
		if it.Replica != "b" || string(body) == "late" {
			t.Errorf("item %d: replica %s, %s", it.Index, it.Replica, body)
		}
		return nil
	})
	items, _ := j.Items(ctx)
	for _, it := range items {
		if it.Lease > 1 {
			rescued++
		}
	}
	if rescued < 2 {
		t.Errorf("%d items were taken over, want the 2 a held", rescued)
	}
}

// testQueueLimitsAndList: the per-client limits, and listing.
func testQueueLimitsAndList(t *testing.T, url string) {
	ctx := context.Background()
	block := make(chan struct{})
	run := func(ctx context.Context, udf string, p map[string]string, spec *Spec) (Output, error) {
		select {
		case <-block:
		case <-ctx.Done():
			return Output{}, ctx.Err()
		}
		return echo(ctx, udf, p, spec)
	}
	q := openQueue(t, url, "a", run, QueueOptions{MaxRunning: 2, MaxStored: 3, TTL: time.Hour})
	var ids []string
	for i := 0; i < 2; i++ {
		j, err := q.Submit(ctx, Spec{UDF: "echo", Items: xs(1), Owner: "alice", Client: "bearer:alice"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID())
		time.Sleep(2 * time.Millisecond)
	}
	var le *LimitError
	if _, err := q.Submit(ctx, Spec{UDF: "echo", Items: xs(1), Owner: "alice", Client: "bearer:alice"}); !errors.As(err, &le) || le.Limit != "running" {
		t.Errorf("a third running job: %v", err)
	}
	close(block)
	for _, id := range ids {
		j, _, _ := q.Get(ctx, id)
		waitQueueJob(t, j, 30*time.Second)
	}
	j3, err := q.Submit(ctx, Spec{UDF: "echo", Items: xs(1), Owner: "alice", Client: "bearer:alice"})
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, j3.ID())
	waitQueueJob(t, j3, 30*time.Second)
	if _, err := q.Submit(ctx, Spec{UDF: "echo", Items: xs(1), Owner: "alice", Client: "bearer:alice"}); !errors.As(err, &le) || le.Limit != "stored" || le.RetryAfter < 59*time.Minute {
		t.Errorf("a fourth stored job: %v (%+v)", err, le)
	}
	if jb, err := q.Submit(ctx, Spec{UDF: "echo", Items: xs(1), Owner: "bob", Client: "bearer:bob"}); err != nil {
		t.Errorf("another client: %v", err)
	} else {
		waitQueueJob(t, jb, 30*time.Second)
	}
	// alice's jobs, newest first, two at a time.
	page, next, err := q.List(ctx, ListOptions{Owner: "alice", Limit: 2})
	if err != nil || len(page) != 2 || page[0].ID != ids[2] || page[1].ID != ids[1] || next != ids[1] || page[0].OK != 1 {
		t.Fatalf("first page: %v %+v next %q", err, page, next)
	}
	page, next, err = q.List(ctx, ListOptions{Owner: "alice", Limit: 2, After: next})
	if err != nil || len(page) != 1 || page[0].ID != ids[0] || next != "" {
		t.Errorf("second page: %v %+v next %q", err, page, next)
	}
	if all, _, _ := q.List(ctx, ListOptions{All: true}); len(all) != 4 {
		t.Errorf("all jobs: %d", len(all))
	}
	// Expired jobs are swept with their items.
	q.opt.TTL = time.Nanosecond
	q.sweep(ctx)
	if all, _, _ := q.List(ctx, ListOptions{All: true}); len(all) != 0 {
		t.Errorf("after the sweep: %d jobs", len(all))
	}
	var items int
	q.b.db().queryRow(ctx, `SELECT COUNT(*) FROM job_items`).Scan(&items)
	if items != 0 {
		t.Errorf("after the sweep: %d items", items)
	}
}
