package miniotest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts of the server's life cycle.
const (
	// StartTimeout bounds the wait for a started MinIO to report itself live
	// with its object layer initialised.
	StartTimeout = 30 * time.Second
	// StopGrace is how long Stop waits after SIGTERM before sending SIGKILL.
	StopGrace = 5 * time.Second
)

// Server is a MinIO server run by a test: a single drive in a temporary
// directory, listening on 127.0.0.1 only, stopped in t.Cleanup.
type Server struct {
	Endpoint  string // "http://127.0.0.1:PORT", the S3 endpoint
	Addr      string // "127.0.0.1:PORT", for NewProxy
	AccessKey string // MINIO_ROOT_USER, random
	SecretKey string // MINIO_ROOT_PASSWORD, random
	Region    string // "us-east-1"
	Dir       string // the data directory, kept across Stop and Start
	LogPath   string // MinIO's standard output and error, every run appended

	t       testing.TB
	bin     string
	console string // --console-address; MINIO_BROWSER=off keeps it closed
	certs   string // --certs-dir, so that nothing is written under $HOME

	mu   sync.Mutex
	proc *process
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // cmd.Wait's, valid after done
}

// Start builds MinIO if needed (see [Binary]), starts it on a free 127.0.0.1
// port with a fresh data directory and random root credentials, and waits
// until GET /minio/health/live answers 200 without the "offline" server
// status, at most [StartTimeout]. A t.Cleanup stops it, and prints the tail of
// its log if the test failed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	base := t.TempDir()
	s := &Server{
		AccessKey: "test-" + randomHex(8),
		SecretKey: randomHex(20),
		Region:    "us-east-1",
		Dir:       filepath.Join(base, "data"),
		LogPath:   filepath.Join(base, "minio.log"),
		t:         t,
		bin:       bin,
		certs:     filepath.Join(base, "certs"),
	}
	for _, d := range []string{s.Dir, s.certs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("miniotest: %v", err)
		}
	}
	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("miniotest: MinIO log (%s), last lines:\n%s", s.LogPath, s.LogTail(16<<10))
		}
	})

	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		// The ports are free when chosen; another process can take one before
		// MinIO binds it, which is retried with new ports.
		ports, perr := freePorts(2)
		if perr != nil {
			t.Fatalf("miniotest: %v", perr)
		}
		s.Addr = "127.0.0.1:" + strconv.Itoa(ports[0])
		s.Endpoint = "http://" + s.Addr
		s.console = "127.0.0.1:" + strconv.Itoa(ports[1])
		start := time.Now()
		if err = s.start(); err == nil {
			t.Logf("miniotest: MinIO up at %s in %s (data %s)", s.Endpoint, time.Since(start).Round(time.Millisecond), s.Dir)
			return s
		}
		if !strings.Contains(s.LogTail(4<<10), "address already in use") {
			break
		}
	}
	t.Fatalf("miniotest: starting MinIO: %v\nlog %s:\n%s", err, s.LogPath, s.LogTail(16<<10))
	return nil
}

// Start starts the server again after Stop, on the same address with the same
// data directory and credentials, so that a test can check what survives a
// restart. It fails the test if the server is running or does not come up.
func (s *Server) Start() {
	s.t.Helper()
	if s.Running() {
		s.t.Fatalf("miniotest: Start: MinIO at %s is already running", s.Addr)
	}
	start := time.Now()
	if err := s.start(); err != nil {
		s.t.Fatalf("miniotest: restarting MinIO: %v\nlog %s:\n%s", err, s.LogPath, s.LogTail(16<<10))
	}
	s.t.Logf("miniotest: MinIO restarted at %s in %s", s.Endpoint, time.Since(start).Round(time.Millisecond))
}

// Stop stops the server: SIGTERM, then SIGKILL after [StopGrace]. It does
// nothing if the server is not running, and may be called more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	if err := p.stop(); err != nil {
		s.t.Errorf("miniotest: stopping MinIO at %s: %v", s.Addr, err)
	}
}

// Running reports whether the server was started and has not been stopped.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// LogTail returns the last max bytes of MinIO's log.
func (s *Server) LogTail(max int64) string {
	f, err := os.Open(s.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		f.Seek(fi.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func (s *Server) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		// Nothing of the developer's MinIO or AWS set-up leaks in.
		if strings.HasPrefix(kv, "MINIO_") || strings.HasPrefix(kv, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
}

// start runs MinIO and waits until it is ready; on failure the process is
// stopped again.
func (s *Server) start() error {
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	args := []string{"server", s.Dir, "--address", s.Addr, "--console-address", s.console, "--certs-dir", s.certs}
	fmt.Fprintf(logf, "=== miniotest %s: minio %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.Dir
	cmd.Env = s.env()
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	p := &process{cmd: cmd, done: make(chan struct{})}

	// Pdeathsig (Linux) fires when the thread that started the process exits,
	// so start and wait for it on a goroutine locked to its thread: that thread
	// lives exactly as long as MinIO, or as the test binary.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer close(p.done)
		defer logf.Close()
		if err := cmd.Start(); err != nil {
			p.err = err
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
	}()
	if err := <-started; err != nil {
		return err
	}
	if err := waitReady(s.Endpoint, p, StartTimeout); err != nil {
		if serr := p.stop(); serr != nil {
			err = fmt.Errorf("%w; and stopping it: %v", err, serr)
		}
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// waitReady polls GET /minio/health/live until it answers 200 without
// "x-minio-server-status: offline" (MinIO answers 200 to liveness before its
// object layer is initialised, and flags that with the header).
func waitReady(endpoint string, p *process, timeout time.Duration) error {
	client := &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}
	deadline := time.Now().Add(timeout)
	var last string
	for {
		select {
		case <-p.done:
			return fmt.Errorf("minio exited before it was ready: %v", p.err)
		default:
		}
		resp, err := client.Get(endpoint + "/minio/health/live")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status := resp.Header.Get("X-Minio-Server-Status")
			if resp.StatusCode == http.StatusOK && status != "offline" {
				return nil
			}
			last = fmt.Sprintf("%s, server status %q", resp.Status, status)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("minio not ready at %s after %s (last: %s)", endpoint, timeout, last)
		}
		select {
		case <-p.done:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM to the process group, SIGKILL after StopGrace, and waits
// for the process to be reaped.
func (p *process) stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	pgid := p.cmd.Process.Pid // Setpgid: the group is the process's own
	// Until done is closed the process is not reaped, so the id is not reused.
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(StopGrace):
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("still running 5s after SIGKILL")
	}
}

// freePorts returns n distinct ports that were free on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
