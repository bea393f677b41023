// Package jobs runs one layer over many inputs in the background, as
// fused.submit does: a job is a list of items (the parameters of one run
// each), run by a bounded number of workers through the server's normal
// (cached) path, retried when they fail for a reason that may pass, and
// collected in argument order. Jobs are kept on disk, one file each: they
// outlive the client that submitted them, and a job a restart interrupted is
// reported as failed with the reason, never silently lost.
//
// A job belongs to its owner (the bearer token that submitted it, by name;
// "" for an anonymous submit) and is counted against its client (the owner,
// or an anonymous submitter's address): a client has a bounded number of
// jobs running and kept, and ended jobs are removed after a time to live.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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

// Defaults of Options.
const (
	DefaultTTL            = 7 * 24 * time.Hour
	DefaultSweepEvery     = time.Hour
	DefaultMaxRunning     = 4
	DefaultMaxStored      = 100
	DefaultMaxResultBytes = 1 << 30
	DefaultMaxJobs        = 1000
)

// restartReason is the reason of a job a restart interrupted.
const restartReason = "the server restarted while the job ran; retry it to run its unfinished items"

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

// Runner runs the layer once with the parameters, as GET .../run would, as
// the job's owner (spec.Owner) and at the submit's depth of nested runs. A run
// whose context is cancelled must return an error.
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
	// Owner is the name of the bearer token that submitted the job, "" for
	// an anonymous submit: the job is theirs and its items run as them. The
	// name is kept on disk, never the token.
	Owner string `json:"-"`
	// Client is what the per-client limits count the job against: the owner,
	// or an anonymous submitter's address. "" counts against no client.
	Client string `json:"-"`
}

// Item is one run of a job. Its result is on disk, not in memory: Job.Result
// and Job.Results read it.
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
	Size        int64             `json:"size"` // bytes of the result
	// Replica is the replica that ran the item (jobs on a Queue).
	Replica string `json:"replica,omitempty"`
	// Lease changes with every claim of the item (jobs on a Queue);
	// Updated is when it last changed.
	Lease   int64     `json:"-"`
	Updated time.Time `json:"-"`

	off int64 // where the result is in the job's file
	crc uint32
}

// Job is one submitted job. Only its header (owner, client, layer, creation)
// is in memory until it is first used.
type Job struct {
	ID string

	m       *Manager
	path    string
	owner   string
	client  string
	udf     string
	created time.Time

	active  atomic.Bool  // running: counted against MaxRunning, never removed
	endedNs atomic.Int64 // when it ended (Unix ns), for the time to live; 0 while running

	mu          sync.Mutex
	loaded      bool
	loadErr     error
	spec        Spec
	state       string
	reason      string
	finished    time.Time
	items       []Item
	resultBytes int64 // of the items that are ok
	deleted     bool
	cancel      context.CancelFunc
	wake        chan struct{} // closed when the job ends

	wmu sync.Mutex // appends to the file; taken after mu, never before
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

// Options bound the jobs; zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// TTL is how long an ended job is kept (DefaultTTL); SweepEvery how
	// often the ended jobs are looked at (DefaultSweepEvery).
	TTL        time.Duration
	SweepEvery time.Duration
	// MaxRunning and MaxStored bound one client's jobs running and kept.
	MaxRunning int
	MaxStored  int
	// MaxResultBytes bounds the results one job keeps: items past it end
	// in error (413).
	MaxResultBytes int64
	// MaxJobs bounds the jobs kept in all; the oldest ended ones go first.
	MaxJobs int

	open func(string) (readFile, error) // reads job files; tests count the bytes read
}

// LimitError is a submit or retry refused by a per-client limit.
type LimitError struct {
	Limit      string // "running" or "stored"
	Max        int
	RetryAfter time.Duration // when room is likely
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("too many jobs %s for this client: at most %d", e.Limit, e.Max)
}

// Errors of Manager.Delete and Job.Retry.
var (
	ErrNotFound = errors.New("no such job")
	ErrRunning  = errors.New("the job is still running")
)

// Manager holds the jobs.
type Manager struct {
	dir string
	run Runner
	log *slog.Logger
	opt Options

	mu   sync.Mutex
	jobs map[string]*Job

	stop     chan struct{}
	stopOnce sync.Once
}

// busyBudget is how long an item waits out a busy server (503) before the
// 503 counts as a failure.
const busyBudget = 5 * time.Minute

// MaxWorkersLimit bounds a job's max_workers.
const MaxWorkersLimit = 256

// Open is New with the default options and the logger.
func Open(dir string, run Runner, log *slog.Logger) (*Manager, error) {
	return New(dir, run, Options{Logger: log})
}

// New finds the jobs kept in dir, reading only their headers: the rest of a
// job is read when it is first used. Jobs ended longer than the time to live
// ago are removed; a job a restart interrupted is reported failed, saying so,
// and its unfinished items too.
func New(dir string, run Runner, o Options) (*Manager, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = DefaultSweepEvery
	}
	if o.MaxRunning <= 0 {
		o.MaxRunning = DefaultMaxRunning
	}
	if o.MaxStored <= 0 {
		o.MaxStored = DefaultMaxStored
	}
	if o.MaxResultBytes <= 0 {
		o.MaxResultBytes = DefaultMaxResultBytes
	}
	if o.MaxJobs <= 0 {
		o.MaxJobs = DefaultMaxJobs
	}
	if o.open == nil {
		o.open = openRead
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	m := &Manager{dir: dir, run: run, log: o.Logger, opt: o, jobs: map[string]*Job{}, stop: make(chan struct{})}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	old := 0
	now := time.Now()
	for _, e := range entries {
		if e.IsDir() {
			old++
			continue
		}
		id, ok := strings.CutSuffix(e.Name(), ".job")
		if !ok || !validID(id) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > o.TTL {
			os.Remove(p)
			continue
		}
		h, info, err := readHead(o.open, p)
		if err == nil && h.ID != id {
			err = fmt.Errorf("its header names job %q", h.ID)
		}
		if err != nil {
			m.log.Warn("a kept job cannot be read; left as it is", "job", id, "error", err.Error())
			continue
		}
		j := &Job{ID: id, m: m, path: p, owner: h.Owner, client: h.Client, udf: h.UDF, created: h.Created, wake: make(chan struct{})}
		close(j.wake) // nothing runs yet: whatever ran was interrupted
		j.endedNs.Store(info.ModTime().UnixNano())
		m.jobs[id] = j
	}
	if old > 0 {
		m.log.Warn("job directories of an older layout are ignored; remove them to free their room", "dir", dir, "count", old)
	}
	go m.sweeper()
	return m, nil
}

// Close stops the sweep of expired jobs.
func (m *Manager) Close() { m.stopOnce.Do(func() { close(m.stop) }) }

// TTL is how long an ended job is kept.
func (m *Manager) TTL() time.Duration { return m.opt.TTL }

func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

func (m *Manager) sweeper() {
	t := time.NewTicker(m.opt.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case now := <-t.C:
			m.sweep(now)
		}
	}
}

// sweep removes the jobs ended longer than the time to live ago.
func (m *Manager) sweep(now time.Time) {
	var gone []string
	m.mu.Lock()
	for id, j := range m.jobs {
		if e := j.endedNs.Load(); e != 0 && !j.active.Load() && now.Sub(time.Unix(0, e)) > m.opt.TTL {
			if j.markDeleted() {
				delete(m.jobs, id)
				gone = append(gone, j.path)
			}
		}
	}
	m.mu.Unlock()
	for _, p := range gone {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			m.log.Warn("an expired job cannot be removed", "path", p, "error", err.Error())
		}
	}
}

// markDeleted marks an ended job deleted; false if it runs again.
func (j *Job) markDeleted() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.active.Load() {
		return false
	}
	j.deleted = true
	return true
}

// admit checks the client's limits before a submit (j nil) or the retry of
// j; the caller holds m.mu.
func (m *Manager) admit(client string, j *Job) error {
	if client == "" {
		return nil
	}
	running, stored := 0, 0
	var soonest time.Time
	for _, o := range m.jobs {
		if o.client != client || o == j {
			continue
		}
		stored++
		if o.active.Load() {
			running++
		} else if e := o.endedNs.Load(); e != 0 {
			if exp := time.Unix(0, e).Add(m.opt.TTL); soonest.IsZero() || exp.Before(soonest) {
				soonest = exp
			}
		}
	}
	if running >= m.opt.MaxRunning {
		return &LimitError{Limit: "running", Max: m.opt.MaxRunning, RetryAfter: 10 * time.Second}
	}
	if j == nil && stored >= m.opt.MaxStored {
		wait := time.Minute
		if !soonest.IsZero() {
			wait = max(time.Second, time.Until(soonest))
		}
		return &LimitError{Limit: "stored", Max: m.opt.MaxStored, RetryAfter: wait}
	}
	return nil
}

// Submit starts a job, unless its client is over a limit (a *LimitError;
// nothing is written then).
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
	id := hex.EncodeToString(b[:])
	j := &Job{ID: id, m: m, path: filepath.Join(m.dir, id+".job"), owner: spec.Owner, client: spec.Client, udf: spec.UDF,
		created: time.Now(), loaded: true, spec: spec, state: JobRunning, wake: make(chan struct{})}
	j.items = make([]Item, len(spec.Items))
	for i, args := range spec.Items {
		j.items[i] = Item{Index: i, Args: args, Status: Pending}
	}
	var file []byte
	for _, r := range []struct {
		kind byte
		meta any
	}{
		{kindHead, headRecord{ID: id, Owner: spec.Owner, Client: spec.Client, UDF: spec.UDF, Created: j.created, Items: len(spec.Items)}},
		{kindSpec, spec},
		{kindState, stateRecord{State: JobRunning}},
	} {
		rec, err := encodeRecord(r.kind, r.meta, nil)
		if err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		file = append(file, rec...)
	}
	j.active.Store(true)
	m.mu.Lock()
	if err := m.admit(spec.Client, nil); err != nil {
		m.mu.Unlock()
		return nil, err
	}
	m.jobs[id] = j
	m.forget()
	m.mu.Unlock()
	if err := writeNew(j.path, file); err != nil {
		m.mu.Lock()
		delete(m.jobs, id)
		m.mu.Unlock()
		return nil, fmt.Errorf("jobs: %w", err)
	}
	j.start(nil)
	return j, nil
}

func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// forget drops the oldest ended jobs past MaxJobs (the caller holds m.mu).
func (m *Manager) forget() {
	if len(m.jobs) <= m.opt.MaxJobs {
		return
	}
	var ended []*Job
	for _, j := range m.jobs {
		if !j.active.Load() {
			ended = append(ended, j)
		}
	}
	sort.Slice(ended, func(a, b int) bool { return ended[a].created.Before(ended[b].created) })
	for _, j := range ended[:max(0, min(len(ended), len(m.jobs)-m.opt.MaxJobs))] {
		if j.markDeleted() {
			delete(m.jobs, j.ID)
			os.Remove(j.path)
		}
	}
}

// Get finds a job, reading it from disk on its first use.
func (m *Manager) Get(id string) (*Job, bool) {
	m.mu.Lock()
	j, ok := m.jobs[id]
	m.mu.Unlock()
	if !ok {
		return nil, false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.ensure() != nil || j.deleted {
		return nil, false
	}
	return j, true
}

// Delete removes an ended job and its file: ErrRunning while it runs.
func (m *Manager) Delete(id string) error {
	m.mu.Lock()
	j, ok := m.jobs[id]
	if !ok {
		m.mu.Unlock()
		return ErrNotFound
	}
	if !j.markDeleted() {
		m.mu.Unlock()
		return ErrRunning
	}
	delete(m.jobs, id)
	m.mu.Unlock()
	if err := os.Remove(j.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("jobs: %w", err)
	}
	return nil
}

// Owner is the name of the bearer token that submitted the job ("" for anonymous).
func (j *Job) Owner() string { return j.owner }

// UDF is the layer the job runs.
func (j *Job) UDF() string { return j.udf }

// ensure reads the job's file on its first use (the caller holds j.mu).
func (j *Job) ensure() error {
	if j.loaded {
		return j.loadErr
	}
	j.loaded = true
	if j.loadErr = j.load(); j.loadErr != nil {
		j.m.log.Warn("a kept job cannot be read", "job", j.ID, "error", j.loadErr.Error())
	}
	return j.loadErr
}

// load replays the job's log: its spec, states and items, never the items'
// results. A job whose last state is running was interrupted by a restart.
func (j *Job) load() error {
	f, err := j.m.opt.open(j.path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	r := recordReader{f: f, size: info.Size()}
	haveSpec := false
	for {
		kind, meta, bodyOff, bodyLen, ok := r.next(4096)
		if !ok {
			break
		}
		switch kind {
		case kindSpec:
			if err := json.Unmarshal(meta, &j.spec); err != nil {
				return fmt.Errorf("its spec: %v", err)
			}
			j.spec.Owner, j.spec.Client = j.owner, j.client
			j.items = make([]Item, len(j.spec.Items))
			for i, args := range j.spec.Items {
				j.items[i] = Item{Index: i, Args: args, Status: Pending}
			}
			haveSpec = true
		case kindState:
			var st stateRecord
			if !haveSpec || json.Unmarshal(meta, &st) != nil {
				continue
			}
			for _, i := range st.Retry {
				if i >= 0 && i < len(j.items) {
					j.items[i].Status, j.items[i].Error = Pending, ""
				}
			}
			j.state, j.reason, j.finished = st.State, st.Reason, st.Finished
			if st.State == JobCancelled {
				for i := range j.items {
					if j.items[i].Status == Pending {
						j.items[i].Status, j.items[i].Error = Cancelled, "cancelled"
					}
				}
			}
		case kindItem:
			var it itemRecord
			if !haveSpec || json.Unmarshal(meta, &it) != nil || it.Index < 0 || it.Index >= len(j.items) {
				continue
			}
			j.items[it.Index] = Item{Index: it.Index, Args: j.spec.Items[it.Index], Status: it.Status, Attempts: it.Attempts,
				Seconds: it.Seconds, Error: it.Error, Logs: it.Logs, ContentType: it.ContentType, Cache: it.Cache,
				Size: bodyLen, off: bodyOff, crc: it.CRC}
		}
	}
	if !haveSpec {
		if r.err != nil {
			return r.err
		}
		return errors.New("no spec record")
	}
	if r.err != nil {
		// A record cut short by a crash: what precedes it stands, and it is
		// cut off so that the next records follow the good ones.
		j.m.log.Warn("a kept job ends on a damaged record; the records before it are kept", "job", j.ID, "error", r.err.Error())
		if err := os.Truncate(j.path, r.off); err != nil {
			return err
		}
	}
	if j.state == JobRunning || j.state == "" {
		j.state, j.reason, j.finished = JobFailed, restartReason, info.ModTime()
		for i := range j.items {
			if it := &j.items[i]; it.Status == Pending || it.Status == Running {
				it.Status, it.Error = Failed, "not run: the server restarted"
			}
		}
	}
	for _, it := range j.items {
		if it.Status == OK {
			j.resultBytes += it.Size
		}
	}
	if !j.finished.IsZero() {
		j.endedNs.Store(j.finished.UnixNano())
	}
	return nil
}

// appendRecord appends a record to the job's file and returns where its body
// is. The file is never created again: a removed job stays removed.
func (j *Job) appendRecord(kind byte, meta any, body []byte) (int64, error) {
	rec, err := encodeRecord(kind, meta, body)
	if err != nil {
		return 0, err
	}
	j.wmu.Lock()
	defer j.wmu.Unlock()
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if _, err := f.Write(rec); err != nil {
		f.Truncate(info.Size()) // no torn record before the next one
		return 0, err
	}
	end, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	return end - int64(len(body)), nil
}

// saveState appends the job's state (the caller holds j.mu).
func (j *Job) saveState(retry []int) {
	if _, err := j.appendRecord(kindState, stateRecord{State: j.state, Reason: j.reason, Finished: j.finished, Retry: retry}, nil); err != nil {
		j.m.log.Error("cannot save a job's state", "job", j.ID, "error", err.Error())
	}
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
	for w := 0; w < min(j.spec.MaxWorkers, max(1, len(todo))); w++ {
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
		defer j.mu.Unlock()
		if j.state == JobRunning {
			j.state, j.finished = JobDone, time.Now()
			j.saveState(nil)
		}
		j.endedNs.Store(j.finished.UnixNano())
		j.active.Store(false)
		close(j.wake)
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
	for k, v := range j.spec.Params {
		params[k] = v
	}
	for k, v := range it.Args {
		params[k] = v
	}
	start := time.Now()
	var out Output
	var err error
	busy := 0 // 503s: the server is busy (queues full); waited out, not counted
	for it.Attempts < 1+j.spec.MaxRetry {
		it.Attempts++
		out, err = j.m.run(ctx, j.spec.UDF, params, &j.spec)
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
	it.Logs, it.ContentType, it.Cache, it.Size, it.off, it.crc = "", "", "", 0, 0, 0
	var body []byte
	switch {
	case ctx.Err() != nil:
		// Cancelled while it ran: whatever the run gave, the item did not end.
		it.Status, it.Error = Cancelled, "cancelled"
	case err != nil:
		it.Status, it.Error = Failed, err.Error()
		var re *RunError
		if errors.As(err, &re) {
			it.Logs = re.Logs
		}
	default:
		it.Status, it.ContentType, it.Logs, it.Cache = OK, out.ContentType, out.Logs, out.Cache
		body = out.Body
		j.mu.Lock()
		if j.resultBytes+int64(len(body)) > j.m.opt.MaxResultBytes {
			it.Status, it.Error, it.ContentType, body = Failed, fmt.Sprintf("413: the job's results are over %d MiB (limits.max_job_result_mb): this item's %d bytes are not kept",
				j.m.opt.MaxResultBytes>>20, len(body)), "", nil
		} else {
			j.resultBytes += int64(len(body))
		}
		j.mu.Unlock()
	}
	rec := itemRecord{Index: i, Status: it.Status, Attempts: it.Attempts, Seconds: it.Seconds, Error: it.Error, Logs: it.Logs,
		ContentType: it.ContentType, Cache: it.Cache, CRC: crc32.ChecksumIEEE(body)}
	off, werr := j.appendRecord(kindItem, rec, body)
	j.mu.Lock()
	defer j.mu.Unlock()
	if werr != nil {
		j.m.log.Error("cannot save a job's result", "job", j.ID, "item", i, "error", werr.Error())
		if it.Status == OK {
			j.resultBytes -= int64(len(body))
			it.Status, it.Error, it.ContentType = Failed, "500: the result cannot be kept: "+werr.Error(), ""
		}
		body = nil
	} else {
		it.off = off
	}
	it.Size, it.crc = int64(len(body)), rec.CRC
	j.items[i] = it
}

// Cancel stops the job: items not started are cancelled at once, running
// ones are abandoned and end cancelled.
func (j *Job) Cancel() {
	j.mu.Lock()
	if j.ensure() != nil || j.deleted {
		j.mu.Unlock()
		return
	}
	for i := range j.items {
		if j.items[i].Status == Pending {
			j.items[i].Status, j.items[i].Error = Cancelled, "cancelled"
		}
	}
	if j.state == JobRunning {
		j.state, j.finished = JobCancelled, time.Now()
		j.saveState(nil)
	}
	cancel := j.cancel
	j.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Retry runs the failed and cancelled items again, as the job's owner; it
// reports how many. It is refused (a *LimitError) when the client has as
// many jobs running as it may.
func (j *Job) Retry() (int, error) {
	m := j.m
	m.mu.Lock()
	defer m.mu.Unlock()
	j.mu.Lock()
	if j.ensure() != nil || j.deleted {
		j.mu.Unlock()
		return 0, ErrNotFound
	}
	if j.active.Load() {
		j.mu.Unlock()
		return 0, ErrRunning
	}
	var todo []int
	for i := range j.items {
		if s := j.items[i].Status; s == Failed || s == Cancelled || s == Pending {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		j.mu.Unlock()
		return 0, nil
	}
	if err := m.admit(j.client, j); err != nil {
		j.mu.Unlock()
		return 0, err
	}
	for _, i := range todo {
		j.items[i].Status, j.items[i].Error = Pending, ""
	}
	j.state, j.reason, j.finished = JobRunning, "", time.Time{}
	j.wake = make(chan struct{})
	j.active.Store(true)
	j.endedNs.Store(0)
	j.saveState(todo)
	j.mu.Unlock()
	j.start(todo)
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
	s := Status{ID: j.ID, UDF: j.udf, Created: j.created}
	if err := j.ensure(); err != nil {
		s.State, s.Reason = JobFailed, "the job cannot be read: "+err.Error()
		return s
	}
	s.State, s.Reason, s.Total, s.Finished = j.state, j.reason, len(j.items), j.finished
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

// Items returns a copy of the items, in argument order, without their results.
func (j *Job) Items() []Item {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.ensure()
	return append([]Item(nil), j.items...)
}

// Result reads item i's result.
func (j *Job) Result(i int) ([]byte, error) {
	items := j.Items()
	if i < 0 || i >= len(items) {
		return nil, fmt.Errorf("no item %d", i)
	}
	f, err := j.m.opt.open(j.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readResult(f, items[i])
}

func readResult(f io.ReaderAt, it Item) ([]byte, error) {
	if it.Status != OK || it.Size == 0 {
		return nil, nil
	}
	b := make([]byte, it.Size)
	if _, err := f.ReadAt(b, it.off); err != nil {
		return nil, err
	}
	if crc32.ChecksumIEEE(b) != it.crc {
		return nil, errors.New("the result is damaged on disk")
	}
	return b, nil
}

// Results calls fn with each item, in argument order, and its result, read
// from disk one at a time. An item whose result cannot be read is passed
// failed, saying why.
func (j *Job) Results(fn func(it Item, result []byte) error) error {
	items := j.Items()
	f, ferr := j.m.opt.open(j.path)
	if ferr == nil {
		defer f.Close()
	}
	for _, it := range items {
		var body []byte
		err := ferr
		if err == nil {
			body, err = readResult(f, it)
		}
		if err != nil && it.Status == OK {
			it.Status, it.Error, it.ContentType = Failed, "the result cannot be read: "+err.Error(), ""
		}
		if err := fn(it, body); err != nil {
			return err
		}
	}
	return nil
}

// List returns the jobs selected, newest first, and the id to page on from
// ("" at the end), as Queue.List does.
func (m *Manager) List(o ListOptions) ([]Status, string) {
	if o.Limit <= 0 {
		o.Limit = 50
	}
	m.mu.Lock()
	var sel []*Job
	for _, j := range m.jobs {
		if o.All || j.owner == o.Owner {
			sel = append(sel, j)
		}
	}
	m.mu.Unlock()
	sort.Slice(sel, func(a, b int) bool {
		if !sel[a].created.Equal(sel[b].created) {
			return sel[a].created.After(sel[b].created)
		}
		return sel[a].ID > sel[b].ID
	})
	if o.After != "" {
		for i, j := range sel {
			if j.ID == o.After {
				sel = sel[i+1:]
				break
			}
		}
	}
	next := ""
	if len(sel) > o.Limit {
		sel = sel[:o.Limit]
		next = sel[len(sel)-1].ID
	}
	out := make([]Status, 0, len(sel))
	for _, j := range sel {
		out = append(out, j.Status())
	}
	return out, next
}
