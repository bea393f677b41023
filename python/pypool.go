// Package python runs Python UDFs written as for Fused: long-lived worker
// processes of Debian's python3 (the Pool), one call at a time each over a
// framed pipe protocol, and UDF, the layer.Handler of one UDF file. The worker
// side (runner.py and the fused module) is embedded and extracted at start.
package python

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/udftiles/udftiles/layer"
)

//go:embed all:pyruntime
var pyRuntime embed.FS

// Config configures the worker pool.
type Config struct {
	Interpreter  string        // default /usr/bin/python3 (Debian's, with the geo stack)
	Workers      int           // processes kept running
	Timeout      time.Duration // default per-call limit
	MemoryMB     int           // address-space limit per worker; 0 = none
	MaxOutputMB  int           // the largest result one call may return (413 past it); 0 = 256
	MaxLogMB     int           // what one call may print before it fails; 0 = 64
	StartTimeout time.Duration // how long a worker may take to import and report ready
	CacheDir     string        // @fused.cache, fused.download and HOME of workers
	WorkDir      string        // working directory of workers (relative paths in UDFs)
	Secrets      map[string]string
	Preload      []string       // modules imported at worker start
	UDFs         map[string]any // name → {"path", "kind"} for fused.run / fused.load by name
	Server       string         // this server's base URL, for fused.run of non-Python layers
	Env          []string       // extra environment for workers
	Logger       *slog.Logger
	// Host answers what UDFs ask of the server during a call (nested runs,
	// storage); nil: nothing (SetHost sets it later).
	Host Host
	// MountDir is the shared folder of fused.file_path ("" = CacheDir/mount).
	MountDir string
	// Repos maps "github.com/owner/name" to local git checkouts for fused.load.
	Repos map[string]string
	// StorageFD is what fd:// paths of fused.api stand for (s3://bucket/prefix
	// or a directory under storage.allow); "" = fd:// is refused.
	StorageFD string
}

// maxFrame is the largest reply frame a worker may send: a result of
// MaxOutputMB and its header.
func (c Config) maxFrame() int {
	mb := c.MaxOutputMB
	if mb <= 0 {
		mb = DefaultMaxOutputMB
	}
	return mb<<20 + frameSlack
}

// DefaultMaxOutputMB and DefaultMaxLogMB are python.max_output_mb and
// python.max_log_mb when the config sets none.
const (
	DefaultMaxOutputMB = 256
	DefaultMaxLogMB    = 64
)

// Pool runs Python calls on long-lived worker processes, one call per worker at
// a time. A worker that dies or times out is replaced.
type Pool struct {
	cfg  Config
	dir  string // the extracted runner and fused module
	idle chan *worker

	mu      sync.Mutex
	closed  bool
	live    int // workers started and not yet killed
	lastErr error

	busy     atomic.Int64
	restarts atomic.Int64
	// host answers what calls ask of the server (set once the server's
	// service exists: SetHost).
	host atomic.Pointer[Host]
	// parked counts workers waiting for the server during a call (a nested
	// run, a job): the pool may run that many workers beyond Workers.
	parked atomic.Int64
}

// NewPool extracts the runtime and starts cfg.Workers workers in the background;
// Ready reports when they are up.
func NewPool(cfg Config) (*Pool, error) {
	if cfg.Interpreter == "" {
		cfg.Interpreter = "/usr/bin/python3"
	}
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 120 * time.Second
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 90 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxOutputMB <= 0 {
		cfg.MaxOutputMB = DefaultMaxOutputMB
	}
	if cfg.MaxLogMB <= 0 {
		cfg.MaxLogMB = DefaultMaxLogMB
	}
	dir, err := os.MkdirTemp("", "udftiles-python-")
	if err != nil {
		return nil, err
	}
	if err := extract(dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// The runtime is code, not secrets: readable by a worker that runs as
	// another user (see docs/security.md).
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(os.TempDir(), "udftiles-cache")
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("python.cache_dir: %v", err)
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir, _ = os.Getwd()
	}
	p := &Pool{cfg: cfg, dir: dir, idle: make(chan *worker, cfg.Workers*(1+layer.MaxDepth))}
	if cfg.Host != nil {
		p.SetHost(cfg.Host)
	}
	for i := 0; i < cfg.Workers; i++ {
		p.spawn()
	}
	return p, nil
}

func extract(dir string) error {
	return fs.WalkDir(pyRuntime, "pyruntime", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("pyruntime", path)
		target := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := pyRuntime.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

func (p *Pool) initMessage() map[string]any {
	// Empty, not nil: nil would reach the worker as null.
	secrets, preload, udfs := p.cfg.Secrets, p.cfg.Preload, p.cfg.UDFs
	if secrets == nil {
		secrets = map[string]string{}
	}
	if preload == nil {
		preload = []string{}
	}
	if udfs == nil {
		udfs = map[string]any{}
	}
	return map[string]any{"op": "init", "cache_dir": p.cfg.CacheDir, "secrets": secrets,
		"mount_dir": p.cfg.MountDir, "storage_fd": p.cfg.StorageFD, "repos": p.cfg.Repos,
		"memory_mb": p.cfg.MemoryMB, "max_output_mb": p.cfg.MaxOutputMB, "max_log_mb": p.cfg.MaxLogMB, "preload": preload, "udfs": udfs, "server": p.cfg.Server}
}

// spawn starts one worker in the background; on failure it retries with backoff
// while the pool is open.
func (p *Pool) spawn() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.live++
	p.mu.Unlock()
	go func() {
		backoff := 500 * time.Millisecond
		for {
			w, err := startWorker(context.Background(), p.cfg, p.dir, p.initMessage())
			p.mu.Lock()
			closed := p.closed
			p.lastErr = err
			p.mu.Unlock()
			if closed {
				if w != nil {
					w.kill()
				}
				return
			}
			if err == nil {
				if !p.release(w) {
					w.kill()
				}
				return
			}
			p.cfg.Logger.Error("python worker failed to start", "error", err.Error())
			time.Sleep(backoff)
			backoff = min(backoff*2, 30*time.Second)
		}
	}()
}

// Ready reports whether every worker has started.
func (p *Pool) Ready() bool { return len(p.idle)+int(p.busy.Load()) >= p.cfg.Workers }

// Stats are the pool's counters.
type Stats struct {
	Workers, Idle, Busy int
	Restarts            int64
	LastError           string
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{Workers: p.cfg.Workers, Idle: len(p.idle), Busy: int(p.busy.Load()), Restarts: p.restarts.Load()}
	if p.lastErr != nil {
		s.LastError = p.lastErr.Error()
	}
	return s
}

// Close stops every worker and removes the extracted runtime; a worker busy with
// a call is stopped when the call ends.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	var idle []*worker
drain:
	for {
		select {
		case w := <-p.idle:
			idle = append(idle, w)
		default:
			break drain
		}
	}
	p.mu.Unlock()
	for _, w := range idle {
		w.kill()
	}
	os.RemoveAll(p.dir)
}

// call runs one request on an idle worker, waiting at most timeout for one to
// be free and then giving the call timeout to run: time spent waiting is not
// taken from the UDF. A worker that dies or is killed for time is replaced; the
// error says which. Running out of time is context.DeadlineExceeded.
func (p *Pool) call(ctx context.Context, timeout time.Duration, header map[string]any, blobs [][]byte) (*reply, error) {
	var w *worker
	wait := time.NewTimer(timeout)
	defer wait.Stop()
	// Calls waiting for the server come and go while this one waits: the pool
	// looks again now and then whether it may start a worker for it.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for w == nil {
		p.grow()
		select {
		case <-tick.C:
		case w = <-p.idle:
			if !w.alive() {
				// It died while idle (killed from outside, out of memory): it is
				// replaced, and the call waits for another, instead of failing.
				p.replace(w)
				w = nil
			} else if n := w.pending(); n > 0 {
				// Something in it wrote to the reply pipe after its last call
				// (a thread, a forked child): it cannot be trusted with this one.
				p.cfg.Logger.Warn("python worker wrote outside a call; replaced", "pid", w.pid, "bytes", n)
				p.replace(w)
				w = nil
			}
		case <-wait.C:
			return nil, &layer.Error{Kind: layer.Unavailable, Msg: fmt.Sprintf("all %d Python workers stayed busy for %s; try again shortly", p.cfg.Workers, timeout)}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	p.busy.Add(1)
	defer p.busy.Add(-1)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	depth, _ := header["depth"].(int)
	udf, _ := header["layer"].(string)
	var host Host
	if h := p.host.Load(); h != nil {
		host = *h
	}
	rep, err := w.roundTrip(ctx, header, blobs, hostFunc{host: host, pool: p, depth: depth, layer: udf})
	w.setParked(false, p) // a UDF that parked and never came back
	if err != nil || !w.alive() {
		p.replace(w)
		var died *errWorkerDied
		if errors.As(err, &died) {
			msg := "the Python worker died during the call"
			if died.how != "" {
				msg += " (" + died.how + ")"
			}
			return nil, &layer.Error{Kind: layer.WorkerDied, Msg: msg, Logs: died.tail}
		}
		var pe *errProtocol
		if errors.As(err, &pe) {
			p.cfg.Logger.Warn("python worker replaced", "pid", w.pid, "reason", pe.what)
			return nil, &layer.Error{Kind: layer.WorkerDied, Msg: pe.Error() + "; it was replaced and its answer discarded"}
		}
		if err == nil {
			err = errors.New("the Python worker ended after the call")
		}
		return nil, err
	}
	if !p.release(w) { // Close saw this worker busy: end it now
		w.kill()
	}
	return rep, nil
}

// SetHost sets what answers the requests of UDFs to the server (nested runs,
// storage): the server's tile service is made after its pool.
func (p *Pool) SetHost(h Host) { p.host.Store(&h) }

// park counts a worker waiting for the server (n = 1) or back from it (-1).
func (p *Pool) park(n int64) { p.parked.Add(n) }

// maxExtra bounds the workers run beyond Workers for calls nested in
// waiting ones: one per level of nesting a call may go.
func (p *Pool) maxExtra() int { return p.cfg.Workers * layer.MaxDepth }

// grow starts a worker beyond Workers when none is idle and some wait for
// the server: their nested calls get a worker of their own instead of
// waiting for those the calls above them hold.
func (p *Pool) grow() {
	if len(p.idle) > 0 {
		return
	}
	parked := int(p.parked.Load())
	p.mu.Lock()
	need := !p.closed && parked > 0 && p.live < p.cfg.Workers+min(parked, p.maxExtra())
	p.mu.Unlock()
	if need {
		p.spawn()
	}
}

// replace ends a worker that failed or died and starts another.
func (p *Pool) replace(w *worker) {
	w.kill()
	p.restarts.Add(1)
	p.mu.Lock()
	p.live--
	p.mu.Unlock()
	p.spawn()
}

// release makes w idle again, unless the pool was closed or runs workers
// beyond Workers that no waiting call needs any more. Under p.mu, so that
// Close, which drains the idle workers under it too, cannot miss one.
func (p *Pool) release(w *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	if p.live > p.cfg.Workers+int(p.parked.Load()) {
		p.live-- // an extra worker: it ends (the caller kills it)
		return false
	}
	select {
	case p.idle <- w:
		return true
	default:
		return false // cannot happen: the channel holds every worker
	}
}
