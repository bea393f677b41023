package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/udftiles/udftiles/colormap"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/python"
	"github.com/udftiles/udftiles/vector"
)

// chromiumPath is Debian's Chromium, which CI installs. The browser tests fail
// without it rather than skip, so that a missing browser is never mistaken
// for a passing map page.
const chromiumPath = "/usr/bin/chromium"

const (
	pageTestBudget = 150 * time.Second // the whole TestPage, browser and Python start included
	settleTimeout  = 30 * time.Second  // one wait for the page to load or fail
)

// TestPage drives the map page in headless Chromium: one browser for the
// whole test, one tab and one server per subtest.
func TestPage(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the map page tests need Chromium at %s (%v); install it with `apt-get install -y chromium`", chromiumPath, err)
	}
	if _, err := os.Stat(filepath.Join("..", "web", "static", "vendor", "maplibre-gl.js")); err != nil {
		t.Fatalf("web/static/vendor/maplibre-gl.js is missing (%v); run `make web-assets` (it also bundles web/static/app.js) and rebuild", err)
	}
	// The Python workers start in the background while the browser starts
	// and the COG subtests run.
	py := startPython(t)
	browser := startBrowser(t)

	t.Run("elevation", func(t *testing.T) {
		srv := newPageServer(t)
		tab := newTab(t, browser)

		start := time.Now()
		tab.navigate(t, srv.URL+"/map/elevation")
		if st := tab.waitSettled(t, "elevation"); st != "loaded" {
			t.Fatalf("body[data-state] = %q, want \"loaded\"; %s", st, tab.describe(t))
		}
		t.Logf("/map/elevation loaded in %v", time.Since(start).Round(time.Millisecond))

		if n := srv.count("/v1/udfs/elevation/tiles/", http.StatusOK); n == 0 {
			t.Fatalf("no elevation tile was served with 200; requests: %v", srv.requests())
		}
		if n := srv.countBad(); n > 0 {
			t.Errorf("%d requests failed; requests: %v", n, srv.requests())
		}

		shot := tab.screenshot(t, "elevation.png")
		checkPlasmaDrawn(t, shot)
		tab.requireNoConsoleErrors(t)
	})

	t.Run("select rgb", func(t *testing.T) {
		srv := newPageServer(t)
		tab := newTab(t, browser)

		tab.navigate(t, srv.URL+"/")
		first := tab.waitSettledAny(t)
		if first.State != "loaded" {
			t.Fatalf("/ settled as %q on layer %q, want \"loaded\"; %s", first.State, first.Layer, tab.describe(t))
		}
		if first.Layer == "rgb" {
			t.Fatalf("/ selected rgb first; the test needs another layer first to switch from")
		}

		list := tab.text(t, "#layer-list")
		for _, name := range []string{"elevation", "rgb"} {
			if !strings.Contains(list, name) {
				t.Errorf("the layer list %q does not name %q", list, name)
			}
		}

		before := srv.count("/v1/udfs/rgb/tiles/", http.StatusOK)
		if before != 0 {
			t.Fatalf("%d rgb tiles were requested before rgb was selected", before)
		}
		start := time.Now()
		if err := chromedp.Do(tab.ctx, chromedp.Click(chromedp.CSS(`#layer-list button[data-name="rgb"]`), chromedp.NodeVisible)); err != nil {
			t.Fatalf("click the rgb button: %v", err)
		}
		if st := tab.waitSettled(t, "rgb"); st != "loaded" {
			t.Fatalf("after selecting rgb, body[data-state] = %q, want \"loaded\"; %s", st, tab.describe(t))
		}
		t.Logf("rgb loaded %v after the click", time.Since(start).Round(time.Millisecond))
		if n := srv.count("/v1/udfs/rgb/tiles/", http.StatusOK); n == 0 {
			t.Fatalf("no rgb tile was served with 200 after selecting rgb; requests: %v", srv.requests())
		}
		if n := srv.countBad(); n > 0 {
			t.Errorf("%d requests failed; requests: %v", n, srv.requests())
		}
		current, err := chromedp.Run(tab.ctx, chromedp.Evaluate[string](
			`(document.querySelector('#layer-list button[aria-current="true"]') || {dataset: {}}).dataset.name || ''`))
		if err != nil {
			t.Fatal(err)
		}
		if current != "rgb" {
			t.Errorf("the highlighted layer is %q, want rgb", current)
		}
		hash, err := chromedp.Run(tab.ctx, chromedp.Evaluate[string](`location.hash`))
		if err != nil {
			t.Fatal(err)
		}
		if hash != "#layer=rgb" {
			t.Errorf("location.hash = %q, want #layer=rgb", hash)
		}
		tab.requireNoConsoleErrors(t)
	})

	t.Run("broken layer", func(t *testing.T) {
		srv := newPageServer(t, &layer.Layer{Name: "broken", Kind: "cog", Err: errors.New("file missing")})
		tab := newTab(t, browser)

		tab.navigate(t, srv.URL+"/map/broken")
		if st := tab.waitSettled(t, "broken"); st != "error" {
			t.Fatalf("body[data-state] = %q, want \"error\"; %s", st, tab.describe(t))
		}
		type errorView struct {
			Text   string `json:"text"`
			Hidden bool   `json:"hidden"`
		}
		view, err := chromedp.Run(tab.ctx, chromedp.Evaluate[errorView](
			`(() => { const e = document.getElementById('details-error'); return {text: e.textContent, hidden: e.hidden || e.offsetParent === null}; })()`))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(view.Text, "file missing") || view.Hidden {
			t.Errorf("the details error shows %q (hidden %v), want the visible text \"file missing\"", view.Text, view.Hidden)
		}
		if list := tab.text(t, "#layer-list"); !strings.Contains(list, "broken") || !strings.Contains(list, "file missing") {
			t.Errorf("the layer list %q does not show the broken layer with its error", list)
		}
		if n := srv.count("/v1/udfs/broken/", 0); n != 0 {
			t.Errorf("the page requested the broken layer %d times; requests: %v", n, srv.requests())
		}
		tab.requireNoConsoleErrors(t)
	})

	t.Run("vector countries", func(t *testing.T) {
		srv := newPageServer(t, vectorLayers(t)...)
		tab := newTab(t, browser)

		// The GeoParquet copy of the countries, named in the hash of the front page.
		start := time.Now()
		tab.navigate(t, srv.URL+"/#layer=countries_parquet")
		if st := tab.waitSettled(t, "countries_parquet"); st != "loaded" {
			t.Fatalf("body[data-state] = %q, want \"loaded\"; %s", st, tab.describe(t))
		}
		t.Logf("/#layer=countries_parquet drew its features in %v", time.Since(start).Round(time.Millisecond))

		// An MVT layer is drawn from file mode's GeoJSON of the view: no tile is asked for.
		runs := srv.matching("/v1/udfs/countries_parquet/run", http.StatusOK)
		if len(runs) == 0 {
			t.Fatalf("no file-mode run of countries_parquet was served with 200; requests: %v", srv.requests())
		}
		if q := runs[0].query; q.Get("format") != "geojson" || len(strings.Split(q.Get("bounds"), ",")) != 4 {
			t.Errorf("the run asked for %v, want format=geojson and bounds=xmin,ymin,xmax,ymax", q)
		}
		if n := srv.count("/v1/udfs/countries_parquet/tiles/", 0); n != 0 {
			t.Errorf("%d tiles of countries_parquet were requested, want none; requests: %v", n, srv.requests())
		}
		if n := srv.count("/v1/udfs/countries/", 0); n != 0 {
			t.Errorf("the GeoPackage layer was requested %d times before it was selected; requests: %v", n, srv.requests())
		}
		if kind := tab.text(t, "#details-kind"); kind != "vector" {
			t.Errorf("the layer's kind shows %q, want vector", kind)
		}
		// naturalearth_lowres has 177 countries; the world view shows nearly all.
		var nFeatures int
		if got := tab.text(t, "#vector-summary"); !scanFeatures(got, &nFeatures) || nFeatures < 150 {
			t.Errorf("the summary says %q, want at least 150 features", got)
		}
		shot := tab.screenshot(t, "countries-world.png")
		checkFillDrawn(t, tab, shot, 0.05)

		// Jump to a view over France and Germany; the moved view is run again.
		before := len(srv.matching("/v1/udfs/countries_parquet/run", http.StatusOK))
		tab.eval(t, `(window.udftiles.map.jumpTo({center: [8, 49.5], zoom: 4}), true)`)
		runs = tab.waitRun(t, srv, "/v1/udfs/countries_parquet/run", before)
		if b := parseBounds(runs[len(runs)-1].query.Get("bounds")); b == nil || b[0] > 0 || b[2] < 14 || b[1] > 44 || b[3] < 54 {
			t.Errorf("the run after the jump asked for bounds=%q, want a view over France and Germany", runs[len(runs)-1].query.Get("bounds"))
		}
		shot = tab.screenshot(t, "countries-europe.png")
		checkFillDrawn(t, tab, shot, 0.25)

		// A click on the map's centre (in Germany) and on Paris shows each country's properties.
		tab.clickFeature(t, `window.udftiles.map.getCenter()`, "Germany")
		tab.clickFeature(t, `[2.35, 48.86]`, "France")
		tab.screenshot(t, "countries-popup.png")

		// The GeoPackage layer keeps the view, draws it and answers a click too.
		if err := chromedp.Do(tab.ctx, chromedp.Click(chromedp.CSS(`#layer-list button[data-name="countries"]`), chromedp.NodeVisible)); err != nil {
			t.Fatalf("click the countries button: %v", err)
		}
		if st := tab.waitSettled(t, "countries"); st != "loaded" {
			t.Fatalf("after selecting countries, body[data-state] = %q, want \"loaded\"; %s", st, tab.describe(t))
		}
		if n := srv.count("/v1/udfs/countries/run", http.StatusOK); n == 0 {
			t.Fatalf("no file-mode run of countries was served with 200; requests: %v", srv.requests())
		}
		if hash := tab.eval(t, `location.hash`); hash != "#layer=countries" {
			t.Errorf("location.hash = %q, want #layer=countries", hash)
		}
		tab.clickFeature(t, `window.udftiles.map.getCenter()`, "Germany")

		if n := srv.countBad(); n > 0 {
			t.Errorf("%d requests failed; requests: %v", n, srv.requests())
		}
		tab.requireNoConsoleErrors(t)
	})

	t.Run("python features", func(t *testing.T) {
		srv := newPageServer(t, py.layers(t)...)
		tab := newTab(t, browser)

		start := time.Now()
		tab.navigate(t, srv.URL+"/map/shapes")
		if st := tab.waitSettled(t, "shapes"); st != "loaded" {
			t.Fatalf("body[data-state] = %q, want \"loaded\"; %s", st, tab.describe(t))
		}
		t.Logf("/map/shapes drew its features in %v", time.Since(start).Round(time.Millisecond))

		// One tile tells the page the kind of output; the features come from file mode.
		if n := srv.count("/v1/udfs/shapes/tiles/", http.StatusOK); n != 1 {
			t.Errorf("%d tiles of shapes were served with 200, want 1 (the probe); requests: %v", n, srv.requests())
		}
		runs := srv.matching("/v1/udfs/shapes/run", http.StatusOK)
		if len(runs) == 0 {
			t.Fatalf("no file-mode run of shapes was served with 200; requests: %v", srv.requests())
		}
		if b := runs[0].query.Get("bounds"); len(strings.Split(b, ",")) != 4 {
			t.Errorf("the run asked for bounds=%q, want the view as xmin,ymin,xmax,ymax", b)
		}
		if kind := tab.text(t, "#details-kind"); kind != "vector" {
			t.Errorf("the layer's kind shows %q, want vector", kind)
		}
		if n := tab.eval(t, `window.udftiles.map.queryRenderedFeatures().filter((f) => f.source.startsWith('udf-')).length`); n == "0" {
			t.Fatalf("the map rendered no feature of shapes; %s", tab.describe(t))
		}
		if got := tab.text(t, "#vector-summary"); got != "4 features" {
			t.Errorf("the summary says %q, want \"4 features\" (3 points and a polygon)", got)
		}
		tab.screenshot(t, "shapes.png")

		// A new value in the form runs the layer again with it.
		before := len(srv.requests())
		tab.typeOver(t, `#param-form input[name="n"]`, "5"+kb.Enter)
		tab.waitFor(t, "the features of n=5", `document.body.dataset.state === 'loaded' && document.getElementById('vector-summary').textContent === '6 features'`)
		var rerun []served
		for _, r := range srv.requests()[before:] {
			if r.path == "/v1/udfs/shapes/run" && r.status == http.StatusOK {
				rerun = append(rerun, r)
			}
		}
		if len(rerun) == 0 || rerun[len(rerun)-1].query.Get("n") != "5" {
			t.Fatalf("after n was set to 5, the runs were %v, want one with n=5", rerun)
		}
		if u := tab.eval(t, `document.getElementById('tile-url').value`); !strings.HasSuffix(u, "/v1/udfs/shapes/tiles/{z}/{x}/{y}?n=5") {
			t.Errorf("the shown tile URL is %s, want it to carry ?n=5", u)
		}
		if n := srv.countBad(); n > 0 {
			t.Errorf("%d requests failed; requests: %v", n, srv.requests())
		}
		tab.requireNoConsoleErrors(t)
	})

	t.Run("python dict", func(t *testing.T) {
		srv := newPageServer(t, py.layers(t)...)
		tab := newTab(t, browser)

		tab.navigate(t, srv.URL+"/map/echo")
		if st := tab.waitSettled(t, "echo"); st != "loaded" {
			t.Fatalf("body[data-state] = %q, want \"loaded\"; %s", st, tab.describe(t))
		}
		if n := srv.count("/v1/udfs/echo/run", http.StatusOK); n == 0 {
			t.Fatalf("no file-mode run of echo was served with 200; requests: %v", srv.requests())
		}
		if hidden := tab.eval(t, `String(document.getElementById('results').hidden)`); hidden != "false" {
			t.Fatalf("the results panel is hidden")
		}
		body := tab.text(t, "#results-body")
		for _, want := range []string{`"answer": 42`, `"label": "hello"`, `"bounds": [`} {
			if !strings.Contains(body, want) {
				t.Errorf("the results panel shows %q, want it to contain %s", body, want)
			}
		}
		if kind := tab.text(t, "#details-kind"); kind != "JSON" {
			t.Errorf("the layer's kind shows %q, want JSON", kind)
		}

		// A str parameter with a space goes through the query and comes back.
		tab.typeOver(t, `#param-form input[name="label"]`, "hi there"+kb.Enter)
		tab.waitFor(t, "the result of label=hi there", `document.body.dataset.state === 'loaded' && document.getElementById('results-body').textContent.includes('"label": "hi there"')`)
		runs := srv.matching("/v1/udfs/echo/run", http.StatusOK)
		if got := runs[len(runs)-1].query.Get("label"); got != "hi there" {
			t.Errorf("the last run asked for label=%q, want \"hi there\"", got)
		}
		tab.screenshot(t, "echo.png")
		if n := srv.countBad(); n > 0 {
			t.Errorf("%d requests failed; requests: %v", n, srv.requests())
		}
		tab.requireNoConsoleErrors(t)
	})

	t.Run("python html", func(t *testing.T) {
		srv := newPageServer(t, py.layers(t)...)
		tab := newTab(t, browser)

		// A str result is HTML: shown in a sandboxed frame, under the page's
		// Content-Security-Policy, with nothing blocked that the page needs.
		tab.navigate(t, srv.URL+"/map/html")
		if st := tab.waitSettled(t, "html"); st != "loaded" {
			t.Fatalf("body[data-state] = %q, want \"loaded\"; %s", st, tab.describe(t))
		}
		type frameView struct {
			Kind    string `json:"kind"`
			Sandbox string `json:"sandbox"`
			Srcdoc  string `json:"srcdoc"`
		}
		view, err := chromedp.Run(tab.ctx, chromedp.Evaluate[frameView](`(() => {
			const f = document.querySelector('#results-body iframe');
			return {kind: document.getElementById('results').dataset.kind || '',
			        sandbox: f ? f.getAttribute('sandbox') : 'no frame', srcdoc: f ? f.srcdoc : ''};
		})()`))
		if err != nil {
			t.Fatal(err)
		}
		if view.Kind != "html" || view.Sandbox != "" || !strings.Contains(view.Srcdoc, "An HTML result") {
			t.Errorf("the results panel shows %+v, want the HTML in a frame with an empty sandbox", view)
		}
		for _, r := range srv.requests() {
			if r.status >= 400 {
				t.Errorf("request %v failed", r)
			}
		}
		// The result's own styles apply (the frame inherits the page's policy,
		// whose style-src allows them): its heading is drawn red. The frame
		// paints a moment after the page settles.
		type rect struct{ X, Y, W, H float64 }
		fr, err := chromedp.Run(tab.ctx, chromedp.Evaluate[rect](`(() => {
			const r = document.querySelector('#results-body iframe').getBoundingClientRect();
			return {x: r.x * devicePixelRatio, y: r.y * devicePixelRatio, w: r.width * devicePixelRatio, h: r.height * devicePixelRatio};
		})()`))
		if err != nil {
			t.Fatal(err)
		}
		red := 0
		for start := time.Now(); red < 100 && time.Since(start) < 5*time.Second; {
			shot := tab.screenshot(t, "html.png")
			red = 0
			b := image.Rect(int(fr.X), int(fr.Y), int(fr.X+fr.W), int(fr.Y+fr.H)).Intersect(shot.Bounds())
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := b.Min.X; x < b.Max.X; x++ {
					r, g, bl, _ := shot.At(x, y).RGBA()
					if r>>8 > 150 && g>>8 < 60 && bl>>8 < 60 {
						red++
					}
				}
			}
			if red < 100 {
				time.Sleep(200 * time.Millisecond)
			}
		}
		if red < 100 {
			t.Errorf("%d red pixels in the results frame: the HTML result's styles were not applied", red)
		}
		tab.requireNoConsoleErrors(t)
	})

	t.Run("python errors", func(t *testing.T) {
		srv := newPageServer(t, py.layers(t)...)
		tab := newTab(t, browser)

		// A UDF that prints and raises: its traceback and logs are shown.
		tab.navigate(t, srv.URL+"/map/boom")
		if st := tab.waitSettled(t, "boom"); st != "error" {
			t.Fatalf("body[data-state] = %q, want \"error\"; %s", st, tab.describe(t))
		}
		status := tab.text(t, "#status")
		for _, want := range []string{"HTTP 500", "ValueError: the UDF gave up", "Traceback", "printed before failing"} {
			if !strings.Contains(status, want) {
				t.Errorf("the status area shows %q, want it to contain %q", status, want)
			}
		}
		if n := tab.eval(t, `String(document.querySelectorAll('#status details pre').length)`); n != "2" {
			t.Errorf("the status area has %s collapsible <pre> blocks, want 2 (traceback, logs)", n)
		}

		// Unticking the parameter that makes it fail shows the result.
		if err := chromedp.Do(tab.ctx, chromedp.Click(chromedp.CSS(`#param-form input[name="fail"]`), chromedp.NodeVisible)); err != nil {
			t.Fatalf("click the fail checkbox: %v", err)
		}
		tab.waitFor(t, "the result of fail=false", `document.body.dataset.state === 'loaded' && document.getElementById('results-body').textContent.includes('"recovered": true')`)
		if st := tab.eval(t, `String(document.getElementById('status').hidden)`); st != "true" {
			t.Errorf("the status area still shows %q after the UDF succeeded", tab.text(t, "#status"))
		}

		// A UDF that does not even load is listed with its error and shows its traceback.
		if list := tab.text(t, "#layer-list"); !strings.Contains(list, "SyntaxError") {
			t.Errorf("the layer list %q does not show the syntax error", list)
		}
		if err := chromedp.Do(tab.ctx, chromedp.Click(chromedp.CSS(`#layer-list button[data-name="syntax"]`), chromedp.NodeVisible)); err != nil {
			t.Fatalf("click the syntax layer: %v", err)
		}
		if st := tab.waitSettled(t, "syntax"); st != "error" {
			t.Fatalf("body[data-state] = %q, want \"error\"; %s", st, tab.describe(t))
		}
		if e := tab.text(t, "#details-error"); !strings.Contains(e, "Traceback") || !strings.Contains(e, "SyntaxError") {
			t.Errorf("the details show %q, want the traceback of the SyntaxError", e)
		}
		tab.screenshot(t, "syntax.png")
		if n := srv.count("/v1/udfs/syntax/", 0); n != 0 {
			t.Errorf("the page requested the broken layer %d times; requests: %v", n, srv.requests())
		}
		// The failed tile is logged by the browser as a network error; the
		// page itself must not throw or log errors.
		tab.requireNoScriptErrors(t)
	})
}

// Small Python UDFs for the page: a GeoDataFrame, a dict, one that raises
// and one that does not compile.
var pythonUDFs = map[string]string{
	"shapes": `import fused


@fused.udf
def udf(bounds: fused.types.Bounds = None, n: int = 3):
    """n points on the diagonal of the bounds and a box in their middle."""
    import geopandas as gpd
    from shapely.geometry import Point, box

    west, south, east, north = bounds if bounds is not None else (-10, -10, 10, 10)
    dx, dy = east - west, north - south
    rows = [{"name": "middle", "rank": 0,
             "geometry": box(west + dx * 0.3, south + dy * 0.3, west + dx * 0.7, south + dy * 0.7)}]
    for i in range(n):
        f = (i + 1) / (n + 1)
        rows.append({"name": "point %d" % i, "rank": i + 1, "geometry": Point(west + dx * f, south + dy * f)})
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")
`,
	"echo": `import fused


@fused.udf
def udf(bounds: fused.types.Bounds = None, label: str = "hello"):
    return {"label": label, "answer": 42, "bounds": list(bounds) if bounds is not None else None}
`,
	"boom": `import fused


@fused.udf
def udf(bounds: fused.types.Bounds = None, fail: bool = True):
    print("printed before failing")
    if fail:
        raise ValueError("the UDF gave up")
    return {"recovered": True}
`,
	"html": `import fused


@fused.udf
def udf(bounds: fused.types.Bounds = None, title: str = "Report"):
    return ('<style>h1 { color: rgb(200, 0, 0); }</style><h1>%s</h1>'
            '<p style="font-weight: bold">An HTML result</p>' % title)
`,
	"syntax": `import fused


@fused.udf
def udf(bounds: fused.types.Bounds = None:
    return 1
`,
}

// pythonEnv is one worker pool for the whole test, and the UDF files.
type pythonEnv struct {
	pool   *python.Pool
	dir    string
	failed string // why the pool did not start; later subtests fail at once
}

// startPython writes the UDFs and starts the pool; layers waits for it.
func startPython(t *testing.T) *pythonEnv {
	t.Helper()
	dir := t.TempDir()
	for name, code := range pythonUDFs {
		writeFile(t, filepath.Join(dir, name+".py"), []byte(code))
	}
	// geopandas is imported while the browser starts rather than on the
	// first call of the GeoDataFrame UDF.
	pool, err := python.NewPool(python.Config{Interpreter: "/usr/bin/python3", Workers: 1,
		CacheDir: t.TempDir(), Timeout: 60 * time.Second, Preload: []string{"geopandas"}})
	if err != nil {
		t.Fatalf("start the Python pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return &pythonEnv{pool: pool, dir: dir}
}

// layers waits (bounded) for the pool and returns a fresh layer per UDF.
func (p *pythonEnv) layers(t *testing.T) []*layer.Layer {
	t.Helper()
	if p.failed != "" {
		t.Fatal(p.failed)
	}
	start := time.Now()
	for !p.pool.Ready() {
		if time.Since(start) > 60*time.Second {
			p.failed = fmt.Sprintf("the Python pool did not start in 60s: %+v", p.pool.Stats())
			t.Fatal(p.failed)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var out []*layer.Layer
	for name := range pythonUDFs {
		udf := python.NewUDF(p.pool, python.Options{Path: filepath.Join(p.dir, name+".py")})
		out = append(out, &layer.Layer{Name: name, Kind: "python", Handler: udf, MaxAge: 3600e9})
	}
	return out
}

// startBrowser starts Chromium for the test and stops it at the end. Its
// context carries the budget of the whole test.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pageTestBudget)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	start := time.Now()
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	t.Logf("Chromium started in %v", time.Since(start).Round(time.Millisecond))
	return browserCtx
}

// pageServer serves the web handler over HTTP and records every request.
type pageServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []served
}

type served struct {
	path   string
	query  url.Values
	status int
}

func (s served) String() string {
	if len(s.query) == 0 {
		return fmt.Sprintf("%s=%d", s.path, s.status)
	}
	return fmt.Sprintf("%s?%s=%d", s.path, s.query.Encode(), s.status)
}

// newPageServer is newTestServer with extra layers (such as broken ones) in
// its registry, served on 127.0.0.1.
func newPageServer(t *testing.T, extra ...*layer.Layer) *pageServer {
	t.Helper()
	env := newTestServer(t)
	for _, l := range extra {
		env.reg.Add(l)
	}
	s := &pageServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		env.handler.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.mu.Lock()
		s.seen = append(s.seen, served{r.URL.Path, r.URL.Query(), sw.status})
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

// count is the number of requests under the path prefix answered with the
// status, or with any status when status is 0.
func (s *pageServer) count(prefix string, status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.seen {
		if strings.HasPrefix(r.path, prefix) && (status == 0 || r.status == status) {
			n++
		}
	}
	return n
}

// matching lists the requests of exactly the path answered with the status,
// or with any status when status is 0, in order.
func (s *pageServer) matching(path string, status int) []served {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []served
	for _, r := range s.seen {
		if r.path == path && (status == 0 || r.status == status) {
			out = append(out, r)
		}
	}
	return out
}

// countBad is the number of requests answered with a status of 400 or more.
func (s *pageServer) countBad() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.seen {
		if r.status >= 400 {
			n++
		}
	}
	return n
}

func (s *pageServer) requests() []served {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]served(nil), s.seen...)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// tab is one browser tab with the console errors it collected.
type tab struct {
	ctx context.Context
	mu  sync.Mutex
	// problems are console errors, uncaught exceptions and browser log errors.
	problems []string
	// warnings are logged at the end, for a human reading a failure.
	warnings []string
}

func newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	tb := &tab{ctx: ctx}
	if err := chromedp.Listen(ctx, tb.onEvent); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	// Every document of the tab records what its Content-Security-Policy
	// blocked, so that a policy too tight for the page fails the test even
	// where the browser's own message would not reach the console.
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		_, err := cdp.Call(ctx, target, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorder})
		return err
	})); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	t.Cleanup(func() {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		for _, w := range tb.warnings {
			t.Logf("console: %s", w)
		}
	})
	return tb
}

// onEvent runs in the loop that reads the tab's messages, so it only records.
func (tb *tab) onEvent(ev any) {
	var problem, warning string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		switch ev.Type {
		case runtime.ConsoleAPICalledTypeError:
			problem = "console.error: " + remoteArgs(ev.Args)
		case runtime.ConsoleAPICalledTypeWarning:
			warning = "console.warn: " + remoteArgs(ev.Args)
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		if d == nil {
			problem = "exception"
			break
		}
		problem = "exception: " + d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			problem += " " + d.Exception.Description
		}
		problem += fmt.Sprintf(" at %s:%d:%d", d.URL, d.LineNumber+1, d.ColumnNumber+1)
	case *log.EventEntryAdded:
		if e := ev.Entry; e != nil {
			line := fmt.Sprintf("log %s/%s: %s %s", e.Source, e.Level, e.Text, e.URL)
			switch e.Level {
			case log.EntryLevelError:
				problem = line
			case log.EntryLevelWarning:
				warning = line
			}
		}
	}
	if problem == "" && warning == "" {
		return
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if problem != "" {
		tb.problems = append(tb.problems, problem)
	}
	if warning != "" {
		tb.warnings = append(tb.warnings, warning)
	}
}

func remoteArgs(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case a == nil:
		case a.Description != "":
			parts = append(parts, a.Description)
		case len(a.Value) > 0:
			parts = append(parts, string(a.Value))
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

// cspRecorder keeps the page's Content-Security-Policy violations in
// window.cspViolations.
const cspRecorder = `window.cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.cspViolations.push(e.effectiveDirective + ' blocked ' + (e.blockedURI || 'inline') + ' in ' + e.sourceFile + ':' + e.lineNumber);
});`

// requireNoCSPViolations fails the test when the page's policy blocked
// anything the page did.
func (tb *tab) requireNoCSPViolations(t *testing.T) {
	t.Helper()
	got, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]string](`window.cspViolations || ['the recorder did not run']`))
	if err != nil {
		t.Errorf("read the CSP violations: %v", err)
		return
	}
	if len(got) > 0 {
		t.Errorf("the page's Content-Security-Policy blocked %d things:\n  %s", len(got), strings.Join(got, "\n  "))
	}
}

func (tb *tab) requireNoConsoleErrors(t *testing.T) {
	t.Helper()
	tb.requireNoCSPViolations(t)
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.problems) > 0 {
		t.Errorf("the page reported %d errors:\n  %s", len(tb.problems), strings.Join(tb.problems, "\n  "))
	}
}

// requireNoScriptErrors is requireNoConsoleErrors without the browser's own
// log lines for failed requests, for pages that are shown a failing layer.
func (tb *tab) requireNoScriptErrors(t *testing.T) {
	t.Helper()
	tb.requireNoCSPViolations(t)
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var bad []string
	for _, p := range tb.problems {
		if !strings.HasPrefix(p, "log network/") {
			bad = append(bad, p)
		}
	}
	if len(bad) > 0 {
		t.Errorf("the page reported %d errors:\n  %s", len(bad), strings.Join(bad, "\n  "))
	}
}

func (tb *tab) navigate(t *testing.T, url string) {
	t.Helper()
	if err := chromedp.Do(tb.ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate to %s: %v", url, err)
	}
}

// settled is what the page shows: the selected layer and body[data-state].
type settled struct {
	Layer string `json:"layer"`
	State string `json:"state"`
}

// pageView reads the selected layer's name and the page state in one step.
const pageView = `({layer: document.getElementById('details-title').textContent, state: document.body.dataset.state || ''})`

// waitSettled polls, in real time, until the page shows the layer and its
// state is "loaded" or "error", and returns that state. The layer check keeps
// a "loaded" left over from the previous layer from counting: select() sets
// the title and the "loading" state together.
func (tb *tab) waitSettled(t *testing.T, layer string) string {
	t.Helper()
	s := tb.poll(t, func(s settled) bool { return s.Layer == layer && (s.State == "loaded" || s.State == "error") })
	return s.State
}

// waitSettledAny is waitSettled for whichever layer the page picks.
func (tb *tab) waitSettledAny(t *testing.T) settled {
	t.Helper()
	return tb.poll(t, func(s settled) bool { return s.State == "loaded" || s.State == "error" })
}

func (tb *tab) poll(t *testing.T, done func(settled) bool) settled {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, settleTimeout)
	defer cancel()
	var last settled
	var lastErr error
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[settled](pageView))
		if err == nil {
			last = v
			if done(v) {
				return v
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the page did not settle in %v: layer %q, state %q (last error %v); %s",
				settleTimeout, last.Layer, last.State, lastErr, tb.describe(t))
		case <-tick.C:
		}
	}
}

// describe gives the status line and the console errors, for failure messages.
func (tb *tab) describe(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	status, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('status').textContent`))
	if err != nil {
		status = "(unreadable: " + err.Error() + ")"
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return fmt.Sprintf("status %q, console errors %q", status, tb.problems)
}

func (tb *tab) text(t *testing.T, selector string) string {
	t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](
		fmt.Sprintf(`document.querySelector(%q).textContent`, selector)))
	if err != nil {
		t.Fatalf("read %s: %v", selector, err)
	}
	return s
}

// typeOver selects the text of a visible field and types the keys over it,
// as a person would.
func (tb *tab) typeOver(t *testing.T, selector, keys string) {
	t.Helper()
	err := chromedp.Do(tb.ctx,
		chromedp.WaitVisible(chromedp.CSS(selector)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(f => { f.focus(); f.select(); })(document.querySelector(%q))`, selector)),
		chromedp.SendKeys(chromedp.CSS(selector), keys),
	)
	if err != nil {
		t.Fatalf("type %q into %s: %v", keys, selector, err)
	}
}

// eval evaluates a JavaScript expression and returns its value as a string.
func (tb *tab) eval(t *testing.T, expr string) string {
	t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[any](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// waitFor polls, in real time, until the JavaScript condition is true.
func (tb *tab) waitFor(t *testing.T, what, cond string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, settleTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waited %v for %s (%s); last error %v; %s", settleTimeout, what, cond, err, tb.describe(t))
		case <-tick.C:
		}
	}
}

// screenshot captures the viewport, saves it and returns it decoded.
func (tb *tab) screenshot(t *testing.T, name string) image.Image {
	t.Helper()
	b, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	// PAGE_SCREENSHOTS=dir keeps them for a person to look at.
	dir := os.Getenv("PAGE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode the screenshot: %v", err)
	}
	return img
}

// checkPlasmaDrawn requires that the map shows the elevation layer: enough
// pixels in plasma colours, away from the page's own colours, and some pixel
// from one of the map's ends (deep purple or orange-yellow).
func checkPlasmaDrawn(t *testing.T, img image.Image) {
	t.Helper()
	plasma, err := colormap.Lookup("plasma")
	if err != nil {
		t.Fatal(err)
	}
	lut := plasma.Colors()
	mapBG := [3]int{0xe9, 0xed, 0xf1} // --map-bg in app.css
	b := img.Bounds()
	total, plasmaLike, offBG, purple, yellow := 0, 0, 0, 0, 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r16, g16, b16, _ := img.At(x, y).RGBA()
			c := [3]int{int(r16 >> 8), int(g16 >> 8), int(b16 >> 8)}
			total++
			if dist2(c, mapBG) > 30*30 && dist2(c, [3]int{255, 255, 255}) > 30*30 {
				offBG++
			}
			if dist2(c, mapBG) <= 60*60 {
				continue
			}
			best := 1 << 30
			for _, e := range lut {
				if d := dist2(c, [3]int{int(e[0]), int(e[1]), int(e[2])}); d < best {
					best = d
				}
			}
			if best <= 20*20 {
				plasmaLike++
				switch {
				case c[2] >= 120 && c[1] <= 40 && c[0] <= 140:
					purple++
				case c[0] >= 230 && c[1] >= 150 && c[2] <= 90:
					yellow++
				}
			}
		}
	}
	frac := float64(plasmaLike) / float64(total)
	t.Logf("screenshot %dx%d: %.1f%% plasma-like pixels, %.1f%% off the page background, %d deep purple, %d orange-yellow",
		b.Dx(), b.Dy(), 100*frac, 100*float64(offBG)/float64(total), purple, yellow)
	if frac < 0.02 {
		t.Errorf("only %.2f%% of the screenshot's pixels have plasma colours, want at least 2%%", 100*frac)
	}
	if purple == 0 && yellow == 0 {
		t.Errorf("no pixel of the screenshot is deep purple or orange-yellow")
	}
}

func dist2(a, b [3]int) int {
	dr, dg, db := a[0]-b[0], a[1]-b[1], a[2]-b[2]
	return dr*dr + dg*dg + db*db
}

// vectorLayers serves geopandas' Natural Earth countries with the built-in
// vector handler: as the demo's GeoPackage ("countries") and as GeoParquet
// ingested from it ("countries_parquet").
func vectorLayers(t *testing.T) []*layer.Layer {
	t.Helper()
	dir := t.TempDir()
	if _, err := demo.WriteVectors(dir); err != nil {
		t.Fatalf("write the vector demo data: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	gpkg, parquet := filepath.Join(dir, "countries.gpkg"), filepath.Join(dir, "countries.parquet")
	if _, err := vector.Ingest(ctx, gpkg, parquet, vector.IngestOptions{}); err != nil {
		t.Fatalf("ingest %s: %v", gpkg, err)
	}
	var out []*layer.Layer
	for _, f := range []struct{ name, path string }{{"countries", gpkg}, {"countries_parquet", parquet}} {
		l := vector.New(vector.Options{Path: f.path})
		t.Cleanup(l.Close)
		if err := l.Status(); err != nil {
			t.Fatalf("open %s: %v", f.path, err)
		}
		out = append(out, &layer.Layer{Name: f.name, Kind: "vector", Handler: l, MaxAge: time.Hour, Defaults: url.Values{}})
	}
	return out
}

// waitRun waits, in real time, until more than `before` file-mode runs of the
// path were served with 200 and the page has drawn the last one, and returns
// the runs. The page is "loading" from before its request, so "loaded" once
// the server has answered means the answer was drawn.
func (tb *tab) waitRun(t *testing.T, srv *pageServer, path string, before int) []served {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	for len(srv.matching(path, http.StatusOK)) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("no new run of %s was served with 200 in %v; requests: %v; %s", path, settleTimeout, srv.requests(), tb.describe(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.waitFor(t, "the new run to be drawn", `document.body.dataset.state === 'loaded'`)
	return srv.matching(path, http.StatusOK)
}

// clickFeature clicks the map where the JavaScript expression lngLat (a
// MapLibre LngLatLike) is, as a person would, and requires the feature popup
// to show name = want.
func (tb *tab) clickFeature(t *testing.T, lngLat, want string) {
	t.Helper()
	type point struct {
		X, Y float64
		Hit  bool
	}
	p, err := chromedp.Run(tb.ctx, chromedp.Evaluate[point](fmt.Sprintf(`(() => {
		const m = window.udftiles.map;
		const p = m.project(%s);
		const r = m.getCanvas().getBoundingClientRect();
		const x = r.left + p.x, y = r.top + p.y;
		return {X: x, Y: y, Hit: document.elementFromPoint(x, y) === m.getCanvas()};
	})()`, lngLat)))
	if err != nil {
		t.Fatalf("locate %s on the map: %v", lngLat, err)
	}
	if !p.Hit {
		t.Fatalf("%s is at (%.0f, %.0f), where the map is covered", lngLat, p.X, p.Y)
	}
	if err := chromedp.Do(tb.ctx, chromedp.MouseClickXY(p.X, p.Y)); err != nil {
		t.Fatalf("click (%.0f, %.0f): %v", p.X, p.Y, err)
	}
	// The popup replaces the previous one; wait for the one naming a country.
	const props = `(() => {
		const out = {};
		const dl = document.querySelector('.maplibregl-popup .feature-popup dl');
		if (!dl) return out;
		for (const dt of dl.querySelectorAll('dt')) out[dt.textContent] = dt.nextElementSibling ? dt.nextElementSibling.textContent : '';
		return out;
	})()`
	tb.waitFor(t, fmt.Sprintf("the popup of %s", want), fmt.Sprintf(`%s.name === %q`, props, want))
	got, err := chromedp.Run(tb.ctx, chromedp.Evaluate[map[string]string](props))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"iso_a3", "continent", "pop_est"} {
		if got[k] == "" {
			t.Errorf("the popup of %s shows %v, want a value for %s", want, got, k)
		}
	}
	t.Logf("clicked (%.0f, %.0f): popup %v", p.X, p.Y, got)
}

// checkFillDrawn requires that at least frac of the map pixels beside the
// panel have the polygon fill colour: SINGLE (#2f6fde) in app.js at 50%
// opacity over --map-bg (#e9edf1) in app.css.
func checkFillDrawn(t *testing.T, tb *tab, img image.Image, frac float64) {
	t.Helper()
	type layout struct {
		PanelRight, Width float64
	}
	l, err := chromedp.Run(tb.ctx, chromedp.Evaluate[layout](
		`({PanelRight: document.querySelector('.panel').getBoundingClientRect().right, Width: window.innerWidth})`))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	scale := float64(b.Dx()) / l.Width
	x0 := b.Min.X + int(l.PanelRight*scale) + 1
	fill := [3]int{(0x2f + 0xe9) / 2, (0x6f + 0xed) / 2, (0xde + 0xf1) / 2}
	mapBG := [3]int{0xe9, 0xed, 0xf1}
	total, filled, bg := 0, 0, 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := x0; x < b.Max.X; x++ {
			r16, g16, b16, _ := img.At(x, y).RGBA()
			c := [3]int{int(r16 >> 8), int(g16 >> 8), int(b16 >> 8)}
			total++
			switch {
			case dist2(c, fill) <= 16*16:
				filled++
			case dist2(c, mapBG) <= 8*8:
				bg++
			}
		}
	}
	if total == 0 {
		t.Fatalf("the panel covers the whole screenshot")
	}
	got := float64(filled) / float64(total)
	t.Logf("map beside the panel: %.1f%% fill-coloured pixels, %.1f%% background", 100*got, 100*float64(bg)/float64(total))
	if got < frac {
		t.Errorf("only %.1f%% of the map's pixels have the polygon fill colour, want at least %.0f%%", 100*got, 100*frac)
	}
}

// parseBounds reads xmin,ymin,xmax,ymax, or returns nil.
func parseBounds(s string) []float64 {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return nil
	}
	out := make([]float64, 4)
	for i, p := range parts {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return nil
		}
		out[i] = v
	}
	return out
}

// scanFeatures reads "N features" (N may have thousands separators).
func scanFeatures(s string, n *int) bool {
	num, ok := strings.CutSuffix(s, " features")
	if !ok {
		return false
	}
	v, err := strconv.Atoi(strings.ReplaceAll(num, ",", ""))
	*n = v
	return err == nil
}
