// Package tiles is WebMercatorQuad arithmetic: z/x/y to bounds in EPSG:4326 and
// EPSG:3857 and back, tile ranges covering a bounding box, and TileJSON types.
package tiles

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MaxZoom is the deepest zoom level accepted anywhere in the server.
const MaxZoom = 30

// EarthRadius is the WGS84 semi-major axis used by EPSG:3857.
const EarthRadius = 6378137.0

// OriginShift is half the width of the EPSG:3857 world square, in metres.
const OriginShift = math.Pi * EarthRadius

// MaxLat is the latitude at which EPSG:3857 becomes a square.
var MaxLat = 2*math.Atan(math.Exp(math.Pi))*180/math.Pi - 90

// Tile is one WebMercatorQuad tile: x grows east, y grows south, both from 0.
type Tile struct {
	Z, X, Y int
}

// Bounds is an axis-aligned box: lon/lat degrees in EPSG:4326, metres in EPSG:3857.
type Bounds struct {
	MinX, MinY, MaxX, MaxY float64
}

// New validates z/x/y and returns the tile.
func New(z, x, y int) (Tile, error) {
	t := Tile{Z: z, X: x, Y: y}
	return t, t.Validate()
}

// Validate reports why a tile does not exist in WebMercatorQuad.
func (t Tile) Validate() error {
	if t.Z < 0 || t.Z > MaxZoom {
		return fmt.Errorf("zoom %d out of range [0, %d]", t.Z, MaxZoom)
	}
	n := 1 << uint(t.Z)
	if t.X < 0 || t.X >= n {
		return fmt.Errorf("x %d out of range [0, %d] at zoom %d", t.X, n-1, t.Z)
	}
	if t.Y < 0 || t.Y >= n {
		return fmt.Errorf("y %d out of range [0, %d] at zoom %d", t.Y, n-1, t.Z)
	}
	return nil
}

func (t Tile) String() string { return fmt.Sprintf("%d/%d/%d", t.Z, t.X, t.Y) }

// Size is the width of one tile of zoom z in EPSG:3857 metres.
func Size(z int) float64 { return 2 * OriginShift / float64(uint64(1)<<uint(z)) }

// Mercator returns the tile's bounds in EPSG:3857 metres.
func (t Tile) Mercator() Bounds {
	s := Size(t.Z)
	return Bounds{
		MinX: -OriginShift + float64(t.X)*s,
		MaxX: -OriginShift + float64(t.X+1)*s,
		MaxY: OriginShift - float64(t.Y)*s,
		MinY: OriginShift - float64(t.Y+1)*s,
	}
}

// LonLat returns the tile's bounds in EPSG:4326 degrees.
func (t Tile) LonLat() Bounds {
	n := float64(uint64(1) << uint(t.Z))
	return Bounds{
		MinX: float64(t.X)/n*360 - 180,
		MaxX: float64(t.X+1)/n*360 - 180,
		MaxY: tileLat(float64(t.Y), n),
		MinY: tileLat(float64(t.Y+1), n),
	}
}

func tileLat(y, n float64) float64 {
	return math.Atan(math.Sinh(math.Pi*(1-2*y/n))) * 180 / math.Pi
}

// Parent returns the tile one zoom up that contains t; a z=0 tile is its own parent.
func (t Tile) Parent() Tile {
	if t.Z == 0 {
		return t
	}
	return Tile{Z: t.Z - 1, X: t.X >> 1, Y: t.Y >> 1}
}

// Children returns the four tiles one zoom down, in row-major order.
func (t Tile) Children() [4]Tile {
	z, x, y := t.Z+1, t.X*2, t.Y*2
	return [4]Tile{{z, x, y}, {z, x + 1, y}, {z, x, y + 1}, {z, x + 1, y + 1}}
}

// LonLatToMercator projects degrees to EPSG:3857 metres; latitudes are clamped to MaxLat.
func LonLatToMercator(lon, lat float64) (x, y float64) {
	lat = math.Max(-MaxLat, math.Min(MaxLat, lat))
	x = lon * OriginShift / 180
	y = math.Log(math.Tan((90+lat)*math.Pi/360)) * EarthRadius
	return x, y
}

// MercatorToLonLat unprojects EPSG:3857 metres to degrees.
func MercatorToLonLat(x, y float64) (lon, lat float64) {
	lon = x / OriginShift * 180
	lat = (2*math.Atan(math.Exp(y/EarthRadius)) - math.Pi/2) * 180 / math.Pi
	return lon, lat
}

// ToMercator projects lon/lat bounds to EPSG:3857.
func (b Bounds) ToMercator() Bounds {
	minx, miny := LonLatToMercator(b.MinX, b.MinY)
	maxx, maxy := LonLatToMercator(b.MaxX, b.MaxY)
	return Bounds{minx, miny, maxx, maxy}
}

// ToLonLat unprojects EPSG:3857 bounds to lon/lat.
func (b Bounds) ToLonLat() Bounds {
	minx, miny := MercatorToLonLat(b.MinX, b.MinY)
	maxx, maxy := MercatorToLonLat(b.MaxX, b.MaxY)
	return Bounds{minx, miny, maxx, maxy}
}

// Intersects reports whether two boxes share more than an edge.
func (b Bounds) Intersects(o Bounds) bool {
	return b.MinX < o.MaxX && o.MinX < b.MaxX && b.MinY < o.MaxY && o.MinY < b.MaxY
}

// Contains reports whether o lies inside b (edges included).
func (b Bounds) Contains(o Bounds) bool {
	return o.MinX >= b.MinX && o.MaxX <= b.MaxX && o.MinY >= b.MinY && o.MaxY <= b.MaxY
}

// Center returns the middle of the box.
func (b Bounds) Center() (x, y float64) { return (b.MinX + b.MaxX) / 2, (b.MinY + b.MaxY) / 2 }

// Validate checks that lon/lat bounds are ordered and on the globe.
func (b Bounds) Validate() error {
	for _, v := range []float64{b.MinX, b.MinY, b.MaxX, b.MaxY} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("bounds must be finite numbers")
		}
	}
	if b.MinX >= b.MaxX || b.MinY >= b.MaxY {
		return fmt.Errorf("bounds must be xmin,ymin,xmax,ymax with xmin < xmax and ymin < ymax")
	}
	if b.MinX < -180 || b.MaxX > 180 || b.MinY < -90 || b.MaxY > 90 {
		return fmt.Errorf("bounds must lie within -180,-90,180,90")
	}
	return nil
}

// AtLonLat returns the tile of zoom z that contains the point.
func AtLonLat(lon, lat float64, z int) Tile {
	n := 1 << uint(z)
	x, y := LonLatToMercator(lon, lat)
	s := Size(z)
	tx := clampInt(int(math.Floor((x+OriginShift)/s)), 0, n-1)
	ty := clampInt(int(math.Floor((OriginShift-y)/s)), 0, n-1)
	return Tile{Z: z, X: tx, Y: ty}
}

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// Range is the inclusive block of tiles of one zoom.
type Range struct {
	Z                      int
	MinX, MinY, MaxX, MaxY int
}

// Count is the number of tiles in the range.
func (r Range) Count() int64 { return int64(r.MaxX-r.MinX+1) * int64(r.MaxY-r.MinY+1) }

// Contains reports whether t is in the range.
func (r Range) Contains(t Tile) bool {
	return t.Z == r.Z && t.X >= r.MinX && t.X <= r.MaxX && t.Y >= r.MinY && t.Y <= r.MaxY
}

// Each calls fn for every tile of the range in row-major order until fn returns false.
func (r Range) Each(fn func(Tile) bool) {
	for y := r.MinY; y <= r.MaxY; y++ {
		for x := r.MinX; x <= r.MaxX; x++ {
			if !fn(Tile{Z: r.Z, X: x, Y: y}) {
				return
			}
		}
	}
}

// Cover returns the tiles of zoom z that intersect lon/lat bounds. A box that only
// touches a tile's edge does not include that tile.
func Cover(b Bounds, z int) Range {
	n := 1 << uint(z)
	s := Size(z)
	m := b.ToMercator()
	minx := int(math.Floor(gridCoord(m.MinX+OriginShift, s)))
	maxx := int(math.Ceil(gridCoord(m.MaxX+OriginShift, s))) - 1
	miny := int(math.Floor(gridCoord(OriginShift-m.MaxY, s)))
	maxy := int(math.Ceil(gridCoord(OriginShift-m.MinY, s))) - 1
	if maxx < minx {
		maxx = minx
	}
	if maxy < miny {
		maxy = miny
	}
	return Range{Z: z,
		MinX: clampInt(minx, 0, n-1), MaxX: clampInt(maxx, 0, n-1),
		MinY: clampInt(miny, 0, n-1), MaxY: clampInt(maxy, 0, n-1)}
}

// edgeTolerance is how close, in metres, a projected box edge must be to a tile
// edge to count as lying on it. It absorbs the rounding of the lon/lat to metres
// projection (under 1e-7 m), so that a box built from tile edges in degrees does
// not pick up the neighbouring tiles it only touches.
const edgeTolerance = 1e-6

// gridCoord converts a distance in metres from the grid origin to tile units,
// snapping values within edgeTolerance of a tile edge onto that edge.
func gridCoord(d, s float64) float64 {
	f := d / s
	if r := math.Round(f); math.Abs(f-r)*s < edgeTolerance {
		return r
	}
	return f
}

// ParseBounds reads lon/lat bounds written "xmin,ymin,xmax,ymax" or as a JSON
// list of four numbers, and validates them: the one bounds syntax of the
// query parameters (bounds=, bbox=) and the command line (--bbox).
func ParseBounds(v string) (Bounds, error) {
	v = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(v), "["), "]"))
	parts := strings.Split(v, ",")
	if len(parts) != 4 {
		return Bounds{}, fmt.Errorf("want xmin,ymin,xmax,ymax, got %q", v)
	}
	var f [4]float64
	for i, p := range parts {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return Bounds{}, fmt.Errorf("want xmin,ymin,xmax,ymax as numbers, got %q", strings.TrimSpace(p))
		}
		f[i] = x
	}
	b := Bounds{MinX: f[0], MinY: f[1], MaxX: f[2], MaxY: f[3]}
	return b, b.Validate()
}
