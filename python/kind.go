package python

import (
	"errors"

	"github.com/udftiles/udftiles/config"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// Factory builds the factory of Python layers (handler: python) running on
// pool, each with queue calls waiting (0 = 4 per worker).
func Factory(pool *Pool, queue int) layer.Factory {
	return func(u config.UDF) (layer.Handler, error) {
		if pool == nil {
			return nil, errors.New("no Python workers are running")
		}
		o := Options{Name: u.Name, Path: u.Path, Queue: queue, Env: u.Env}
		if u.Timeout != nil {
			o.Timeout = u.Timeout.Std()
		}
		if u.MinZoom != nil {
			o.MinZoom = *u.MinZoom
		}
		if u.MaxZoom != nil {
			o.MaxZoom = *u.MaxZoom
		}
		if len(u.Bounds) == 4 {
			o.Bounds = &tiles.Bounds{MinX: u.Bounds[0], MinY: u.Bounds[1], MaxX: u.Bounds[2], MaxY: u.Bounds[3]}
		}
		return NewUDF(pool, o), nil
	}
}
