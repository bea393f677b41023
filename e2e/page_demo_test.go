package e2e

import (
	"context"
	"fmt"
	"image"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/python"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/vector"
)

// TestPageEveryDemoLayer serves the layers of the default demo (config.yaml:
// the two COGs, the vector files, the Python UDFs of /udfs) and, in one tab,
// selects each from the layer list and checks that it was drawn or shown;
// then it changes a parameter of the hillshade and checks the tiles change.
func TestPageEveryDemoLayer(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the map page tests need Chromium at %s (%v); install it with `apt-get install -y chromium`", chromiumPath, err)
	}
	if _, err := os.Stat(filepath.Join("..", "web", "static", "vendor", "maplibre-gl.js")); err != nil {
		t.Fatalf("web/static/vendor/maplibre-gl.js is missing (%v)", err)
	}
	pool := startDemoPython(t)
	browser := startBrowser(t)

	t.Run("every demo layer", func(t *testing.T) {
		layers := append(demoVectorLayers(t), demoPythonLayers(t, pool)...)
		srv := newPageServer(t, layers...) // with elevation and rgb
		tab := newTab(t, browser)

		tab.navigate(t, srv.URL+"/")
		if first := tab.waitSettledAny(t); first.State != "loaded" {
			t.Fatalf("/ settled as %q on layer %q, want \"loaded\"; %s", first.State, first.Layer, tab.describe(t))
		}
		list := tab.text(t, "#layer-list")
		for _, name := range []string{"elevation", "rgb", "hillshade", "countries", "cities", "countries_gpkg",
			"cities_fgb", "countries_udf", "cities_table", "bounds_echo", "daily"} {
			if !strings.Contains(list, name) {
				t.Errorf("the layer list %q does not name %q", list, name)
			}
		}

		// The rasters, each framed by the page on its own bounds.
		var hillshade image.Image
		for _, name := range []string{"elevation", "rgb", "hillshade"} {
			tab.selectLayer(t, name)
			if n := srv.count("/v1/udfs/"+name+"/tiles/", http.StatusOK); n == 0 {
				t.Fatalf("no %s tile was served with 200; requests: %v", name, srv.requests())
			}
			if kind := tab.text(t, "#details-kind"); kind != "raster" {
				t.Errorf("%s: the layer's kind shows %q, want raster", name, kind)
			}
			shot := tab.screenshot(t, name+".png")
			if name == "elevation" {
				checkPlasmaDrawn(t, shot)
			}
			if frac := offMapBackground(t, tab, shot); frac < 0.05 {
				t.Errorf("%s: only %.1f%% of the map's pixels differ from the background, want at least 5%%", name, 100*frac)
			}
			hillshade = shot
		}

		// A new azimuth in the hillshade's form asks for new tiles with it.
		before := len(srv.requests())
		tab.typeOver(t, `#param-form input[name="azimuth"]`, "135"+kb.Enter)
		deadline := time.Now().Add(settleTimeout)
		for {
			n := 0
			for _, r := range srv.requests()[before:] {
				if strings.HasPrefix(r.path, "/v1/udfs/hillshade/tiles/") && r.status == http.StatusOK && r.query.Get("azimuth") == "135" {
					n++
				}
			}
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no hillshade tile with azimuth=135 was served with 200 in %v; requests: %v; %s",
					settleTimeout, srv.requests()[before:], tab.describe(t))
			}
			time.Sleep(50 * time.Millisecond)
		}
		// reapply() set "loading" before the new tiles were asked for.
		tab.waitFor(t, "the hillshade of azimuth=135", `document.body.dataset.state === 'loaded'`)
		if u := tab.eval(t, `document.getElementById('tile-url').value`); !strings.Contains(u, "azimuth=135") {
			t.Errorf("the shown tile URL is %s, want it to carry azimuth=135", u)
		}
		shaded := tab.screenshot(t, "hillshade-135.png")
		if frac := mapPixelsChanged(t, tab, hillshade, shaded); frac < 0.05 {
			t.Errorf("only %.1f%% of the map's pixels changed with azimuth=135, want at least 5%%", 100*frac)
		} else {
			t.Logf("azimuth=135 changed %.1f%% of the map's pixels", 100*frac)
		}

		// The vector layers and the Python UDFs, over Europe.
		tab.eval(t, `(window.udftiles.map.jumpTo({center: [8, 49.5], zoom: 4}), true)`)
		for _, l := range []struct {
			name    string
			polygon bool // countries: fill drawn; cities: points rendered
		}{{"countries", true}, {"cities", false}, {"countries_gpkg", true}, {"cities_fgb", false}, {"countries_udf", true}} {
			tab.selectLayer(t, l.name)
			if n := srv.count("/v1/udfs/"+l.name+"/run", http.StatusOK); n == 0 {
				t.Fatalf("no file-mode run of %s was served with 200; requests: %v", l.name, srv.requests())
			}
			if kind := tab.text(t, "#details-kind"); kind != "vector" {
				t.Errorf("%s: the layer's kind shows %q, want vector", l.name, kind)
			}
			var n int
			if got := tab.text(t, "#vector-summary"); !scanFeatures(got, &n) || n == 0 {
				t.Errorf("%s: the summary says %q, want some features", l.name, got)
			}
			if r := tab.eval(t, `window.udftiles.map.queryRenderedFeatures().filter((f) => f.source.startsWith('udf-')).length`); r == "0" {
				t.Errorf("%s: the map rendered no feature; %s", l.name, tab.describe(t))
			}
			shot := tab.screenshot(t, l.name+".png")
			if l.polygon {
				checkFillDrawn(t, tab, shot, 0.2)
			}
		}
		for _, l := range []struct{ name, want string }{{"cities_table", "lat"}, {"bounds_echo", `"bounds": [`}, {"daily", "weekday"}} {
			tab.selectLayer(t, l.name)
			if n := srv.count("/v1/udfs/"+l.name+"/run", http.StatusOK); n == 0 {
				t.Fatalf("no file-mode run of %s was served with 200; requests: %v", l.name, srv.requests())
			}
			if hidden := tab.eval(t, `String(document.getElementById('results').hidden)`); hidden != "false" {
				t.Errorf("%s: the results panel is hidden", l.name)
			}
			if body := tab.text(t, "#results-body"); !strings.Contains(body, l.want) {
				t.Errorf("%s: the results panel shows %.300q, want it to contain %s", l.name, body, l.want)
			}
			if l.name == "cities_table" {
				if rows := tab.eval(t, `String(document.querySelectorAll('#results-body tr').length)`); rows == "0" || rows == "1" {
					t.Errorf("cities_table: the results table has %s rows, want a header and some cities", rows)
				}
			}
			tab.screenshot(t, l.name+".png")
		}

		if n := srv.countBad(); n > 0 {
			t.Errorf("%d requests failed; requests: %v", n, srv.requests())
		}
		tab.requireNoConsoleErrors(t)
	})
}

// selectLayer clicks the layer's button in the list and requires it to load.
func (tb *tab) selectLayer(t *testing.T, name string) {
	t.Helper()
	start := time.Now()
	sel := fmt.Sprintf(`#layer-list button[data-name=%q]`, name)
	if err := chromedp.Do(tb.ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)); err != nil {
		t.Fatalf("click the %s button: %v", name, err)
	}
	if st := tb.waitSettled(t, name); st != "loaded" {
		t.Fatalf("after selecting %s, body[data-state] = %q, want \"loaded\"; %s", name, st, tb.describe(t))
	}
	t.Logf("%s loaded %v after the click", name, time.Since(start).Round(time.Millisecond))
}

// startDemoPython starts a pool whose workers run in a folder holding
// data/demo/elevation.tif, the path hillshade.py reads.
func startDemoPython(t *testing.T) *python.Pool {
	t.Helper()
	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "data", "demo"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(demoFiles(t), "elevation.tif"), filepath.Join(work, "data", "demo", "elevation.tif")); err != nil {
		t.Fatal(err)
	}
	pool, err := python.NewPool(python.Config{Interpreter: "/usr/bin/python3", Workers: 2,
		CacheDir: t.TempDir(), WorkDir: work, Timeout: 60 * time.Second, Preload: []string{"geopandas", "rasterio"}})
	if err != nil {
		t.Fatalf("start the Python pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// demoPythonLayers waits (bounded) for the pool and serves the UDFs of
// /udfs under the names config.yaml gives them.
func demoPythonLayers(t *testing.T, pool *python.Pool) []*layer.Layer {
	t.Helper()
	start := time.Now()
	for !pool.Ready() {
		if time.Since(start) > 60*time.Second {
			t.Fatalf("the Python pool did not start in 60s: %+v", pool.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	udfs, err := filepath.Abs(filepath.Join("..", "udfs"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*layer.Layer
	for _, u := range []struct {
		name, file string
		opts       python.Options
	}{
		{"hillshade", "hillshade.py", python.Options{MinZoom: 8, MaxZoom: 14,
			Bounds: &tiles.Bounds{MinX: 13.41, MinY: 46.84, MaxX: 14.23, MaxY: 47.40}}},
		{"countries_udf", "countries.py", python.Options{}},
		{"cities_table", "cities.py", python.Options{}},
		{"bounds_echo", "bounds_echo.py", python.Options{}},
		{"daily", "daily.py", python.Options{}},
	} {
		u.opts.Path = filepath.Join(udfs, u.file)
		u.opts.Queue = 64 // a map view asks for a dozen tiles at once
		out = append(out, &layer.Layer{Name: u.name, Kind: "python", Handler: python.NewUDF(pool, u.opts), MaxAge: time.Hour})
	}
	return out
}

// demoVectorLayers serves the demo's vector files as config.yaml does:
// countries and cities from GeoParquet ingested from countries.gpkg and
// cities.fgb, and those two files themselves.
func demoVectorLayers(t *testing.T) []*layer.Layer {
	t.Helper()
	dir := t.TempDir()
	if _, err := demo.WriteVectors(dir); err != nil {
		t.Fatalf("write the vector demo data: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, src := range []string{"countries.gpkg", "cities.fgb"} {
		p := filepath.Join(dir, src)
		if _, err := vector.Ingest(ctx, p, strings.TrimSuffix(p, filepath.Ext(p))+".parquet", vector.IngestOptions{}); err != nil {
			t.Fatalf("ingest %s: %v", p, err)
		}
	}
	var out []*layer.Layer
	for _, f := range []struct{ name, file string }{{"countries", "countries.parquet"}, {"cities", "cities.parquet"},
		{"countries_gpkg", "countries.gpkg"}, {"cities_fgb", "cities.fgb"}} {
		l := vector.New(vector.Options{Path: filepath.Join(dir, f.file)})
		t.Cleanup(l.Close)
		if err := l.Status(); err != nil {
			t.Fatalf("open %s: %v", f.file, err)
		}
		out = append(out, &layer.Layer{Name: f.name, Kind: "vector", Handler: l, MaxAge: time.Hour, Defaults: url.Values{}})
	}
	return out
}

// mapArea is the part of the screenshot beside the panel.
func mapArea(t *testing.T, tb *tab, img image.Image) image.Rectangle {
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
	b.Min.X += int(l.PanelRight*float64(b.Dx())/l.Width) + 1
	if b.Empty() {
		t.Fatalf("the panel covers the whole screenshot")
	}
	return b
}

func rgbAt(img image.Image, x, y int) [3]int {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
}

// offMapBackground is the fraction of the map's pixels away from --map-bg.
func offMapBackground(t *testing.T, tb *tab, img image.Image) float64 {
	t.Helper()
	mapBG := [3]int{0xe9, 0xed, 0xf1}
	r := mapArea(t, tb, img)
	off := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if dist2(rgbAt(img, x, y), mapBG) > 30*30 {
				off++
			}
		}
	}
	return float64(off) / float64(r.Dx()*r.Dy())
}

// mapPixelsChanged is the fraction of the map's pixels that differ between
// two screenshots of the same size.
func mapPixelsChanged(t *testing.T, tb *tab, a, b image.Image) float64 {
	t.Helper()
	if a.Bounds() != b.Bounds() {
		t.Fatalf("the screenshots are %v and %v", a.Bounds(), b.Bounds())
	}
	r := mapArea(t, tb, b)
	changed := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if dist2(rgbAt(a, x, y), rgbAt(b, x, y)) > 20*20 {
				changed++
			}
		}
	}
	return float64(changed) / float64(r.Dx()*r.Dy())
}
