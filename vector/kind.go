package vector

import (
	"log/slog"

	"github.com/udftiles/udftiles/config"
	"github.com/udftiles/udftiles/layer"
)

// Factory builds the factory of vector layers (handler: vector), which log
// invalid geometries to log.
func Factory(log *slog.Logger) layer.Factory {
	return func(u config.UDF) (layer.Handler, error) {
		o := Options{Path: u.Path, Layer: u.Layer, Columns: u.Columns, MinZoom: u.MinZoom, MaxZoom: u.MaxZoom, Logger: log}
		if u.MaxFeatures != nil {
			o.MaxFeatures = *u.MaxFeatures
		}
		return New(o), nil
	}
}
