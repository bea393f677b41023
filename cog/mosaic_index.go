package cog

import (
	"math"
	"slices"
	"sort"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/tiles"
)

// A mosaic's index: the footprints of its files in EPSG:3857, in a packed
// R-tree, so that a tile finds the few files it meets among thousands.

// footprint is one box where a file has data; a file may have several (a
// MosaicJSON lists it under several quadkeys).
type footprint struct {
	file  int          // index into mosaicIndex.files
	order int          // the file's rank in the source: smaller is read first
	box   tiles.Bounds // EPSG:3857
}

// mosaicIndex is what a mosaic knows of its source, rebuilt when it changes.
type mosaicIndex struct {
	kind       string // glob, directory, list, stac, mosaicjson or index
	files      []string
	footprints []footprint
	fileBoxes  []tiles.Bounds // the union of each file's footprints
	tree       rtree
	merc       tiles.Bounds
	lonlat     tiles.Bounds
	// The bands and sample type every file must have.
	bands            int
	dtype            godal.DataType
	minZoom, maxZoom int
}

// newMosaicIndex indexes the footprints; bands, dtype and zooms are set by
// the caller.
func newMosaicIndex(kind string, files []string, fps []footprint) *mosaicIndex {
	x := &mosaicIndex{kind: kind, files: files, footprints: fps}
	boxes := make([]tiles.Bounds, len(fps))
	x.merc = tiles.Bounds{MinX: math.Inf(1), MinY: math.Inf(1), MaxX: math.Inf(-1), MaxY: math.Inf(-1)}
	for i, f := range fps {
		boxes[i] = f.box
		x.merc = union(x.merc, f.box)
	}
	x.tree = newRTree(boxes)
	x.fileBoxes = make([]tiles.Bounds, len(files))
	for i := range x.fileBoxes {
		x.fileBoxes[i] = tiles.Bounds{MinX: math.Inf(1), MinY: math.Inf(1), MaxX: math.Inf(-1), MaxY: math.Inf(-1)}
	}
	for _, f := range fps {
		x.fileBoxes[f.file] = union(x.fileBoxes[f.file], f.box)
	}
	x.lonlat = x.merc.ToLonLat()
	return x
}

func union(a, b tiles.Bounds) tiles.Bounds {
	return tiles.Bounds{MinX: min(a.MinX, b.MinX), MinY: min(a.MinY, b.MinY), MaxX: max(a.MaxX, b.MaxX), MaxY: max(a.MaxY, b.MaxY)}
}

// filesAt returns the files whose footprints meet b (more than along an
// edge), each once, in the source's order.
func (x *mosaicIndex) filesAt(b tiles.Bounds) []int {
	var hits []int
	x.tree.search(b, func(id int) { hits = append(hits, id) })
	sort.Slice(hits, func(i, j int) bool { return x.footprints[hits[i]].order < x.footprints[hits[j]].order })
	out := make([]int, 0, len(hits))
	seen := make(map[int]bool, len(hits))
	for _, id := range hits {
		if f := x.footprints[id].file; !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// rtreeFanout is the children of each node.
const rtreeFanout = 16

// rtree is a static R-tree packed by Sort-Tile-Recursive: level 0 holds the
// boxes indexed, in an order that keeps neighbours together, and each level
// above the union of each rtreeFanout consecutive boxes of the one below.
type rtree struct {
	levels [][]tiles.Bounds
	ids    []int // the index of each box of level 0 in the boxes given
}

func newRTree(boxes []tiles.Bounds) rtree {
	n := len(boxes)
	if n == 0 {
		return rtree{}
	}
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	cx := func(i int) float64 { return boxes[i].MinX + boxes[i].MaxX }
	cy := func(i int) float64 { return boxes[i].MinY + boxes[i].MaxY }
	slices.SortFunc(ids, func(a, b int) int { return cmpFloat(cx(a), cx(b)) })
	leaves := (n + rtreeFanout - 1) / rtreeFanout
	slice := int(math.Ceil(math.Sqrt(float64(leaves)))) * rtreeFanout
	for s := 0; s < n; s += slice {
		part := ids[s:min(s+slice, n)]
		slices.SortFunc(part, func(a, b int) int { return cmpFloat(cy(a), cy(b)) })
	}
	level := make([]tiles.Bounds, n)
	for i, id := range ids {
		level[i] = boxes[id]
	}
	t := rtree{levels: [][]tiles.Bounds{level}, ids: ids}
	for len(level) > 1 {
		up := make([]tiles.Bounds, 0, (len(level)+rtreeFanout-1)/rtreeFanout)
		for s := 0; s < len(level); s += rtreeFanout {
			b := level[s]
			for _, c := range level[s+1 : min(s+rtreeFanout, len(level))] {
				b = union(b, c)
			}
			up = append(up, b)
		}
		t.levels = append(t.levels, up)
		level = up
	}
	return t
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// search calls fn with the index of every box meeting q.
func (t *rtree) search(q tiles.Bounds, fn func(int)) {
	if len(t.levels) == 0 {
		return
	}
	top := len(t.levels) - 1
	for i := range t.levels[top] {
		t.visit(top, i, q, fn)
	}
}

func (t *rtree) visit(lvl, i int, q tiles.Bounds, fn func(int)) {
	if !t.levels[lvl][i].Intersects(q) {
		return
	}
	if lvl == 0 {
		fn(t.ids[i])
		return
	}
	below := t.levels[lvl-1]
	for c := i * rtreeFanout; c < min((i+1)*rtreeFanout, len(below)); c++ {
		t.visit(lvl-1, c, q, fn)
	}
}
