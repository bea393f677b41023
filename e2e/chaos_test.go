package e2e

// Fault injection ("chaos") against the real binary: Python workers killed
// under load, a storm of UDF timeouts, MinIO stopped and restarted under load,
// SIGTERM with requests in flight, a full disk under an export, and a COG
// truncated while it is served. Every scenario checks that no wrong tile was
// served or cached, that every request got an answer within its client
// timeout, and that the server serves correct tiles afterwards.
//
// Everything listens on 127.0.0.1. The short form runs in `go test`; CHAOS=long
// (scripts/chaos.sh) runs more rounds and longer loads. Each scenario logs its
// figures and one line starting "chaos summary:".

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"image/png"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/udftiles/udftiles/export"
	"github.com/udftiles/udftiles/tiles"
)

// chaosLong reports whether CHAOS=long asks for the long form.
func chaosLong() bool { return os.Getenv("CHAOS") == "long" }

// chaosPick is short in the short form and long with CHAOS=long.
func chaosPick[T any](short, long T) T {
	if chaosLong() {
		return long
	}
	return short
}

// chaosUDF is a Python UDF returning a 256×256 uint8 tile whose pixels are
// chaosPixel of the tile, after running pre (indented lines of Python: a
// sleep, a condition on a flag file).
func chaosUDF(pre string) string {
	return `import fused


@fused.udf
def udf(x: int = 0, y: int = 0, z: int = 0):
    import os
    import time
    import numpy as np
` + pre + `
    i = np.arange(256, dtype=np.int64).reshape(256, 1)
    j = np.arange(256, dtype=np.int64).reshape(1, 256)
    return ((x * 31 + y * 17 + z * 7 + i * 3 + j) % 256).astype(np.uint8)
`
}

// chaosPixel is the value chaosUDF gives the pixel at row, col of tile t.
func chaosPixel(t tile, row, col int) uint8 {
	return uint8((t.x*31 + t.y*17 + t.z*7 + row*3 + col) % 256)
}

// chaosCheckPattern decodes a PNG and compares every pixel with chaosPixel.
func chaosCheckPattern(body []byte, t tile) error {
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not a PNG (%d bytes): %v", len(body), err)
	}
	b := img.Bounds()
	if b.Dx() != 256 || b.Dy() != 256 {
		return fmt.Errorf("a %d×%d image, want 256×256", b.Dx(), b.Dy())
	}
	for row := 0; row < 256; row++ {
		for col := 0; col < 256; col++ {
			c := img.At(b.Min.X+col, b.Min.Y+row)
			_, _, _, a := c.RGBA()
			g := color.GrayModel.Convert(c).(color.Gray).Y
			if want := chaosPixel(t, row, col); g != want || a != 0xffff {
				return fmt.Errorf("tile %d/%d/%d pixel (%d,%d) is %d (alpha %d), want %d", t.z, t.x, t.y, row, col, g, a>>8, want)
			}
		}
	}
	return nil
}

// chaosWriteFiles writes files (name → content) into dir.
func chaosWriteFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// chaosLaunch starts a server as launch does, stopped in t.Cleanup; when the
// test failed, the last lines of its log are printed (a chaos run logs every
// failed request).
func chaosLaunch(t *testing.T, name, cfg string) *tileServer {
	t.Helper()
	bin, _ := sharedBinary(t)
	addr := freePort(t)
	s := &tileServer{t: t, name: name, bin: bin, cfg: cfg, addr: addr, base: "http://" + addr, logs: &logLines{}}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			lines := s.logs.all()
			t.Logf("%s's log, last %d of %d lines:\n%s", s.name, min(len(lines), 40), len(lines), strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	s.start()
	return s
}

// chaosResult is one request of a scenario.
type chaosResult struct {
	kind       string // the class of request within its scenario
	id         string // its X-Request-Id
	path       string
	tile       tile
	sent       time.Time
	took       time.Duration
	status     int   // 0 when there was no complete answer
	err        error // no complete answer: refused, reset, client timeout
	xcache     string
	retryAfter string
	closeConn  bool     // the answer said Connection: close
	sum        [32]byte // SHA-256 of the body
	bad        string   // why a 200's body is wrong, or ""
	note       string   // the start of an error body
}

// ok is a 200 whose body passed its check.
func (r chaosResult) ok() bool { return r.err == nil && r.status == 200 && r.bad == "" }

// chaosIDs numbers the requests: each is sent with its X-Request-Id, which
// the server's log names.
var chaosIDs atomic.Int64

// chaosGet sends GET path with a client timeout and checks a 200's body.
func chaosGet(s *tileServer, kind, path string, tl tile, timeout time.Duration, check func([]byte) error) chaosResult {
	id := fmt.Sprintf("chaos-%d", chaosIDs.Add(1))
	sent := time.Now()
	r := s.do("GET", path, http.Header{"X-Request-Id": {id}}, timeout)
	res := chaosResult{kind: kind, id: id, path: path, tile: tl, sent: sent, took: r.took, status: r.status, err: r.err, sum: sha256.Sum256(r.body)}
	if r.err != nil {
		res.status = 0
		return res
	}
	res.xcache = r.header.Get("X-Cache")
	res.retryAfter = r.header.Get("Retry-After")
	if r.status == 200 && check != nil {
		if err := check(r.body); err != nil {
			res.bad = err.Error()
		}
	}
	if r.status != 200 {
		res.note = chaosTruncate(string(r.body), 300)
	}
	return res
}

func chaosTruncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// chaosRecorder collects results from concurrent clients.
type chaosRecorder struct {
	mu sync.Mutex
	rs []chaosResult
}

func (c *chaosRecorder) add(r chaosResult) {
	c.mu.Lock()
	c.rs = append(c.rs, r)
	c.mu.Unlock()
}

func (c *chaosRecorder) all() []chaosResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.rs)
}

// chaosOf keeps the results of the given kinds (all when none is given).
func chaosOf(rs []chaosResult, kinds ...string) []chaosResult {
	if len(kinds) == 0 {
		return rs
	}
	var out []chaosResult
	for _, r := range rs {
		if slices.Contains(kinds, r.kind) {
			out = append(out, r)
		}
	}
	return out
}

// chaosCountOK counts the results that are ok.
func chaosCountOK(rs []chaosResult) int {
	n := 0
	for _, r := range rs {
		if r.ok() {
			n++
		}
	}
	return n
}

// chaosCounts formats how many results had each status: "200=120 502=3";
// "none" counts requests without a complete answer.
func chaosCounts(rs []chaosResult) string {
	m := map[string]int{}
	for _, r := range rs {
		k := strconv.Itoa(r.status)
		if r.err != nil {
			k = "none"
		}
		m[k]++
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none sent"
	}
	return strings.Join(parts, " ")
}

// chaosLatency gives the median, 99th percentile and maximum time of rs.
func chaosLatency(rs []chaosResult) (p50, p99, top time.Duration) {
	if len(rs) == 0 {
		return 0, 0, 0
	}
	d := make([]time.Duration, len(rs))
	for i, r := range rs {
		d[i] = r.took
	}
	slices.Sort(d)
	return d[len(d)/2], d[min(len(d)-1, len(d)*99/100)], d[len(d)-1]
}

func chaosMS(d time.Duration) string { return d.Round(time.Millisecond).String() }

// chaosLoad runs clients until stop is called or ctx ends; each calls its
// function in a loop with the loop counter.
type chaosLoad struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

func startChaosLoad(ctx context.Context, clients int, fn func(ctx context.Context, client, i int)) *chaosLoad {
	l := &chaosLoad{stopc: make(chan struct{})}
	for c := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stopc:
					return
				case <-ctx.Done():
					return
				default:
				}
				fn(ctx, c, i)
			}
		}()
	}
	return l
}

// stop ends the load and waits for the clients' last requests.
func (l *chaosLoad) stop() {
	l.once.Do(func() { close(l.stopc) })
	l.wg.Wait()
}

// chaosParallel calls fn for every item, n at a time.
func chaosParallel[T any](n int, items []T, fn func(T)) {
	ch := make(chan T)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range ch {
				fn(it)
			}
		}()
	}
	for _, it := range items {
		ch <- it
	}
	close(ch)
	wg.Wait()
}

// chaosWorkers lists the server's Python workers: its live child processes
// running the embedded runner.
func chaosWorkers(pid int) []int {
	var kids []int
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var raw []byte
	if len(files) > 0 {
		for _, f := range files {
			b, _ := os.ReadFile(f)
			raw = append(append(raw, b...), ' ')
		}
	} else { // a kernel without CONFIG_PROC_CHILDREN
		raw, _ = exec.Command("pgrep", "-P", strconv.Itoa(pid)).Output()
	}
	for _, f := range strings.Fields(string(raw)) {
		if n, err := strconv.Atoi(f); err == nil && !slices.Contains(kids, n) {
			kids = append(kids, n)
		}
	}
	var out []int
	for _, k := range kids {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", k))
		if err != nil || !bytes.Contains(cmdline, []byte("runner.py")) {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", k))
		i := bytes.LastIndexByte(stat, ')')
		if err != nil || i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
			continue
		}
		out = append(out, k)
	}
	return out
}

// chaosServerTimes reads from the server's log how long it took to answer
// each request it logged (those answered 5xx), by request id.
func chaosServerTimes(s *tileServer) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, line := range s.logs.all() {
		var rec struct {
			Msg string  `json:"msg"`
			ID  string  `json:"request_id"`
			MS  float64 `json:"ms"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "request" && rec.ID != "" {
			out[rec.ID] = time.Duration(rec.MS * float64(time.Millisecond))
		}
	}
	return out
}

// chaosNoPanics fails the test if the server logged a panic.
func chaosNoPanics(t *testing.T, s *tileServer) {
	t.Helper()
	for _, l := range s.logs.all() {
		if strings.Contains(l, "panic") {
			t.Errorf("%s logged a panic: %.500s", s.name, l)
		}
	}
}

// chaosFailures fails the test for each result without an answer, with a
// wrong 200 body, or with a status other than 200 and those allowed (a 503
// must carry Retry-After); at most 5 of each kind are printed.
func chaosFailures(t *testing.T, what string, rs []chaosResult, allowed ...int) {
	t.Helper()
	var noAnswer, wrong, status int
	for _, r := range rs {
		switch {
		case r.err != nil:
			if noAnswer++; noAnswer <= 5 {
				t.Errorf("%s: GET %s: no answer after %s: %v", what, r.path, chaosMS(r.took), r.err)
			}
		case r.status == 200 && r.bad != "":
			if wrong++; wrong <= 5 {
				t.Errorf("%s: GET %s: 200 with a wrong body (X-Cache %q): %s", what, r.path, r.xcache, r.bad)
			}
		case r.status == 200:
		case !slices.Contains(allowed, r.status):
			if status++; status <= 5 {
				t.Errorf("%s: GET %s: %d after %s, want 200 or one of %v: %s", what, r.path, r.status, chaosMS(r.took), allowed, r.note)
			}
		case r.status == 503 && r.retryAfter == "":
			if status++; status <= 5 {
				t.Errorf("%s: GET %s: 503 without Retry-After: %s", what, r.path, r.note)
			}
		}
	}
	if noAnswer+wrong+status > 0 {
		t.Errorf("%s: of %d requests, %d got no answer, %d a wrong tile, %d a status outside 200/%v", what, len(rs), noAnswer, wrong, status, allowed)
	}
}

// TestChaosKillPythonWorkers: the server's Python workers are SIGKILLed
// several times while clients ask for tiles of a cached and an uncached UDF
// layer. Failed requests are 502/503/504, every 200 holds exactly the tile's
// pixels, nothing wrong is cached, no request hangs, and afterwards every
// worker is back and tiles succeed.
func TestChaosKillPythonWorkers(t *testing.T) {
	sharedBinary(t) // built once per run; the wall times logged leave it out
	began := time.Now()
	const workers = 2
	dir := t.TempDir()
	chaosWriteFiles(t, dir, map[string]string{
		"pattern.py": chaosUDF("    time.sleep(0.03)"),
		"config.yaml": fmt.Sprintf(`cache: {memory_mb: 64}
python: {workers: %d, preload: [numpy], cache_dir: pycache, timeout: 30s}
udfs:
  - {name: pattern, handler: python, path: pattern.py}
  - {name: pattern_nc, handler: python, path: pattern.py, cache_max_age: 0s}
`, workers),
	})
	s := chaosLaunch(t, "server", filepath.Join(dir, "config.yaml"))
	s.waitReady()
	pid := s.cmd.Process.Pid

	// References, fetched before the chaos.
	var uncached []tile
	for x := 2200; x < 2204; x++ {
		for y := 1436; y < 1440; y++ {
			uncached = append(uncached, tile{12, x, y})
		}
	}
	ref := map[tile][]byte{}
	for _, tl := range uncached {
		r := s.get(tl.path("pattern_nc"))
		if err := chaosCheckPattern(r.body, tl); err != nil {
			t.Fatalf("before the chaos: %v", err)
		}
		ref[tl] = r.body
	}
	check := func(tl tile) func([]byte) error {
		return func(b []byte) error {
			if err := chaosCheckPattern(b, tl); err != nil {
				return err
			}
			if want, ok := ref[tl]; ok && !bytes.Equal(b, want) {
				return fmt.Errorf("the right pixels, but not the bytes served before the chaos (%d bytes, want %d)", len(b), len(want))
			}
			return nil
		}
	}

	kills := chaosPick(5, 40)
	var rec chaosRecorder
	var next atomic.Int64 // tiles of the cached layer asked for the first time
	fresh := func(i int) tile { return tile{14, 8800 + i%128, 5700 + i/128} }
	ctx, cancel := context.WithTimeout(context.Background(), chaosPick(60*time.Second, 5*time.Minute))
	defer cancel()
	load := startChaosLoad(ctx, 4, func(ctx context.Context, c, i int) {
		rng := rand.New(rand.NewSource(int64(c*1_000_003 + i)))
		var kind, layer string
		var tl tile
		switch i % 3 {
		case 0:
			kind, layer, tl = "uncached", "pattern_nc", uncached[rng.Intn(len(uncached))]
		case 1:
			kind, layer, tl = "cached-new", "pattern", fresh(int(next.Add(1)-1))
		default:
			n := int(next.Load())
			if n == 0 {
				return
			}
			kind, layer, tl = "cached-again", "pattern", fresh(rng.Intn(n))
		}
		rec.add(chaosGet(s, kind, tl.path(layer), tl, 30*time.Second, check(tl)))
	})
	defer load.stop()

	time.Sleep(300 * time.Millisecond)
	rng := rand.New(rand.NewSource(7))
	var lastKill time.Time
	killed := 0
	for killed < kills {
		var pids []int
		waitFor(t, 30*time.Second, "a Python worker to kill", func() bool { pids = chaosWorkers(pid); return len(pids) > 0 })
		victim := pids[rng.Intn(len(pids))]
		if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
			t.Logf("kill %d: %v", victim, err)
			continue
		}
		killed++
		lastKill = time.Now()
		time.Sleep(time.Duration(250+rng.Intn(350)) * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	load.stop()
	storm := chaosOf(rec.all())
	chaosFailures(t, "during the kills", storm, 502, 503, 504)

	// Recovered: workers+2 requests in a row succeed, so that every worker
	// that died while idle has been found and replaced.
	var streakStart time.Time
	streak, probe := 0, 0
	var probes []chaosResult
	deadline := time.Now().Add(60 * time.Second)
	for streak < workers+2 {
		if time.Now().After(deadline) {
			t.Fatalf("not recovered 60s after the last kill; last probes: %s", chaosCounts(probes))
		}
		tl := tile{13, 4400 + probe, 2870}
		probe++
		r := chaosGet(s, "probe", tl.path("pattern_nc"), tl, 30*time.Second, check(tl))
		probes = append(probes, r)
		if r.ok() {
			if streak == 0 {
				streakStart = r.sent
			}
			streak++
			continue
		}
		streak = 0
		time.Sleep(50 * time.Millisecond)
	}
	chaosFailures(t, "recovering", probes, 502, 503, 504)
	recovery := streakStart.Sub(lastKill)

	// Nothing wrong was cached: every cached-layer tile served during the
	// chaos is served again, right.
	var again []chaosResult
	var mu sync.Mutex
	seen := map[tile]bool{}
	var cachedTiles []tile
	for _, r := range chaosOf(storm, "cached-new", "cached-again") {
		if r.ok() && !seen[r.tile] {
			seen[r.tile] = true
			cachedTiles = append(cachedTiles, r.tile)
		}
	}
	chaosParallel(4, cachedTiles, func(tl tile) {
		r := chaosGet(s, "after", tl.path("pattern"), tl, 30*time.Second, check(tl))
		mu.Lock()
		again = append(again, r)
		mu.Unlock()
	})
	chaosFailures(t, "cached tiles after the chaos", again)
	sources := map[string]int{}
	for _, r := range again {
		sources[r.xcache]++
	}

	// Fresh tiles of both layers succeed.
	var after []chaosResult
	var batch []tile
	for i := range 12 {
		batch = append(batch, tile{13, 4500 + i, 2871})
	}
	chaosParallel(4, batch, func(tl tile) {
		for _, layer := range []string{"pattern", "pattern_nc"} {
			r := chaosGet(s, "after", tl.path(layer), tl, 30*time.Second, check(tl))
			mu.Lock()
			after = append(after, r)
			mu.Unlock()
		}
	})
	chaosFailures(t, "new tiles after the chaos", after)

	waitFor(t, 30*time.Second, "every worker idle", func() bool {
		return s.metric("udftiles_python_workers", "state", "idle") == workers
	})
	restarts := s.metric("udftiles_python_worker_restarts_total")
	if restarts < 1 {
		t.Errorf("%d kills and no worker restart counted", killed)
	}
	chaosNoPanics(t, s)

	p50, p99, top := chaosLatency(storm)
	for _, kind := range []string{"uncached", "cached-new", "cached-again"} {
		t.Logf("%-12s %s", kind, chaosCounts(chaosOf(storm, kind)))
	}
	for _, r := range storm {
		if r.status == 502 {
			t.Logf("a 502 reads: %s", r.note)
			break
		}
	}
	t.Logf("chaos summary: kill python workers: %d requests under %d SIGKILLs (%s); %d worker restarts; "+
		"recovered (%d successes in a row) %s after the last kill; cached tiles re-served right %d/%d (X-Cache %v); "+
		"new tiles after %s; latency p50 %s p99 %s max %s; wall %s",
		len(storm), killed, chaosCounts(storm), int(restarts), workers+2, chaosMS(recovery),
		chaosCountOK(again), len(again), sources, chaosCounts(after), chaosMS(p50), chaosMS(p99), chaosMS(top), chaosMS(time.Since(began)))
}

// TestChaosUDFTimeouts: a storm of calls past the UDF's time limit (tiles of
// even x sleep 30s while a flag file exists) beside fast tiles. Slow tiles
// answer 504 (or 503 when no worker was free) within the limit plus slack,
// fast tiles keep succeeding, and once the flag is gone the slow tiles render
// anew: no timed-out result was cached.
func TestChaosUDFTimeouts(t *testing.T) {
	sharedBinary(t) // built once per run; the wall times logged leave it out
	began := time.Now()
	const workers = 4
	const limit = time.Second
	// A call waits up to the limit for a worker, then runs up to the limit.
	bound := 2*limit + 4*time.Second
	dir := t.TempDir()
	flag := filepath.Join(dir, "slow.flag")
	chaosWriteFiles(t, dir, map[string]string{
		"slow.flag":   "",
		"slowfast.py": chaosUDF(fmt.Sprintf("    if x %% 2 == 0 and os.path.exists(%q):\n        time.sleep(30)", flag)),
		"config.yaml": fmt.Sprintf(`cache: {memory_mb: 64}
python: {workers: %d, preload: [numpy], cache_dir: pycache, timeout: 30s}
udfs:
  - {name: slowfast, handler: python, path: slowfast.py, timeout: %s}
`, workers, limit),
	})
	s := chaosLaunch(t, "server", filepath.Join(dir, "config.yaml"))
	s.waitReady()
	s.get("/v1/udfs/slowfast") // inspects the UDF

	slow := []tile{{12, 2200, 1436}, {12, 2202, 1436}, {12, 2204, 1436}, {12, 2206, 1436}}
	repeat := []tile{{12, 2201, 1436}, {12, 2203, 1436}, {12, 2205, 1436}, {12, 2207, 1436}}
	var next atomic.Int64
	var rec chaosRecorder
	dur := chaosPick(4*time.Second, 45*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	const slowClients = 3 // of the 4 workers
	load := startChaosLoad(ctx, slowClients+3, func(ctx context.Context, c, i int) {
		if c < slowClients {
			tl := slow[(slowClients*i+c)%len(slow)]
			rec.add(chaosGet(s, "slow", tl.path("slowfast"), tl, 30*time.Second, func([]byte) error {
				return errors.New("a slow tile answered 200 while its UDF sleeps 30s")
			}))
			time.Sleep(100 * time.Millisecond)
			return
		}
		tl := repeat[(i+c)%len(repeat)]
		if i%2 == 1 {
			n := int(next.Add(1) - 1)
			tl = tile{12, 2301 + 2*(n%64), 1500 + n/64} // odd x: fast
		}
		rec.add(chaosGet(s, "fast", tl.path("slowfast"), tl, 30*time.Second, func(b []byte) error { return chaosCheckPattern(b, tl) }))
		time.Sleep(10 * time.Millisecond)
	})
	defer load.stop()
	<-ctx.Done()
	load.stop()
	stormEnd := time.Now()
	all := rec.all()
	slowRs, fastRs := chaosOf(all, "slow"), chaosOf(all, "fast")

	chaosFailures(t, "slow tiles", slowRs, 503, 504)
	// The bound holds for the server's time to answer, from its log (the
	// client's own measure also counts the test process's delays on a busy
	// machine; its timeout bounds it).
	served := chaosServerTimes(s)
	timeouts := 0
	var serverTook []chaosResult
	for _, r := range slowRs {
		if r.status == 504 {
			timeouts++
		}
		took, ok := served[r.id]
		if !ok {
			took = r.took
		}
		serverTook = append(serverTook, chaosResult{took: took})
		if r.err == nil && took > bound {
			t.Errorf("slow tile %s answered %d after %s (server side %v), want within %s (limit %s)", r.path, r.status, chaosMS(took), ok, bound, limit)
		}
	}
	if timeouts == 0 {
		t.Errorf("no slow tile answered 504: %s", chaosCounts(slowRs))
	}
	chaosFailures(t, "fast tiles", fastRs, 503)
	okFast := chaosCountOK(fastRs)
	if len(fastRs) == 0 || float64(okFast) < 0.8*float64(len(fastRs)) {
		t.Errorf("fast tiles: %d of %d succeeded during the storm, want at least 80%%", okFast, len(fastRs))
	}

	// Recovery: every worker idle again.
	waitFor(t, 30*time.Second, "every worker idle after the storm", func() bool {
		return s.metric("udftiles_python_workers", "state", "idle") == workers
	})
	recovery := time.Since(stormEnd)
	restarts := s.metric("udftiles_python_worker_restarts_total")

	// Fast now: each slow tile renders anew (no timed-out result was kept),
	// then comes from memory.
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	var after []chaosResult
	for _, tl := range slow {
		for _, want := range []string{"miss", "memory"} {
			r := chaosGet(s, "after", tl.path("slowfast"), tl, 30*time.Second, func(b []byte) error { return chaosCheckPattern(b, tl) })
			after = append(after, r)
			if r.ok() && r.xcache != want {
				t.Errorf("slow tile %s after the storm: X-Cache %q, want %q", r.path, r.xcache, want)
			}
		}
	}
	chaosFailures(t, "slow tiles after the storm", after)
	// Fast tiles served during the storm are served again, right.
	var again []chaosResult
	for _, r := range fastRs {
		if r.ok() && len(again) < 64 {
			again = append(again, chaosGet(s, "again", r.path, r.tile, 30*time.Second, func(b []byte) error { return chaosCheckPattern(b, r.tile) }))
		}
	}
	chaosFailures(t, "fast tiles again", again)
	chaosNoPanics(t, s)

	sp50, _, smax := chaosLatency(serverTook)
	_, _, cmax := chaosLatency(slowRs)
	fp50, fp99, ftop := chaosLatency(fastRs)
	t.Logf("chaos summary: udf timeouts: %s storm, limit %s: slow tiles %d (%s), answered in p50 %s max %s (bound %s; client side max %s); "+
		"fast tiles %d (%s), %.1f%% ok, p50 %s p99 %s max %s; %d worker restarts; workers idle %s after the storm; "+
		"slow tiles after the storm %s; wall %s",
		dur, limit, len(slowRs), chaosCounts(slowRs), chaosMS(sp50), chaosMS(smax), bound, chaosMS(cmax),
		len(fastRs), chaosCounts(fastRs), 100*float64(okFast)/float64(max(1, len(fastRs))), chaosMS(fp50), chaosMS(fp99), chaosMS(ftop),
		int(restarts), chaosMS(recovery), chaosCounts(after), chaosMS(time.Since(began)))
}

// TestChaosMinIORestartUnderLoad: MinIO is stopped and started again (same
// port and data) under load on two servers sharing the S3 tier, once in the
// short form and four times in the long one. No request fails or hangs,
// every body equals the tile rendered without any cache, writes resume (new
// tiles' objects appear), and a fresh server reads back from S3 exactly the
// bytes rendered.
func TestChaosMinIORestartUnderLoad(t *testing.T) {
	sharedBinary(t) // built once per run; the wall times logged leave it out
	began := time.Now()
	m := startMinIO(t)
	cfg := writeConfig(t, m, s3Config{endpoint: m.Endpoint})
	a, b := chaosLaunch(t, "A", cfg), chaosLaunch(t, "B", cfg)
	a.waitReady()
	b.waitReady()
	elev := s3Prefix + "/elevation/"

	warm := demoTiles(11)
	for _, tl := range warm {
		a.get(tl.path("elevation"))
	}
	waitObjects(t, m, elev, len(warm))
	var fresh []tile
	for z := 13; z <= 16; z++ {
		fresh = append(fresh, demoTiles(z)...)
	}
	var next atomic.Int64
	var ranOut atomic.Bool
	newTile := func() (tile, bool) {
		i := int(next.Add(1) - 1)
		if i >= len(fresh) {
			ranOut.Store(true)
			return tile{}, false
		}
		return fresh[i], true
	}

	var rec chaosRecorder
	forB := make(chan tile, 1<<14) // tiles A rendered, for B to read
	ctx, cancel := context.WithTimeout(context.Background(), chaosPick(90*time.Second, 8*time.Minute))
	defer cancel()
	load := startChaosLoad(ctx, 4, func(ctx context.Context, c, i int) {
		pace := time.After(chaosPick(30*time.Millisecond, 10*time.Millisecond))
		defer func() { <-pace }()
		if c < 2 { // on A: tiles never asked for, rendered and written to S3
			tl, ok := newTile()
			if !ok {
				time.Sleep(10 * time.Millisecond)
				return
			}
			r := chaosGet(a, "A", tl.path("elevation"), tl, 30*time.Second, nil)
			rec.add(r)
			if r.ok() {
				select {
				case forB <- tl:
				default:
				}
			}
			return
		}
		// On B: what A rendered (S3 reads), else the warm tiles.
		tl := warm[(2*i+c)%len(warm)]
		select {
		case tl = <-forB:
		default:
		}
		rec.add(chaosGet(b, "B", tl.path("elevation"), tl, 30*time.Second, nil))
	})
	defer load.stop()

	cycles := chaosPick(1, 4)
	rng := rand.New(rand.NewSource(3))
	var outages, comeback []time.Duration
	for c := range cycles {
		time.Sleep(chaosPick(700*time.Millisecond, time.Duration(1500+rng.Intn(2000))*time.Millisecond))
		down := chaosPick(1500*time.Millisecond, time.Duration(1000+rng.Intn(3000))*time.Millisecond)
		m.Stop()
		stopped := time.Now()
		waitFor(t, 20*time.Second, fmt.Sprintf("A to log s3 cache: unavailable (outage %d)", c+1), func() bool {
			return a.logs.count("s3 cache: unavailable") > c
		})
		for time.Since(stopped) < down {
			time.Sleep(20 * time.Millisecond)
		}
		m.Start()
		started := time.Now()
		outages = append(outages, started.Sub(stopped))
		waitFor(t, 60*time.Second, fmt.Sprintf("A to log s3 cache: reachable again (outage %d)", c+1), func() bool {
			return a.logs.count("s3 cache: reachable again") > c
		})
		comeback = append(comeback, time.Since(started))
	}
	time.Sleep(500 * time.Millisecond)
	load.stop()
	if ranOut.Load() {
		t.Fatalf("the load ran out of new tiles (%d)", len(fresh))
	}
	storm := rec.all()
	chaosFailures(t, "under MinIO restarts", storm)
	_, p99, top := chaosLatency(storm)
	// An outage costs a request at most the S3 read budget (0.3s); 10s leaves
	// room for a busy machine, where the test process itself waits.
	if top > 10*time.Second {
		t.Errorf("the slowest request took %s, want < 10s", chaosMS(top))
	}

	// Writes resume: new tiles rendered now are written to S3.
	var resumed []tile
	for range 5 {
		tl, ok := newTile()
		if !ok {
			t.Fatal("ran out of new tiles")
		}
		a.getCache(tl.path("elevation"), "miss")
		resumed = append(resumed, tl)
	}
	resumeStart := time.Now()
	waitFor(t, 20*time.Second, "the objects of tiles rendered after the restarts", func() bool {
		keys := m.Objects(t, s3Bucket, elev)
		for _, tl := range resumed {
			if !slices.ContainsFunc(keys, tl.in) {
				return false
			}
		}
		return true
	})
	resumeWait := time.Since(resumeStart)

	// References: every tile rendered anew without any cache.
	paths := map[string]bool{}
	var pathList []string
	addPath := func(p string) {
		if !paths[p] {
			paths[p] = true
			pathList = append(pathList, p)
		}
	}
	for _, r := range storm {
		addPath(r.path)
	}
	for _, tl := range resumed {
		addPath(tl.path("elevation"))
	}
	ref := map[string][32]byte{}
	var mu sync.Mutex
	chaosParallel(4, pathList, func(p string) {
		r := a.do("GET", p+"?cache=false", nil, 30*time.Second)
		mu.Lock()
		defer mu.Unlock()
		if r.err != nil || r.status != 200 {
			t.Errorf("reference %s: %d %v", p, r.status, r.err)
			return
		}
		if _, err := png.Decode(bytes.NewReader(r.body)); err != nil {
			t.Errorf("reference %s is not a PNG: %v", p, err)
		}
		ref[p] = sha256.Sum256(r.body)
	})
	wrong := 0
	for _, r := range storm {
		if want, ok := ref[r.path]; ok && r.ok() && r.sum != want {
			if wrong++; wrong <= 5 {
				t.Errorf("GET %s on %s (X-Cache %s): the body differs from the tile rendered without a cache", r.path, r.kind, r.xcache)
			}
		}
	}

	// Every object in the bucket is whole and holds the tile rendered
	// without a cache.
	keys := m.Objects(t, s3Bucket, elev)
	s3c := m.Client(t)
	var corrupt atomic.Int64
	chaosParallel(4, keys, func(key string) {
		parts := strings.Split(key, "/") // prefix/elevation/version/z/x/y/hash.png
		if len(parts) != 7 {
			t.Errorf("object %s: not a tile's key", key)
			return
		}
		p := fmt.Sprintf("/v1/udfs/elevation/tiles/%s/%s/%s.png", parts[3], parts[4], parts[5])
		mu.Lock()
		want, ok := ref[p]
		mu.Unlock()
		if !ok {
			r := a.do("GET", p+"?cache=false", nil, 30*time.Second)
			if r.err != nil || r.status != 200 {
				t.Errorf("reference %s: %d %v", p, r.status, r.err)
				return
			}
			want = sha256.Sum256(r.body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var body []byte
		obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String(key)})
		if err == nil {
			body, err = io.ReadAll(obj.Body)
			obj.Body.Close()
		}
		if err == nil {
			body, err = chaosObjectBody(body)
		}
		if err == nil && sha256.Sum256(body) != want {
			err = errors.New("its body differs from the tile rendered without a cache")
		}
		if err != nil {
			if corrupt.Add(1) <= 5 {
				t.Errorf("object %s: %v", key, err)
			}
		}
	})

	// A server started now reads back from S3 the same bytes (with a read
	// budget of 5s: a busy machine must not turn S3 hits into misses).
	c := chaosLaunch(t, "C", writeConfig(t, m, s3Config{endpoint: m.Endpoint, readTimeout: "5s"}))
	c.waitReady()
	var fromC []chaosResult
	chaosParallel(4, pathList, func(p string) {
		r := chaosGet(c, "C", p, tile{}, 30*time.Second, func([]byte) error { return nil })
		if r.ok() && r.sum != ref[p] {
			r.bad = "differs from the tile rendered without a cache"
		}
		if r.ok() && r.xcache != "s3" && r.xcache != "miss" {
			r.bad = "X-Cache " + r.xcache + " on a fresh server"
		}
		mu.Lock()
		fromC = append(fromC, r)
		mu.Unlock()
	})
	chaosFailures(t, "a fresh server after the restarts", fromC)
	cSources := map[string]int{}
	for _, r := range fromC {
		cSources[r.xcache]++
	}
	for _, tl := range resumed {
		p := tl.path("elevation")
		i := slices.IndexFunc(fromC, func(r chaosResult) bool { return r.path == p })
		if i >= 0 && fromC[i].xcache != "s3" {
			t.Errorf("%s, written after the restarts, came to a fresh server as X-Cache %q, want s3", p, fromC[i].xcache)
		}
	}
	for _, s := range []*tileServer{a, b, c} {
		chaosNoPanics(t, s)
	}

	sources := map[string]int{}
	for _, r := range storm {
		sources[r.kind+":"+r.xcache]++
	}
	t.Logf("outages %v; reachable again (as A logged it) %v after each restart", outages, comeback)
	t.Logf("chaos summary: minio restart: %d requests on 2 servers through %d MinIO stop/start cycles (%s), %d wrong bodies, "+
		"X-Cache %v, p99 %s max %s; writes resumed (objects of 5 new tiles within %s); %d objects, %d corrupt or wrong; "+
		"a fresh server read back %d tiles (X-Cache %v), all equal to an uncached render; wall %s",
		len(storm), cycles, chaosCounts(storm), wrong, sources, chaosMS(p99), chaosMS(top),
		chaosMS(resumeWait), len(keys), corrupt.Load(), len(fromC), cSources, chaosMS(time.Since(began)))
}

// chaosObjectBody checks a cache object of the S3 tier (an 8-byte magic, a
// big-endian uint32 header length, a JSON header with the body's SHA-256,
// the body) and returns its body.
func chaosObjectBody(b []byte) ([]byte, error) {
	if len(b) < 12 || string(b[:4]) != "UDFT" {
		return nil, fmt.Errorf("not a cache object: %.16q", b)
	}
	n := int(binary.BigEndian.Uint32(b[8:12]))
	if 12+n > len(b) {
		return nil, fmt.Errorf("the header (%d bytes) is cut short", n)
	}
	var h struct {
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal(b[12:12+n], &h); err != nil {
		return nil, fmt.Errorf("header: %v", err)
	}
	body := b[12+n:]
	if sum := sha256.Sum256(body); fmt.Sprintf("%x", sum) != h.SHA256 {
		return nil, fmt.Errorf("the body (%d bytes) does not match the checksum in its header", len(body))
	}
	return body, nil
}

// TestChaosSIGTERMInFlight: SIGTERM reaches the server while slow requests
// (a UDF sleeping 2.5s) are in flight. They complete with 200 and the right
// tile; requests on new connections while they run get 503 with Retry-After
// and Connection: close (/readyz too); after, they get 503 or find the
// listener closed (refused, or reset when they reach it as it closes: the
// kernel drops connections not yet accepted); the process exits 0 within the
// drain bound (20s).
func TestChaosSIGTERMInFlight(t *testing.T) {
	sharedBinary(t) // built once per run; the wall times logged leave it out
	began := time.Now()
	const inflight = 3
	const sleep = 2500 * time.Millisecond // the UDF's
	const drainBound = 20 * time.Second
	dir := t.TempDir()
	chaosWriteFiles(t, dir, map[string]string{
		"sleepy.py": chaosUDF(fmt.Sprintf("    time.sleep(%g)", sleep.Seconds())),
		"config.yaml": fmt.Sprintf(`cache: {memory_mb: 16}
python: {workers: %d, preload: [numpy], cache_dir: pycache, timeout: 30s}
udfs:
  - {name: sleepy, handler: python, path: sleepy.py}
`, inflight),
	})
	rounds := chaosPick(1, 3)
	var figures []string
	for round := range rounds {
		s := chaosLaunch(t, fmt.Sprintf("server %d", round+1), filepath.Join(dir, "config.yaml"))
		s.waitReady()
		s.get("/v1/udfs/sleepy") // inspects the UDF

		type flight struct {
			r    chaosResult
			done time.Time
		}
		flights := make(chan flight, inflight)
		for i := range inflight {
			tl := tile{12, 2200 + i, 1436 + 10*round}
			go func() {
				r := chaosGet(s, "in-flight", tl.path("sleepy"), tl, 30*time.Second, func(b []byte) error { return chaosCheckPattern(b, tl) })
				flights <- flight{r, time.Now()}
			}()
		}
		waitFor(t, 20*time.Second, "every slow request running in a worker", func() bool {
			return s.metric("udftiles_python_workers", "state", "busy") == inflight
		})
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		sigterm := time.Now()

		// Probes on new connections until the process is gone.
		probeClient := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
		var probes []chaosResult
		probesDone := make(chan struct{})
		go func() {
			defer close(probesDone)
			wait := 250 * time.Millisecond // the first leaves the server time to take the signal
			for i := 0; ; i++ {
				select {
				case <-s.done:
					return
				case <-time.After(wait):
				}
				wait = 100 * time.Millisecond
				if time.Since(sigterm) > drainBound+10*time.Second {
					return
				}
				path := "/readyz"
				if i%2 == 1 {
					path = tile{12, 2300 + i, 1436}.path("sleepy")
				}
				probes = append(probes, chaosProbe(probeClient, s.base+path, path))
			}
		}()

		var fl []flight
		for range inflight {
			select {
			case f := <-flights:
				fl = append(fl, f)
			case <-time.After(40 * time.Second):
				t.Fatalf("an in-flight request did not finish within 40s of SIGTERM")
			}
		}
		var exited time.Time
		select {
		case <-s.done:
			exited = time.Now()
		case <-time.After(drainBound + 5*time.Second):
			t.Errorf("the server did not exit %s after SIGTERM", drainBound+5*time.Second)
			_ = s.cmd.Process.Kill()
			<-s.done
			exited = time.Now()
		}
		<-probesDone

		var firstDone, lastDone time.Time
		var rs []chaosResult
		for _, f := range fl {
			rs = append(rs, f.r)
			if firstDone.IsZero() || f.done.Before(firstDone) {
				firstDone = f.done
			}
			if f.done.After(lastDone) {
				lastDone = f.done
			}
		}
		chaosFailures(t, "in-flight requests", rs)
		if s.err != nil {
			t.Errorf("the server exited with %v after SIGTERM, want status 0", s.err)
		}
		if exited.Sub(sigterm) > drainBound+5*time.Second {
			t.Errorf("the server exited %s after SIGTERM, want within the drain bound %s", chaosMS(exited.Sub(sigterm)), drainBound)
		}

		// While requests are in flight, a new request is refused with 503;
		// after, the listener may be closed. The server cannot have finished
		// an in-flight request before its UDF slept from when it was sent:
		// probes sent before then were certainly sent while it ran (the time
		// the client saw the answers arrive can lag on a busy machine).
		var firstSent time.Time
		for _, f := range fl {
			if firstSent.IsZero() || f.r.sent.Before(firstSent) {
				firstSent = f.r.sent
			}
		}
		cutoff := firstSent.Add(sleep)
		var during, later []chaosResult
		for _, p := range probes {
			if p.sent.Before(cutoff) {
				during = append(during, p)
			} else {
				later = append(later, p)
			}
		}
		if len(during) == 0 {
			t.Errorf("no probe was sent while the requests were in flight; the scenario proves nothing")
		}
		for _, p := range during {
			switch {
			case p.err != nil:
				t.Errorf("GET %s %s after SIGTERM, while requests were in flight: no answer (%v); want 503 with Retry-After and Connection: close",
					p.path, chaosMS(p.sent.Sub(sigterm)), p.err)
			case p.status != 503 || p.retryAfter == "" || !p.closeConn:
				t.Errorf("GET %s %s after SIGTERM, while requests were in flight: %d, Retry-After %q, Connection: close %v; want 503 with Retry-After and Connection: close",
					p.path, chaosMS(p.sent.Sub(sigterm)), p.status, p.retryAfter, p.closeConn)
			}
		}
		for _, p := range later {
			if chaosConnClosed(p.err) == "" && (p.err != nil || p.status != 503 || p.retryAfter == "") {
				t.Errorf("GET %s %s after SIGTERM, after the in-flight requests: %d %v, Retry-After %q; want 503 with Retry-After or a refused (or, as the listener closes, reset) connection",
					p.path, chaosMS(p.sent.Sub(sigterm)), p.status, p.err, p.retryAfter)
			}
		}
		figures = append(figures, fmt.Sprintf("round %d: in flight %s, done %s–%s after SIGTERM, exit %s after SIGTERM (%v); probes while in flight %s, after %s",
			round+1, chaosCounts(rs), chaosMS(firstDone.Sub(sigterm)), chaosMS(lastDone.Sub(sigterm)), chaosMS(exited.Sub(sigterm)), s.err,
			chaosProbeCounts(during), chaosProbeCounts(later)))
		t.Log(figures[len(figures)-1])
		chaosNoPanics(t, s)
	}
	t.Logf("chaos summary: sigterm in flight: %d rounds of %d requests sleeping %s; %s; wall %s",
		rounds, inflight, sleep, strings.Join(figures, "; "), chaosMS(time.Since(began)))
}

// chaosProbe sends one GET on a new connection.
func chaosProbe(c *http.Client, url, path string) chaosResult {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sent := time.Now()
	r := chaosResult{kind: "probe", path: path, sent: sent}
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		r.err = err
		return r
	}
	resp, err := c.Do(req)
	if err != nil {
		r.err, r.took = err, time.Since(sent)
		return r
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.took, r.err = time.Since(sent), err
	if err == nil {
		r.status = resp.StatusCode
	}
	r.retryAfter = resp.Header.Get("Retry-After")
	r.closeConn = resp.Close
	if r.status != 200 {
		r.note = chaosTruncate(string(body), 200)
	}
	return r
}

// chaosConnClosed names how a request found the listener closed: "refused",
// or "reset" when the connection was dropped without an answer; "" for any
// other outcome.
func chaosConnClosed(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), strings.HasSuffix(err.Error(), ": EOF"):
		return "reset"
	}
	return ""
}

// chaosProbeCounts is chaosCounts with refused and reset connections told apart.
func chaosProbeCounts(rs []chaosResult) string {
	m := map[string]int{}
	for _, r := range rs {
		switch {
		case chaosConnClosed(r.err) != "":
			m[chaosConnClosed(r.err)]++
		case r.err != nil:
			m["none"]++
		default:
			m[strconv.Itoa(r.status)]++
		}
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "none sent"
	}
	return strings.Join(parts, " ")
}

// TestChaosFullDisk: `tileserver export` of the DEM to an MBTiles and to a
// directory on a 2 MiB tmpfs that is almost full (a user and mount namespace,
// as export's TestFullFileSystem, so no root is needed). The export exits
// non-zero saying the disk is full, the archive does not appear and the
// directory holds only whole tiles; with the space freed the same command
// completes with exactly the tiles of an export elsewhere.
func TestChaosFullDisk(t *testing.T) {
	if dir := os.Getenv("CHAOS_TINYFS"); dir != "" {
		chaosTinyFS(t, dir)
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux namespaces")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare(1)")
	}
	ns := []string{"--user", "--map-root-user", "--mount"}
	if out, err := exec.Command(unshare, append(ns, "sh", "-c", `d=$(mktemp -d) && { mount -t tmpfs -o size=64k tmpfs "$d" && umount "$d"; s=$?; rmdir "$d"; exit $s; }`)...).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs in a user namespace (%v: %s)", err, bytes.TrimSpace(out))
	}
	bin, demo := sharedBinary(t)
	began := time.Now()
	work := t.TempDir()
	cfg := filepath.Join(work, "config.yaml")
	chaosWriteFiles(t, work, map[string]string{"config.yaml": fmt.Sprintf(
		"cache: {memory_mb: 16}\nudfs:\n  - {name: elevation, handler: cog, path: %q, rescale: [0, 3000], colormap: plasma, maxzoom: 16}\n",
		filepath.Join(demo, "elevation.tif"))})
	// The references, on an ordinary file system.
	for _, out := range []string{"ref.mbtiles", "ref"} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		b, err := exec.CommandContext(ctx, bin, chaosExportArgs(cfg, filepath.Join(work, out))...).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("reference export %s: %v\n%s", out, err, b)
		}
	}
	tiny := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), chaosPick(4*time.Minute, 10*time.Minute))
	defer cancel()
	args := append(ns, "sh", "-c", `mount -t tmpfs -o size=2m tmpfs "$1" && shift && exec "$@"`, "sh", tiny,
		os.Args[0], "-test.run=^TestChaosFullDisk$", "-test.v", "-test.count=1", "-test.timeout=9m")
	cmd := exec.CommandContext(ctx, unshare, args...)
	cmd.Env = append(os.Environ(), "CHAOS_TINYFS="+tiny, "CHAOS_BIN="+bin, "CHAOS_CONFIG="+cfg, "CHAOS_REF="+work)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("in a user and mount namespace with a 2 MiB tmpfs:\n%s", out)
	if err != nil || !strings.Contains(string(out), "chaos tinyfs: all ok") {
		t.Fatalf("the export on a full disk: %v", err)
	}
	if left, _ := os.ReadDir(tiny); len(left) != 0 {
		t.Errorf("the tmpfs leaked: %d entries under %s", len(left), tiny)
	}
	var figures []string
	for _, line := range strings.Split(string(out), "\n") {
		if _, f, ok := strings.Cut(line, "chaos tinyfs figures: "); ok {
			figures = append(figures, f)
		}
	}
	t.Logf("chaos summary: full disk: %s; wall %s", strings.Join(figures, "; "), chaosMS(time.Since(began)))
}

// chaosExportArgs is the export command of TestChaosFullDisk: the DEM at
// zooms 6–10, 22 tiles, about 470 KB (an MBTiles needs twice that while it is
// finished: SQLite's write-ahead log holds the tiles once more).
func chaosExportArgs(cfg, out string) []string {
	return []string{"export", "--config", cfg, "--udf", "elevation", "--minzoom", "6", "--maxzoom", "10", "--concurrency", "2", "--quiet", "--out", out}
}

var chaosNoSpace = regexp.MustCompile(`(?i)no space left on device|database or disk is full`)

// chaosTinyFS runs inside the namespace, dir being the 2 MiB tmpfs.
func chaosTinyFS(t *testing.T, dir string) {
	bin, cfg, refDir := os.Getenv("CHAOS_BIN"), os.Getenv("CHAOS_CONFIG"), os.Getenv("CHAOS_REF")
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil || st.Blocks*uint64(st.Bsize) > 4<<20 {
		t.Fatalf("%s is not the small tmpfs (%d bytes, %v)", dir, st.Blocks*uint64(st.Bsize), err)
	}
	run := func(args []string) (string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("tileserver %s did not finish within 2 minutes:\n%s", strings.Join(args, " "), out)
		}
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return string(out), ee.ExitCode()
		case err != nil:
			t.Fatalf("tileserver %s: %v", strings.Join(args, " "), err)
		}
		return string(out), 0
	}
	filler := filepath.Join(dir, "filler")
	type round struct {
		kind string
		keep int64 // bytes left free for the failing export
	}
	var rounds []round
	for _, keep := range chaosPick([]int64{256 << 10}, []int64{64 << 10, 256 << 10, 384 << 10}) {
		rounds = append(rounds, round{"mbtiles", keep}, round{"dir", keep})
	}
	for _, rd := range rounds {
		kind := rd.kind
		dest, ref := filepath.Join(dir, "elevation.mbtiles"), readTiles(t, filepath.Join(refDir, "ref.mbtiles"))
		if kind == "dir" {
			dest, ref = filepath.Join(dir, "elevation"), readTiles(t, filepath.Join(refDir, "ref"))
		}
		free := chaosFill(t, filler, rd.keep)
		start := time.Now()
		out, code := run(chaosExportArgs(cfg, dest))
		took := time.Since(start)
		msg := chaosNoSpace.FindString(out)
		if code == 0 || msg == "" {
			t.Fatalf("%s: export with %d KiB free: exit %d, want non-zero with a message saying the disk is full:\n%s", kind, free>>10, code, out)
		}
		errLine := ""
		for _, l := range strings.Split(out, "\n") {
			if chaosNoSpace.MatchString(l) {
				errLine = chaosTruncate(l, 300)
				break
			}
		}
		t.Logf("%s: with %d KiB free, exit %d after %s: %s", kind, free>>10, code, chaosMS(took), errLine)
		kept := 0
		switch kind {
		case "mbtiles":
			if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("mbtiles: %s exists after the failed export (%v)", dest, err)
			}
		case "dir":
			if _, err := os.Stat(filepath.Join(dest, "tilejson.json")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("dir: tilejson.json written by the failed export (%v)", err)
			}
			// Every tile left is whole.
			err := export.ReadAll(dest, func(tl tiles.Tile, data []byte) error {
				if want, ok := ref[tl.String()]; !ok || !bytes.Equal(data, want) {
					return fmt.Errorf("tile %s: %d bytes, not the reference's %d", tl, len(data), len(want))
				}
				kept++
				return nil
			})
			if err != nil {
				t.Fatalf("dir after the failed export: %v", err)
			}
		}
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Logf("%s: after the failure the tmpfs holds %v (%d whole tiles in the directory)", kind, names, kept)

		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		out, code = run(chaosExportArgs(cfg, dest))
		again := time.Since(start)
		if code != 0 || !strings.Contains(out, "wrote "+dest) {
			t.Fatalf("%s: the same export with the space freed: exit %d\n%s", kind, code, out)
		}
		sameTiles(t, kind+" after freeing space", readTiles(t, dest), ref)
		switch kind {
		case "mbtiles":
			if _, err := os.Stat(dest + ".part"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("mbtiles: the staging file is left after the export completed (%v)", err)
			}
		case "dir":
			if j, _ := filepath.Glob(filepath.Join(dest, ".udftiles-journal-*")); len(j) > 0 {
				t.Errorf("dir: journals left after the export completed: %v", j)
			}
			if _, err := os.Stat(filepath.Join(dest, "tilejson.json")); err != nil {
				t.Errorf("dir: no tilejson.json after the export completed: %v", err)
			}
		}
		t.Logf("chaos tinyfs figures: %s: failed cleanly with %d KiB free after %s (%q), completed in %s once freed, %d tiles equal to the reference",
			kind, free>>10, chaosMS(took), msg, chaosMS(again), len(ref))
		if err := os.RemoveAll(dest); err != nil {
			t.Fatal(err)
		}
	}
	t.Log("chaos tinyfs: all ok")
}

// chaosFill writes path until the file system is full, then gives back room
// so that about keep bytes are free; it returns the bytes free.
func chaosFill(t *testing.T, path string, keep int64) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	var size int64
	for {
		n, err := f.Write(chunk)
		size += int64(n)
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	if err := f.Truncate(max(0, size-keep)); err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// TestChaosTruncatedCOG: the file of a COG layer is truncated in place while
// it is served. Tiles answer 503 or the right bytes (never a 500, never a
// panic); after the file is restored (a new file renamed over it) every tile
// is served right again. A second layer on an untouched copy of the file
// gives the reference bytes.
func TestChaosTruncatedCOG(t *testing.T) {
	_, demo := sharedBinary(t)
	began := time.Now()
	dir := t.TempDir()
	orig, err := os.ReadFile(filepath.Join(demo, "elevation.tif"))
	if err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(dir, "live.tif")
	chaosWriteFiles(t, dir, map[string]string{
		"live.tif":     string(orig),
		"pristine.tif": string(orig),
		"config.yaml": `cache: {memory_mb: 64}
udfs:
  - {name: live, handler: cog, path: live.tif, rescale: [0, 3000], colormap: plasma, maxzoom: 16}
  - {name: pristine, handler: cog, path: pristine.tif, rescale: [0, 3000], colormap: plasma, maxzoom: 16, cache_max_age: 0s}
`,
	})
	s := chaosLaunch(t, "server", filepath.Join(dir, "config.yaml"))
	s.waitReady()

	// Tiles served before the truncation, and others asked for only after it.
	var seen, unseen []tile
	for z := 9; z <= 14; z++ {
		ts := demoTiles(z)
		seen = append(seen, ts[:min(len(ts), 5)]...)
		if len(ts) > 5 {
			unseen = append(unseen, ts[5:min(len(ts), 9)]...)
		}
	}
	everything := append(slices.Clone(seen), unseen...)
	ref := map[tile][]byte{}
	for _, tl := range everything {
		ref[tl] = s.get(tl.path("pristine")).body
	}
	check := func(tl tile) func([]byte) error {
		return func(b []byte) error {
			if !bytes.Equal(b, ref[tl]) {
				return fmt.Errorf("%d bytes, not the %d of the untouched file", len(b), len(ref[tl]))
			}
			return nil
		}
	}
	for _, tl := range seen {
		for range 2 { // rendered, then from memory
			if r := chaosGet(s, "before", tl.path("live"), tl, 15*time.Second, check(tl)); !r.ok() {
				t.Fatalf("before the truncation: GET %s: %d %v %s %s", r.path, r.status, r.err, r.bad, r.note)
			}
		}
	}

	cycles := chaosPick(1, 3)
	fractions := []float64{0.5, 0.3, 0.8}
	dur := chaosPick(2*time.Second, 12*time.Second)
	var truncated, after []chaosResult
	var recoveries []time.Duration
	for c := range cycles {
		size := int64(float64(len(orig)) * fractions[c%len(fractions)])
		if err := os.Truncate(live, size); err != nil {
			t.Fatal(err)
		}
		var rec chaosRecorder
		ctx, cancel := context.WithTimeout(context.Background(), dur)
		load := startChaosLoad(ctx, 3, func(ctx context.Context, g, i int) {
			tl := everything[(i*3+g)%len(everything)]
			rec.add(chaosGet(s, fmt.Sprintf("truncated %d%%", int(100*fractions[c%len(fractions)])), tl.path("live"), tl, 15*time.Second, check(tl)))
			time.Sleep(5 * time.Millisecond)
		})
		<-ctx.Done()
		load.stop()
		cancel()
		truncated = append(truncated, rec.all()...)

		// Restored: the original bytes in a new file renamed over the old one.
		tmp := live + ".new"
		if err := os.WriteFile(tmp, orig, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, live); err != nil {
			t.Fatal(err)
		}
		restored := time.Now()
		deadline := restored.Add(30 * time.Second)
		for pass := 0; ; pass++ {
			var rs []chaosResult
			for _, tl := range everything {
				rs = append(rs, chaosGet(s, "restored", tl.path("live"), tl, 15*time.Second, check(tl)))
			}
			if chaosCountOK(rs) == len(rs) {
				recoveries = append(recoveries, time.Since(restored))
				after = append(after, rs...)
				break
			}
			chaosFailures(t, "after the restore, before recovery", rs, 503)
			if time.Now().After(deadline) {
				t.Fatalf("tiles still fail 30s after the file was restored: %s", chaosCounts(rs))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	chaosFailures(t, "while the file was truncated", truncated, 503)
	chaosFailures(t, "after the restore", after)
	chaosNoPanics(t, s)

	var notes []string
	for _, r := range truncated {
		if r.status != 200 && r.status != 503 && len(notes) < 1 {
			notes = append(notes, fmt.Sprintf("%d %s", r.status, r.note))
		}
	}
	if len(notes) > 0 {
		t.Logf("an answer while truncated: %s", notes[0])
	}
	sources := map[string]int{}
	for _, r := range truncated {
		if r.status == 200 {
			sources[r.xcache]++
		}
	}
	_, _, top := chaosLatency(truncated)
	t.Logf("chaos summary: truncated cog: %d cycles (to %v of %d bytes) of %s each: %d requests (%s; 200s by X-Cache %v), "+
		"max %s; restored and correct again after %v; wall %s",
		cycles, fractions[:min(cycles, len(fractions))], len(orig), dur, len(truncated), chaosCounts(truncated), sources,
		chaosMS(top), recoveries, chaosMS(time.Since(began)))
}
