package jobs

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeRunner squares n, fails n = 13 with a 400, fails n = 7 with a 502 on its
// first two attempts, waits out a 503 for n = 5 once, and sleeps n = 99 until
// cancelled.
type fakeRunner struct {
	mu       sync.Mutex
	attempts map[string]int
	running  atomic.Int64
	peak     atomic.Int64
}

func (f *fakeRunner) run(ctx context.Context, udf string, p map[string]string, _ *Spec) (Output, error) {
	n, _ := strconv.Atoi(p["n"])
	f.mu.Lock()
	f.attempts[p["n"]]++
	a := f.attempts[p["n"]]
	f.mu.Unlock()
	cur := f.running.Add(1)
	defer f.running.Add(-1)
	for {
		peak := f.peak.Load()
		if cur <= peak || f.peak.CompareAndSwap(peak, cur) {
			break
		}
	}
	time.Sleep(20 * time.Millisecond)
	switch {
	case n == 13:
		return Output{}, &RunError{Status: 400, Msg: "400: unlucky"}
	case n == 7 && a <= 2:
		return Output{}, &RunError{Status: 502, Msg: "502: the worker died", Logs: "dying"}
	case n == 5 && a == 1:
		return Output{}, &RunError{Status: 503, Msg: "503: busy"}
	case n == 99:
		<-ctx.Done()
		return Output{}, ctx.Err()
	}
	return Output{Body: []byte(strconv.Itoa(n*n + len(p["k"]))), ContentType: "application/json", Cache: "miss"}, nil
}

func newFake() *fakeRunner { return &fakeRunner{attempts: map[string]int{}} }

func items(ns ...int) []map[string]string {
	out := make([]map[string]string, len(ns))
	for i, n := range ns {
		out[i] = map[string]string{"n": strconv.Itoa(n)}
	}
	return out
}

func waitJob(t *testing.T, j *Job) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := j.Wait(ctx); err != nil {
		t.Fatalf("job %s did not end: %+v", j.ID, j.Status())
	}
}

// TestJobRunsItemsInOrder: results come back in argument order whatever the
// order they ran in, shared parameters reach every item, no more than
// max_workers run at once, 5xx failures are retried up to max_retry, 4xx
// are not, and a 503 is waited out without counting.
func TestJobRunsItemsInOrder(t *testing.T) {
	f := newFake()
	m, err := Open(t.TempDir(), f.run, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	j, err := m.Submit(Spec{UDF: "sq", Items: items(ns...), Params: map[string]string{"k": "abc"}, MaxWorkers: 4, MaxRetry: 2})
	if err != nil {
		t.Fatal(err)
	}
	waitJob(t, j)
	st := j.Status()
	if st.State != JobDone || st.OK != 15 || st.Failed != 1 || st.Progress != 1 {
		t.Errorf("status %+v, want done with 15 ok and 1 error", st)
	}
	for i, it := range j.Items() {
		n := ns[i]
		switch {
		case it.Index != i || it.Args["n"] != strconv.Itoa(n):
			t.Errorf("item %d: index %d args %v", i, it.Index, it.Args)
		case n == 13:
			if it.Status != Failed || it.Attempts != 1 || it.Error != "400: unlucky" {
				t.Errorf("item 13: %+v, want one attempt and the 400", it)
			}
		case n == 7:
			if it.Status != OK || it.Attempts != 3 {
				t.Errorf("item 7: %s after %d attempts, want ok after 3", it.Status, it.Attempts)
			}
		case n == 5:
			if it.Status != OK || it.Attempts != 1 {
				t.Errorf("item 5: %s after %d attempts, want ok after 1 (the 503 waited out)", it.Status, it.Attempts)
			}
		default:
			if body, err := j.Result(i); it.Status != OK || err != nil || string(body) != strconv.Itoa(n*n+3) {
				t.Errorf("item %d: %s %q %v", i, it.Status, body, err)
			}
		}
	}
	if p := f.peak.Load(); p > 4 || p < 2 {
		t.Errorf("%d items ran at once, want at most max_workers (4) and more than one", p)
	}
	// A retry runs the failed item only.
	before := f.attempts["13"]
	n, err := j.Retry()
	if err != nil || n != 1 {
		t.Fatalf("retry: %d, %v", n, err)
	}
	waitJob(t, j)
	if f.attempts["13"] != before+1 || f.attempts["1"] != 1 {
		t.Errorf("retry ran item 13 %d more times and item 1 %d times", f.attempts["13"]-before, f.attempts["1"])
	}
}

// TestJobCancel: cancelling stops new items at once (none of those queued
// behind the running ones starts) and ends the running ones.
func TestJobCancel(t *testing.T) {
	f := newFake()
	m, _ := Open(t.TempDir(), f.run, nil)
	ns := []int{99, 99}
	for i := 0; i < 50; i++ {
		ns = append(ns, i+100)
	}
	j, _ := m.Submit(Spec{UDF: "sq", Items: items(ns...), MaxWorkers: 2})
	time.Sleep(100 * time.Millisecond)
	j.Cancel()
	waitJob(t, j)
	f.mu.Lock()
	for n := range f.attempts {
		if n != "99" {
			t.Errorf("item %s ran after the cancel", n)
		}
	}
	f.mu.Unlock()
	st := j.Status()
	if st.State != JobCancelled || st.Cancel != 52 || st.OK != 0 {
		t.Errorf("after cancel: %+v, want every item cancelled", st)
	}
}

// TestJobsSurviveRestart: a finished job's results are read back by a new
// manager; a job the restart interrupted is failed with the reason, its
// finished items kept, and a retry runs the rest.
func TestJobsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	f := newFake()
	m, _ := Open(dir, f.run, nil)
	done, _ := m.Submit(Spec{UDF: "sq", Items: items(2, 3)})
	waitJob(t, done)
	// A job as a killed server leaves it on disk: running, one item done,
	// one still running; a new manager on the same directory is the
	// restarted server.
	cut, _ := m.Submit(Spec{UDF: "sq", Items: items(4, 99)})
	// The "killed" server's job is stopped, and waited for, before the test
	// ends: its writes must not race the removal of the directory.
	defer waitJob(t, cut)
	defer cut.Cancel()
	time.Sleep(300 * time.Millisecond)
	m2, err := Open(dir, newFake().run, nil)
	if err != nil {
		t.Fatal(err)
	}
	d2, ok := m2.Get(done.ID)
	if !ok {
		t.Fatal("the finished job is gone after a restart")
	}
	if body, _ := d2.Result(1); d2.Status().OK != 2 || string(body) != "9" {
		t.Fatalf("the finished job after a restart: %v %+v", ok, d2.Status())
	}
	c2, ok := m2.Get(cut.ID)
	if !ok {
		t.Fatal("the interrupted job is gone")
	}
	st := c2.Status()
	if st.State != JobFailed || st.Reason == "" || st.OK != 1 || st.Failed != 1 {
		t.Errorf("the interrupted job after a restart: %+v, want failed with a reason, its done item kept", st)
	}
	if it := c2.Items()[1]; it.Error != "not run: the server restarted" {
		t.Errorf("its unfinished item: %+v", it)
	}
	if n, err := c2.Retry(); err != nil || n != 1 {
		t.Errorf("retry after the restart: %d %v", n, err)
	}
	c2.Cancel()
	waitJob(t, c2)
}
