// Package gohandler serves layers written in Go: factories compiled into the
// server (Factories, with the built-in checker and tile grid) and plugins
// loaded from a .so file (OpenPlugin).
package gohandler

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// Factory builds a Go handler for one layer from the layer's `options:` mapping
// in config.yaml (nil when the entry has none). It runs once per layer when the
// server starts; an error becomes the layer's status in /v1/udfs.
type Factory func(options map[string]any) (layer.Handler, error)

// Factories are the Go handler factories compiled into a server, by the name a
// config entry gives in `go:`. There is no package-level registry: the program
// that starts the server owns the map, starting from Builtin.
type Factories map[string]Factory

// Builtin returns a new map of the Go handlers every tileserver has:
// tilegrid (the outline and z/x/y label of each tile, as GeoJSON) and checker
// (a checkerboard raster), both handy for testing map clients.
func Builtin() Factories {
	return Factories{"tilegrid": NewTileGrid, "checker": NewChecker}
}

// Names lists the factory names, sorted.
func (g Factories) Names() []string {
	names := make([]string, 0, len(g))
	for n := range g {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New builds a handler with the named factory. An unknown name, a factory's error
// or panic, and a nil handler are all errors that name the factory.
func (g Factories) New(name string, options map[string]any) (layer.Handler, error) {
	f, ok := g[name]
	if !ok || f == nil {
		return nil, fmt.Errorf("no Go handler named %q in this server; it has: %s", name, strings.Join(g.Names(), ", "))
	}
	return callFactory("Go handler "+name, f, options)
}

// callFactory runs a factory, turning a panic or a nil handler into an error.
func callFactory(what string, f Factory, options map[string]any) (h layer.Handler, err error) {
	defer func() {
		if p := recover(); p != nil {
			h, err = nil, fmt.Errorf("%s panicked while starting: %v", what, p)
		}
	}()
	h, err = f(options)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if h == nil {
		return nil, fmt.Errorf("%s returned no handler and no error", what)
	}
	return h, nil
}

// DecodeOptions fills the struct dst points to from a layer's options, matching
// keys to `json` field tags. An unknown key or a value of the wrong type is an
// error naming it, so a typo in config.yaml is reported rather than ignored.
func DecodeOptions(options map[string]any, dst any) error {
	if len(options) == 0 {
		return nil
	}
	b, err := json.Marshal(options)
	if err != nil {
		return fmt.Errorf("options: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("options: %s: want %s, got %s", te.Field, te.Type, te.Value)
		}
		return fmt.Errorf("options: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// optionsVersion is a version string for a built-in handler: its code revision
// and a hash of its options, so that changing either changes every cache key.
func optionsVersion(code string, opts any) string {
	b, _ := json.Marshal(opts)
	sum := sha256.Sum256(b)
	return code + "+" + hex.EncodeToString(sum[:6])
}

// zoomOptions are the zoom limits every built-in Go handler accepts in options.
type zoomOptions struct {
	MinZoom *int `json:"minzoom"`
	MaxZoom *int `json:"maxzoom"`
}

func (z zoomOptions) limits() (int, int, error) {
	lo, hi := 0, 24
	if z.MinZoom != nil {
		lo = *z.MinZoom
	}
	if z.MaxZoom != nil {
		hi = *z.MaxZoom
	}
	if lo < 0 || hi > tiles.MaxZoom || lo > hi {
		return 0, 0, fmt.Errorf("options: minzoom %d / maxzoom %d: want 0 <= minzoom <= maxzoom <= %d", lo, hi, tiles.MaxZoom)
	}
	return lo, hi, nil
}

var world = tiles.Bounds{MinX: -180, MinY: -tiles.MaxLat, MaxX: 180, MaxY: tiles.MaxLat}

// TileGrid outlines XYZ tiles as GeoJSON polygons with their z, x, y and a
// "z/x/y" label: in tile mode the requested tile (or its descendants with
// depth=), in file mode the tiles of zoom= covering the bounds.
type TileGrid struct {
	opts             tileGridOptions
	minZoom, maxZoom int
	version          string
}

type tileGridOptions struct {
	zoomOptions
	// Properties are added to every feature (e.g. {source: grid}).
	Properties map[string]any `json:"properties"`
}

// tileGridMaxFeatures bounds one response; more is a 413.
const tileGridMaxFeatures = 4096

// NewTileGrid is the tilegrid factory. Options: minzoom, maxzoom and properties
// (a mapping added to every feature).
func NewTileGrid(options map[string]any) (layer.Handler, error) {
	var o tileGridOptions
	if err := DecodeOptions(options, &o); err != nil {
		return nil, err
	}
	lo, hi, err := o.limits()
	if err != nil {
		return nil, err
	}
	return &TileGrid{opts: o, minZoom: lo, maxZoom: hi, version: optionsVersion("tilegrid/1", o)}, nil
}

// Schema implements Handler.
func (g *TileGrid) Schema() layer.Schema {
	return layer.Schema{
		Params: []layer.Param{
			{Name: "depth", Type: layer.Int, Default: 0, Enum: []string{"0", "1", "2", "3", "4"},
				Description: "tile mode: outline the tile's descendants this many zooms down"},
			{Name: "zoom", Type: layer.Int, Default: 2,
				Description: "file mode: the zoom of the tiles outlined across the bounds"},
		},
		Modes:         []string{"tile", "file"},
		Formats:       []string{"geojson", "json", "csv"},
		DefaultFormat: "geojson",
		MinZoom:       g.minZoom,
		MaxZoom:       g.maxZoom,
		Bounds:        world,
		Doc:           "The outline and z/x/y label of every tile: a reference layer for testing map clients.",
	}
}

// Version implements Handler.
func (g *TileGrid) Version() string { return g.version }

// Run implements Handler.
func (g *TileGrid) Run(ctx context.Context, r layer.Request) (layer.Result, error) {
	var rng tiles.Range
	z := 0
	if r.Tile != nil {
		depth, _ := r.Params["depth"].(int)
		z = r.Tile.Z + depth
		if z > tiles.MaxZoom {
			return nil, layer.Errorf(layer.BadRequest, "parameter depth: zoom %d+%d is beyond the deepest zoom %d", r.Tile.Z, depth, tiles.MaxZoom)
		}
		n := 1 << depth
		rng = tiles.Range{Z: z, MinX: r.Tile.X * n, MinY: r.Tile.Y * n, MaxX: r.Tile.X*n + n - 1, MaxY: r.Tile.Y*n + n - 1}
	} else {
		z, _ = r.Params["zoom"].(int)
		if z < 0 || z > tiles.MaxZoom {
			return nil, layer.Errorf(layer.BadRequest, "parameter zoom: want 0..%d, got %d", tiles.MaxZoom, z)
		}
		b := r.Bounds
		if b == (tiles.Bounds{}) {
			b = world
		}
		rng = tiles.Cover(b, z)
	}
	if n := rng.Count(); n > tileGridMaxFeatures {
		return nil, layer.Errorf(layer.TooLarge, "%d tiles at zoom %d: at most %d per request (use a lower zoom or smaller bounds)", n, z, tileGridMaxFeatures)
	}
	fc := geojson.NewFeatureCollection()
	var err error
	rng.Each(func(t tiles.Tile) bool {
		if err = ctx.Err(); err != nil {
			return false
		}
		b := t.LonLat()
		f := geojson.NewFeature(orb.Polygon{orb.Ring{
			{b.MinX, b.MinY}, {b.MaxX, b.MinY}, {b.MaxX, b.MaxY}, {b.MinX, b.MaxY}, {b.MinX, b.MinY},
		}})
		for k, v := range g.opts.Properties {
			f.Properties[k] = v
		}
		f.Properties["z"], f.Properties["x"], f.Properties["y"] = t.Z, t.X, t.Y
		f.Properties["label"] = t.String()
		fc.Append(f)
		return true
	})
	if err != nil {
		return nil, err
	}
	return &layer.Features{Collection: fc}, nil
}

// Checker is a checkerboard raster aligned to the global pixel grid, so squares
// continue across tile edges: one uint8 band, 0 and 255 by default, to which
// colormap= and rescale= apply.
type Checker struct {
	lo, hi           float64
	minZoom, maxZoom int
	dtype, version   string
}

type checkerOptions struct {
	zoomOptions
	// Values of the dark and light squares.
	Low  *float64 `json:"low"`
	High *float64 `json:"high"`
}

// NewChecker is the checker factory. Options: minzoom, maxzoom, and low and high,
// the values of the dark and light squares (default 0 and 255).
func NewChecker(options map[string]any) (layer.Handler, error) {
	var o checkerOptions
	if err := DecodeOptions(options, &o); err != nil {
		return nil, err
	}
	lo, hi, err := o.limits()
	if err != nil {
		return nil, err
	}
	c := &Checker{lo: 0, hi: 255, minZoom: lo, maxZoom: hi, dtype: "uint8"}
	if o.Low != nil {
		c.lo = *o.Low
	}
	if o.High != nil {
		c.hi = *o.High
	}
	for _, v := range []float64{c.lo, c.hi} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("options: low and high must be finite numbers")
		}
		if v != math.Trunc(v) || v < 0 || v > 255 {
			c.dtype = "float32"
		}
	}
	c.version = optionsVersion("checker/1", o)
	return c, nil
}

// Schema implements Handler.
func (c *Checker) Schema() layer.Schema {
	return layer.Schema{
		Params: []layer.Param{
			{Name: "size", Type: layer.Int, Default: 32, Description: "side of a square in pixels (1..4096)"},
			{Name: "tilesize", Type: layer.Int, Default: 256, Enum: []string{"256", "512"}, Description: "tile width and height in pixels"},
			{Name: "transparent", Type: layer.Bool, Default: false, Description: "leave the dark squares transparent"},
		},
		Modes:         []string{"tile"},
		Formats:       []string{"png", "jpg", "webp", "gif", "tif", "npy"},
		DefaultFormat: "png",
		MinZoom:       c.minZoom,
		MaxZoom:       c.maxZoom,
		Bounds:        world,
		Doc:           "A checkerboard aligned to the global pixel grid: a raster layer for testing map clients.",
	}
}

// Version implements Handler.
func (c *Checker) Version() string { return c.version }

// Run implements Handler.
func (c *Checker) Run(ctx context.Context, r layer.Request) (layer.Result, error) {
	if r.Tile == nil {
		return nil, layer.Errorf(layer.BadRequest, "checker serves tiles only")
	}
	size, _ := r.Params["size"].(int)
	if size < 1 || size > 4096 {
		return nil, layer.Errorf(layer.BadRequest, "parameter size: want 1..4096 pixels, got %d", size)
	}
	ts, _ := r.Params["tilesize"].(int)
	if ts <= 0 {
		ts = 256
	}
	transparent, _ := r.Params["transparent"].(bool)
	band := make([]float64, ts*ts)
	var mask []uint8
	if transparent {
		mask = make([]uint8, ts*ts)
	}
	x0, y0 := int64(r.Tile.X)*int64(ts), int64(r.Tile.Y)*int64(ts)
	for j := 0; j < ts; j++ {
		cy := (y0 + int64(j)) / int64(size)
		for i := 0; i < ts; i++ {
			cx := (x0 + int64(i)) / int64(size)
			k := j*ts + i
			if (cx+cy)%2 == 0 {
				band[k] = c.lo
			} else {
				band[k] = c.hi
				if mask != nil {
					mask[k] = 255
				}
			}
		}
	}
	return &layer.Raster{Width: ts, Height: ts, Bands: [][]float64{band}, DType: c.dtype, Mask: mask,
		Bounds: r.Tile.Mercator(), EPSG: 3857}, nil
}
