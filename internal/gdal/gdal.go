// Package gdal is the process's one GDAL set-up (drivers registered once,
// malloc tuned for GDAL's block buffers) and the pool of dataset handles that
// the cog and vector layers read through: GDAL datasets are not safe for
// concurrent use, so each read holds one handle of its layer's pool.
package gdal

import (
	"sync"

	"github.com/airbusgeo/godal"
)

// Register makes GDAL's drivers available; it is safe to call many times.
func Register() { registerOnce() }

var registerOnce = sync.OnceFunc(func() {
	tuneMalloc()
	godal.RegisterAll()
})
