package tileservice

import (
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/render"
	"github.com/udftiles/udftiles/tiles"
)

// Info is what a client needs to know of a layer to ask for its tiles.
type Info struct {
	Name, Description string
	// Format is the format asked for, or else the layer's default; "" when
	// the layer's results choose their own (a Python UDF's).
	Format           string
	Formats          []string
	MinZoom, MaxZoom int
	Bounds           tiles.Bounds // lon/lat
	// VectorLayers are the layers inside its MVT tiles, when Format is mvt.
	VectorLayers []tiles.VectorLayer
	Schema       layer.Schema
}

// Info describes l, its tiles in format ("" = its default).
func (s *Service) Info(l *layer.Layer, format string) (Info, error) {
	if err := l.Status(); err != nil {
		return Info{}, &layer.Error{Kind: layer.Unavailable, Msg: "UDF " + l.Name + " is unavailable: " + err.Error()}
	}
	sch := l.Handler.Schema()
	f := sch.DefaultFormat
	if format != "" {
		var err error
		if f, err = PickFormat("", format, sch); err != nil {
			return Info{}, err
		}
	}
	in := Info{Name: l.Name, Description: l.Description, Format: f, Formats: sch.Formats,
		MinZoom: sch.MinZoom, MaxZoom: sch.MaxZoom, Bounds: sch.Bounds, Schema: sch}
	if render.Normalize(f) == "mvt" {
		id := l.MVTLayer
		if id == "" {
			id = render.DefaultLayer
		}
		in.VectorLayers = []tiles.VectorLayer{{ID: id, Fields: map[string]string{}, MinZoom: sch.MinZoom, MaxZoom: sch.MaxZoom}}
	}
	return in, nil
}
