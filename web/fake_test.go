package web_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/web"
)

// fakeHandler is a Go handler whose behaviour a test sets: it counts its calls,
// can be slow, fail or panic, and returns a small raster that depends on the tile.
type fakeHandler struct {
	calls   atomic.Int64
	delay   time.Duration
	err     error
	panicIn string // "run" or "version"
}

func (h *fakeHandler) Schema() layer.Schema {
	return layer.Schema{
		Params:        []layer.Param{{Name: "n", Type: layer.Int, Default: 1}},
		Modes:         []string{"tile"},
		Formats:       []string{"png", "npy"},
		DefaultFormat: "png",
		MaxZoom:       22,
		Bounds:        tiles.Bounds{MinX: -180, MinY: -tiles.MaxLat, MaxX: 180, MaxY: tiles.MaxLat},
	}
}

func (h *fakeHandler) Version() string {
	if h.panicIn == "version" {
		panic("fake handler: version exploded")
	}
	return "v1"
}

func (h *fakeHandler) Run(ctx context.Context, r layer.Request) (layer.Result, error) {
	h.calls.Add(1)
	time.Sleep(h.delay)
	if h.panicIn == "run" {
		panic("fake handler: run exploded")
	}
	if h.err != nil {
		return nil, h.err
	}
	n, _ := r.Params["n"].(int)
	vals := make([]float64, 16)
	for i := range vals {
		vals[i] = float64((r.Tile.X + r.Tile.Y + n + i) % 256)
	}
	return &layer.Raster{Width: 4, Height: 4, DType: "uint8", Bands: [][]float64{vals},
		Bounds: r.Tile.Mercator(), EPSG: 3857}, nil
}

// addFake registers a fake layer on the test server.
func (e *testEnv) addFake(name string, h *fakeHandler, maxAge time.Duration) {
	e.reg.Add(&layer.Layer{Name: name, Kind: "go", Handler: h, MaxAge: maxAge})
}

// do sends a request with any method and headers through h.
func do(h http.Handler, method, target string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// withDeps builds another handler over the test server's registry.
func (e *testEnv) withDeps(t *testing.T, d web.Deps) http.Handler {
	t.Helper()
	d.Registry = e.reg
	if d.Cache == nil {
		d.Cache = mustCache(t, 16<<20)
	}
	return web.New(d)
}

func mustCache(t testing.TB, bytes int64) *cache.Cache {
	t.Helper()
	c, err := cache.New(bytes, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// jsonError checks that rec is a JSON error body and returns its message.
func jsonError(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q, want application/json", ct)
	}
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" {
		t.Fatalf("error body %q is not {\"error\": ...}: %v", rec.Body.String(), err)
	}
	return body.Error
}

// npyArray is a parsed .npy file.
type npyArray struct {
	descr string
	shape []int
	vals  []float64
}

// parseNPY reads the little-endian uint8/int16/float32 arrays the server writes.
func parseNPY(t *testing.T, b []byte) npyArray {
	t.Helper()
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		t.Fatalf("not an npy file: % x", b[:min(len(b), 10)])
	}
	hl := int(binary.LittleEndian.Uint16(b[8:10]))
	hdr := string(b[10 : 10+hl])
	var a npyArray
	a.descr = between(hdr, "'descr': '", "'")
	for _, s := range strings.Split(between(hdr, "'shape': (", ")"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("shape in %q: %v", hdr, err)
			}
			a.shape = append(a.shape, n)
		}
	}
	data := b[10+hl:]
	switch a.descr {
	case "|u1":
		for _, v := range data {
			a.vals = append(a.vals, float64(v))
		}
	case "<i2":
		for p := 0; p+1 < len(data); p += 2 {
			a.vals = append(a.vals, float64(int16(binary.LittleEndian.Uint16(data[p:]))))
		}
	case "<f4":
		for p := 0; p+3 < len(data); p += 4 {
			a.vals = append(a.vals, float64(math.Float32frombits(binary.LittleEndian.Uint32(data[p:]))))
		}
	default:
		t.Fatalf("dtype %s not handled by the test", a.descr)
	}
	return a
}

func between(s, start, end string) string {
	_, after, _ := strings.Cut(s, start)
	v, _, _ := strings.Cut(after, end)
	return v
}
