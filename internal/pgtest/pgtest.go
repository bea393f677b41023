// Package pgtest runs a real PostgreSQL server for tests, the way
// internal/miniotest runs MinIO.
//
// It is ordinary (non-test) code so that the tests of any package can import it:
//
//	srv := pgtest.Start(t)        // a fresh cluster on 127.0.0.1, stopped in t.Cleanup
//	url := srv.NewDatabase(t)     // "postgres://postgres@127.0.0.1:PORT/t1_…?sslmode=disable"
//	url2 := pgtest.URL(t)         // both at once: a server of its own and one database
//	srv.Stop(); srv.Start()       // an outage: the same port and data afterwards
//
// Every call of [Start] runs initdb into a new temporary directory and starts
// its own postgres (about two seconds in all). Tests that need many databases
// share one server by calling Start once in the parent test and NewDatabase in
// each subtest: databases are cheap (CREATE DATABASE), clusters are not.
//
// The binaries are Debian's, /usr/lib/postgresql/15/bin (package
// postgresql-15, installed by `make deps`); when they are missing the test
// fails, it never skips. PostgreSQL refuses to run as root: when the test runs
// as root, initdb and postgres run as the "postgres" system user that the
// Debian package creates. The server listens on 127.0.0.1 only (and on a unix
// socket inside its temporary directory), trusts every local connection, and
// runs with fsync off: it is for tests, its data is thrown away.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinDir holds initdb, pg_ctl and postgres: Debian's PostgreSQL 15.
const BinDir = "/usr/lib/postgresql/15/bin"

// Timeouts of the server's life cycle.
const (
	// StartTimeout bounds initdb, and then the wait for postgres to accept
	// connections.
	StartTimeout = 60 * time.Second
	// StopGrace is how long Stop waits after SIGINT (PostgreSQL's fast
	// shutdown) before it sends SIGKILL to the process group.
	StopGrace = 5 * time.Second
)

// SuperUser is the cluster's superuser, the user of every URL.
const SuperUser = "postgres"

// Server is a PostgreSQL cluster run by a test.
type Server struct {
	Host    string // "127.0.0.1"
	Port    int
	Dir     string // the temporary directory: data/, sock/, postgres.log
	DataDir string
	SockDir string // unix socket directory
	LogPath string // initdb's and postgres's output

	t    testing.TB
	cred *syscall.Credential // nil unless the test runs as root

	mu   sync.Mutex
	proc *process
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // cmd.Wait's, valid after done
}

// dbCounter numbers the databases of a test binary.
var dbCounter atomic.Int64

// URL starts a server of its own for t (see [Start]) and returns the URL of
// a new database on it.
func URL(t testing.TB) string {
	t.Helper()
	return Start(t).NewDatabase(t)
}

// Start runs initdb into a new temporary directory and starts postgres on a
// free 127.0.0.1 port, waiting until it accepts connections. A t.Cleanup
// stops it and removes the directory, and prints the tail of its log if the
// test failed.
func Start(t testing.TB) *Server {
	t.Helper()
	for _, b := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(BinDir, b)); err != nil {
			t.Fatalf("pgtest: PostgreSQL 15 is not installed (%v); run `make deps` (scripts/deps.sh installs the Debian package postgresql-15)", err)
		}
	}
	s := &Server{Host: "127.0.0.1", t: t}
	if os.Geteuid() == 0 {
		cred, err := postgresUser()
		if err != nil {
			t.Fatalf("pgtest: running as root, so PostgreSQL must run as the postgres system user: %v (the Debian package postgresql-15 creates it; run `make deps`)", err)
		}
		s.cred = cred
	}

	// Not t.TempDir: its parent is 0700, which the postgres user could not
	// traverse when the test runs as root.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	s.Dir = dir
	s.DataDir = filepath.Join(dir, "data")
	s.SockDir = filepath.Join(dir, "sock")
	s.LogPath = filepath.Join(dir, "postgres.log")
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("pgtest: PostgreSQL log (%s), last lines:\n%s", s.LogPath, s.LogTail(16<<10))
		}
		os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	for _, d := range []string{s.DataDir, s.SockDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		if s.cred != nil {
			if err := os.Chown(d, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
				t.Fatalf("pgtest: %v", err)
			}
		}
	}

	start := time.Now()
	if err := s.initdb(); err != nil {
		t.Fatalf("pgtest: initdb: %v\nlog %s:\n%s", err, s.LogPath, s.LogTail(16<<10))
	}
	initTook := time.Since(start)
	for attempt := 1; attempt <= 3; attempt++ {
		// The port is free when chosen; another process can take it before
		// postgres binds it, which is retried with another port.
		port, perr := freePort()
		if perr != nil {
			t.Fatalf("pgtest: %v", perr)
		}
		s.Port = port
		if err = s.start(); err == nil {
			t.Logf("pgtest: PostgreSQL up at %s:%d in %s (initdb %s; dir %s)", s.Host, s.Port,
				time.Since(start).Round(time.Millisecond), initTook.Round(time.Millisecond), dir)
			return s
		}
		if !strings.Contains(s.LogTail(4<<10), "already in use") {
			break
		}
	}
	t.Fatalf("pgtest: starting postgres: %v\nlog %s:\n%s", err, s.LogPath, s.LogTail(16<<10))
	return nil
}

// postgresUser is the credential of the postgres system user.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid %q: %v", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid %q: %v", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// URL is the URL of database db on the server.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", SuperUser, s.Host, s.Port, db)
}

// NewDatabase creates a new, empty database and returns its URL. The
// database is dropped in t.Cleanup (if the server still runs).
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", dbCounter.Add(1), randomHex(4))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// FILE_COPY: faster than WAL_LOG (PostgreSQL 15's default) for the
	// small template of a test cluster.
	if err := s.exec(ctx, "CREATE DATABASE "+name+" STRATEGY FILE_COPY"); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if !s.Running() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return s.URL(name)
}

// exec runs one statement in the postgres database.
func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// Start starts the server again after Stop, on the same port with the same
// data, so that a test can check what survives an outage. It fails the test
// if the server is running or does not come up.
func (s *Server) Start() {
	s.t.Helper()
	if s.Running() {
		s.t.Fatalf("pgtest: Start: postgres on port %d is already running", s.Port)
	}
	start := time.Now()
	if err := s.start(); err != nil {
		s.t.Fatalf("pgtest: restarting postgres: %v\nlog %s:\n%s", err, s.LogPath, s.LogTail(16<<10))
	}
	s.t.Logf("pgtest: PostgreSQL restarted on port %d in %s", s.Port, time.Since(start).Round(time.Millisecond))
}

// Stop stops the server: SIGINT (fast shutdown), then SIGKILL to its process
// group after [StopGrace]. It does nothing if the server is not running, and
// may be called more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	if err := p.stop(); err != nil {
		s.t.Errorf("pgtest: stopping postgres on port %d: %v", s.Port, err)
	}
}

// Running reports whether the server was started and has not been stopped.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// LogTail returns the last max bytes of the log.
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

// env is the environment of initdb and postgres: nothing of the developer's
// PostgreSQL set-up (PG* variables) leaks in.
func (s *Server) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

func (s *Server) openLog() (*os.File, error) {
	return os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(BinDir, name), args...)
	cmd.Dir = s.Dir
	cmd.Env = s.env()
	cmd.SysProcAttr = sysProcAttr()
	cmd.SysProcAttr.Credential = s.cred
	return cmd
}

// initdb creates the cluster: trust authentication, UTF8, the C locale, no
// fsync.
func (s *Server) initdb() error {
	logf, err := s.openLog()
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"-D", s.DataDir, "-U", SuperUser, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"}
	fmt.Fprintf(logf, "=== pgtest %s: initdb %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	cmd := s.command("initdb", args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("initdb did not finish in %s", StartTimeout)
	}
}

// start runs postgres on s.Port and waits until it accepts connections; on
// failure the process is stopped again.
func (s *Server) start() error {
	logf, err := s.openLog()
	if err != nil {
		return err
	}
	args := []string{
		"-D", s.DataDir,
		"-p", strconv.Itoa(s.Port),
		"-k", s.SockDir,
		"-c", "listen_addresses=" + s.Host,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
		"-c", "wal_level=minimal",
		"-c", "max_wal_senders=0",
		"-c", "log_min_messages=warning",
	}
	fmt.Fprintf(logf, "=== pgtest %s: postgres %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := s.command("postgres", args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	p := &process{cmd: cmd, done: make(chan struct{})}

	// Pdeathsig (Linux) fires when the thread that started the process exits,
	// so start and wait for it on a goroutine locked to its thread: that thread
	// lives exactly as long as postgres, or as the test binary.
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
	if err := s.waitReady(p, StartTimeout); err != nil {
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

// waitReady connects to the postgres database until that succeeds.
func (s *Server) waitReady(p *process, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("postgres exited before it was ready: %v", p.err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(context.Background())
		}
		cancel()
		if err == nil {
			return nil
		}
		last = err
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready on port %d after %s (last: %v)", s.Port, timeout, last)
		}
		select {
		case <-p.done:
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// stop sends SIGINT to postgres (fast shutdown), SIGKILL to its process group
// after StopGrace, and waits for it to be reaped.
func (p *process) stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	pid := p.cmd.Process.Pid // Setpgid: the group is the process's own
	// Until done is closed the process is not reaped, so the id is not reused.
	syscall.Kill(pid, syscall.SIGINT)
	select {
	case <-p.done:
		return nil
	case <-time.After(StopGrace):
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("still running 5s after SIGKILL")
	}
}

// freePort returns a port that was free on 127.0.0.1.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
