package udfhost

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// worker is one long-lived Python process. It runs one call at a time.
type worker struct {
	cmd    *exec.Cmd
	in     *os.File      // our end of the worker's fd 3
	out    *bufio.Reader // the worker's fd 4
	outF   *os.File
	stderr *tailBuffer
	exited chan struct{} // closed when the process has ended
	pid    int
}

// tailBuffer keeps the last bytes written to it: a worker's stderr, for the error
// shown when it dies.
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

// startWorker launches the interpreter on the runner and waits until it is ready.
func startWorker(ctx context.Context, cfg PythonConfig, dir string, init map[string]any) (*worker, error) {
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
		stderr: &tailBuffer{max: 16 << 10}, exited: make(chan struct{})}
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
	rep, err := w.roundTrip(ctx, init, nil)
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
	return w, nil
}

// workerEnv is a scrubbed environment: no server secrets or credentials leak in;
// configured secrets reach UDFs through fused.secrets instead.
func workerEnv(dir string, cfg PythonConfig) []string {
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

// roundTrip sends one request and waits for its reply. When ctx ends first the
// worker is killed, since a UDF cannot be interrupted safely.
func (w *worker) roundTrip(ctx context.Context, header map[string]any, blobs [][]byte) (*reply, error) {
	type result struct {
		rep *reply
		err error
	}
	done := make(chan result, 1)
	go func() {
		if err := writeFrame(w.in, header, blobs); err != nil {
			done <- result{nil, err}
			return
		}
		rep, err := readFrame(w.out)
		done <- result{rep, err}
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
			return nil, r.err
		}
		return r.rep, nil
	case <-ctx.Done():
		w.kill()
		<-done
		return nil, ctx.Err()
	}
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

// kill ends the process group (the UDF may have started children) and closes pipes.
func (w *worker) kill() {
	if w.cmd.Process != nil {
		_ = syscall.Kill(-w.pid, syscall.SIGKILL)
	}
	w.in.Close()
	select {
	case <-w.exited:
	case <-time.After(5 * time.Second):
	}
	w.outF.Close()
}
