package render

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/encoding/mvt/vectortile"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/paulmach/orb/planar"
	"github.com/udftiles/udftiles/internal/gdal"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/render/tilegeom"
	"github.com/udftiles/udftiles/tiles"
)

// naturalEarth is geopandas' bundled naturalearth_lowres: 177 countries, the
// demo's countries layer.
const naturalEarth = "/usr/lib/python3/dist-packages/geopandas/datasets/naturalearth_lowres/naturalearth_lowres.shp"

var countriesOnce = sync.OnceValues(readCountries)

// countries reads naturalearth_lowres with OGR, properties typed as OGR has them.
func countries(tb testing.TB) *layer.Features {
	tb.Helper()
	fc, err := countriesOnce()
	if err != nil {
		tb.Fatal(err)
	}
	return &layer.Features{Collection: fc}
}

func readCountries() (*geojson.FeatureCollection, error) {
	gdal.Register()
	ds, err := godal.Open(naturalEarth, godal.VectorOnly())
	if err != nil {
		return nil, err
	}
	defer ds.Close()
	fc := geojson.NewFeatureCollection()
	l := ds.Layers()[0]
	for f := l.NextFeature(); f != nil; f = l.NextFeature() {
		b, err := f.Geometry().WKB()
		if err != nil {
			return nil, err
		}
		g, err := wkb.Unmarshal(b)
		if err != nil {
			return nil, err
		}
		ft := geojson.NewFeature(g)
		for name, fld := range f.Fields() {
			switch fld.Type() {
			case godal.FTInt, godal.FTInt64:
				ft.Properties[name] = fld.Int()
			case godal.FTReal:
				ft.Properties[name] = fld.Float()
			default:
				ft.Properties[name] = fld.String()
			}
		}
		f.Close()
		fc.Append(ft)
	}
	if len(fc.Features) != 177 {
		return nil, fmt.Errorf("read %d countries from %s, want 177", len(fc.Features), naturalEarth)
	}
	return fc, nil
}

// quietGEOS sends GDAL's default log (GEOS's "Self-intersection at or near"
// for each invalid geometry checked) to /dev/null; GDAL reads it once.
var quietGEOS = sync.OnceFunc(func() { os.Setenv("CPL_LOG", os.DevNull) })

// toGEOS converts an orb geometry for GEOS's checks.
func toGEOS(t testing.TB, g orb.Geometry) *godal.Geometry {
	t.Helper()
	quietGEOS()
	b, err := wkb.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	gg, err := godal.NewGeometryFromWKB(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return gg
}

// projected is a lon/lat polygon on tile ts's grid, unclipped, in float.
func projected(ts *tileSpace, g orb.Geometry) orb.Geometry {
	switch g := g.(type) {
	case orb.Polygon:
		out := make(orb.Polygon, len(g))
		for i, r := range g {
			out[i] = make(orb.Ring, len(r))
			for j, p := range r {
				out[i][j] = ts.project(p)
			}
		}
		return out
	case orb.MultiPolygon:
		out := make(orb.MultiPolygon, len(g))
		for i, p := range g {
			out[i] = projected(ts, p).(orb.Polygon)
		}
		return out
	}
	panic(fmt.Sprintf("projected: %T", g))
}

func encodeMVT(t testing.TB, f *layer.Features, tile tiles.Tile, o Options) []byte {
	t.Helper()
	o.Tile = &tile
	b, ct, err := Encode(f, "mvt", o)
	if err != nil {
		t.Fatalf("tile %s: %v", tile, err)
	}
	if ct != "application/vnd.mapbox-vector-tile" {
		t.Fatalf("content type %q", ct)
	}
	return b
}

func decodeMVT(t testing.TB, b []byte) mvt.Layers {
	t.Helper()
	ls, err := mvt.Unmarshal(b)
	if err != nil {
		t.Fatalf("orb cannot read the tile: %v", err)
	}
	return ls
}

// polygonChecks holds what checkPolygons found over many tiles.
type polygonChecks struct {
	features, invalidInputs int
}

// checkTile decodes an MVT of polygons made from src for tile and checks each
// feature: in the buffered extent, rings closed and wound as the spec says, valid
// for GEOS, and, when the input was valid on the tile's grid (Antarctica is not:
// web mercator flattens its southern edge), with the clipped input's area.
func checkTile(t *testing.T, src *layer.Features, tile tiles.Tile, bufferPx int, key string, stats *polygonChecks) {
	t.Helper()
	b := encodeMVT(t, src, tile, Options{Buffer: &bufferPx})
	if len(b) == 0 {
		return
	}
	ls := decodeMVT(t, b)
	if len(ls) != 1 {
		t.Fatalf("tile %s: %d layers, want 1", tile, len(ls))
	}
	if ls[0].Name != "udf" || ls[0].Extent != 4096 || ls[0].Version != 2 {
		t.Fatalf("tile %s: layer %q extent %d version %d; want udf, 4096, v2", tile, ls[0].Name, ls[0].Extent, ls[0].Version)
	}
	ts := newTileSpace(tile, bufferPx)
	byKey := map[string]*geojson.Feature{}
	for _, f := range src.Collection.Features {
		byKey[fmt.Sprint(f.Properties[key])] = f
	}
	lim := float64(bufferPx * 16)
	clipBox := toGEOS(t, orb.Bound{Min: orb.Point{-lim, -lim}, Max: orb.Point{4096 + lim, 4096 + lim}}.ToPolygon())
	defer clipBox.Close()
	for _, f := range ls[0].Features {
		stats.features++
		in := byKey[fmt.Sprint(f.Properties[key])]
		if in == nil {
			t.Fatalf("tile %s: a feature with %s=%v, not in the input", tile, key, f.Properties[key])
		}
		var polys []orb.Polygon
		switch g := f.Geometry.(type) {
		case orb.Polygon:
			polys = []orb.Polygon{g}
		case orb.MultiPolygon:
			polys = g
		default:
			t.Fatalf("tile %s: %v is a %T", tile, f.Properties[key], f.Geometry)
		}
		for _, p := range polys {
			for i, r := range p {
				if !r.Closed() || len(r) < 4 {
					t.Fatalf("tile %s, %v: ring %d not closed or under 3 vertices: %v", tile, f.Properties[key], i, r)
				}
				if a := tilegeom.SignedArea(r); (i == 0) != (a > 0) {
					t.Fatalf("tile %s, %v: ring %d has area %g: exterior rings positive, holes negative", tile, f.Properties[key], i, a)
				}
				for _, q := range r {
					if q[0] < -lim || q[1] < -lim || q[0] > 4096+lim || q[1] > 4096+lim {
						t.Fatalf("tile %s, %v: vertex %v outside the buffered extent ±%g", tile, f.Properties[key], q, lim)
					}
				}
			}
		}
		got := toGEOS(t, f.Geometry)
		if !got.Valid() {
			w, _ := got.WKT()
			t.Errorf("tile %s, %v: invalid for GEOS: %.500s", tile, f.Properties[key], w)
		}
		ref := toGEOS(t, projected(ts, in.Geometry))
		if !ref.Valid() { // repaired: no area to compare with
			stats.invalidInputs++
			ref.Close()
			got.Close()
			continue
		}
		clipped, err := ref.Intersection(clipBox)
		if err != nil {
			t.Fatal(err)
		}
		// Simplifying moves an edge at most mvtTolerance, snapping half a unit more.
		want, area, perim := clipped.Area(), got.Area(), planar.Length(f.Geometry)
		if d := math.Abs(area - want); d > 0.01*want+(mvtTolerance+1)*perim {
			t.Errorf("tile %s, %v: area %.0f, the clipped input's %.0f (perimeter %.0f)", tile, f.Properties[key], area, want, perim)
		}
		clipped.Close()
		got.Close()
		ref.Close()
	}
}

func TestMVTCountriesValid(t *testing.T) {
	src := countries(t)
	var stats polygonChecks
	for z := 0; z <= 4; z++ { // every tile
		tiles.Cover(tiles.Bounds{MinX: -180, MinY: -85, MaxX: 180, MaxY: 85}, z).Each(func(tl tiles.Tile) bool {
			checkTile(t, src, tl, DefaultBuffer, "name", &stats)
			return !t.Failed()
		})
	}
	regions := []struct {
		z int
		b tiles.Bounds
	}{
		{6, tiles.Bounds{MinX: -10, MinY: 35, MaxX: 30, MaxY: 70}}, // Europe
		{7, tiles.Bounds{MinX: 95, MinY: -10, MaxX: 125, MaxY: 5}}, // Indonesia, Malaysia
		{9, tiles.Bounds{MinX: 4, MinY: 57, MaxX: 9, MaxY: 61}},    // Norway's south-west coast
		{12, tiles.Bounds{MinX: 8.4, MinY: 47.2, MaxX: 8.9, MaxY: 47.6}},
	}
	for _, r := range regions {
		tiles.Cover(r.b, r.z).Each(func(tl tiles.Tile) bool {
			checkTile(t, src, tl, DefaultBuffer, "name", &stats)
			return !t.Failed()
		})
	}
	for _, buf := range []int{0, 8, MaxBuffer} {
		tiles.Cover(tiles.Bounds{MinX: -180, MinY: -85, MaxX: 180, MaxY: 85}, 2).Each(func(tl tiles.Tile) bool {
			checkTile(t, src, tl, buf, "name", &stats)
			return !t.Failed()
		})
	}
	t.Logf("%d features checked, all valid; %d from inputs GEOS calls invalid on the tile's grid", stats.features, stats.invalidInputs)
	if stats.features < 1000 {
		t.Errorf("only %d features checked", stats.features)
	}
}

// star is a simple polygon around c: n vertices at random angles and radii in
// [r/2, r], with a hole of the same kind inside r/2 when hole is set.
func star(rng *rand.Rand, c orb.Point, r float64, n int, hole bool) orb.Polygon {
	ring := func(rmin, rmax float64, clockwise bool) orb.Ring {
		angles := make([]float64, n)
		for i := range angles {
			angles[i] = rng.Float64() * 2 * math.Pi
		}
		sortFloats(angles)
		out := make(orb.Ring, 0, n+1)
		for _, a := range angles {
			d := rmin + rng.Float64()*(rmax-rmin)
			out = append(out, orb.Point{c[0] + d*math.Cos(a), c[1] + d*math.Sin(a)})
		}
		if clockwise {
			for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
				out[i], out[j] = out[j], out[i]
			}
		}
		return append(out, out[0])
	}
	p := orb.Polygon{ring(r/2, r, false)}
	if hole {
		p = append(p, ring(r/8, r/2.5, true))
	}
	return p
}

func sortFloats(a []float64) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// TestMVTRandomPolygonsValid throws spiky polygons with holes, and multipolygons
// whose parts nearly touch, at tile edges at many scales: where a vertex's
// spacing is a fraction of a grid unit, simplifying and snapping would cross
// edges but for the checks and repairs.
func TestMVTRandomPolygonsValid(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fc := geojson.NewFeatureCollection()
	tile := tiles.Tile{Z: 10, X: 550, Y: 335}
	b := tile.LonLat()
	w := b.MaxX - b.MinX
	for i := range 400 {
		// From a hundredth of a tile (vertices closer than a unit) to twice one.
		r := w * math.Pow(10, -2+2.3*rng.Float64())
		c := orb.Point{b.MinX - w/2 + 2*w*rng.Float64(), b.MinY - w/2 + 2*w*rng.Float64()}
		var g orb.Geometry = star(rng, c, r, 8+rng.IntN(300), rng.IntN(2) == 0)
		if i%3 == 0 { // a second part a sliver away from the first
			p := g.(orb.Polygon)
			c2 := orb.Point{c[0] + 2.02*r, c[1]}
			g = orb.MultiPolygon{p, star(rng, c2, r, 8+rng.IntN(50), false)}
		}
		f := geojson.NewFeature(g)
		f.Properties["i"] = i
		fc.Append(f)
	}
	src := &layer.Features{Collection: fc}
	var stats polygonChecks
	for _, tl := range []tiles.Tile{tile, {Z: 9, X: 275, Y: 167}, {Z: 7, X: 68, Y: 41}, {Z: 12, X: 2201, Y: 1341}, {Z: 14, X: 8805, Y: 5366}} {
		checkTile(t, src, tl, DefaultBuffer, "i", &stats)
	}
	t.Logf("%d features checked; %d invalid inputs", stats.features, stats.invalidInputs)
}

// TestMVTClipShapes checks clipping cases one by one, in a tile with no buffer.
func TestMVTClipShapes(t *testing.T) {
	tile := tiles.Tile{Z: 2, X: 1, Y: 1}
	ts := newTileSpace(tile, 0)
	// lonlat of grid coordinates, so that shapes are drawn on the grid.
	ll := func(pts ...float64) orb.Ring {
		var r orb.Ring
		for i := 0; i < len(pts); i += 2 {
			r = append(r, ts.unproject(orb.Point{pts[i], pts[i+1]}))
		}
		return append(r, r[0])
	}
	tests := []struct {
		name         string
		geom         orb.Geometry
		parts, holes int
	}{
		{"a comb cut by the edge into three teeth", orb.Polygon{ll(-500, 100, 300, 100, 300, 200, -200, 200, -200, 300, 300, 300, 300, 400, -200, 400, -200, 500, 300, 500, 300, 600, -500, 600)}, 3, 0},
		{"a hole across the edge becomes a notch", orb.Polygon{ll(-500, 100, 1000, 100, 1000, 1000, -500, 1000), ll(-100, 300, -100, 600, 300, 600, 300, 300)}, 1, 0},
		{"a hole inside stays", orb.Polygon{ll(-500, 100, 1000, 100, 1000, 1000, -500, 1000), ll(100, 300, 100, 600, 300, 600, 300, 300)}, 1, 1},
		{"a polygon around the tile is the tile", orb.Polygon{ll(-900, -900, 5000, -900, 5000, 5000, -900, 5000)}, 1, 0},
		{"a hole around the tile leaves nothing", orb.Polygon{ll(-900, -900, 5000, -900, 5000, 5000, -900, 5000), ll(-800, -800, -800, 4900, 4900, 4900, 4900, -800)}, 0, 0},
		{"outside", orb.Polygon{ll(-900, 100, -100, 100, -100, 200)}, 0, 0},
		{"a U with its base inside is one part", orb.Polygon{ll(4500, 100, 3800, 100, 3800, 900, 4500, 900, 4500, 700, 4000, 700, 4000, 300, 4500, 300)}, 1, 0},
		{"a U with its base outside is two parts", orb.Polygon{ll(3900, 100, 4500, 100, 4500, 900, 3900, 900, 3900, 700, 4300, 700, 4300, 300, 3900, 300)}, 2, 0},
		{"tile corner", orb.Polygon{ll(4000, 4000, 4200, 4000, 4200, 4200, 4000, 4200)}, 1, 0},
		{"tile edge to tile edge", orb.Polygon{ll(0, 0, 100, 0, 100, 100)}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := geojson.NewFeature(tt.geom)
			src := &layer.Features{Collection: &geojson.FeatureCollection{Features: []*geojson.Feature{f}}}
			zero := 0
			b := encodeMVT(t, src, tile, Options{Buffer: &zero})
			if tt.parts == 0 {
				if len(b) != 0 {
					t.Fatalf("%d bytes, want an empty tile: %v", len(b), decodeMVT(t, b)[0].Features[0].Geometry)
				}
				return
			}
			g := decodeMVT(t, b)[0].Features[0].Geometry
			var polys orb.MultiPolygon
			switch g := g.(type) {
			case orb.Polygon:
				polys = orb.MultiPolygon{g}
			case orb.MultiPolygon:
				polys = g
			}
			holes := 0
			for _, p := range polys {
				holes += len(p) - 1
			}
			if len(polys) != tt.parts || holes != tt.holes {
				t.Errorf("%d parts, %d holes, want %d and %d: %v", len(polys), holes, tt.parts, tt.holes, g)
			}
			gg := toGEOS(t, g)
			defer gg.Close()
			if !gg.Valid() {
				t.Errorf("invalid: %v", g)
			}
			want := toGEOS(t, projected(ts, tt.geom))
			box := toGEOS(t, orb.Bound{Max: orb.Point{4096, 4096}}.ToPolygon())
			clipped, err := want.Intersection(box)
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(gg.Area() - clipped.Area()); d > 0.001*clipped.Area()+planar.Length(g) {
				t.Errorf("area %g, want %g", gg.Area(), clipped.Area())
			}
		})
	}
}

// TestMVTKeepsPolygonsValid: shapes that simplifying or snapping alone would
// make invalid come out valid, with what can be kept of them.
func TestMVTKeepsPolygonsValid(t *testing.T) {
	tile := tiles.Tile{Z: 2, X: 1, Y: 1}
	ts := newTileSpace(tile, 0)
	ll := func(pts ...float64) orb.Ring {
		var r orb.Ring
		for i := 0; i < len(pts); i += 2 {
			r = append(r, ts.unproject(orb.Point{pts[i], pts[i+1]}))
		}
		return append(r, r[0])
	}
	tests := []struct {
		name         string
		geom         orb.Geometry
		parts, holes int
	}{
		// Simplified, the bulge is flattened and the hole left outside: the
		// outline stays unsimplified.
		{"a hole in a bulge", orb.Polygon{
			ll(100, 100, 595, 100, 600, 96.5, 605, 100, 1000, 100, 1000, 1000, 100, 1000),
			ll(599, 97.5, 601, 97.5, 600, 99)}, 1, 1},
		// Snapped, the parts would share an edge: one moves a unit away.
		{"parts a third of a unit apart", orb.MultiPolygon{
			{ll(100, 100, 200, 100, 200, 200, 100, 200)},
			{ll(200.3, 100, 300, 100, 300, 150, 200.3, 150)}}, 2, 0},
		// Snapped, the two sides of the slit meet.
		{"a slit narrower than a unit", orb.Polygon{
			ll(100, 100, 500, 100, 500, 300.2, 200, 300.2, 200, 300.6, 500, 300.6, 500, 500, 100, 500)}, 1, 0},
		{"a bow tie, invalid as given", orb.Polygon{ll(100, 100, 300, 300, 300, 100, 100, 400)}, 1, 0},
		{"a hole touching its shell along an edge", orb.Polygon{
			ll(100, 100, 500, 100, 500, 500, 100, 500),
			ll(100, 200, 200, 200, 200, 300, 100, 300)}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := geojson.NewFeature(tt.geom)
			src := &layer.Features{Collection: &geojson.FeatureCollection{Features: []*geojson.Feature{f}}}
			g := decodeMVT(t, encodeMVT(t, src, tile, Options{}))[0].Features[0].Geometry
			polys, ok := g.(orb.MultiPolygon)
			if p, one := g.(orb.Polygon); one {
				polys, ok = orb.MultiPolygon{p}, true
			}
			if !ok {
				t.Fatalf("a %T", g)
			}
			holes := 0
			for _, p := range polys {
				holes += len(p) - 1
			}
			if len(polys) != tt.parts || holes != tt.holes {
				t.Errorf("%d parts, %d holes, want %d and %d: %v", len(polys), holes, tt.parts, tt.holes, g)
			}
			if gg := toGEOS(t, g); !gg.Valid() {
				t.Errorf("invalid: %v", g)
			}
		})
	}
}

// TestMVTProjection: grid coordinates agree with orb's own tile projection.
func TestMVTProjection(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 1000 {
		lon, lat := -180+360*rng.Float64(), -80+160*rng.Float64()
		z := rng.IntN(20)
		tl := tiles.AtLonLat(lon, lat, z)
		layer := &mvt.Layer{Extent: 4096, Features: []*geojson.Feature{geojson.NewFeature(orb.Point{lon, lat})}}
		layer.ProjectToTile(maptile.New(uint32(tl.X), uint32(tl.Y), maptile.Zoom(z)))
		want := layer.Features[0].Geometry.(orb.Point)
		got := newTileSpace(tl, 0).project(orb.Point{lon, lat})
		if math.Abs(math.Floor(got[0])-want[0]) > 1 || math.Abs(math.Floor(got[1])-want[1]) > 1 {
			t.Fatalf("%g,%g in %s: %v, orb says %v", lon, lat, tl, got, want)
		}
	}
}

func TestMVTProperties(t *testing.T) {
	f := geojson.NewFeature(orb.Point{1, 2})
	f.ID = "7"
	f.Properties = geojson.Properties{
		"int": 42, "int64": int64(-5), "uint8": uint8(200), "big": uint64(math.MaxUint64),
		"whole float": 3.0, "float": 2.5, "float32": float32(0.25),
		"json int": json.Number("9007199254740993"), "json float": json.Number("3.0"),
		"yes": true, "name": "Zoë", "object": map[string]any{"a": []any{1, "b"}}, "array": []int{1, 2},
		"null": nil, "nan": math.NaN(), "inf": math.Inf(1),
	}
	tl := tiles.AtLonLat(1, 2, 8)
	b := encodeMVT(t, &layer.Features{Collection: &geojson.FeatureCollection{Features: []*geojson.Feature{f}}}, tl, Options{Layer: "places"})
	var vt vectortile.Tile
	if err := vt.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	l := vt.Layers[0]
	if l.GetName() != "places" || len(l.Features) != 1 || l.Features[0].GetId() != 7 {
		t.Fatalf("layer %q with %d features, first id %d; want places, 1, 7", l.GetName(), len(l.Features), l.Features[0].GetId())
	}
	got := map[string]string{}
	tags := l.Features[0].Tags
	for i := 0; i < len(tags); i += 2 {
		v := l.Values[tags[i+1]]
		var s string
		switch {
		case v.StringValue != nil:
			s = "string " + *v.StringValue
		case v.SintValue != nil:
			s = fmt.Sprint("sint ", *v.SintValue)
		case v.UintValue != nil:
			s = fmt.Sprint("uint ", *v.UintValue)
		case v.IntValue != nil:
			s = fmt.Sprint("int ", *v.IntValue)
		case v.DoubleValue != nil:
			s = fmt.Sprint("double ", *v.DoubleValue)
		case v.FloatValue != nil:
			s = fmt.Sprint("float ", *v.FloatValue)
		case v.BoolValue != nil:
			s = fmt.Sprint("bool ", *v.BoolValue)
		}
		got[l.Keys[tags[i]]] = s
	}
	want := map[string]string{
		"int": "sint 42", "int64": "sint -5", "uint8": "sint 200", "big": "uint 18446744073709551615",
		"whole float": "sint 3", "float": "double 2.5", "float32": "double 0.25",
		"json int": "sint 9007199254740993", "json float": "double 3",
		"yes": "bool true", "name": "string Zoë", "object": `string {"a":[1,"b"]}`, "array": "string [1,2]",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q", k, got[k], w)
		}
	}
	for _, k := range []string{"null", "nan", "inf"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s is in the tile as %q; want it left out", k, got[k])
		}
	}
	if f.Properties["null"] != nil || f.Properties["int"] != 42 {
		t.Error("encoding changed the input's properties")
	}
	// orb reads the same back, numbers as float64.
	if p := decodeMVT(t, b)[0].Features[0].Properties; p["name"] != "Zoë" || p["int"] != 42.0 || p["yes"] != true || p["float"] != 2.5 {
		t.Errorf("orb reads back %v", p)
	}
}

func TestMVTLinesAndPoints(t *testing.T) {
	tl := tiles.Tile{Z: 4, X: 8, Y: 5}
	b := tl.LonLat()
	w, h := b.MaxX-b.MinX, b.MaxY-b.MinY
	cx, cy := b.Center()
	coll := orb.Collection{
		orb.Point{cx, cy},
		orb.LineString{{b.MinX - w, cy}, {b.MaxX + w, cy + h/10}},                               // across, clipped both ends
		orb.MultiPoint{{b.MinX - w/100, cy}, {b.MinX - w/2, cy}},                                // in the buffer; outside it
		orb.Polygon{{{cx, cy}, {cx + w/4, cy}, {cx + w/4, cy + h/4}, {cx, cy + h/4}, {cx, cy}}}, // inside
	}
	fc := geojson.NewFeatureCollection()
	fc.Append(geojson.NewFeature(coll))
	ls := decodeMVT(t, encodeMVT(t, &layer.Features{Collection: fc}, tl, Options{}))
	kinds := map[string]orb.Geometry{}
	for _, f := range ls[0].Features {
		kinds[f.Geometry.GeoJSONType()] = f.Geometry
	}
	if len(kinds) != 3 || kinds["MultiPoint"] == nil || kinds["LineString"] == nil || kinds["Polygon"] == nil {
		t.Fatalf("a collection of points, a line and a polygon became %v", kinds)
	}
	if mp := kinds["MultiPoint"].(orb.MultiPoint); len(mp) != 2 {
		t.Errorf("points %v: want the centre and the one in the buffer", mp)
	}
	line := kinds["LineString"].(orb.LineString)
	for _, p := range []orb.Point{line[0], line[len(line)-1]} {
		if p[0] != -1024 && p[0] != 4096+1024 {
			t.Errorf("line %v: want its ends cut at the buffer's edges x=-1024 and x=5120", line)
		}
	}
}

func TestMVTEmpty(t *testing.T) {
	tl := tiles.Tile{Z: 5, X: 3, Y: 14} // the Pacific east of Hawaii: no country
	for name, f := range map[string]*layer.Features{
		"no collection":    {},
		"no features":      {Collection: geojson.NewFeatureCollection()},
		"none in the tile": countries(t),
	} {
		b := encodeMVT(t, f, tl, Options{})
		if b == nil || len(b) != 0 {
			t.Errorf("%s: %d bytes (nil %v), want an empty body", name, len(b), b == nil)
		}
	}
}

func TestMVTErrors(t *testing.T) {
	f := countries(t)
	if _, _, err := Encode(f, "mvt", Options{}); layer.KindOf(err) != layer.BadRequest || !strings.Contains(err.Error(), "tiles") {
		t.Errorf("mvt without a tile: %v, want a BadRequest pointing at tiles", err)
	}
	tbl := &layer.Table{Columns: []string{"a"}, Rows: [][]any{{json.Number("1")}}}
	tl := tiles.Tile{}
	for _, format := range []string{"mvt", "pbf", "geojson"} {
		_, _, err := Encode(tbl, format, Options{Tile: &tl})
		if layer.KindOf(err) != layer.BadRequest || !strings.Contains(err.Error(), "a table has no geometry") {
			t.Errorf("a table as %s: %v, want 400 a table has no geometry", format, err)
		}
	}
	b1, ct, err := Encode(f, "pbf", Options{Tile: &tiles.Tile{Z: 1}})
	b2, _, _ := Encode(f, "mvt", Options{Tile: &tiles.Tile{Z: 1}})
	if err != nil || ct != MediaType("mvt") || string(b1) != string(b2) {
		t.Errorf("pbf: %v %q, want the same tile as mvt", err, ct)
	}
}

func TestGeoJSON(t *testing.T) {
	f := geojson.NewFeature(orb.Polygon{{{1.123456789, 2.5}, {3.000000001, 2.5}, {3, -0.00000001}}})
	f.ID = 3.0
	f.Properties = geojson.Properties{"n": 1e-7, "nan": math.NaN(), "s": "a\"b", "big": json.Number("617700169958293503")}
	src := &layer.Features{Collection: &geojson.FeatureCollection{Features: []*geojson.Feature{f}}}
	b, ct, err := Encode(src, "geojson", Options{})
	if err != nil || ct != "application/geo+json" {
		t.Fatal(err, ct)
	}
	want := `{"type":"FeatureCollection","features":[{"type":"Feature","id":3,"geometry":{"type":"Polygon","coordinates":[[[1.1234568,2.5],[3,2.5],[3,0],[1.1234568,2.5]]]},"properties":{"big":617700169958293503,"n":1e-7,"nan":null,"s":"a\"b"}}]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	three := 3
	b, _, _ = Encode(src, "json", Options{Precision: &three})
	if !strings.Contains(string(b), `[[[1.123,2.5],[3,2.5],[3,0],[1.123,2.5]]]`) {
		t.Errorf("precision 3: %s", b)
	}
	// Every country reads back the same to 7 decimals.
	all, _, err := Encode(countries(t), "geojson", Options{})
	if err != nil {
		t.Fatal(err)
	}
	fc, err := geojson.UnmarshalFeatureCollection(all)
	if err != nil {
		t.Fatal(err)
	}
	in := countries(t).Collection.Features
	for i, f := range fc.Features {
		if f.Properties["name"] != in[i].Properties["name"] || f.Properties["pop_est"] != in[i].Properties["pop_est"] {
			t.Fatalf("feature %d properties %v, want %v", i, f.Properties, in[i].Properties)
		}
		a, b := f.Geometry.Bound(), in[i].Geometry.Bound()
		if math.Abs(a.Min[0]-b.Min[0]) > 5e-8 || math.Abs(a.Max[1]-b.Max[1]) > 5e-8 {
			t.Fatalf("feature %d bound %v, want %v", i, a, b)
		}
	}
	for name, f := range map[string]*layer.Features{"none": {}, "empty": {Collection: geojson.NewFeatureCollection()}} {
		if b, _, _ := Encode(f, "geojson", Options{}); string(b) != `{"type":"FeatureCollection","features":[]}` {
			t.Errorf("%s: %s", name, b)
		}
		if b, _, _ := Encode(f, "csv", Options{}); string(b) != "geometry\n" {
			t.Errorf("%s as csv: %q, want the header alone", name, b)
		}
	}
	if b, _, _ := Encode(&layer.Table{Columns: []string{"a"}}, "json", Options{}); string(b) != "[]" {
		t.Errorf("an empty table: %s", b)
	}
	if b, _, _ := Encode(&layer.Table{Columns: []string{"a", "b"}}, "csv", Options{}); string(b) != "a,b\n" {
		t.Errorf("an empty table as csv: %q", b)
	}
}

func TestParseOptions(t *testing.T) {
	o, err := ParseOptions(url.Values{}, nil)
	if err != nil || o.buffer() != DefaultBuffer || o.precision() != DefaultPrecision || o.layer() != "udf" || o.Canonical() != "" {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	o, err = ParseOptions(url.Values{"buffer": {"0"}, "precision": {"15"}}, url.Values{"buffer": {"32"}, "precision": {"3"}})
	if err != nil || o.buffer() != 0 || o.precision() != 15 || o.Canonical() != "|buffer=0|precision=15" {
		t.Fatalf("query over defaults: buffer %d precision %d %q %v", o.buffer(), o.precision(), o.Canonical(), err)
	}
	o, _ = ParseOptions(url.Values{}, url.Values{"buffer": {"32"}})
	if o.buffer() != 32 {
		t.Errorf("buffer from defaults: %d", o.buffer())
	}
	for _, q := range []string{"precision=16", "precision=-1", "precision=2.5", "precision=x", "buffer=257", "buffer=-1", "buffer=1.5"} {
		v, _ := url.ParseQuery(q)
		_, err := ParseOptions(v, nil)
		name, _, _ := strings.Cut(q, "=")
		if layer.KindOf(err) != layer.BadRequest || !strings.Contains(err.Error(), "parameter "+name) {
			t.Errorf("%s: %v, want 400 naming the parameter", q, err)
		}
	}
}

// benchTile encodes all 177 countries into one tile.
func benchTile(b *testing.B, tl tiles.Tile) {
	src := countries(b)
	o := Options{Tile: &tl}
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if out, _, err = Encode(src, "mvt", o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(out)), "bytes")
	b.ReportMetric(float64(len(decodeMVT(b, out)[0].Features)), "features")
}

// BenchmarkMVT encodes every country into a zoom-2 tile (Europe, Africa's north,
// Russia's west: 2/2/1) and a zoom-6 tile (the Alps: 6/33/22).
func BenchmarkMVT(b *testing.B) {
	b.Run("z2", func(b *testing.B) { benchTile(b, tiles.Tile{Z: 2, X: 2, Y: 1}) })
	b.Run("z6", func(b *testing.B) { benchTile(b, tiles.Tile{Z: 6, X: 33, Y: 22}) })
}

// BenchmarkGeoJSON encodes every country, unclipped, to 7 decimals.
func BenchmarkGeoJSON(b *testing.B) {
	src := countries(b)
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if out, _, err = Encode(src, "geojson", Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(out)), "bytes")
}
