// Package miniotest runs a real MinIO server for tests, and a TCP proxy for
// injecting latency and outages in front of it (or of anything else).
//
// It is ordinary (non-test) code so that the tests of any package can import it:
//
//	srv := miniotest.Start(t)           // MinIO on 127.0.0.1, stopped in t.Cleanup
//	srv.CreateBucket(t, "tiles")
//	c := srv.Client(t)                  // *s3.Client, path-style, static credentials
//	p := miniotest.NewProxy(t, srv.Addr)
//	slow := srv.ClientAt(t, p.URL())    // same credentials, through the proxy
//	p.SetLatency(300 * time.Millisecond)
//	p.SetDown(true)
//
// The MinIO binary is built from source by the Go toolchain into the
// repository's git-ignored tools/ folder the first time it is needed (about two
// to four minutes) and reused afterwards; see [Binary]. Everything listens on
// 127.0.0.1 only, and every process started is stopped when the test ends.
package miniotest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// MinioModule and MinioVersion name the MinIO server that [Binary] builds: the
// version `go install github.com/minio/minio@latest` resolved to when this
// package was written, pinned so that every machine tests against the same
// server. Prebuild it (for a Makefile) with
//
//	GOBIN=$PWD/tools go install github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
const (
	MinioModule  = "github.com/minio/minio"
	MinioVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"
)

// buildTimeout bounds one build of MinIO (downloading its modules included).
const buildTimeout = 20 * time.Minute

// Binary returns the path of the MinIO server binary, <repo>/tools/minio,
// building it first if it is missing. The repository root is the nearest
// directory holding go.mod, walking up from the working directory.
//
// Builds are serialised with an exclusive flock on tools/.minio.lock, so that
// the test binaries of several packages that `go test ./...` runs in parallel
// build it once: the others wait for the lock and then find the binary. The
// binary is built in a temporary directory and renamed into place, so a
// half-written tools/minio is never seen. A failed build fails the test with
// the go command's output; it never skips.
func Binary(t testing.TB) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("miniotest: %v", err)
	}
	tools := filepath.Join(root, "tools")
	bin := filepath.Join(tools, "minio")
	if isExecutable(bin) {
		return bin
	}
	if err := os.MkdirAll(tools, 0o755); err != nil {
		t.Fatalf("miniotest: %v", err)
	}
	lock, err := os.OpenFile(filepath.Join(tools, ".minio.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("miniotest: %v", err)
	}
	defer lock.Close()
	waitStart := time.Now()
	if err := flock(lock); err != nil {
		t.Fatalf("miniotest: locking %s: %v", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if isExecutable(bin) { // another test binary built it while we waited
		t.Logf("miniotest: waited %s for another process to build %s", time.Since(waitStart).Round(time.Millisecond), bin)
		return bin
	}

	t.Logf("miniotest: building %s@%s into %s (takes a few minutes the first time)", MinioModule, MinioVersion, bin)
	start := time.Now()
	if err := build(tools, bin); err != nil {
		t.Fatalf("miniotest: building MinIO failed after %s: %v", time.Since(start).Round(time.Second), err)
	}
	t.Logf("miniotest: built MinIO in %s", time.Since(start).Round(time.Second))
	return bin
}

// flock takes an exclusive lock on f, retrying when a signal interrupts it.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// build compiles MinIO into a fresh directory under tools and renames the
// result to bin. It first tries `go install module@version`; if the go command
// refuses that (it has failed while "loading deprecation" information for
// MinIO), it builds through a throwaway tools module instead.
func build(tools, bin string) error {
	tmp, err := os.MkdirTemp(tools, ".minio-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	goCmd := goCommand()

	out, err := runGo(tmp, []string{"GOBIN=" + tmp}, goCmd, "install", MinioModule+"@"+MinioVersion)
	if err != nil {
		first := fmt.Errorf("go install %s@%s: %v\n%s", MinioModule, MinioVersion, err, out)
		if !bytes.Contains(out, []byte("deprecation")) && !bytes.Contains(out, []byte("retract")) {
			return first
		}
		// Fallback: a module that requires MinIO as a tool.
		src := filepath.Join(tmp, "src")
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
		steps := [][]string{
			{"mod", "init", "tools"},
			{"get", "-tool", MinioModule + "@" + MinioVersion},
			{"build", "-o", filepath.Join(tmp, "minio"), MinioModule},
		}
		for _, args := range steps {
			if out, err := runGo(src, nil, goCmd, args...); err != nil {
				return fmt.Errorf("%w\nfallback: go %s: %v\n%s", first, strings.Join(args, " "), err, out)
			}
		}
	}
	built := filepath.Join(tmp, "minio")
	if !isExecutable(built) {
		return fmt.Errorf("the go command succeeded but %s is missing", built)
	}
	return os.Rename(built, bin)
}

func runGo(dir string, env []string, goCmd string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = dir
	// GOFLAGS may carry -mod=... for the main module, which means nothing here.
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "GOWORK=off")
	cmd.Env = append(cmd.Env, env...)
	return cmd.CombinedOutput()
}

// goCommand is the go command on PATH: `go test` puts the toolchain that runs
// the tests first on the PATH of test binaries.
func goCommand() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// RepoRoot is the nearest directory at or above the working directory that
// holds a go.mod file.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the working directory")
		}
		dir = parent
	}
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
