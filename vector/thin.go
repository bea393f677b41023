package vector

import (
	"cmp"
	"math"
	"slices"

	"github.com/udftiles/udftiles/tiles"
)

// Thinning. A tile shows the features that meet its buffered bounds, pass
// filter= and are visible at its zoom: lines and polygons whose envelope is at
// least half a pixel across in Web Mercator, and every point. When more than
// max_features are visible, the first max_features in rank order are kept:
// lines and polygons before points, larger envelopes before smaller, then by a
// hash of the FID (a fixed pseudo-random order, so a sample of points is spread
// evenly). A feature kept at zoom z is kept at z+1 in every tile it meets: the
// features ahead of it there were ahead of it already. The kept features are
// returned in FID order. File mode applies the same rule with no size limit.

// rankKey is what orders features for thinning.
type rankKey struct {
	cls  uint8   // 0: lines and polygons, 1: points
	size float32 // envelope's larger side in EPSG:3857 metres (0 for points)
	hash uint64
	fid  int64
}

func newRankKey(cls int, size float32, fid int64) rankKey {
	if cls == 1 {
		size = 0
	}
	return rankKey{cls: uint8(cls), size: size, hash: mix(uint64(fid)), fid: fid}
}

func (k rankKey) compare(o rankKey) int {
	if c := cmp.Compare(k.cls, o.cls); c != 0 {
		return c
	}
	if c := cmp.Compare(o.size, k.size); c != 0 { // larger first
		return c
	}
	if c := cmp.Compare(k.hash, o.hash); c != 0 {
		return c
	}
	return cmp.Compare(k.fid, o.fid)
}

// mix is splitmix64's finaliser: a fixed, well-spread hash of a FID.
func mix(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

// threshold is half a pixel of a 256 px tile at zoom z, in EPSG:3857 metres.
func threshold(z int) float32 { return float32(tiles.Size(z) / 256 / 2) }

// densityZoom is the deepest zoom whose tile densities the overview measures.
const densityZoom = 14

// overview holds every feature's FID, rank and envelope, in rank order, so that
// the features a low-zoom tile keeps are found without reading the file; only
// those are then read, by FID. About 28 bytes a feature.
type overview struct {
	fid    []int64
	size   []float32
	env    []float32 // minx, miny, maxx, maxy in the layer's CRS, rounded outwards
	points int       // index of the first point: before it, lines and polygons by size
	// dense[z] is the number of features in the densest tile of zoom z (by
	// envelope centre), which decides where a tile is read from.
	dense [densityZoom + 1]int
}

// overviewBuilder collects scan batches.
type overviewBuilder struct {
	keys   []rankKey
	env    []float32
	morton []uint64
}

func (b *overviewBuilder) add(s *scanBatch, n int) {
	for i := 0; i < n; i++ {
		b.keys = append(b.keys, newRankKey(int(s.cls[i]), s.size[i], s.fid[i]))
		b.env = append(b.env, s.env[4*i:4*i+4]...)
		if lon, lat := s.cx[i], s.cy[i]; !math.IsNaN(lon) && !math.IsNaN(lat) {
			b.morton = append(b.morton, mortonAt(lon, lat))
		}
	}
}

// mortonAt interleaves the column and row of the densityZoom tile holding a point.
func mortonAt(lon, lat float64) uint64 {
	t := tiles.AtLonLat(math.Max(-180, math.Min(180, lon)), lat, densityZoom)
	var m uint64
	for bit := 0; bit < densityZoom; bit++ {
		m |= uint64(t.X>>bit&1)<<(2*bit+1) | uint64(t.Y>>bit&1)<<(2*bit)
	}
	return m
}

func (b *overviewBuilder) build() *overview {
	n := len(b.keys)
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(i, j int32) int { return b.keys[i].compare(b.keys[j]) })
	o := &overview{fid: make([]int64, n), size: make([]float32, n), env: make([]float32, 4*n), points: n}
	for r, i := range order {
		k := b.keys[i]
		o.fid[r], o.size[r] = k.fid, k.size
		copy(o.env[4*r:4*r+4], b.env[4*i:4*i+4])
		if k.cls == 1 && o.points == n {
			o.points = r
		}
	}
	slices.Sort(b.morton)
	for z := 0; z <= densityZoom; z++ {
		shift := uint(2 * (densityZoom - z))
		run, best := 0, 0
		for i, m := range b.morton {
			if i > 0 && m>>shift == b.morton[i-1]>>shift {
				run++
			} else {
				run = 1
			}
			best = max(best, run)
		}
		o.dense[z] = best
	}
	return o
}

// deepest returns the deepest zoom at which a tile may hold more than budget
// features (counting its buffer), where tiles are thinned from the overview;
// -1 when none does, MaxZoom when even densityZoom does.
func (o *overview) deepest(budget int) int {
	z := -1
	for i, n := range o.dense {
		// A buffered tile covers (1+2·64/256)² = 2.25 tiles.
		if float64(n)*2.25 > float64(budget) {
			z = i
		}
	}
	if z == densityZoom {
		return tiles.MaxZoom
	}
	return z
}

// walk appends to out, in rank order from position from, the positions of
// features visible at thr whose envelope meets rect (nil: any) and that allow
// accepts (nil: all), until out holds want. It returns where to continue, or -1
// at the end.
func (o *overview) walk(rect *[4]float64, thr float32, allow func(int64) bool, from, want int, out *[]int) int {
	n := len(o.fid)
	var r [4]float32
	if rect != nil {
		// The envelopes are floats rounded outwards: compare against a rect
		// rounded outwards too, so nothing that meets it is missed.
		r = [4]float32{down32(rect[0]), down32(rect[1]), up32(rect[2]), up32(rect[3])}
	}
	for i := from; i < n; i++ {
		if i < o.points && o.size[i] < thr {
			i = o.points - 1 // every later line or polygon is smaller still
			continue
		}
		if rect != nil {
			e := o.env[4*i : 4*i+4 : 4*i+4]
			if e[2] < r[0] || e[3] < r[1] || r[2] < e[0] || r[3] < e[1] {
				continue
			}
		}
		if allow != nil && !allow(o.fid[i]) {
			continue
		}
		*out = append(*out, i)
		if len(*out) >= want {
			return i + 1
		}
	}
	return -1
}

func down32(v float64) float32 {
	f := float32(v)
	if float64(f) > v {
		f = math.Nextafter32(f, float32(math.Inf(-1)))
	}
	return f
}

func up32(v float64) float32 {
	f := float32(v)
	if float64(f) < v {
		f = math.Nextafter32(f, float32(math.Inf(1)))
	}
	return f
}

// fidSet is the set of FIDs that pass a filter: a bitset over their range when
// it is dense, a sorted list otherwise.
type fidSet struct {
	lo   int64
	bits []uint64
	list []int64
}

func newFIDSet(fids []int64) *fidSet {
	if len(fids) == 0 {
		return &fidSet{}
	}
	lo, hi := slices.Min(fids), slices.Max(fids)
	if span := uint64(hi - lo); span < 1<<28 && span < 64*uint64(len(fids))+1<<16 {
		s := &fidSet{lo: lo, bits: make([]uint64, span/64+1)}
		for _, f := range fids {
			d := uint64(f - lo)
			s.bits[d/64] |= 1 << (d % 64)
		}
		return s
	}
	l := slices.Clone(fids)
	slices.Sort(l)
	return &fidSet{list: l}
}

func (s *fidSet) has(fid int64) bool {
	if s.bits != nil {
		d := uint64(fid - s.lo)
		return fid >= s.lo && d/64 < uint64(len(s.bits)) && s.bits[d/64]&(1<<(d%64)) != 0
	}
	_, ok := slices.BinarySearch(s.list, fid)
	return ok
}

// bytes is the set's approximate memory.
func (s *fidSet) bytes() int { return 8*len(s.bits) + 8*len(s.list) }
