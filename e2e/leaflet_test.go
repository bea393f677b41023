package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"testing"
)

// TestLeafletDrawsTiles: Leaflet (from npm, in headless Chromium) draws our
// raster XYZ tiles.
func TestLeafletDrawsTiles(t *testing.T) {
	api := httptest.NewServer(newTestServer(t).handler)
	t.Cleanup(api.Close)
	target, _ := url.Parse(api.URL)
	mux := http.NewServeMux()
	mux.Handle("/leaflet/", http.StripPrefix("/leaflet/", http.FileServer(http.Dir("../web/node_modules/leaflet/dist"))))
	mux.HandleFunc("/leaflet.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><html><head><link rel="stylesheet" href="/leaflet/leaflet.css">
<script src="/leaflet/leaflet.js"></script><style>html,body,#m{height:100%;margin:0}</style></head>
<body><div id="m"></div><script>
window.loaded = 0; window.failed = 0;
const map = L.map('m', {fadeAnimation: false, zoomAnimation: false}).setView([47.12, 13.82], 11);
const layer = L.tileLayer('/v1/udfs/elevation/tiles/{z}/{x}/{y}.png', {maxZoom: 12});
layer.on('tileload', () => window.loaded++);
layer.on('tileerror', () => window.failed++);
layer.on('load', () => window.done = true);
layer.addTo(map);
</script></body></html>`)
	})
	mux.Handle("/", httputil.NewSingleHostReverseProxy(target))
	page := httptest.NewServer(mux)
	t.Cleanup(page.Close)
	if _, err := os.Stat("../web/node_modules/leaflet/dist/leaflet.js"); err != nil {
		t.Fatalf("Leaflet is not installed (make web-assets): %v", err)
	}
	tb := newTab(t, startBrowser(t))
	tb.navigate(t, page.URL+"/leaflet.html")
	tb.waitFor(t, "Leaflet's tiles", `window.done === true`)
	if n := tb.eval(t, `String(window.loaded)`); n == "0" || n == "" {
		t.Fatalf("Leaflet loaded %s tiles (%s failed)", n, tb.eval(t, `String(window.failed)`))
	}
	if w := tb.eval(t, `String(Math.min(...[...document.querySelectorAll('img.leaflet-tile-loaded')].map(i => i.naturalWidth)))`); w != "256" {
		t.Errorf("tile images %s px wide", w)
	}
	checkPlasmaDrawn(t, tb.screenshot(t, "leaflet.png"))
	tb.requireNoScriptErrors(t)
}
