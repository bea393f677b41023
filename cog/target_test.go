package cog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/udftiles/udftiles/demo"
	"math"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// Crops and statistics of mosaics and STAC items, held to the gdalwarp
// program run on the same files into the same grid.

// gdalwarpGrid runs gdalwarp on inputs (the last on top) into the grid of
// got: its CRS, bounds and size.
func gdalwarpGrid(t *testing.T, got *layer.Raster, resampling string, inputs ...string) warped {
	t.Helper()
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	b := got.Bounds
	out := filepath.Join(t.TempDir(), "ref.tif")
	args := append([]string{"-q", "-of", "GTiff", "-t_srs", fmt.Sprintf("EPSG:%d", got.EPSG), "-te", f(b.MinX), f(b.MinY), f(b.MaxX), f(b.MaxY),
		"-ts", strconv.Itoa(got.Width), strconv.Itoa(got.Height), "-r", resampling, "-dstalpha"}, inputs...)
	args = append(args, out)
	if msg, err := exec.Command("gdalwarp", args...).CombinedOutput(); err != nil {
		t.Fatalf("gdalwarp %v: %v\n%s", args, err, msg)
	}
	ds, err := godal.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	n := got.Width * got.Height
	all := ds.Bands()
	w := warped{alpha: make([]uint8, n)}
	for _, band := range all[:len(all)-1] {
		v := make([]float64, n)
		if err := band.Read(0, 0, v, got.Width, got.Height); err != nil {
			t.Fatal(err)
		}
		w.bands = append(w.bands, v)
	}
	if err := all[len(all)-1].Read(0, 0, w.alpha, got.Width, got.Height); err != nil {
		t.Fatal(err)
	}
	return w
}

// differing counts the pixels whose validity or value differs.
func differing(got *layer.Raster, want warped) (bad, valid int) {
	for i, a := range want.alpha {
		if (got.Mask[i] > 0) != (a > 0) {
			bad++
			continue
		}
		if a == 0 {
			continue
		}
		valid++
		for b := range want.bands {
			if got.Bands[b][i] != want.bands[b][i] {
				bad++
				break
			}
		}
	}
	return bad, valid
}

// cropOf runs a layer's file mode as the tile service does: a lon/lat box
// (nil = a preview) and an optional area.
func cropOf(t *testing.T, h layer.Handler, box *tiles.Bounds, area, query string) (*layer.Raster, error) {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	params, err := h.Schema().Coerce(q)
	if err != nil {
		return nil, err
	}
	req := layer.Request{Params: params, Area: area}
	if box != nil {
		req.Bounds = *box
	}
	res, err := h.Run(context.Background(), req)
	if err != nil {
		return nil, err
	}
	return res.(*layer.Raster), nil
}

// TestMosaicCropMatchesGDALWarp: bbox crops and previews of a mosaic are
// the files warped into the crop's grid and combined in order, as gdalwarp
// run on the files (the first on top) makes them: exactly for files in
// EPSG:4326, and within gdalwarp's own approximation (each file's part of
// the grid is warped alone) for the mosaic of EPSG:4326 and UTM files.
func TestMosaicCropMatchesGDALWarp(t *testing.T) {
	files := mosaicFiles(t)
	var geographic []string
	for i, f := range files {
		if (i/mosaicCols+i%mosaicCols)%2 == 0 {
			geographic = append(geographic, f)
		}
	}
	box := tiles.Bounds{MinX: 14.07, MinY: 47.71, MaxX: 14.33, MaxY: 47.93}
	for _, c := range []struct {
		name  string
		files []string
		box   *tiles.Bounds
		query string
		share float64 // of the valid pixels that may differ
	}{
		{"geographic files, bbox", geographic, &box, "", 0},
		{"geographic files, preview", geographic, nil, "max_size=300", 0},
		{"geographic files, bbox in EPSG:3857", geographic, &box, "dst_crs=EPSG:3857&max_size=200", 0},
		{"mixed files, bbox", files, &box, "", 0.005},
		{"mixed files, preview", files, nil, "max_size=400", 0.005},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMosaic(t, cog.MosaicOptions{Paths: c.files})
			got, err := cropOf(t, m, c.box, "", c.query)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Release()
			want := gdalwarpGrid(t, got, "near", reversed(c.files)...)
			bad, valid := differing(got, want)
			if valid < got.Width*got.Height/4 {
				t.Fatalf("%d×%d crop has %d valid pixels", got.Width, got.Height, valid)
			}
			if float64(bad) > c.share*float64(valid) {
				t.Errorf("%d of %d pixels differ from gdalwarp (at most %.1f%% may)", bad, valid, 100*c.share)
			}
			t.Logf("%d×%d: %d of %d valid pixels differ", got.Width, got.Height, bad, valid)
		})
	}

	m := newMosaic(t, cog.MosaicOptions{Paths: geographic})
	// The files' resolution (0.001°): a 0.26° box is 260 px wide; max_size bounds it.
	got, err := cropOf(t, m, &box, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Width != 260 || got.Height != 220 || got.EPSG != 4326 {
		t.Errorf("bbox crop %d×%d in EPSG:%d, want 260×220 in EPSG:4326 (the files' resolution)", got.Width, got.Height, got.EPSG)
	}
	got.Release()
	if got, err = cropOf(t, m, &box, "", "max_size=100"); err != nil || got.Width != 100 || got.Height != 85 {
		t.Errorf("max_size=100: %v %v", got, err)
	}
	// pixel_selection, expression and a feature's area apply to crops.
	hi, err := cropOf(t, m, &box, "", "pixel_selection=highest")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := cropOf(t, m, &box, "", "")
	expr, err := cropOf(t, m, &box, "", "pixel_selection=highest&expression=b1*2")
	if err != nil {
		t.Fatal(err)
	}
	higher := 0
	for i := range hi.Mask {
		if hi.Mask[i] > 0 && hi.Bands[0][i] > first.Bands[0][i] {
			higher++
		}
		if hi.Mask[i] > 0 && expr.Bands[0][i] != 2*hi.Bands[0][i] {
			t.Fatalf("pixel %d: expression %v, want 2×%v", i, expr.Bands[0][i], hi.Bands[0][i])
		}
	}
	if higher == 0 {
		t.Error("pixel_selection=highest gives no pixel above first's")
	}
	tri := `{"type":"Polygon","coordinates":[[[14.07,47.71],[14.33,47.71],[14.07,47.93],[14.07,47.71]]]}`
	feat, err := cropOf(t, m, &box, tri, "")
	if err != nil {
		t.Fatal(err)
	}
	// The triangle's upper right half is transparent.
	if feat.Mask[5*feat.Width+feat.Width-5] != 0 || feat.Mask[(feat.Height-5)*feat.Width+5] == 0 {
		t.Error("the feature's area does not mask the crop")
	}
	if _, err := cropOf(t, m, &tiles.Bounds{MinX: 20, MinY: 40, MaxX: 21, MaxY: 41}, "", ""); layer.KindOf(err) != layer.NotFound {
		t.Errorf("a crop outside the mosaic: %v, want NotFound", err)
	}
	if _, err := cropOf(t, m, &box, "", "pixel_selection=average"); layer.KindOf(err) != layer.BadRequest {
		t.Errorf("pixel_selection=average: %v, want BadRequest", err)
	}
}

// refStats are statistics computed here from a gdalwarp output's first band.
type refStats struct {
	min, max, mean float64
	count          int
}

func statsOfWarp(w warped, inside func(i int) bool) refStats {
	s := refStats{min: math.Inf(1), max: math.Inf(-1)}
	sum := 0.0
	for i, a := range w.alpha {
		if a == 0 || inside != nil && !inside(i) {
			continue
		}
		v := w.bands[0][i]
		s.min, s.max = math.Min(s.min, v), math.Max(s.max, v)
		sum += v
		s.count++
	}
	s.mean = sum / float64(s.count)
	return s
}

func checkStats(t *testing.T, name string, got cog.BandStats, want refStats) {
	t.Helper()
	if got.Min == nil || *got.Min != want.min || *got.Max != want.max || int(got.Count) != want.count || math.Abs(*got.Mean-want.mean) > 1e-9*math.Abs(want.mean) {
		t.Errorf("%s: min %v max %v mean %v count %v; want %+v", name, deref(got.Min), deref(got.Max), deref(got.Mean), got.Count, want)
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// TestMosaicStatistics: statistics of a mosaic are those of the pixels of
// its files warped into one EPSG:4326 grid and combined (gdalwarp of the
// files into that grid is the reference), over a box, the whole mosaic, or a
// geometry; pixel_selection and expression apply.
func TestMosaicStatistics(t *testing.T) {
	files := mosaicFiles(t)
	var geographic []string
	for i, f := range files {
		if (i/mosaicCols+i%mosaicCols)%2 == 0 {
			geographic = append(geographic, f)
		}
	}
	m := newMosaic(t, cog.MosaicOptions{Paths: geographic})
	box := tiles.Bounds{MinX: 14.07, MinY: 47.71, MaxX: 14.33, MaxY: 47.93}
	st, err := m.Statistics(cog.StatsOptions{Bounds: &box})
	if err != nil {
		t.Fatal(err)
	}
	// The grid the statistics read: the bbox crop's (same box, resolution).
	grid, err := cropOf(t, m, &box, "", "")
	if err != nil {
		t.Fatal(err)
	}
	ref := gdalwarpGrid(t, grid, "near", reversed(geographic)...)
	checkStats(t, "bbox", st.Bands[0], statsOfWarp(ref, nil))
	if len(st.Names) != 1 || st.Names[0] != "b1" {
		t.Errorf("names %v", st.Names)
	}

	// A triangle: the pixels whose centres are inside it.
	tri := `{"type":"Polygon","coordinates":[[[14.07,47.71],[14.33,47.71],[14.07,47.93],[14.07,47.71]]]}`
	st, err = m.Statistics(cog.StatsOptions{Geometry: tri})
	if err != nil {
		t.Fatal(err)
	}
	w, h := grid.Width, grid.Height
	rx, ry := (box.MaxX-box.MinX)/float64(w), (box.MaxY-box.MinY)/float64(h)
	inTri := func(i int) bool {
		x, y := box.MinX+(float64(i%w)+0.5)*rx, box.MaxY-(float64(i/w)+0.5)*ry
		return (x-box.MinX)/(box.MaxX-box.MinX)+(y-box.MinY)/(box.MaxY-box.MinY) < 1
	}
	want := statsOfWarp(ref, inTri)
	if got := st.Bands[0]; math.Abs(got.Count-float64(want.count)) > 0.01*float64(want.count) || *got.Min != want.min {
		t.Errorf("triangle: count %v min %v, want about %d and %v", got.Count, deref(got.Min), want.count, want.min)
	}

	// Every file meets the whole mosaic; highest differs from first; b1*10.
	all, err := m.Statistics(cog.StatsOptions{MaxSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	hi, err := m.Statistics(cog.StatsOptions{MaxSize: 256, PixelSelection: "highest"})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := m.Statistics(cog.StatsOptions{MaxSize: 256, PixelSelection: "highest", Selection: cog.Selection{Expression: "b1*10"}})
	if err != nil {
		t.Fatal(err)
	}
	if *all.Bands[0].Min != 1 || *hi.Bands[0].Max != float64(len(files)) || *hi.Bands[0].Mean <= *all.Bands[0].Mean {
		t.Errorf("whole mosaic: first min %v mean %v, highest max %v mean %v", *all.Bands[0].Min, *all.Bands[0].Mean, *hi.Bands[0].Max, *hi.Bands[0].Mean)
	}
	if math.Abs(*ex.Bands[0].Mean-10**hi.Bands[0].Mean) > 1e-3 || ex.Names[0] != "b1*10" {
		t.Errorf("b1*10: mean %v (%v), want 10×%v", *ex.Bands[0].Mean, ex.Names, *hi.Bands[0].Mean)
	}
	if _, err := m.Statistics(cog.StatsOptions{Bounds: &tiles.Bounds{MinX: 20, MinY: 40, MaxX: 21, MaxY: 41}}); layer.KindOf(err) != layer.NotFound {
		t.Errorf("statistics outside: %v, want NotFound", err)
	}
	if _, err := m.Statistics(cog.StatsOptions{PixelSelection: "average"}); layer.KindOf(err) != layer.BadRequest {
		t.Errorf("pixel_selection=average: %v, want BadRequest", err)
	}
}

// TestSTACCropAndStatistics: crops of a STAC item's assets stack each
// asset warped into the crop's grid, as gdalwarp of each asset's file; an
// expression across assets applies; statistics read that grid.
func TestSTACCropAndStatistics(t *testing.T) {
	f := writeSTAC(t)
	s := newSTAC(t, cog.STACOptions{Path: f.item})
	box := tiles.Bounds{MinX: 15.01, MinY: 45.05, MaxX: 15.08, MaxY: 45.1}
	got, err := cropOf(t, s, &box, "", "assets=B04,B08")
	if err != nil {
		t.Fatal(err)
	}
	// The finest asset (B04, 10 m) sets the size: 0.07° of longitude at 45°N
	// is about 550 m, 55 pixels... at the degrees' own ratio.
	if got.EPSG != 4326 || got.Width < 400 || len(got.Bands) != 2 {
		t.Fatalf("crop %d×%d in EPSG:%d with %d bands", got.Width, got.Height, got.EPSG, len(got.Bands))
	}
	b04, b08 := gdalwarpGrid(t, got, "near", f.files["B04"]), gdalwarpGrid(t, got, "near", f.files["B08"])
	want := warped{bands: [][]float64{b04.bands[0], b08.bands[0]}, alpha: make([]uint8, len(b04.alpha))}
	for i := range want.alpha {
		want.alpha[i] = min(b04.alpha[i], b08.alpha[i])
	}
	if bad, valid := differing(got, want); bad > valid/200 || valid == 0 {
		t.Errorf("%d of %d pixels differ from gdalwarp of the assets", bad, valid)
	}
	expr, err := cropOf(t, s, &box, "", "expression="+url.QueryEscape("(B08_b1-B04_b1)/(B08_b1+B04_b1)"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range got.Mask {
		if got.Mask[i] > 0 {
			a, b := float32(got.Bands[0][i]), float32(got.Bands[1][i])
			if w := float64((b - a) / (b + a)); math.Abs(expr.Bands[0][i]-w) > 1e-6 {
				t.Fatalf("pixel %d: %v, want %v", i, expr.Bands[0][i], w)
			}
		}
	}
	prev, err := cropOf(t, s, nil, "", "assets=visual&max_size=256")
	if err != nil {
		t.Fatal(err)
	}
	if prev.EPSG != 32633 || prev.Width != 256 || prev.Height != 256 || len(prev.Bands) != 3 || valid(prev) != 256*256 {
		t.Errorf("preview: %d×%d EPSG:%d, %d bands, %d valid; want the asset's own grid 256×256 in EPSG:32633", prev.Width, prev.Height, prev.EPSG, len(prev.Bands), valid(prev))
	}
	q, _ := url.ParseQuery("assets=B04,B08")
	params, err := s.Schema().Coerce(q)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Statistics(params, cog.StatsOptions{Bounds: &box})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Names) != 2 || st.Names[0] != "B04_b1" || st.Names[1] != "B08_b1" {
		t.Fatalf("names %v", st.Names)
	}
	// The statistics' grid is the crop's: the pixels both assets have.
	for b, name := range st.Names {
		want := statsOfWarp(warped{bands: [][]float64{got.Bands[b]}, alpha: got.Mask}, nil)
		checkStats(t, name, st.Bands[b], want)
	}
	if _, err := cropOf(t, s, &tiles.Bounds{MinX: 20, MinY: 40, MaxX: 21, MaxY: 41}, "", "assets=B04"); layer.KindOf(err) != layer.NotFound {
		t.Errorf("a crop outside the item: %v, want NotFound", err)
	}
}

// TestTargetCurvedEdges: a UTM file across its zone's central meridian, far
// north, whose top edge bulges past its corners in lon/lat: a crop over it
// keeps the rows of the bulge (each file's part of the grid is found from
// its edges, not its corners), as gdalwarp does.
func TestTargetCurvedEdges(t *testing.T) {
	p := filepath.Join(t.TempDir(), "wide.tif")
	// 200 km wide at 65°N in UTM 33N (central meridian 15°E), 2 km pixels.
	g := filled(32633, [6]float64{400000, 2000, 0, 7300000, 0, -2000}, 100, 50, godal.Byte, 1, func(x, y, _ int) float64 { return float64(1 + (x+y)%200) })
	if err := demo.WriteCOG(p, g); err != nil {
		t.Fatal(err)
	}
	m := newMosaic(t, cog.MosaicOptions{Paths: []string{p}})
	in := mustInfo(t, m)
	box := tiles.Bounds{MinX: in.Bounds[0], MinY: in.Bounds[1], MaxX: in.Bounds[2], MaxY: in.Bounds[3] + 0.05}
	got, err := cropOf(t, m, &box, "", "width=400&height=300")
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	want := gdalwarpGrid(t, got, "near", p)
	bad, valid := differing(got, want)
	if valid == 0 || float64(bad) > 0.005*float64(valid) {
		t.Errorf("%d of %d pixels differ from gdalwarp", bad, valid)
	}
	// The bulge: the top row with data at the middle lies above the corners' latitude.
	top := func(r *layer.Raster, mask func(i int) bool) int {
		for y := 0; y < r.Height; y++ {
			if mask(y*r.Width + r.Width/2) {
				return y
			}
		}
		return -1
	}
	gotTop, wantTop := top(got, func(i int) bool { return got.Mask[i] > 0 }), top(got, func(i int) bool { return want.alpha[i] > 0 })
	if gotTop != wantTop {
		t.Errorf("the first row with data in the middle: %d, gdalwarp's %d", gotTop, wantTop)
	}
}

// TestMosaicCount: pixel_selection=count is one band, named count, whatever
// the files' bands; band math over it is refused.
func TestMosaicCount(t *testing.T) {
	f := writeSTAC(t)
	m := newMosaic(t, cog.MosaicOptions{Paths: []string{f.files["visual"], f.files["visual"]}}) // three bands
	st, err := m.Statistics(cog.StatsOptions{PixelSelection: "count", MaxSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Names) != 1 || st.Names[0] != "count" || len(st.Bands) != 1 || *st.Bands[0].Max != 2 {
		t.Fatalf("count: names %v, %d bands, max %v", st.Names, len(st.Bands), deref(st.Bands[0].Max))
	}
	if _, err := json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	crop, err := cropOf(t, m, nil, "", "pixel_selection=count&max_size=64")
	if err != nil || len(crop.Bands) != 1 {
		t.Fatalf("count crop: %v, %v", crop, err)
	}
	if _, err := m.Statistics(cog.StatsOptions{PixelSelection: "count", Selection: cog.Selection{Expression: "b1+b2"}}); layer.KindOf(err) != layer.BadRequest {
		t.Errorf("count with an expression: %v, want BadRequest", err)
	}
	if _, err := cropOf(t, m, nil, "", "pixel_selection=count&expression=b1%2Bb2"); layer.KindOf(err) != layer.BadRequest {
		t.Errorf("count crop with an expression: %v, want BadRequest", err)
	}
	tile := tiles.AtLonLat(15.05, 45.08, 12)
	if _, err := m.Run(context.Background(), layer.Request{Tile: &tile, Params: map[string]any{"pixel_selection": "count", "algorithm": "hillshade"}}); layer.KindOf(err) != layer.BadRequest {
		t.Errorf("count tile with an algorithm: %v, want BadRequest", err)
	}
}
