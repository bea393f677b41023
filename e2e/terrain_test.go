package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// terrainBudget bounds TestTerrain's tab: page load, toggling and the
// checks of the heights.
const terrainBudget = 60 * time.Second

// terrainSource is the id terrain.js gives the raster-dem source.
const terrainSource = "udf-terrain"

// TestTerrain ticks the map page's 3D terrain toggle on the demo DEM in
// headless Chromium: the page must add a raster-dem source of the layer's
// Terrarium tiles, lift and tilt the map, and flatten it again when
// unticked; the Terrarium tiles it asked for must decode to the heights
// served as npy.
func TestTerrain(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the map page tests need Chromium at %s (%v); install it with `apt-get install -y chromium`", chromiumPath, err)
	}
	if _, err := os.Stat(filepath.Join("..", "web", "static", "vendor", "maplibre-gl.js")); err != nil {
		t.Fatalf("web/static/vendor/maplibre-gl.js is missing (%v); run `make web-assets` and rebuild", err)
	}
	srv := newTerrainServer(t)
	browser := startBrowser(t)
	ctx, cancel := context.WithTimeout(browser, terrainBudget)
	defer cancel()
	tab := newTab(t, ctx)

	tab.navigate(t, srv.URL+"/map/elevation")
	if st := tab.waitSettled(t, "elevation"); st != "loaded" {
		t.Fatalf("body[data-state] = %q, want \"loaded\"; %s", st, tab.describe(t))
	}
	tab.waitFor(t, "the terrain toggle of the DEM", `!document.getElementById('terrain-field').hidden`)
	if n := len(srv.matching("/v1/udfs/elevation/info", http.StatusOK)); n == 0 {
		t.Errorf("the page showed the toggle without asking /v1/udfs/elevation/info; requests: %v", srv.all())
	}
	if n := len(srv.terrarium()); n != 0 {
		t.Fatalf("%d Terrarium tiles were requested before the toggle was ticked", n)
	}

	// Tick it: terrain on the layer's DEM source, a tilted camera.
	tab.click(t, "#terrain")
	tab.waitFor(t, "terrain on and the camera tilted",
		`(m => { const tr = m.getTerrain(); return !!tr && tr.source === '`+terrainSource+`' && m.getPitch() > 50 && !m.isMoving(); })(window.udftiles.map)`)
	if ex := tab.eval(t, `String(window.udftiles.map.getTerrain().exaggeration)`); ex != "1.5" {
		t.Errorf("terrain exaggeration = %s, want the slider's 1.5", ex)
	}
	spec := tab.eval(t, `JSON.stringify(window.udftiles.map.getStyle().sources['`+terrainSource+`'])`)
	var source struct {
		Type     string   `json:"type"`
		Tiles    []string `json:"tiles"`
		TileSize int      `json:"tileSize"`
		Encoding string   `json:"encoding"`
	}
	if err := json.Unmarshal([]byte(spec), &source); err != nil {
		t.Fatalf("the terrain source %s: %v", spec, err)
	}
	want := srv.URL + "/v1/udfs/elevation/tiles/{z}/{x}/{y}.png?algorithm=terrarium"
	if source.Type != "raster-dem" || source.Encoding != "terrarium" || source.TileSize != 256 ||
		len(source.Tiles) != 1 || source.Tiles[0] != want {
		t.Errorf("terrain source = %s, want raster-dem, terrarium, 256, tiles [%s]", spec, want)
	}

	// The page asked for Terrarium tiles, and each was a PNG.
	deadline := time.Now().Add(settleTimeout)
	for len(srv.terrarium()) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	tiles := srv.terrarium()
	if len(tiles) == 0 {
		t.Fatalf("no Terrarium tile was requested with terrain on; requests: %v", srv.all())
	}
	for _, r := range tiles {
		if r.status != http.StatusOK || r.contentType != "image/png" {
			t.Errorf("%s answered %d %q, want 200 image/png", r.target, r.status, r.contentType)
		}
		if strings.Contains(r.target, "colormap") || strings.Contains(r.target, "rescale") {
			t.Errorf("%s carries a style parameter; heights take none", r.target)
		}
	}
	t.Logf("the page requested %d Terrarium tiles, e.g. %s", len(tiles), tiles[0].target)

	// Those tiles decode to the heights served as npy.
	nodata := math.NaN()
	var info struct {
		NoData *float64 `json:"nodata_value"`
	}
	if err := json.Unmarshal(httpGet(t, srv.URL+"/v1/udfs/elevation/info", "application/json"), &info); err != nil {
		t.Fatal(err)
	}
	if info.NoData != nil {
		nodata = *info.NoData
	}
	compared, checkedTiles := 0, 0
	for _, r := range tiles {
		if checkedTiles == 4 {
			break
		}
		n := checkTerrarium(t, srv.URL, r.target, nodata)
		if n > 0 {
			checkedTiles++
			compared += n
		}
	}
	if compared == 0 {
		t.Fatalf("none of the Terrarium tiles requested had a height to compare: %v", tiles)
	}
	t.Logf("%d heights of %d Terrarium tiles match the npy tiles within 0.01 m", compared, checkedTiles)

	// Untick it: flat again, the source gone.
	tab.click(t, "#terrain")
	tab.waitFor(t, "terrain off and the camera flat",
		`(m => m.getTerrain() === null && !m.getSource('`+terrainSource+`') && m.getPitch() === 0)(window.udftiles.map)`)

	// A three-band byte image is no DEM: no toggle for rgb.
	if err := chromedp.Do(tab.ctx, chromedp.Evaluate[chromedp.Void](`window.udftiles.select('rgb')`)); err != nil {
		t.Fatalf("select rgb: %v", err)
	}
	if st := tab.waitSettled(t, "rgb"); st != "loaded" {
		t.Fatalf("rgb: body[data-state] = %q, want \"loaded\"; %s", st, tab.describe(t))
	}
	deadline = time.Now().Add(settleTimeout)
	for len(srv.matching("/v1/udfs/rgb/info", 0)) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the answer reaches the page
	if hidden := tab.eval(t, `String(document.getElementById('terrain-field').hidden)`); hidden != "true" {
		t.Errorf("the terrain toggle shows for rgb, a three-band byte image")
	}
	if n := srv.countBad(); n > 0 {
		t.Errorf("%d requests failed: %v", n, srv.all())
	}
	tab.requireNoConsoleErrors(t)
}

// checkTerrarium fetches a Terrarium tile (target: path and query) and the
// npy tile of the same z/x/y, and requires each opaque pixel to decode to
// the npy height within 0.01 m. It returns the number of pixels compared.
func checkTerrarium(t *testing.T, base, target string, nodata float64) int {
	t.Helper()
	path := target
	if i := strings.Index(path, "?"); i >= 0 {
		path = path[:i]
	}
	img, err := png.Decode(strings.NewReader(string(httpGet(t, base+target, "image/png"))))
	if err != nil {
		t.Fatalf("decode %s: %v", target, err)
	}
	npyPath := strings.TrimSuffix(path, ".png") + ".npy"
	heights := npyFloats(t, response{body: httpGet(t, base+npyPath, "")})
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if len(heights) < w*h {
		t.Fatalf("%s: %d values for a %dx%d tile", npyPath, len(heights), w, h)
	}
	n, worst := 0, 0.0
	lo, hi := math.Inf(1), math.Inf(-1)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			want := heights[y*w+x]
			noData := math.IsNaN(want) || want == nodata
			if c.A == 0 {
				continue // no data in the Terrarium tile
			}
			if noData {
				t.Errorf("%s pixel %d,%d is opaque where %s has no data", target, x, y, npyPath)
				return n
			}
			got := float64(c.R)*256 + float64(c.G) + float64(c.B)/256 - 32768
			d := math.Abs(got - want)
			worst = math.Max(worst, d)
			lo, hi = math.Min(lo, want), math.Max(hi, want)
			if d > 0.01 {
				t.Errorf("%s pixel %d,%d: Terrarium %.4f m, npy %.4f m", target, x, y, got, want)
				return n
			}
			n++
		}
	}
	if n > 0 {
		t.Logf("%s: %d heights from %.1f to %.1f m, worst difference %.4f m", path, n, lo, hi, worst)
	}
	return n
}

// httpGet fetches url and requires 200 (and the content type, unless "").
func httpGet(t *testing.T, url, contentType string) []byte {
	t.Helper()
	client := &http.Client{Timeout: 20 * time.Second}
	res, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); contentType != "" && ct != contentType {
		t.Fatalf("GET %s: Content-Type %q, want %q", url, ct, contentType)
	}
	return body
}

// terrainServer serves the demo COG layers on 127.0.0.1 and records every
// request with its status and Content-Type.
type terrainServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []terrainRequest
}

type terrainRequest struct {
	path        string
	target      string // path and query
	status      int
	contentType string
}

func (r terrainRequest) String() string { return fmt.Sprintf("%s=%d", r.target, r.status) }

func newTerrainServer(t *testing.T) *terrainServer {
	t.Helper()
	env := newTestServer(t)
	s := &terrainServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		env.handler.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.mu.Lock()
		s.seen = append(s.seen, terrainRequest{r.URL.Path, r.URL.RequestURI(), sw.status, w.Header().Get("Content-Type")})
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *terrainServer) all() []terrainRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]terrainRequest(nil), s.seen...)
}

// matching lists the requests of exactly the path answered with the status
// (any status for 0).
func (s *terrainServer) matching(path string, status int) []terrainRequest {
	var out []terrainRequest
	for _, r := range s.all() {
		if r.path == path && (status == 0 || r.status == status) {
			out = append(out, r)
		}
	}
	return out
}

// terrarium lists the requests for the elevation layer's Terrarium tiles.
func (s *terrainServer) terrarium() []terrainRequest {
	var out []terrainRequest
	for _, r := range s.all() {
		if strings.HasPrefix(r.path, "/v1/udfs/elevation/tiles/") && strings.Contains(r.target, "algorithm=terrarium") {
			out = append(out, r)
		}
	}
	return out
}

func (s *terrainServer) countBad() int {
	n := 0
	for _, r := range s.all() {
		if r.status >= 400 {
			n++
		}
	}
	return n
}

// click clicks a visible element.
func (tb *tab) click(t *testing.T, selector string) {
	t.Helper()
	if err := chromedp.Do(tb.ctx, chromedp.Click(chromedp.CSS(selector), chromedp.NodeVisible)); err != nil {
		t.Fatalf("click %s: %v", selector, err)
	}
}
