package cog

import (
	"github.com/udftiles/udftiles/config"
	"github.com/udftiles/udftiles/layer"
)

// Factory builds a cog layer (handler: cog) from its config entry.
func Factory(u config.UDF) (layer.Handler, error) {
	return New(Options{Path: u.Path, Bands: u.Bands, NoData: u.NoData, Resampling: u.Resampling,
		MinZoom: u.MinZoom, MaxZoom: u.MaxZoom}), nil
}
