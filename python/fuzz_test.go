package python

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// frame lays out a worker frame: u32 length | u32 header length | header | blobs.
func frame(header []byte, blobs ...[]byte) []byte {
	n := 4 + len(header)
	for _, b := range blobs {
		n += len(b)
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(n))
	out = binary.BigEndian.AppendUint32(out, uint32(len(header)))
	out = append(out, header...)
	for _, b := range blobs {
		out = append(out, b...)
	}
	return out
}

// allocatedBytes is the heap allocated so far by the whole program.
func allocatedBytes() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// FuzzWorkerFrame decodes what a Python worker may send: raw bytes read as a
// frame, and a frame of a fuzzed header and blob converted to a result for a
// tile or a file call. Nothing panics, reading a frame allocates in proportion
// to the bytes received (not to its length prefix), and a raster result is
// consistent: every band and the mask hold width×height values.
func FuzzWorkerFrame(f *testing.F) {
	f.Add([]byte{}, "", []byte{}, uint8(0))
	f.Add([]byte{0x3f, 0xff, 0xff, 0xff}, "", []byte{}, uint8(0))                          // a length prefix of 1 GiB and nothing after
	f.Add(frame([]byte(`{"ok":true,"blobs":[3]}`), []byte("abc")), "", []byte{}, uint8(0)) // a whole raw frame
	f.Add(frame([]byte(`{"blobs":[9223372036854775807]}`)), "", []byte{}, uint8(0))
	f.Add(frame([]byte(`{"blobs":[-1]}`)), "", []byte{}, uint8(0))
	f.Add([]byte{0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}, "", []byte{}, uint8(0))
	raster := func(dtype, shape string, extra string) string {
		return `{"ok":true,"kind":"raster","dtype":"` + dtype + `","shape":` + shape + extra + `,"blobs":[%d,%d]}`
	}
	for _, s := range []struct {
		header string
		blob   []byte
		mode   uint8
	}{
		{raster("uint8", "[1,2,2]", ""), []byte{1, 2, 3, 4}, 1},
		{raster("uint8", "[1,2,2]", ""), []byte{1, 2, 3, 4}, 0},
		{raster("float32", "[1,1,2]", `,"bounds":[-10,-10,10,10]`), []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40}, 1},
		{raster("uint16", "[2,1,1]", `,"bounds":[0,0,0,0]`), []byte{1, 0, 2, 0}, 3}, // bounds of no width
		{raster("float64", "[1,1,1]", `,"bounds":[-180,-90,-180,90]`), make([]byte, 8), 1},
		{raster("int16", "[1,256,256]", ""), make([]byte, 2*256*256), 1},
		{raster("uint8", "[1,2,2]", `,"mask":true`), []byte{1, 2, 3, 4, 255, 0, 255, 0}, 1},
		{raster("uint8", "[1,2,2]", `,"mask":true`), []byte{1, 2, 3, 4, 255}, 1}, // a mask too short
		{raster("uint8", "[1,4611686018427387904,4]", ""), nil, 1},               // 2^64 bytes, 0 in int64
		{raster("float64", "[65,1,1]", ""), make([]byte, 65*8), 0},               // too many bands
		{`{"ok":true,"kind":"features","blobs":[%d]}`, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"a":1}}]}`), 0},
		{`{"ok":true,"kind":"features","blobs":[%d]}`, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[1]]]}}]}`), 0},
		{`{"ok":true,"kind":"features","blobs":[%d]}`, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"GeometryCollection","geometries":[null]},"properties":{}}]}`), 0}, // orb panics reading it
		{`{"ok":true,"kind":"table","columns":["a","b"],"types":{"a":"int","b":"str"},"blobs":[%d]}`, []byte(`{"columns":["a","b"],"data":[[12345678901234567890,"x"]]}`), 0},
		{`{"ok":true,"kind":"text","blobs":[%d]}`, []byte("<b>hi</b>"), 0},
		{`{"ok":true,"kind":"bytes","content_type":"","blobs":[%d]}`, []byte{0, 1}, 0},
		{`{"ok":true,"kind":"json","blobs":[%d]}`, []byte(`[1,2]`), 0},
		{`{"ok":false,"status":400,"error":"bad"}`, nil, 0},
		{`{"ok":true,"params":[{"name":"n","type":"int","default":3},{"name":"g","type":"geometry","required":true}],"kwargs":true,"cache_max_age":"90d"}`, nil, 0},
		{`{"ok":true,"params":[],"cache_max_age":1e300}`, nil, 0},
	} {
		h := s.header
		if n := strings.Count(h, "%d"); n > 0 {
			args := []any{len(s.blob), 0}
			if n == 2 && strings.Contains(h, `"mask":true`) && len(s.blob) > 4 {
				args = []any{4, len(s.blob) - 4}
			}
			h = fmt.Sprintf(h, args[:n]...)
		}
		f.Add([]byte{}, h, s.blob, s.mode)
	}
	f.Fuzz(func(t *testing.T, raw []byte, header string, blob []byte, mode uint8) {
		// Whatever the prefix says, reading allocates about what arrived.
		before := allocatedBytes()
		rep, err := readFrame(bytes.NewReader(raw), 1<<30)
		if grew := allocatedBytes() - before; grew > uint64(64*len(raw))+8<<20 {
			t.Fatalf("reading a frame of %d bytes allocated %d bytes", len(raw), grew)
		}
		if err == nil {
			checkReply(t, rep, mode)
		}
		if len(header) > 0 {
			rep, err := readFrame(bytes.NewReader(frame([]byte(header), blob)), 1<<30)
			if err == nil {
				checkReply(t, rep, mode)
			}
		}
	})
}

// checkReply converts a decoded reply as Run and refresh do, and checks the result.
func checkReply(t *testing.T, rep *reply, mode uint8) {
	for i, b := range rep.blobs {
		if len(b) != rep.Blobs[i] {
			t.Fatalf("blob %d has %d bytes, its header says %d", i, len(b), rep.Blobs[i])
		}
	}
	// Replies to inspect are read from the same frames.
	var in pyInspect
	if len(rep.raw) > 0 {
		if err := json.Unmarshal(rep.raw, &in); err == nil {
			sch := (&UDF{opts: Options{MaxZoom: 24}}).buildSchema(in)
			_, _ = sch.Coerce(url.Values{"x": {"1"}})
			if in.CacheMaxAge != nil {
				parseAge(in.CacheMaxAge)
			}
		}
	}
	req := layer.Request{Params: map[string]any{}}
	if mode&1 != 0 {
		tl := tiles.Tile{Z: int(mode>>2) % (tiles.MaxZoom + 1)}
		tl.X = (1 << tl.Z) - 1
		req.Tile = &tl
		if mode&2 != 0 {
			req.Params["tilesize"] = 512
		}
	} else if mode&2 != 0 {
		req.Bounds = tiles.Bounds{MinX: -10, MinY: -10, MaxX: 10, MaxY: 10}
	}
	res, err := convert(rep, req)
	if err != nil {
		return
	}
	r, ok := res.(*layer.Raster)
	if !ok {
		return
	}
	n := r.Width * r.Height
	if r.Width < 1 || r.Height < 1 || len(r.Bands) < 1 || len(r.Bands) > 64 {
		t.Fatalf("raster %dx%d with %d bands", r.Width, r.Height, len(r.Bands))
	}
	for i, b := range r.Bands {
		if len(b) != n {
			t.Fatalf("band %d has %d values for %dx%d", i, len(b), r.Width, r.Height)
		}
	}
	if r.Mask != nil && len(r.Mask) != n {
		t.Fatalf("mask of %d values for %dx%d", len(r.Mask), r.Width, r.Height)
	}
	if req.Tile != nil {
		size := 256
		if req.Params["tilesize"] == 512 {
			size = 512
		}
		if r.Width != size || r.Height != size || r.EPSG != 3857 {
			t.Fatalf("tile raster %dx%d EPSG:%d, want %dx%d EPSG:3857", r.Width, r.Height, r.EPSG, size, size)
		}
		for _, v := range []float64{r.Bounds.MinX, r.Bounds.MaxX, r.Bounds.MinY, r.Bounds.MaxY} {
			if math.IsNaN(v) {
				t.Fatalf("tile raster bounds %v", r.Bounds)
			}
		}
	}
}
