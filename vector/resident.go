package vector

import (
	"context"
	"fmt"
	"math"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/layer"
)

// A small layer in lon/lat is read into memory once, when it is indexed:
// every feature converted as a read converts it (linearised, repaired), with
// the values of the served columns. Its tiles are then cut from memory: a grid
// of cells finds the features whose envelope meets the tile, the exact test is
// made in Go, and neither the file, its spatial index nor GEOS is touched. A
// tile costs microseconds instead of a query; what it holds is what the file
// gives. Reads with filter= still go to the file (the filter is SQL, run by
// OGR), as do larger layers.

// Limits of a resident layer.
const (
	residentFeatures = 50_000
	residentBytes    = 96 << 20 // WKB size of the converted geometries
	residentGrid     = 64       // cells across the layer's extent
)

// residentFeature is one feature of a resident layer.
type residentFeature struct {
	fid    int64
	g      orb.Geometry // lon/lat, as converted; shared by every result: read-only
	bound  orb.Bound    // g's, or for a feature skipped (g nil) its envelope in the overview
	status int          // what converting it did
	key    rankKey
	vals   []any // values of the layer's served columns (state.cols), in order
}

// resident is a layer held in memory.
type resident struct {
	feats []residentFeature
	// cells[i] lists the features whose envelope meets cell i of a
	// residentGrid² grid over ext.
	cells        [][]int32
	ext          orb.Bound
	cellW, cellH float64
	cols         []string // state.cols' names, the order of vals
}

// loadResident reads the whole layer, or returns nil when it is too large or
// cannot be read through (tiles then read the file).
func loadResident(path, layer string, st *state) (*resident, error) {
	src, err := openSource(path, layer)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	// Every served column is read; the others are ignored.
	served := map[string]bool{}
	r := &resident{}
	for _, c := range st.cols {
		served[c.Name] = true
		r.cols = append(r.cols, c.Name)
	}
	var ignored []string
	for _, c := range st.all {
		if !served[c.Name] {
			ignored = append(ignored, c.Name)
		}
	}
	if err := src.query(nil, "", ignored); err != nil {
		return nil, err
	}
	bytes := 0
	first := true
	for {
		f, ok := src.next(0)
		if !ok {
			break
		}
		if len(r.feats) >= residentFeatures {
			f.release()
			return nil, nil
		}
		b, status, free := src.geometry(f)
		e := residentFeature{fid: f.fid, status: status, key: newRankKey(f.cls, f.size, f.fid)}
		bytes += len(b)
		if b != nil {
			g, err := wkb.Unmarshal(b)
			if err == nil && g != nil {
				e.g, e.bound = g, g.Bound()
			} else {
				e.status = geomInvalid
			}
		}
		free()
		vals := properties(f, st.cols)
		f.release()
		for _, c := range r.cols {
			e.vals = append(e.vals, vals[c])
		}
		if bytes > residentBytes {
			return nil, nil
		}
		if e.g != nil || e.bound != (orb.Bound{}) {
			if first {
				r.ext, first = e.bound, false
			} else {
				r.ext = r.ext.Union(e.bound)
			}
		}
		r.feats = append(r.feats, e)
	}
	if err := src.err(); err != nil {
		return nil, err
	}
	// A skipped feature is still reported by the tiles it meets: its envelope
	// comes from the overview.
	skipped := map[int64]int{}
	for i, f := range r.feats {
		if f.g == nil {
			skipped[f.fid] = i
		}
	}
	if ov := st.ov; ov != nil && len(skipped) > 0 {
		for k, fid := range ov.fid {
			if i, ok := skipped[fid]; ok {
				e := ov.env[4*k : 4*k+4]
				r.feats[i].bound = orb.Bound{Min: orb.Point{float64(e[0]), float64(e[1])}, Max: orb.Point{float64(e[2]), float64(e[3])}}
			}
		}
	}
	r.index()
	return r, nil
}

// index fills the grid.
func (r *resident) index() {
	r.cells = make([][]int32, residentGrid*residentGrid)
	r.cellW = math.Max((r.ext.Max[0]-r.ext.Min[0])/residentGrid, 1e-12)
	r.cellH = math.Max((r.ext.Max[1]-r.ext.Min[1])/residentGrid, 1e-12)
	for i, f := range r.feats {
		if f.bound.IsZero() && f.g == nil {
			continue // not in the overview either
		}
		c0, r0, c1, r1 := r.cellRange(f.bound.Min[0], f.bound.Min[1], f.bound.Max[0], f.bound.Max[1])
		for y := r0; y <= r1; y++ {
			for x := c0; x <= c1; x++ {
				r.cells[y*residentGrid+x] = append(r.cells[y*residentGrid+x], int32(i))
			}
		}
	}
}

// cellRange is the cells a box meets, clamped to the grid.
func (r *resident) cellRange(minx, miny, maxx, maxy float64) (c0, r0, c1, r1 int) {
	cl := func(v float64) int { return max(0, min(residentGrid-1, int(math.Floor(v)))) }
	return cl((minx - r.ext.Min[0]) / r.cellW), cl((miny - r.ext.Min[1]) / r.cellH),
		cl((maxx - r.ext.Min[0]) / r.cellW), cl((maxy - r.ext.Min[1]) / r.cellH)
}

// read is Layer.direct from memory: the features meeting rect (nil = all),
// at least thr in size, up to q.limit by rank.
func (r *resident) read(ctx context.Context, q query, rect *[4]float64, oc *outcome) ([]kept, error) {
	var cand []int32
	if rect == nil {
		for i := range r.feats {
			cand = append(cand, int32(i))
		}
	} else {
		if rect[2] < r.ext.Min[0] || rect[3] < r.ext.Min[1] || r.ext.Max[0] < rect[0] || r.ext.Max[1] < rect[1] {
			return nil, nil
		}
		c0, r0, c1, r1 := r.cellRange(rect[0], rect[1], rect[2], rect[3])
		seen := map[int32]bool{}
		for y := r0; y <= r1; y++ {
			for x := c0; x <= c1; x++ {
				for _, i := range r.cells[y*residentGrid+x] {
					if !seen[i] {
						seen[i] = true
						cand = append(cand, i)
					}
				}
			}
		}
	}
	pick := make([]int, len(q.cols))
	for k, c := range q.cols {
		pick[k] = -1
		for j, name := range r.cols {
			if name == c.Name {
				pick[k] = j
			}
		}
	}
	var out []kept
	for n, i := range cand {
		if n%1024 == 0 && ctx.Err() != nil {
			return nil, layer.Errorf(layer.Timeout, "reading the layer: %v", ctx.Err())
		}
		f := &r.feats[i]
		if f.key.cls != 1 && f.key.size < q.thr {
			continue
		}
		if f.g == nil {
			// Skipped when converted: counted where its envelope is, as a read
			// of the file counts it.
			if rect == nil || !(f.bound.Max[0] < rect[0] || f.bound.Max[1] < rect[1] || rect[2] < f.bound.Min[0] || rect[3] < f.bound.Min[1]) {
				oc.note(f.status, f.fid)
			}
			continue
		}
		if rect != nil && !meetsRect(f.g, f.bound, rect) {
			continue
		}
		oc.note(f.status, f.fid)
		gf := geojson.NewFeature(f.g)
		gf.ID = f.fid
		gf.Properties = make(map[string]any, len(q.cols))
		for k, c := range q.cols {
			if pick[k] < 0 {
				return nil, fmt.Errorf("column %s is not held in memory", c.Name)
			}
			gf.Properties[c.Name] = f.vals[pick[k]]
		}
		out = append(out, kept{key: f.key, f: gf})
	}
	return truncate(out, q.limit, oc), nil
}

// meetsRect is the test OGR's spatial filter makes (see geom_intersects): the
// envelope, then a vertex inside the rect, then the geometries' intersection
// (boundaries touching count), here computed in Go.
func meetsRect(g orb.Geometry, b orb.Bound, rect *[4]float64) bool {
	if b.Max[0] < rect[0] || b.Max[1] < rect[1] || rect[2] < b.Min[0] || rect[3] < b.Min[1] {
		return false
	}
	if b.Min[0] >= rect[0] && b.Min[1] >= rect[1] && b.Max[0] <= rect[2] && b.Max[1] <= rect[3] {
		return true
	}
	return intersectsRect(g, rect)
}

func inRect(p orb.Point, r *[4]float64) bool {
	return p[0] >= r[0] && p[1] >= r[1] && p[0] <= r[2] && p[1] <= r[3]
}

func intersectsRect(g orb.Geometry, r *[4]float64) bool {
	switch v := g.(type) {
	case orb.Point:
		return inRect(v, r)
	case orb.MultiPoint:
		for _, p := range v {
			if inRect(p, r) {
				return true
			}
		}
	case orb.LineString:
		return pathMeetsRect(v, r)
	case orb.MultiLineString:
		for _, l := range v {
			if pathMeetsRect(l, r) {
				return true
			}
		}
	case orb.Ring:
		return polygonMeetsRect(orb.Polygon{v}, r)
	case orb.Polygon:
		return polygonMeetsRect(v, r)
	case orb.MultiPolygon:
		for _, p := range v {
			if polygonMeetsRect(p, r) {
				return true
			}
		}
	case orb.Collection:
		for _, m := range v {
			if intersectsRect(m, r) {
				return true
			}
		}
	case orb.Bound:
		return !(v.Max[0] < r[0] || v.Max[1] < r[1] || r[2] < v.Min[0] || r[3] < v.Min[1])
	}
	return false
}

// pathMeetsRect: a vertex inside, or a segment crossing an edge of the rect.
func pathMeetsRect(pts []orb.Point, r *[4]float64) bool {
	for i, p := range pts {
		if inRect(p, r) {
			return true
		}
		if i == 0 {
			continue
		}
		a := pts[i-1]
		// Most segments lie wholly on one side of the rect.
		if a[0] < r[0] && p[0] < r[0] || a[0] > r[2] && p[0] > r[2] || a[1] < r[1] && p[1] < r[1] || a[1] > r[3] && p[1] > r[3] {
			continue
		}
		if segmentMeetsRect(a, p, r) {
			return true
		}
	}
	return false
}

// segmentMeetsRect clips segment ab to the rect (Liang–Barsky), closed.
func segmentMeetsRect(a, b orb.Point, r *[4]float64) bool {
	t0, t1 := 0.0, 1.0
	dx, dy := b[0]-a[0], b[1]-a[1]
	for _, e := range [4][2]float64{{-dx, a[0] - r[0]}, {dx, r[2] - a[0]}, {-dy, a[1] - r[1]}, {dy, r[3] - a[1]}} {
		p, q := e[0], e[1]
		if p == 0 {
			if q < 0 {
				return false
			}
			continue
		}
		t := q / p
		if p < 0 {
			t0 = math.Max(t0, t)
		} else {
			t1 = math.Min(t1, t)
		}
		if t0 > t1 {
			return false
		}
	}
	return true
}

// polygonMeetsRect: a ring meets the rect, or the rect lies inside the
// polygon (a corner inside the shell and in no hole).
func polygonMeetsRect(p orb.Polygon, r *[4]float64) bool {
	if len(p) == 0 {
		return false
	}
	for _, ring := range p {
		if pathMeetsRect(ring, r) {
			return true
		}
	}
	c := orb.Point{r[0], r[1]}
	if !ringContains(p[0], c) {
		return false
	}
	for _, hole := range p[1:] {
		if ringContains(hole, c) {
			return false
		}
	}
	return true
}

// ringContains is the even–odd test of a point against a ring.
func ringContains(ring orb.Ring, pt orb.Point) bool {
	in := false
	for i, j := 0, len(ring)-1; i < len(ring); j, i = i, i+1 {
		a, b := ring[i], ring[j]
		if (a[1] > pt[1]) != (b[1] > pt[1]) && pt[0] < (b[0]-a[0])*(pt[1]-a[1])/(b[1]-a[1])+a[0] {
			in = !in
		}
	}
	return in
}
