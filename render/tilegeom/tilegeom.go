// Package tilegeom is geometry in tile space, for MVT: clipping to the
// buffered tile, simplification, snapping to the integer grid, and the checks
// (and repairs) that keep a valid polygon valid through all three. Rings are
// open (the last vertex is not the first again); shells have a positive
// signed area in tile coordinates (x right, y down), holes a negative one, as
// the MVT specification wants.
package tilegeom

import (
	"math"
	"slices"

	"github.com/paulmach/orb"
)

// Box is an axis-aligned rectangle in tile coordinates.
type Box struct{ MinX, MinY, MaxX, MaxY float64 }

// Outside reports whether p is not in the Box; a NaN coordinate is in no Box.
func (b Box) Outside(p orb.Point) bool {
	return !(p[0] >= b.MinX && p[0] <= b.MaxX && p[1] >= b.MinY && p[1] <= b.MaxY)
}

func (b Box) containsBound(lo, hi orb.Point) bool {
	return lo[0] >= b.MinX && lo[1] >= b.MinY && hi[0] <= b.MaxX && hi[1] <= b.MaxY
}

func (b Box) disjoint(lo, hi orb.Point) bool {
	return hi[0] < b.MinX || hi[1] < b.MinY || lo[0] > b.MaxX || lo[1] > b.MaxY
}

// corner k of the Box counterclockwise from (minX, minY), at perimeter position k.
func (b Box) corner(k int) orb.Point {
	switch k % 4 {
	case 0:
		return orb.Point{b.MinX, b.MinY}
	case 1:
		return orb.Point{b.MaxX, b.MinY}
	case 2:
		return orb.Point{b.MaxX, b.MaxY}
	}
	return orb.Point{b.MinX, b.MaxY}
}

// snapToEdge moves a point computed on the boundary exactly onto its nearest edge.
func (b Box) snapToEdge(p orb.Point) orb.Point {
	p[0] = math.Min(math.Max(p[0], b.MinX), b.MaxX)
	p[1] = math.Min(math.Max(p[1], b.MinY), b.MaxY)
	d := []float64{p[1] - b.MinY, b.MaxX - p[0], b.MaxY - p[1], p[0] - b.MinX}
	switch slices.Index(d, slices.Min(d)) {
	case 0:
		p[1] = b.MinY
	case 1:
		p[0] = b.MaxX
	case 2:
		p[1] = b.MaxY
	default:
		p[0] = b.MinX
	}
	return p
}

// perimeter is the position of a boundary point along the boundary, 0..4
// counterclockwise from (minX, minY), one unit per edge.
func (b Box) perimeter(p orb.Point) float64 {
	w, h := b.MaxX-b.MinX, b.MaxY-b.MinY
	d := []float64{p[1] - b.MinY, b.MaxX - p[0], b.MaxY - p[1], p[0] - b.MinX}
	switch slices.Index(d, slices.Min(d)) {
	case 0:
		return (p[0] - b.MinX) / w
	case 1:
		return 1 + (p[1]-b.MinY)/h
	case 2:
		return 2 + (b.MaxX-p[0])/w
	}
	return math.Mod(3+(b.MaxY-p[1])/h, 4)
}

// clipSegment returns the part [t0, t1] of the segment a→b inside the Box
// (Liang–Barsky), or ok false when none is.
func (b Box) clipSegment(a, c orb.Point) (t0, t1 float64, ok bool) {
	dx, dy := c[0]-a[0], c[1]-a[1]
	t0, t1 = 0, 1
	for _, pq := range [4][2]float64{{-dx, a[0] - b.MinX}, {dx, b.MaxX - a[0]}, {-dy, a[1] - b.MinY}, {dy, b.MaxY - a[1]}} {
		p, q := pq[0], pq[1]
		if p == 0 {
			if q < 0 {
				return 0, 0, false
			}
			continue
		}
		r := q / p
		if p < 0 {
			t0 = math.Max(t0, r)
		} else {
			t1 = math.Min(t1, r)
		}
		if t0 > t1 {
			return 0, 0, false
		}
	}
	return t0, t1, true
}

func lerp(a, b orb.Point, t float64) orb.Point {
	switch t {
	case 0:
		return a
	case 1:
		return b
	}
	return orb.Point{a[0] + t*(b[0]-a[0]), a[1] + t*(b[1]-a[1])}
}

// chain is a run of a ring inside the Box, from where it comes in through the
// boundary to where it leaves.
type chain struct {
	pts       []orb.Point
	tIn, tOut float64 // perimeter positions of its first and last points
	used      bool
}

// ringChains cuts a ring at the Box's boundary. inside reports a ring with no
// vertex Outside the Box, kept whole; a ring with neither chains nor inside lies
// Outside the Box or around it.
func (b Box) ringChains(r []orb.Point) (chains []*chain, inside bool) {
	start := slices.IndexFunc(r, b.Outside)
	if start < 0 {
		return nil, true
	}
	var cur *chain
	end := func() {
		last := len(cur.pts) - 1
		cur.pts[last] = b.snapToEdge(cur.pts[last])
		cur.tIn, cur.tOut = b.perimeter(cur.pts[0]), b.perimeter(cur.pts[last])
		if len(cur.pts) > 1 {
			chains = append(chains, cur)
		}
		cur = nil
	}
	n := len(r)
	for k := range n {
		a, c := r[(start+k)%n], r[(start+k+1)%n]
		t0, t1, ok := b.clipSegment(a, c)
		if !ok || t1 <= t0 { // Outside, or touching the boundary at one point
			if cur != nil {
				end()
			}
			continue
		}
		if cur != nil && t0 > 0 { // rounding: it had left where the last segment ended
			end()
		}
		if cur == nil {
			cur = &chain{pts: []orb.Point{b.snapToEdge(lerp(a, c, t0))}}
		}
		if t1 < 1 {
			cur.pts = append(cur.pts, lerp(a, c, t1))
			end()
		} else {
			cur.pts = append(cur.pts, c)
		}
	}
	if cur != nil { // the walk ends at the Outside start vertex; rounding aside, never
		end()
	}
	return chains, false
}

// ClipPolygon returns the parts of a polygon inside the Box (Weiler–Atherton
// against a rectangle): each piece of a ring inside the Box is joined to the
// next along the boundary counterclockwise, which, with the interior on the
// left of every ring, outlines the pieces of the interior. Unlike clipping ring
// by ring, a concave polygon cut in several places becomes several polygons, not
// one ring with zero-width bridges along the boundary (which is invalid).
func (b Box) ClipPolygon(rings [][]orb.Point) [][][]orb.Point {
	lo, hi := RingBound(rings[0])
	if b.containsBound(lo, hi) {
		return [][][]orb.Point{rings}
	}
	if b.disjoint(lo, hi) {
		return nil
	}
	center := orb.Point{(b.MinX + b.MaxX) / 2, (b.MinY + b.MaxY) / 2}
	var chains []*chain
	var inner [][]orb.Point // holes wholly inside the Box
	around := false         // the shell goes around the whole Box
	for i, r := range rings {
		cs, inside := b.ringChains(r)
		switch {
		case inside:
			inner = append(inner, r)
		case len(cs) > 0:
			chains = append(chains, cs...)
		case pointInRing(center, r):
			if i > 0 {
				return nil // the Box lies in a hole
			}
			around = true
		}
	}
	var loops [][]orb.Point
	switch {
	case len(chains) > 0:
		loops = b.link(chains)
	case around:
		loops = [][]orb.Point{{b.corner(0), b.corner(1), b.corner(2), b.corner(3)}}
	default:
		return nil
	}
	out := make([][][]orb.Point, len(loops))
	for i, l := range loops {
		out[i] = [][]orb.Point{l}
	}
	for _, h := range inner {
		if i := containingLoop(h, loops); i >= 0 {
			out[i] = append(out[i], h)
		}
	}
	return out
}

// link joins chains into closed loops: from where one leaves the Box, along the
// boundary counterclockwise to the nearest place where one comes in.
func (b Box) link(chains []*chain) [][]orb.Point {
	var loops [][]orb.Point
	for _, first := range chains {
		if first.used {
			continue
		}
		var loop []orb.Point
		for c := first; ; {
			c.used = true
			loop = append(loop, c.pts...)
			next, d := c, math.Inf(1)
			for _, o := range chains {
				if od := math.Mod(o.tIn-c.tOut+4, 4); od < d {
					next, d = o, od
				}
			}
			for k := math.Floor(c.tOut) + 1; k < c.tOut+d; k++ {
				loop = append(loop, b.corner(int(k)))
			}
			if next == first || next.used { // next.used: an invalid input; close what we have
				break
			}
			c = next
		}
		loops = append(loops, loop)
	}
	return loops
}

// containingLoop is the loop holding most of the hole's vertices (vertices
// may touch a loop), or -1.
func containingLoop(h []orb.Point, loops [][]orb.Point) int {
	if len(loops) == 1 {
		return 0
	}
	best, votes := -1, 0
	for i, l := range loops {
		n := 0
		for _, p := range h {
			if pointInRing(p, l) {
				n++
			}
		}
		if n > votes {
			best, votes = i, n
		}
	}
	return best
}

// pointInRing reports whether p is inside the ring (even–odd rule).
func pointInRing(p orb.Point, r []orb.Point) bool {
	in := false
	for i, j := 0, len(r)-1; i < len(r); j, i = i, i+1 {
		a, c := r[j], r[i]
		if (a[1] > p[1]) != (c[1] > p[1]) && p[0] < a[0]+(p[1]-a[1])*(c[0]-a[0])/(c[1]-a[1]) {
			in = !in
		}
	}
	return in
}

func RingBound(r []orb.Point) (lo, hi orb.Point) {
	lo, hi = r[0], r[0]
	for _, p := range r[1:] {
		lo[0], lo[1] = math.Min(lo[0], p[0]), math.Min(lo[1], p[1])
		hi[0], hi[1] = math.Max(hi[0], p[0]), math.Max(hi[1], p[1])
	}
	return lo, hi
}

// SignedArea is twice the ring's signed area.
func SignedArea(r []orb.Point) float64 {
	if len(r) < 3 {
		return 0
	}
	o := r[0] // relative to the first vertex, for precision
	s := 0.0
	for i := 1; i < len(r)-1; i++ {
		s += (r[i][0]-o[0])*(r[i+1][1]-o[1]) - (r[i+1][0]-o[0])*(r[i][1]-o[1])
	}
	return s
}

// ClipLine returns the pieces of a line inside the Box.
func (b Box) ClipLine(l []orb.Point) [][]orb.Point {
	lo, hi := RingBound(l)
	if b.containsBound(lo, hi) {
		return [][]orb.Point{l}
	}
	if b.disjoint(lo, hi) {
		return nil
	}
	var out [][]orb.Point
	var cur []orb.Point
	for i := 0; i+1 < len(l); i++ {
		t0, t1, ok := b.clipSegment(l[i], l[i+1])
		if !ok || t1 <= t0 {
			continue
		}
		p0, p1 := lerp(l[i], l[i+1], t0), lerp(l[i], l[i+1], t1)
		if cur != nil && (t0 > 0 || cur[len(cur)-1] != p0) {
			out, cur = append(out, cur), nil
		}
		if cur == nil {
			cur = []orb.Point{p0}
		}
		cur = append(cur, p1)
		if t1 < 1 {
			out, cur = append(out, cur), nil
		}
	}
	if cur != nil {
		out = append(out, cur)
	}
	return out
}

// SimplifyLine drops the vertices of a line within tol of what remains
// (Douglas–Peucker), keeping both ends.
func SimplifyLine(l []orb.Point, tol float64) []orb.Point {
	if tol <= 0 || len(l) <= 2 {
		return l
	}
	keep := make([]bool, len(l))
	keep[0], keep[len(l)-1] = true, true
	markKept(l, 0, len(l)-1, tol*tol, keep)
	out := make([]orb.Point, 0, len(l))
	for i, p := range l {
		if keep[i] {
			out = append(out, p)
		}
	}
	return out
}

// SimplifyRing is SimplifyLine for a ring, split at its first vertex and the
// vertex farthest from it.
func SimplifyRing(r []orb.Point, tol float64) []orb.Point {
	if tol <= 0 || len(r) <= 3 {
		return r
	}
	far, fd := 0, -1.0
	for i, p := range r {
		if d := dist2(p, r[0]); d > fd {
			far, fd = i, d
		}
	}
	closed := append(r[:len(r):len(r)], r[0])
	keep := make([]bool, len(closed))
	keep[0], keep[far] = true, true
	markKept(closed, 0, far, tol*tol, keep)
	markKept(closed, far, len(r), tol*tol, keep)
	out := make([]orb.Point, 0, len(r))
	for i, p := range r {
		if keep[i] {
			out = append(out, p)
		}
	}
	return out
}

// markKept marks in keep the vertices between i and j that Douglas–Peucker keeps.
func markKept(l []orb.Point, i, j int, tol2 float64, keep []bool) {
	stack := [][2]int{{i, j}}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		far, fd := -1, tol2
		for k := s[0] + 1; k < s[1]; k++ {
			if d := segDist2(l[k], l[s[0]], l[s[1]]); d > fd {
				far, fd = k, d
			}
		}
		if far >= 0 {
			keep[far] = true
			stack = append(stack, [2]int{s[0], far}, [2]int{far, s[1]})
		}
	}
}

func dist2(a, b orb.Point) float64 {
	dx, dy := a[0]-b[0], a[1]-b[1]
	return dx*dx + dy*dy
}

// segDist2 is the squared distance from p to the segment a–b.
func segDist2(p, a, b orb.Point) float64 {
	dx, dy := b[0]-a[0], b[1]-a[1]
	l2 := dx*dx + dy*dy
	if l2 == 0 {
		return dist2(p, a)
	}
	px, py := p[0]-a[0], p[1]-a[1]
	switch dot := px*dx + py*dy; {
	case dot <= 0:
		return px*px + py*py
	case dot >= l2:
		return dist2(p, b)
	}
	c := px*dy - py*dx
	return c * c / l2
}

// Integer geometry: after snapping, every test below is exact.

type Point struct{ X, Y int64 }

// Ring is an open ring on the integer grid; Polygon a shell and its holes.
type (
	Ring    []Point
	Polygon []Ring
)

func Snap(p orb.Point) Point { return Point{int64(math.Round(p[0])), int64(math.Round(p[1]))} }

// SnapLine rounds a line to the grid without repeated vertices; nil if fewer than 2 remain.
func SnapLine(l []orb.Point) []Point {
	out := make([]Point, 0, len(l))
	for _, p := range l {
		q := Snap(p)
		if len(out) == 0 || out[len(out)-1] != q {
			out = append(out, q)
		}
	}
	if len(out) < 2 {
		return nil
	}
	return out
}

// SnapRing rounds a ring to the grid and cleans it.
func SnapRing(r []orb.Point) Ring {
	out := make(Ring, 0, len(r))
	for _, p := range r {
		out = append(out, Snap(p))
	}
	return clean(out)
}

// clean drops repeated vertices and vertices in line with their neighbours
// (which also removes zero-width spikes); nil if no area is left.
func clean(r Ring) Ring {
	out := r[:0]
	for _, p := range r {
		if len(out) > 0 && out[len(out)-1] == p {
			continue
		}
		for len(out) >= 2 && orient(out[len(out)-2], out[len(out)-1], p) == 0 {
			out = out[:len(out)-1]
		}
		if len(out) > 0 && out[len(out)-1] == p {
			continue
		}
		out = append(out, p)
	}
	// The same across the seam between the last vertex and the first.
	for changed := true; changed && len(out) >= 3; {
		changed = false
		n := len(out)
		if out[n-1] == out[0] || orient(out[n-2], out[n-1], out[0]) == 0 {
			out, changed = out[:n-1], true
		} else if orient(out[n-1], out[0], out[1]) == 0 {
			out, changed = out[1:], true
		}
	}
	if len(out) < 3 || out.area2() == 0 {
		return nil
	}
	return out
}

// area2 is twice the signed area.
func (r Ring) area2() int64 {
	var s int64
	for i, j := 0, len(r)-1; i < len(r); j, i = i, i+1 {
		s += r[j].X*r[i].Y - r[i].X*r[j].Y
	}
	return s
}

func orient(a, b, c Point) int64 {
	v := (b.X-a.X)*(c.Y-a.Y) - (b.Y-a.Y)*(c.X-a.X)
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// onSegment reports whether p, in line with a–b, lies within it.
func onSegment(p, a, b Point) bool {
	return min(a.X, b.X) <= p.X && p.X <= max(a.X, b.X) && min(a.Y, b.Y) <= p.Y && p.Y <= max(a.Y, b.Y)
}

// locate says where p is relative to the ring: 1 inside, -1 Outside, 0 on it.
func (r Ring) locate(p Point) int { return r.locateScaled(p, 1) }

// locateScaled is locate for a point given at k times its coordinates.
func (r Ring) locateScaled(p Point, k int64) int {
	in := false
	for i, j := 0, len(r)-1; i < len(r); j, i = i, i+1 {
		a, b := Point{k * r[j].X, k * r[j].Y}, Point{k * r[i].X, k * r[i].Y}
		if orient(a, b, p) == 0 && onSegment(p, a, b) {
			return 0
		}
		if (a.Y > p.Y) != (b.Y > p.Y) && (orient(a, b, p) > 0) == (b.Y > a.Y) {
			in = !in
		}
	}
	if in {
		return 1
	}
	return -1
}

// locateRing says where ring o lies relative to r, by its first vertex not on r.
func (r Ring) locateRing(o Ring) int {
	for _, p := range o {
		if l := r.locate(p); l != 0 {
			return l
		}
	}
	return 0
}

func (r Ring) bound() (lo, hi Point) {
	lo, hi = r[0], r[0]
	for _, p := range r[1:] {
		lo.X, lo.Y = min(lo.X, p.X), min(lo.Y, p.Y)
		hi.X, hi.Y = max(hi.X, p.X), max(hi.Y, p.Y)
	}
	return lo, hi
}

func boundsMeet(alo, ahi, blo, bhi Point) bool {
	return alo.X <= bhi.X && blo.X <= ahi.X && alo.Y <= bhi.Y && blo.Y <= ahi.Y
}

// Fault is the first reason a set of polygons is not valid: a ring, and where
// two rings (or one ring with itself) meet, the segments that do.
type Fault struct {
	part, ring, seg    int // seg -1: the ring is at Fault as a whole
	part2, ring2, seg2 int // the other ring meeting it; part2 -1 if none
}

type segment struct {
	a, b                   Point
	minX, maxX, minY, maxY int64
	part, ring, idx        int
	ringLen                int
}

const (
	noMeet = iota
	meetCross
	meetTouch
	meetOverlap
)

// meet classifies how two segments meet and, for a touch, where.
func meet(p, q *segment) (int, Point) {
	o1, o2 := orient(p.a, p.b, q.a), orient(p.a, p.b, q.b)
	o3, o4 := orient(q.a, q.b, p.a), orient(q.a, q.b, p.b)
	if o1 == 0 && o2 == 0 { // in line: compare along the line
		less := func(u, v Point) bool { return u.X < v.X || (u.X == v.X && u.Y < v.Y) }
		plo, phi := p.a, p.b
		if less(phi, plo) {
			plo, phi = phi, plo
		}
		qlo, qhi := q.a, q.b
		if less(qhi, qlo) {
			qlo, qhi = qhi, qlo
		}
		lo, hi := plo, phi
		if less(lo, qlo) {
			lo = qlo
		}
		if less(qhi, hi) {
			hi = qhi
		}
		switch {
		case less(lo, hi):
			return meetOverlap, Point{}
		case lo == hi:
			return meetTouch, lo
		}
		return noMeet, Point{}
	}
	if o1*o2 < 0 && o3*o4 < 0 {
		return meetCross, Point{}
	}
	switch {
	case o1 == 0 && onSegment(q.a, p.a, p.b):
		return meetTouch, q.a
	case o2 == 0 && onSegment(q.b, p.a, p.b):
		return meetTouch, q.b
	case o3 == 0 && onSegment(p.a, q.a, q.b):
		return meetTouch, p.a
	case o4 == 0 && onSegment(p.b, q.a, q.b):
		return meetTouch, p.b
	}
	return noMeet, Point{}
}

// FindFault checks polygons as OGC validity does, conservatively: rings of three
// or more vertices with area and the right orientation; no ring touching itself;
// rings of one polygon meeting at most at one point per pair, never crossing;
// parts meeting only at points; holes inside their shell and not in one another;
// no part inside another's interior.
func FindFault(parts []Polygon) (Fault, bool) {
	n := 0
	for pi, p := range parts {
		for ri, r := range p {
			a := r.area2()
			if len(r) < 3 || a == 0 || (ri == 0) != (a > 0) {
				return Fault{part: pi, ring: ri, seg: -1, part2: -1}, true
			}
			n += len(r)
		}
	}
	segs := make([]segment, 0, n)
	for pi, p := range parts {
		for ri, r := range p {
			for i, a := range r {
				b := r[(i+1)%len(r)]
				segs = append(segs, segment{a: a, b: b, minX: min(a.X, b.X), maxX: max(a.X, b.X),
					minY: min(a.Y, b.Y), maxY: max(a.Y, b.Y), part: pi, ring: ri, idx: i, ringLen: len(r)})
			}
		}
	}
	slices.SortFunc(segs, func(p, q segment) int {
		switch {
		case p.minX < q.minX:
			return -1
		case p.minX > q.minX:
			return 1
		}
		return 0
	})
	type touch struct {
		p1, r1, seg1, p2, r2, seg2 int
		at                         Point
	}
	var touches []touch
	for i := range segs {
		p := &segs[i]
		for j := i + 1; j < len(segs) && segs[j].minX <= p.maxX; j++ {
			q := &segs[j]
			if q.maxY < p.minY || q.minY > p.maxY {
				continue
			}
			kind, at := meet(p, q)
			if kind == noMeet {
				continue
			}
			f := Fault{part: p.part, ring: p.ring, seg: p.idx, part2: q.part, ring2: q.ring, seg2: q.idx}
			switch {
			case p.part == q.part && p.ring == q.ring:
				adjacent := (p.idx+1)%p.ringLen == q.idx || (q.idx+1)%q.ringLen == p.idx
				if !adjacent || kind == meetOverlap {
					return f, true
				}
			case kind != meetTouch:
				return f, true
			default:
				touches = append(touches, touch{p.part, p.ring, p.idx, q.part, q.ring, q.idx, at})
			}
		}
	}
	// Two rings meeting at a point may still cross there, at a vertex.
	type ringPair struct{ p, r1, r2 int }
	met := map[ringPair]Point{}
	for _, tc := range touches {
		f := Fault{part: tc.p1, ring: tc.r1, seg: tc.seg1, part2: tc.p2, ring2: tc.r2, seg2: tc.seg2}
		a1, a2 := rays(parts[tc.p1][tc.r1], tc.seg1, tc.at)
		b1, b2 := rays(parts[tc.p2][tc.r2], tc.seg2, tc.at)
		if inSector(b1, a1, a2) != inSector(b2, a1, a2) {
			return f, true
		}
		if tc.p1 == tc.p2 {
			k := ringPair{tc.p1, min(tc.r1, tc.r2), max(tc.r1, tc.r2)}
			if prev, ok := met[k]; ok && prev != tc.at {
				return f, true // two rings meeting twice cut the interior in two
			}
			met[k] = tc.at
		}
	}
	// No two rings cross: where one vertex lies tells where the whole ring does.
	for pi, p := range parts {
		for hi := 1; hi < len(p); hi++ {
			if p[0].locateRing(p[hi]) != 1 {
				return Fault{part: pi, ring: hi, seg: -1, part2: -1}, true
			}
			lo1, hi1 := p[hi].bound()
			for hj := hi + 1; hj < len(p); hj++ {
				lo2, hi2 := p[hj].bound()
				if !boundsMeet(lo1, hi1, lo2, hi2) {
					continue
				}
				if p[hj].locateRing(p[hi]) == 1 {
					return Fault{part: pi, ring: hi, seg: -1, part2: -1}, true
				}
				if p[hi].locateRing(p[hj]) == 1 {
					return Fault{part: pi, ring: hj, seg: -1, part2: -1}, true
				}
			}
		}
	}
	if len(parts) > 1 {
		type pbound struct{ lo, hi Point }
		bs := make([]pbound, len(parts))
		for i, p := range parts {
			bs[i].lo, bs[i].hi = p[0].bound()
		}
		for i := range parts {
			for j := range parts {
				if i == j || !boundsMeet(bs[i].lo, bs[i].hi, bs[j].lo, bs[j].hi) {
					continue
				}
				if insideInterior(parts[i], parts[j][0]) {
					return Fault{part: j, ring: 0, seg: -1, part2: i}, true
				}
			}
		}
	}
	return Fault{}, false
}

// rays are the two directions in which ring r's boundary leaves point at, which
// lies on its segment seg.
func rays(r Ring, seg int, at Point) (Point, Point) {
	n := len(r)
	a, b := r[seg], r[(seg+1)%n]
	switch at {
	case a:
		return sub(r[(seg+n-1)%n], at), sub(b, at)
	case b:
		return sub(a, at), sub(r[(seg+2)%n], at)
	}
	return sub(a, at), sub(b, at)
}

func sub(a, b Point) Point { return Point{a.X - b.X, a.Y - b.Y} }

func cross(a, b Point) int64 { return a.X*b.Y - a.Y*b.X }

// inSector reports whether direction d lies strictly inside the sector swept
// counterclockwise from direction r1 to direction r2.
func inSector(d, r1, r2 Point) bool {
	if c := cross(r1, r2); c > 0 || (c == 0 && r1.X*r2.X+r1.Y*r2.Y < 0) { // at most a half-turn
		return cross(r1, d) > 0 && cross(d, r2) > 0
	}
	return !(cross(r2, d) >= 0 && cross(d, r1) >= 0)
}

// insideInterior reports whether ring r, crossing none of p's rings, lies in
// p's interior (inside its shell and in none of its holes), by the first of its
// vertices, then of its edges' midpoints, on none of p's rings; if every one
// is on them it cannot tell, and says yes, to be safe.
func insideInterior(p Polygon, r Ring) bool {
	where := func(v Point, k int64) (inside, known bool) {
		l := p[0].locateScaled(v, k)
		if l == 0 {
			return false, false
		}
		inside = l > 0
		for _, h := range p[1:] {
			switch h.locateScaled(v, k) {
			case 0:
				return false, false
			case 1:
				inside = false
			}
		}
		return inside, true
	}
	for _, v := range r {
		if in, ok := where(v, 1); ok {
			return in
		}
	}
	for i, v := range r {
		w := r[(i+1)%len(r)]
		if in, ok := where(Point{v.X + w.X, v.Y + w.Y}, 2); ok {
			return in
		}
	}
	return true
}

// Repair mends, one at a time, the faults snapping made (or the input had),
// until none is left. Where two segments meet, a vertex of one of them moves by
// a unit if that frees its two edges of every other segment (which undoes most
// faults of rounding), else the vertex whose removal changes the outline least
// goes; a hole Outside its shell goes, and so does the smaller of two parts that
// overlap. A move leaves fewer pairs of segments meeting, a removal fewer
// vertices or rings, so it ends.
func Repair(parts []Polygon) []Polygon {
	for {
		f, bad := FindFault(parts)
		if !bad {
			return parts
		}
		switch {
		case f.seg < 0 && f.part2 >= 0: // a part in another: drop the smaller
			if abs(parts[f.part][0].area2()) > abs(parts[f.part2][0].area2()) {
				f.part = f.part2
			}
			parts = slices.Delete(parts, f.part, f.part+1)
			continue
		case f.seg < 0:
			parts = dropRing(parts, f.part, f.ring)
			continue
		}
		// Two segments meet: take a vertex off the smaller ring of the two, the
		// one whose removal changes its outline least.
		if f.part != f.part2 || f.ring != f.ring2 {
			if abs(parts[f.part2][f.ring2].area2()) < abs(parts[f.part][f.ring].area2()) {
				f.part, f.ring, f.seg, f.part2, f.ring2, f.seg2 = f.part2, f.ring2, f.seg2, f.part, f.ring, f.seg
			}
		}
		r := parts[f.part][f.ring]
		cand := []int{f.seg, (f.seg + 1) % len(r)}
		if f.part == f.part2 && f.ring == f.ring2 {
			cand = append(cand, f.seg2, (f.seg2+1)%len(r))
		}
		if nudge(parts, f.part, f.ring, cand) {
			continue
		}
		if f.part != f.part2 || f.ring != f.ring2 {
			r2 := parts[f.part2][f.ring2]
			if nudge(parts, f.part2, f.ring2, []int{f.seg2, (f.seg2 + 1) % len(r2)}) {
				continue
			}
		}
		best, cost := -1, int64(math.MaxInt64)
		for _, i := range cand {
			c := abs(triangle2(r[(i+len(r)-1)%len(r)], r[i], r[(i+1)%len(r)]))
			if c < cost {
				best, cost = i, c
			}
		}
		nr := clean(slices.Delete(slices.Clone(r), best, best+1))
		if nr == nil {
			parts = dropRing(parts, f.part, f.ring)
			continue
		}
		parts[f.part][f.ring] = nr
	}
}

// nudge moves one of the vertices cand of ring r of part p by one unit, to the
// first place where its two edges meet no other segment but their neighbours
// (at their shared vertex) and the ring keeps its orientation; false if none is.
func nudge(parts []Polygon, p, r int, cand []int) bool {
	ring := parts[p][r]
	n := len(ring)
	if n < 4 {
		return false
	}
	area := ring.area2()
	for _, i := range cand {
		prev, old, next := ring[(i+n-1)%n], ring[i], ring[(i+1)%n]
		for _, d := range [8]Point{{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {1, 1}, {-1, -1}, {1, -1}, {-1, 1}} {
			v := Point{old.X + d.X, old.Y + d.Y}
			if v == prev || v == next || orient(prev, v, next) == 0 {
				continue
			}
			ring[i] = v
			if a := ring.area2(); (a > 0) == (area > 0) && a != 0 && edgesFree(parts, p, r, i) {
				return true
			}
			ring[i] = old
		}
	}
	return false
}

// edgesFree reports whether the two edges at vertex i of ring r of part p meet
// no segment of any ring, except their neighbours at the vertex they share.
func edgesFree(parts []Polygon, p, r, i int) bool {
	ring := parts[p][r]
	n := len(ring)
	edges := [2]segment{
		{a: ring[(i+n-1)%n], b: ring[i], part: p, ring: r, idx: (i + n - 1) % n},
		{a: ring[i], b: ring[(i+1)%n], part: p, ring: r, idx: i},
	}
	for pi, pp := range parts {
		for ri, rr := range pp {
			for j, a := range rr {
				s := segment{a: a, b: rr[(j+1)%len(rr)]}
				for _, e := range edges {
					if pi == p && ri == r && j == e.idx {
						continue
					}
					kind, _ := meet(&e, &s)
					if kind == noMeet {
						continue
					}
					adjacent := pi == p && ri == r && ((e.idx+1)%n == j || (j+1)%n == e.idx)
					if !adjacent || kind == meetOverlap {
						return false
					}
				}
			}
		}
	}
	return true
}

func dropRing(parts []Polygon, p, r int) []Polygon {
	if r == 0 {
		return slices.Delete(parts, p, p+1)
	}
	parts[p] = slices.Delete(parts[p], r, r+1)
	return parts
}

func triangle2(a, b, c Point) int64 { return (b.X-a.X)*(c.Y-a.Y) - (b.Y-a.Y)*(c.X-a.X) }

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
