package cog

import (
	"fmt"

	"github.com/udftiles/udftiles/config"
	"github.com/udftiles/udftiles/layer"
)

// Factory builds a cog layer (handler: cog) from its config entry: one file,
// or a mosaic when path is a list, a glob, a directory or an index
// document (IsMosaic).
func Factory(u config.UDF) (layer.Handler, error) {
	if IsMosaic(u.Path, u.Paths) {
		if len(u.Assets) > 1 {
			return nil, fmt.Errorf("udf %s: assets: a mosaic reads one asset of each STAC item, got %d", u.Name, len(u.Assets))
		}
		o := MosaicOptions{Path: u.Path, Paths: u.Paths, Bands: u.Bands, NoData: u.NoData, Resampling: u.Resampling,
			MinZoom: u.MinZoom, MaxZoom: u.MaxZoom}
		if len(u.Assets) == 1 {
			o.Asset = u.Assets[0]
		}
		return NewMosaic(o), nil
	}
	if len(u.Assets) > 0 {
		return nil, fmt.Errorf("udf %s: assets: for a mosaic of a STAC ItemCollection (a .json path), not the single file %s", u.Name, u.Path)
	}
	return New(Options{Path: u.Path, Bands: u.Bands, NoData: u.NoData, Resampling: u.Resampling,
		MinZoom: u.MinZoom, MaxZoom: u.MaxZoom}), nil
}
