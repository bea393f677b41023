package render

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/render/tilegeom"
	"github.com/udftiles/udftiles/tiles"
)

// MVT settings.
const (
	// DefaultLayer names the one layer of a tile: Fused's, so that a style's
	// source-layer: 'udf' works unchanged.
	DefaultLayer = "udf"
	// DefaultBuffer is the margin kept around a tile, in pixels of a 256 px tile,
	// so that lines and polygon edges continue past the tile's edge when drawn.
	DefaultBuffer = 64
	// MaxBuffer is one whole tile on each side.
	MaxBuffer = 256
	// mvtExtent is the grid of the tile: 4096 units across, 16 per 256 px pixel.
	mvtExtent = 4096
	// mvtTolerance is the simplification tolerance in grid units: half a pixel of
	// a tile drawn 512 px wide, as MapLibre draws vector tiles. One tolerance in
	// tile space is a tolerance per zoom on the ground.
	mvtTolerance = 4.0
)

// MVT encodes features as a Mapbox Vector Tile (version 2) of tile t with one
// layer. Geometries are clipped to the tile plus the buffer, simplified, snapped
// to the 4096 grid; a valid polygon stays valid (see polygons). A geometry
// collection becomes up to three features of one id and properties: its points,
// its lines, its polygons. A tile with no feature in it is an empty body.
func MVT(f *layer.Features, t tiles.Tile, o Options) ([]byte, error) {
	ts := newTileSpace(t, o.buffer())
	layer := &mvt.Layer{Name: o.layer(), Version: 2, Extent: mvtExtent}
	if f != nil && f.Collection != nil {
		for _, ft := range f.Collection.Features {
			if ft == nil || ft.Geometry == nil {
				continue
			}
			gs := ts.geometries(ft.Geometry)
			if len(gs) == 0 {
				continue
			}
			props := mvtProperties(ft.Properties)
			for _, g := range gs {
				layer.Features = append(layer.Features, &geojson.Feature{ID: ft.ID, Geometry: g, Properties: props})
			}
		}
	}
	if len(layer.Features) == 0 {
		return []byte{}, nil
	}
	return mvt.Marshal(mvt.Layers{layer})
}

// mvtProperties types properties for a tile: integers as int (sint) or uint
// values, other numbers as doubles, strings and booleans as themselves, objects
// and arrays as their JSON text. Nulls and NaNs are left out: a tile has no null.
// A float64 with an integral value is written as an integer, as tippecanoe does:
// GeoJSON, where most properties come from, has one kind of number.
func mvtProperties(p geojson.Properties) geojson.Properties {
	out := make(geojson.Properties, len(p))
	for k, v := range p {
		if tv, ok := mvtValue(v); ok {
			out[k] = tv
		}
	}
	return out
}

func mvtValue(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case string, bool:
		return x, true
	case float64:
		return mvtFloat(x)
	case float32:
		return mvtFloat(float64(x))
	case json.Number:
		s := x.String()
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i, true
			}
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return u, true
			}
		}
		if f, err := x.Float64(); err == nil {
			return f, true
		}
		return s, true // out of a double's range: kept as its digits
	case fmt.Stringer:
		return x.String(), true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u := rv.Uint(); u <= math.MaxInt64 {
			return int64(u), true
		}
		return rv.Uint(), true
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, false
		}
		return mvtValue(rv.Elem().Interface())
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v), true
	}
	return string(b), true
}

func mvtFloat(f float64) (any, bool) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return nil, false
	case f == math.Trunc(f) && math.Abs(f) < 1<<53:
		return int64(f), true
	}
	return f, true
}

// tileSpace projects lon/lat onto one tile's grid and shapes geometries there.
type tileSpace struct {
	n, x, y float64      // tiles across the world at the zoom; the tile
	clip    tilegeom.Box // the tile and its buffer, in grid units
	lonLat  orb.Bound
}

func newTileSpace(t tiles.Tile, bufferPx int) *tileSpace {
	b := float64(bufferPx) * mvtExtent / 256
	ts := &tileSpace{n: math.Exp2(float64(t.Z)), x: float64(t.X), y: float64(t.Y),
		clip: tilegeom.Box{MinX: -b, MinY: -b, MaxX: mvtExtent + b, MaxY: mvtExtent + b}}
	// The buffered tile in lon/lat, to skip far geometries before projecting them.
	ts.lonLat = orb.Bound{Min: ts.unproject(orb.Point{-b, mvtExtent + b}), Max: ts.unproject(orb.Point{mvtExtent + b, -b})}
	if t.Y == 0 { // what lies north of web mercator's edge is drawn on it
		ts.lonLat.Max[1] = 90
	}
	if int(ts.y)+1 == int(ts.n) {
		ts.lonLat.Min[1] = -90
	}
	return ts
}

// near reports whether the lon/lat bounding box of pts meets the buffered tile's,
// so that what lies far away is never projected.
func (ts *tileSpace) near(pts []orb.Point) bool {
	lo, hi := tilegeom.RingBound(pts)
	return hi[0] >= ts.lonLat.Min[0] && lo[0] <= ts.lonLat.Max[0] && hi[1] >= ts.lonLat.Min[1] && lo[1] <= ts.lonLat.Max[1]
}

// maxGrid bounds projected x: far beyond the world at any zoom (2^42 units
// across at zoom 30) and exact in float64, so that clipping a segment to an
// infinite or huge longitude stays finite.
const maxGrid = 1 << 52

// project maps lon/lat to grid units of the tile (y down). A NaN stays NaN
// (see finite); every other coordinate projects to a finite one.
func (ts *tileSpace) project(p orb.Point) orb.Point {
	lat := math.Max(-tiles.MaxLat, math.Min(tiles.MaxLat, p[1]))
	s := math.Sin(lat * math.Pi / 180)
	x := ((p[0]+180)/360*ts.n - ts.x) * mvtExtent
	return orb.Point{
		math.Max(-maxGrid, math.Min(maxGrid, x)),
		((0.5-math.Log((1+s)/(1-s))/(4*math.Pi))*ts.n - ts.y) * mvtExtent,
	}
}

// finite reports whether projected points have no NaN: a line or ring with one
// has no shape to draw.
func finite(pts []orb.Point) bool {
	for _, p := range pts {
		if p[0] != p[0] || p[1] != p[1] {
			return false
		}
	}
	return true
}

func (ts *tileSpace) unproject(p orb.Point) orb.Point {
	x := (p[0]/mvtExtent + ts.x) / ts.n
	y := (p[1]/mvtExtent + ts.y) / ts.n
	return orb.Point{x*360 - 180, math.Atan(math.Sinh(math.Pi*(1-2*y))) * 180 / math.Pi}
}

// geometries shapes a lon/lat geometry for the tile: its points, its lines and
// its polygons, each kind one geometry, those with something in the tile.
func (ts *tileSpace) geometries(g orb.Geometry) []orb.Geometry {
	var pts []orb.Point
	var lines []orb.LineString
	var polys []orb.Polygon
	var walk func(orb.Geometry)
	walk = func(g orb.Geometry) {
		switch g := g.(type) {
		case orb.Point:
			pts = append(pts, g)
		case orb.MultiPoint:
			pts = append(pts, g...)
		case orb.LineString:
			lines = append(lines, g)
		case orb.MultiLineString:
			lines = append(lines, g...)
		case orb.Ring:
			polys = append(polys, orb.Polygon{g})
		case orb.Polygon:
			polys = append(polys, g)
		case orb.MultiPolygon:
			polys = append(polys, g...)
		case orb.Bound:
			polys = append(polys, g.ToPolygon())
		case orb.Collection:
			for _, c := range g {
				walk(c)
			}
		}
	}
	walk(g)
	var out []orb.Geometry
	if g := ts.points(pts); g != nil {
		out = append(out, g)
	}
	if g := ts.lines(lines); g != nil {
		out = append(out, g)
	}
	if g := ts.polygons(polys); g != nil {
		out = append(out, g)
	}
	return out
}

func (ts *tileSpace) points(pts []orb.Point) orb.Geometry {
	var out orb.MultiPoint
	for _, p := range pts {
		q := ts.project(p)
		if !ts.clip.Outside(q) {
			s := tilegeom.Snap(q)
			out = append(out, orb.Point{float64(s.X), float64(s.Y)})
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}

func (ts *tileSpace) lines(lines []orb.LineString) orb.Geometry {
	var out orb.MultiLineString
	for _, l := range lines {
		if len(l) < 2 || !ts.near(l) {
			continue
		}
		pl := make([]orb.Point, len(l))
		for i, p := range l {
			pl[i] = ts.project(p)
		}
		if !finite(pl) {
			continue
		}
		for _, piece := range ts.clip.ClipLine(pl) {
			s := tilegeom.SnapLine(tilegeom.SimplifyLine(piece, mvtTolerance))
			if s == nil {
				continue
			}
			ls := make(orb.LineString, len(s))
			for i, p := range s {
				ls[i] = orb.Point{float64(p.X), float64(p.Y)}
			}
			out = append(out, ls)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}

// polygons clips, simplifies and snaps polygons and keeps them valid: when the
// simplified outline has a fault (see tilegeom.FindFault) the polygons are snapped
// unsimplified; when snapping alone made a fault (two edges closer than a grid
// unit), tilegeom.Repair takes away the vertices or rings behind it. Valid input comes out
// valid; faults of the input itself are repaired the same way.
func (ts *tileSpace) polygons(polys []orb.Polygon) orb.Geometry {
	var clipped [][][]orb.Point
	for _, p := range polys {
		if len(p) == 0 || len(p[0]) < 3 || !ts.near(p[0]) {
			continue
		}
		rings := make([][]orb.Point, 0, len(p))
		for i, r := range p {
			pr := ts.ring(r, i == 0)
			if pr == nil {
				if i == 0 {
					break
				}
				continue
			}
			rings = append(rings, pr)
		}
		if len(rings) > 0 {
			clipped = append(clipped, ts.clip.ClipPolygon(rings)...)
		}
	}
	if len(clipped) == 0 {
		return nil
	}
	parts := snapParts(clipped, mvtTolerance)
	if _, bad := tilegeom.FindFault(parts); bad {
		parts = snapParts(clipped, 0)
		if _, bad := tilegeom.FindFault(parts); bad {
			parts = tilegeom.Repair(parts)
		}
	}
	var out orb.MultiPolygon
	for _, p := range parts {
		poly := make(orb.Polygon, len(p))
		for i, r := range p {
			ring := make(orb.Ring, len(r))
			for j, q := range r {
				ring[j] = orb.Point{float64(q.X), float64(q.Y)}
			}
			poly[i] = ring
		}
		out = append(out, poly)
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}

// ring projects a ring, open and oriented: a shell positive, a hole negative.
// A long ring is first reduced to what matters in this tile (see reduce), and
// then oriented by its area in lon/lat: the projection keeps the orientation
// of a simple ring (it is monotonic in each axis; its y points down).
func (ts *tileSpace) ring(r orb.Ring, shell bool) []orb.Point {
	n := len(r)
	if n > 1 && r[0] == r[n-1] {
		n--
	}
	if n < 3 {
		return nil
	}
	src := []orb.Point(r[:n])
	src0 := src
	reduced := false
	if n > reduceFrom {
		src = ts.reduce(src)
		reduced = len(src) < n
	}
	out := make([]orb.Point, len(src))
	for i := range src {
		out[i] = ts.project(src[i])
	}
	if !finite(out) {
		return nil
	}
	var a float64
	if reduced {
		a = -tilegeom.SignedArea(src0)
	} else {
		a = tilegeom.SignedArea(out)
	}
	if a == 0 || a != a { // no area, or none that can be told (infinite coordinates)
		return nil
	}
	if (a > 0) != shell {
		slices.Reverse(out)
	}
	return out
}

// reduceFrom is the ring length from which rings are reduced before projecting.
const reduceFrom = 32

// reduce shortens a lon/lat ring for this tile: in each run of consecutive
// vertices beyond the same side of the buffered tile (by a margin that no
// rounding of the projection crosses), only the first and the last are kept.
// The path between them lay wholly beyond that side, and so does the straight
// line that replaces it: the segments entering and leaving the tile are the
// ring's own, and whether the ring goes around the tile does not change, so the
// clipped ring is the one the whole ring gives. A ring far larger than the
// tile costs the few vertices near it instead of all of its vertices.
func (ts *tileSpace) reduce(pts []orb.Point) []orb.Point {
	b := ts.lonLat
	mx, my := (b.Max[0]-b.Min[0])/64, (b.Max[1]-b.Min[1])/64
	x0, x1, y0, y1 := b.Min[0]-mx, b.Max[0]+mx, b.Min[1]-my, b.Max[1]+my
	side := func(p orb.Point) int8 {
		switch {
		case p[0] < x0:
			return 1
		case p[0] > x1:
			return 2
		case p[1] < y0:
			return 3
		case p[1] > y1:
			return 4
		}
		return 0
	}
	out := make([]orb.Point, 0, 64)
	for i := 0; i < len(pts); {
		s, j := side(pts[i]), i
		if s != 0 {
			for j+1 < len(pts) && side(pts[j+1]) == s {
				j++
			}
		}
		out = append(out, pts[i])
		if j > i {
			out = append(out, pts[j])
		}
		i = j + 1
	}
	return out
}

// snapParts simplifies (tol > 0) and snaps clipped polygons; rings left without
// area go, and a polygon whose shell goes goes whole.
func snapParts(clipped [][][]orb.Point, tol float64) []tilegeom.Polygon {
	parts := make([]tilegeom.Polygon, 0, len(clipped))
	for _, p := range clipped {
		shell := tilegeom.SnapRing(tilegeom.SimplifyRing(p[0], tol))
		if shell == nil {
			continue
		}
		ip := tilegeom.Polygon{shell}
		for _, h := range p[1:] {
			if r := tilegeom.SnapRing(tilegeom.SimplifyRing(h, tol)); r != nil {
				ip = append(ip, r)
			}
		}
		parts = append(parts, ip)
	}
	return parts
}
