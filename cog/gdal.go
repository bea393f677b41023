package cog

import (
	"strings"
	"sync"

	"github.com/airbusgeo/godal"
)

// Register makes GDAL's drivers available; it is safe to call many times.
func Register() { registerOnce() }

var registerOnce = sync.OnceFunc(func() {
	tuneMalloc()
	godal.RegisterAll()
})

// webMercatorWKT is set on every destination grid: a WKT string avoids a PROJ
// database lookup per tile.
var webMercatorWKT = sync.OnceValue(func() string {
	sr, err := godal.NewSpatialRefFromEPSG(3857)
	if err != nil {
		return "EPSG:3857"
	}
	defer sr.Close()
	w, err := sr.WKT()
	if err != nil {
		return "EPSG:3857"
	}
	return strings.TrimSpace(w)
})
