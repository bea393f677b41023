package colormap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// python is Debian's interpreter, which has python3-matplotlib; the pyenv
// python3 first on PATH does not.
const python = "/usr/bin/python3"

// matplotlibScript prints {name: 256 [r,g,b,a] rows} for the names on stdin,
// resolving them case-insensitively and resampling maps whose N != 256.
const matplotlibScript = `
import json, sys
import numpy as np
import matplotlib
by_lower = {n.lower(): n for n in matplotlib.colormaps}
out = {}
for name in json.load(sys.stdin):
    cmap = matplotlib.colormaps[by_lower[name.lower()]]
    if cmap.N != 256:
        cmap = cmap.resampled(256)
    out[name] = cmap(np.arange(256), bytes=True).tolist()
json.dump(out, sys.stdout)
`

var requiredNames = []string{
	"viridis", "plasma", "inferno", "magma", "cividis", "turbo", "greys",
	"terrain", "RdYlGn", "Spectral", "coolwarm",
}

func TestNamedMapsMatchMatplotlib(t *testing.T) {
	names := Names()
	in, err := json.Marshal(names)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-c", matplotlibScript)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s with matplotlib failed (CI needs `apt-get install python3-matplotlib`): %v\n%s",
			python, err, stderr.String())
	}
	var want map[string][][4]int
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("matplotlib output: %v", err)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			m, err := Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			rows := want[name]
			if len(rows) != 256 {
				t.Fatalf("matplotlib gave %d rows, want 256", len(rows))
			}
			for i, row := range rows {
				w := RGBA{uint8(row[0]), uint8(row[1]), uint8(row[2]), uint8(row[3])}
				if got := m.Index(uint8(i)); got != w {
					t.Fatalf("Index(%d) = %v, matplotlib has %v", i, got, w)
				}
			}
		})
	}
}

func TestNames(t *testing.T) {
	names := Names()
	if !slices.IsSorted(names) {
		t.Errorf("Names() not sorted: %v", names)
	}
	if len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("Names() has duplicates: %v", names)
	}
	for _, n := range requiredNames {
		for _, name := range []string{n, n + "_r"} {
			if !slices.Contains(names, name) {
				t.Errorf("Names() lacks %q", name)
			}
		}
	}
	for _, name := range names {
		if !strings.HasSuffix(name, "_r") && !slices.Contains(names, name+"_r") {
			t.Errorf("Names() has %q but not %q", name, name+"_r")
		}
		m, err := Lookup(name)
		if err != nil {
			t.Errorf("Lookup(%q): %v", name, err)
			continue
		}
		if m.Name() != name || !m.Scaled() || len(m.Colors()) != 256 {
			t.Errorf("Lookup(%q): Name %q Scaled %v %d colours", name, m.Name(), m.Scaled(), len(m.Colors()))
		}
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		in, want string // want "" means an error
	}{
		{"viridis", "viridis"},
		{"VIRIDIS", "viridis"},
		{"rdylgn", "RdYlGn"},
		{"RDYLGN_R", "RdYlGn_r"},
		{"Greys", "greys"},
		{"greys_r", "greys_r"},
		{" spectral ", "Spectral"},
		{"nope", ""},
		{"viridis_r_r", ""},
		{"", ""},
	}
	for _, tt := range tests {
		m, err := Lookup(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("Lookup(%q) = %q, want an error", tt.in, m.Name())
				continue
			}
			for _, n := range []string{"viridis", "RdYlGn_r", "greys"} {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("Lookup(%q) error %q does not list %q", tt.in, err, n)
				}
			}
			continue
		}
		if err != nil {
			t.Errorf("Lookup(%q): %v", tt.in, err)
			continue
		}
		if m.Name() != tt.want {
			t.Errorf("Lookup(%q).Name() = %q, want %q", tt.in, m.Name(), tt.want)
		}
	}
}

func TestReversed(t *testing.T) {
	// viridis_r is an exact reversal (ListedColormap); a cheap sanity check
	// that does not need Python.
	m, _ := Lookup("viridis")
	r, _ := Lookup("viridis_r")
	for i := 0; i < 256; i++ {
		if m.Index(uint8(i)) != r.Index(uint8(255-i)) {
			t.Fatalf("viridis[%d] = %v, viridis_r[%d] = %v", i, m.Index(uint8(i)), 255-i, r.Index(uint8(255-i)))
		}
	}
	if got, want := m.Index(0), (RGBA{68, 1, 84, 255}); got != want {
		t.Errorf("viridis[0] = %v, want %v", got, want)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in, name string
		scaled   bool
	}{
		{"plasma", "plasma", true},
		{"  Plasma_R", "plasma_r", true},
		{`{"1": "#fff"}`, "custom", false},
		{` [[[0, 1], "#fff"]]`, "custom", false},
	}
	for _, tt := range tests {
		m, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if m.Name() != tt.name || m.Scaled() != tt.scaled {
			t.Errorf("Parse(%q) = %q scaled %v, want %q scaled %v", tt.in, m.Name(), m.Scaled(), tt.name, tt.scaled)
		}
	}
	for _, in := range []string{"jett", `{"1": "red"}`, `[`} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", in)
		}
	}
}

func TestRescale(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		v, lo, hi float64
		want      uint8
	}{
		{0, 0, 255, 0},
		{255, 0, 255, 255},
		{100, 0, 255, 100},
		{100.4, 0, 255, 100},
		{100.5, 0, 255, 101}, // half rounds up
		{100.6, 0, 255, 101},
		{0.5, 0, 1, 128}, // 127.5
		{1500, 0, 3000, 128},
		{-5, 0, 3000, 0},
		{3001, 0, 3000, 255},
		{3000, 0, 3000, 255},
		{2994, 0, 3000, 254}, // 254.49
		{1, 0, 2, 128},
		{-1, -2, 0, 128},
		{0, 10, 0, 255}, // lo > hi inverts
		{10, 10, 0, 0},
		{nan, 0, 1, 0},
		{0.5, nan, 1, 0},
		{inf, 0, 1, 255},
		{-inf, 0, 1, 0},
		{5, 5, 5, 0}, // lo == hi
		{4, 5, 5, 0},
		{5.0001, 5, 5, 255},
		{nan, 5, 5, 0},
		{3.4e38, -3.4e38, 3.4e38, 255}, // float32 extremes
	}
	for _, tt := range tests {
		if got := Rescale(tt.v, tt.lo, tt.hi); got != tt.want {
			t.Errorf("Rescale(%v, %v, %v) = %d, want %d", tt.v, tt.lo, tt.hi, got, tt.want)
		}
	}
	// Every integer of a 0..255 stretch maps to itself.
	for i := 0; i < 256; i++ {
		if got := Rescale(float64(i), 0, 255); got != uint8(i) {
			t.Fatalf("Rescale(%d, 0, 255) = %d", i, got)
		}
	}
}

func TestParseCustomColours(t *testing.T) {
	tests := []struct {
		colour string
		want   RGBA
	}{
		{`"#000000"`, RGBA{0, 0, 0, 255}},
		{`"#4466aaff"`, RGBA{0x44, 0x66, 0xaa, 0xff}},
		{`"#4466AA80"`, RGBA{0x44, 0x66, 0xaa, 0x80}},
		{`"#f0a"`, RGBA{0xff, 0x00, 0xaa, 255}},
		{`"#f0a8"`, RGBA{0xff, 0x00, 0xaa, 0x88}},
		{`[255, 0, 0]`, RGBA{255, 0, 0, 255}},
		{`[0,255,0,128]`, RGBA{0, 255, 0, 128}},
		{`[1, 2, 3.0, 0]`, RGBA{1, 2, 3, 0}},
	}
	for _, tt := range tests {
		for _, js := range []string{
			`{"7": ` + tt.colour + `}`,
			`[[7, ` + tt.colour + `]]`,
			`[[[6.5, 7.5], ` + tt.colour + `]]`,
		} {
			m, err := ParseCustom(js)
			if err != nil {
				t.Errorf("ParseCustom(%s): %v", js, err)
				continue
			}
			got, ok := m.Value(7)
			if !ok || got != tt.want {
				t.Errorf("ParseCustom(%s).Value(7) = %v, %v; want %v", js, got, ok, tt.want)
			}
			if c := m.Colors(); len(c) != 1 || c[0] != tt.want {
				t.Errorf("ParseCustom(%s).Colors() = %v", js, c)
			}
		}
	}
}

func TestParseCustomErrors(t *testing.T) {
	many := func(n int, entry func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = entry(i)
		}
		return strings.Join(parts, ",")
	}
	tests := []struct {
		js, want string // want is a substring of the error
	}{
		{`{"0": "#000000", "1": "red?"}`, `colormap: entry "1": want a colour like "#ff0000" or [r,g,b(,a)], got "red?"`},
		{`{"1": "#ff000"}`, `entry "1": want a colour`},
		{`{"1": "#ff00zz"}`, `got "#ff00zz"`},
		{`{"1": "ff0000"}`, `got "ff0000"`},
		{`{"1": "#fffffffff"}`, `want a colour`},
		{`{"1": 5}`, `entry "1": want a colour like "#ff0000" or [r,g,b(,a)], got 5`},
		{`{"1": [1, 2]}`, `got [1,2]`},
		{`{"1": [1, 2, 3, 4, 5]}`, `got [1,2,3,4,5]`},
		{`{"1": [256, 0, 0]}`, `entry "1": want [r,g,b(,a)] with integers 0..255, got [256,0,0]`},
		{`{"1": [-1, 0, 0]}`, `integers 0..255`},
		{`{"1": [0.5, 0, 0]}`, `integers 0..255`},
		{`{"1": ["1", 0, 0]}`, `integers 0..255`},
		{`{"abc": "#fff"}`, `entry "abc": want a number as the key, got "abc"`},
		{`{"NaN": "#fff"}`, `entry "NaN": want a number`},
		{`{"inf": "#fff"}`, `entry "inf": want a number`},
		{`{"1": "#fff", "1.0": "#000"}`, `entry "1.0": value 1 appears twice`},
		{`{}`, `no entries`},
		{`[]`, `no entries`},
		{`{"1": "#fff"`, `invalid JSON: unexpected end of input`},
		{`{"1": "#fff",}`, `invalid JSON at byte`},
		{`{"1" "#fff"}`, `invalid JSON at byte 5`},
		{`[[[0, 1], "#fff"]] x`, `unexpected data after the custom map`},
		{`{"1": "#fff"}{}`, `unexpected data after the custom map`},
		{`"viridis"`, `must be a JSON object`},
		{`[[0, 1], "#fff"]`, `entry [0]: want a colour like "#ff0000" or [r,g,b(,a)], got 1`}, // [value, colour]
		{`[[[0, 1], 2, 3]]`, `entry [0]: want [[min, max], colour] or [value, colour], got [[0,1],2,3]`},
		{`[[[0, 1], "#fff"], "#000"]`, `entry [1]: want [[min, max], colour] or [value, colour], got "#000"`},
		{`[[[0, 1], "#fff", 3]]`, `entry [0]: want [[min, max], colour] or [value, colour]`},
		{`[[[0, 1], "#fff"], [[5, 1], "#000"]]`, `entry [1]: interval [5,1]: want min < max`},
		{`[[[1, 1], "#fff"]]`, `want min < max`},
		{`[[[0, 1, 2], "#fff"]]`, `entry [0]: want [min, max] or a number, got [0,1,2]`},
		{`[[[0, "1"], "#fff"]]`, `want [min, max] with numbers or null`},
		{`[[["a", "b"], "#fff"]]`, `want [min, max] with numbers or null`},
		{`[[[0, 1e999], "#fff"]]`, `want [min, max] with numbers or null`},
		{`[["5", "#fff"]]`, `entry [0]: want [min, max] or a number, got "5"`},
		{`[[[0, 1], "blue"]]`, `entry [0]: want a colour like "#ff0000" or [r,g,b(,a)], got "blue"`},
		{`[[1, "#fff"], [1, "#000"]]`, `entry [1]: value 1 appears twice`},
		{`{"1": "` + strings.Repeat("#", 100) + `"}`, `got "#######################################...`},
		{`{` + many(1025, func(i int) string { return fmt.Sprintf(`"%d": "#fff"`, i) }) + `}`, `more than 1024 entries`},
		{`[` + many(1025, func(i int) string { return fmt.Sprintf(`[[%d, %d], "#fff"]`, i, i+1) }) + `]`, `more than 1024 entries`},
		{`{"1": "` + strings.Repeat(" ", 70000) + `"}`, `at most 65536 allowed`},
	}
	for _, tt := range tests {
		m, err := ParseCustom(tt.js)
		if err == nil {
			t.Errorf("ParseCustom(%.60s) = %v, want an error", tt.js, m.Colors())
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseCustom(%.60s) error:\n  %s\nwant it to contain\n  %s", tt.js, err, tt.want)
		}
	}
	// The limit itself is allowed.
	js := `{` + many(1024, func(i int) string { return fmt.Sprintf(`"%d": "#fff"`, i) }) + `}`
	if _, err := ParseCustom(js); err != nil {
		t.Errorf("1024 entries: %v", err)
	}
}

func TestValue(t *testing.T) {
	red, green, blue := RGBA{255, 0, 0, 255}, RGBA{0, 255, 0, 255}, RGBA{0, 0, 255, 255}
	none := RGBA{}
	type probe struct {
		v  float64
		c  RGBA
		ok bool
	}
	tests := []struct {
		js     string
		probes []probe
	}{
		{`{"0": "#f00", "1": [0,255,0], "-2.5": "#0000ff"}`, []probe{
			{0, red, true}, {math.Copysign(0, -1), red, true}, {1, green, true}, {-2.5, blue, true},
			{0.5, none, false}, {2, none, false}, {math.NaN(), none, false},
		}},
		{`[[[0, 100], "#f00"], [[100, 500], "#0f0"]]`, []probe{
			{-0.0001, none, false}, {0, red, true}, {99.999, red, true}, {100, green, true},
			{499.999, green, true}, {500, none, false}, {math.NaN(), none, false},
		}},
		// Overlaps: the first interval that matches wins.
		{`[[[0, 10], "#f00"], [[5, 20], "#0f0"]]`, []probe{
			{5, red, true}, {10, green, true}, {19, green, true},
		}},
		// Open ends.
		{`[[[null, 0], "#f00"], [[0, null], "#0f0"]]`, []probe{
			{math.Inf(-1), red, true}, {-1e300, red, true}, {0, green, true},
			{1e300, green, true}, {math.Inf(1), green, true}, {math.NaN(), none, false},
		}},
		// Exact values win over intervals, whatever the order.
		{`[[[0, 10], "#f00"], [5, "#00f"], [[10, 20], "#0f0"]]`, []probe{
			{4, red, true}, {5, blue, true}, {5.5, red, true}, {10, green, true},
		}},
	}
	for _, tt := range tests {
		m, err := ParseCustom(tt.js)
		if err != nil {
			t.Errorf("ParseCustom(%s): %v", tt.js, err)
			continue
		}
		if m.Scaled() || m.Name() != "custom" {
			t.Errorf("ParseCustom(%s): Scaled %v, Name %q", tt.js, m.Scaled(), m.Name())
		}
		for _, p := range tt.probes {
			if c, ok := m.Value(p.v); c != p.c || ok != p.ok {
				t.Errorf("ParseCustom(%s).Value(%v) = %v, %v; want %v, %v", tt.js, p.v, c, ok, p.c, p.ok)
			}
		}
	}
}

func TestValueSortedMatchesLinear(t *testing.T) {
	// 40 intervals [10i, 10i+5) with gaps, listed out of order: the binary
	// search must agree with the definition.
	var parts []string
	for _, i := range []int{39, 0, 7, 20} {
		parts = append(parts, fmt.Sprintf(`[[%d, %d], [%d, 0, 0]]`, 10*i, 10*i+5, i))
	}
	for i := 1; i < 39; i++ {
		if i != 7 && i != 20 {
			parts = append(parts, fmt.Sprintf(`[[%d, %d], [%d, 0, 0]]`, 10*i, 10*i+5, i))
		}
	}
	m, err := ParseCustom("[" + strings.Join(parts, ",") + "]")
	if err != nil {
		t.Fatal(err)
	}
	if m.sorted == nil {
		t.Fatal("non-overlapping intervals did not take the binary-search path")
	}
	for v := -10.0; v < 420; v += 0.25 {
		want, wantOK := RGBA{}, false
		if i := math.Floor(v / 10); v >= 0 && v < 400 && v-10*i < 5 {
			want, wantOK = RGBA{uint8(i), 0, 0, 255}, true
		}
		if got, ok := m.Value(v); got != want || ok != wantOK {
			t.Fatalf("Value(%v) = %v, %v; want %v, %v", v, got, ok, want, wantOK)
		}
	}
	// One overlap anywhere falls back to the ordered scan.
	parts = append(parts, `[[2, 12], [1, 1, 1]]`)
	m, err = ParseCustom("[" + strings.Join(parts, ",") + "]")
	if err != nil {
		t.Fatal(err)
	}
	if m.sorted != nil {
		t.Error("overlapping intervals took the binary-search path")
	}
	for v, want := range map[float64]RGBA{7: {1, 1, 1, 255}, 11: {1, 0, 0, 255}} {
		if c, _ := m.Value(v); c != want {
			t.Errorf("Value(%v) = %v, want %v (first match in order)", v, c, want)
		}
	}
}

func TestColorsAndIndex(t *testing.T) {
	m, err := ParseCustom(`[[[0, 1], "#010203"], [3, "#040506"], [[5, null], [7, 8, 9, 10]]]`)
	if err != nil {
		t.Fatal(err)
	}
	want := []RGBA{{1, 2, 3, 255}, {4, 5, 6, 255}, {7, 8, 9, 10}}
	if got := m.Colors(); !slices.Equal(got, want) {
		t.Errorf("Colors() = %v, want %v", got, want)
	}
	m.Colors()[0] = RGBA{} // a copy: must not change the map
	if got := m.Colors()[0]; got != want[0] {
		t.Errorf("Colors() shares its slice: %v", got)
	}
	// Index on a custom map is Value of the byte.
	for i, w := range map[uint8]RGBA{0: want[0], 1: {}, 3: want[1], 4: {}, 5: want[2], 255: want[2]} {
		if got := m.Index(i); got != w {
			t.Errorf("custom Index(%d) = %v, want %v", i, got, w)
		}
	}
	// Value on a named map is the rounded, clamped index.
	v, _ := Lookup("magma")
	for _, tt := range []struct {
		v float64
		i uint8
	}{{0, 0}, {-3, 0}, {10.4, 10}, {10.5, 11}, {300, 255}, {math.Inf(1), 255}} {
		if c, ok := v.Value(tt.v); !ok || c != v.Index(tt.i) {
			t.Errorf("magma Value(%v) = %v, %v; want Index(%d) = %v", tt.v, c, ok, tt.i, v.Index(tt.i))
		}
	}
	if _, ok := v.Value(math.NaN()); ok {
		t.Error("magma Value(NaN) has a colour")
	}
}

// pixels is one 256x256 tile of float values spread over 0..3000.
func pixels() []float64 {
	px := make([]float64, 256*256)
	for i := range px {
		px[i] = float64(i%3001) + 0.25
	}
	return px
}

func BenchmarkLookupIndex(b *testing.B) {
	px := make([]uint8, 256*256)
	for i := range px {
		px[i] = uint8(i)
	}
	out := make([]RGBA, len(px))
	for b.Loop() {
		m, err := Lookup("viridis")
		if err != nil {
			b.Fatal(err)
		}
		for i, p := range px {
			out[i] = m.Index(p)
		}
	}
}

func BenchmarkRescale(b *testing.B) {
	px := pixels()
	out := make([]uint8, len(px))
	for b.Loop() {
		for i, v := range px {
			out[i] = Rescale(v, 0, 3000)
		}
	}
}

func BenchmarkCustomIntervals(b *testing.B) {
	for _, n := range []int{4, 64} {
		b.Run(fmt.Sprintf("intervals=%d", n), func(b *testing.B) {
			parts := make([]string, n)
			step := 3000 / n
			for i := range parts {
				parts[i] = fmt.Sprintf(`[[%d, %d], [%d, 0, 0]]`, i*step, (i+1)*step, i)
			}
			m, err := ParseCustom("[" + strings.Join(parts, ",") + "]")
			if err != nil {
				b.Fatal(err)
			}
			px := pixels()
			out := make([]RGBA, len(px))
			for b.Loop() {
				for i, v := range px {
					out[i], _ = m.Value(v)
				}
			}
		})
	}
}
