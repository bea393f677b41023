package render

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/render/tilegeom"
	"github.com/udftiles/udftiles/tiles"
)

// geomReader builds geometries from fuzz bytes; once they run out it reads zeros.
// Most coordinates land in or near the tile, the others are special values:
// NaN, infinities, the largest floats, the poles and the antimeridian, or any
// float64 at all.
type geomReader struct {
	b    []byte
	near tiles.Bounds // the tile in lon/lat
}

func (r *geomReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *geomReader) uint16() uint16 { return uint16(r.byte())<<8 | uint16(r.byte()) }

func (r *geomReader) coord(lo, hi, pole float64) float64 {
	switch k := r.byte(); k % 32 {
	case 0:
		return math.NaN()
	case 1:
		return math.Inf(1)
	case 2:
		return math.Inf(-1)
	case 3:
		return math.MaxFloat64
	case 4:
		return -math.MaxFloat64
	case 5:
		return 1e300
	case 6:
		return 0
	case 7:
		return pole
	case 8:
		return -pole
	case 9:
		var b [8]byte
		for i := range b {
			b[i] = r.byte()
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b[:]))
	case 10:
		return tiles.MaxLat
	default: // from a tile left of the tile to a tile right of it
		return lo + (float64(r.uint16())/65535*3-1)*(hi-lo)
	}
}

func (r *geomReader) point() orb.Point {
	return orb.Point{r.coord(r.near.MinX, r.near.MaxX, 180), r.coord(r.near.MinY, r.near.MaxY, 90)}
}

func (r *geomReader) points(n int) []orb.Point {
	pts := make([]orb.Point, n)
	for i := range pts {
		pts[i] = r.point()
	}
	return pts
}

// ring is open, closed, or empty, of up to 47 vertices: long rings are reduced
// before projecting.
func (r *geomReader) ring() orb.Ring {
	k := r.byte()
	ring := orb.Ring(r.points(int(k % 48)))
	if k&0x80 != 0 && len(ring) > 0 {
		ring = append(ring, ring[0])
	}
	return ring
}

func (r *geomReader) polygon() orb.Polygon {
	p := make(orb.Polygon, r.byte()%4)
	for i := range p {
		p[i] = r.ring()
	}
	return p
}

func (r *geomReader) geometry(depth int) orb.Geometry {
	switch r.byte() % 10 {
	case 0:
		return r.point()
	case 1:
		return orb.MultiPoint(r.points(int(r.byte() % 8)))
	case 2:
		return orb.LineString(r.points(int(r.byte() % 16)))
	case 3:
		ml := make(orb.MultiLineString, r.byte()%4)
		for i := range ml {
			ml[i] = orb.LineString(r.points(int(r.byte() % 16)))
		}
		return ml
	case 4:
		return r.ring()
	case 5:
		return r.polygon()
	case 6:
		mp := make(orb.MultiPolygon, r.byte()%4)
		for i := range mp {
			mp[i] = r.polygon()
		}
		return mp
	case 7:
		if depth >= 3 {
			return nil
		}
		c := make(orb.Collection, r.byte()%4)
		for i := range c {
			c[i] = r.geometry(depth + 1)
		}
		return c
	case 8:
		return orb.Bound{Min: r.point(), Max: r.point()}
	}
	return nil
}

// fuzzValues are property values and ids of every kind MVT and GeoJSON handle.
var fuzzValues = []any{
	nil, "name", "", true, 0.0, 3.0, 2.5, -1e-7, math.NaN(), math.Inf(1), float32(0.25), float32(math.Inf(-1)),
	7, int64(math.MinInt64), uint8(200), uint64(math.MaxUint64), json.Number("9007199254740993"), json.Number("3.0"),
	json.Number("1e400"), json.Number("-12345678901234567890123"), json.Number("x"), map[string]any{"a": []any{1, "b"}},
	map[string]any{"nan": math.NaN()}, []int{1, 2}, new(int), (*int)(nil), make(chan int), "Zoë\u2028\x00",
}

// fuzzFeatures reads up to 8 features from r.
func fuzzFeatures(r *geomReader) *layer.Features {
	fc := geojson.NewFeatureCollection()
	for i := 0; i < 8 && len(r.b) > 0; i++ {
		k := r.byte()
		if k == 0xff {
			fc.Features = append(fc.Features, nil)
			continue
		}
		f := &geojson.Feature{Type: "Feature", ID: fuzzValues[int(k)%len(fuzzValues)], Geometry: r.geometry(0), Properties: geojson.Properties{}}
		for n := r.byte() % 4; n > 0; n-- {
			f.Properties[fmt.Sprintf("p%d", r.byte()%8)] = fuzzValues[int(r.byte())%len(fuzzValues)]
		}
		fc.Features = append(fc.Features, f)
	}
	return &layer.Features{Collection: fc}
}

// FuzzVectorEncoding encodes random features (points, lines, polygons with
// holes, multis, collections and bounds, with NaN, infinite, huge and
// far-away coordinates and empty rings) as MVT, GeoJSON, CSV and GeoParquet.
// Nothing panics. An MVT decodes with orb into one layer whose coordinates lie
// in the buffered tile and whose polygons are valid. GeoJSON fails exactly
// when a coordinate is not finite; otherwise it decodes with encoding/json to
// the features given, coordinates rounded to the precision asked for.
func FuzzVectorEncoding(f *testing.F) {
	// Seeds in geomReader's encoding: rel(u) is a coordinate u/65535 of the
	// way across three tiles, the tile itself from rel(0x5555) to rel(0xaaaa).
	rel := func(u uint16) []byte { return []byte{11, byte(u >> 8), byte(u)} }
	const nan, inf, maxf, negMaxf = 0, 1, 3, 4
	pt := func(x, y uint16) []byte { return append(rel(x), rel(y)...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	square := func(lo, hi uint16) []byte { // a closed ring of 4 vertices
		return cat([]byte{0x80 | 5}, pt(lo, lo), pt(hi, lo), pt(hi, hi), pt(lo, hi), pt(lo, lo))
	}
	feature := func(geom []byte) []byte { return cat([]byte{1}, geom, []byte{0}) }
	center := pt(0x7fff, 0x7fff)
	for _, s := range []struct {
		z       uint8
		x, y    uint32
		buffer  uint16
		prec    uint8
		feature []byte
	}{
		{0, 0, 0, 64, 7, nil},
		// A point, a line across the tile, a polygon with a hole, with properties.
		{4, 8, 5, 64, 7, cat([]byte{1, 0}, center, []byte{3, 0, 1, 1, 4, 2, 9})},
		{4, 8, 5, 64, 7, feature(cat([]byte{2, 2}, pt(0, 0x7000), pt(0xffff, 0x9000)))},
		{4, 8, 5, 0, 2, feature(cat([]byte{5, 2}, square(0x6000, 0xa000), square(0x7000, 0x9000)))},
		// A polygon with an empty hole, and one crossing itself.
		{1, 0, 0, 64, 7, feature(cat([]byte{5, 2}, square(0x6000, 0xa000), []byte{0}))},
		{9, 300, 200, 64, 7, feature(cat([]byte{5, 1, 0x80 | 5}, pt(0x6000, 0x6000), pt(0xa000, 0xa000), pt(0xa000, 0x6000), pt(0x6000, 0xa000), pt(0x6000, 0x6000)))},
		// NaN and infinite coordinates; a line from the largest negative to the largest float.
		{2, 1, 1, 64, 7, feature(cat([]byte{0, nan}, rel(0x7fff)))},
		{2, 1, 1, 64, 7, feature(cat([]byte{8}, center, []byte{inf}, rel(0x9000)))},
		{3, 2, 2, 256, 15, feature(cat([]byte{2, 2, negMaxf}, rel(0x7fff), []byte{maxf}, rel(0x7fff)))},
		// A ring of 40 vertices at zoom 30, reduced before it is projected.
		{30, 1 << 29, 1 << 29, 64, 3, feature(cat([]byte{4, 40}, bytes.Repeat(cat(pt(0x1000, 0x1000), pt(0xf000, 0x1000), pt(0xf000, 0xf000), pt(0x1000, 0xf000)), 10)))},
		// A collection of a nil, a bound and a multipolygon; a nil feature.
		{5, 10, 12, 64, 7, cat(feature(cat([]byte{7, 3, 9, 8}, pt(0x6000, 0x6000), pt(0x9000, 0x9000), []byte{6, 1, 1}, square(0x5000, 0xb000))), []byte{0xff})},
	} {
		f.Add(s.z, s.x, s.y, s.buffer, s.prec, s.feature)
	}
	f.Fuzz(func(t *testing.T, z uint8, x, y uint32, buffer uint16, precision uint8, geom []byte) {
		tl := tiles.Tile{Z: int(z) % (tiles.MaxZoom + 1)}
		tl.X, tl.Y = int(x)%(1<<tl.Z), int(y)%(1<<tl.Z)
		r := &geomReader{b: geom, near: tl.LonLat()}
		feats := fuzzFeatures(r)
		buf, prec := int(buffer)%(MaxBuffer+1), int(precision)%16
		o := Options{Tile: &tl, Buffer: &buf, Precision: &prec, Layer: "fuzz"}

		b, err := MVT(feats, tl, o)
		if err != nil {
			t.Fatalf("MVT: %v", err)
		}
		checkMVT(t, b, buf)

		b, err = GeoJSON(feats, prec)
		checkGeoJSON(t, feats, b, err, prec)

		if _, _, err := Encode(feats, "csv", o); err != nil {
			t.Fatalf("CSV: %v", err)
		}
		_, _, _ = Encode(feats, "parquet", o) // fails on non-finite coordinates

	})
}

// checkMVT decodes a tile and checks its layer, extent and geometries.
func checkMVT(t *testing.T, b []byte, buf int) {
	if len(b) == 0 {
		return
	}
	ls, err := mvt.Unmarshal(b)
	if err != nil {
		t.Fatalf("the MVT does not decode: %v", err)
	}
	if len(ls) != 1 || ls[0].Name != "fuzz" || ls[0].Extent != mvtExtent || len(ls[0].Features) == 0 {
		t.Fatalf("the MVT has %d layers, want one named fuzz with features", len(ls))
	}
	lim := float64(buf*mvtExtent/256) + 1 // repairs move a vertex by a unit
	in := func(p orb.Point) bool {
		return p[0] >= -lim && p[1] >= -lim && p[0] <= mvtExtent+lim && p[1] <= mvtExtent+lim
	}
	for _, f := range ls[0].Features {
		var polys []orb.Polygon
		switch g := f.Geometry.(type) {
		case orb.Point:
			if !in(g) {
				t.Fatalf("point %v outside the buffered tile ±%g", g, lim)
			}
		case orb.MultiPoint:
			for _, p := range g {
				if !in(p) {
					t.Fatalf("point %v outside the buffered tile ±%g", p, lim)
				}
			}
		case orb.LineString:
			checkLine(t, g, in, lim)
		case orb.MultiLineString:
			for _, l := range g {
				checkLine(t, l, in, lim)
			}
		case orb.Polygon:
			polys = []orb.Polygon{g}
		case orb.MultiPolygon:
			polys = g
		default:
			t.Fatalf("a %T in the tile", f.Geometry)
		}
		var parts []tilegeom.Polygon
		for _, p := range polys {
			var ip tilegeom.Polygon
			for _, r := range p {
				if len(r) < 4 || !r.Closed() {
					t.Fatalf("ring %v: not closed or under 3 vertices", r)
				}
				ir := make(tilegeom.Ring, len(r)-1)
				for i, q := range r[:len(r)-1] {
					if !in(q) {
						t.Fatalf("vertex %v outside the buffered tile ±%g", q, lim)
					}
					ir[i] = tilegeom.Point{X: int64(q[0]), Y: int64(q[1])}
				}
				ip = append(ip, ir)
			}
			parts = append(parts, ip)
		}
		if f, bad := tilegeom.FindFault(parts); bad {
			t.Fatalf("invalid polygons in the tile, fault %+v: %v", f, polys)
		}
	}
}

func checkLine(t *testing.T, l orb.LineString, in func(orb.Point) bool, lim float64) {
	if len(l) < 2 {
		t.Fatalf("line %v of under 2 vertices", l)
	}
	for _, p := range l {
		if !in(p) {
			t.Fatalf("line vertex %v outside the buffered tile ±%g", p, lim)
		}
	}
}

// checkGeoJSON checks GeoJSON's answer against the features written.
func checkGeoJSON(t *testing.T, feats *layer.Features, b []byte, err error, prec int) {
	var want []*geojson.Feature
	finite := true
	for _, f := range feats.Collection.Features {
		if f != nil {
			want = append(want, f)
			finite = finite && allFinite(f.Geometry)
		}
	}
	if !finite {
		if layer.KindOf(err) != layer.Failed {
			t.Fatalf("GeoJSON of a non-finite coordinate: error %v, want a Failed error", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("GeoJSON: %v", err)
	}
	var got struct {
		Type     string `json:"type"`
		Features []struct {
			Type       string          `json:"type"`
			Geometry   json.RawMessage `json:"geometry"`
			Properties map[string]any  `json:"properties"`
		} `json:"features"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("the GeoJSON does not decode: %v\n%.2000s", err, b)
	}
	if got.Type != "FeatureCollection" || len(got.Features) != len(want) {
		t.Fatalf("GeoJSON %q of %d features, want a FeatureCollection of %d", got.Type, len(got.Features), len(want))
	}
	tol := 0.5*math.Pow10(-prec) + 1e-9*math.Pow10(-prec)
	for i, f := range got.Features {
		var g any
		if err := json.Unmarshal(f.Geometry, &g); err != nil {
			t.Fatal(err)
		}
		if err := sameGeometry(g, want[i].Geometry, tol); err != nil {
			t.Fatalf("feature %d: %v\n%s", i, err, f.Geometry)
		}
		if len(f.Properties) != len(want[i].Properties) {
			t.Fatalf("feature %d: properties %v, want %d", i, f.Properties, len(want[i].Properties))
		}
	}
}

func allFinite(g orb.Geometry) bool {
	ok := true
	each(g, func(p orb.Point) {
		ok = ok && !math.IsNaN(p[0]) && !math.IsInf(p[0], 0) && !math.IsNaN(p[1]) && !math.IsInf(p[1], 0)
	})
	return ok
}

// each calls fn for every point of g, as GeoJSON writes them.
func each(g orb.Geometry, fn func(orb.Point)) {
	switch g := g.(type) {
	case orb.Point:
		fn(g)
	case orb.MultiPoint:
		for _, p := range g {
			fn(p)
		}
	case orb.LineString:
		for _, p := range g {
			fn(p)
		}
	case orb.Ring:
		for _, p := range g {
			fn(p)
		}
	case orb.MultiLineString:
		for _, l := range g {
			each(l, fn)
		}
	case orb.Polygon:
		for _, r := range g {
			each(r, fn)
		}
	case orb.MultiPolygon:
		for _, p := range g {
			each(p, fn)
		}
	case orb.Collection:
		for _, c := range g {
			each(c, fn)
		}
	case orb.Bound:
		each(g.ToPolygon(), fn)
	}
}

// sameGeometry compares decoded GeoJSON with the geometry written.
func sameGeometry(got any, want orb.Geometry, tol float64) error {
	if want == nil {
		if got != nil {
			return fmt.Errorf("%v for a nil geometry", got)
		}
		return nil
	}
	switch w := want.(type) {
	case orb.Bound:
		want = w.ToPolygon()
	case orb.Ring:
		want = orb.Polygon{w}
	}
	m, ok := got.(map[string]any)
	if !ok || m["type"] != want.GeoJSONType() {
		return fmt.Errorf("%v, want a %s", got, want.GeoJSONType())
	}
	if c, ok := withoutNil(want).(orb.Collection); ok {
		gs, _ := m["geometries"].([]any)
		if len(gs) != len(c) {
			return fmt.Errorf("%d geometries, want %d", len(gs), len(c))
		}
		for i := range c {
			if err := sameGeometry(gs[i], c[i], tol); err != nil {
				return err
			}
		}
		return nil
	}
	return sameCoords(m["coordinates"], coords(want), tol)
}

// coords is the coordinates member GeoJSON writes for g: rings closed.
func coords(g orb.Geometry) any {
	pt := func(p orb.Point) any { return []any{p[0], p[1]} }
	pts := func(ps []orb.Point, ring bool) any {
		out := []any{}
		for _, p := range ps {
			out = append(out, pt(p))
		}
		if ring && len(ps) > 0 && ps[0] != ps[len(ps)-1] {
			out = append(out, pt(ps[0]))
		}
		return out
	}
	poly := func(p orb.Polygon) any {
		out := []any{}
		for _, r := range p {
			out = append(out, pts(r, true))
		}
		return out
	}
	switch g := g.(type) {
	case orb.Point:
		return pt(g)
	case orb.MultiPoint:
		return pts(g, false)
	case orb.LineString:
		return pts(g, false)
	case orb.MultiLineString:
		out := []any{}
		for _, l := range g {
			out = append(out, pts(l, false))
		}
		return out
	case orb.Polygon:
		return poly(g)
	case orb.MultiPolygon:
		out := []any{}
		for _, p := range g {
			out = append(out, poly(p))
		}
		return out
	}
	panic(fmt.Sprintf("coords: %T", g))
}

func sameCoords(got, want any, tol float64) error {
	switch w := want.(type) {
	case float64:
		g, ok := got.(float64)
		if !ok || math.Abs(g-w) > tol+1e-15*math.Abs(w) {
			return fmt.Errorf("coordinate %v, want %v (±%g)", got, w, tol)
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%v, want %v", got, w)
		}
		for i := range w {
			if err := sameCoords(g[i], w[i], tol); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unexpected %T", want)
}
