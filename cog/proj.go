package cog

/*
#cgo pkg-config: proj
#include <proj.h>
#include <stdlib.h>
#include <string.h>

// udft_pipeline returns the PROJ pipeline PROJ picks from src to dst, or NULL
// when it is not a single operation that a PROJ string can express.
static char *udft_pipeline(const char *src, const char *dst) {
	PJ_CONTEXT *ctx = proj_context_create();
	char *out = NULL;
	PJ *op = proj_create_crs_to_crs(ctx, src, dst, NULL);
	if (op != NULL) {
		const char *s = proj_as_proj_string(ctx, op, PJ_PROJ_5, NULL);
		if (s != NULL) out = strdup(s);
		proj_destroy(op);
	}
	proj_context_destroy(ctx);
	return out;
}
*/
import "C"

import (
	"slices"
	"strconv"
	"unsafe"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/tiles"
)

// mercatorPipeline returns the coordinate operation from the dataset's CRS to
// EPSG:3857 as a PROJ string, for gdalwarp's -ct. Given it, GDAL builds each
// tile's transformation from the string instead of searching PROJ's database
// (about a fifth of an uncached tile's time). It is used only when a warp with it
// gives exactly the values of a warp without it; "" otherwise.
//
// Geographic sources keep GDAL's own search: its handling of longitudes around
// the antimeridian differs from a bare pipeline's.
func mercatorPipeline(ds *godal.Dataset, in *info) string {
	sr := ds.SpatialRef()
	geographic := sr.Geographic()
	sr.Close()
	if geographic {
		return ""
	}
	wkt := ds.Projection()
	csrc, cdst := C.CString(wkt), C.CString("EPSG:3857")
	defer C.free(unsafe.Pointer(csrc))
	defer C.free(unsafe.Pointer(cdst))
	p := C.udft_pipeline(csrc, cdst)
	if p == nil {
		return ""
	}
	pipeline := C.GoString(p)
	C.free(unsafe.Pointer(p))

	// Check on a tile in the middle of the data at the native zoom.
	x, y := in.merc.Center()
	lon, lat := tiles.MercatorToLonLat(x, y)
	t := tiles.AtLonLat(lon, lat, in.maxZoom)
	m := t.Mercator()
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	base := []string{"-of", "MEM", "-t_srs", webMercatorWKT(), "-te", f(m.MinX), f(m.MinY), f(m.MaxX), f(m.MaxY),
		"-ts", "64", "64", "-r", "bilinear", "-ovr", "NONE"}
	read := func(sw []string) []float64 {
		out, err := ds.Warp("", sw)
		if err != nil {
			return nil
		}
		defer out.Close()
		buf := make([]float64, 64*64)
		if err := out.Bands()[0].Read(0, 0, buf, 64, 64); err != nil {
			return nil
		}
		return buf
	}
	want := read(base)
	got := read(append(slices.Clone(base), "-ct", pipeline))
	if want == nil || got == nil || !slices.Equal(want, got) {
		return ""
	}
	return pipeline
}
