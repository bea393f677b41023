package e2e

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
	hostile, err := filepath.Abs("../python/testdata/hostile.py")
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

// TestLargeOutputsBounded: UDFs returning 10000² and 20000² arrays, in tile
// and file mode and every raster format, keep the server's peak RSS within
// the documented bound (cache.memory_mb + 768 MiB); past python.max_output_mb
// the answer is a 413.
func TestLargeOutputsBounded(t *testing.T) {
	hostile, err := filepath.Abs("../python/testdata/hostile.py")
	if err != nil {
		t.Fatal(err)
	}
	const memoryMB = 64
	dir := t.TempDir()
	chaosWriteFiles(t, dir, map[string]string{
		"config.yaml": fmt.Sprintf(`cache: {memory_mb: %d}
python: {workers: 2, preload: [numpy], cache_dir: pycache, timeout: 60s, memory_mb: 3072}
udfs:
  - {name: big, handler: python, path: %s}
`, memoryMB, hostile),
	})
	s := chaosLaunch(t, "server", filepath.Join(dir, "config.yaml"))
	s.waitReady()
	pid := s.cmd.Process.Pid
	start := peakRSS(t, pid)
	type req struct {
		path string
		want int
	}
	var reqs []req
	for _, f := range []string{"png", "npy", "tif", "jpg", "webp"} {
		want := 200
		if f == "jpg" || f == "webp" {
			want = 413 // 100 megapixels: png, tif or npy
		}
		reqs = append(reqs, req{"/v1/udfs/big/run?mode=noise&n=10000&format=" + f, want})
		reqs = append(reqs, req{"/v1/udfs/big/run?mode=noise&n=20000&format=" + f, 413})
	}
	reqs = append(reqs, req{"/v1/udfs/big/tiles/3/4/2.png?mode=noise&n=10000", 200},
		req{"/v1/udfs/big/tiles/3/4/3.png?mode=noise&n=20000", 413})
	// Two at a time: both workers busy with large results.
	var wg sync.WaitGroup
	errs := make(chan string, len(reqs))
	sem := make(chan struct{}, 2)
	for _, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			got := s.do("GET", r.path, nil, 5*time.Minute)
			if got.err != nil || got.status != r.want {
				errs <- fmt.Sprintf("%s: %d %v %.200s, want %d", r.path, got.status, got.err, got.body, r.want)
				return
			}
			if r.want == 413 && !strings.Contains(string(got.body), "max_output_mb") && !strings.Contains(string(got.body), "megapixels") {
				errs <- fmt.Sprintf("%s: 413 without saying why: %.200s", r.path, got.body)
			}
			t.Logf("%s: %d, %d bytes in %s", r.path, got.status, len(got.body), got.took.Round(time.Millisecond))
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	peak := peakRSS(t, pid)
	bound := int64(memoryMB+768) << 20
	t.Logf("chaos summary: server peak RSS %d MiB (%d MiB at start), bound %d MiB", peak>>20, start>>20, bound>>20)
	if peak > bound {
		t.Errorf("peak RSS %d MiB over the bound of %d MiB", peak>>20, bound>>20)
	}
	if status, body := s.call(t, "GET", "/v1/udfs/big/run?mode=echo&value=after", "", ""); status != 200 || !strings.Contains(body, `"after"`) {
		t.Errorf("after the large outputs: %d %s", status, body)
	}
}

// peakRSS is a process's peak resident size (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestChattyResultsStayInTheTier: thousands of small results, each with 60 KiB
// of prints, in a 64 MiB memory tier: the heap stays within the tier and the
// documented overhead, because an entry costs its logs too.
func TestChattyResultsStayInTheTier(t *testing.T) {
	hostile, err := filepath.Abs("../python/testdata/hostile.py")
	if err != nil {
		t.Fatal(err)
	}
	const memoryMB = 64
	bin, _ := sharedBinary(t)
	admin := "chatty-admin-token"
	dir := t.TempDir()
	chaosWriteFiles(t, dir, map[string]string{
		"config.yaml": fmt.Sprintf(`cache: {memory_mb: %d}
python: {workers: 2, cache_dir: pycache, queue: 64}
auth:
  bearer:
    - {name: ops, sha256: %s, admin: true}
udfs:
  - {name: chatty, handler: python, path: %s}
`, memoryMB, hashOf(t, bin, admin), hostile),
	})
	s := chaosLaunch(t, "server", filepath.Join(dir, "config.yaml"))
	s.waitReady()
	// What the heap holds after a collection (the heap profile runs one), not
	// garbage waiting for the next.
	heap := func() int64 {
		h := http.Header{"Authorization": {"Bearer " + admin}}
		if r := s.do("GET", "/debug/pprof/heap?gc=1", h, 30*time.Second); r.status != 200 {
			t.Fatalf("heap profile: %d %v", r.status, r.err)
		}
		r := s.do("GET", "/metrics", h, 10*time.Second)
		for _, line := range strings.Split(string(r.body), "\n") {
			if v, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				return int64(f)
			}
		}
		t.Fatalf("no go_memstats_heap_inuse_bytes in /metrics")
		return 0
	}
	before := heap()
	n := chaosPick(3000, 10000)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				r := s.do("GET", fmt.Sprintf("/v1/udfs/chatty/run?mode=chatty&n=61440&value=r%d", i), nil, 60*time.Second)
				if r.err != nil || r.status != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d calls failed", failed.Load(), n)
	}
	after := heap()
	// The tier, the request aliases (a sixteenth of it), and the server's own
	// working set: the memory bound the README gives.
	bound := before + int64(memoryMB)<<20 + int64(memoryMB)<<20/16 + 32<<20
	t.Logf("chaos summary: %d results of 60 KiB of prints each (%d MiB in all): heap in use %d MiB before, %d MiB after; bound %d MiB",
		n, n*60>>10, before>>20, after>>20, bound>>20)
	if after > bound {
		t.Errorf("heap in use %d MiB after caching %d chatty results in a %d MiB tier: want at most %d MiB", after>>20, n, memoryMB, bound>>20)
	}
	// The last results are still served from memory, with their logs.
	r := s.do("GET", fmt.Sprintf("/v1/udfs/chatty/run?mode=chatty&n=61440&value=r%d&debug=true", n), nil, 10*time.Second)
	if r.status != 200 || !strings.Contains(r.header.Get("X-UDF-Logs"), "chatty r") {
		t.Errorf("the last result: %d, X-Cache %s, logs %.80q", r.status, r.xcache(), r.header.Get("X-UDF-Logs"))
	}
}
