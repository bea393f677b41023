package colormap

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// FuzzColormapParse feeds colormap parameters to Parse (custom JSON maps and names).
// It never panics; an error leaves no map, a map has between 1 and 1024
// colours, and applying a map to any value never panics: a custom map answers
// as a first-match scan of its entries would (exact values, then intervals in
// the order given), a named map always has a colour but for NaN.
func FuzzColormapParse(f *testing.F) {
	for _, s := range []string{
		`{"0": "#000000", "1": [255,0,0], "11": "#4466aaff"}`,
		`[[[0, 100], "#00ff00"], [[100, 500], [255,255,0,255]]]`,
		`[[[null, 0], "#abc"], [[0, null], "#abcd"], [5, [1,2,3]]]`,
		`[[[0,1],"#000"],[[1,2],"#111"],[[2,3],"#222"],[[3,4],"#333"],[[4,5],"#444"],[[5,6],"#555"],[[6,7],"#666"],[[7,8],"#777"],[[8,null],"#888"]]`,
		`[[[0,10],"#000"],[[1,2],"#111"],[[2,3],"#222"],[[3,4],"#333"],[[4,5],"#444"],[[5,6],"#555"],[[6,7],"#666"],[[7,8],"#777"],[[-1e308,-1e307],"#888"]]`,
		`{" 1e2 ": "#fff", "-0": "#000", "0x10": "#123"}`,
		`{"0": "#000", "0.0": "#111"}`,
		`[[1e400, "#000"]]`,
		`[[[1, 1], "#000"]]`,
		`[["1", "#000"]]`,
		`{"1": [256, 0, 0]}`,
		`{"1": [1.5, 0, 0]}`,
		`{"1": "#gg0000"}`,
		`{"1": "#00000"}`,
		`[] `,
		`{}`,
		`[[0,"#000"]] trailing`,
		`{"a":`,
		"[[0,\"#\u00e9\u00e9\u00e9\"]]",
		`viridis`,
		` Plasma_R `,
		`nope`,
		``,
	} {
		f.Add(s, []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x7f}) // NaN
	}
	f.Add(`[[[0, 100], "#00ff00"]]`, []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x7f, 0, 0, 0, 0, 0, 0, 0xf0, 0xff, 0, 0, 0, 0, 0, 0, 0x59, 0x40})
	f.Fuzz(func(t *testing.T, js string, values []byte) {
		m, err := Parse(js)
		if err != nil {
			if m != nil {
				t.Fatalf("Parse(%q) returned a map and error %v", js, err)
			}
			if !strings.HasPrefix(err.Error(), "colormap: ") {
				t.Fatalf("Parse(%q) error %q does not start with \"colormap: \"", js, err)
			}
			return
		}
		cs := m.Colors()
		if m.custom && (len(cs) < 1 || len(cs) > maxEntries) || !m.custom && len(cs) != 256 {
			t.Fatalf("Parse(%q) gave %d colours", js, len(cs))
		}
		vals := []float64{0, 1, -1, 0.5, 255, 256, math.Inf(1), math.Inf(-1), math.NaN(), math.Copysign(0, -1), math.MaxFloat64, -math.MaxFloat64}
		for len(values) >= 8 {
			vals = append(vals, math.Float64frombits(binary.LittleEndian.Uint64(values)))
			values = values[8:]
		}
		for _, v := range vals {
			c, ok := m.Value(v)
			if !m.custom {
				if ok == math.IsNaN(v) {
					t.Fatalf("named %s: Value(%v) ok %v", m.Name(), v, ok)
				}
				continue
			}
			wc, wok := firstMatch(m, v)
			if c != wc || ok != wok {
				t.Fatalf("Parse(%q).Value(%v) = %v, %v; the first matching entry gives %v, %v", js, v, c, ok, wc, wok)
			}
		}
		for i := 0; i < 256; i++ {
			m.Index(uint8(i))
			Rescale(vals[i%len(vals)], vals[(i+1)%len(vals)], vals[(i+2)%len(vals)])
		}
	})
}

// firstMatch is Value by its definition: an exact entry, else the first
// interval in the order given that contains v.
func firstMatch(m *Map, v float64) (RGBA, bool) {
	if v != v {
		return RGBA{}, false
	}
	if c, ok := m.exact[v]; ok {
		return c, true
	}
	for _, r := range m.ranges {
		if v >= r.lo && (v < r.hi || math.IsInf(r.hi, 1)) {
			return r.color, true
		}
	}
	return RGBA{}, false
}
