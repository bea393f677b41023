package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startServer writes the config text into dir and runs the shared binary on
// it (launch), ready to answer; it is stopped when the test ends.
func startServer(t *testing.T, dir, config string) *tileServer {
	t.Helper()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	s := launch(t, filepath.Base(dir), cfg)
	s.waitReady()
	return s
}

// log is everything the server wrote to stderr so far.
func (s *tileServer) log() string { return strings.Join(s.logs.all(), "\n") }

// call sends a request with an optional bearer token and body, and returns
// the status and body.
func (s *tileServer) call(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	r := s.doBody(method, path, h, strings.NewReader(body), 90*time.Second)
	if r.err != nil {
		t.Fatalf("%s %s: %v", method, path, r.err)
	}
	return r.status, string(r.body)
}

// hashOf runs `tileserver hash-token` on a token and returns the sha256 it prints.
func hashOf(t *testing.T, bin, token string) string {
	t.Helper()
	cmd := exec.Command(bin, "hash-token", "--name", "x")
	cmd.Stdin = strings.NewReader(token + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hash-token: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "sha256: "); ok {
			return v
		}
	}
	t.Fatalf("hash-token printed no sha256:\n%s", out)
	return ""
}

// TestInlineCodeAndTokens runs the binary with hashed bearer tokens (made by
// `tileserver hash-token`) and inline code on: POST /v1/run runs Python sent
// in the request for the admin only (401 anonymous, 403 for a reader), a
// private layer needs a token, and neither token appears in the logs. With
// inline code off the route answers 404 even to the admin.
func TestInlineCodeAndTokens(t *testing.T) {
	bin, _ := sharedBinary(t)
	dir := t.TempDir()
	const admin, reader = "adm-Zq81-token", "rdr-Jx02-token"
	udf := filepath.Join(dir, "hello.py")
	if err := os.WriteFile(udf, []byte("@fused.udf\ndef udf(name: str = 'x'):\n    return 'hello ' + name\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := func(inline bool) string {
		return `
cache: {memory_mb: 16}
python: {workers: 1, preload: []}
auth:
  inline_code: ` + map[bool]string{true: "true", false: "false"}[inline] + `
  bearer:
    - {name: ops, sha256: ` + hashOf(t, bin, admin) + `, admin: true}
    - {name: analyst, sha256: ` + hashOf(t, bin, reader) + `}
udfs:
  - {name: hello, handler: python, path: hello.py, public: false}
`
	}
	s := startServer(t, dir, conf(true))
	code := `{"code": "@fused.udf\ndef udf(n: int = 2):\n    return str(n * 21)\n", "params": {"n": 3}}`
	for _, c := range []struct {
		token string
		want  int
	}{{"", 401}, {reader, 403}, {"nope", 401}, {admin, 200}} {
		status, body := s.call(t, "POST", "/v1/run", c.token, code)
		if status != c.want {
			t.Errorf("POST /v1/run with %q: %d %s, want %d", c.token, status, body, c.want)
		}
		if c.want == 200 && strings.TrimSpace(body) != "63" {
			t.Errorf("inline code answered %q, want 63", body)
		}
	}
	if status, body := s.call(t, "POST", "/v1/run", admin, `{"code": "def broken(:"}`); status < 400 || status == 401 || status == 403 {
		t.Errorf("inline code that does not compile: %d %s", status, body)
	}
	for _, c := range []struct {
		token string
		want  int
	}{{"", 401}, {reader, 200}, {admin, 200}} {
		if status, body := s.call(t, "GET", "/v1/udfs/hello/run?name=y", c.token, ""); status != c.want {
			t.Errorf("private layer with %q: %d %s, want %d", c.token, status, body, c.want)
		}
	}
	for _, tok := range []string{admin, reader} {
		if strings.Contains(s.log(), tok) {
			t.Errorf("the logs hold a token:\n%s", s.log())
		}
	}

	off := startServer(t, t.TempDir(), strings.Replace(conf(false), "path: hello.py", "path: "+udf, 1))
	if status, _ := off.call(t, "POST", "/v1/run", admin, code); status != 404 {
		t.Errorf("inline code off: POST /v1/run %d, want 404", status)
	}
}

// TestDrainOnSIGTERM: requests in flight when SIGTERM arrives finish with
// their answers, requests arriving during the drain get 503 with Retry-After,
// and the process exits 0.
func TestDrainOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "slow.py"), []byte("import time\n@fused.udf\ndef udf(s: float = 2.0):\n    time.sleep(s)\n    return 'done'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, dir, `
cache: {memory_mb: 16}
python: {workers: 2, preload: []}
udfs:
  - {name: slow, handler: python, path: slow.py}
`)
	// Warm the workers so that the slow calls start at once.
	if status, body := s.call(t, "GET", "/v1/udfs/slow/run?s=0", "", ""); status != 200 {
		t.Fatalf("warm-up: %d %s", status, body)
	}
	type answer struct {
		status int
		body   string
	}
	answers := make(chan answer, 2)
	for i := 0; i < 2; i++ {
		go func() {
			resp, err := http.Get(s.base + "/v1/udfs/slow/run?cache=false&s=2." + string(rune('1'+i)))
			if err != nil {
				answers <- answer{0, err.Error()}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers <- answer{resp.StatusCode, string(b)}
		}()
	}
	// SIGTERM once both calls are in the workers (the pool's busy count).
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, m := s.call(t, "GET", "/metrics", "", "")
		if strings.Contains(m, `udftiles_python_workers{state="busy"} 2`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the two slow calls never ran at once:\n%s", s.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	tr := &http.Transport{DisableKeepAlives: true}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(s.base + "/v1/udfs/slow/run?s=0")
	if err != nil {
		t.Fatalf("a request during the drain: %v", err)
	}
	var e struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(e.Error, "shutting down") {
		t.Errorf("a request during the drain: %d, Retry-After %q, %q", resp.StatusCode, resp.Header.Get("Retry-After"), e.Error)
	}
	for i := 0; i < 2; i++ {
		if a := <-answers; a.status != 200 || strings.TrimSpace(a.body) != "done" {
			t.Errorf("a request in flight at SIGTERM: %d %q", a.status, a.body)
		}
	}
	select {
	case <-s.done:
		if s.err != nil {
			t.Errorf("serve exited with %v after the drain, want 0\n%s", s.err, s.log())
		}
	case <-time.After(25 * time.Second):
		t.Fatal("serve did not stop after the drain")
	}
}
