package udfhost

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"

	"github.com/udftiles/udftiles/tiles"
)

// fuzzTypes are the parameter types a fuzzed schema picks from.
var fuzzTypes = []ParamType{Int, Float, Bool, Str, IntList, FloatList, List, Dict, Geometry}

// fuzzSchema builds a schema from spec: one parameter per byte (at most 8),
// named a, b, c, ...; the low nibble picks the type, bit 4 makes it required,
// bit 5 gives it an enum, bit 6 a default. A spec starting with '*' takes kwargs.
func fuzzSchema(spec []byte) Schema {
	var s Schema
	if len(spec) > 0 && spec[0] == '*' {
		s.Kwargs = true
		spec = spec[1:]
	}
	for i, b := range spec[:min(len(spec), 8)] {
		p := Param{Name: string(rune('a' + i)), Type: fuzzTypes[int(b&0x0f)%len(fuzzTypes)], Required: b&0x10 != 0}
		if b&0x20 != 0 {
			p.Enum = []string{"1", "2.5", "true", "x", "[1 2]"}
		}
		if b&0x40 != 0 {
			p.Default = "default"
		}
		s.Params = append(s.Params, p)
	}
	s.Reserved = []string{"z"}
	return s
}

// FuzzCoerce feeds query strings to Schema.Coerce: it never panics, fails only
// with BadRequest errors, and what it returns has the declared Go types.
func FuzzCoerce(f *testing.F) {
	for _, seed := range []struct {
		spec, query string
		empty       bool
	}{
		{"\x00\x01\x02\x03", "a=1&b=2.5&c=true&d=hello", false},
		{"\x04\x05", "a=1,2,3&a=4&b=0.5,1e3,-inf", false},
		{"\x06\x07\x08", "a=[1,\"x\",null]&b={\"k\":[1,2]}&c=POINT(1 2)", false},
		{"\x06", "a=x,+y,z&a=w", false},
		{"\x10\x11", "b=1", false},
		{"*\x00", "a=1&zz=2&zz=3&z=4", false},
		{"\x20\x24\x22", "a=1&b=1,2&c=TRUE", false},
		{"\x21\x23", "a=2.50&b=x", false},
		{"\x40\x50", "a=&b=", false},
		{"\x00", "a=99999999999999999999&b=1", false},
		{"\x07", "a=null", false},
		{"\x06", "a=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]", false},
		{"", "unknown=1&other=%zz", false},
		{"*", "x=1", true},
		{"\x00", "a=1", true},
	} {
		f.Add([]byte(seed.spec), seed.query, seed.empty)
	}
	f.Fuzz(func(t *testing.T, spec []byte, query string, empty bool) {
		s := fuzzSchema(spec)
		q, _ := url.ParseQuery(query) // what parsed is what a handler would see
		if empty {
			// url.Values may hold a name with no values when built by hand.
			for k := range q {
				q[k] = nil
			}
		}
		got, err := s.Coerce(q)
		if err != nil {
			var ue *Error
			if !errors.As(err, &ue) || ue.Kind != BadRequest || ue.Msg == "" {
				t.Fatalf("Coerce(%q) error %#v, want a BadRequest *Error", query, err)
			}
			if got != nil {
				t.Fatalf("Coerce(%q) returned %v with error %v", query, got, err)
			}
			return
		}
		for _, p := range s.Params {
			v, ok := got[p.Name]
			if !ok {
				if p.Required {
					t.Fatalf("Coerce(%q): required %s missing from %v", query, p.Name, got)
				}
				continue
			}
			vals := q[p.Name]
			if len(vals) == 0 || (len(vals) == 1 && vals[0] == "") {
				if v != p.Default {
					t.Fatalf("Coerce(%q): %s = %#v, want its default", query, p.Name, v)
				}
				continue
			}
			if !typed(p.Type, v) {
				t.Fatalf("Coerce(%q): %s (%s) = %#v", query, p.Name, p.Type, v)
			}
			if len(p.Enum) > 0 && p.Type != IntList && p.Type != FloatList && !slices.Contains(p.Enum, fmt.Sprint(v)) {
				t.Fatalf("Coerce(%q): %s = %v is not in its enum", query, p.Name, v)
			}
		}
		for k, v := range got {
			if s.Kwargs && !slices.ContainsFunc(s.Params, func(p Param) bool { return p.Name == k }) {
				if _, ok := v.(string); !ok {
					t.Fatalf("Coerce(%q): kwarg %s = %#v, want a string", query, k, v)
				}
				if slices.Contains(s.Reserved, k) {
					t.Fatalf("Coerce(%q): reserved name %s was passed on", query, k)
				}
			}
		}
		if !s.Kwargs {
			for k := range q {
				known := slices.Contains(s.Reserved, k) || slices.ContainsFunc(s.Params, func(p Param) bool { return p.Name == k })
				if !known {
					t.Fatalf("Coerce(%q): unknown parameter %s accepted", query, k)
				}
			}
		}
	})
}

// typed reports whether v has the Go type Coerce gives parameters of type pt.
func typed(pt ParamType, v any) bool {
	switch pt {
	case Int:
		_, ok := v.(int)
		return ok
	case Float:
		_, ok := v.(float64)
		return ok
	case Bool:
		_, ok := v.(bool)
		return ok
	case IntList:
		_, ok := v.([]int)
		return ok
	case FloatList:
		_, ok := v.([]float64)
		return ok
	case List:
		_, ok := v.([]any)
		return ok
	case Dict:
		_, ok := v.(map[string]any)
		return ok
	}
	_, ok := v.(string)
	return ok
}

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
			sch := (&PythonUDF{opts: PythonOptions{MaxZoom: 24}}).buildSchema(in)
			_, _ = sch.Coerce(url.Values{"x": {"1"}})
			if in.CacheMaxAge != nil {
				parseAge(in.CacheMaxAge)
			}
		}
	}
	req := Request{Params: map[string]any{}}
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
	r, ok := res.(*Raster)
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
