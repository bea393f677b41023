package python_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/python"
)

// hostile runs testdata/hostile.py in mode with value.
func hostile(u *python.UDF, mode, value string) (map[string]any, string, error) {
	res, err := call(u, q("mode", mode, "value", value), nil)
	if err != nil {
		return nil, logsOf(err), err
	}
	v, ok := res.(*layer.Value)
	if !ok {
		return nil, "", fmt.Errorf("result %T, want JSON", res)
	}
	var out map[string]any
	if err := json.Unmarshal(v.Body, &out); err != nil {
		return nil, "", err
	}
	return out, v.UDFLogs(), nil
}

// wantEcho checks that an echo call returns its own value and logs.
func wantEcho(t *testing.T, u *python.UDF, value string) {
	t.Helper()
	got, logs, err := hostile(u, "echo", value)
	if err != nil {
		t.Fatalf("echo %s: %v", value, err)
	}
	if got["value"] != value {
		t.Fatalf("echo %s answered %v: a reply of another call", value, got)
	}
	if !strings.Contains(logs, "echo "+value) {
		t.Fatalf("echo %s: logs %q lack its own print", value, logs)
	}
}

// TestReplyBelongsToItsCall: a UDF that writes a well-formed reply frame to
// the worker's pipes, or forks without exiting, never shifts the replies of
// later calls: the call that did it is answered 502 (or correctly), the worker
// is replaced when it cannot be trusted, and every later call gets its own
// answer.
func TestReplyBelongsToItsCall(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "hostile.py")})
	wantEcho(t, u, "first")

	t.Run("forged frame during the call", func(t *testing.T) {
		before := p.Stats().Restarts
		got, _, err := hostile(u, "forge", "stolen")
		if err == nil {
			t.Fatalf("a call that forged a frame answered %v", got)
		}
		e := wantKind(t, err, layer.WorkerDied, "protocol")
		_ = e
		waitReady(t, p)
		if p.Stats().Restarts != before+1 {
			t.Errorf("restarts %d, want %d", p.Stats().Restarts, before+1)
		}
		for i := range 5 {
			wantEcho(t, u, "after-forge-"+strconv.Itoa(i))
		}
	})

	t.Run("forged frame after the call", func(t *testing.T) {
		before := p.Stats().Restarts
		if _, _, err := hostile(u, "forge_later", "late"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // the thread has written by now
		// The frame waiting in the pipe is found before the next call is sent:
		// that call goes to a new worker, and is answered.
		wantEcho(t, u, "after-late-forge")
		if p.Stats().Restarts != before+1 {
			t.Errorf("restarts %d, want %d", p.Stats().Restarts, before+1)
		}
	})

	for _, mode := range []string{"fork", "cfork"} {
		t.Run(mode, func(t *testing.T) {
			got, _, err := hostile(u, mode, "forked")
			if err != nil {
				// The child of a fork past the hooks may be seen first: a 502,
				// never a wrong answer.
				wantKind(t, err, layer.WorkerDied)
				waitReady(t, p)
			} else if got["value"] != "forked" {
				t.Fatalf("%s answered %v", mode, got)
			}
			for i := range 10 {
				wantEcho(t, u, mode+"-"+strconv.Itoa(i))
			}
		})
	}
}

// TestCallProcessesAreKilled: processes a call starts, even in a new session
// or as a daemon reparented away from it, end when the call ends.
func TestCallProcessesAreKilled(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "hostile.py")})
	for _, mode := range []string{"spawn", "daemon"} {
		t.Run(mode, func(t *testing.T) {
			got, _, err := hostile(u, mode, "")
			if err != nil {
				t.Fatal(err)
			}
			pid := int(got["pid"].(float64))
			if pid <= 1 {
				t.Fatalf("pid %v", got)
			}
			deadline := time.Now().Add(3 * time.Second)
			for alive(pid) {
				if time.Now().After(deadline) {
					t.Fatalf("process %d started by the call still runs after it ended", pid)
				}
				time.Sleep(20 * time.Millisecond)
			}
			wantEcho(t, u, "after-"+mode)
		})
	}
}

// alive reports a process that exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] != 'Z'
}

// TestLogsBelongToTheirCall: a thread an earlier call started keeps printing,
// and none of it reaches a later caller's logs; a pool thread an earlier call
// made prints into the call that hands it work.
func TestLogsBelongToTheirCall(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "hostile.py")})
	if _, _, err := hostile(u, "chatter", "PRIVATE"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		v := "next-" + strconv.Itoa(i)
		got, logs, err := hostile(u, "echo", v)
		if err != nil || got["value"] != v {
			t.Fatalf("echo: %v %v", got, err)
		}
		if strings.Contains(logs, "SECRET") {
			t.Fatalf("a later call's logs hold an earlier call's thread output: %q", logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, _, err := hostile(u, "pool_start", ""); err != nil {
		t.Fatal(err)
	}
	_, logs, err := hostile(u, "pool_print", "mine")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs, "from the pool mine") || strings.Contains(logs, "SECRET") {
		t.Fatalf("pool thread logs %q: want its own print only", logs)
	}
}

// TestLogFlood: printing far past python.max_log_mb fails the call cleanly
// with cut logs; the worker lives on.
func TestLogFlood(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1, MaxLogMB: 8})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "hostile.py")})
	before := p.Stats().Restarts
	start := time.Now()
	_, err := call(u, q("mode", "flood", "n", "1024"), nil) // 1 GiB of prints
	e := wantKind(t, err, layer.Failed, "max_log_mb")
	if len(e.Logs) > 80<<10 {
		t.Errorf("logs of %d bytes: want them cut to about 64 KiB", len(e.Logs))
	}
	if !strings.Contains(e.Logs, "not kept") {
		t.Errorf("cut logs do not say so: %q...", e.Logs[:min(200, len(e.Logs))])
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("the flood took %s to stop", time.Since(start))
	}
	if p.Stats().Restarts != before {
		t.Errorf("the worker was restarted: a print flood must not kill it")
	}
	wantEcho(t, u, "after-flood")
	// Below the limit, a large print is kept head and tail.
	res, err := call(u, q("mode", "flood", "n", "2"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if logs := res.(layer.Logged).UDFLogs(); len(logs) > 80<<10 || !strings.Contains(logs, "not kept") {
		t.Errorf("2 MiB of prints kept as %d bytes", len(logs))
	}
}

// TestDeadWorkerStderrIsItsCall: the 502 of a worker that died carries what it
// wrote to stderr during that call only.
func TestDeadWorkerStderrIsItsCall(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "hostile.py")})
	if _, _, err := hostile(u, "stderr_then_ok", "A"); err != nil {
		t.Fatal(err)
	}
	_, _, err := hostile(u, "stderr_then_die", "B")
	e := wantKind(t, err, layer.WorkerDied)
	if !strings.Contains(e.Logs, "NOW-B") || strings.Contains(e.Logs, "EARLIER-A") {
		t.Errorf("502 logs %q: want NOW-B and not EARLIER-A", e.Logs)
	}
}

// TestOutputLimit: a result past python.max_output_mb is a 413 and the worker
// stays.
func TestOutputLimit(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1, MaxOutputMB: 1})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "hostile.py")})
	before := p.Stats().Restarts
	_, err := call(u, q("mode", "big", "n", "2000"), nil) // 4 MB
	wantKind(t, err, layer.TooLarge, "max_output_mb")
	if _, err := call(u, q("mode", "big", "n", "500"), nil); err != nil { // 250 kB
		t.Fatal(err)
	}
	if p.Stats().Restarts != before {
		t.Error("the worker was restarted")
	}
}
