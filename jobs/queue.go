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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/metrics"
	"github.com/udftiles/udftiles/store"
)

// Queue keeps jobs in the store and runs their items on a durable queue
// (River) that every replica of the store works: any replica answers any
// job, items run on all of them, and the items of a replica that dies run
// again on the others. It is the Manager of servers with a store; the
// Manager (one file per job, items run in-process) stays for servers
// without one.
//
// An item is a row of job_items and one River job of kind "udf_item"
// (args {job_id, idx}). A submit writes the job, its items and their River
// jobs in one transaction. A River worker claims its item (pending →
// running, under the job's max_workers counted over every replica), runs
// it through the Runner, then writes the result and completes the River job
// in one transaction. Every claim bumps the item's lease, and a result is
// written only under the lease it was run with: an item cancelled, or taken
// over from a replica thought dead, ends once, whatever the late run does.
type Queue struct {
	b        backend
	dialect  string
	log      *slog.Logger
	opt      QueueOptions
	instance string // this process: its heartbeat's key
	replica  string // this replica's name, in the items it runs
	met      queueMetrics

	run atomic.Pointer[Runner]

	mu      sync.Mutex
	running map[itemKey]*runningItem // the items this process runs

	startMu sync.Mutex
	started bool
	stopBg  context.CancelFunc
	bgDone  chan struct{}
	closed  bool
}

// QueueOptions configure a Queue; zero values take the defaults.
type QueueOptions struct {
	Logger  *slog.Logger
	Metrics *metrics.Set
	// Replica names this server in the items it runs (default: the host's
	// name and the process id).
	Replica string
	// Workers is how many items of each depth of nesting this replica runs
	// at once (default 8).
	Workers int
	// RescueAfter is how long a replica may miss its heartbeat before the
	// items it was running are run again by the others (default 15s).
	RescueAfter time.Duration
	// RunTimeout is the longest an item's run can take (python.timeout):
	// River's own rescue of a job it thinks stuck waits this plus twice
	// RescueAfter (default 2m).
	RunTimeout time.Duration
	// TTL is how long an ended job is kept (DefaultTTL); SweepEvery how
	// often the expired ones are removed (DefaultSweepEvery).
	TTL        time.Duration
	SweepEvery time.Duration
	// MaxRunning and MaxStored bound one client's jobs running and kept.
	MaxRunning int
	MaxStored  int
	// MaxResultBytes bounds the results one job keeps.
	MaxResultBytes int64
	// Results, when set, keeps the results larger than ResultInline bytes
	// (default DefaultResultInline) as objects (the server's S3 tier): the
	// item's row keeps the key. Without it every result is kept in its row.
	Results      ResultStore
	ResultInline int
}

// Defaults of QueueOptions.
const (
	DefaultQueueWorkers = 8
	DefaultRescueAfter  = 15 * time.Second
	DefaultRunTimeout   = 2 * time.Minute
	// maxRescues is how many times an item is taken over from a replica
	// that died before it ends in error: an item that kills its replica
	// does not kill them all.
	maxRescues = 3
	// riverSpareAttempts are River attempts beyond max_retry: rescues and
	// deliveries that find their item already taken count as attempts too.
	riverSpareAttempts = 10
)

// fetchCooldown is the shortest time between two fetches of River jobs by
// one queue of a replica. Ended workers wait for the next fetch: with n
// workers a replica starts at most n items per cooldown, so the cooldown
// bounds the rate of short items (20 ms and 12 workers: 600 items/s, 1.7 ms
// an item). A fetch is one indexed query, run only as workers end.
const fetchCooldown = 2 * time.Millisecond

// ItemKind is the River job kind of an item.
const ItemKind = "udf_item"

// QueueName is the River queue of items submitted at depth (nested submits
// have queues of their own, so that items waiting for the items they
// submitted never hold every worker).
func QueueName(depth int) string {
	depth = max(0, min(depth, layer.MaxDepth))
	if depth == 0 {
		return "udf_items"
	}
	return "udf_items_" + strconv.Itoa(depth)
}

type itemKey struct {
	job string
	idx int
}

type runningItem struct {
	lease  int64
	since  time.Time
	cancel context.CancelFunc
	lost   atomic.Bool // cancelled, deleted or taken over: its result is not written
}

// itemArgs are the args of an item's River job.
type itemArgs struct {
	JobID string `json:"job_id"`
	Index int    `json:"idx"`
}

func (itemArgs) Kind() string { return ItemKind }

type itemWorker struct {
	river.WorkerDefaults[itemArgs]
	q *Queue
}

func (w *itemWorker) Work(ctx context.Context, job *river.Job[itemArgs]) error {
	return w.q.work(ctx, job)
}

// Timeout is River's bound on a delivery: the tile service bounds the run
// itself (python.timeout), this the rest. River's rescuer leaves the jobs
// of a client that died alone until then (a job without a timeout it never
// rescues).
func (w *itemWorker) Timeout(*river.Job[itemArgs]) time.Duration {
	return w.q.opt.RunTimeout + w.q.opt.RescueAfter
}

// retryPolicy retries failed runs after 0.5 s, 1 s, 2 s… up to 30 s.
type retryPolicy struct{}

func (retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	d := 500 * time.Millisecond << min(max(job.Attempt-1, 0), 6)
	return time.Now().Add(min(d, 30*time.Second))
}

// NewQueue opens the queue on the store: River's migrations run (after the
// store's, which made the jobs tables), and River's client is made but not
// started: Start starts it once SetRunner has given the runner.
func NewQueue(ctx context.Context, st *store.Store, o QueueOptions) (*Queue, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Workers <= 0 {
		o.Workers = DefaultQueueWorkers
	}
	o.Workers = min(o.Workers, 10000)
	if o.RescueAfter <= 0 {
		o.RescueAfter = DefaultRescueAfter
	}
	if o.RunTimeout <= 0 {
		o.RunTimeout = DefaultRunTimeout
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
	if o.ResultInline <= 0 {
		o.ResultInline = DefaultResultInline
	}
	if o.Replica == "" {
		host, _ := os.Hostname()
		o.Replica = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	var b [4]byte
	rand.Read(b[:])
	q := &Queue{dialect: st.Dialect(), log: o.Logger, opt: o, replica: o.Replica,
		instance: o.Replica + "-" + hex.EncodeToString(b[:]), running: map[itemKey]*runningItem{}}
	q.met = newQueueMetrics(o.Metrics, q)

	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &itemWorker{q: q}); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	queues := map[string]river.QueueConfig{}
	for d := 0; d <= layer.MaxDepth; d++ {
		// Items put off (max_workers, a busy server) are fetched again by
		// the queue's polling: often for submits, less for nested ones.
		// A worker that ends fetches the next items after FetchCooldown:
		// short, as items are often short (see fetchCooldown).
		poll := time.Second
		if d == 0 {
			poll = 200 * time.Millisecond
		}
		queues[QueueName(d)] = river.QueueConfig{MaxWorkers: o.Workers, FetchPollInterval: poll, FetchCooldown: fetchCooldown}
	}
	cfg := &river.Config{
		Queues:  queues,
		Workers: workers,
		// Also how often a replica tells the others (NOTIFY) that it
		// queued items: at River's default (100 ms) a submit right after
		// another waits for the queues' polling (200 ms).
		FetchCooldown: fetchCooldown,
		JobTimeout:    -1,
		RetryPolicy:   retryPolicy{},
		// The backstop for River jobs left running by a client that died:
		// items themselves are taken over sooner, by heartbeat (rescue).
		RescueStuckJobsAfter:        o.RunTimeout + 2*o.RescueAfter,
		CompletedJobRetentionPeriod: time.Hour,
		CancelledJobRetentionPeriod: time.Hour,
		Logger:                      slog.New(warnOnly{o.Logger.Handler()}),
	}
	be, err := newBackend(ctx, st, cfg, 2*o.Workers+8)
	if err != nil {
		return nil, err
	}
	q.b = be
	return q, nil
}

// SetRunner gives the function that runs an item. It must be set before
// Start.
func (q *Queue) SetRunner(run Runner) { q.run.Store(&run) }

// Replica is this replica's name, as its items show it.
func (q *Queue) Replica() string { return q.replica }

// TTL is how long an ended job is kept.
func (q *Queue) TTL() time.Duration { return q.opt.TTL }

// Start writes this process's heartbeat and starts working items, and the
// sweeps: expired jobs, items of replicas that died. Starting twice does
// nothing.
func (q *Queue) Start(ctx context.Context) error {
	q.startMu.Lock()
	defer q.startMu.Unlock()
	if q.started {
		return nil
	}
	if q.closed {
		return errors.New("jobs: the queue is closed")
	}
	if q.run.Load() == nil {
		return errors.New("jobs: the queue has no runner")
	}
	if err := q.heartbeat(ctx, true); err != nil {
		return fmt.Errorf("jobs: heartbeat: %w", err)
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := q.b.start(bg); err != nil {
		cancel()
		return fmt.Errorf("jobs: starting River: %w", err)
	}
	q.stopBg, q.bgDone, q.started = cancel, make(chan struct{}), true
	go q.background(bg)
	q.log.Info("jobs: working the queue", "replica", q.replica, "instance", q.instance, "workers", q.opt.Workers,
		"dialect", q.dialect, "rescue_after", q.opt.RescueAfter.String())
	return nil
}

// Close stops working items (those running get until ctx ends to finish;
// then they are given back to the queue), stops the sweeps, removes the
// heartbeat and closes the queue's connections.
func (q *Queue) Close(ctx context.Context) error {
	q.startMu.Lock()
	defer q.startMu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	var err error
	if q.started {
		err = q.b.stop(ctx)
		q.stopBg()
		<-q.bgDone
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if _, derr := q.b.db().exec(dctx, `DELETE FROM job_replicas WHERE instance = $1`, q.instance); derr != nil {
			q.log.Warn("jobs: the heartbeat was not removed", "error", derr.Error())
		}
		cancel()
	}
	q.b.close()
	return err
}

// now is the time written: UTC, to the microsecond.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// sqliteTime is how times are written to SQLite, as the store writes them.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

// ts is the argument for time t.
func (q *Queue) ts(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if q.dialect == store.SQLite {
		return t.Format(sqliteTime)
	}
	return t
}

// timeCol scans a time of either dialect, or NULL (the zero time).
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*c.t = time.Time{}
	case time.Time:
		*c.t = x.UTC()
	case string:
		return c.parse(x)
	case []byte:
		return c.parse(string(x))
	default:
		return fmt.Errorf("jobs: cannot scan %T as a time", v)
	}
	return nil
}

func (c timeCol) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("jobs: bad time %q: %w", s, err)
	}
	*c.t = t.UTC()
	return nil
}

// newID is a job's id: 32 hex digits.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Submit writes a job, its items and their River jobs in one transaction,
// unless the client is over a limit (a *LimitError; nothing is written then).
func (q *Queue) Submit(ctx context.Context, spec Spec) (*QueueJob, error) {
	if spec.MaxWorkers <= 0 {
		spec.MaxWorkers = 16
	}
	spec.MaxWorkers = min(spec.MaxWorkers, MaxWorkersLimit)
	spec.MaxRetry = max(0, spec.MaxRetry)
	spec.Depth = max(0, min(spec.Depth, layer.MaxDepth))
	items := spec.Items
	head := spec
	head.Items = nil
	specJSON, err := json.Marshal(head)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	args := make([]string, len(items))
	for i, a := range items {
		if a == nil {
			a = map[string]string{}
		}
		b, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		args[i] = string(b)
	}
	j := &QueueJob{q: q, id: newID(), owner: spec.Owner, client: spec.Client, udf: spec.UDF, created: now()}
	err = q.b.inTx(ctx, func(c conn, rt riverTx) error {
		if spec.Client != "" {
			if err := q.b.lockClient(ctx, c, spec.Client); err != nil {
				return err
			}
			if err := q.admit(ctx, c, spec.Client, "", true); err != nil {
				return err
			}
		}
		if _, err := c.exec(ctx, `INSERT INTO jobs (id, owner, client, udf, spec, state, total, max_workers, max_retry, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			j.id, spec.Owner, spec.Client, spec.UDF, string(specJSON), JobRunning, len(items), spec.MaxWorkers, spec.MaxRetry, q.ts(j.created)); err != nil {
			return fmt.Errorf("jobs: writing the job: %w", err)
		}
		params := make([]river.InsertManyParams, len(items))
		for i := range items {
			params[i] = river.InsertManyParams{Args: itemArgs{JobID: j.id, Index: i}, InsertOpts: q.insertOpts(spec)}
		}
		ids, err := rt.insert(ctx, params)
		if err != nil {
			return err
		}
		if err := q.insertItems(ctx, c, j.id, args, ids, j.created); err != nil {
			return err
		}
		if len(items) == 0 {
			return q.maybeDone(ctx, c, j.id, q.ts(j.created))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return j, nil
}

func (q *Queue) insertOpts(spec Spec) *river.InsertOpts {
	return &river.InsertOpts{Queue: QueueName(spec.Depth), MaxAttempts: 1 + spec.MaxRetry + riverSpareAttempts}
}

// insertItems writes the items, many to a statement.
func (q *Queue) insertItems(ctx context.Context, c conn, id string, args []string, riverIDs []int64, at time.Time) error {
	const perStatement = 400
	ts := q.ts(at)
	for start := 0; start < len(args); start += perStatement {
		end := min(len(args), start+perStatement)
		var sb []byte
		sb = append(sb, "INSERT INTO job_items (job_id, idx, args, status, river_id, updated_at) VALUES "...)
		vals := make([]any, 0, 4*(end-start)+3)
		vals = append(vals, id, Pending, ts)
		for i := start; i < end; i++ {
			if i > start {
				sb = append(sb, ',')
			}
			n := len(vals)
			sb = fmt.Appendf(sb, "($1, $%d, $%d, $2, $%d, $3)", n+1, n+2, n+3)
			vals = append(vals, i, args[i], riverIDs[i])
		}
		if _, err := c.exec(ctx, string(sb), vals...); err != nil {
			return fmt.Errorf("jobs: writing the items: %w", err)
		}
	}
	return nil
}

// admit checks a client's limits (in the transaction of a submit, or of the
// retry of job except); stored is false for a retry, which adds no job.
func (q *Queue) admit(ctx context.Context, c conn, client, except string, stored bool) error {
	var total, running int
	var soonest time.Time
	err := c.queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END), 0), MIN(finished_at)
		FROM jobs WHERE client = $1 AND id <> $2`, client, except).Scan(&total, &running, timeCol{&soonest})
	if err != nil {
		return fmt.Errorf("jobs: counting the client's jobs: %w", err)
	}
	if running >= q.opt.MaxRunning {
		return &LimitError{Limit: "running", Max: q.opt.MaxRunning, RetryAfter: 10 * time.Second}
	}
	if stored && total >= q.opt.MaxStored {
		wait := time.Minute
		if !soonest.IsZero() {
			wait = max(time.Second, time.Until(soonest.Add(q.opt.TTL)))
		}
		return &LimitError{Limit: "stored", Max: q.opt.MaxStored, RetryAfter: wait}
	}
	return nil
}

// Get finds a job.
func (q *Queue) Get(ctx context.Context, id string) (*QueueJob, bool, error) {
	if !validID(id) {
		return nil, false, nil
	}
	j := &QueueJob{q: q, id: id}
	err := q.b.db().queryRow(ctx, `SELECT owner, client, udf, created_at FROM jobs WHERE id = $1`, id).
		Scan(&j.owner, &j.client, &j.udf, timeCol{&j.created})
	if noRows(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("jobs: %w", err)
	}
	return j, true, nil
}

// Delete removes an ended job, its items and their results: ErrRunning
// while it runs, ErrNotFound if there is no such job.
func (q *Queue) Delete(ctx context.Context, id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	err := q.b.inTx(ctx, func(c conn, _ riverTx) error {
		var state string
		err := c.queryRow(ctx, `SELECT state FROM jobs WHERE id = $1`+q.b.forUpdate(), id).Scan(&state)
		if noRows(err) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		if state == JobRunning {
			return ErrRunning
		}
		// Its items go with it (ON DELETE CASCADE); their River jobs, if
		// any are left, find nothing to run.
		_, err = c.exec(ctx, `DELETE FROM jobs WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return err
	}
	// Then the objects of its large results (once its rows are gone, no
	// read finds a key whose object is missing).
	q.removeResults(context.WithoutCancel(ctx), id)
	return nil
}

// ListOptions select the jobs List returns: those of Owner ("" = the
// anonymous ones) unless All, newest first, Limit of them after the job
// After.
type ListOptions struct {
	Owner string
	All   bool
	Limit int
	After string
}

// List returns the jobs selected, newest first, and the id to page on from
// ("" at the end).
func (q *Queue) List(ctx context.Context, o ListOptions) ([]Status, string, error) {
	if o.Limit <= 0 {
		o.Limit = 50
	}
	o.Limit = min(o.Limit, 1000)
	var conds []string
	var args []any
	if !o.All {
		args = append(args, o.Owner)
		conds = append(conds, fmt.Sprintf("owner = $%d", len(args)))
	}
	if o.After != "" {
		args = append(args, o.After)
		conds = append(conds, fmt.Sprintf("(created_at, id) < (SELECT created_at, id FROM jobs WHERE id = $%d)", len(args)))
	}
	query := `SELECT id, udf, state, reason, total, created_at, finished_at FROM jobs`
	if len(conds) > 0 {
		query += " WHERE " + strings.Join(conds, " AND ")
	}
	query += fmt.Sprintf(" ORDER BY created_at DESC, id DESC LIMIT %d", o.Limit+1)
	r, err := q.b.db().query(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("jobs: listing: %w", err)
	}
	var out []Status
	for r.Next() {
		var s Status
		if err := r.Scan(&s.ID, &s.UDF, &s.State, &s.Reason, &s.Total, timeCol{&s.Created}, timeCol{&s.Finished}); err != nil {
			r.Close()
			return nil, "", fmt.Errorf("jobs: listing: %w", err)
		}
		out = append(out, s)
	}
	r.Close()
	if err := r.Err(); err != nil {
		return nil, "", fmt.Errorf("jobs: listing: %w", err)
	}
	next := ""
	if len(out) > o.Limit {
		out = out[:o.Limit]
		next = out[len(out)-1].ID
	}
	for i := range out {
		if err := q.count(ctx, q.b.db(), &out[i]); err != nil {
			return nil, "", err
		}
	}
	return out, next, nil
}

// count fills s's item counts and progress.
func (q *Queue) count(ctx context.Context, c conn, s *Status) error {
	r, err := c.query(ctx, `SELECT status, COUNT(*) FROM job_items WHERE job_id = $1 GROUP BY status`, s.ID)
	if err != nil {
		return fmt.Errorf("jobs: counting items: %w", err)
	}
	defer r.Close()
	for r.Next() {
		var st string
		var n int
		if err := r.Scan(&st, &n); err != nil {
			return fmt.Errorf("jobs: counting items: %w", err)
		}
		switch st {
		case Pending:
			s.Pending += n
		case Running:
			s.Running += n
		case OK:
			s.OK += n
		case Failed:
			s.Failed += n
		case Cancelled:
			s.Cancel += n
		}
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("jobs: counting items: %w", err)
	}
	if s.Total > 0 {
		s.Progress = float64(s.OK+s.Failed+s.Cancel) / float64(s.Total)
	} else {
		s.Progress = 1
	}
	return nil
}

// warnOnly passes River's warnings and errors to the server's log, not its
// chatter.
type warnOnly struct{ h slog.Handler }

func (w warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && w.h.Enabled(ctx, l)
}
func (w warnOnly) Handle(ctx context.Context, r slog.Record) error { return w.h.Handle(ctx, r) }
func (w warnOnly) WithAttrs(as []slog.Attr) slog.Handler           { return warnOnly{w.h.WithAttrs(as)} }
func (w warnOnly) WithGroup(name string) slog.Handler              { return warnOnly{w.h.WithGroup(name)} }
