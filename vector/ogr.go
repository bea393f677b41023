package vector

/*
#cgo pkg-config: gdal
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// udft_src is one open layer, used by one goroutine at a time. godal keeps the
// handles of its layers unexported and has no spatial or attribute filter on a
// layer, no FID and no random read, so this reads through OGR's C API.
typedef struct {
	GDALDatasetH ds;
	OGRLayerH layer;
	OGRCoordinateTransformationH to_wgs;   // NULL when the layer is lon/lat WGS 84
	OGRCoordinateTransformationH from_wgs;
	OGRGeometryH rect;                     // the spatial filter, for exact tests; NULL = none
	double rminx, rminy, rmaxx, rmaxy;
	char err[1024];                        // the first failure GDAL reported since udft_clear
	int failed;
} udft_src;

static void CPL_STDCALL udft_on_error(CPLErr cls, CPLErrorNum no, const char *msg) {
	udft_src *s = (udft_src *)CPLGetErrorHandlerUserData();
	(void)no;
	if (s == NULL || cls < CE_Failure || s->failed) return;
	snprintf(s->err, sizeof s->err, "%s", msg);
	s->failed = 1;
}

// Every entry point collects GDAL's errors into its handle instead of stderr.
#define ENTER(s) CPLPushErrorHandlerEx(udft_on_error, (s))
#define LEAVE() CPLPopErrorHandler()

static void udft_clear(udft_src *s) { s->failed = 0; s->err[0] = 0; }

static void udft_close(udft_src *s) {
	if (s == NULL) return;
	if (s->rect) OGR_G_DestroyGeometry(s->rect);
	if (s->to_wgs) OCTDestroyCoordinateTransformation(s->to_wgs);
	if (s->from_wgs) OCTDestroyCoordinateTransformation(s->from_wgs);
	if (s->ds) GDALClose(s->ds);
	free(s);
}

static int same_axes(OGRSpatialReferenceH a, OGRSpatialReferenceH b) {
	int na = 0, nb = 0;
	const int *ma = OSRGetDataAxisToSRSAxisMapping(a, &na);
	const int *mb = OSRGetDataAxisToSRSAxisMapping(b, &nb);
	if (na != nb) return 0;
	for (int i = 0; i < na; i++) if (ma[i] != mb[i]) return 0;
	return 1;
}

// set_transforms prepares the transforms between src and lon/lat; none when
// src is lon/lat already, or NULL (a layer without a CRS is taken to be lon/lat).
static void set_transforms(udft_src *s, OGRSpatialReferenceH src) {
	OGRSpatialReferenceH wgs = OSRNewSpatialReference(NULL);
	OSRImportFromEPSG(wgs, 4326);
	OSRSetAxisMappingStrategy(wgs, OAMS_TRADITIONAL_GIS_ORDER);
	if (src != NULL && !(OSRIsSame(src, wgs) && same_axes(src, wgs))) {
		s->to_wgs = OCTNewCoordinateTransformation(src, wgs);
		s->from_wgs = OCTNewCoordinateTransformation(wgs, src);
		if (s->to_wgs == NULL || s->from_wgs == NULL) {
			snprintf(s->err, sizeof s->err, "cannot transform the layer's CRS to EPSG:4326");
			s->failed = 1;
		}
	}
	OSRDestroySpatialReference(wgs);
}

// udft_open opens path read-only and picks the named layer (NULL: the first).
// On failure it returns the handle with failed set, for its message.
static udft_src *udft_open(const char *path, const char *name) {
	udft_src *s = calloc(1, sizeof *s);
	ENTER(s);
	s->ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR, NULL, NULL, NULL);
	if (s->ds == NULL) {
		if (!s->failed) { snprintf(s->err, sizeof s->err, "not a vector file GDAL can read"); s->failed = 1; }
		LEAVE();
		return s;
	}
	s->layer = name ? GDALDatasetGetLayerByName(s->ds, name) : GDALDatasetGetLayer(s->ds, 0);
	if (s->layer == NULL) {
		snprintf(s->err, sizeof s->err, name ? "no layer named %s" : "the file has no vector layer", name);
		s->failed = 1;
		LEAVE();
		return s;
	}
	set_transforms(s, OGR_L_GetSpatialRef(s->layer));
	LEAVE();
	return s;
}

// udft_crs returns a handle with no dataset, only the transforms between the
// CRS def (PROJJSON, WKT or EPSG:n, coordinates in x, y order; NULL or "" =
// lon/lat) and lon/lat: for files OGR does not read.
static udft_src *udft_crs(const char *def) {
	udft_src *s = calloc(1, sizeof *s);
	if (def == NULL || def[0] == 0) return s;
	ENTER(s);
	OGRSpatialReferenceH src = OSRNewSpatialReference(NULL);
	if (OSRSetFromUserInput(src, def) != OGRERR_NONE) {
		if (!s->failed) { snprintf(s->err, sizeof s->err, "cannot read the CRS"); s->failed = 1; }
	} else {
		OSRSetAxisMappingStrategy(src, OAMS_TRADITIONAL_GIS_ORDER);
		set_transforms(s, src);
	}
	OSRDestroySpatialReference(src);
	LEAVE();
	return s;
}

static int udft_identity(udft_src *s) { return s->to_wgs == NULL; }

// udft_info returns the feature count and extent (minx, miny, maxx, maxy) in
// the layer's CRS; has_extent is 0 for an empty layer.
static long long udft_info(udft_src *s, double *ext, int *has_extent) {
	ENTER(s);
	long long n = OGR_L_GetFeatureCount(s->layer, 1);
	OGREnvelope e;
	*has_extent = OGR_L_GetExtent(s->layer, &e, 1) == OGRERR_NONE;
	if (*has_extent) { ext[0] = e.MinX; ext[1] = e.MinY; ext[2] = e.MaxX; ext[3] = e.MaxY; }
	LEAVE();
	return n;
}

// udft_to_wgs transforms n points in place; ok[i] reports each one.
static void udft_to_wgs(udft_src *s, int n, double *x, double *y, int *ok) {
	for (int i = 0; i < n; i++) ok[i] = 1;
	if (s->to_wgs == NULL) return;
	ENTER(s);
	OCTTransformEx(s->to_wgs, n, x, y, NULL, ok);
	LEAVE();
}

static void udft_from_wgs(udft_src *s, int n, double *x, double *y, int *ok) {
	for (int i = 0; i < n; i++) ok[i] = 1;
	if (s->from_wgs == NULL) return;
	ENTER(s);
	OCTTransformEx(s->from_wgs, n, x, y, NULL, ok);
	LEAVE();
}

// udft_set_rect sets (has_rect) or clears the rect of exact intersection tests.
static void udft_set_rect(udft_src *s, int has_rect, double minx, double miny, double maxx, double maxy) {
	if (s->rect) { OGR_G_DestroyGeometry(s->rect); s->rect = NULL; }
	if (!has_rect) return;
	s->rect = OGR_G_CreateGeometry(wkbPolygon);
	OGRGeometryH ring = OGR_G_CreateGeometry(wkbLinearRing);
	OGR_G_AddPoint_2D(ring, minx, miny);
	OGR_G_AddPoint_2D(ring, maxx, miny);
	OGR_G_AddPoint_2D(ring, maxx, maxy);
	OGR_G_AddPoint_2D(ring, minx, maxy);
	OGR_G_AddPoint_2D(ring, minx, miny);
	OGR_G_AddGeometryDirectly(s->rect, ring);
	s->rminx = minx; s->rminy = miny; s->rmaxx = maxx; s->rmaxy = maxy;
}

// udft_query sets the spatial filter (has_rect: for exact tests, and for the
// layer's reads when scan is set), the attribute filter (where, NULL = none) and
// the fields to skip, and rewinds. It returns 0 or -1 with err set.
static int udft_query(udft_src *s, int has_rect, double minx, double miny, double maxx, double maxy,
		int scan, const char *where, char **ignored) {
	udft_clear(s);
	ENTER(s);
	if (has_rect && scan) {
		OGR_L_SetSpatialFilterRect(s->layer, minx, miny, maxx, maxy);
	} else {
		OGR_L_SetSpatialFilter(s->layer, NULL);
	}
	udft_set_rect(s, has_rect, minx, miny, maxx, maxy);
	int rc = 0;
	if (OGR_L_SetAttributeFilter(s->layer, where) != OGRERR_NONE) {
		if (!s->failed) { snprintf(s->err, sizeof s->err, "the driver refused the filter"); s->failed = 1; }
		rc = -1;
	}
	if (rc == 0 && OGR_L_SetIgnoredFields(s->layer, (const char **)ignored) != OGRERR_NONE) {
		if (!s->failed) { snprintf(s->err, sizeof s->err, "cannot skip fields"); s->failed = 1; }
		rc = -1;
	}
	OGR_L_ResetReading(s->layer);
	LEAVE();
	return rc;
}

static const double udft_radius = 6378137.0;
static const double udft_maxlat = 85.0511287798066;

static double merc_y(double lat) {
	if (lat > udft_maxlat) lat = udft_maxlat;
	if (lat < -udft_maxlat) lat = -udft_maxlat;
	return log(tan((90 + lat) * M_PI / 360)) * udft_radius;
}

// measure classifies a geometry (1: points, 0: the rest) and returns the larger
// side of its envelope in EPSG:3857 metres, the size by which features are
// dropped and ranked; cx, cy get the envelope's centre in lon/lat (NaN if it
// cannot be transformed).
static float measure(udft_src *s, OGRGeometryH g, int *cls, OGREnvelope *e, double *cx, double *cy) {
	OGRwkbGeometryType t = wkbFlatten(OGR_G_GetGeometryType(g));
	*cls = (t == wkbPoint || t == wkbMultiPoint) ? 1 : 0;
	OGR_G_GetEnvelope(g, e);
	double x[4] = {e->MinX, e->MaxX, e->MinX, e->MaxX}, y[4] = {e->MinY, e->MinY, e->MaxY, e->MaxY};
	int ok[4] = {1, 1, 1, 1};
	if (s->to_wgs) {
		CPLPushErrorHandler(CPLQuietErrorHandler); // a corner off the projection only makes the size 0
		OCTTransformEx(s->to_wgs, 4, x, y, NULL, ok);
		CPLPopErrorHandler();
	}
	double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
	for (int i = 0; i < 4; i++) {
		if (!ok[i] || !isfinite(x[i]) || !isfinite(y[i])) continue;
		x0 = fmin(x0, x[i]); x1 = fmax(x1, x[i]);
		y0 = fmin(y0, y[i]); y1 = fmax(y1, y[i]);
	}
	if (!(x0 <= x1)) { *cx = *cy = NAN; return 0; }
	*cx = (x0 + x1) / 2; *cy = (y0 + y1) / 2;
	if (*cls) return 0;
	double w = (x1 - x0) * M_PI / 180 * udft_radius, h = merc_y(y1) - merc_y(y0);
	return (float)fmax(w, h);
}

static int visible(float size, int cls, float thr) { return cls == 1 || size >= thr; }

// udft_next returns the next feature that passes the filters, has a geometry
// and is at least thr in size (see measure), or NULL at the end.
static OGRFeatureH udft_next(udft_src *s, float thr, long long *fid, float *size, int *cls) {
	ENTER(s);
	OGRFeatureH f;
	while ((f = OGR_L_GetNextFeature(s->layer)) != NULL) {
		OGRGeometryH g = OGR_F_GetGeometryRef(f);
		if (g != NULL && !OGR_G_IsEmpty(g)) {
			OGREnvelope e;
			double cx, cy;
			*size = measure(s, g, cls, &e, &cx, &cy);
			if (visible(*size, *cls, thr)) break;
		}
		OGR_F_Destroy(f);
	}
	if (f != NULL) *fid = OGR_F_GetFID(f);
	LEAVE();
	return f;
}

// down and up round a double to a float outwards, so float envelopes contain
// the exact ones.
static float down(double v) { float f = (float)v; return (double)f > v ? nextafterf(f, -INFINITY) : f; }
static float up(double v) { float f = (float)v; return (double)f < v ? nextafterf(f, INFINITY) : f; }

// udft_scan reads up to cap features for the overview: FID, class, size,
// envelope (as floats, rounded outwards) and lon/lat centre. It returns how many
// it read; fewer than cap means the end (or a failure: see failed).
static int udft_scan(udft_src *s, int cap, long long *fid, unsigned char *cls, float *size, float *env,
		double *cx, double *cy) {
	ENTER(s);
	int n = 0;
	OGRFeatureH f;
	while (n < cap && (f = OGR_L_GetNextFeature(s->layer)) != NULL) {
		OGRGeometryH g = OGR_F_GetGeometryRef(f);
		if (g != NULL && !OGR_G_IsEmpty(g)) {
			OGREnvelope e;
			int c;
			size[n] = measure(s, g, &c, &e, &cx[n], &cy[n]);
			cls[n] = (unsigned char)c;
			fid[n] = OGR_F_GetFID(f);
			env[4*n] = down(e.MinX); env[4*n+1] = down(e.MinY);
			env[4*n+2] = up(e.MaxX); env[4*n+3] = up(e.MaxY);
			n++;
		}
		OGR_F_Destroy(f);
	}
	LEAVE();
	return n;
}

// udft_fids reads the FIDs of up to cap features passing the attribute filter.
static int udft_fids(udft_src *s, int cap, long long *fid) {
	ENTER(s);
	int n = 0;
	OGRFeatureH f;
	while (n < cap && (f = OGR_L_GetNextFeature(s->layer)) != NULL) {
		fid[n++] = OGR_F_GetFID(f);
		OGR_F_Destroy(f);
	}
	LEAVE();
	return n;
}

static OGRFeatureH udft_get(udft_src *s, long long fid) {
	ENTER(s);
	OGRFeatureH f = OGR_L_GetFeature(s->layer, fid);
	LEAVE();
	return f;
}

static int geom_intersects(udft_src *s, OGRGeometryH g);

// udft_intersects tells whether a feature meets the spatial filter as OGR's own
// filter decides it: envelope first, then any vertex inside, then GEOS.
static int udft_intersects(udft_src *s, OGRFeatureH f) { return geom_intersects(s, OGR_F_GetGeometryRef(f)); }

static int geom_intersects(udft_src *s, OGRGeometryH g) {
	if (g == NULL || OGR_G_IsEmpty(g)) return 0;
	if (s->rect == NULL) return 1;
	OGREnvelope e;
	OGR_G_GetEnvelope(g, &e);
	if (e.MaxX < s->rminx || e.MaxY < s->rminy || s->rmaxx < e.MinX || s->rmaxy < e.MinY) return 0;
	if (e.MinX >= s->rminx && e.MinY >= s->rminy && e.MaxX <= s->rmaxx && e.MaxY <= s->rmaxy) return 1;
	OGRwkbGeometryType t = wkbFlatten(OGR_G_GetGeometryType(g));
	if (t == wkbPoint) return 1;
	OGRGeometryH ring = NULL;
	if (t == wkbLineString) ring = g;
	else if (t == wkbPolygon && OGR_G_GetGeometryCount(g) == 1) ring = OGR_G_GetGeometryRef(g, 0);
	if (ring != NULL) {
		int n = OGR_G_GetPointCount(ring);
		for (int i = 0; i < n; i++) {
			double x = OGR_G_GetX(ring, i), y = OGR_G_GetY(ring, i);
			if (x >= s->rminx && y >= s->rminy && x <= s->rmaxx && y <= s->rmaxy) return 1;
		}
	}
	CPLPushErrorHandler(CPLQuietErrorHandler);
	int in = OGR_G_Intersects(g, s->rect);
	CPLPopErrorHandler();
	return in;
}

// Outcomes of udft_geometry.
enum { GEOM_OK, GEOM_REPAIRED, GEOM_INVALID, GEOM_UNPROJECTABLE, GEOM_EMPTY, GEOM_HIDDEN, GEOM_OUTSIDE };

static int polygonal(OGRGeometryH g) {
	OGRwkbGeometryType t = wkbFlatten(OGR_G_GetGeometryType(g));
	return t == wkbPolygon || t == wkbMultiPolygon;
}

// udft_geometry returns the feature's geometry as 2D ISO WKB in lon/lat (malloc'd,
// *len bytes): curves linearised, surfaces (TIN, polyhedral) as multipolygons,
// Z and M dropped, invalid polygons repaired with GEOS's
// MakeValid (structure method, which keeps polygons polygons) or buffer(0).
// *status tells what happened; NULL when the feature is skipped.
static unsigned char *geom_export(udft_src *s, OGRGeometryH g, int *status, int *len);

static unsigned char *udft_geometry(udft_src *s, OGRFeatureH f, int *status, int *len) {
	return geom_export(s, OGR_F_GetGeometryRef(f), status, len);
}

// geom_export is udft_geometry for a geometry; it may change g.
static unsigned char *geom_export(udft_src *s, OGRGeometryH g, int *status, int *len) {
	OGRGeometryH own = NULL;
	*status = GEOM_OK;
	if (g == NULL || OGR_G_IsEmpty(g)) { *status = GEOM_EMPTY; return NULL; }
	// Geometry trouble is counted by the caller, not reported as a read failure.
	CPLPushErrorHandler(CPLQuietErrorHandler);
	if (OGR_G_HasCurveGeometry(g, TRUE)) {
		own = OGR_G_GetLinearGeometry(g, 0, NULL);
		g = own;
	} else {
		OGRwkbGeometryType t = wkbFlatten(OGR_G_GetGeometryType(g));
		if (t == wkbTriangle || t == wkbTIN || t == wkbPolyhedralSurface) {
			own = OGR_G_ForceTo(OGR_G_Clone(g), wkbMultiPolygon, NULL);
			g = own;
		}
	}
	unsigned char *out = NULL;
	if (g == NULL) { *status = GEOM_INVALID; goto done; }
	OGR_G_FlattenTo2D(g);
	if (polygonal(g) && !OGR_G_IsValid(g)) {
		char *opts[] = {"METHOD=STRUCTURE", NULL};
		OGRGeometryH fixed = OGR_G_MakeValidEx(g, opts);
		if (fixed == NULL || !OGR_G_IsValid(fixed) || OGR_G_IsEmpty(fixed)) {
			if (fixed) OGR_G_DestroyGeometry(fixed);
			fixed = OGR_G_Buffer(g, 0, 30);
		}
		if (fixed == NULL || !OGR_G_IsValid(fixed) || OGR_G_IsEmpty(fixed)) {
			if (fixed) OGR_G_DestroyGeometry(fixed);
			*status = GEOM_INVALID;
			goto done;
		}
		if (own) OGR_G_DestroyGeometry(own);
		own = g = fixed;
		*status = GEOM_REPAIRED;
	}
	if (s->to_wgs != NULL && OGR_G_Transform(g, s->to_wgs) != OGRERR_NONE) {
		*status = GEOM_UNPROJECTABLE;
		goto done;
	}
	*len = OGR_G_WkbSize(g);
	out = malloc(*len);
	if (OGR_G_ExportToIsoWkb(g, wkbNDR, out) != OGRERR_NONE) {
		free(out);
		out = NULL;
		*status = GEOM_INVALID;
	}
done:
	if (own) OGR_G_DestroyGeometry(own);
	CPLPopErrorHandler();
	return out;
}
// udft_wkb reads one WKB geometry of a file OGR does not read (GeoParquet): it
// is dropped when smaller than thr (GEOM_HIDDEN, see measure) or when it misses
// the rect (GEOM_OUTSIDE), and otherwise converted as udft_geometry does.
static unsigned char *udft_wkb(udft_src *s, const unsigned char *wkb, int n, float thr, int *status, int *len,
		float *size, int *cls) {
	OGRGeometryH g = NULL;
	unsigned char *out = NULL;
	*status = GEOM_INVALID;
	*size = 0;
	*cls = 0;
	CPLPushErrorHandler(CPLQuietErrorHandler);
	if (OGR_G_CreateFromWkbEx(wkb, NULL, &g, (size_t)n) != OGRERR_NONE || g == NULL) goto done;
	if (OGR_G_IsEmpty(g)) { *status = GEOM_EMPTY; goto done; }
	OGREnvelope e;
	double cx, cy;
	*size = measure(s, g, cls, &e, &cx, &cy);
	if (!visible(*size, *cls, thr)) { *status = GEOM_HIDDEN; goto done; }
	if (!geom_intersects(s, g)) { *status = GEOM_OUTSIDE; goto done; }
	out = geom_export(s, g, status, len);
done:
	if (g) OGR_G_DestroyGeometry(g);
	CPLPopErrorHandler();
	return out;
}

// udft_wkb_scan measures n WKB geometries, the i-th at buf[off[i]:off[i+1]],
// for the overview as udft_scan does; ok[i] is 0 for one that is empty or
// cannot be read.
static void udft_wkb_scan(udft_src *s, int n, const unsigned char *buf, const long long *off,
		unsigned char *cls, float *size, float *env, double *cx, double *cy, unsigned char *ok) {
	CPLPushErrorHandler(CPLQuietErrorHandler);
	for (int i = 0; i < n; i++) {
		OGRGeometryH g = NULL;
		ok[i] = 0;
		size_t len = (size_t)(off[i+1] - off[i]);
		if (len == 0 || OGR_G_CreateFromWkbEx(buf + off[i], NULL, &g, len) != OGRERR_NONE || g == NULL) continue;
		if (!OGR_G_IsEmpty(g)) {
			OGREnvelope e;
			int c;
			size[i] = measure(s, g, &c, &e, &cx[i], &cy[i]);
			cls[i] = (unsigned char)c;
			env[4*i] = down(e.MinX); env[4*i+1] = down(e.MinY);
			env[4*i+2] = up(e.MaxX); env[4*i+3] = up(e.MaxY);
			ok[i] = 1;
		}
		OGR_G_DestroyGeometry(g);
	}
	CPLPopErrorHandler();
}
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// hasDriver reports whether GDAL has the named driver.
func hasDriver(name string) bool {
	c := C.CString(name)
	defer C.free(unsafe.Pointer(c))
	return C.GDALGetDriverByName(c) != nil
}

// source is one open layer of a vector file. It is not safe for concurrent use.
type source struct {
	c     *C.udft_src
	geoms *geomCache // the layer's, for its current version; nil = none
}

// openSource opens the file's named layer ("" = the first).
func openSource(path, layer string) (*source, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var cname *C.char
	if layer != "" {
		cname = C.CString(layer)
		defer C.free(unsafe.Pointer(cname))
	}
	s := &source{c: C.udft_open(cpath, cname)}
	if s.c.failed != 0 {
		err := errors.New(C.GoString(&s.c.err[0]))
		if s.c.layer == nil && s.c.ds != nil && layer != "" {
			err = fmt.Errorf("no layer named %q; the file has: %s", layer, s.layerNames())
		}
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *source) layerNames() string {
	n := int(C.GDALDatasetGetLayerCount(s.c.ds))
	var names []string
	for i := 0; i < n; i++ {
		names = append(names, C.GoString(C.OGR_L_GetName(C.GDALDatasetGetLayer(s.c.ds, C.int(i)))))
	}
	return fmt.Sprint(names)
}

// Close releases the dataset.
func (s *source) Close() {
	if s.c != nil {
		C.udft_close(s.c)
		s.c = nil
	}
}

// err returns the failure GDAL reported during the last calls, or nil.
func (s *source) err() error {
	if s.c.failed == 0 {
		return nil
	}
	return errors.New(C.GoString(&s.c.err[0]))
}

func (s *source) clearErr() { C.udft_clear(s.c) }

func (s *source) name() string { return C.GoString(C.OGR_L_GetName(s.c.layer)) }

// fidColumn names the column an SQL driver (GeoPackage, SQLite) keeps FIDs in,
// where an attribute filter `fid IN (...)` is an index lookup; "" for other
// drivers, whose attribute filters are evaluated feature by feature.
func (s *source) fidColumn() string {
	switch C.GoString(C.GDALGetDriverShortName(C.GDALGetDatasetDriver(s.c.ds))) {
	case "GPKG", "SQLite":
		return C.GoString(C.OGR_L_GetFIDColumn(s.c.layer))
	}
	return ""
}

// lonlat reports whether the layer is in lon/lat WGS 84 (nothing to reproject).
func (s *source) lonlat() bool { return C.udft_identity(s.c) != 0 }

// info returns the feature count and the extent in the layer's CRS.
func (s *source) info() (count int64, ext [4]float64, ok bool) {
	var e [4]C.double
	var has C.int
	count = int64(C.udft_info(s.c, &e[0], &has))
	for i := range e {
		ext[i] = float64(e[i])
	}
	return count, ext, has != 0
}

// columns lists the layer's attribute fields.
func (s *source) columns() []column {
	defn := C.OGR_L_GetLayerDefn(s.c.layer)
	n := int(C.OGR_FD_GetFieldCount(defn))
	cols := make([]column, n)
	for i := range cols {
		fd := C.OGR_FD_GetFieldDefn(defn, C.int(i))
		cols[i] = column{Name: C.GoString(C.OGR_Fld_GetNameRef(fd)), Index: i,
			Type: fieldType(C.OGR_Fld_GetType(fd)), Sub: int(C.OGR_Fld_GetSubType(fd))}
	}
	return cols
}

// transform converts points between lon/lat and the layer's CRS in place; it
// reports whether every point converted.
func (s *source) transform(toWGS bool, x, y []float64) bool {
	if len(x) == 0 {
		return true
	}
	ok := make([]C.int, len(x))
	px, py := (*C.double)(unsafe.Pointer(&x[0])), (*C.double)(unsafe.Pointer(&y[0]))
	if toWGS {
		C.udft_to_wgs(s.c, C.int(len(x)), px, py, &ok[0])
	} else {
		C.udft_from_wgs(s.c, C.int(len(x)), px, py, &ok[0])
	}
	s.clearErr()
	for i, v := range ok {
		if v == 0 || math.IsInf(x[i], 0) || math.IsInf(y[i], 0) || math.IsNaN(x[i]) || math.IsNaN(y[i]) {
			return false
		}
	}
	return true
}

// query sets the filters of the next reads: rect in the layer's CRS (nil = no
// spatial filter), an attribute filter ("" = none), and fields not to read.
// OGR's own message comes back for a filter it refuses.
func (s *source) query(rect *[4]float64, where string, ignored []string) error {
	return s.setQuery(rect, true, where, ignored)
}

// exact sets rect for intersects only: reads by FID need no spatial filter on
// the layer (which costs a GeoPackage milliseconds to set up for a large one).
func (s *source) exact(rect *[4]float64, ignored []string) error {
	return s.setQuery(rect, false, "", ignored)
}

func (s *source) setQuery(rect *[4]float64, scan bool, where string, ignored []string) error {
	var cwhere *C.char
	if where != "" {
		cwhere = C.CString(where)
		defer C.free(unsafe.Pointer(cwhere))
	}
	cign := make([]*C.char, len(ignored)+1)
	for i, f := range ignored {
		cign[i] = C.CString(f)
	}
	defer func() {
		for _, p := range cign {
			C.free(unsafe.Pointer(p))
		}
	}()
	// The array holds C pointers only, so it may be passed as it is.
	has := C.int(0)
	var r [4]C.double
	if rect != nil {
		has = 1
		for i, v := range rect {
			r[i] = C.double(v)
		}
	}
	sc := C.int(0)
	if scan {
		sc = 1
	}
	if C.udft_query(s.c, has, r[0], r[1], r[2], r[3], sc, cwhere, &cign[0]) != 0 {
		return s.err()
	}
	return nil
}

// feature is a feature read from OGR; it must be released.
type feature struct {
	h    C.OGRFeatureH
	fid  int64
	size float32
	cls  int
}

func (f *feature) release() {
	if f.h != nil {
		C.OGR_F_Destroy(f.h)
		f.h = nil
	}
}

// next returns the next feature that passes the filters and is visible at
// threshold thr, or ok=false at the end. Read failures show in s.err().
func (s *source) next(thr float32) (feature, bool) {
	var fid C.longlong
	var size C.float
	var cls C.int
	h := C.udft_next(s.c, C.float(thr), &fid, &size, &cls)
	if h == nil {
		return feature{}, false
	}
	return feature{h: h, fid: int64(fid), size: float32(size), cls: int(cls)}, true
}

// get reads one feature by FID; nil h when it does not exist.
func (s *source) get(fid int64) feature {
	return feature{h: C.udft_get(s.c, C.longlong(fid)), fid: fid}
}

// intersects applies the spatial filter's exact test to a feature read by get.
func (s *source) intersects(f feature) bool { return C.udft_intersects(s.c, f.h) != 0 }

// scanBatch is one batch of the overview scan, parallel arrays.
type scanBatch struct {
	fid    []int64
	cls    []uint8
	size   []float32
	env    []float32 // minx, miny, maxx, maxy per feature
	cx, cy []float64
}

func newScanBatch(n int) *scanBatch {
	return &scanBatch{fid: make([]int64, n), cls: make([]uint8, n), size: make([]float32, n),
		env: make([]float32, 4*n), cx: make([]float64, n), cy: make([]float64, n)}
}

// scan fills b from the current read and returns how many features it holds;
// fewer than its capacity means the layer is exhausted.
func (s *source) scan(b *scanBatch) int {
	return int(C.udft_scan(s.c, C.int(len(b.fid)), (*C.longlong)(unsafe.Pointer(&b.fid[0])),
		(*C.uchar)(unsafe.Pointer(&b.cls[0])), (*C.float)(unsafe.Pointer(&b.size[0])),
		(*C.float)(unsafe.Pointer(&b.env[0])), (*C.double)(unsafe.Pointer(&b.cx[0])), (*C.double)(unsafe.Pointer(&b.cy[0]))))
}

// fids fills buf with FIDs of the current read; fewer than len(buf) means the end.
func (s *source) fids(buf []int64) int {
	return int(C.udft_fids(s.c, C.int(len(buf)), (*C.longlong)(unsafe.Pointer(&buf[0]))))
}

// Geometry outcomes.
const (
	geomOK = iota
	geomRepaired
	geomInvalid
	geomUnprojectable
	geomEmpty
)

// geometry returns the feature's geometry as WKB in lon/lat, and what was done
// to it; nil WKB means the feature is skipped. The bytes are C memory: call
// free when done with them.
func (s *source) geometry(f feature) (wkb []byte, status int, free func()) {
	var st, n C.int
	p := C.udft_geometry(s.c, f.h, &st, &n)
	if p == nil {
		return nil, int(st), func() {}
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)), int(st), func() { C.free(unsafe.Pointer(p)) }
}

// crsSource returns a source without a file: the transforms between the CRS def
// (PROJJSON, WKT or EPSG:n; "" = lon/lat) and lon/lat, the rect of intersection
// tests, and the geometry conversions, for files OGR does not read.
func crsSource(def string) (*source, error) {
	var cdef *C.char
	if def != "" {
		cdef = C.CString(def)
		defer C.free(unsafe.Pointer(cdef))
	}
	s := &source{c: C.udft_crs(cdef)}
	if s.c.failed != 0 {
		err := errors.New(C.GoString(&s.c.err[0]))
		s.Close()
		return nil, err
	}
	return s, nil
}

// setRect sets the rect, in the source's CRS, that wkbGeometry tests geometries
// against (nil = none).
func (s *source) setRect(rect *[4]float64) {
	if rect == nil {
		C.udft_set_rect(s.c, 0, 0, 0, 0, 0)
		return
	}
	C.udft_set_rect(s.c, 1, C.double(rect[0]), C.double(rect[1]), C.double(rect[2]), C.double(rect[3]))
}

// Further outcomes of wkbGeometry: the geometry is under the size threshold,
// or misses the rect.
const (
	geomHidden = geomEmpty + 1 + iota
	geomOutside
)

// wkbGeometry converts one WKB geometry as geometry does a feature's, after
// dropping it when it is not visible at thr or misses the rect; f gets its
// size and class for ranking.
func (s *source) wkbGeometry(b []byte, thr float32, f *feature) (wkb []byte, status int, free func()) {
	if len(b) == 0 {
		return nil, geomEmpty, func() {}
	}
	var st, n, cls C.int
	var size C.float
	p := C.udft_wkb(s.c, (*C.uchar)(unsafe.Pointer(&b[0])), C.int(len(b)), C.float(thr), &st, &n, &size, &cls)
	f.size, f.cls = float32(size), int(cls)
	if p == nil {
		return nil, int(st), func() {}
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)), int(st), func() { C.free(unsafe.Pointer(p)) }
}

// wkbScan measures the WKB geometries buf[off[i]:off[i+1]] into b (all but
// its FIDs) as scan does; ok[i] is 0 for a geometry that is empty or unreadable.
func (s *source) wkbScan(buf []byte, off []int64, b *scanBatch, ok []uint8) {
	n := len(off) - 1
	if n <= 0 {
		return
	}
	if len(buf) == 0 {
		buf = []byte{0}
	}
	C.udft_wkb_scan(s.c, C.int(n), (*C.uchar)(unsafe.Pointer(&buf[0])), (*C.longlong)(unsafe.Pointer(&off[0])),
		(*C.uchar)(unsafe.Pointer(&b.cls[0])), (*C.float)(unsafe.Pointer(&b.size[0])),
		(*C.float)(unsafe.Pointer(&b.env[0])), (*C.double)(unsafe.Pointer(&b.cx[0])), (*C.double)(unsafe.Pointer(&b.cy[0])),
		(*C.uchar)(unsafe.Pointer(&ok[0])))
}
