// Package jobs runs one layer over many inputs in the background, as
// fused.submit does: a job is a list of items (the parameters of one run
// each), run by a bounded number of workers through the server's normal
// (cached) path, retried when they fail for a reason that may pass, and
// collected in argument order. Jobs are kept on disk: they outlive the
// client that submitted them, and a job a restart interrupted is reported as
// failed with the reason, never silently lost.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Item states.
const (
	Pending   = "pending"
	Running   = "running"
	OK        = "ok"
	Failed    = "error"
	Cancelled = "cancelled"
)

// Job states: running until every item has ended, then done; cancelled when
// cancelled; failed when the server stopped under it.
const (
	JobRunning   = "running"
	JobDone      = "done"
	JobCancelled = "cancelled"
	JobFailed    = "failed"
)

// Output is what one run gave.
type Output struct {
	Body        []byte
	ContentType string
	Logs        string
	Cache       string // X-Cache of the answer: memory, s3, miss
}

// RunError is a run that failed: its HTTP status says whether trying again
// may help (5xx) or not (4xx).
type RunError struct {
	Status int
	Msg    string
	Logs   string
}

func (e *RunError) Error() string { return e.Msg }

// Runner runs the layer once with the parameters, as GET .../run would.
// The spec gives the submitter's Authorization header, replayed for private
// layers, and the depth of nested runs.
type Runner func(ctx context.Context, udf string, params map[string]string, spec *Spec) (Output, error)

// Spec is what a job runs.
type Spec struct {
	UDF              string              `json:"udf"`
	Items            []map[string]string `json:"items"`  // the varying parameters of each run
	Params           map[string]string   `json:"params"` // the parameters every run shares
	MaxWorkers       int                 `json:"max_workers"`
	MaxRetry         int                 `json:"max_retry"`
	IgnoreExceptions bool                `json:"ignore_exceptions"`
	Depth            int                 `json:"depth"` // X-Udftiles-Depth of the submit
	Auth             string              `json:"-"`     // never written to disk
}

// Item is one run of a job.
type Item struct {
	Index       int               `json:"index"`
	Args        map[string]string `json:"args"`
	Status      string            `json:"status"`
	Attempts    int               `json:"attempts"`
	Seconds     float64           `json:"seconds"`
	Error       string            `json:"error,omitempty"`
	Logs        string            `json:"logs,omitempty"`
	ContentType string            `json:"content_type,omitempty"`
	Cache       string            `json:"cache,omitempty"`
	Body        []byte            `json:"body,omitempty"`
}

// Job is one submitted job.
type Job struct {
	ID       string    `json:"id"`
	Spec     Spec      `json:"spec"`
	State    string    `json:"state"`
	Reason   string    `json:"reason,omitempty"`
	Created  time.Time `json:"created"`
	Finished time.Time `json:"finished,omitzero"`

	mu     sync.Mutex
	items  []Item
	cancel context.CancelFunc
	m      *Manager
	wake   chan struct{} // closed when the job ends
}

// Status is a job's progress.
type Status struct {
	ID       string    `json:"id"`
	UDF      string    `json:"udf"`
	State    string    `json:"state"`
	Reason   string    `json:"reason,omitempty"`
	Total    int       `json:"total"`
	Pending  int       `json:"pending"`
	Running  int       `json:"running"`
	OK       int       `json:"ok"`
	Failed   int       `json:"error"`
	Cancel   int       `json:"cancelled"`
	Progress float64   `json:"progress"` // ended items / total
	Created  time.Time `json:"created"`
	Finished time.Time `json:"finished,omitzero"`
}

// Manager holds the jobs.
type Manager struct {
	dir     string
	run     Runner
	log     *slog.Logger
	maxJobs int // jobs kept; the oldest ended ones go first

	mu   sync.Mutex
	jobs map[string]*Job
}

// busyBudget is how long an item waits out a busy server (503) before the
// 503 counts as a failure.
const busyBudget = 5 * time.Minute

// MaxWorkersLimit bounds a job's max_workers.
const MaxWorkersLimit = 256

// Open loads the jobs kept in dir; those a restart interrupted are marked
// failed, saying so, and their unfinished items too.
func Open(dir string, run Runner, log *slog.Logger) (*Manager, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	m := &Manager{dir: dir, run: run, log: log, maxJobs: 1000, jobs: map[string]*Job{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		j, err := m.load(e.Name())
		if err != nil {
			log.Warn("a kept job cannot be read; left as it is", "job", e.Name(), "error", err.Error())
			continue
		}
		m.jobs[j.ID] = j
	}
	return m, nil
}

func (m *Manager) load(id string) (*Job, error) {
	b, err := os.ReadFile(filepath.Join(m.dir, id, "job.json"))
	if err != nil {
		return nil, err
	}
	j := &Job{m: m, wake: make(chan struct{})}
	if err := json.Unmarshal(b, j); err != nil {
		return nil, err
	}
	j.items = make([]Item, len(j.Spec.Items))
	for i, args := range j.Spec.Items {
		j.items[i] = Item{Index: i, Args: args, Status: Pending}
		if b, err := os.ReadFile(j.itemPath(i)); err == nil {
			var it Item
			if json.Unmarshal(b, &it) == nil {
				j.items[i] = it
			}
		}
	}
	if j.State == JobRunning {
		j.State, j.Reason, j.Finished = JobFailed, "the server restarted while the job ran; retry it to run its unfinished items", time.Now()
		for i := range j.items {
			if it := &j.items[i]; it.Status == Pending || it.Status == Running {
				it.Status, it.Error = Failed, "not run: the server restarted"
			}
		}
		j.save()
	}
	close(j.wake)
	return j, nil
}

func (j *Job) dir() string { return filepath.Join(j.m.dir, j.ID) }
func (j *Job) itemPath(i int) string {
	return filepath.Join(j.dir(), "items", fmt.Sprintf("%d.json", i))
}
func (j *Job) saveItem(it Item) error { return writeJSON(j.itemPath(it.Index), it) }
func writeJSON(p string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// save writes the job's state (the caller holds j.mu or owns j).
func (j *Job) save() {
	if err := writeJSON(filepath.Join(j.dir(), "job.json"), j); err != nil {
		j.m.log.Error("cannot save a job's state", "job", j.ID, "error", err.Error())
	}
}

// Submit starts a job.
func (m *Manager) Submit(spec Spec) (*Job, error) {
	if spec.MaxWorkers <= 0 {
		spec.MaxWorkers = 16
	}
	spec.MaxWorkers = min(spec.MaxWorkers, MaxWorkersLimit)
	if spec.MaxRetry < 0 {
		spec.MaxRetry = 0
	}
	var b [16]byte
	rand.Read(b[:])
	j := &Job{ID: hex.EncodeToString(b[:]), Spec: spec, State: JobRunning, Created: time.Now(), m: m, wake: make(chan struct{})}
	j.items = make([]Item, len(spec.Items))
	for i, args := range spec.Items {
		j.items[i] = Item{Index: i, Args: args, Status: Pending}
	}
	if err := os.MkdirAll(filepath.Join(j.dir(), "items"), 0o700); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	j.save()
	m.mu.Lock()
	m.jobs[j.ID] = j
	m.forget()
	m.mu.Unlock()
	j.start(nil)
	return j, nil
}

// forget drops the oldest ended jobs past maxJobs (the caller holds m.mu).
func (m *Manager) forget() {
	if len(m.jobs) <= m.maxJobs {
		return
	}
	var ended []*Job
	for _, j := range m.jobs {
		select {
		case <-j.wake:
			ended = append(ended, j)
		default:
		}
	}
	sort.Slice(ended, func(a, b int) bool { return ended[a].Created.Before(ended[b].Created) })
	for _, j := range ended[:max(0, min(len(ended), len(m.jobs)-m.maxJobs))] {
		delete(m.jobs, j.ID)
		os.RemoveAll(j.dir())
	}
}

// Get finds a job.
func (m *Manager) Get(id string) (*Job, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	return j, ok
}

// start runs the items listed (nil: every pending one) with the job's workers.
func (j *Job) start(only []int) {
	ctx, cancel := context.WithCancel(context.Background())
	j.mu.Lock()
	j.cancel = cancel
	var todo []int
	for i := range j.items {
		if only == nil && j.items[i].Status == Pending {
			todo = append(todo, i)
		}
	}
	if only != nil {
		todo = only
	}
	j.mu.Unlock()
	queue := make(chan int, len(todo))
	for _, i := range todo {
		queue <- i
	}
	close(queue)
	var wg sync.WaitGroup
	for w := 0; w < min(j.Spec.MaxWorkers, max(1, len(todo))); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				if ctx.Err() != nil {
					return
				}
				j.runItem(ctx, i)
			}
		}()
	}
	go func() {
		wg.Wait()
		cancel()
		j.mu.Lock()
		if j.State == JobRunning {
			j.State, j.Finished = JobDone, time.Now()
		}
		j.save()
		select {
		case <-j.wake:
		default:
			close(j.wake)
		}
		j.mu.Unlock()
	}()
}

// runItem runs one item, retrying failures that may pass (5xx, timeouts)
// up to max_retry times.
func (j *Job) runItem(ctx context.Context, i int) {
	j.mu.Lock()
	it := j.items[i]
	if it.Status == Cancelled {
		j.mu.Unlock()
		return
	}
	it.Status, it.Attempts, it.Error = Running, 0, ""
	j.items[i] = it
	j.mu.Unlock()
	params := map[string]string{}
	for k, v := range j.Spec.Params {
		params[k] = v
	}
	for k, v := range it.Args {
		params[k] = v
	}
	start := time.Now()
	var out Output
	var err error
	busy := 0 // 503s: the server is busy (queues full); waited out, not counted
	for it.Attempts < 1+j.Spec.MaxRetry {
		it.Attempts++
		out, err = j.m.run(ctx, j.Spec.UDF, params, &j.Spec)
		var re *RunError
		if err == nil || ctx.Err() != nil || (errors.As(err, &re) && re.Status < 500) {
			break
		}
		if re != nil && re.Status == 503 && time.Since(start) < busyBudget {
			busy++
			it.Attempts--
			select {
			case <-time.After(min(2*time.Second, 50*time.Millisecond<<min(busy, 6))):
			case <-ctx.Done():
			}
		}
	}
	it.Seconds = time.Since(start).Seconds()
	switch {
	case ctx.Err() != nil && err != nil:
		it.Status, it.Error = Cancelled, "cancelled"
	case err != nil:
		it.Status, it.Error = Failed, err.Error()
		var re *RunError
		if errors.As(err, &re) {
			it.Logs = re.Logs
		}
	default:
		it.Status, it.Body, it.ContentType, it.Logs, it.Cache = OK, out.Body, out.ContentType, out.Logs, out.Cache
	}
	if err := j.saveItem(it); err != nil {
		j.m.log.Error("cannot save a job's result", "job", j.ID, "item", i, "error", err.Error())
	}
	j.mu.Lock()
	j.items[i] = it
	j.mu.Unlock()
}

// Cancel stops the job: items not started are cancelled at once, running
// ones are abandoned.
func (j *Job) Cancel() {
	j.mu.Lock()
	for i := range j.items {
		if j.items[i].Status == Pending {
			j.items[i].Status, j.items[i].Error = Cancelled, "cancelled"
			j.saveItem(j.items[i])
		}
	}
	if j.State == JobRunning {
		j.State, j.Finished = JobCancelled, time.Now()
	}
	cancel := j.cancel
	j.save()
	j.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Retry runs the failed and cancelled items again; it reports how many.
func (j *Job) Retry() (int, error) {
	select {
	case <-j.wake:
	default:
		return 0, errors.New("the job is still running")
	}
	j.mu.Lock()
	var todo []int
	for i := range j.items {
		if s := j.items[i].Status; s == Failed || s == Cancelled || s == Pending {
			j.items[i].Status, j.items[i].Error = Pending, ""
			todo = append(todo, i)
		}
	}
	if len(todo) > 0 {
		j.State, j.Reason, j.Finished = JobRunning, "", time.Time{}
		j.wake = make(chan struct{})
		j.save()
	}
	j.mu.Unlock()
	if len(todo) > 0 {
		j.start(todo)
	}
	return len(todo), nil
}

// Wait blocks until the job ends or ctx does.
func (j *Job) Wait(ctx context.Context) error {
	j.mu.Lock()
	wake := j.wake
	j.mu.Unlock()
	select {
	case <-wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status counts the items by state.
func (j *Job) Status() Status {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := Status{ID: j.ID, UDF: j.Spec.UDF, State: j.State, Reason: j.Reason, Total: len(j.items), Created: j.Created, Finished: j.Finished}
	for _, it := range j.items {
		switch it.Status {
		case Pending:
			s.Pending++
		case Running:
			s.Running++
		case OK:
			s.OK++
		case Failed:
			s.Failed++
		case Cancelled:
			s.Cancel++
		}
	}
	if s.Total > 0 {
		s.Progress = float64(s.OK+s.Failed+s.Cancel) / float64(s.Total)
	} else {
		s.Progress = 1
	}
	return s
}

// Items returns a copy of the items, in argument order.
func (j *Job) Items() []Item {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Item(nil), j.items...)
}
