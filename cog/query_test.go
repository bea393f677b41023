package cog_test

import (
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

func TestDatasetInfoMatchesGDAL(t *testing.T) {
	for _, path := range []string{demoDEM(t), demoRGB(t)} {
		r := cog.New(cog.Options{Path: path})
		defer r.Close()
		got, err := r.DatasetInfo()
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("gdalinfo", "-json", path).Output()
		if err != nil {
			t.Fatalf("gdalinfo: %v", err)
		}
		var want struct {
			Size         [2]int     `json:"size"`
			GeoTransform [6]float64 `json:"geoTransform"`
			CornerCoords map[string][2]float64
			Bands        []map[string]any `json:"bands"`
			STAC         struct {
				EPSG int `json:"proj:epsg"`
			} `json:"stac"`
		}
		if err := json.Unmarshal(out, &want); err != nil {
			t.Fatal(err)
		}
		if got.Width != want.Size[0] || got.Height != want.Size[1] || got.Count != len(want.Bands) || got.GeoTrans != want.GeoTransform {
			t.Errorf("%s: %dx%d %d bands gt %v, gdalinfo %v %d bands gt %v", path, got.Width, got.Height, got.Count, got.GeoTrans, want.Size, len(want.Bands), want.GeoTransform)
		}
		for i, b := range want.Bands {
			g := got.Bands[i]
			if ci, _ := b["colorInterpretation"].(string); !strings.EqualFold(ci, g.ColorInterp) {
				t.Errorf("%s band %d: colorinterp %q, gdalinfo %q", path, i+1, g.ColorInterp, ci)
			}
			nd, has := b["noDataValue"].(float64)
			if has != (g.NoData != nil) || has && *g.NoData != nd {
				t.Errorf("%s band %d: nodata %v, gdalinfo %v", path, i+1, g.NoData, b["noDataValue"])
			}
			ovs, _ := b["overviews"].([]any)
			if len(ovs) != len(got.Overviews) {
				t.Errorf("%s: %d overviews, gdalinfo %d", path, len(got.Overviews), len(ovs))
			}
			for j, o := range ovs {
				sz := o.(map[string]any)["size"].([]any)
				if got.Overviews[j] != [2]int{int(sz[0].(float64)), int(sz[1].(float64))} {
					t.Errorf("%s overview %d: %v, gdalinfo %v", path, j, got.Overviews[j], sz)
				}
			}
			if g.Scale != 1 || g.Offset != 0 {
				t.Errorf("%s band %d: scale %v offset %v, want 1 and 0", path, i+1, g.Scale, g.Offset)
			}
		}
		if got.EPSG != want.STAC.EPSG || got.WKT == "" {
			t.Errorf("%s: EPSG:%d, gdalinfo's proj:epsg %d", path, got.EPSG, want.STAC.EPSG)
		}
		t.Logf("%s: %s bounds %v lonlat %v", filepath.Base(path), got.CRS, got.Bounds, got.LonLat)
	}
	r := cog.New(cog.Options{Path: demoDEM(t)})
	defer r.Close()
	in, _ := r.DatasetInfo()
	if in.EPSG != 32633 || in.CRS != "EPSG:32633" || in.DType != "int16" || in.NoDataType != "Nodata" {
		t.Errorf("DEM: %s %d %s %s", in.CRS, in.EPSG, in.DType, in.NoDataType)
	}
	// The lon/lat bounds hold gdalinfo's corners (13°24'35"E..14°13'54"E, 46°50'23"N..47°24'02"N).
	if ll := in.LonLat; ll[0] > 13.4099 || ll[0] < 13.40 || ll[2] < 14.2316 || ll[2] > 14.24 || ll[1] > 46.8398 || ll[3] < 47.4008 {
		t.Errorf("DEM lon/lat bounds %v", ll)
	}
}

// TestPointMatchesGDALLocationInfo compares values at points with
// gdallocationinfo -wgs84 -valonly.
func TestPointMatchesGDALLocationInfo(t *testing.T) {
	cases := []struct {
		path string
		pts  [][2]float64
	}{
		{demoDEM(t), [][2]float64{{13.8, 47.1}, {13.5, 47.3}, {14.1, 46.9}, {13.41, 47.39}, {14.2, 46.86}}},
		{demoRGB(t), [][2]float64{{15, 46}, {10.001, 49.999}, {19.99, 42.01}, {12.3456, 44.4444}}},
	}
	for _, c := range cases {
		r := cog.New(cog.Options{Path: c.path})
		defer r.Close()
		for _, p := range c.pts {
			got, err := r.Point(p[0], p[1], cog.Selection{})
			if err != nil {
				t.Fatalf("%v: %v", p, err)
			}
			out, err := exec.Command("gdallocationinfo", "-wgs84", "-valonly", c.path, ftoa(p[0]), ftoa(p[1])).Output()
			if err != nil {
				t.Fatalf("gdallocationinfo: %v", err)
			}
			want := strings.Fields(string(out))
			if len(want) != len(got.Values) {
				t.Fatalf("%v: %d values, gdallocationinfo %q", p, len(got.Values), want)
			}
			for i, w := range want {
				wv, _ := strconv.ParseFloat(w, 64)
				nodata := filepath.Base(c.path) == "elevation.tif" && wv == demo.ElevationNoData
				switch {
				case nodata && (got.Values[i] != nil || !got.Masked[i]):
					t.Errorf("%v band %d: %v, want masked (gdallocationinfo %v is nodata)", p, i+1, got.Values[i], wv)
				case !nodata && (got.Values[i] == nil || *got.Values[i] != wv):
					t.Errorf("%v band %d: %v, gdallocationinfo %v", p, i+1, got.Values[i], wv)
				}
			}
		}
	}
	// Expressions and bidx.
	r := cog.New(cog.Options{Path: demoRGB(t)})
	defer r.Close()
	all, _ := r.Point(15, 46, cog.Selection{})
	b, _ := r.Point(15, 46, cog.Selection{Bands: []int{3, 1}})
	e, err := r.Point(15, 46, cog.Selection{Expression: "b1+b3;b2*2"})
	if err != nil {
		t.Fatal(err)
	}
	if *b.Values[0] != *all.Values[2] || *b.Values[1] != *all.Values[0] || b.BandNames[0] != "b3" {
		t.Errorf("bidx=3,1: %v %v, all %v", b.BandNames, b.Values, all.Values)
	}
	if *e.Values[0] != *all.Values[0]+*all.Values[2] || *e.Values[1] != 2**all.Values[1] || e.BandNames[1] != "b2*2" {
		t.Errorf("expression: %v %v, all %v", e.BandNames, e.Values, all.Values)
	}
	// Outside, or not a place: NotFound and BadRequest.
	if _, err := r.Point(25, 46, cog.Selection{}); layer.KindOf(err) != layer.NotFound {
		t.Errorf("outside: %v", err)
	}
	if _, err := r.Point(200, 46, cog.Selection{}); layer.KindOf(err) != layer.BadRequest {
		t.Errorf("lon 200: %v", err)
	}
	if _, err := r.Point(15, 46, cog.Selection{Bands: []int{4}}); layer.KindOf(err) != layer.BadRequest {
		t.Errorf("bidx=4: %v", err)
	}
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// TestStatisticsFullResolutionMatchGDAL: at full resolution the statistics
// are GDAL's own (ComputeStatistics, as gdalinfo -stats computes them).
func TestStatisticsFullResolutionMatchGDAL(t *testing.T) {
	for _, path := range []string{demoDEM(t), demoRGB(t)} {
		r := cog.New(cog.Options{Path: path})
		defer r.Close()
		got, err := r.Statistics(cog.StatsOptions{MaxSize: 2048})
		if err != nil {
			t.Fatal(err)
		}
		ds, err := godal.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer ds.Close()
		for i, b := range ds.Bands() {
			want, err := b.ComputeStatistics()
			if err != nil {
				t.Fatal(err)
			}
			g := got.Bands[i]
			if *g.Min != want.Min || *g.Max != want.Max || !near(*g.Mean, want.Mean, 1e-9) || !near(*g.Std, want.Std, 1e-9) {
				t.Errorf("%s band %d: min %v max %v mean %v std %v; GDAL %+v", filepath.Base(path), i+1, *g.Min, *g.Max, *g.Mean, *g.Std, want)
			}
		}
		if filepath.Base(path) == "elevation.tif" && got.Bands[0].ValidPercent != 98.46 {
			t.Errorf("DEM valid_percent %v, gdalinfo -stats 98.46", got.Bands[0].ValidPercent)
		}
	}
}

func near(a, b, rel float64) bool { return math.Abs(a-b) <= rel*math.Max(1, math.Abs(b)) }

// numpyStats runs /usr/bin/python3 with rasterio and numpy on the same read
// and returns its statistics by band name.
func numpyStats(t *testing.T, script string) map[string]map[string]any {
	t.Helper()
	out, err := exec.Command("/usr/bin/python3", "-c", numpyPrelude+script).CombinedOutput()
	if err != nil {
		t.Skipf("python3 with rasterio: %v\n%s", err, out)
	}
	var m map[string]map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return m
}

const numpyPrelude = `
import json, math, sys
import numpy, rasterio
from rasterio.windows import from_bounds, Window
from rasterio.warp import transform_bounds
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom

def stats(arr, p=(2, 98), bins=10, rng=None):
    out = {}
    for i in range(arr.shape[0]):
        a = arr[i]
        d = a.compressed().astype("float64")
        d = d[~numpy.isnan(d)]
        u, c = numpy.unique(d, return_counts=True)
        h = numpy.histogram(d, bins=bins, range=rng)
        s = {"min": d.min(), "max": d.max(), "mean": d.mean(), "std": d.std(), "count": d.size,
             "median": numpy.median(d), "sum": d.sum(), "majority": u[c.argmax()], "minority": u[c.argmin()],
             "unique": len(u), "hist": h[0].tolist(), "edges": h[1].tolist(),
             "valid_percent": round(d.size / a.size * 100, 2)}
        for q in p:
            s["percentile_%g" % q] = numpy.percentile(d, q)
        out["b%d" % (i + 1)] = {k: (float(v) if not isinstance(v, list) else v) for k, v in s.items()}
    print(json.dumps(out))
`

func compareStats(t *testing.T, name string, got *cog.Statistics, want map[string]map[string]any, ps []float64) {
	t.Helper()
	for i, n := range got.Names {
		w, ok := want["b"+strconv.Itoa(i+1)]
		if !ok {
			t.Fatalf("%s: numpy has no band %d", name, i+1)
		}
		g := got.Bands[i]
		check := func(k string, v float64) {
			if !near(v, w[k].(float64), 1e-9) {
				t.Errorf("%s %s %s: %v, numpy %v", name, n, k, v, w[k])
			}
		}
		check("min", *g.Min)
		check("max", *g.Max)
		check("mean", *g.Mean)
		check("std", *g.Std)
		check("count", g.Count)
		check("median", *g.Median)
		check("sum", g.Sum)
		check("majority", *g.Majority)
		check("minority", *g.Minority)
		check("unique", g.Unique)
		check("valid_percent", g.ValidPercent)
		for j, p := range ps {
			check("percentile_"+strconv.FormatFloat(p, 'g', -1, 64), *g.Percentiles[j].Value)
		}
		wh, we := w["hist"].([]any), w["edges"].([]any)
		for j := range wh {
			if g.Histogram[0][j] != wh[j].(float64) || !near(g.Histogram[1][j], we[j].(float64), 1e-12) {
				t.Errorf("%s %s histogram bin %d: %v at %v, numpy %v at %v", name, n, j, g.Histogram[0][j], g.Histogram[1][j], wh[j], we[j])
				break
			}
		}
	}
}

// TestStatisticsMatchNumpy compares reads within max_size, of a box and of a
// geometry with numpy on the same pixels read by rasterio.
func TestStatisticsMatchNumpy(t *testing.T) {
	dem, rgb := demoDEM(t), demoRGB(t)
	t.Run("whole/max_size", func(t *testing.T) {
		r := cog.New(cog.Options{Path: dem})
		defer r.Close()
		got, err := r.Statistics(cog.StatsOptions{MaxSize: 300, Percentiles: []float64{5, 50, 95}, Bins: 7})
		if err != nil {
			t.Fatal(err)
		}
		want := numpyStats(t, `
with rasterio.open(sys.argv[1] if len(sys.argv) > 1 else "`+dem+`") as ds:
    a = ds.read(masked=True, out_shape=(1, 300, 300))
stats(a, p=(5, 50, 95), bins=7)`)
		compareStats(t, "DEM max_size=300", got, want, []float64{5, 50, 95})
	})
	t.Run("bbox", func(t *testing.T) {
		r := cog.New(cog.Options{Path: rgb})
		defer r.Close()
		b := tiles.Bounds{MinX: 11.3, MinY: 43.1, MaxX: 14.9, MaxY: 47.7}
		got, err := r.Statistics(cog.StatsOptions{Bounds: &b, MaxSize: 256, Range: &[2]float64{0, 255}, Bins: 16})
		if err != nil {
			t.Fatal(err)
		}
		// The window of the box, widened to whole pixels as sourceWindow
		// does, read by GDAL's RasterIO at the size max_size gives
		// (rasterio's read differs: it asks for a floating-point window).
		want := numpyStats(t, `
from osgeo import gdal
with rasterio.open("`+rgb+`") as ds:
    w = from_bounds(11.3, 43.1, 14.9, 47.7, ds.transform)
c0, r0 = math.floor(w.col_off + 1e-9), math.floor(w.row_off + 1e-9)
c1, r1 = math.ceil(w.col_off + w.width - 1e-9), math.ceil(w.row_off + w.height - 1e-9)
ww, hh = c1 - c0, r1 - r0
if ww >= hh:
    shape = (256, math.ceil(256 * hh / ww))
else:
    shape = (math.ceil(256 / (hh / ww)), 256)
g = gdal.Open("`+rgb+`")
a = numpy.ma.masked_array(numpy.stack([g.GetRasterBand(i).ReadAsArray(c0, r0, ww, hh, shape[0], shape[1]) for i in (1, 2, 3)]), mask=False)
stats(a, bins=16, rng=(0, 255))`)
		compareStats(t, "RGB bbox", got, want, []float64{2, 98})
	})
	t.Run("geometry", func(t *testing.T) {
		r := cog.New(cog.Options{Path: dem})
		defer r.Close()
		geom := `{"type":"Polygon","coordinates":[[[13.5,46.9],[14.1,46.95],[13.9,47.3],[13.55,47.2],[13.5,46.9]]]}`
		got, err := r.Statistics(cog.StatsOptions{Geometry: geom, MaxSize: 4096})
		if err != nil {
			t.Fatal(err)
		}
		want := numpyStats(t, `
g = json.loads('`+geom+`')
with rasterio.open("`+dem+`") as ds:
    gg = transform_geom("EPSG:4326", ds.crs, g)
    xs = [p[0] for p in gg["coordinates"][0]]
    ys = [p[1] for p in gg["coordinates"][0]]
    # sourceWindow densifies the envelope in lon/lat; do the same.
    import numpy as np
    from rasterio.warp import transform
    lo = [13.5, 46.9, 14.1, 47.3]
    f = np.linspace(0, 1, 21)
    px = list(lo[0] + f * (lo[2] - lo[0])) * 2 + [lo[0]] * 21 + [lo[2]] * 21
    py = [lo[1]] * 21 + [lo[3]] * 21 + list(lo[1] + f * (lo[3] - lo[1])) * 2
    tx, ty = transform("EPSG:4326", ds.crs, px, py)
    inv = ~ds.transform
    cr = [inv * (x, y) for x, y in zip(tx, ty)]
    c0 = max(0, math.floor(min(c for c, r in cr) + 1e-9)); c1 = min(ds.width, math.ceil(max(c for c, r in cr) - 1e-9))
    r0 = max(0, math.floor(min(r for c, r in cr) + 1e-9)); r1 = min(ds.height, math.ceil(max(r for c, r in cr) - 1e-9))
    w = Window(c0, r0, c1 - c0, r1 - r0)
    a = ds.read(masked=True, window=w)
    m = geometry_mask([gg], out_shape=a.shape[1:], transform=ds.window_transform(w))
    a.mask = a.mask | m
stats(a)`)
		compareStats(t, "DEM geometry", got, want, []float64{2, 98})
	})
	t.Run("expression", func(t *testing.T) {
		r := cog.New(cog.Options{Path: rgb})
		defer r.Close()
		got, err := r.Statistics(cog.StatsOptions{Selection: cog.Selection{Expression: "(b3-b1)/(b3+b1)"}, MaxSize: 200})
		if err != nil {
			t.Fatal(err)
		}
		if got.Names[0] != "(b3-b1)/(b3+b1)" {
			t.Errorf("names %v", got.Names)
		}
		want := numpyStats(t, `
with rasterio.open("`+rgb+`") as ds:
    a = ds.read(masked=True, out_shape=(3, 200, 200)).astype("float32")
e = (a[2] - a[0]) / (a[2] + a[0])
e = numpy.ma.masked_invalid(e)
stats(e[numpy.newaxis])`)
		// float32 arithmetic on both sides.
		compareStats(t, "RGB expression", got, want, []float64{2, 98})
	})
}

func TestStatisticsErrors(t *testing.T) {
	r := cog.New(cog.Options{Path: demoDEM(t)})
	defer r.Close()
	for _, c := range []struct {
		o    cog.StatsOptions
		kind layer.Kind
	}{
		{cog.StatsOptions{MaxSize: 5000}, layer.TooLarge},
		{cog.StatsOptions{MaxSize: -1}, layer.BadRequest},
		{cog.StatsOptions{Percentiles: []float64{101}}, layer.BadRequest},
		{cog.StatsOptions{Bins: -2}, layer.BadRequest},
		{cog.StatsOptions{Selection: cog.Selection{Bands: []int{2}}}, layer.BadRequest},
		{cog.StatsOptions{Selection: cog.Selection{Expression: "b2+1"}}, layer.BadRequest},
		{cog.StatsOptions{Bounds: &tiles.Bounds{MinX: 0, MinY: 0, MaxX: 1, MaxY: 1}}, layer.NotFound},
		{cog.StatsOptions{Geometry: `{"type":"Polygon"}`}, layer.BadRequest},
	} {
		if _, err := r.Statistics(c.o); layer.KindOf(err) != c.kind {
			t.Errorf("%+v: %v, want kind %v", c.o, err, c.kind)
		}
	}
}
