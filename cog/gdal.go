package cog

import (
	"strings"
	"sync"

	"github.com/airbusgeo/godal"
)

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
