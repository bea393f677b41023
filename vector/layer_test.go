package vector

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// europe is a synthetic layer over Europe: small rectangles and some points.
var europe = synth{n: 20000, seed: 7, box: [4]float64{0, 40, 10, 50}, minSize: 0.0002, maxSize: 0.5, points: 0.2}

// newTestLayer opens a layer and waits for its overview.
func newTestLayer(t testing.TB, o Options, budget int) *Layer {
	t.Helper()
	return newTestLayerHeld(t, o, budget, residentFeatures)
}

// newTestLayerHeld is newTestLayer with a limit on the features held in
// memory (0: read every tile from the file).
func newTestLayerHeld(t testing.TB, o Options, budget, resident int) *Layer {
	t.Helper()
	l := newLayer(o, budget, resident)
	t.Cleanup(l.Close)
	if err := waitReady(l); err != nil {
		t.Fatalf("%s: %v", o.Path, err)
	}
	return l
}

func waitReady(l *Layer) error {
	st, err := l.load()
	if err != nil {
		return err
	}
	<-st.ready
	return l.Status()
}

// expected applies the thinning rule to what ogr2ogr returned for a tile, in
// lon/lat; toLonLat (nil for lon/lat layers) converts envelope corners of a
// layer in another CRS, as the rule measures sizes from the source envelope.
func expected(t testing.TB, got map[int64]ogrFeature, z, limit int, toLonLat ...func(xs, ys []float64)) []int64 {
	t.Helper()
	var keys []rankKey
	for fid, f := range got {
		g, err := geojson.UnmarshalGeometry(f.Geometry)
		if err != nil {
			t.Fatal(err)
		}
		cls := 0
		if _, ok := g.Coordinates.(orb.Point); ok {
			cls = 1
		}
		b := g.Coordinates.Bound()
		xs, ys := []float64{b.Min[0], b.Max[0], b.Min[0], b.Max[0]}, []float64{b.Min[1], b.Min[1], b.Max[1], b.Max[1]}
		for _, f := range toLonLat {
			f(xs, ys)
		}
		x0, y0 := tiles.LonLatToMercator(slices.Min(xs), slices.Min(ys))
		x1, y1 := tiles.LonLatToMercator(slices.Max(xs), slices.Max(ys))
		size := float32(math.Max(x1-x0, y1-y0))
		if cls == 0 && z >= 0 && size < threshold(z) {
			continue
		}
		keys = append(keys, newRankKey(cls, size, fid))
	}
	slices.SortFunc(keys, rankKey.compare)
	if len(keys) > limit {
		keys = keys[:limit]
	}
	out := make([]int64, len(keys))
	for i, k := range keys {
		out[i] = k.fid
	}
	slices.Sort(out)
	return out
}

// TestTileMatchesOgr2ogr: a tile holds the features ogr2ogr -spat returns for
// the buffered tile, less those under half a pixel and past max_features, in
// every format, read through the spatial index and thinned from the overview.
func TestTileMatchesOgr2ogr(t *testing.T) {
	dir := t.TempDir()
	files := europe.make(t, dir, "europe", []string{"gpkg", "fgb", "shp", "geojson"})
	tileset := []tiles.Tile{
		{Z: 0}, tiles.AtLonLat(5, 45, 3), tiles.AtLonLat(5, 45, 6), tiles.AtLonLat(2.3, 48.8, 8),
		tiles.AtLonLat(0.01, 40.01, 9), tiles.AtLonLat(7, 43, 10), tiles.AtLonLat(9.99, 49.99, 12),
		tiles.AtLonLat(5, 45, 13), tiles.AtLonLat(5.5, 45.5, 14),
	}
	const all = 1 << 20
	for _, ext := range []string{"gpkg", "fgb", "shp", "geojson"} {
		type variant struct {
			l     *Layer
			limit int
		}
		var vs []variant
		// From the file through the spatial index, from the file thinned by the
		// overview, and from memory.
		for _, mode := range [][2]int{{directBudget, 0}, {0, 0}, {directBudget, residentFeatures}} {
			for _, limit := range []int{all, 1000} {
				l := newTestLayerHeld(t, Options{Path: files[ext], MaxFeatures: limit}, mode[0], mode[1])
				if st, _ := l.load(); (st.res != nil) != (mode[1] > 0) {
					t.Fatalf("%s: held in memory %v, want %v", ext, st.res != nil, mode[1] > 0)
				}
				vs = append(vs, variant{l, limit})
			}
		}
		for _, tile := range tileset {
			b := bufferedLonLat(tile)
			read := ogr2ogr(t, files[ext], "-spat", fmtf(b.MinX), fmtf(b.MinY), fmtf(b.MaxX), fmtf(b.MaxY))
			for i, v := range vs {
				want := expected(t, read, tile.Z, v.limit)
				fc := runTile(t, v.l, tile, nil).Collection
				got := fids(fc)
				if !slices.Equal(got, want) {
					t.Errorf("%s variant %d (limit %d) tile %s: %d features, ogr2ogr %d\n got %v\nwant %v",
						ext, i, v.limit, tile, len(got), len(want), head(got), head(want))
					continue
				}
				for _, f := range fc.Features {
					id, _ := f.Properties["id"].(int64)
					if name, _ := f.Properties["name"].(string); name[1:] != itoa(id) || read[f.ID.(int64)].Properties["name"] != name {
						t.Errorf("%s tile %s: feature %d is named %q, id %d", ext, tile, f.ID, name, id)
						break
					}
				}
			}
		}
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func head(v []int64) []int64 {
	if len(v) > 20 {
		return v[:20]
	}
	return v
}

// TestReprojection: a layer in UTM 33N answers in lon/lat; its tile holds what
// ogr2ogr -spat returns for the tile's rect in UTM, with the coordinates ogr2ogr
// -t_srs EPSG:4326 computes.
func TestReprojection(t *testing.T) {
	dir := t.TempDir()
	utm := synth{n: 5000, seed: 3, box: [4]float64{12, 45, 18, 50}, minSize: 0.001, maxSize: 0.2, points: 0.3}
	files := utm.make(t, dir, "utm", []string{"gpkg", "fgb"}, "-t_srs", "EPSG:32633")
	for _, ext := range []string{"gpkg", "fgb"} {
		direct := newTestLayer(t, Options{Path: files[ext]}, directBudget)
		thinned := newTestLayer(t, Options{Path: files[ext]}, 0)
		if direct.st.lonlat {
			t.Fatalf("%s: a UTM layer taken for lon/lat", ext)
		}
		// The bounds are the lon/lat envelope of the UTM extent: a little larger
		// than the data's own lon/lat extent.
		if b := direct.Schema().Bounds; b.MinX > 12 || b.MinX < 11.5 || b.MaxX < 18.2 || b.MaxX > 18.7 || b.MinY > 45 || b.MinY < 44.8 || b.MaxY < 50.1 || b.MaxY > 50.4 {
			t.Errorf("%s: lon/lat bounds %+v, want about 11.7,45,18.4,50.2", ext, b)
		}
		for _, tile := range []tiles.Tile{tiles.AtLonLat(15, 47.5, 7), tiles.AtLonLat(12.01, 45.01, 9), tiles.AtLonLat(16, 48, 11)} {
			h, release, err := direct.acquire(direct.st)
			if err != nil {
				t.Fatal(err)
			}
			area := bufferedLonLat(tile)
			r, _ := sourceRect(direct.st, h.src, &area)
			release(false)
			read := ogr2ogr(t, files[ext], "-spat", fmtf(r[0]), fmtf(r[1]), fmtf(r[2]), fmtf(r[3]), "-t_srs", "EPSG:4326")
			native := ogr2ogr(t, files[ext], "-spat", fmtf(r[0]), fmtf(r[1]), fmtf(r[2]), fmtf(r[3]))
			toLonLat := func(xs, ys []float64) {
				h, release, err := direct.acquire(direct.st)
				if err != nil {
					t.Fatal(err)
				}
				defer release(false)
				h.src.transform(true, xs, ys)
			}
			want := expected(t, native, tile.Z, DefaultMaxFeatures, toLonLat)
			// The rect is the envelope of the buffered tile in UTM: it holds at least
			// what the tile itself meets.
			inTile := ogr2ogr(t, files[ext], "-spat", fmtf(area.MinX), fmtf(area.MinY), fmtf(area.MaxX), fmtf(area.MaxY), "-spat_srs", "EPSG:4326")
			for fid := range inTile {
				if _, ok := read[fid]; !ok {
					t.Errorf("%s tile %s: feature %d meets the tile but not the rect %v", ext, tile, fid, r)
				}
			}
			for _, l := range []*Layer{direct, thinned} {
				fc := runTile(t, l, tile, nil).Collection
				if got := fids(fc); !slices.Equal(got, want) || len(got) == 0 {
					t.Errorf("%s tile %s: %d features %v, ogr2ogr %d %v", ext, tile, len(got), head(got), len(want), head(want))
					continue
				}
				for _, f := range fc.Features {
					g, err := geojson.UnmarshalGeometry(read[f.ID.(int64)].Geometry)
					if err != nil {
						t.Fatal(err)
					}
					if !closeGeom(f.Geometry, g.Coordinates, 1e-9) {
						t.Errorf("%s feature %d: %v, ogr2ogr -t_srs EPSG:4326 gives %v", ext, f.ID, f.Geometry, g.Coordinates)
						break
					}
				}
			}
		}
	}
}

// closeGeom compares two geometries' coordinates within tol degrees.
func closeGeom(a, b orb.Geometry, tol float64) bool {
	pa, pb := points(a), points(b)
	if len(pa) != len(pb) {
		return false
	}
	for i := range pa {
		if math.Abs(pa[i][0]-pb[i][0]) > tol || math.Abs(pa[i][1]-pb[i][1]) > tol {
			return false
		}
	}
	return true
}

func points(g orb.Geometry) []orb.Point {
	switch v := g.(type) {
	case orb.Point:
		return []orb.Point{v}
	case orb.MultiPoint:
		return v
	case orb.LineString:
		return v
	case orb.Ring:
		return v
	case orb.Polygon:
		var out []orb.Point
		for _, r := range v {
			out = append(out, r...)
		}
		return out
	case orb.MultiPolygon:
		var out []orb.Point
		for _, p := range v {
			out = append(out, points(p)...)
		}
		return out
	}
	return nil
}

var (
	demoOnce  sync.Once
	demoDir   string
	demoFiles map[string]string
)

// naturalEarth writes the demo layers (countries.gpkg, cities.fgb) once per test
// binary, plus the countries as FlatGeobuf.
func naturalEarth(t testing.TB) map[string]string {
	t.Helper()
	demoOnce.Do(func() {
		dir, err := os.MkdirTemp("", "udftiles-vector-demo")
		if err != nil {
			t.Fatal(err)
		}
		demoDir = dir
		if _, err := demo.WriteVectors(dir); err != nil {
			t.Fatal(err)
		}
		fgb := filepath.Join(dir, "countries.fgb")
		if err := demo.Translate(filepath.Join(dir, "countries.gpkg"), fgb, "-f", "FlatGeobuf", "-lco", "SPATIAL_INDEX=YES"); err != nil {
			t.Fatal(err)
		}
		demoFiles = map[string]string{"countries.gpkg": filepath.Join(dir, "countries.gpkg"),
			"countries.fgb": fgb, "cities.fgb": filepath.Join(dir, "cities.fgb")}
	})
	if demoFiles == nil {
		t.Fatal("no demo files")
	}
	return demoFiles
}

func runErr(l *Layer, req layer.Request) error {
	_, err := l.Run(context.Background(), req)
	return err
}

func TestColumnsAndFilter(t *testing.T) {
	files := naturalEarth(t)
	for _, name := range []string{"countries.gpkg", "countries.fgb"} {
		for _, budget := range []int{directBudget, 0} {
			l := newTestLayer(t, Options{Path: files[name]}, budget)
			europe := tiles.AtLonLat(10, 50, 3)
			fc := runTile(t, l, europe, map[string]any{"columns": []any{"name", "pop_est"}}).Collection
			if len(fc.Features) == 0 {
				t.Fatalf("%s: no countries at %s", name, europe)
			}
			for _, f := range fc.Features {
				if len(f.Properties) != 2 || f.Properties["name"] == nil || f.Properties["pop_est"] == nil {
					t.Errorf("%s columns=name,pop_est: properties %v", name, f.Properties)
					break
				}
			}
			err := runErr(l, layer.Request{Tile: &europe, Params: map[string]any{"columns": []any{"name", "nope"}}})
			if layer.KindOf(err) != layer.BadRequest || !strings.Contains(err.Error(), `no column "nope"`) ||
				!strings.Contains(err.Error(), "pop_est, continent, name, iso_a3, gdp_md_est") {
				t.Errorf("%s columns=nope: %v, want a 400 listing the columns", name, err)
			}

			// filter= keeps what ogr2ogr -where keeps.
			const where = "pop_est>100000000 AND continent='Asia'"
			for _, tile := range []tiles.Tile{{}, tiles.AtLonLat(100, 30, 2)} {
				b := bufferedLonLat(tile)
				want := expected(t, ogr2ogr(t, files[name], "-where", where, "-spat", fmtf(b.MinX), fmtf(b.MinY), fmtf(b.MaxX), fmtf(b.MaxY)), tile.Z, DefaultMaxFeatures)
				got := runTile(t, l, tile, map[string]any{"filter": where}).Collection
				if !slices.Equal(fids(got), want) || len(want) < 3 {
					t.Errorf("%s budget %d filter at %s: %v, ogr2ogr -where %v", name, budget, tile, fids(got), want)
				}
				for _, f := range got.Features {
					if f.Properties["continent"] != "Asia" || f.Properties["pop_est"].(float64) <= 1e8 {
						t.Errorf("%s filter: %v", name, f.Properties)
					}
				}
			}
			// A mistake in filter= is a 400 with the reason, never a 500.
			for _, bad := range []string{"pop_est >", "popul > 5", "continent > 5", "name = 'x", "pop_est > 5)", "((", "'a' = 'a'",
				"name LIKE 5", "pop_est IN ()", "NOT", "pop_est > 5 AND OR", "\x00", "pop_est > 1e999999"} {
				err := runErr(l, layer.Request{Tile: &europe, Params: map[string]any{"filter": bad}})
				if layer.KindOf(err) != layer.BadRequest || !strings.HasPrefix(err.Error(), "parameter filter: ") {
					t.Errorf("%s filter=%q: %v (kind %v), want a 400", name, bad, err, layer.KindOf(err))
				}
			}
		}
	}
	// Config columns restrict what is served and filtered.
	l := newTestLayer(t, Options{Path: files["countries.gpkg"], Columns: []string{"name", "iso_a3"}}, directBudget)
	fc := runTile(t, l, tiles.Tile{}, nil).Collection
	if len(fc.Features) != 177 || len(fc.Features[0].Properties) != 2 || fc.Features[0].Properties["iso_a3"] == nil {
		t.Errorf("columns [name, iso_a3]: %d features, first %v", len(fc.Features), fc.Features[0].Properties)
	}
	for _, p := range []map[string]any{{"columns": []any{"pop_est"}}, {"filter": "pop_est > 5"}} {
		if err := runErr(l, layer.Request{Tile: &tiles.Tile{}, Params: p}); layer.KindOf(err) != layer.BadRequest || !strings.Contains(err.Error(), "name, iso_a3") {
			t.Errorf("%v on a layer serving name, iso_a3: %v", p, err)
		}
	}
	if l := New(Options{Path: files["countries.gpkg"], Columns: []string{"name", "population"}}); l.Status() == nil ||
		!strings.Contains(l.Status().Error(), `no column "population"`) {
		t.Errorf("config columns with an unknown name: status %v", l.Status())
	}
}

// TestLimit: past max_features a tile keeps the largest features, the same
// ones on every call and on every path, and says so in its logs.
func TestLimit(t *testing.T) {
	files := naturalEarth(t)
	var first []string // names: FIDs differ between the formats
	for _, name := range []string{"countries.gpkg", "countries.fgb"} {
		for _, budget := range []int{directBudget, 0} {
			l := newTestLayer(t, Options{Path: files[name], MaxFeatures: 10}, budget)
			res := runTile(t, l, tiles.Tile{}, nil)
			got := fids(res.Collection)
			if len(got) != 10 || !strings.Contains(res.Logs, "max_features: kept 10 features") {
				t.Fatalf("%s: %d features, logs %q", name, len(got), res.Logs)
			}
			names := map[string]bool{}
			var list []string
			for _, f := range res.Collection.Features {
				names[f.Properties["name"].(string)] = true
				list = append(list, f.Properties["name"].(string))
			}
			slices.Sort(list)
			if first == nil {
				first = list
			} else if !slices.Equal(list, first) {
				t.Errorf("%s budget %d: %v, before %v", name, budget, list, first)
			}
			for _, big := range []string{"Russia", "Canada", "United States of America", "Antarctica", "Fiji"} {
				// Fiji and Russia cross the antimeridian: their envelopes span the world.
				if !names[big] {
					t.Errorf("%s: the 10 largest lack %s: %v", name, big, names)
				}
			}
			again := runTile(t, l, tiles.Tile{}, nil)
			if !slices.Equal(fids(again.Collection), got) {
				t.Errorf("%s: a second call kept %v, the first %v", name, fids(again.Collection), got)
			}
		}
	}
}

// TestThinning: lines and polygons under half a pixel are dropped, points are
// not, and what a tile keeps its children keep.
func TestThinning(t *testing.T) {
	dir := t.TempDir()
	files := europe.make(t, dir, "europe", []string{"fgb"})
	for _, budget := range []int{directBudget, 0} {
		l := newTestLayer(t, Options{Path: files["fgb"], MaxFeatures: 500}, budget)
		for _, tile := range []tiles.Tile{tiles.AtLonLat(5, 45, 4), tiles.AtLonLat(5, 45, 7)} {
			parent := runTile(t, l, tile, nil).Collection
			if len(parent.Features) != 500 {
				t.Errorf("tile %s: %d features, want max_features 500", tile, len(parent.Features))
			}
			thr := float64(threshold(tile.Z))
			for _, f := range parent.Features {
				if _, point := f.Geometry.(orb.Point); point {
					continue
				}
				b := f.Geometry.Bound()
				x0, y0 := tiles.LonLatToMercator(b.Min[0], b.Min[1])
				x1, y1 := tiles.LonLatToMercator(b.Max[0], b.Max[1])
				if math.Max(x1-x0, y1-y0) < thr*0.999 {
					t.Errorf("tile %s: feature %v is under half a pixel", tile, f.ID)
				}
			}
			for _, child := range tile.Children() {
				cb := child.Mercator()
				pad := (cb.MaxX - cb.MinX) / 4
				area := tiles.Bounds{MinX: cb.MinX - pad, MinY: cb.MinY - pad, MaxX: cb.MaxX + pad, MaxY: cb.MaxY + pad}
				kept := map[int64]bool{}
				for _, id := range fids(runTile(t, l, child, nil).Collection) {
					kept[id] = true
				}
				for _, f := range parent.Features {
					b := f.Geometry.Bound()
					x0, y0 := tiles.LonLatToMercator(b.Min[0], b.Min[1])
					x1, y1 := tiles.LonLatToMercator(b.Max[0], b.Max[1])
					inside := tiles.Bounds{MinX: x0, MinY: y0, MaxX: x1, MaxY: y1}
					if area.Contains(inside) && !kept[f.ID.(int64)] {
						t.Errorf("feature %v kept in %s but not in its child %s", f.ID, tile, child)
					}
				}
			}
		}
	}
}

// TestFileMode: bounds= gives the features meeting them, no bounds all of them,
// within max_features.
func TestFileMode(t *testing.T) {
	files := naturalEarth(t)
	for _, budget := range []int{directBudget, 0} {
		l := newTestLayer(t, Options{Path: files["cities.fgb"]}, budget)
		res, err := l.Run(context.Background(), layer.Request{Bounds: tiles.Bounds{MinX: -10, MinY: 35, MaxX: 30, MaxY: 60}, Params: map[string]any{}})
		if err != nil {
			t.Fatal(err)
		}
		want := sortedKeys(ogr2ogr(t, files["cities.fgb"], "-spat", "-10", "35", "30", "60"))
		if got := fids(res.(*layer.Features).Collection); !slices.Equal(got, want) {
			t.Errorf("budget %d bounds: %v, ogr2ogr %v", budget, got, want)
		}
		res, err = l.Run(context.Background(), layer.Request{Params: map[string]any{"filter": "name LIKE 'P%'"}})
		if err != nil {
			t.Fatal(err)
		}
		want = sortedKeys(ogr2ogr(t, files["cities.fgb"], "-where", "name LIKE 'P%'"))
		if got := fids(res.(*layer.Features).Collection); !slices.Equal(got, want) || len(want) < 5 {
			t.Errorf("budget %d, no bounds, filter: %v, ogr2ogr %v", budget, got, want)
		}
	}
	l := newTestLayer(t, Options{Path: files["cities.fgb"], MaxFeatures: 7}, directBudget)
	res, err := l.Run(context.Background(), layer.Request{Params: map[string]any{}})
	if err != nil || len(res.(*layer.Features).Collection.Features) != 7 {
		t.Errorf("max_features 7, whole layer: %v %v", res, err)
	}
}

// TestConcurrentTiles: tiles read at once from a few handles match the same
// tiles read one by one.
func TestConcurrentTiles(t *testing.T) {
	files := europe.make(t, t.TempDir(), "europe", []string{"gpkg"})
	l := newTestLayer(t, Options{Path: files["gpkg"], Pool: 2, MaxFeatures: 300}, 1000)
	var ts []tiles.Tile
	for z := 3; z <= 9; z++ {
		c := tiles.AtLonLat(5, 45, z)
		ts = append(ts, c, tiles.Tile{Z: z, X: c.X + 1, Y: c.Y})
	}
	params := []map[string]any{nil, {"filter": "cls = 3"}, {"columns": []any{"name"}, "filter": "size > 0.01"}}
	want := map[int][]int64{}
	for i, tile := range ts {
		want[i] = fids(runTile(t, l, tile, params[i%len(params)]).Collection)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := range ts {
				i := (k + g) % len(ts)
				res, err := l.Run(context.Background(), layer.Request{Tile: &ts[i], Params: params[i%len(params)]})
				if err != nil {
					errs <- err.Error()
					return
				}
				if got := fids(res.(*layer.Features).Collection); !slices.Equal(got, want[i]) {
					errs <- "tile " + ts[i].String() + " differs when read concurrently"
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
