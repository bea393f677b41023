// Package main is an example Go plugin for tileserver: a raster whose value is
// the longitude (or latitude) of each pixel, for config entries like
//
//	udfs:
//	  - {name: gradient, handler: plugin, path: gradient.so, options: {axis: lat},
//	     colormap: viridis, rescale: [-90, 90]}
//
// Build it with the same Go toolchain, module versions and build flags as the
// server that loads it:
//
//	go build -buildmode=plugin -o gradient.so ./examples/plugin
//
// A plugin is a main package that exports NewHandler; main itself never runs.
package main

import (
	"context"
	"fmt"
	"math"
	"os"

	"github.com/udftiles/udftiles/gohandler"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// NewHandler is called once per layer with the layer's options.
func NewHandler(options map[string]any) (layer.Handler, error) {
	var o struct {
		Axis string `json:"axis"` // lon (default) or lat
	}
	if err := gohandler.DecodeOptions(options, &o); err != nil {
		return nil, err
	}
	switch o.Axis {
	case "":
		o.Axis = "lon"
	case "lon", "lat":
	default:
		return nil, fmt.Errorf("options: axis: want lon or lat, got %q", o.Axis)
	}
	return &gradient{axis: o.Axis}, nil
}

type gradient struct{ axis string }

func (g *gradient) Schema() layer.Schema {
	return layer.Schema{
		Params: []layer.Param{
			{Name: "steps", Type: layer.Int, Default: 0, Description: "round to this many steps across the world (0: smooth)"},
		},
		Modes:         []string{"tile"},
		Formats:       []string{"png", "webp", "tif", "npy"},
		DefaultFormat: "png",
		MaxZoom:       22,
		Bounds:        tiles.Bounds{MinX: -180, MinY: -tiles.MaxLat, MaxX: 180, MaxY: tiles.MaxLat},
		Doc:           "The " + g.axis + " of each pixel, in degrees.",
	}
}

// Version changes whenever the results would: bump it with the code.
func (g *gradient) Version() string { return "gradient-1-" + g.axis }

func (g *gradient) Run(ctx context.Context, r layer.Request) (layer.Result, error) {
	if r.Tile == nil {
		return nil, layer.Errorf(layer.BadRequest, "gradient serves tiles only")
	}
	steps, _ := r.Params["steps"].(int)
	if steps < 0 || steps > 10000 {
		return nil, layer.Errorf(layer.BadRequest, "parameter steps: want 0..10000, got %d", steps)
	}
	const size = 256
	m := r.Tile.Mercator()
	px := (m.MaxX - m.MinX) / size
	band := make([]float64, size*size)
	for j := 0; j < size; j++ {
		for i := 0; i < size; i++ {
			lon, lat := tiles.MercatorToLonLat(m.MinX+(float64(i)+0.5)*px, m.MaxY-(float64(j)+0.5)*px)
			v, span := lon, 360.0
			if g.axis == "lat" {
				v, span = lat, 180.0
			}
			if steps > 0 {
				w := span / float64(steps)
				v = (math.Floor(v/w) + 0.5) * w
			}
			band[j*size+i] = v
		}
	}
	return &layer.Raster{Width: size, Height: size, Bands: [][]float64{band}, DType: "float32",
		Bounds: m, EPSG: 3857}, nil
}

func main() {
	fmt.Fprintln(os.Stderr, "this is a tileserver plugin: go build -buildmode=plugin -o gradient.so ./examples/plugin")
	os.Exit(2)
}
