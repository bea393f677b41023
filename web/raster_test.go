package web_test

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/web"
)

// grey reports whether every opaque pixel of a PNG has r = g = b, and how
// many are opaque.
func grey(t *testing.T, body []byte) (bool, int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			if a == 0 {
				continue
			}
			n++
			if r != g || g != bl {
				return false, n
			}
		}
	}
	return true, n
}

// TestProcessingOverHTTP serves expression= and algorithm= tiles of COG
// layers: the layer's configured colormap and rescale (the test DEM's
// plasma over 0..3000) are for its heights and do not apply to what they
// compute; the request's own style does.
func TestProcessingOverHTTP(t *testing.T) {
	env := newTestServer(t)
	c := env.centerTile(9)
	elev := func(q string) string { return tileURL("elevation", c, ".png?"+q) }
	if ok, _ := grey(t, env.get(t, elev(""), 200).Body.Bytes()); ok {
		t.Error("the plain DEM tile is grey: the layer's plasma colormap did not apply")
	}
	if ok, n := grey(t, env.get(t, elev("algorithm=hillshade"), 200).Body.Bytes()); !ok || n == 0 {
		t.Errorf("hillshade: grey %v over %d pixels, want a grey tile", ok, n)
	}
	if ok, _ := grey(t, env.get(t, elev("algorithm=hillshade&colormap=viridis"), 200).Body.Bytes()); ok {
		t.Error("hillshade with colormap=viridis is grey")
	}
	// Three bands: the layer's one-band colormap would be a 400.
	rec := env.get(t, elev("algorithm=terrainrgb"), 200)
	if img, err := png.Decode(rec.Body); err != nil || img.Bounds() != image.Rect(0, 0, 256, 256) {
		t.Errorf("terrainrgb: %v", err)
	}
	env.get(t, tileURL("elevation", c, ".npy?expression=b1*2"), 200)
	env.get(t, elev("expression="+url.QueryEscape("b1 / 10")+"&rescale=0,300&colormap=viridis"), 200)
	rgb := tileURL("rgb", tiles.AtLonLat(15, 46, 6), ".png?")
	env.get(t, rgb+"expression="+url.QueryEscape("(b3-b1)/(b3+b1)")+"&rescale=-1,1&colormap=rdylgn", 200)
	env.get(t, rgb+"expression="+url.QueryEscape("b3;b2;b1")+"&rescale=0,255", 200)
	for _, q := range []struct{ query, want string }{
		{"expression=" + url.QueryEscape("(b1-b9)"), "unknown band b9 at 5 (this layer has bands 1..3)"},
		{"expression=b1&bidx=1", "give one"},
		{"algorithm=normalized_index&bidx=1", "normalized_index reads 2 bands"},
		{"algorithm=hillshade&algorithm_params=" + url.QueryEscape(`{"azimut":1}`), "hillshade takes no parameter"},
	} {
		body := env.get(t, rgb+q.query, 400).Body.String()
		if !strings.Contains(body, q.want) {
			t.Errorf("%s: %s, want %q", q.query, body, q.want)
		}
	}
	// The cache keeps each computation apart.
	a := env.get(t, elev("algorithm=hillshade"), 200).Body.Bytes()
	b := env.get(t, elev("algorithm=hillshade&algorithm_params="+url.QueryEscape(`{"azimuth":90}`)), 200).Body.Bytes()
	if bytes.Equal(a, b) {
		t.Error("hillshades lit from 315° and 90° are the same bytes")
	}
}

// TestProcessingByURL: files named by url= take the same parameters.
func TestProcessingByURL(t *testing.T) {
	e := newTestServer(t)
	open := func(p string) (layer.Handler, error) { return cog.New(cog.Options{Path: p}), nil }
	h := e.withDeps(t, web.Deps{COGAllow: []string{filepath.Dir(e.demoPath)}, COGSource: open, COGMaxAge: time.Hour})
	tile := e.centerTile(9)
	want := e.get(t, fmt.Sprintf("/v1/udfs/elevation/tiles/%s.npy?algorithm=slope", tile), 200).Body.Bytes()
	rec := do(h, "GET", fmt.Sprintf("/v1/cog/tiles/%s.npy?url=%s&algorithm=slope", tile, url.QueryEscape(e.demoPath)))
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), want) {
		t.Errorf("url= slope: %d (%d bytes), want the layer's %d bytes; %.200s", rec.Code, rec.Body.Len(), len(want), rec.Body)
	}
	rec = do(h, "GET", fmt.Sprintf("/v1/cog/tiles/%s.png?url=%s&expression=b2", tile, url.QueryEscape(e.demoPath)))
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "unknown band b2") {
		t.Errorf("url= expression=b2 on a one-band file: %d %s", rec.Code, rec.Body)
	}
}
