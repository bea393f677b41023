package e2e

// End-to-end tests of the S3 cache tier: the real tileserver binary against a
// real MinIO (internal/miniotest), everything on 127.0.0.1.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	"github.com/udftiles/udftiles/internal/miniotest"
)

const (
	s3Bucket   = "tiles"
	s3Prefix   = "udftiles"
	adminToken = "t0ken"
)

// shared is what every S3 test uses: the binary and the demo data, made once
// per test run (TestMain removes them).
var shared struct {
	once      sync.Once
	dir       string
	bin, demo string
	err       error
}

func TestMain(m *testing.M) {
	// Servers whose config names no store keep their catalog beside their
	// config (see start); anything else started here, in this run's folder.
	storeDir, err := os.MkdirTemp("", "udftiles-e2e-store-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if os.Getenv("UDFTILES_STORE_URL") == "" {
		os.Setenv("UDFTILES_STORE_URL", "sqlite://"+filepath.Join(storeDir, "udftiles.db"))
	}
	code := m.Run()
	os.RemoveAll(storeDir)
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// sharedBinary builds the command and writes the demo data, once.
func sharedBinary(t *testing.T) (bin, demo string) {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "tileserver-s3-test-")
		if shared.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		shared.bin = filepath.Join(shared.dir, "tileserver")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", shared.bin, "../cmd/tileserver").CombinedOutput(); err != nil {
			shared.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		shared.demo = filepath.Join(shared.dir, "demo")
		if out, err := exec.CommandContext(ctx, shared.bin, "demo-data", "--out", shared.demo).CombinedOutput(); err != nil {
			shared.err = fmt.Errorf("demo-data: %v\n%s", err, out)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.bin, shared.demo
}

// echoUDF is a Python UDF returning a small grey array that depends on the tile.
const echoUDF = `import fused


@fused.udf
def udf(x: int = 0, y: int = 0, z: int = 0):
    import numpy as np
    return np.full((8, 8), (x * 7 + y * 3 + z) % 256, dtype=np.uint8)
`

// s3Config is a server's configuration.
type s3Config struct {
	endpoint    string // S3 endpoint: MinIO or a proxy in front of it
	readTimeout string // cache.s3.read_timeout
	python      bool   // serve the echo UDF too (starts a Python worker)
}

// writeConfig writes a config file (and the echo UDF) into a new directory.
func writeConfig(t *testing.T, m *miniotest.Server, c s3Config) string {
	t.Helper()
	_, demo := sharedBinary(t)
	dir := t.TempDir()
	if c.readTimeout == "" {
		c.readTimeout = "0.3s"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `cache:
  memory_mb: 16
  s3: {bucket: %s, prefix: %s, endpoint: %q, access_key: %q, secret_key: %q, read_timeout: %s}
admin_token: %s
udfs:
  - {name: elevation, handler: cog, path: %q, rescale: [0, 3000], colormap: plasma, maxzoom: 16}
`, s3Bucket, s3Prefix, c.endpoint, m.AccessKey, m.SecretKey, c.readTimeout, adminToken, filepath.Join(demo, "elevation.tif"))
	if c.python {
		if err := os.WriteFile(filepath.Join(dir, "echo.py"), []byte(echoUDF), 0o644); err != nil {
			t.Fatal(err)
		}
		b.WriteString("  - {name: echo, handler: python, path: echo.py}\n")
		b.WriteString("python: {workers: 1, preload: [numpy], cache_dir: pycache}\n")
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startMinIO starts MinIO with the bucket.
func startMinIO(t *testing.T) *miniotest.Server {
	t.Helper()
	m := miniotest.Start(t)
	m.CreateBucket(t, s3Bucket)
	return m
}

// logLines collects a process's standard error by line.
type logLines struct {
	mu      sync.Mutex
	lines   []string
	partial []byte
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
}

func (l *logLines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func (l *logLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// messages returns the "msg" of each JSON log line, in order.
func (l *logLines) messages() []string {
	var out []string
	for _, line := range l.all() {
		var rec struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg != "" {
			out = append(out, rec.Msg)
		}
	}
	return out
}

// count is how many log messages start with prefix.
func (l *logLines) count(prefix string) int {
	n := 0
	for _, m := range l.messages() {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// tileServer is a `tileserver serve` process.
type tileServer struct {
	t          *testing.T
	name       string
	bin, cfg   string
	addr, base string
	logs       *logLines

	cmd  *exec.Cmd
	done chan struct{}
	err  error // cmd.Wait's, valid after done
}

var client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}}

// launch starts a server process without waiting for it; stopped in t.Cleanup.
func launch(t *testing.T, name, cfg string) *tileServer {
	t.Helper()
	bin, _ := sharedBinary(t)
	addr := freePort(t)
	s := &tileServer{t: t, name: name, bin: bin, cfg: cfg, addr: addr, base: "http://" + addr, logs: &logLines{}}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("%s's log:\n%s", s.name, strings.Join(s.logs.all(), "\n"))
		}
	})
	s.start()
	return s
}

func (s *tileServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "serve", "--config", s.cfg, "--listen", s.addr)
	// Each server's own catalog, beside its config (kept over restarts),
	// unless its config names a store.
	s.cmd.Env = append(os.Environ(), "UDFTILES_STORE_URL=sqlite://"+filepath.Join(filepath.Dir(s.cfg), "udftiles-"+strings.NewReplacer("/", "_", " ", "_").Replace(s.name)+".db"))
	s.cmd.Stderr = s.logs
	s.cmd.WaitDelay = 5 * time.Second // Python workers holding stderr must not hang Wait
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		s.err = cmd.Wait()
		close(done)
	}(s.cmd, s.done)
}

// waitReady waits for /healthz and /readyz (the Python worker) to answer 200.
func (s *tileServer) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, path := range []string{"/healthz", "/readyz"} {
		for {
			select {
			case <-s.done:
				s.t.Fatalf("%s exited before it was ready: %v\n%s", s.name, s.err, strings.Join(s.logs.all(), "\n"))
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			req, _ := http.NewRequestWithContext(ctx, "GET", s.base+path, nil)
			resp, err := client.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			cancel()
			if err == nil && resp.StatusCode == 200 {
				break
			}
			if time.Now().After(deadline) {
				s.t.Fatalf("%s: %s not 200 after 30s (%v)\n%s", s.name, path, err, strings.Join(s.logs.all(), "\n"))
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
}

// startServers launches servers on one config each and waits until all are ready.
func startServers(t *testing.T, cfgs ...string) []*tileServer {
	t.Helper()
	var out []*tileServer
	for i, cfg := range cfgs {
		out = append(out, launch(t, string(rune('A'+i)), cfg))
	}
	for _, s := range out {
		s.waitReady()
	}
	return out
}

// stop sends SIGTERM and waits for the exit (SIGKILL after 25s); it reports
// whether the process exited with status 0. Stopping a stopped server does nothing.
func (s *tileServer) stop() bool {
	if s.cmd == nil {
		return true
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(25 * time.Second):
		s.t.Errorf("%s did not stop 25s after SIGTERM; killing it", s.name)
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	return s.err == nil
}

type response struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
	err    error
}

func (r response) xcache() string { return r.header.Get("X-Cache") }

// do sends a request with a deadline of timeout.
func (s *tileServer) do(method, path string, header http.Header, timeout time.Duration) response {
	return s.doBody(method, path, header, nil, timeout)
}

// doBody is do with a request body.
func (s *tileServer) doBody(method, path string, header http.Header, body io.Reader, timeout time.Duration) response {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, body)
	if err != nil {
		return response{err: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return response{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: got, took: time.Since(start), err: err}
}

// get fetches path and fails the test unless it answers 200.
func (s *tileServer) get(path string) response {
	s.t.Helper()
	r := s.do("GET", path, nil, 15*time.Second)
	if r.err != nil || r.status != 200 {
		s.t.Fatalf("%s: GET %s: %d %v %.300s", s.name, path, r.status, r.err, r.body)
	}
	return r
}

// getCache fetches path and checks its X-Cache.
func (s *tileServer) getCache(path, want string) response {
	s.t.Helper()
	r := s.get(path)
	if got := r.xcache(); got != want {
		s.t.Errorf("%s: GET %s: X-Cache %q, want %q", s.name, path, got, want)
	}
	return r
}

var metricLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
var metricLabel = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// metric is the value of the series name with labels (a subset of its
// labels, summed over the others); 0 when absent.
func (s *tileServer) metric(name string, labels ...string) float64 {
	s.t.Helper()
	r := s.get("/metrics")
	sum := 0.0
	for _, line := range strings.Split(string(r.body), "\n") {
		m := metricLine.FindStringSubmatch(line)
		if m == nil || m[1] != name {
			continue
		}
		have := map[string]string{}
		for _, l := range metricLabel.FindAllStringSubmatch(m[2], -1) {
			have[l[1]] = l[2]
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			ok = ok && have[labels[i]] == labels[i+1]
		}
		if ok {
			v, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				s.t.Fatalf("metric line %q: %v", line, err)
			}
			sum += v
		}
	}
	return sum
}

func (s *tileServer) renders(udf string) float64 {
	s.t.Helper()
	return s.metric("udftiles_renders_total", "udf", udf, "outcome", "ok")
}

func (s *tileServer) s3Lookups(result string) float64 {
	s.t.Helper()
	return s.metric("udftiles_cache_lookups_total", "tier", "s3", "result", result)
}

// waitFor polls cond every 20ms until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitObjects waits until MinIO lists exactly n objects under prefix (below the
// bucket) and returns them.
func waitObjects(t *testing.T, m *miniotest.Server, prefix string, n int) []string {
	t.Helper()
	var keys []string
	deadline := time.Now().Add(15 * time.Second)
	for {
		keys = m.Objects(t, s3Bucket, prefix)
		if len(keys) == n {
			return keys
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 15s, %d objects under %s, want %d: %q", len(keys), prefix, n, keys)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lastModified lists the objects under prefix with their LastModified.
func lastModified(t *testing.T, m *miniotest.Server, prefix string) map[string]time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[string]time.Time{}
	pages := s3.NewListObjectsV2Paginator(m.Client(t), &s3.ListObjectsV2Input{Bucket: aws.String(s3Bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			out[aws.ToString(o.Key)] = aws.ToTime(o.LastModified)
		}
	}
	return out
}

// objectCreated is the creation time in the header of a cache object (its
// format: an 8-byte magic, a big-endian uint32 header length, a JSON header).
func objectCreated(t *testing.T, m *miniotest.Server, key string) time.Time {
	t.Helper()
	b := m.Get(t, s3Bucket, key)
	if len(b) < 12 || string(b[:4]) != "UDFT" {
		t.Fatalf("%s is not a cache object: %.40q", key, b)
	}
	n := int(b[8])<<24 | int(b[9])<<16 | int(b[10])<<8 | int(b[11])
	var h struct {
		Created int64 `json:"created"`
	}
	if 12+n > len(b) || json.Unmarshal(b[12:12+n], &h) != nil || h.Created == 0 {
		t.Fatalf("%s: no creation time in its header %.200q", key, b)
	}
	return time.Unix(0, h.Created)
}

type tile struct{ z, x, y int }

func (t tile) path(udf string) string {
	return fmt.Sprintf("/v1/udfs/%s/tiles/%d/%d/%d.png", udf, t.z, t.x, t.y)
}

// prefix is where the tile's objects of udf live, below the bucket, for any version.
func (t tile) in(key string) bool {
	return strings.Contains(key, fmt.Sprintf("/%d/%d/%d/", t.z, t.x, t.y))
}

// demoTiles are the tiles of zoom z over the demo DEM (13.41-14.23°E,
// 46.84-47.40°N), counted from the tile grid without the server's code.
func demoTiles(z int) []tile {
	n := math.Exp2(float64(z))
	lonX := func(lon float64) int { return int((lon + 180) / 360 * n) }
	latY := func(lat float64) int {
		r := lat * math.Pi / 180
		return int((1 - math.Log(math.Tan(r)+1/math.Cos(r))/math.Pi) / 2 * n)
	}
	var out []tile
	for x := lonX(13.42); x <= lonX(14.22); x++ {
		for y := latY(47.39); y <= latY(46.85); y++ {
			out = append(out, tile{z, x, y})
		}
	}
	return out
}

// tileBounds is a tile's lon/lat bounds: lon = x/2^z*360-180, lat = atan(sinh(pi*(1-2y/2^z))).
func tileBounds(t tile) (west, south, east, north float64) {
	n := math.Exp2(float64(t.z))
	lon := func(x int) float64 { return float64(x)/n*360 - 180 }
	lat := func(y int) float64 { return math.Atan(math.Sinh(math.Pi*(1-2*float64(y)/n))) * 180 / math.Pi }
	return lon(t.x), lat(t.y + 1), lon(t.x + 1), lat(t.y)
}

// TestS3Replicas: two servers on one bucket; what one renders the other serves from S3.
func TestS3Replicas(t *testing.T) {
	m := startMinIO(t)
	cfg := writeConfig(t, m, s3Config{endpoint: m.Endpoint, python: true})
	srv := startServers(t, cfg, cfg)
	a, b := srv[0], srv[1]

	tl := tile{10, 550, 359}
	ra := a.getCache(tl.path("elevation"), "miss")
	if ct := ra.header.Get("Content-Type"); ct != "image/png" {
		t.Errorf("A: Content-Type %q", ct)
	}
	keys := waitObjects(t, m, s3Prefix+"/elevation/", 1)
	if !regexp.MustCompile(`^udftiles/elevation/[0-9a-f]+/10/550/359/[0-9a-f]+\.png$`).MatchString(keys[0]) {
		t.Errorf("object key %q, want udftiles/elevation/<version>/10/550/359/<hash>.png", keys[0])
	}

	rb := b.getCache(tl.path("elevation"), "s3")
	if !bytes.Equal(rb.body, ra.body) || rb.header.Get("ETag") != ra.header.Get("ETag") {
		t.Errorf("B's tile from S3 differs from A's: %d bytes, ETag %s; A's %d bytes, ETag %s",
			len(rb.body), rb.header.Get("ETag"), len(ra.body), ra.header.Get("ETag"))
	}
	if rb.header.Get("Content-Type") != "image/png" || !strings.HasPrefix(rb.header.Get("Cache-Control"), "public, max-age=") {
		t.Errorf("B: Content-Type %q, Cache-Control %q", rb.header.Get("Content-Type"), rb.header.Get("Cache-Control"))
	}
	b.getCache(tl.path("elevation"), "memory")
	if n := b.renders("elevation"); n != 0 {
		t.Errorf("B rendered elevation %v times, want 0", n)
	}
	if n := a.renders("elevation"); n != 1 {
		t.Errorf("A rendered elevation %v times, want 1", n)
	}
	if n := b.s3Lookups("hit"); n != 1 {
		t.Errorf("B's S3 hits: %v, want 1", n)
	}

	// A Python UDF's results are shared the same way (its version is its code's hash).
	ea := a.getCache(tl.path("echo"), "miss")
	waitObjects(t, m, s3Prefix+"/echo/", 1)
	eb := b.getCache(tl.path("echo"), "s3")
	if !bytes.Equal(ea.body, eb.body) {
		t.Error("B's echo tile from S3 differs from A's")
	}
	b.getCache(tl.path("echo"), "memory")
	if n := b.renders("echo"); n != 0 {
		t.Errorf("B rendered echo %v times, want 0", n)
	}
}

// TestS3Restart: what a server wrote survives its restart; the writes queued
// when SIGTERM arrives are finished before it exits.
func TestS3Restart(t *testing.T) {
	m := startMinIO(t)
	cfg := writeConfig(t, m, s3Config{endpoint: m.Endpoint, python: true})
	s := startServers(t, cfg)[0]

	tiles := demoTiles(11)[:6]
	bodies := map[string][]byte{}
	for _, tl := range tiles {
		bodies[tl.path("elevation")] = s.getCache(tl.path("elevation"), "miss").body
	}
	bodies[tiles[0].path("echo")] = s.getCache(tiles[0].path("echo"), "miss").body

	// No wait for the background writes: shutdown drains them.
	if !s.stop() {
		t.Errorf("exit %v after SIGTERM, want status 0", s.err)
	}
	if keys := m.Objects(t, s3Bucket, s3Prefix+"/"); len(keys) != len(bodies) {
		t.Errorf("after shutdown %d objects, want %d: %q", len(keys), len(bodies), keys)
	}
	s.logs.add("=== restart")
	s.start()
	s.waitReady()
	for path, body := range bodies {
		r := s.getCache(path, "s3")
		if !bytes.Equal(r.body, body) {
			t.Errorf("%s after the restart differs from before", path)
		}
	}
	if n := s.renders("elevation") + s.renders("echo"); n != 0 {
		t.Errorf("%v renders after the restart, want 0", n)
	}
	if n := s.s3Lookups("hit"); n != float64(len(bodies)) {
		t.Errorf("S3 hits %v, want %d", n, len(bodies))
	}
}

// TestS3MinIOStoppedUnderLoad: MinIO going away and coming back under load
// fails no request and slows none; the breaker logs each change once.
func TestS3MinIOStoppedUnderLoad(t *testing.T) {
	m := startMinIO(t)
	cfg := writeConfig(t, m, s3Config{endpoint: m.Endpoint})
	srv := startServers(t, cfg, cfg)
	warm, s := srv[0], srv[1]

	// Tiles in S3 but not in s's memory.
	cached := demoTiles(11)
	for _, tl := range cached {
		warm.get(tl.path("elevation"))
	}
	waitObjects(t, m, s3Prefix+"/elevation/", len(cached))
	var fresh []tile
	for z := 13; z <= 16; z++ {
		fresh = append(fresh, demoTiles(z)...)
	}
	var next atomic.Int64 // index into fresh: each new tile is asked once
	newTile := func() tile {
		i := int(next.Add(1) - 1)
		if i >= len(fresh) {
			t.Fatalf("ran out of new tiles (%d)", len(fresh))
		}
		return fresh[i]
	}

	type result struct {
		path   string
		status int
		err    error
		took   time.Duration
		xcache string
	}
	var (
		mu      sync.Mutex
		results []result
		done    atomic.Int64
		ranOut  atomic.Bool
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stopLoad := make(chan struct{})
	var wg sync.WaitGroup
	stopLoading := sync.OnceFunc(func() { close(stopLoad); wg.Wait() })
	defer stopLoading() // on an early failure too
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopLoad:
					return
				case <-ctx.Done():
					return
				default:
				}
				var path string
				if i%2 == 0 {
					path = cached[(i/2*4+g)%len(cached)].path("elevation")
				} else {
					i := int(next.Add(1) - 1)
					if i >= len(fresh) {
						ranOut.Store(true)
						return
					}
					path = fresh[i].path("elevation")
				}
				// At most one request per 5ms per goroutine: a load, not a flood.
				pace := time.After(5 * time.Millisecond)
				r := s.do("GET", path, nil, 10*time.Second)
				<-pace
				mu.Lock()
				results = append(results, result{path, r.status, r.err, r.took, r.xcache()})
				mu.Unlock()
				done.Add(1)
			}
		}()
	}
	start := time.Now()
	// Load for ~3s: about 0.7s with MinIO, then stop it until the breaker
	// opens, start it again, and load until 3s have passed.
	waitFor(t, 10*time.Second, "the first 20 requests", func() bool { return done.Load() >= 20 && time.Since(start) > 700*time.Millisecond })
	m.Stop()
	stopped := time.Now()
	waitFor(t, 10*time.Second, `the log line "s3 cache: unavailable"`, func() bool { return s.logs.count("s3 cache: unavailable") > 0 })
	atStop := done.Load()
	waitFor(t, 10*time.Second, "20 requests with MinIO down", func() bool {
		return done.Load() >= atStop+20 && time.Since(stopped) > time.Second
	})
	m.Start()
	restarted := time.Now()
	for time.Since(start) < 3*time.Second || time.Since(restarted) < 300*time.Millisecond {
		time.Sleep(20 * time.Millisecond)
	}
	stopLoading()
	if ranOut.Load() {
		t.Fatalf("the loader ran out of new tiles (%d)", len(fresh))
	}
	t.Logf("%d requests in %s (MinIO down %s after %s)", len(results), time.Since(start).Round(time.Millisecond),
		restarted.Sub(stopped).Round(time.Millisecond), stopped.Sub(start).Round(time.Millisecond))

	// After its cooldown the breaker tries S3 again with a request for a new tile.
	deadline := time.Now().Add(20 * time.Second)
	for s.logs.count("s3 cache: reachable again") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf(`no "s3 cache: reachable again" 20s after MinIO came back`)
		}
		path := newTile().path("elevation")
		r := s.do("GET", path, nil, 10*time.Second)
		results = append(results, result{path, r.status, r.err, r.took, r.xcache()})
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("reachable again %s after MinIO came back", time.Since(restarted).Round(time.Millisecond))

	var slowest time.Duration
	sources := map[string]int{}
	bad := 0
	for _, r := range results {
		slowest = max(slowest, r.took)
		sources[r.xcache]++
		if r.err != nil || r.status != 200 {
			bad++
			if bad <= 5 {
				t.Errorf("GET %s: %d %v", r.path, r.status, r.err)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d requests failed", bad, len(results))
	}
	if slowest > 2*time.Second {
		t.Errorf("the slowest request took %s, want < 2s", slowest)
	}
	t.Logf("X-Cache %v; slowest %s", sources, slowest.Round(time.Millisecond))

	if n := s.logs.count("s3 cache: unavailable"); n != 1 {
		t.Errorf(`"s3 cache: unavailable" logged %d times, want once`, n)
	}
	msgs := s.logs.messages()
	down := slices.IndexFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "s3 cache: unavailable") })
	up := slices.IndexFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "s3 cache: reachable again") })
	if up < down {
		t.Errorf(`"reachable again" (line %d) before "unavailable" (line %d)`, up, down)
	}
	if n := s.metric("udftiles_s3_breaker_open"); n != 0 {
		t.Errorf("udftiles_s3_breaker_open %v after S3 came back", n)
	}
	// S3 is used again: a new tile's object is written.
	tl := newTile()
	s.getCache(tl.path("elevation"), "miss")
	waitFor(t, 10*time.Second, "the object of a tile rendered after the outage", func() bool {
		return slices.ContainsFunc(m.Objects(t, s3Bucket, s3Prefix+"/elevation/"), tl.in)
	})
}

// TestS3Slow: an S3 slower than the read budget costs a request the budget,
// not the S3's latency.
func TestS3Slow(t *testing.T) {
	m := startMinIO(t)
	p := miniotest.NewProxy(t, m.Addr)
	cfg := writeConfig(t, m, s3Config{endpoint: p.URL(), readTimeout: "0.3s"})
	srv := startServers(t, cfg, cfg)
	a, b := srv[0], srv[1]

	// A writes a tile through the proxy while S3 is fast; B has never seen it.
	early := tile{10, 551, 359}
	want := a.getCache(early.path("elevation"), "miss").body
	waitObjects(t, m, s3Prefix+"/elevation/", 1)

	p.SetLatency(time.Second)
	tiles := demoTiles(12)
	for _, tl := range tiles[:6] {
		r := b.getCache(tl.path("elevation"), "miss")
		if r.took > time.Second {
			t.Errorf("GET %s took %s with a 1s S3, want < 1s", tl.path("elevation"), r.took.Round(time.Millisecond))
		}
		t.Logf("GET %s: %s", tl.path("elevation"), r.took.Round(time.Millisecond))
	}
	if n := b.renders("elevation"); n != 6 {
		t.Errorf("%v renders, want 6", n)
	}
	if n := b.s3Lookups("error"); n < 1 {
		t.Errorf("no S3 lookup timed out (errors %v)", n)
	}

	// Fast again: once the breaker lets requests through, B reads A's tile from S3.
	p.SetLatency(0)
	probes := append(tiles[6:], demoTiles(13)...)
	waitFor(t, 20*time.Second, "the breaker to close", func() bool {
		if b.metric("udftiles_s3_breaker_open") == 0 {
			return true
		}
		if len(probes) == 0 {
			t.Fatal("ran out of new tiles")
		}
		b.get(probes[0].path("elevation")) // a new tile: the breaker's probe
		probes = probes[1:]
		return false
	})
	r := b.getCache(early.path("elevation"), "s3")
	if !bytes.Equal(r.body, want) {
		t.Error("the tile from S3 differs from the one A rendered")
	}
}

// TestS3Freshness: cache_max_age=0s, cache_reset=true and cache_max_age=1s
// against what S3 holds.
func TestS3Freshness(t *testing.T) {
	m := startMinIO(t)
	cfg := writeConfig(t, m, s3Config{endpoint: m.Endpoint})
	s := startServers(t, cfg)[0]
	writes := func() float64 { return s.metric("udftiles_cache_writes_total", "tier", "s3", "result", "ok") }
	elev := s3Prefix + "/elevation/"

	// cache_max_age=0s renders every time and keeps nothing.
	t.Run("max_age_0", func(t *testing.T) {
		tl := tile{11, 1101, 718}
		path := tl.path("elevation")
		for i := range 3 {
			r := s.getCache(path+"?cache_max_age=0s", "miss")
			if cc := r.header.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", cc)
			}
			if n := s.renders("elevation"); n != float64(i+1) {
				t.Errorf("after %d requests %v renders", i+1, n)
			}
		}
		s.getCache(path+"?cache=false", "miss")
		if keys := m.Objects(t, s3Bucket, elev); len(keys) != 0 {
			t.Errorf("objects written: %q", keys)
		}
		if n := writes(); n != 0 {
			t.Errorf("%v S3 writes", n)
		}
		// Nothing was kept anywhere: a plain request renders, and then writes.
		s.getCache(path, "miss")
		if n := s.renders("elevation"); n != 5 {
			t.Errorf("%v renders, want 5", n)
		}
		waitObjects(t, m, elev, 1)
		s.getCache(path, "memory")
	})

	// cache_reset=true renders and overwrites the object.
	t.Run("reset", func(t *testing.T) {
		tl := tile{11, 1102, 718}
		path := tl.path("elevation")
		r0 := s.getCache(path, "miss")
		var key string
		waitFor(t, 10*time.Second, "the object", func() bool {
			keys := m.Objects(t, s3Bucket, elev)
			i := slices.IndexFunc(keys, tl.in)
			if i >= 0 {
				key = keys[i]
			}
			return i >= 0
		})
		mod0, created0 := lastModified(t, m, key)[key], objectCreated(t, m, key)
		before := s.renders("elevation")
		r1 := s.getCache(path+"?cache_reset=true", "miss")
		if n := s.renders("elevation"); n != before+1 {
			t.Errorf("cache_reset=true: %v renders, want %v", n, before+1)
		}
		if r1.header.Get("ETag") != r0.header.Get("ETag") {
			t.Errorf("the same tile rendered again has another ETag: %s, %s", r1.header.Get("ETag"), r0.header.Get("ETag"))
		}
		var mod1 time.Time
		waitFor(t, 10*time.Second, "the object's LastModified to change", func() bool {
			mod1 = lastModified(t, m, key)[key]
			return !mod1.Equal(mod0)
		})
		t.Logf("LastModified %s, then %s", mod0.Format(time.StampMilli), mod1.Format(time.StampMilli))
		if c := objectCreated(t, m, key); !c.After(created0) {
			t.Errorf("the rewritten object was created %s, not after %s", c, created0)
		}
		if keys := m.Objects(t, s3Bucket, elev); len(keys) != 2 {
			t.Errorf("%d objects, want 2 (the reset one overwritten): %q", len(keys), keys)
		}
		s.getCache(path, "memory")
	})

	// cache_max_age=1s does not take what S3 holds once it is older than 1s.
	t.Run("max_age_1s", func(t *testing.T) {
		tl := tile{11, 1103, 718}
		path := tl.path("elevation")
		s.getCache(path, "miss")
		var key string
		waitFor(t, 10*time.Second, "the object", func() bool {
			keys := m.Objects(t, s3Bucket, elev)
			i := slices.IndexFunc(keys, tl.in)
			if i >= 0 {
				key = keys[i]
			}
			return i >= 0
		})
		created := objectCreated(t, m, key)
		s.getCache(path+"?cache_max_age=1h", "memory")
		before, expired := s.renders("elevation"), s.s3Lookups("expired")
		// Wait until the object is older than 1s: a condition on the clock.
		waitFor(t, 5*time.Second, "the object to be 1s old", func() bool { return time.Since(created) > 1100*time.Millisecond })
		r := s.getCache(path+"?cache_max_age=1s", "miss")
		if n := s.renders("elevation"); n != before+1 {
			t.Errorf("cache_max_age=1s on a %s old object: %v renders, want %v", time.Since(created).Round(time.Millisecond), n, before+1)
		}
		if n := s.s3Lookups("expired"); n != expired+1 {
			t.Errorf("S3 lookups expired %v, want %v (S3 was not consulted?)", n, expired+1)
		}
		if cc := r.header.Get("Cache-Control"); cc != "public, max-age=1" && cc != "public, max-age=0" {
			t.Errorf("Cache-Control %q, want the 1s asked for", cc)
		}
	})
}

// TestS3Purge: DELETE /v1/udfs/elevation/cache with a bbox and zooms removes
// exactly the objects of the tiles meeting the bbox at those zooms; the CLI
// removes the rest.
func TestS3Purge(t *testing.T) {
	m := startMinIO(t)
	cfg := writeConfig(t, m, s3Config{endpoint: m.Endpoint})
	s := startServers(t, cfg)[0]
	elev := s3Prefix + "/elevation/"

	rendered := append(demoTiles(9), demoTiles(10)...)
	for _, tl := range rendered {
		s.getCache(tl.path("elevation"), "miss")
	}
	before := waitObjects(t, m, elev, len(rendered))

	// The bbox is away from every tile edge; expected: the zoom-10 tiles meeting it.
	const west, south, east, north = 13.62, 46.95, 13.95, 47.25
	var want []string
	var keep []string
	for _, key := range before {
		var tl tile
		if _, err := fmt.Sscanf(strings.Join(strings.Split(key, "/")[3:6], " "), "%d %d %d", &tl.z, &tl.x, &tl.y); err != nil {
			t.Fatalf("key %q: %v", key, err)
		}
		w, so, e, n := tileBounds(tl)
		if tl.z == 10 && w < east && west < e && so < north && south < n {
			want = append(want, key)
		} else {
			keep = append(keep, key)
		}
	}
	if len(want) == 0 || len(want) == len(demoTiles(10)) {
		t.Fatalf("the bbox meets %d of the %d zoom-10 tiles: pick another", len(want), len(demoTiles(10)))
	}
	t.Logf("%d tiles at zooms 9 and 10; the bbox meets %d at zoom 10", len(rendered), len(want))

	purge := fmt.Sprintf("/v1/udfs/elevation/cache?bbox=%g,%g,%g,%g&minzoom=10&maxzoom=10", west, south, east, north)
	if r := s.do("DELETE", purge, nil, 10*time.Second); r.status != 401 {
		t.Errorf("DELETE without a token: %d %v %s, want 401", r.status, r.err, r.body)
	}
	if r := s.do("DELETE", purge, http.Header{"Authorization": {"Bearer nope"}}, 10*time.Second); r.status != 401 {
		t.Errorf("DELETE with a wrong token: %d %v %s, want 401 (an unknown token)", r.status, r.err, r.body)
	}
	if got := m.Objects(t, s3Bucket, elev); !slices.Equal(got, before) {
		t.Fatalf("refused purges removed objects: %q", got)
	}
	r := s.do("DELETE", purge, http.Header{"Authorization": {"Bearer " + adminToken}}, 30*time.Second)
	if r.err != nil || r.status != 200 {
		t.Fatalf("DELETE: %d %v %s", r.status, r.err, r.body)
	}
	var answer struct {
		Removed int `json:"s3_objects_removed"`
	}
	if err := json.Unmarshal(r.body, &answer); err != nil || answer.Removed != len(want) {
		t.Errorf("answer %s (%v), want s3_objects_removed %d", r.body, err, len(want))
	}
	after := m.Objects(t, s3Bucket, elev)
	if !slices.Equal(after, keep) {
		t.Errorf("after the purge:\n%q\nwant:\n%q\n(removed should be %q)", after, keep, want)
	}

	// This server's memory forgot the purged tiles and kept the others.
	var purgedTile, keptTile tile
	for _, tl := range demoTiles(10) {
		if slices.ContainsFunc(want, tl.in) {
			purgedTile = tl
		} else {
			keptTile = tl
		}
	}
	s.getCache(keptTile.path("elevation"), "memory")
	s.getCache(purgedTile.path("elevation"), "miss")
	remaining := waitObjects(t, m, elev, len(keep)+1)

	// The CLI purges the rest, without a server.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bin, _ := sharedBinary(t)
	out, err := exec.CommandContext(ctx, bin, "cache", "purge", "--config", cfg, "--udf", "elevation").CombinedOutput()
	if err != nil {
		t.Fatalf("cache purge: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("removed %d cached results of elevation", len(remaining))) {
		t.Errorf("cache purge printed %q, want the count %d", out, len(remaining))
	}
	if keys := m.Objects(t, s3Bucket, elev); len(keys) != 0 {
		t.Errorf("after cache purge: %q", keys)
	}
}
