package main

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestChaosHostileWorkers mixes honest calls with UDFs that attack the worker
// they share: forged reply frames (during and after their call), forks with
// and without the fork hooks, background threads printing a private layer's
// secret, processes left in new sessions. Honest answers, cached or not, must
// all be their own: zero wrong values, zero foreign logs. A UDF must not read
// the server's environment either.
func TestChaosHostileWorkers(t *testing.T) {
	const sentinel = "udftiles-hostile-sentinel-8d1f"
	t.Setenv("UDFTILES_TEST_SENTINEL", sentinel)
	hostile, err := filepath.Abs("../../udfhost/testdata/hostile.py")
	if err != nil {
		t.Fatal(err)
	}
	bin, _ := sharedBinary(t)
	token := "hostile-reader-token"
	dir := t.TempDir()
	chaosWriteFiles(t, dir, map[string]string{
		"config.yaml": fmt.Sprintf(`cache: {memory_mb: 64}
python: {workers: 2, preload: [numpy], cache_dir: pycache, timeout: 30s, queue: 64}
auth:
  bearer:
    - {name: reader, sha256: %s}
udfs:
  - {name: echo, handler: python, path: %s}
  - {name: attack, handler: python, path: %s, cache_max_age: 0s}
  - {name: private, handler: python, path: %s, public: false}
`, hashOf(t, bin, token), hostile, hostile, hostile),
	})
	s := chaosLaunch(t, "server", filepath.Join(dir, "config.yaml"))
	s.waitReady()

	// The server's environment, from UDF code.
	var env struct {
		Readable bool `json:"readable"`
		Found    bool `json:"found"`
	}
	status, body := s.call(t, "GET", "/v1/udfs/attack/run?mode=environ&value="+sentinel, "", "")
	if status != 200 || json.Unmarshal([]byte(body), &env) != nil {
		t.Fatalf("environ: %d %s", status, body)
	}
	if env.Found {
		t.Errorf("a UDF read the server's environment from /proc/<pid>/environ: %s", body)
	}

	requests := chaosPick(600, 3000)
	var (
		wrong, answered, hostileCalls atomic.Int64
		mu                            sync.Mutex
		problems                      []string
		seen                          []string // echo values answered, asked again later
	)
	fail := func(format string, args ...any) {
		wrong.Add(1)
		mu.Lock()
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	hostileModes := []string{"forge", "forge_later", "fork", "cfork", "chatter", "spawn", "daemon", "pool_start"}
	get := func(path, tok string) response {
		h := http.Header{}
		if tok != "" {
			h.Set("Authorization", "Bearer "+tok)
		}
		return s.do("GET", path, h, 60*time.Second)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for c := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(c + 1)))
			for {
				i := int(next.Add(1))
				if i > requests {
					return
				}
				switch k := rng.Intn(10); {
				case k < 2: // an attack; any answer, never a wrong one for others
					hostileCalls.Add(1)
					mode := hostileModes[rng.Intn(len(hostileModes))]
					r := get("/v1/udfs/attack/run?mode="+mode+"&n=777&value=SECRET-attack-"+strconv.Itoa(i), "")
					if r.err != nil {
						fail("%s: %v", mode, r.err)
					}
				case k < 3: // the private layer, whose prints are its own
					v := "SECRET-private-" + strconv.Itoa(i)
					r := get("/v1/udfs/private/run?debug=true&mode=chatter&value="+url.QueryEscape(v), token)
					if r.err == nil && r.status == 200 && !strings.Contains(string(r.body), `"chatter"`) {
						fail("private %s answered %s", v, r.body)
					}
				case k < 5 && len(seen) > 0: // an echo answered before: from the cache
					mu.Lock()
					v := seen[rng.Intn(len(seen))]
					mu.Unlock()
					checkEcho(get("/v1/udfs/echo/run?debug=true&mode=echo&value="+v, ""), v, fail, &answered)
				default:
					v := "v" + strconv.Itoa(i)
					if checkEcho(get("/v1/udfs/echo/run?debug=true&mode=echo&value="+v, ""), v, fail, &answered) {
						mu.Lock()
						seen = append(seen, v)
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("chaos summary: %d requests, %d attacks, %d honest answers checked, %d wrong", requests, hostileCalls.Load(), answered.Load(), wrong.Load())
	if wrong.Load() > 0 {
		t.Fatalf("%d wrong answers; first ones:\n%s", wrong.Load(), strings.Join(problems, "\n"))
	}
	if answered.Load() < int64(requests)/3 {
		t.Errorf("only %d honest answers of %d requests", answered.Load(), requests)
	}
	// Nothing the attacks started still runs.
	waitFor(t, 5*time.Second, "the attacks' processes to end", func() bool {
		return len(sleepers("1777")) == 0
	})
	chaosNoPanics(t, s)
}

// checkEcho checks an answer of the echo mode: a 200 must hold its own value
// and its own print, and no other call's output; 502/503 are allowed (a worker
// an attack broke). It reports whether it was a 200.
func checkEcho(r response, v string, fail func(string, ...any), answered *atomic.Int64) bool {
	if r.err != nil {
		fail("echo %s: %v", v, r.err)
		return false
	}
	if r.status == 502 || r.status == 503 {
		return false
	}
	if r.status != 200 {
		fail("echo %s: status %d: %s", v, r.status, r.body)
		return false
	}
	var got struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil || got.Value != v {
		fail("echo %s answered %s", v, r.body)
		return false
	}
	logs, _ := strconv.Unquote(r.header.Get("X-UDF-Logs"))
	if logs != "echo "+v+"\n" {
		fail("echo %s came with the logs %q", v, logs)
		return false
	}
	answered.Add(1)
	return true
}

// sleepers lists the `sleep arg` processes: what the spawn and daemon attacks
// leave behind when processes of a call survive it.
func sleepers(arg string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && string(cmdline) == "sleep\x00"+arg+"\x00" {
			out = append(out, p)
		}
	}
	return out
}
