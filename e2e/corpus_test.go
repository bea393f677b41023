package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/colormap"
	"github.com/udftiles/udftiles/tiles"
)

// The corpus: UDFs and notebook snippets copied from Fused's documentation
// (/work/shared/reference/fused-docs.txt, docs.fused.io), one file each in
// testdata/corpus/. Each file says where in the docs it comes from, which
// data source was swapped for a local one, and what was restored (import
// lines and text inside {} are lost in that copy of the docs). The files
// starting with "_" are not layers: _make_data.py writes the local data,
// _notebook.py runs the docs' notebook snippets with the Python client,
// _inline_hello.py is sent as inline code.
//
// One server serves every UDF of the corpus, from a temporary working
// directory holding data/demo (the demo data), data/corpus (what
// _make_data.py writes), mnt/cache (Fused's shared disk, /mnt/cache) and fd
// (what fd:// stands for). An HTTP server on 127.0.0.1 stands for the web
// sites the docs download from. Every check looks at what the UDF returned:
// values, rows, columns, pixels.

// corpusCase is one entry: a layer (or more) and how its answers are checked.
type corpusCase struct {
	name   string   // subtest
	layers []string // the corpus files it covers (without .py); checked to cover them all
	serial bool     // runs alone, before the parallel ones (it looks at shared state)
	last   bool     // runs after the parallel ones
	check  func(t *testing.T, c *corpus)
}

// corpus is the server and what the checks need to know.
type corpus struct {
	s        *tileServer
	dir      string // the server's working directory
	expected struct {
		CDLSTile  [3]int   `json:"cdls_tile"`
		AISTile   [3]int   `json:"ais_tile"`
		AISInTime []string `json:"ais_in_time"`
		AISInTile int      `json:"ais_in_tile"`
		S1Tile    [3]int   `json:"s1_tile"`
	}
	web      *corpusWeb
	adminTok string
	notebook chan notebookRun // _notebook.py's run, started after the serial cases
}

// notebookRun is what _notebook.py printed, and how it ended.
type notebookRun struct {
	out string
	err error
}

const corpusAdmin = "corpus-admin-Tq93-token"

// TestCorpus serves every UDF of testdata/corpus from one server and checks
// each one's answers (corpusCases), then runs the docs' notebook snippets
// with the Python client against it. A corpus file no case checks fails it.
func TestCorpus(t *testing.T) {
	built := time.Now()
	bin, demo := sharedBinary(t) // shared with the other tests: built once
	began := time.Now()
	dir := t.TempDir()
	for _, d := range []string{"data", "udfs", "mnt/cache/demo_multiple_arg_list_run", "fd", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(demo, filepath.Join(dir, "data", "demo")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mnt/cache/corpus-listing.txt"), []byte("listed\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The local data, written while the server starts.
	made := make(chan error, 1)
	makeData := filepath.Join(corpusFixtures(t), "_make_data.py")
	go func() {
		cmd := exec.Command(python3, makeData)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err == nil && !strings.Contains(string(out), "data ok") {
			err = fmt.Errorf("no 'data ok'")
		}
		if err != nil {
			err = fmt.Errorf("_make_data.py: %v\n%s", err, out)
		}
		made <- err
	}()

	addr := freePort(t)
	web := newCorpusWeb(dir, "http://"+addr)
	t.Cleanup(web.srv.Close)

	// Every corpus file becomes a layer of the same name.
	entries, err := os.ReadDir(corpusFixtures(t))
	if err != nil {
		t.Fatal(err)
	}
	var layers []string
	var cfg strings.Builder
	fill := func(from, to string) {
		code, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		code = bytes.ReplaceAll(code, []byte("@HTTP@"), []byte(web.srv.URL))
		code = bytes.ReplaceAll(code, []byte("@BASE@"), []byte("http://"+addr))
		if err := os.WriteFile(to, code, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range entries {
		name, isFile := strings.CutSuffix(e.Name(), ".py")
		if (!isFile && !e.IsDir()) || strings.HasPrefix(name, "_") {
			continue
		}
		if e.IsDir() { // a saved UDF folder: Name/Name.py beside utils.py
			files, err := os.ReadDir(filepath.Join(corpusFixtures(t), name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, "udfs", name), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				if strings.HasSuffix(f.Name(), ".py") {
					fill(filepath.Join(corpusFixtures(t), name, f.Name()), filepath.Join(dir, "udfs", name, f.Name()))
				}
			}
		} else {
			fill(filepath.Join(corpusFixtures(t), e.Name()), filepath.Join(dir, "udfs", e.Name()))
		}
		layers = append(layers, name)
		public := ""
		if name == "run_private_token" {
			public = ", public: false"
		}
		fmt.Fprintf(&cfg, "  - {name: %s, handler: python, path: udfs/%s%s}\n", name, e.Name(), public)
	}
	config := fmt.Sprintf(`cache: {memory_mb: 64}
server: {jobs_dir: jobs}
python: {workers: 6, timeout: 60s, cache_dir: pycache, preload: [numpy, pandas, geopandas, shapely]}
auth:
  inline_code: true
  anonymous_job_control: true
  bearer:
    - {name: ops, sha256: %s, admin: true}
storage: {allow: [%s/], fd: %s/}
tokens:
  - {token: fsh_corpus_private, udf: run_private_token}
  - {token: fsh_corpus_params, udf: run_passing_parameters}
  - {token: fsh_corpus_maxar, udf: maxar_display}
  - {token: fsh_corpus_countries, udf: countries}
udfs:
  - {name: rgb, handler: cog, path: data/demo/rgb.tif}
  - {name: elevation, handler: cog, path: data/demo/elevation.tif}
  - {name: countries, handler: vector, path: data/demo/countries.gpkg}
%s`, hashOf(t, bin, corpusAdmin), filepath.Join(dir, "fd"), filepath.Join(dir, "fd"), cfg.String())
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	s := corpusLaunch(t, dir, cfgPath, addr)
	if err := <-made; err != nil {
		t.Fatal(err)
	}
	c := &corpus{s: s, dir: dir, web: web, adminTok: corpusAdmin}
	raw, err := os.ReadFile(filepath.Join(dir, "data/corpus/expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &c.expected); err != nil {
		t.Fatal(err)
	}
	s.waitReady()
	ready := time.Since(began)

	covered := map[string]bool{}
	for _, cc := range corpusCases {
		for _, l := range cc.layers {
			covered[l] = true
		}
	}
	for _, l := range layers {
		if !covered[l] {
			t.Errorf("testdata/corpus/%s.py is served but no case checks it", l)
		}
	}
	for l := range covered {
		if !slices.Contains(layers, l) && !strings.HasPrefix(l, "_") {
			t.Errorf("a case checks %s, which is not in testdata/corpus", l)
		}
	}
	for _, cc := range corpusCases {
		if cc.serial {
			t.Run(cc.name, func(t *testing.T) { cc.check(t, c) })
		}
	}
	// The notebook snippets run while the parallel cases do; a case at the end
	// checks what they printed.
	c.notebook = make(chan notebookRun, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	finished := make(chan struct{})
	t.Cleanup(func() { cancel(); <-finished }) // before the server stops and the directory goes
	go func() {
		defer close(finished)
		repo, err := filepath.Abs("..")
		if err != nil {
			c.notebook <- notebookRun{err: err}
			return
		}
		cmd := exec.CommandContext(ctx, python3, filepath.Join(repo, "e2e", "testdata", "corpus", "_notebook.py"))
		cmd.Dir, cmd.WaitDelay = dir, 5*time.Second
		cmd.Env = append(clientEnv(dir, s.base), "PYTHONPATH="+filepath.Join(repo, "clients", "python"))
		out, err := cmd.CombinedOutput()
		c.notebook <- notebookRun{string(out), err}
	}()
	t.Run("parallel", func(t *testing.T) {
		for _, cc := range corpusCases {
			if !cc.serial && !cc.last {
				t.Run(cc.name, func(t *testing.T) {
					t.Parallel()
					cc.check(t, c)
				})
			}
		}
	})
	for _, cc := range corpusCases {
		if cc.last {
			t.Run(cc.name, func(t *testing.T) { cc.check(t, c) })
		}
	}
	t.Logf("corpus: %d layers, %d cases, %d notebook snippets; binary and demo data ready after %s, then the server after %s, all done after %s",
		len(layers), len(corpusCases), len(corpusNotebookSnippets), began.Sub(built).Round(time.Millisecond),
		ready.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}

// corpusFixtures is the folder of the corpus files.
func corpusFixtures(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("testdata", "corpus"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// corpusLaunch starts the server as launch does, in dir as its working
// directory (where relative paths of UDFs point, as Fused's are relative
// to its runtime); stopped in t.Cleanup.
func corpusLaunch(t *testing.T, dir, cfg, addr string) *tileServer {
	t.Helper()
	bin, _ := sharedBinary(t)
	s := &tileServer{t: t, name: "corpus", bin: bin, cfg: cfg, addr: addr, base: "http://" + addr, logs: &logLines{}}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			lines := s.logs.all()
			t.Logf("corpus server's log, last %d of %d lines:\n%s", min(len(lines), 60), len(lines), strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})
	s.cmd = exec.Command(bin, "serve", "--config", cfg, "--listen", addr)
	s.cmd.Dir = dir
	s.cmd.Stderr = s.logs
	s.cmd.WaitDelay = 5 * time.Second
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		s.err = cmd.Wait()
		close(done)
	}(s.cmd, s.done)
	return s
}

// corpusWeb stands for the web sites the docs download from.
type corpusWeb struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

// censusZip is what the census URL of download.mdx answers (any bytes: the UDF only saves them).
var censusZip = []byte("PK-not-really-a-zip: tl_rd22_11_bg, District of Columbia block groups\n")

// corpusGeoJSON is the GeoJSON inside my_geojson.zip (top-level-functions.mdx).
const corpusGeoJSON = `{"type": "FeatureCollection", "features": [
{"type": "Feature", "properties": {"name": "a", "n": 1}, "geometry": {"type": "Point", "coordinates": [1.5, 2.5]}},
{"type": "Feature", "properties": {"name": "b", "n": 2}, "geometry": {"type": "Point", "coordinates": [-3.25, 4.75]}}]}`

func newCorpusWeb(dir, base string) *corpusWeb {
	w := &corpusWeb{hits: map[string]int{}}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.hits[r.URL.Path]++
		w.mu.Unlock()
		var body []byte
		var err error
		if zxy, ok := strings.CutPrefix(r.URL.Path, "/elevation-tiles-prod/geotiff/"); ok {
			// Mapzen's elevation tiles: the tile of the demo DEM, from the corpus server.
			resp, err := client.Get(base + "/v1/udfs/elevation/tiles/" + zxy)
			if err != nil {
				http.Error(rw, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			rw.WriteHeader(resp.StatusCode)
			io.Copy(rw, resp.Body)
			return
		}
		switch r.URL.Path {
		case "/geo/tiger/TIGER_RD18/STATE/11_DISTRICT_OF_COLUMBIA/11/tl_rd22_11_bg.zip":
			body = censusZip
		case "/sample_bucket/my_geojson.zip":
			body, err = zipOf(map[string][]byte{"my.geojson": []byte(corpusGeoJSON)})
		case "/htdata/CMSP/AISDataHandler/2024/AIS_2024_01_01.zip":
			var csvBody []byte
			csvBody, err = os.ReadFile(filepath.Join(dir, "data/corpus/AIS_2024_01_01_100k_points.csv"))
			if err == nil {
				body, err = zipOf(map[string][]byte{"AIS_2024_01_01.csv": csvBody})
			}
		default:
			http.NotFound(rw, r)
			return
		}
		if err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "application/zip")
		rw.Write(body)
	}))
	return w
}

func (w *corpusWeb) hitsOf(path string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hits[path]
}

func zipOf(files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f, err := zw.Create(n)
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(files[n]); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ---- requests ----

// req sends a request (with an optional bearer token and JSON body) and
// fails unless it answers want.
func (c *corpus) req(t *testing.T, method, path, token, body string, want int) response {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		h.Set("Content-Type", "application/json")
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := c.s.doBody(method, path, h, rd, 90*time.Second)
	if r.err != nil {
		t.Fatalf("%s %s: %v", method, path, r.err)
	}
	if r.status != want {
		t.Fatalf("%s %s: %d, want %d: %.800s", method, path, r.status, want, r.body)
	}
	return r
}

// get is req for a GET that must answer 200.
func (c *corpus) get(t *testing.T, path string) response {
	t.Helper()
	return c.req(t, "GET", path, "", "", 200)
}

// ctype fails unless r's Content-Type starts with want.
func ctype(t *testing.T, r response, want string) {
	t.Helper()
	if got := r.header.Get("Content-Type"); !strings.HasPrefix(got, want) {
		t.Fatalf("Content-Type %q, want %s; body %.300s", got, want, r.body)
	}
}

// jsonOf decodes a JSON body into v.
func jsonOf(t *testing.T, r response, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%v: %.500s", err, r.body)
	}
}

// records decodes a JSON array of records.
func records(t *testing.T, r response) []map[string]any {
	t.Helper()
	ctype(t, r, "application/json")
	var v []map[string]any
	jsonOf(t, r, &v)
	return v
}

// features decodes a GeoJSON FeatureCollection.
func features(t *testing.T, r response) *geojson.FeatureCollection {
	t.Helper()
	ctype(t, r, "application/geo+json")
	fc, err := geojson.UnmarshalFeatureCollection(r.body)
	if err != nil {
		t.Fatalf("%v: %.300s", err, r.body)
	}
	return fc
}

// udfLogs is what the UDF printed (the X-UDF-Logs header of a debug=true request).
func udfLogs(t *testing.T, r response) string {
	t.Helper()
	h := r.header.Get("X-UDF-Logs")
	s, err := strconv.Unquote(h)
	if err != nil {
		t.Fatalf("X-UDF-Logs %q: %v", h, err)
	}
	return s
}

func decodePNG(t *testing.T, r response) image.Image {
	t.Helper()
	ctype(t, r, "image/png")
	img, err := png.Decode(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func tilePath(layer string, zxy [3]int, ext string) string {
	return fmt.Sprintf("/v1/udfs/%s/tiles/%d/%d/%d%s", layer, zxy[0], zxy[1], zxy[2], ext)
}

func lonLat(zxy [3]int) tiles.Bounds {
	return tiles.Tile{Z: zxy[0], X: zxy[1], Y: zxy[2]}.LonLat()
}

func near(a, b, eps float64) bool { return math.Abs(a-b) <= eps }

// sameBounds fails unless a geometry's bound is b (within eps degrees).
func sameBounds(t *testing.T, what string, g orb.Bound, b tiles.Bounds, eps float64) {
	t.Helper()
	if !near(g.Min[0], b.MinX, eps) || !near(g.Min[1], b.MinY, eps) || !near(g.Max[0], b.MaxX, eps) || !near(g.Max[1], b.MaxY, eps) {
		t.Errorf("%s: bounds %v, want %+v", what, g, b)
	}
}

// aisRows is the AIS CSV the test data holds, as records.
func aisRows(t *testing.T, c *corpus) []map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(c.dir, "data/corpus/AIS_2024_01_01_100k_points.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, k := range rows[0] {
			m[k] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// stations are the subway stations of _make_data.py.
var stations = map[string][2]float64{
	"Times Sq-42 St": {-73.9870, 40.7553}, "Grand Central-42 St": {-73.9768, 40.7527}, "Union Sq-14 St": {-73.9903, 40.7356},
	"Atlantic Av-Barclays Ctr": {-73.9777, 40.6843}, "Fulton St": {-74.0078, 40.7102},
}

// checkStations: the five stations, each at its place.
func checkStations(t *testing.T, fc *geojson.FeatureCollection) {
	t.Helper()
	if len(fc.Features) != len(stations) {
		t.Fatalf("%d features, want %d", len(fc.Features), len(stations))
	}
	for _, f := range fc.Features {
		name, _ := f.Properties["name"].(string)
		want, ok := stations[name]
		p, isPoint := f.Geometry.(orb.Point)
		if !ok || !isPoint || !near(p[0], want[0], 1e-6) || !near(p[1], want[1], 1e-6) {
			t.Errorf("feature %q at %v, want %v", name, f.Geometry, want)
		}
	}
}

// rgbDiff compares two RGBA tiles: the mean absolute difference of the RGB
// of pixels opaque in both, and the share of pixels whose opacity agrees.
func rgbDiff(a, b image.Image) (mean, agree float64) {
	var sum, n, same, all float64
	bb := a.Bounds()
	for y := bb.Min.Y; y < bb.Max.Y; y++ {
		for x := bb.Min.X; x < bb.Max.X; x++ {
			r1, g1, b1, a1 := a.At(x, y).RGBA()
			r2, g2, b2, a2 := b.At(x, y).RGBA()
			all++
			if (a1 > 0) == (a2 > 0) {
				same++
			}
			if a1 > 0 && a2 > 0 {
				sum += math.Abs(float64(r1>>8)-float64(r2>>8)) + math.Abs(float64(g1>>8)-float64(g2>>8)) + math.Abs(float64(b1>>8)-float64(b2>>8))
				n += 3
			}
		}
	}
	if n == 0 {
		return math.Inf(1), same / all
	}
	return sum / n, same / all
}

func opaque(img image.Image) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if _, _, _, a := img.At(x, y).RGBA(); a > 0 {
				n++
			}
		}
	}
	return n
}

// corpusNotebookSnippets are the snippets of _notebook.py, each printing "ok <name>".
var corpusNotebookSnippets = []string{
	"sdk_hello_world", "sdk_simple_data", "large_jobs_run", "debug_mode", "filetile_run_single", "filetile_run_tile",
	"write_reserved_parameters", "cache_max_age_run", "async_parent_fn", "run_submit_wall_cpu_time", "batch_arg_list_submit",
}

// ---- the cases ----

var corpusCases = []corpusCase{
	// The two UDFs that sleep 5 s: first, to start first, and at once, to hold one
	// of the parallel cases' slots only.
	{name: "cache: Caching a UDF (slow_caching_udf); udf-best-practices: timing the steps", layers: []string{"cache_slow_caching_udf", "best_practices_timing"}, check: func(t *testing.T, c *corpus) {
		var timing response
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			timing = c.s.do("GET", "/v1/udfs/best_practices_timing/run?debug=true", nil, 90*time.Second)
		}()
		start := time.Now()
		r := c.get(t, "/v1/udfs/cache_slow_caching_udf/run")
		if took := time.Since(start); took < 5*time.Second || r.xcache() != "miss" {
			t.Errorf("slow_caching_udf, first run: %s, X-Cache %q: want the 5 s of a run", took, r.xcache())
		}
		if got := records(t, r); len(got) != 0 {
			t.Errorf("slow_caching_udf: got %v, want an empty table", got)
		}
		start = time.Now()
		r = c.get(t, "/v1/udfs/cache_slow_caching_udf/run")
		if took := time.Since(start); took > 2*time.Second || r.xcache() != "memory" || string(r.body) != "[]" {
			t.Errorf("slow_caching_udf, second run: %s, X-Cache %q, %q: want the cached result", took, r.xcache(), r.body)
		}

		wg.Wait()
		if timing.err != nil || timing.status != 200 || string(timing.body) != "null" {
			t.Fatalf("best_practices_timing: %d %v %q", timing.status, timing.err, timing.body)
		}
		lines := strings.Fields(udfLogs(t, timing))
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "process_time_1=5.") || !strings.HasPrefix(lines[1], "process_time_2=0.") {
			t.Fatalf("best_practices_timing printed %q", lines)
		}
		if p1, p2 := num(t, strings.TrimPrefix(lines[0], "process_time_1=")), num(t, strings.TrimPrefix(lines[1], "process_time_2=")); p1 > 5.5 || p2 < 0.2 || p2 > 1 {
			t.Errorf("best_practices_timing: times %g, %g, want about 5.0 and 0.2", p1, p2)
		}
	}},
	{name: "python-sdk/index: Hello World UDF", layers: []string{"sdk_hello_world"}, check: func(t *testing.T, c *corpus) {
		r := c.get(t, "/v1/udfs/sdk_hello_world/run")
		ctype(t, r, "text/html")
		if string(r.body) != "Hello world 2" {
			t.Errorf("got %q", r.body)
		}
		if r = c.get(t, "/v1/udfs/sdk_hello_world/run?x=41"); string(r.body) != "Hello world 42" {
			t.Errorf("x=41: got %q", r.body)
		}
	}},
	{name: "python-sdk/index: Simple data UDF", layers: []string{"sdk_simple_data"}, check: func(t *testing.T, c *corpus) {
		if got := records(t, c.get(t, "/v1/udfs/sdk_simple_data/run")); fmt.Sprint(got) != "[map[x:0] map[x:1] map[x:2]]" {
			t.Errorf("got %v", got)
		}
		r := c.get(t, "/v1/udfs/sdk_simple_data/run?x=5&format=csv")
		ctype(t, r, "text/csv")
		if got := strings.Fields(string(r.body)); strings.Join(got, " ") != "x 0 1 2 3 4" {
			t.Errorf("csv %q", r.body)
		}
	}},
	{name: "write: Function declaration", layers: []string{"write_function_declaration"}, check: func(t *testing.T, c *corpus) {
		got := records(t, c.get(t, "/v1/udfs/write_function_declaration/run?name=udftiles"))
		if len(got) != 1 || got[0]["message"] != "Hello udftiles!" {
			t.Errorf("got %v", got)
		}
	}},
	{name: "write: @fused.cache decorator (tile mode)", layers: []string{"write_cache_decorator"}, check: func(t *testing.T, c *corpus) {
		got := records(t, c.get(t, "/v1/udfs/write_cache_decorator/tiles/3/4/2?name=Tile"))
		if len(got) != 1 || got[0]["message"] != "Hello Tile!" {
			t.Errorf("tile: %v", got)
		}
		got = records(t, c.get(t, "/v1/udfs/write_cache_decorator/run"))
		if len(got) != 1 || got[0]["message"] != "Hello Fused!" {
			t.Errorf("file: %v", got)
		}
	}},
	{name: "write: pd.DataFrame as JSON", layers: []string{"write_typed_frames"}, check: func(t *testing.T, c *corpus) {
		body := `{"gdf": {"type": "FeatureCollection", "features": [
			{"type": "Feature", "properties": {"k": 1}, "geometry": {"type": "Point", "coordinates": [1, 2]}},
			{"type": "Feature", "properties": {"k": 2}, "geometry": {"type": "Point", "coordinates": [3, 4]}}]},
			"df": [{"n": 1}, {"n": 2}]}`
		var got map[string][]any
		jsonOf(t, c.req(t, "POST", "/v1/udfs/write_typed_frames/run", "", body, 200), &got)
		if b, _ := json.Marshal(got); string(b) != `{"df":["DataFrame",["n"],3],"gdf":["GeoDataFrame",2,"Point","EPSG:4326"]}` {
			t.Errorf("POST: %s", b)
		}
		q := "gdf=" + url.QueryEscape("POINT (5 6)") + "&df=" + url.QueryEscape(`{"n": [4, 5, 6]}`)
		jsonOf(t, c.get(t, "/v1/udfs/write_typed_frames/run?"+q), &got)
		if b, _ := json.Marshal(got); string(b) != `{"df":["DataFrame",["n"],15],"gdf":["GeoDataFrame",1,"Point","EPSG:4326"]}` {
			t.Errorf("GET: %s", b)
		}
	}},
	{name: "cache: @fused.cache inside a UDF", layers: []string{"cache_inside_udf"}, serial: true, check: func(t *testing.T, c *corpus) {
		// The cached function's two entries (i=1, i=2) are its only files, and a
		// second run of the UDF reads them instead of writing them again.
		root := filepath.Join(c.dir, "pycache", "fused-cache", "tmp")
		pkls := func() map[string]time.Time {
			out := map[string]time.Time{}
			matches, _ := filepath.Glob(filepath.Join(root, "*", "*.pkl"))
			for _, m := range matches {
				if fi, err := os.Stat(m); err == nil {
					out[m] = fi.ModTime()
				}
			}
			return out
		}
		before := pkls()
		got := records(t, c.get(t, "/v1/udfs/cache_inside_udf/run"))
		if fmt.Sprint(got) != "[map[i:1] map[i:1] map[i:2]]" {
			t.Errorf("got %v", got)
		}
		after := pkls()
		var added []string
		for p := range after {
			if _, ok := before[p]; !ok {
				added = append(added, p)
			}
		}
		if len(added) != 2 || filepath.Dir(added[0]) != filepath.Dir(added[1]) {
			t.Fatalf("new cache entries %v, want two of one function", added)
		}
		time.Sleep(20 * time.Millisecond)
		records(t, c.get(t, "/v1/udfs/cache_inside_udf/run?cache=false"))
		again := pkls()
		for _, p := range added {
			if !again[p].Equal(after[p]) {
				t.Errorf("%s was written again by the second run: not read from the cache", p)
			}
		}
		if len(again) != len(after) {
			t.Errorf("%d cache entries after the second run, want %d", len(again), len(after))
		}
	}},
	{name: "cache: with / without @fused.cache (AIS CSV)", layers: []string{"cache_with_cache_loading_udf", "cache_without_cache_loading_udf"}, check: func(t *testing.T, c *corpus) {
		rows := aisRows(t, c)
		for _, length := range []int{100, 250} {
			want := 0
			for _, r := range rows {
				if num(t, r["Length"]) > float64(length) {
					want++
				}
			}
			with := records(t, c.get(t, fmt.Sprintf("/v1/udfs/cache_with_cache_loading_udf/run?ship_length_meters=%d", length)))
			without := records(t, c.get(t, fmt.Sprintf("/v1/udfs/cache_without_cache_loading_udf/run?ship_length_meters=%d", length)))
			if len(with) != want || len(without) != want {
				t.Errorf("Length > %d: %d and %d rows, want %d", length, len(with), len(without), want)
			}
			for _, r := range with {
				if r["Length"].(float64) <= float64(length) {
					t.Fatalf("row %v: Length <= %d", r, length)
				}
			}
			if len(with) > 0 {
				var keys []string
				for k := range with[0] {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				if strings.Join(keys, ",") != "BaseDateTime,LAT,LON,Length,MMSI,SOG,VesselName" {
					t.Errorf("columns %v", keys)
				}
			}
			if fmt.Sprint(with) != fmt.Sprint(without) {
				t.Errorf("with and without the cache differ")
			}
		}
	}},
	{name: "cache: Caching & bounds", layers: []string{"cache_bounds_tile"}, check: func(t *testing.T, c *corpus) {
		zxy := [3]int{5, 10, 12}
		fc := features(t, c.get(t, tilePath("cache_bounds_tile", zxy, "")))
		if len(fc.Features) != 1 {
			t.Fatalf("%d features", len(fc.Features))
		}
		p := fc.Features[0].Properties
		if p["x"] != 10.0 || p["y"] != 12.0 || p["z"] != 5.0 {
			t.Errorf("properties %v, want the tile 5/10/12", p)
		}
		sameBounds(t, "tile", fc.Features[0].Geometry.Bound(), lonLat(zxy), 1e-7)
		// The same as a vector tile: one polygon covering the tile, with x, y, z.
		r := c.get(t, tilePath("cache_bounds_tile", zxy, ".mvt"))
		ctype(t, r, "application/vnd.mapbox-vector-tile")
		_, feats := mvtValues(t, r.body)
		if len(feats) != 1 || feats[0]["x"] != "sint 10" || feats[0]["z"] != "sint 5" {
			t.Errorf("mvt features %v", feats)
		}
		layers, err := mvt.Unmarshal(r.body)
		if err != nil || len(layers) != 1 || layers[0].Features[0].Geometry.GeoJSONType() != "Polygon" {
			t.Errorf("mvt: %v %v", err, layers)
		}
	}},
	{name: "cache: cache_max_age on @fused.udf", layers: []string{"cache_max_age_read_file"}, check: func(t *testing.T, c *corpus) {
		p := "/v1/udfs/cache_max_age_read_file/run?path=" + url.QueryEscape(filepath.Join(c.dir, "data/corpus/subway_stations.geojson"))
		r := c.get(t, p)
		checkStations(t, features(t, r))
		// The decorator's 24h (less the seconds since a notebook snippet ran it).
		var age int
		if _, err := fmt.Sscanf(r.header.Get("Cache-Control"), "public, max-age=%d", &age); err != nil || age > 86400 || age < 86000 {
			t.Errorf("Cache-Control %q, want the decorator's 24h", r.header.Get("Cache-Control"))
		}
		if r = c.get(t, p); r.xcache() != "memory" {
			t.Errorf("second run: X-Cache %q, want memory (cached)", r.xcache())
		}
		checkStations(t, features(t, r))
	}},
	{name: "cache: Resetting cache: cache_reset", layers: []string{"cache_reset_time"}, check: func(t *testing.T, c *corpus) {
		first := c.get(t, "/v1/udfs/cache_reset_time/run")
		if _, err := time.Parse("2006-01-02 15:04:05", string(first.body)); err != nil {
			t.Fatalf("not a time: %q", first.body)
		}
		time.Sleep(1100 * time.Millisecond)
		second := c.get(t, "/v1/udfs/cache_reset_time/run")
		if string(second.body) != string(first.body) || second.xcache() != "memory" {
			t.Errorf("second run %q (X-Cache %q), want the cached %q", second.body, second.xcache(), first.body)
		}
		reset := c.get(t, "/v1/udfs/cache_reset_time/run?cache_reset=true")
		if string(reset.body) <= string(first.body) || reset.xcache() != "miss" {
			t.Errorf("cache_reset=true: %q (X-Cache %q), want a later time than %q", reset.body, reset.xcache(), first.body)
		}
	}},
	{name: "download: fused.download", layers: []string{"download_census_zip"}, check: func(t *testing.T, c *corpus) {
		const path = "/geo/tiger/TIGER_RD18/STATE/11_DISTRICT_OF_COLUMBIA/11/tl_rd22_11_bg.zip"
		for i, q := range []string{"?debug=true", "?debug=true&cache=false"} {
			r := c.get(t, "/v1/udfs/download_census_zip/run"+q)
			if string(r.body) != "null" {
				t.Errorf("body %q, want null (the UDF returns nothing)", r.body)
			}
			out := strings.TrimSpace(udfLogs(t, r))
			if !strings.HasSuffix(out, "/out.zip") {
				t.Fatalf("printed %q, want the local path of out.zip", out)
			}
			if !filepath.IsAbs(out) {
				out = filepath.Join(c.dir, out)
			}
			if b, err := os.ReadFile(out); err != nil || !bytes.Equal(b, censusZip) {
				t.Errorf("run %d: %s: %v, %q", i, out, err, b)
			}
		}
		if n := c.web.hitsOf(path); n != 1 {
			t.Errorf("downloaded %d times, want once", n)
		}
	}},
	{name: "environment-variables: .env written, then loaded", layers: []string{"env_write_dotenv", "env_load_dotenv"}, check: func(t *testing.T, c *corpus) {
		if r := c.get(t, "/v1/udfs/env_write_dotenv/run"); string(r.body) != "null" {
			t.Errorf("write: %q", r.body)
		}
		b, err := os.ReadFile(filepath.Join(c.dir, "mnt/cache/.env"))
		if err != nil || !strings.Contains(string(b), "MY_ENV_VAR=123") {
			t.Fatalf(".env: %v %q", err, b)
		}
		r := c.get(t, "/v1/udfs/env_load_dotenv/run?debug=true")
		if logs := udfLogs(t, r); strings.TrimSpace(logs) != "Updated MY_ENV_VAR: 123" {
			t.Errorf("printed %q", logs)
		}
	}},
	{name: "file-system: /mnt/cache disk", layers: []string{"filesystem_listdir"}, check: func(t *testing.T, c *corpus) {
		logs := udfLogs(t, c.get(t, "/v1/udfs/filesystem_listdir/run?debug=true&cache=false"))
		lines := strings.Split(strings.TrimSpace(logs), "\n")
		if !slices.Contains(lines, "corpus-listing.txt") || !slices.Contains(lines, "demo_multiple_arg_list_run") {
			t.Errorf("listed %q", lines)
		}
	}},
	{name: "large_jobs: Multiple Parameters", layers: []string{"batch_multiple_parameters"}, check: func(t *testing.T, c *corpus) {
		got := records(t, c.req(t, "POST", "/v1/udfs/batch_multiple_parameters/run", "", `{"variables": {"val1": 3, "val2": 7}}`, 200))
		if fmt.Sprint(got) != "[map[output:21]]" {
			t.Errorf("got %v", got)
		}
		b, err := os.ReadFile(filepath.Join(c.dir, "mnt/cache/demo_multiple_arg_list_run/output_21.csv"))
		if err != nil || string(b) != ",output\n0,21\n" {
			t.Errorf("output_21.csv: %v %q", err, b)
		}
		// The default dict.
		if got := records(t, c.get(t, "/v1/udfs/batch_multiple_parameters/run")); fmt.Sprint(got) != "[map[output:2]]" {
			t.Errorf("default: %v", got)
		}
	}},
	{name: "large_jobs: instance_type (a job from workbench)", layers: []string{"batch_instance_type"}, check: func(t *testing.T, c *corpus) {
		r := c.get(t, "/v1/udfs/batch_instance_type/run?name=corpus&debug=true")
		if string(r.body) != "Done" {
			t.Errorf("got %q", r.body)
		}
		logs := udfLogs(t, r)
		if !strings.Contains(logs, "Hello corpus") {
			t.Errorf("printed %q", logs)
		}
	}},
	{name: "run: Token (a private UDF shared by token)", layers: []string{"run_private_token"}, check: func(t *testing.T, c *corpus) {
		c.req(t, "GET", "/v1/udfs/run_private_token/run?my_udf_input=x", "", "", 401)
		got := records(t, c.get(t, "/server/v1/realtime-shared/fsh_corpus_private/run/file?my_udf_input=secret"))
		if fmt.Sprint(got) != "[map[input:secret]]" {
			t.Errorf("got %v", got)
		}
		r := c.get(t, "/server/v1/realtime-shared/fsh_corpus_private/run/file.csv?my_udf_input=csv")
		ctype(t, r, "text/csv")
		if strings.Fields(string(r.body))[1] != "csv" {
			t.Errorf("csv %q", r.body)
		}
	}},
	{name: "run: Passing parameters (shared token URL)", layers: []string{"run_passing_parameters"}, check: func(t *testing.T, c *corpus) {
		got := records(t, c.get(t, "/server/v1/realtime-shared/fsh_corpus_params/run/file?lat=37.7749&lon=-121.4194"))
		// Unannotated parameters are strings, as Fused has them.
		if b, _ := json.Marshal(got); string(b) != `[{"lat":"37.7749","lon":"-121.4194"}]` {
			t.Errorf("got %s", b)
		}
	}},
	{name: "run: Calling UDFs without Python SDK (inline code)", layers: []string{"_inline_hello"}, check: func(t *testing.T, c *corpus) {
		code, err := os.ReadFile(filepath.Join(corpusFixtures(t), "_inline_hello.py"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]any{"code": string(code), "params": map[string]any{"name": "inline"}})
		c.req(t, "POST", "/v1/run", "", string(body), 401)
		got := records(t, c.req(t, "POST", "/v1/run", c.adminTok, string(body), 200))
		if fmt.Sprint(got) != "[map[hello:inline]]" {
			t.Errorf("got %v", got)
		}
	}},
	{name: "filetile: Single (Viewport / Parameter)", layers: []string{"filetile_single_bounds"}, check: func(t *testing.T, c *corpus) {
		var got []float64
		jsonOf(t, c.get(t, "/v1/udfs/filetile_single_bounds/run"), &got)
		if fmt.Sprint(got) != "[-74.38 40.32 -73.31 41.29]" {
			t.Errorf("default: %v", got)
		}
		jsonOf(t, c.get(t, "/v1/udfs/filetile_single_bounds/run?bounds=1,2,3,4"), &got)
		if fmt.Sprint(got) != "[1 2 3 4]" {
			t.Errorf("bounds=1,2,3,4: %v", got)
		}
		jsonOf(t, c.get(t, "/v1/udfs/filetile_single_bounds/tiles/1/0/0"), &got)
		if want := lonLat([3]int{1, 0, 0}); len(got) != 4 || !near(got[0], want.MinX, 1e-9) || !near(got[1], want.MinY, 1e-9) ||
			!near(got[2], want.MaxX, 1e-9) || !near(got[3], want.MaxY, 1e-9) {
			t.Errorf("tile 1/0/0: %v, want %+v", got, want)
		}
	}},
	{name: "filetile: [Legacy] fused.types.Tile", layers: []string{"filetile_legacy_tile"}, check: func(t *testing.T, c *corpus) {
		r := c.get(t, "/v1/udfs/filetile_legacy_tile/tiles/11/327/790?debug=true")
		if string(r.body) != "null" {
			t.Errorf("body %q", r.body)
		}
		logs := udfLogs(t, r)
		fields := strings.Fields(logs)
		// A one-row GeoDataFrame: x y z geometry / 0 327 790 11 POLYGON ((...
		if len(fields) < 9 || strings.Join(fields[:4], " ") != "x y z geometry" || strings.Join(fields[4:9], " ") != "0 327 790 11 POLYGON" {
			t.Errorf("printed %q", logs)
		}
	}},
	{name: "filetile: [Legacy] fused.types.ViewportGDF", layers: []string{"filetile_viewport_gdf"}, check: func(t *testing.T, c *corpus) {
		zxy := [3]int{11, 327, 790}
		fc := features(t, c.get(t, tilePath("filetile_viewport_gdf", zxy, "")))
		if len(fc.Features) != 1 || fc.Features[0].Geometry.GeoJSONType() != "Polygon" {
			t.Fatalf("features %v", fc.Features)
		}
		sameBounds(t, "viewport", fc.Features[0].Geometry.Bound(), lonLat(zxy), 1e-7)
	}},
	{name: "processing-statistics: Buffer analysis", layers: []string{"processing_buffer_analysis"}, check: func(t *testing.T, c *corpus) {
		fc := features(t, c.get(t, "/v1/udfs/processing_buffer_analysis/run?n_points=400&buffer=0.002"))
		if len(fc.Features) == 0 || len(fc.Features) >= 400 {
			t.Fatalf("%d points kept of 400", len(fc.Features))
		}
		a, b := orb.Point{-122.4194, 37.8065}, orb.Point{-122.4032, 37.7954}
		for _, f := range fc.Features {
			p := f.Geometry.(orb.Point)
			if d := segmentDistance(p, a, b); d > 0.002+1e-9 {
				t.Fatalf("point %v is %g from the road, past the buffer", p, d)
			}
		}
	}},
	{name: "read-data: geopandas", layers: []string{"read_geopandas"}, check: func(t *testing.T, c *corpus) {
		checkStations(t, features(t, c.get(t, "/v1/udfs/read_geopandas/run")))
	}},
	{name: "read-data: shapely", layers: []string{"read_shapely"}, check: func(t *testing.T, c *corpus) {
		fc := features(t, c.get(t, "/v1/udfs/read_shapely/run"))
		var got []string
		for _, f := range fc.Features {
			got = append(got, fmt.Sprintf("%v:%s", f.Properties["name"], f.Geometry.GeoJSONType()))
		}
		if strings.Join(got, " ") != "Point A:Point Point B:Point Polygon:Polygon" {
			t.Errorf("got %v", got)
		}
		if b := fc.Features[2].Geometry.Bound(); b.Min != (orb.Point{-122.5, 37.7}) || b.Max != (orb.Point{-122.3, 37.9}) {
			t.Errorf("polygon %v", b)
		}
	}},
	{name: "read-data: xarray (NetCDF via fused.download)", layers: []string{"read_xarray_netcdf"}, check: func(t *testing.T, c *corpus) {
		got := records(t, c.get(t, "/v1/udfs/read_xarray_netcdf/run"))
		if len(got) != 24 {
			t.Fatalf("%d rows, want 2 times x 3 latitudes x 4 longitudes", len(got))
		}
		first, last := got[0], got[23]
		if first["t2m"] != 270.0 || first["sp"] != 101325.0 || first["latitude"] != 50.0 || first["longitude"] != 10.0 ||
			!strings.HasPrefix(fmt.Sprint(first["time"]), "2025-01-01T00:00:00") {
			t.Errorf("first row %v", first)
		}
		if last["t2m"] != 293.0 || !strings.HasPrefix(fmt.Sprint(last["time"]), "2025-01-01T12:00:00") || last["longitude"] != 10.75 {
			t.Errorf("last row %v", last)
		}
	}},
	{name: "read-data: NetCDF (.nc)", layers: []string{"read_netcdf_climate"}, check: func(t *testing.T, c *corpus) {
		got := records(t, c.get(t, "/v1/udfs/read_netcdf_climate/run"))
		if len(got) != 1000 {
			t.Fatalf("%d rows, want head(1000) of 2000", len(got))
		}
		if got[0]["temperature"] != 0.0 || got[999]["temperature"] != 99.9 || got[999]["lat"] != 9.0 || got[999]["lon"] != 9.0 {
			t.Errorf("rows 0 and 999: %v %v", got[0], got[999])
		}
	}},
	{name: "read-data: GeoJSON, Shapefile, GeoPackage", layers: []string{"read_geojson", "read_shapefile", "read_geopackage"}, check: func(t *testing.T, c *corpus) {
		for _, cs := range []struct {
			layer, name string
			n           int
			prop        string
		}{
			{"read_geojson", "Germany", 177, "pop_est"},
			{"read_shapefile", "Paris", 243, ""},
			{"read_geopackage", "Germany", 177, "iso_a3"},
		} {
			fc := features(t, c.get(t, "/v1/udfs/"+cs.layer+"/run"))
			found := false
			for _, f := range fc.Features {
				if f.Properties["name"] == cs.name {
					found = true
					if cs.prop != "" && f.Properties[cs.prop] == nil {
						t.Errorf("%s: %s has no %s", cs.layer, cs.name, cs.prop)
					}
					if cs.name == "Paris" {
						if p := f.Geometry.(orb.Point); !near(p[0], 2.35, 0.05) || !near(p[1], 48.86, 0.05) {
							t.Errorf("Paris at %v", p)
						}
					}
				}
			}
			if len(fc.Features) != cs.n || !found {
				t.Errorf("%s: %d features (want %d), %s found: %v", cs.layer, len(fc.Features), cs.n, cs.name, found)
			}
		}
	}},
	{name: "read-data: CSV with coordinates, Excel", layers: []string{"read_csv_coordinates", "read_excel"}, check: func(t *testing.T, c *corpus) {
		for _, l := range []string{"read_csv_coordinates", "read_excel"} {
			fc := features(t, c.get(t, "/v1/udfs/"+l+"/run"))
			checkStations(t, fc)
			if fc.Features[0].Properties["line"] != "1-2-3" {
				t.Errorf("%s: first row %v", l, fc.Features[0].Properties)
			}
		}
	}},
	{name: "read-data: GeoTIFF (array, bounds)", layers: []string{"read_geotiff"}, check: func(t *testing.T, c *corpus) {
		// Placed on the tile by its bounds: the same pixels as the COG handler's
		// tile of the file; the tile's part south of 42°N (off the image) transparent.
		zxy := [3]int{6, 34, 23}
		img := decodePNG(t, c.get(t, tilePath("read_geotiff", zxy, ".png")))
		ref := decodePNG(t, c.get(t, tilePath("rgb", zxy, ".png")))
		mean, agree := rgbDiff(img, ref)
		if mean > 3 || agree < 0.98 {
			t.Errorf("against the COG layer's tile: mean difference %.2f, opacity agrees on %.1f%%", mean, 100*agree)
		}
		if n := opaque(img); n < 256*256/2 || n == 256*256 {
			t.Errorf("%d opaque pixels: the image covers part of the tile", n)
		}
		// Outside the image: a fully transparent tile.
		if n := opaque(decodePNG(t, c.get(t, tilePath("read_geotiff", [3]int{6, 40, 22}, ".png")))); n != 0 {
			t.Errorf("a tile off the image has %d opaque pixels", n)
		}
	}},
	{name: "write-data: Array to Cloud Optimized GeoTIFF", layers: []string{"write_cog"}, check: func(t *testing.T, c *corpus) {
		r := c.get(t, "/v1/udfs/write_cog/run")
		const want = "File saved to shared disk at mnt/cache/wildfires_processed_udftiles.tif"
		if string(r.body) != want {
			t.Fatalf("got %q, want %q", r.body, want)
		}
		// The file holds 0 and 255 only, 255 on the top 20% of the values.
		out, err := exec.Command(python3, "-c", `import sys, rasterio, numpy as np
with rasterio.open(sys.argv[1]) as s:
    a = s.read()
print(s.count, a.dtype, sorted(set(np.unique(a).tolist())), round(float((a == 255).mean()), 2))`,
			filepath.Join(c.dir, "mnt/cache/wildfires_processed_udftiles.tif")).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "3 uint8 [0, 255] 0.") {
			t.Fatalf("written file: %v %s", err, out)
		}
		share := num(t, strings.Fields(string(out))[4])
		if share < 0.1 || share > 0.21 {
			t.Errorf("share of 255: %g, want about 0.2", share)
		}
	}},
	{name: "ingest-your-data: table_to_tile of an ingested table", layers: []string{"ingest_table_to_tile"}, check: func(t *testing.T, c *corpus) {
		// At z12 and deeper the rows of the tile (geometry only, use_columns' default).
		paris := tiles.AtLonLat(2.35299, 48.85809, 12)
		fc := features(t, c.get(t, tilePath("ingest_table_to_tile", [3]int{paris.Z, paris.X, paris.Y}, "")))
		if len(fc.Features) != 1 || len(fc.Features[0].Properties) != 0 {
			t.Fatalf("features %v", fc.Features)
		}
		if p := fc.Features[0].Geometry.(orb.Point); !near(p[0], 2.35299, 1e-4) || !near(p[1], 48.85809, 1e-4) {
			t.Errorf("the city %v, want Paris", p)
		}
		// Below min_zoom one row per file: its extent and row count.
		fc = features(t, c.get(t, "/v1/udfs/ingest_table_to_tile/tiles/2/2/1"))
		if len(fc.Features) != 1 || fc.Features[0].Properties["num_rows"] != 243.0 || fc.Features[0].Properties["file_id"] != 0.0 {
			t.Errorf("z2: %v", fc.Features)
		}
	}},
	{name: "why-ingestion: from_csv_df_udf (bounds, and cached ViewportGDF)", layers: []string{"ingestion_from_csv_df_udf", "ingestion_cached_csv_viewport"}, check: func(t *testing.T, c *corpus) {
		tile := tiles.AtLonLat(-81.40, 30.52, 12)
		zxy := [3]int{tile.Z, tile.X, tile.Y}
		b := tile.LonLat()
		want := 0
		for _, r := range aisRows(t, c) {
			lon, lat := num(t, r["LON"]), num(t, r["LAT"])
			if lon > b.MinX && lon < b.MaxX && lat > b.MinY && lat < b.MaxY {
				want++
			}
		}
		if want < 20 {
			t.Fatalf("only %d points in the tile: the test data moved", want)
		}
		for _, l := range []string{"ingestion_from_csv_df_udf", "ingestion_cached_csv_viewport"} {
			fc := features(t, c.get(t, tilePath(l, zxy, "")))
			if len(fc.Features) != want {
				t.Errorf("%s: %d points, want %d", l, len(fc.Features), want)
			}
			for _, f := range fc.Features {
				p := f.Geometry.(orb.Point)
				if p[0] != f.Properties["LON"] || p[1] != f.Properties["LAT"] || !b.Contains(tiles.Bounds{MinX: p[0], MinY: p[1], MaxX: p[0], MaxY: p[1]}) {
					t.Fatalf("%s: point %v (LON %v, LAT %v) not in the tile", l, p, f.Properties["LON"], f.Properties["LAT"])
				}
			}
		}
	}},
	{name: "why-ingestion: save_ais_csv_to_fused_udf (fused.api.upload to fd://)", layers: []string{"ingestion_save_ais_csv"}, check: func(t *testing.T, c *corpus) {
		got := records(t, c.get(t, "/v1/udfs/ingestion_save_ais_csv/run"))
		if fmt.Sprint(got) != "[map[status:done]]" {
			t.Errorf("got %v", got)
		}
		want, _ := os.ReadFile(filepath.Join(c.dir, "data/corpus/AIS_2024_01_01_100k_points.csv"))
		up, err := os.ReadFile(filepath.Join(c.dir, "fd/demo_reading_ais/AIS_2024_01_01.csv"))
		if err != nil || len(want) == 0 || !bytes.Equal(up, want) {
			t.Errorf("uploaded file: %v, %d bytes, want the %d of the CSV", err, len(up), len(want))
		}
	}},
	{name: "dark-vessel-detection: bounds_to_gdf", layers: []string{"dark_vessel_bounds_to_gdf", "dark_vessel_specific_bounds"}, check: func(t *testing.T, c *corpus) {
		zxy := [3]int{10, 163, 395}
		fc := features(t, c.get(t, tilePath("dark_vessel_bounds_to_gdf", zxy, "")))
		if len(fc.Features) != 1 {
			t.Fatalf("%d features", len(fc.Features))
		}
		sameBounds(t, "bounds_to_gdf", fc.Features[0].Geometry.Bound(), lonLat(zxy), 1e-7)
		fc = features(t, c.get(t, tilePath("dark_vessel_specific_bounds", zxy, "")))
		if len(fc.Features) != 1 {
			t.Fatalf("%d features", len(fc.Features))
		}
		sameBounds(t, "specific_bounds", fc.Features[0].Geometry.Bound(),
			tiles.Bounds{MinX: -93.90425364, MinY: 29.61879782, MaxX: -93.72767384, MaxY: 29.7114987}, 1e-7)
	}},
	{name: "dark-vessel-detection: AIS around the Sentinel 1 time (table_to_tile)", layers: []string{"dark_vessel_ais_table"}, check: func(t *testing.T, c *corpus) {
		r := c.get(t, tilePath("dark_vessel_ais_table", c.expected.AISTile, "?debug=true"))
		fc := features(t, r)
		var got []string
		for _, f := range fc.Features {
			got = append(got, fmt.Sprint(f.Properties["MMSI"]))
			if !strings.HasPrefix(fmt.Sprint(f.Properties["datetime"]), "2024-09-04T00:") {
				t.Errorf("datetime %v", f.Properties["datetime"])
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, c.expected.AISInTime) {
			t.Errorf("MMSI %v, want %v (the points of the tile within 6 min)", got, c.expected.AISInTime)
		}
		logs := udfLogs(t, r)
		if !strings.Contains(logs, "monthly_ais_table='data/corpus/AIS_2024_ingester/prod_2024_09/'") ||
			!strings.Contains(logs, fmt.Sprintf("ais_df.shape=(%d, 3)", c.expected.AISInTile)) {
			t.Errorf("printed %q", logs)
		}
	}},
	{name: "dark-vessel-detection: boat detection by 2D convolution", layers: []string{"dark_vessel_convolution"}, check: func(t *testing.T, c *corpus) {
		img := decodePNG(t, c.get(t, tilePath("dark_vessel_convolution", c.expected.S1Tile, ".png")))
		// Dark water stays 0; a boat of 480 gives the standard deviations of k of
		// nine shifted samples at its edges: 480*sqrt(k(9-k))/9, cast to uint8.
		allowed := map[uint32]bool{0: true, 150: true, 199: true, 226: true, 238: true}
		counts := map[uint32]int{}
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, a := img.At(x, y).RGBA()
				v := r >> 8
				if g>>8 != v || bl>>8 != v || a>>8 != 255 {
					t.Fatalf("pixel %d,%d: %d %d %d %d, want opaque grey", x, y, r>>8, g>>8, bl>>8, a>>8)
				}
				counts[v]++
				if !allowed[v] {
					t.Fatalf("pixel %d,%d: %d is not a value the convolution gives", x, y, v)
				}
			}
		}
		if counts[238] == 0 || counts[0] < 256*256*9/10 {
			t.Errorf("values %v: want boats' rings on dark water", counts)
		}
	}},
	{name: "exploring_maxar_data: extent, then the image by tile", layers: []string{"maxar_display"}, check: func(t *testing.T, c *corpus) {
		fc := features(t, c.get(t, "/v1/udfs/maxar_display/run?display_extent=true"))
		if len(fc.Features) != 1 {
			t.Fatalf("%d features", len(fc.Features))
		}
		sameBounds(t, "extent", fc.Features[0].Geometry.Bound(), tiles.Bounds{MinX: 10, MinY: 42, MaxX: 20, MaxY: 50}, 1e-9)
		zxy := [3]int{7, 68, 46}
		ref := decodePNG(t, c.get(t, tilePath("rgb", zxy, ".png")))
		for _, p := range []string{
			tilePath("maxar_display", zxy, ".png?display_extent=false"),
			// The docs' tile URL: a shared token's tiles/{z}/{x}/{y}?format=png.
			fmt.Sprintf("/server/v1/realtime-shared/fsh_corpus_maxar/run/tiles/%d/%d/%d?format=png&display_extent=false", zxy[0], zxy[1], zxy[2]),
		} {
			img := decodePNG(t, c.get(t, p))
			mean, agree := rgbDiff(img, ref)
			if mean > 3 || agree < 0.99 || opaque(img) != 256*256 {
				t.Errorf("%s against the COG layer's tile: mean difference %.2f, opacity agrees on %.1f%%, %d opaque",
					p, mean, 100*agree, opaque(img))
			}
		}
	}},
	{name: "blog dl4eo: a saved UDF folder (TileGDF, from utils import ...)", layers: []string{"dl4eo_tile"}, check: func(t *testing.T, c *corpus) {
		zxy := [3]int{8, 137, 91}
		ref := decodePNG(t, c.get(t, tilePath("rgb", zxy, ".png")))
		img := decodePNG(t, c.get(t, tilePath("dl4eo_tile", zxy, ".png")))
		if mean, agree := rgbDiff(img, ref); mean > 3 || agree < 0.99 {
			t.Errorf("against the COG layer's tile: mean difference %.2f, opacity agrees on %.1f%%", mean, 100*agree)
		}
		// chip_len sets the array's size; the tile is 256 px whatever it is.
		if img = decodePNG(t, c.get(t, tilePath("dl4eo_tile", zxy, ".png?chip_len=64"))); img.Bounds().Dx() != 256 {
			t.Errorf("chip_len=64: a %v tile", img.Bounds())
		} else if mean, _ := rgbDiff(img, ref); mean > 6 {
			t.Errorf("chip_len=64: mean difference %.2f", mean)
		}
	}},
	{name: "zonal-stats: crop share per block group", layers: []string{"zonal_stats"}, check: func(t *testing.T, c *corpus) {
		fc := features(t, c.get(t, tilePath("zonal_stats", c.expected.CDLSTile, "")))
		if len(fc.Features) != 2 {
			t.Fatalf("%d features", len(fc.Features))
		}
		for _, f := range fc.Features {
			p := f.Properties
			var keys []string
			for k := range p {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if strings.Join(keys, ",") != "FUNCSTAT,GEOID,MTFCC,NAMELSAD,count,stats" {
				t.Errorf("columns %v (use_columns keeps the census columns; geom_stats adds stats and count)", keys)
			}
			stats, _ := p["stats"].(float64)
			count, _ := p["count"].(float64)
			switch p["NAMELSAD"] {
			case "Block Group 1": // the west half: all crop 36
				if stats < 0.97 || count < 0.4*256*256 {
					t.Errorf("west: stats %v count %v, want about 1 over half the tile", stats, count)
				}
			case "Block Group 2":
				if stats > 0.03 || count < 0.4*256*256 {
					t.Errorf("east: stats %v count %v, want about 0 over half the tile", stats, count)
				}
			default:
				t.Errorf("feature %v", p)
			}
		}
	}},
	{name: "geo-faq: mercantile tiles of a geometry", layers: []string{"geo_faq_mercantile_tiles"}, check: func(t *testing.T, c *corpus) {
		var got struct {
			Count       int
			First, Last []int
		}
		jsonOf(t, c.get(t, "/v1/udfs/geo_faq_mercantile_tiles/run"), &got)
		lo := tiles.AtLonLat(32.4203, -12.42826, 15) // north-west
		hi := tiles.AtLonLat(34.6186, -14.0933, 15)  // south-east
		want := (hi.X - lo.X + 1) * (hi.Y - lo.Y + 1)
		if got.Count != want || fmt.Sprint(got.First) != fmt.Sprint([]int{lo.X, lo.Y, 15}) || fmt.Sprint(got.Last) != fmt.Sprint([]int{hi.X, hi.Y, 15}) {
			t.Errorf("got %+v, want %d tiles from %v to %v", got, want, lo, hi)
		}
	}},
	{name: "top-level-functions: fused.download (geodataframe_from_geojson)", layers: []string{"sdk_download_geojson"}, check: func(t *testing.T, c *corpus) {
		fc := features(t, c.get(t, "/v1/udfs/sdk_download_geojson/run"))
		if len(fc.Features) != 2 || fc.Features[0].Properties["name"] != "a" || fc.Features[1].Properties["n"] != 2.0 ||
			fc.Features[1].Geometry.(orb.Point) != (orb.Point{-3.25, 4.75}) {
			t.Errorf("features %v", fc.Features)
		}
	}},
	{name: "dynamic-tile-to-h3: DEM tile coloured by url_to_plasma", layers: []string{"h3_dem_url_to_plasma"}, check: func(t *testing.T, c *corpus) {
		// The tile's GeoTIFF from the (stand-in) Mapzen URL, coloured with plasma over
		// -1000..2000: the colours the COG layer gives the same tile with that rescale.
		zxy := [3]int{11, 1101, 719}
		img := decodePNG(t, c.get(t, tilePath("h3_dem_url_to_plasma", zxy, ".png?type=png")))
		ref := decodePNG(t, c.get(t, tilePath("elevation", zxy, ".png?colormap=plasma&rescale=-1000,2000")))
		if n := opaque(ref); n < 256*256*9/10 {
			t.Fatalf("the reference tile has %d opaque pixels", n)
		}
		var sum, n float64
		b := ref.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r1, g1, b1, a1 := ref.At(x, y).RGBA()
				r2, g2, b2, a2 := img.At(x, y).RGBA()
				if a2>>8 != 255 {
					t.Fatalf("pixel %d,%d: alpha %d, want an RGB tile", x, y, a2>>8)
				}
				if a1 > 0 {
					sum += math.Abs(float64(r1>>8)-float64(r2>>8)) + math.Abs(float64(g1>>8)-float64(g2>>8)) + math.Abs(float64(b1>>8)-float64(b2>>8))
					n += 3
				}
			}
		}
		if mean := sum / n; mean > 4 {
			t.Errorf("mean difference %.2f from the COG layer's plasma tile", mean)
		}
		if c.web.hitsOf("/elevation-tiles-prod/geotiff/11/1101/719.tif") != 1 {
			t.Errorf("the GeoTIFF tile was fetched %d times, want once", c.web.hitsOf("/elevation-tiles-prod/geotiff/11/1101/719.tif"))
		}
	}},
	{name: "dynamic-tile-to-h3: a UDF running the map template UDF", layers: []string{"h3_hex_tile_map", "UDF_Hex_Tile_Map_Template"}, check: func(t *testing.T, c *corpus) {
		r := c.get(t, "/v1/udfs/h3_hex_tile_map/run")
		ctype(t, r, "text/html")
		page := string(r.body)
		start := strings.Index(page, `id="map-config">`)
		end := strings.Index(page, "</script>")
		if start < 0 || end < start {
			t.Fatalf("page %q", page)
		}
		var cfg struct {
			TileURLTemplate string         `json:"tile_url_template"`
			Config          map[string]any `json:"config"`
			Center          []float64      `json:"center"`
			Zoom            int            `json:"zoom"`
			TooltipColumns  []string       `json:"tooltip_columns"`
		}
		if err := json.Unmarshal([]byte(page[start+len(`id="map-config">`):end]), &cfg); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(cfg.Center, cfg.Zoom, cfg.TooltipColumns) != "[-119.4179 36.7783] 5 [POP GEOID NAME]" || cfg.Config["hexLayer"] == nil {
			t.Errorf("template got %+v", cfg)
		}
		// The tile URL the page holds serves the tiles.
		u := strings.NewReplacer("{z}", "3", "{x}", "4", "{y}", "2").Replace(cfg.TileURLTemplate)
		path, ok := strings.CutPrefix(u, c.s.base)
		if !ok {
			t.Fatalf("tile URL %q is not the server's", u)
		}
		if tile := c.get(t, path); !strings.Contains(string(tile.body), `"Germany"`) {
			t.Errorf("%s: %.300s", path, tile.body)
		}
	}},
	{name: "read-data: STAC Earth on AWS ((DataArray, bounds))", layers: []string{"read_stac_earth_on_aws"}, check: func(t *testing.T, c *corpus) {
		// Raw values (npy) of the DataArray placed on the tile: the DEM's, as the
		// COG layer reads them (other resampling: close, not equal).
		zxy := [3]int{11, 1101, 719}
		got := npyFloats(t, c.get(t, tilePath("read_stac_earth_on_aws", zxy, ".npy")))
		ref := npyFloats(t, c.get(t, tilePath("elevation", zxy, ".npy")))
		if len(got) != len(ref) || len(got) != 256*256 {
			t.Fatalf("%d and %d values", len(got), len(ref))
		}
		var diff, n float64
		for i := range got {
			if ref[i] > 0 && got[i] > 0 {
				diff += math.Abs(got[i] - ref[i])
				n++
			}
		}
		if n < 256*256*8/10 || diff/n > 60 {
			t.Errorf("%.0f pixels compared, mean difference %.1f m from the DEM", n, diff/n)
		}
	}},
	{name: "blog kristin: NetCDF cut with get_da, clip_arr, get_da_bounds", layers: []string{"blog_netcdf_clip_arr"}, check: func(t *testing.T, c *corpus) {
		zxy := [3]int{5, 16, 11}
		img := decodePNG(t, c.get(t, tilePath("blog_netcdf_clip_arr", zxy, ".png")))
		cmap, err := colormap.Lookup("rainbow_r")
		if err != nil {
			t.Fatal(err)
		}
		b := lonLat(zxy).ToMercator()
		for _, p := range [][2]float64{{1, 47}, {5, 47.5}, {10, 48}, {1, 42}, {6, 43}, {10, 44}} {
			v := 0.9 // the grid's value there
			if p[1] >= 45 {
				v = (p[0] + 10) / 40
			}
			want := cmap.Index(uint8(min(255, int(v*256))))
			mx, my := tiles.LonLatToMercator(p[0], p[1])
			px, py := int((mx-b.MinX)/(b.MaxX-b.MinX)*256), int((b.MaxY-my)/(b.MaxY-b.MinY)*256)
			r, g, bl, a := img.At(px, py).RGBA()
			if a>>8 != 255 || math.Abs(float64(r>>8)-float64(want[0])) > 25 || math.Abs(float64(g>>8)-float64(want[1])) > 25 ||
				math.Abs(float64(bl>>8)-float64(want[2])) > 25 {
				t.Errorf("at %v (pixel %d,%d): %d %d %d %d, want about %v (value %.3f)", p, px, py, r>>8, g>>8, bl>>8, a>>8, want, v)
			}
		}
	}},
	{name: "notebook snippets (Python client)", layers: []string{"_notebook", "udf_to_run_async", "run_sleep_val"}, last: true, check: func(t *testing.T, c *corpus) {
		// clients/python on PYTHONPATH (as docs_test.go runs the docs' Python),
		// UDFTILES_URL the corpus server.
		run := <-c.notebook
		out := run.out
		if run.err != nil || !strings.Contains(out, "notebook ok:") {
			t.Fatalf("_notebook.py: %v\n%s", run.err, out)
		}
		for _, n := range corpusNotebookSnippets {
			if !strings.Contains(out, "ok "+n+"\n") {
				t.Errorf("snippet %s did not pass:\n%s", n, out)
			}
		}
		if !strings.Contains(out, fmt.Sprintf("notebook ok: %d\n", len(corpusNotebookSnippets))) {
			t.Errorf("want %d snippets:\n%s", len(corpusNotebookSnippets), out)
		}
		// The batch job of Multiple Parameters wrote its files.
		for _, v := range []int{6, 20} {
			b, err := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("mnt/cache/demo_multiple_arg_list_run/output_%d.csv", v)))
			if err != nil || string(b) != fmt.Sprintf(",output\n0,%d\n", v) {
				t.Errorf("output_%d.csv: %v %q", v, err, b)
			}
		}
	}},
}

// segmentDistance is the distance in degrees from p to the segment ab.
func segmentDistance(p, a, b orb.Point) float64 {
	dx, dy := b[0]-a[0], b[1]-a[1]
	u := ((p[0]-a[0])*dx + (p[1]-a[1])*dy) / (dx*dx + dy*dy)
	u = math.Max(0, math.Min(1, u))
	return math.Hypot(p[0]-(a[0]+u*dx), p[1]-(a[1]+u*dy))
}

// npyFloats reads a .npy answer (any numeric dtype the server writes) as float64s.
func npyFloats(t *testing.T, r response) []float64 {
	t.Helper()
	b := r.body
	if len(b) < 10 || string(b[1:6]) != "NUMPY" {
		t.Fatalf("not npy: %.40q", b)
	}
	hl := int(b[8]) | int(b[9])<<8
	header := string(b[10 : 10+hl])
	data := b[10+hl:]
	var descr string
	if i := strings.Index(header, "'descr': '"); i >= 0 {
		descr = header[i+10:]
		descr = descr[:strings.Index(descr, "'")]
	}
	var out []float64
	switch descr {
	case "<i2":
		for i := 0; i+1 < len(data); i += 2 {
			out = append(out, float64(int16(uint16(data[i])|uint16(data[i+1])<<8)))
		}
	case "<i8":
		for i := 0; i+7 < len(data); i += 8 {
			var v uint64
			for k := 7; k >= 0; k-- {
				v = v<<8 | uint64(data[i+k])
			}
			out = append(out, float64(int64(v)))
		}
	case "<f4":
		for i := 0; i+3 < len(data); i += 4 {
			out = append(out, float64(math.Float32frombits(uint32(data[i])|uint32(data[i+1])<<8|uint32(data[i+2])<<16|uint32(data[i+3])<<24)))
		}
	case "<f8":
		for i := 0; i+7 < len(data); i += 8 {
			var v uint64
			for k := 7; k >= 0; k-- {
				v = v<<8 | uint64(data[i+k])
			}
			out = append(out, math.Float64frombits(v))
		}
	default:
		t.Fatalf("npy dtype %q (header %s)", descr, header)
	}
	return out
}
