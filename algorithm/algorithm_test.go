package algorithm

import (
	"math"
	"strings"
	"testing"
)

// plane is a w×h grid of heights rising by gx per pixel eastwards and gy
// per pixel southwards.
func plane(w, h int, gx, gy float64) Input {
	in := Input{Width: w, Height: h, ResX: 10, ResY: -10, Bands: [][]float64{make([]float64, w*h)}}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			in.Bands[0][y*w+x] = 100 + gx*float64(x) + gy*float64(y)
		}
	}
	return in
}

func apply(t *testing.T, a *Algorithm, in Input) ([][]float64, []uint8) {
	t.Helper()
	w, h := in.Width-2*a.Pad(), in.Height-2*a.Pad()
	out := make([][]float64, a.Outputs())
	for i := range out {
		out[i] = make([]float64, w*h)
	}
	mask := make([]uint8, w*h)
	if err := a.Apply(in, out, mask); err != nil {
		t.Fatal(err)
	}
	return out, mask
}

func mustParse(t *testing.T, name string, p map[string]any) *Algorithm {
	t.Helper()
	a, err := Parse(name, p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSlopeOfAPlane(t *testing.T) {
	// 10 m up per 10 m pixel eastwards: 45°.
	a := mustParse(t, "slope", nil)
	out, mask := apply(t, a, plane(8, 6, 10, 0))
	for i, v := range out[0] {
		if math.Abs(v-45) > 1e-4 || mask[i] != 255 {
			t.Fatalf("pixel %d: %v° (mask %d), want 45°", i, v, mask[i])
		}
	}
	a = mustParse(t, "slope", map[string]any{"z_exaggeration": 2.0})
	out, _ = apply(t, a, plane(8, 6, 0, 5))
	if want := math.Atan(1) * 180 / math.Pi; math.Abs(out[0][0]-want) > 1e-4 {
		t.Errorf("z_exaggeration 2 on a 0.5 slope: %v°, want %v°", out[0][0], want)
	}
}

func TestHillshadeOfAPlane(t *testing.T) {
	// Flat ground lit from 45° up: 1 + 254·sin(45°).
	a := mustParse(t, "hillshade", nil)
	out, _ := apply(t, a, plane(5, 5, 0, 0))
	if want := math.Round(1 + 254*math.Sin(math.Pi/4)); out[0][0] != want {
		t.Errorf("flat: %v, want %v", out[0][0], want)
	}
	// A slope facing the light (down towards the north-west, lit from 315°)
	// is brighter than flat ground; one facing away is darker.
	lit, _ := apply(t, a, plane(5, 5, 3, 3))
	dark, _ := apply(t, a, plane(5, 5, -3, -3))
	if !(lit[0][0] > out[0][0] && dark[0][0] < out[0][0]) {
		t.Errorf("facing the light %v, flat %v, facing away %v", lit[0][0], out[0][0], dark[0][0])
	}
	// A border of 3 pixels: the output is the input less 3 on each side.
	a = mustParse(t, "hillshade", map[string]any{"buffer": 3.0})
	if a.Pad() != 3 {
		t.Errorf("pad %d, want 3", a.Pad())
	}
	if a := mustParse(t, "hillshade", map[string]any{"buffer": "0"}); a.Pad() != 1 {
		t.Errorf("buffer 0: pad %d, want 1 (the 3×3 window)", a.Pad())
	}
}

func TestWindowMask(t *testing.T) {
	in := plane(6, 6, 1, 1)
	in.Mask = make([]uint8, 36)
	for i := range in.Mask {
		in.Mask[i] = 255
	}
	in.Mask[0] = 0  // only the output pixel (0, 0) sees it
	in.Mask[35] = 0 // and (3, 3) this one
	in.Mask[2*6+3] = 128
	for _, name := range []string{"hillshade", "slope"} {
		out, mask := apply(t, mustParse(t, name, nil), in)
		for i, m := range mask {
			want := uint8(255)
			switch i {
			case 0, 15:
				want = 0
			case 1*4 + 2: // centre (3, 2) of the input
				want = 128
			}
			if m != want {
				t.Errorf("%s pixel %d: mask %d, want %d", name, i, m, want)
			}
			if m == 0 && name == "slope" && !math.IsNaN(out[0][i]) {
				t.Errorf("slope pixel %d: masked %v, want NaN", i, out[0][i])
			}
		}
	}
}

func TestNormalizedIndex(t *testing.T) {
	a := mustParse(t, "normalizedIndex", nil) // TiTiler's spelling
	if a.Name != "normalized_index" || a.Inputs() != 2 || a.DType() != "float32" {
		t.Fatalf("%+v", a)
	}
	in := Input{Width: 4, Height: 1, ResX: 1, ResY: -1, Bands: [][]float64{{1, 0, 2, -3}, {3, 0, 2, 3}}, Mask: []uint8{255, 255, 255, 0}}
	out, mask := apply(t, a, in)
	want := []float64{0.5, math.NaN(), 0, math.NaN()}
	for i, w := range want {
		if g := out[0][i]; !(g == w || math.IsNaN(g) && math.IsNaN(w)) || (mask[i] == 0) != math.IsNaN(w) {
			t.Errorf("pixel %d: %v mask %d, want %v", i, g, mask[i], w)
		}
	}
}

func TestEncodings(t *testing.T) {
	heights := []float64{-10000, -10000.04, -420.25, 0, 0.05, 8848.86, 1e7, -1e7, math.NaN(), 1234.5678}
	in := Input{Width: len(heights), Height: 1, ResX: 1, ResY: -1, Bands: [][]float64{heights}}
	rgb, mask := apply(t, mustParse(t, "terrainrgb", nil), in)
	dec := func(i int, f func(r, g, b uint8) float64) float64 {
		return f(uint8(rgb[0][i]), uint8(rgb[1][i]), uint8(rgb[2][i]))
	}
	for i, h := range heights {
		switch {
		case math.IsNaN(h):
			if mask[i] != 0 {
				t.Errorf("NaN: mask %d", mask[i])
			}
		case h > 1e6: // clamped to the largest value
			if got := dec(i, DecodeTerrainRGB); math.Abs(got-(-10000+float64(maxRGB)*0.1)) > 1e-6 {
				t.Errorf("%v: decodes to %v", h, got)
			}
		case h < -10000:
			if got := dec(i, DecodeTerrainRGB); got != -10000 {
				t.Errorf("%v: decodes to %v, want -10000", h, got)
			}
		default:
			if got := dec(i, DecodeTerrainRGB); math.Abs(got-h) > 0.05+1e-9 {
				t.Errorf("terrainrgb %v: decodes to %v", h, got)
			}
		}
	}
	rgb, _ = apply(t, mustParse(t, "terrarium", nil), in)
	for i, h := range heights {
		if math.IsNaN(h) || math.Abs(h) > 32000 {
			continue
		}
		if got := dec(i, DecodeTerrarium); math.Abs(got-h) > 1.0/512+1e-9 {
			t.Errorf("terrarium %v: decodes to %v", h, got)
		}
	}
	// interval and baseval
	a := mustParse(t, "terrainrgb", map[string]any{"interval": 1.0, "baseval": 0.0})
	rgb, _ = apply(t, a, Input{Width: 1, Height: 1, ResX: 1, ResY: -1, Bands: [][]float64{{70000}}})
	if v := rgb[0][0]*65536 + rgb[1][0]*256 + rgb[2][0]; v != 70000 {
		t.Errorf("interval 1, base 0: %v, want 70000", v)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		params map[string]any
		want   string
	}{
		{"sobel", nil, `unknown algorithm "sobel"`},
		{"hillshade", map[string]any{"zfactor": 2.0}, `hillshade takes no parameter "zfactor"; it takes: azimuth, angle_altitude, z_exaggeration, buffer`},
		{"terrarium", map[string]any{"x": 1.0}, `terrarium takes no parameter "x"; it takes: nothing`},
		{"hillshade", map[string]any{"azimuth": "east"}, `azimuth: want a number, got "east"`},
		{"hillshade", map[string]any{"azimuth": true}, `azimuth: want a number, got true`},
		{"hillshade", map[string]any{"angle_altitude": 91.0}, `angle_altitude: want a number from -90 to 90, got 91`},
		{"slope", map[string]any{"buffer": 2.5}, `buffer: want an integer, got 2.5`},
		{"terrainrgb", map[string]any{"interval": 0.0}, `interval: want a number from 1e-06`},
	} {
		_, err := Parse(c.name, c.params)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: got %v, want %q", c.name, c.params, err, c.want)
		}
	}
	a := mustParse(t, "hillshade", nil)
	if err := a.Apply(plane(2, 2, 0, 0), [][]float64{{}}, nil); err == nil {
		t.Error("a grid smaller than the window: no error")
	}
}
