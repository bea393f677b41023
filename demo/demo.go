package demo

import (
	"math"
	"path/filepath"

	"github.com/airbusgeo/godal"
)

// ElevationNoData marks the hole in the demo DEM.
const ElevationNoData = -32768

// Elevation is the demo DEM: 2048×2048 Int16 metres at 30 m in UTM zone 33N
// (EPSG:32633, over the eastern Alps), with a circular nodata hole.
func Elevation() Grid {
	const n, px = 2048, 30.0
	nd := float64(ElevationNoData)
	g := Grid{
		EPSG: 32633, Width: n, Height: n, DType: godal.Int16, NoData: &nd,
		GeoTransform: [6]float64{380000, px, 0, 5250000, 0, -px},
		Bands:        [][]float64{make([]float64, n*n)},
	}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			g.Bands[0][y*n+x] = terrain(float64(x)/n, float64(y)/n)
		}
	}
	// A lake of missing data: transparent on the map, nodata in raw tiles.
	cx, cy, r := 0.68*n, 0.32*n, 0.07*n
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if math.Hypot(float64(x)-cx, float64(y)-cy) < r {
				g.Bands[0][y*n+x] = nd
			}
		}
	}
	return g
}

// terrain is a smooth deterministic landscape between about 0 and 3000 m.
func terrain(u, v float64) float64 {
	peaks := [][4]float64{ // x, y, height, width
		{0.30, 0.35, 2200, 0.12}, {0.55, 0.60, 1800, 0.18}, {0.80, 0.75, 1400, 0.10},
		{0.20, 0.80, 1100, 0.15}, {0.70, 0.20, 1600, 0.09},
	}
	h := 150.0 + 400*u
	for _, p := range peaks {
		d2 := (u-p[0])*(u-p[0]) + (v-p[1])*(v-p[1])
		h += p[2] * math.Exp(-d2/(2*p[3]*p[3]))
	}
	h += 120*math.Sin(u*40)*math.Cos(v*33) + 60*math.Sin((u+v)*90)
	return math.Round(math.Max(0, math.Min(3000, h)))
}

// RGB is the demo colour image: 1024×1024 Byte RGB in EPSG:4326 over 10–20°E, 42–50°N.
func RGB() Grid {
	const w, h = 1024, 1024
	g := Grid{
		EPSG: 4326, Width: w, Height: h, DType: godal.Byte,
		GeoTransform: [6]float64{10, 10.0 / w, 0, 50, 0, -8.0 / h},
		Bands:        [][]float64{make([]float64, w*h), make([]float64, w*h), make([]float64, w*h)},
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			u, v := float64(x)/w, float64(y)/h
			e := terrain(u, v) / 3000
			i := y*w + x
			g.Bands[0][i] = math.Round(255 * clamp(0.2+0.8*e))
			g.Bands[1][i] = math.Round(255 * clamp(0.75-0.5*e+0.1*math.Sin(u*25)))
			g.Bands[2][i] = math.Round(255 * clamp(0.35+0.4*v*(1-e)))
		}
	}
	return g
}

func clamp(x float64) float64 { return math.Max(0, math.Min(1, x)) }

// Write generates every demo file into dir: the rasters, a STAC Item of
// them and a mosaic of the DEM's pieces (WriteMosaic), then the vector layers made from geopandas' Natural Earth files (see
// WriteVectors).
func Write(dir string) ([]string, error) {
	files := []struct {
		name string
		grid Grid
	}{{"elevation.tif", Elevation()}, {"rgb.tif", RGB()}}
	var out []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := WriteCOG(p, f.grid); err != nil {
			return out, err
		}
		out = append(out, p)
	}
	item, err := WriteSTACItem(dir)
	if err != nil {
		return out, err
	}
	out = append(out, item)
	pieces, err := WriteMosaic(dir)
	if err != nil {
		return out, err
	}
	out = append(out, pieces...)
	vec, err := WriteVectors(dir)
	return append(out, vec...), err
}
