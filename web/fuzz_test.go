package web_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/web"
)

// echoHandler answers every tile with a 3×1 float64 raster of its z, x and y,
// so that a tile served can be told from any other.
type echoHandler struct{}

func (echoHandler) Schema() layer.Schema {
	return layer.Schema{
		Params:        []layer.Param{{Name: "n", Type: layer.Int, Default: 1}},
		Modes:         []string{"tile", "file"},
		Formats:       []string{"png", "npy"},
		DefaultFormat: "png",
		MaxZoom:       tiles.MaxZoom,
		Bounds:        tiles.Bounds{MinX: -180, MinY: -tiles.MaxLat, MaxX: 180, MaxY: tiles.MaxLat},
	}
}

func (echoHandler) Version() string { return "v1" }

func (echoHandler) Run(_ context.Context, r layer.Request) (layer.Result, error) {
	t := tiles.Tile{}
	if r.Tile != nil {
		t = *r.Tile
	}
	return &layer.Raster{Width: 3, Height: 1, DType: "float64", Bands: [][]float64{{float64(t.Z), float64(t.X), float64(t.Y)}},
		Bounds: t.Mercator(), EPSG: 3857}, nil
}

// tileRoutes are the routes that read a tile from the path or the query, with
// {z}, {x} and {y} to fill in ({y} carries the extension where there is one).
var tileRoutes = []string{
	"/v1/udfs/echo/tiles/{z}/{x}/{y}",
	"/server/v1/realtime-shared/tok/run/tiles/{z}/{x}/{y}",
	"/ogc/collections/echo/tiles/WebMercatorQuad/{z}/{y}/{x}",
	"/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=echo&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}",
}

// FuzzTilePath requests tiles with any z, x, y and extension, and any query,
// through every route that parses a tile. No request is answered with a 5xx
// (or panics), and a valid tile asked for plainly is the tile served: 200 with
// the tile's own z/x/y in its .npy body, or a PNG.
func FuzzTilePath(f *testing.F) {
	reg := layer.NewRegistry()
	reg.Add(&layer.Layer{Name: "echo", Kind: "go", Handler: echoHandler{}, MaxAge: 3600e9})
	h := web.New(web.Deps{Registry: reg, Cache: mustCache(f, 4<<20), Tokens: map[string]string{"tok": "echo"},
		Logger: slog.New(slog.DiscardHandler)})
	for _, s := range []struct {
		z, x, y, query string
	}{
		{"0", "0", "0.npy", ""},
		{"3", "2", "1.png", ""},
		{"30", "1073741823", "1073741823.npy", ""},
		{"+1", "01", "-0", ""},
		{"31", "0", "0", ""},
		{"9", "512", "0.npy", ""},
		{"-1", "0", "0", ""},
		{"9223372036854775807", "9223372036854775807", "9223372036854775808.png", ""},
		{"1", "1", ".png", ""},
		{"1", "1", "1.", ""},
		{"1", "1", "1.npy.png", ""},
		{"1", "1", "1.PNG", ""},
		{"1", "1", "1.jpg", ""},
		{"1", "1", "1.mvt", ""},
		{"a", "b", "c", ""},
		{"1", "0", "0", "n=2"},
		{"1", "0", "0.npy", "n=x&format=tif"},
		{"1", "0", "0", "colormap=viridis&rescale=0,10"},
		{"1", "0", "0", "colormap=%5B%5B%5B0%2C1%5D%2C%22%23ff0000%22%5D%5D&rescale=0,1"},
		{"1", "0", "0", "cache_max_age=-1d&cache=refresh"},
		{"1", "0", "0", "buffer=99999&precision=-1"},
		{"..", ".", "0", ""},
		{"", "", "", ""},
		{"1/2", "3", "4", ""},
		{"%00", "\x00", "\xff", "%zz"},
	} {
		for route := range tileRoutes {
			f.Add(uint8(route), s.z, s.x, s.y, s.query)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, zs, xs, ys, query string) {
		pattern := tileRoutes[int(route)%len(tileRoutes)]
		wmts := strings.HasPrefix(pattern, "/wmts")
		fill := func(s string) string {
			if wmts {
				return url.QueryEscape(s)
			}
			return s
		}
		target := strings.NewReplacer("{z}", fill(zs), "{x}", fill(xs), "{y}", fill(ys)).Replace(pattern)
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		p, q, _ := strings.Cut(target, "?")
		if query != "" {
			q = strings.TrimPrefix(q+"&"+query, "&")
		}
		req.URL.Path, req.URL.RawQuery = p, q
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("GET %s?%s: %d %s", p, q, rec.Code, rec.Body.String())
		}

		// A valid tile asked for plainly is served.
		y, ext, _ := strings.Cut(ys, ".")
		if wmts || strings.HasPrefix(pattern, "/ogc/") {
			y, ext = ys, "png"
		}
		z, errZ := strconv.Atoi(zs)
		x, errX := strconv.Atoi(xs)
		yn, errY := strconv.Atoi(y)
		if errZ != nil || errX != nil || errY != nil || query != "" || (ext != "" && ext != "png" && ext != "npy") {
			return
		}
		want, err := tiles.New(z, x, yn)
		if err != nil {
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("GET %s?%s, tile %s off the grid: %d, want 400", p, q, want, rec.Code)
			}
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s?%s: %d %s, want 200 for tile %s", p, q, rec.Code, rec.Body.String(), want)
		}
		ct := rec.Header().Get("Content-Type")
		if ext != "npy" {
			if ct != "image/png" {
				t.Fatalf("GET %s?%s: Content-Type %q, want image/png", p, q, ct)
			}
			return
		}
		b := rec.Body.Bytes()
		if !bytes.HasPrefix(b, []byte("\x93NUMPY")) || !bytes.Contains(b, []byte("'descr': '<f8'")) || !bytes.Contains(b, []byte("'shape': (1, 1, 3)")) || len(b) < 24 {
			t.Fatalf("GET %s?%s: %q is not a (1, 1, 3) float64 array", p, q, b)
		}
		var vals [3]float64
		for i := range vals {
			vals[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[len(b)-24+8*i:]))
		}
		if vals != [3]float64{float64(want.Z), float64(want.X), float64(want.Y)} {
			t.Fatalf("GET %s?%s served values %v, want tile %s", p, q, vals, want)
		}
	})
}
