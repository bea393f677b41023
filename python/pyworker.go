package python

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// worker is one long-lived Python process. It runs one call at a time.
type worker struct {
	cmd    *exec.Cmd
	in     *os.File      // our end of the worker's request pipe
	out    *bufio.Reader // the worker's reply pipe
	outF   *os.File
	stderr *tailBuffer
	exited chan struct{} // closed when the process has ended
	pid    int           // the process started
	// pyPID is the interpreter's pid as it reported when ready: every reply
	// must carry it (a wrapper may have started Python as another process).
	pyPID    int
	maxFrame int // the largest reply accepted
	// parked: the call running says it waits for the server (counted in
	// the pool's parked workers).
	parked atomic.Bool
}

// setParked records that the call running waits for the server, or not.
func (w *worker) setParked(on bool, p *Pool) {
	if w.parked.Swap(on) != on {
		if on {
			p.park(1)
		} else {
			p.park(-1)
		}
	}
}

// tailBuffer keeps the last bytes written to it since the last reset: a
// worker's stderr during one call, for the error shown when it dies.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// reset forgets what was written: what a worker wrote during an earlier call
// is never shown with the next one's failure.
func (t *tailBuffer) reset() {
	t.mu.Lock()
	t.buf = t.buf[:0]
	t.mu.Unlock()
}

// startWorker launches the interpreter on the runner and waits until it is ready.
func startWorker(ctx context.Context, cfg Config, dir string, init map[string]any) (*worker, error) {
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	respR, respW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		return nil, err
	}
	cmd := exec.Command(cfg.Interpreter, "-u", dir+"/runner.py")
	cmd.Dir = cfg.WorkDir
	cmd.Env = workerEnv(dir, cfg)
	cmd.ExtraFiles = []*os.File{reqR, respW} // fd 3, fd 4
	w := &worker{cmd: cmd, in: reqW, outF: respR, out: bufio.NewReaderSize(respR, 1<<16),
		stderr: &tailBuffer{max: 16 << 10}, exited: make(chan struct{}), maxFrame: cfg.maxFrame()}
	cmd.Stdout = w.stderr
	cmd.Stderr = w.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		reqR.Close()
		reqW.Close()
		respR.Close()
		respW.Close()
		return nil, fmt.Errorf("cannot start %s: %v (python.interpreter)", cfg.Interpreter, err)
	}
	reqR.Close()
	respW.Close()
	w.pid = cmd.Process.Pid
	go func() {
		_ = cmd.Wait()
		close(w.exited)
	}()
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	rep, err := w.exchange(ctx, init, nil, hostFunc{})
	if err != nil {
		w.kill()
		if tail := w.stderr.String(); tail != "" {
			return nil, fmt.Errorf("worker did not start: %v: %s", err, tail)
		}
		return nil, fmt.Errorf("worker did not start: %v", err)
	}
	if !rep.OK {
		w.kill()
		return nil, fmt.Errorf("worker did not start: %s", rep.Error)
	}
	if rep.PID <= 0 {
		w.kill()
		return nil, fmt.Errorf("worker did not start: its ready message has no pid")
	}
	w.pyPID = rep.PID
	return w, nil
}

// workerEnv is a scrubbed environment: no server secrets or credentials leak in;
// configured secrets reach UDFs through fused.secrets instead.
func workerEnv(dir string, cfg Config) []string {
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + cfg.CacheDir,
		"LANG=C.UTF-8",
		"PYTHONPATH=" + dir,
		"PYTHONDONTWRITEBYTECODE=1",
		"MPLBACKEND=Agg",
		"MPLCONFIGDIR=" + cfg.CacheDir + "/matplotlib",
		"OPENBLAS_NUM_THREADS=1",
		"OMP_NUM_THREADS=1",
	}
	for _, k := range []string{"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, cfg.Env...)
}

// errWorkerDied reports a worker process that ended in the middle of a call.
type errWorkerDied struct{ tail, how string }

func (e *errWorkerDied) Error() string { return "the Python worker died" }

// errProtocol reports a worker that broke the reply protocol: a reply for
// another call or from another process, a frame outside a call, bytes that are
// not a frame. Its answer cannot be trusted, so it is killed.
type errProtocol struct{ what string }

func (e *errProtocol) Error() string { return "the Python worker broke the reply protocol: " + e.what }

// exitStatus says how the process ended ("exit status 1", "signal: killed"), or
// "" while it runs.
func (w *worker) exitStatus() string {
	select {
	case <-w.exited:
		if w.cmd.ProcessState != nil {
			return w.cmd.ProcessState.String()
		}
	default:
	}
	return ""
}

// callID is a new request id: random, so that no UDF can predict the id of a
// call it does not run.
func callID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// roundTrip sends one call and waits for its reply, which must echo the call's
// id and come from the worker's interpreter; anything else kills the worker
// (errProtocol). When ctx ends first the worker is killed too, since a UDF
// cannot be interrupted safely.
func (w *worker) roundTrip(ctx context.Context, header map[string]any, blobs [][]byte, host hostFunc) (*reply, error) {
	if n := w.pending(); n != 0 {
		w.kill()
		return nil, &errProtocol{what: fmt.Sprintf("%d bytes written outside a call", n)}
	}
	w.stderr.reset()
	rep, err := w.exchange(ctx, header, blobs, host)
	if err != nil {
		return nil, err
	}
	if rep.PID != w.pyPID {
		w.kill()
		return nil, &errProtocol{what: fmt.Sprintf("a reply from process %d, not the worker's %d", rep.PID, w.pyPID)}
	}
	return rep, nil
}

// exchange writes a frame with a new id and reads frames until the reply,
// which must carry that id. Frames the worker sends on the way are its
// requests to the server (op "host"), each answered with host on its own
// goroutine, so a call may ask several things at once.
func (w *worker) exchange(ctx context.Context, header map[string]any, blobs [][]byte, host hostFunc) (*reply, error) {
	id := callID()
	header["id"] = id
	type result struct {
		rep *reply
		err error
	}
	done := make(chan result, 1)
	var writes sync.Mutex // the call and the answers share the request pipe
	var asks sync.WaitGroup
	go func() {
		writes.Lock()
		err := writeFrame(w.in, header, blobs)
		writes.Unlock()
		if err != nil {
			done <- result{nil, err}
			return
		}
		for {
			rep, err := readFrame(w.out, w.maxFrame)
			if err != nil {
				done <- result{nil, err}
				return
			}
			if rep.Op != "host" {
				asks.Wait() // no answer is written after the reply
				done <- result{rep, nil}
				return
			}
			if rep.ID != id || rep.PID != w.pyPID {
				done <- result{rep, nil} // checked as a reply: a protocol error
				return
			}
			asks.Add(1)
			go func() {
				defer asks.Done()
				ans := host.answer(ctx, w, rep)
				writes.Lock()
				defer writes.Unlock()
				_ = writeFrame(w.in, ans.header, ans.blobs)
			}()
		}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			w.kill()
			if errors.Is(r.err, io.EOF) || errors.Is(r.err, io.ErrUnexpectedEOF) || errors.Is(r.err, syscall.EPIPE) || errors.Is(r.err, os.ErrClosed) {
				// Give the process a moment to finish writing its last words.
				select {
				case <-w.exited:
				case <-time.After(200 * time.Millisecond):
				}
				return nil, &errWorkerDied{tail: w.stderr.String(), how: w.exitStatus()}
			}
			var fe *frameError
			if errors.As(r.err, &fe) {
				return nil, &errProtocol{what: fe.Error()}
			}
			return nil, r.err
		}
		if r.rep.ID != id {
			w.kill()
			return nil, &errProtocol{what: "a reply for another call"}
		}
		if r.rep.Op == "host" {
			w.kill()
			return nil, &errProtocol{what: "a request to the server from another process"}
		}
		return r.rep, nil
	case <-ctx.Done():
		w.kill()
		<-done
		return nil, ctx.Err()
	}
}

// pending is how many bytes of the reply pipe wait unread (TIOCINQ is
// FIONREAD, which Linux answers for pipes too): between calls, any
// at all means that something in the worker wrote outside a call.
func (w *worker) pending() int {
	n := w.out.Buffered()
	rc, err := w.outF.SyscallConn()
	if err != nil {
		return n
	}
	_ = rc.Control(func(fd uintptr) {
		if m, err := unix.IoctlGetInt(int(fd), unix.TIOCINQ); err == nil {
			n += m
		}
	})
	return n
}

// alive reports whether the process is still running.
func (w *worker) alive() bool {
	select {
	case <-w.exited:
		return false
	default:
		return true
	}
}

// kill ends the process group and every process descended from the worker
// (the UDF may have started children in other groups or sessions), and closes
// the pipes.
func (w *worker) kill() {
	if w.cmd.Process != nil {
		killTree(w.pid)
		_ = syscall.Kill(-w.pid, syscall.SIGKILL)
	}
	w.in.Close()
	select {
	case <-w.exited:
	case <-time.After(5 * time.Second):
	}
	w.outF.Close()
}
