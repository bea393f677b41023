package main

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/config"
	"github.com/udftiles/udftiles/gohandler"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/web"
)

func TestDistance(t *testing.T) {
	h, err := NewDistance(config.UDF{Options: map[string]any{"lon": 2.35, "lat": 48.86}})
	if err != nil {
		t.Fatal(err)
	}
	tile := tiles.AtLonLat(2.35, 48.86, 10)
	params, err := h.Schema().Coerce(url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.Run(context.Background(), layer.Request{Tile: &tile, Bounds: tile.LonLat(), Params: params})
	if err != nil {
		t.Fatal(err)
	}
	r := res.(*layer.Raster)
	lo := math.Inf(1)
	for _, v := range r.Bands[0] {
		lo = math.Min(lo, v)
	}
	// A zoom 10 tile is about 26 km across at this latitude.
	if r.Width != 256 || lo > 0.1 {
		t.Errorf("the tile holding the point: width %d, nearest pixel %g km", r.Width, lo)
	}
	for want, opts := range map[string]map[string]any{
		`options: lon 200, lat 0: want -180..180 and -90..90`: {"lon": 200},
		`options: unknown field "lng"`:                        {"lng": 2},
	} {
		if _, err := NewDistance(config.UDF{Options: opts}); err == nil || err.Error() != want {
			t.Errorf("NewDistance(%v) = %v, want %q", opts, err, want)
		}
	}
}

// TestExampleConfig serves the example config's layers as the example binary does.
func TestExampleConfig(t *testing.T) {
	cfg, err := config.Load("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var kinds layer.Kinds
	kinds.Register("go", gohandler.Builtin().Factory)
	kinds.Register("distance", NewDistance)
	reg := layer.NewRegistry()
	for _, u := range cfg.UDFs {
		h, err := kinds.New(u)
		if err != nil {
			t.Fatalf("%s: %v", u.Name, err)
		}
		reg.Add(&layer.Layer{Name: u.Name, Kind: u.Handler, Handler: h, Defaults: url.Values{"colormap": {u.Colormap}}})
	}
	c, err := cache.New(16<<20, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	srv := web.New(web.Deps{Registry: reg, Cache: c})
	for target, ctype := range map[string]string{
		"/v1/udfs/paris/tiles/3/4/2?unit=mi": "image/png",
		"/v1/udfs/grid/tiles/3/4/2":          "application/geo+json",
		"/v1/udfs/checker/tiles/3/4/2":       "image/png",
	} {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		if w.Code != 200 || w.Header().Get("Content-Type") != ctype {
			t.Errorf("GET %s: %d %s, want 200 %s: %.300s", target, w.Code, w.Header().Get("Content-Type"), ctype, w.Body)
		}
	}
}
