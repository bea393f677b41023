// Command gohandler is a tileserver with a kind of layer of its own compiled
// in: the recommended way to serve Go code. It is the whole server (serve,
// demo-data, version) plus one more kind, "distance", added with one line
// (cli.WithKind), for config entries like
//
//	udfs:
//	  - {name: paris, handler: distance, options: {lon: 2.35, lat: 48.86},
//	     colormap: viridis, rescale: [0, 20000]}
//
// Build and run it from the repository root:
//
//	go build -o bin/mytileserver ./examples/gohandler
//	bin/mytileserver serve --config examples/gohandler/config.yaml
package main

import (
	"context"
	"fmt"
	"math"
	"os"

	"github.com/udftiles/udftiles/cli"
	"github.com/udftiles/udftiles/config"
	"github.com/udftiles/udftiles/gohandler"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.WithKind("distance", NewDistance)))
}

// NewDistance is the kind's factory: it runs once per layer with the layer's
// config entry, whose options: hold its settings.
func NewDistance(u config.UDF) (layer.Handler, error) {
	var o struct {
		Lon float64 `json:"lon"`
		Lat float64 `json:"lat"`
	}
	if err := gohandler.DecodeOptions(u.Options, &o); err != nil {
		return nil, err
	}
	if o.Lon < -180 || o.Lon > 180 || o.Lat < -90 || o.Lat > 90 {
		return nil, fmt.Errorf("options: lon %g, lat %g: want -180..180 and -90..90", o.Lon, o.Lat)
	}
	return &distance{lon: o.Lon, lat: o.Lat}, nil
}

// distance is a raster of the great-circle distance of each pixel from a point.
type distance struct{ lon, lat float64 }

func (d *distance) Schema() layer.Schema {
	return layer.Schema{
		Params: []layer.Param{
			{Name: "unit", Type: layer.Str, Default: "km", Enum: []string{"km", "mi"}, Description: "unit of the values"},
		},
		Modes:         []string{"tile"},
		Formats:       []string{"png", "webp", "tif", "npy"},
		DefaultFormat: "png",
		MaxZoom:       22,
		Bounds:        tiles.Bounds{MinX: -180, MinY: -tiles.MaxLat, MaxX: 180, MaxY: tiles.MaxLat},
		Doc:           fmt.Sprintf("Distance from (%g, %g).", d.lon, d.lat),
	}
}

// Version is part of every cache key: change it when the results would change.
func (d *distance) Version() string { return fmt.Sprintf("distance-1/%g,%g", d.lon, d.lat) }

func (d *distance) Run(ctx context.Context, r layer.Request) (layer.Result, error) {
	if r.Tile == nil {
		return nil, layer.Errorf(layer.BadRequest, "distance serves tiles only")
	}
	radius := 6371.0088 // mean Earth radius, km
	if r.Params["unit"] == "mi" {
		radius /= 1.609344
	}
	const size = 256
	m := r.Tile.Mercator()
	px := (m.MaxX - m.MinX) / size
	band := make([]float64, size*size)
	for j := 0; j < size; j++ {
		if err := ctx.Err(); err != nil { // the client went away
			return nil, err
		}
		for i := 0; i < size; i++ {
			lon, lat := tiles.MercatorToLonLat(m.MinX+(float64(i)+0.5)*px, m.MaxY-(float64(j)+0.5)*px)
			band[j*size+i] = radius * haversine(d.lon, d.lat, lon, lat)
		}
	}
	return &layer.Raster{Width: size, Height: size, Bands: [][]float64{band}, DType: "float32",
		Bounds: m, EPSG: 3857}, nil
}

// haversine is the central angle between two lon/lat points, in radians.
func haversine(lon1, lat1, lon2, lat2 float64) float64 {
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * math.Asin(math.Min(1, math.Sqrt(a)))
}
