// Package algorithm computes TiTiler's algorithms over a tile's bands:
// hillshade and slope (as gdaldem computes them, Horn's method), a
// normalized difference index, and the Terrain-RGB and Terrarium encodings
// of elevation in RGB.
//
// Hillshade and slope look at each pixel's 3×3 neighbourhood: they are given
// the tile with a border of Pad pixels read around it, so that tiles join
// without seams, and write the tile without it.
package algorithm

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Names are the algorithms algorithm= takes.
var Names = []string{"hillshade", "slope", "normalized_index", "terrainrgb", "terrarium"}

// aliases are other spellings of Names: TiTiler's.
var aliases = map[string]string{"normalizedIndex": "normalized_index"}

// Accepted are Names and their aliases: the values algorithm= accepts.
var Accepted = []string{"hillshade", "slope", "normalized_index", "normalizedIndex", "terrainrgb", "terrarium"}

// Param is one key of algorithm_params.
type Param struct {
	Name        string
	Default     float64
	Min, Max    float64
	Integer     bool
	Description string
}

// Params are each algorithm's keys of algorithm_params, TiTiler's spelling.
var Params = map[string][]Param{
	"hillshade": {
		{Name: "azimuth", Default: 315, Min: 0, Max: 360, Description: "direction of the light, degrees clockwise from north (gdaldem -az)"},
		{Name: "angle_altitude", Default: 45, Min: -90, Max: 90, Description: "height of the light above the horizon, degrees (gdaldem -alt)"},
		{Name: "z_exaggeration", Default: 1, Min: 1e-6, Max: 1e6, Description: "vertical exaggeration (gdaldem -z)"},
		{Name: "buffer", Default: 1, Min: 0, Max: 99, Integer: true, Description: "pixels read around the tile (at least 1, which the 3×3 window needs)"},
	},
	"slope": {
		{Name: "z_exaggeration", Default: 1, Min: 1e-6, Max: 1e6, Description: "vertical exaggeration"},
		{Name: "buffer", Default: 1, Min: 0, Max: 99, Integer: true, Description: "pixels read around the tile (at least 1, which the 3×3 window needs)"},
	},
	"normalized_index": {},
	"terrainrgb": {
		{Name: "interval", Default: 0.1, Min: 1e-6, Max: 1e6, Description: "height step of one unit of the encoded value"},
		{Name: "baseval", Default: -10000, Min: -1e9, Max: 1e9, Description: "height of the encoded value 0"},
	},
	"terrarium": {},
}

// Algorithm is one algorithm with its parameters.
type Algorithm struct {
	Name string
	// Hillshade: light's azimuth and altitude in degrees.
	Azimuth, AngleAltitude float64
	// Hillshade and slope: vertical exaggeration; border read around the tile.
	ZExaggeration float64
	Buffer        int
	// Terrain-RGB: height = BaseVal + value × Interval.
	Interval, BaseVal float64
}

// Parse returns the algorithm name with params (algorithm_params, a JSON
// object; nil for none). Numbers may be given as JSON numbers or strings.
func Parse(name string, params map[string]any) (*Algorithm, error) {
	if a, ok := aliases[name]; ok {
		name = a
	}
	specs, ok := Params[name]
	if !ok {
		return nil, fmt.Errorf("unknown algorithm %q; want one of %s", name, strings.Join(Names, ", "))
	}
	vals := map[string]float64{}
	for _, p := range specs {
		vals[p.Name] = p.Default
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		i := slices.IndexFunc(specs, func(p Param) bool { return p.Name == k })
		if i < 0 {
			return nil, fmt.Errorf("%s takes no parameter %q; it takes: %s", name, k, paramNames(specs))
		}
		p := specs[i]
		var f float64
		switch v := params[k].(type) {
		case float64:
			f = v
		case int:
			f = float64(v)
		case string:
			x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return nil, fmt.Errorf("%s: want a number, got %q", k, v)
			}
			f = x
		default:
			return nil, fmt.Errorf("%s: want a number, got %v", k, params[k])
		}
		if math.IsNaN(f) || f < p.Min || f > p.Max {
			return nil, fmt.Errorf("%s: want a number from %g to %g, got %g", k, p.Min, p.Max, f)
		}
		if p.Integer && f != math.Trunc(f) {
			return nil, fmt.Errorf("%s: want an integer, got %g", k, f)
		}
		vals[k] = f
	}
	return &Algorithm{
		Name: name, Azimuth: vals["azimuth"], AngleAltitude: vals["angle_altitude"],
		ZExaggeration: vals["z_exaggeration"], Buffer: int(vals["buffer"]),
		Interval: vals["interval"], BaseVal: vals["baseval"],
	}, nil
}

func paramNames(specs []Param) string {
	if len(specs) == 0 {
		return "nothing"
	}
	var names []string
	for _, p := range specs {
		names = append(names, p.Name)
	}
	return strings.Join(names, ", ")
}

// Inputs is the number of bands the algorithm reads: the first of the
// tile's bands, or the first two (normalized_index).
func (a *Algorithm) Inputs() int {
	if a.Name == "normalized_index" {
		return 2
	}
	return 1
}

// Pad is the border, in pixels, Apply needs around the tile.
func (a *Algorithm) Pad() int {
	switch a.Name {
	case "hillshade", "slope":
		return max(1, a.Buffer)
	}
	return 0
}

// Outputs is the number of bands Apply writes.
func (a *Algorithm) Outputs() int {
	switch a.Name {
	case "terrainrgb", "terrarium":
		return 3
	}
	return 1
}

// DType is the sample type of the output, numpy's spelling.
func (a *Algorithm) DType() string {
	switch a.Name {
	case "slope", "normalized_index":
		return "float32"
	}
	return "uint8"
}

// NoData is the value written for masked pixels in raw formats: gdaldem's 0
// for hillshade, NaN for the float outputs; the RGB encodings have none
// (every colour is a height) and are masked by an internal mask.
func (a *Algorithm) NoData() (float64, bool) {
	switch a.Name {
	case "hillshade":
		return 0, true
	case "slope", "normalized_index":
		return math.NaN(), true
	}
	return 0, false
}

// Input is what Apply reads: a Width×Height grid, the tile with a border of
// Pad pixels on each side.
type Input struct {
	Width, Height int
	Bands         [][]float64 // Inputs of them, row-major
	Mask          []uint8     // 0: no data; nil: all valid
	// ResX and ResY are the pixel's size as a geotransform holds them: ResY
	// is negative for north-up grids.
	ResX, ResY float64
}

// Apply computes the algorithm over in into out (Outputs bands) and mask,
// each of (Width-2·Pad)×(Height-2·Pad) pixels. Masked pixels are NaN in
// float outputs, 0 in byte outputs.
func (a *Algorithm) Apply(in Input, out [][]float64, mask []uint8) error {
	pad := a.Pad()
	w, h := in.Width-2*pad, in.Height-2*pad
	if w <= 0 || h <= 0 || len(in.Bands) < a.Inputs() || len(out) != a.Outputs() || len(mask) != w*h {
		return fmt.Errorf("algorithm %s: bad shapes", a.Name)
	}
	for _, b := range in.Bands {
		if len(b) != in.Width*in.Height {
			return fmt.Errorf("algorithm %s: bad shapes", a.Name)
		}
	}
	for _, b := range out {
		if len(b) != w*h {
			return fmt.Errorf("algorithm %s: bad shapes", a.Name)
		}
	}
	switch a.Name {
	case "hillshade", "slope":
		a.window(in, pad, out[0], mask)
	case "normalized_index":
		normalized(in, out[0], mask)
	case "terrainrgb":
		encode(in, out, mask, func(v float64) float64 { return math.Round((v - a.BaseVal) / a.Interval) })
	case "terrarium":
		encode(in, out, mask, func(v float64) float64 { return math.Round((v + 32768) * 256) })
	}
	return nil
}

// window runs hillshade or slope over each pixel's 3×3 neighbourhood, as
// gdaldem does (Horn's gradient); a pixel with no data in its window has
// none.
func (a *Algorithm) window(in Input, pad int, out []float64, mask []uint8) {
	const deg = math.Pi / 180
	W := in.Width
	w, h := in.Width-2*pad, in.Height-2*pad
	z := a.ZExaggeration
	invEW, invNS := 1/in.ResX, 1/in.ResY
	// gdaldem's hillshade constants (GDALCreateHillshadeData).
	zf := z / 8
	sinAlt := math.Sin(a.AngleAltitude * deg)
	cosAltZ := math.Cos(a.AngleAltitude*deg) * zf
	cosAz254 := 254 * math.Cos(a.Azimuth*deg) * cosAltZ
	sinAz254 := 254 * math.Sin(a.Azimuth*deg) * cosAltZ
	sinAlt254 := 254 * sinAlt
	sqZ := zf * zf
	hill := a.Name == "hillshade"
	src := in.Bands[0]
	nan := math.NaN()
	for y := 0; y < h; y++ {
		r1 := (y + pad - 1) * W
		r2, r3 := r1+W, r1+2*W
		for x := 0; x < w; x++ {
			c := x + pad
			o := y*w + x
			m := uint8(255)
			if in.Mask != nil {
				m = in.Mask[r2+c]
				if m == 0 || in.Mask[r1+c-1] == 0 || in.Mask[r1+c] == 0 || in.Mask[r1+c+1] == 0 ||
					in.Mask[r2+c-1] == 0 || in.Mask[r2+c+1] == 0 ||
					in.Mask[r3+c-1] == 0 || in.Mask[r3+c] == 0 || in.Mask[r3+c+1] == 0 {
					m = 0
				}
			}
			w0, w1, w2 := src[r1+c-1], src[r1+c], src[r1+c+1]
			w3, w5 := src[r2+c-1], src[r2+c+1]
			w6, w7, w8 := src[r3+c-1], src[r3+c], src[r3+c+1]
			gx := ((w0 + w3 + w3 + w6) - (w2 + w5 + w5 + w8)) * invEW
			gy := ((w6 + w7 + w7 + w8) - (w0 + w1 + w1 + w2)) * invNS
			var v float64
			if hill {
				cang := (sinAlt254 - (gy*cosAz254 - gx*sinAz254)) / math.Sqrt(1+sqZ*(gx*gx+gy*gy))
				v = 1
				if cang > 0 {
					v = math.Min(255, math.Round(1+cang))
				}
			} else {
				v = math.Atan(math.Sqrt(gx*gx+gy*gy)*z/8) / deg
				v = float64(float32(v))
			}
			if v != v {
				m = 0
			}
			if m == 0 {
				v = 0
				if !hill {
					v = nan
				}
			}
			out[o], mask[o] = v, m
		}
	}
}

// normalized is (b2 - b1) / (b2 + b1) in float32, as TiTiler computes it;
// where b2 + b1 is 0 there is no value.
func normalized(in Input, out []float64, mask []uint8) {
	b1, b2 := in.Bands[0], in.Bands[1]
	nan := math.NaN()
	for i := range out {
		m := uint8(255)
		if in.Mask != nil {
			m = in.Mask[i]
		}
		x, y := float32(b1[i]), float32(b2[i])
		s := y + x
		if m == 0 || s == 0 {
			out[i], mask[i] = nan, 0
			continue
		}
		v := (y - x) / s
		if v != v || math.IsInf(float64(v), 0) {
			out[i], mask[i] = nan, 0
			continue
		}
		out[i], mask[i] = float64(v), m
	}
}

// maxRGB is the largest value three bytes hold.
const maxRGB = 1<<24 - 1

// encode writes each height as the three bytes of the integer value(h):
// red the high byte, blue the low one.
func encode(in Input, out [][]float64, mask []uint8, value func(float64) float64) {
	src := in.Bands[0]
	r, g, b := out[0], out[1], out[2]
	for i, h := range src {
		m := uint8(255)
		if in.Mask != nil {
			m = in.Mask[i]
		}
		if m == 0 || h != h || math.IsInf(h, 0) {
			r[i], g[i], b[i], mask[i] = 0, 0, 0, 0
			continue
		}
		v := int64(math.Max(0, math.Min(maxRGB, value(h))))
		r[i], g[i], b[i], mask[i] = float64(v>>16), float64(v>>8&0xff), float64(v&0xff), m
	}
}

// DecodeTerrainRGB is the height a Terrain-RGB pixel encodes (Mapbox's
// formula with the default interval and base).
func DecodeTerrainRGB(r, g, b uint8) float64 {
	return -10000 + float64(int(r)<<16|int(g)<<8|int(b))*0.1
}

// DecodeTerrarium is the height a Terrarium pixel encodes.
func DecodeTerrarium(r, g, b uint8) float64 {
	return float64(r)*256 + float64(g) + float64(b)/256 - 32768
}
