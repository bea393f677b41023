package vector

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/layer"
)

// The Layer's reads of a GeoParquet file (see geoparquet.go). FIDs are row
// numbers from 0, in file order.

// openParquet reads the file's metadata into a state, with a handle for its CRS.
func (l *Layer) openParquet() (*state, *source, error) {
	p := l.opts.Path
	pq, err := openParquet(p)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open %s: %v", p, err)
	}
	src, err := crsSource(pq.crs)
	if err != nil {
		pq.Close()
		return nil, nil, fmt.Errorf("%s: the geometry column's CRS: %v", p, err)
	}
	name := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
	if l.opts.Layer != "" && l.opts.Layer != name {
		src.Close()
		pq.Close()
		return nil, nil, fmt.Errorf("%s: no layer named %q: a GeoParquet file has one layer, %s", p, l.opts.Layer, name)
	}
	if len(pq.unserved) > 0 {
		l.opts.Logger.Info("vector layer: columns not served", "path", p, "columns", pq.unserved)
	}
	st := &state{version: l.fingerprint(), name: name, all: pq.cols,
		lonlat: pq.crs == "", ready: make(chan struct{}), pq: pq, count: pq.count,
		extent: pq.extent, hasExtent: pq.hasExtent}
	if !st.hasExtent {
		// Without a bbox in the metadata, the union of the row groups' bboxes.
		for _, g := range pq.groups {
			if !g.hasEnv {
				st.hasExtent = false
				break
			}
			if !st.hasExtent {
				st.extent, st.hasExtent = g.env, true
			}
			st.extent = unionEnv(st.extent, g.env)
		}
	}
	return st, src, nil
}

func unionEnv(a, b [4]float64) [4]float64 {
	return [4]float64{min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])}
}

// meets reports whether two boxes (minx, miny, maxx, maxy) share a point.
func meets(a [4]float64, b *[4]float64) bool {
	return b == nil || !(a[2] < b[0] || a[3] < b[1] || b[2] < a[0] || b[3] < a[1])
}

// indexParquet reads the geometry column once: every row's size and envelope go
// into the overview (when the layer is not too large for one), and row groups
// whose bbox the covering statistics did not give get one.
func (l *Layer) indexParquet(st *state, start time.Time) {
	pq := st.pq
	src, err := crsSource(pq.crs)
	if err != nil {
		st.ovErr = fmt.Errorf("%s: %v", l.opts.Path, err)
		return
	}
	defer src.Close()
	keep := st.count <= maxOverview
	var rowEnv []float32
	if keep {
		rowEnv = make([]float32, 4*st.count)
	}
	var b overviewBuilder
	for g := range pq.groups {
		vals, err := pq.column(g, pq.geom)
		if err != nil {
			st.ovErr = fmt.Errorf("%s: %v", l.opts.Path, err)
			return
		}
		var buf []byte
		off := make([]int64, 1, len(vals)+1)
		for _, v := range vals {
			if !v.IsNull() {
				buf = append(buf, v.ByteArray()...)
			}
			off = append(off, int64(len(buf)))
		}
		batch := newScanBatch(max(1, len(vals)))
		ok := make([]uint8, max(1, len(vals)))
		src.wkbScan(buf, off, batch, ok)
		env, has := [4]float64{}, false
		n := 0
		for i := range vals {
			if ok[i] == 0 {
				if rowEnv != nil {
					at := 4 * (pq.groups[g].start + int64(i))
					copy(rowEnv[at:at+4], []float32{1, 1, -1, -1}) // meets nothing
				}
				continue
			}
			if rowEnv != nil {
				at := 4 * (pq.groups[g].start + int64(i))
				copy(rowEnv[at:at+4], batch.env[4*i:4*i+4])
			}
			e := [4]float64{float64(batch.env[4*i]), float64(batch.env[4*i+1]), float64(batch.env[4*i+2]), float64(batch.env[4*i+3])}
			if !has {
				env, has = e, true
			}
			env = unionEnv(env, e)
			// Compact the batch to the rows kept, with their FIDs.
			batch.fid[n] = pq.groups[g].start + int64(i)
			batch.cls[n], batch.size[n], batch.cx[n], batch.cy[n] = batch.cls[i], batch.size[i], batch.cx[i], batch.cy[i]
			copy(batch.env[4*n:4*n+4], batch.env[4*i:4*i+4])
			n++
		}
		if !pq.groups[g].hasEnv {
			pq.groups[g].env, pq.groups[g].hasEnv = env, true
			if !has { // nothing to draw: a bbox no rect meets
				pq.groups[g].env = [4]float64{1, 1, -1, -1}
			}
		}
		if keep {
			b.add(batch, n)
		}
	}
	if !keep {
		st.ovZoom = -1
		l.opts.Logger.Warn("vector layer too large for an overview: low zooms read the file", "path", l.opts.Path, "features", st.count)
		return
	}
	pq.env = rowEnv
	st.ov = b.build()
	st.ovZoom = st.ov.deepest(l.budget)
	l.opts.Logger.Debug("vector overview built", "path", l.opts.Path, "features", len(st.ov.fid),
		"thinned_to_zoom", st.ovZoom, "seconds", time.Since(start).Seconds())
}

// directParquet reads a tile from the row groups that meet it: rows whose bbox
// covering meets rect (every row without a covering) are read and tested.
func (l *Layer) directParquet(ctx context.Context, st *state, h *handle, q query, rect *[4]float64, oc *outcome) ([]kept, error) {
	pq := st.pq
	h.src.setRect(rect)
	var out []kept
	for g, gr := range pq.groups {
		if ctx.Err() != nil {
			return nil, layer.Errorf(layer.Timeout, "reading %s: %v", l.opts.Path, ctx.Err())
		}
		if gr.n == 0 || gr.hasEnv && !meets(gr.env, rect) {
			continue
		}
		rows, err := pq.candidates(g, rect)
		if err != nil {
			return nil, &layer.Error{Kind: layer.Unavailable, Msg: fmt.Sprintf("reading %s: %v", l.opts.Path, err)}
		}
		if out, err = readRows(st, h.src, g, rows, q, q.thr, true, oc, out); err != nil {
			return nil, &layer.Error{Kind: layer.Unavailable, Msg: fmt.Sprintf("reading %s: %v", l.opts.Path, err)}
		}
	}
	return truncate(out, q.limit, oc), nil
}

// truncate keeps the first limit features in rank order.
func truncate(out []kept, limit int, oc *outcome) []kept {
	if len(out) > limit {
		slices.SortFunc(out, func(a, b kept) int { return a.key.compare(b.key) })
		oc.truncated, oc.more = true, fmt.Sprintf(" of %d", len(out))
		out = out[:limit]
	}
	return out
}

// candidates returns the rows of group g whose bbox meets rect: from the
// envelopes in memory once indexed, else from the covering columns, else all.
func (p *pqFile) candidates(g int, rect *[4]float64) ([]int, error) {
	n := int(p.groups[g].n)
	var rows []int
	switch {
	case rect == nil:
		rows = make([]int, n)
		for i := range rows {
			rows[i] = i
		}
	case p.env != nil:
		r := [4]float32{down32(rect[0]), down32(rect[1]), up32(rect[2]), up32(rect[3])}
		env := p.env[4*p.groups[g].start : 4*(p.groups[g].start+int64(n))]
		for i := 0; i < n; i++ {
			e := env[4*i : 4*i+4 : 4*i+4]
			if !(e[2] < r[0] || e[3] < r[1] || r[2] < e[0] || r[3] < e[1]) {
				rows = append(rows, i)
			}
		}
	case p.cover[0] >= 0:
		var box [4][]parquet.Value
		for i, leaf := range p.cover {
			v, err := p.column(g, leaf)
			if err != nil {
				return nil, err
			}
			box[i] = v
		}
		for i := 0; i < n; i++ {
			if box[0][i].IsNull() || box[1][i].IsNull() || box[2][i].IsNull() || box[3][i].IsNull() {
				continue // no geometry, or an empty one
			}
			e := [4]float64{number64(box[0][i]), number64(box[1][i]), number64(box[2][i]), number64(box[3][i])}
			if meets(e, rect) {
				rows = append(rows, i)
			}
		}
	default:
		rows = make([]int, n)
		for i := range rows {
			rows[i] = i
		}
	}
	return rows, nil
}

// readRows reads rows (ascending, within group g) that pass the filter as
// features: geometries smaller than thr, or missing the source's rect, are
// dropped. ranked sets their rank key for truncation.
func readRows(st *state, src *source, g int, rows []int, q query, thr float32, ranked bool, oc *outcome, out []kept) ([]kept, error) {
	if len(rows) == 0 {
		return out, nil
	}
	pq := st.pq
	// Values are read for rows (and indexed like them): the filter's columns
	// for every row, the others for the rows that pass.
	cache := map[int][]parquet.Value{}
	col := func(leaf int) ([]parquet.Value, error) {
		if v, ok := cache[leaf]; ok {
			return v, nil
		}
		v, err := pq.pick(g, leaf, rows)
		cache[leaf] = v
		return v, err
	}
	// The filter first: a row it rejects costs no geometry.
	if q.filter != nil {
		vals := make([][]parquet.Value, len(q.filter.Columns))
		fcols := make([]column, len(q.filter.Columns))
		for i, name := range q.filter.Columns {
			c, _ := findColumn(st.all, name)
			v, err := col(c.Index)
			if err != nil {
				return out, err
			}
			vals[i], fcols[i] = v, c
		}
		row := make([]any, len(vals))
		kept := rows[:0:0]
		for k, r := range rows {
			for i := range vals {
				row[i] = filterValue(vals[i][k], fcols[i])
			}
			if q.filter.Eval(row) {
				kept = append(kept, r)
			}
		}
		if len(kept) == 0 {
			return out, nil
		}
		if len(kept) < len(rows) {
			rows = kept
			clear(cache) // read the other columns for the rows kept only
		}
	}
	geoms, err := col(pq.geom)
	if err != nil {
		return out, err
	}
	props := make([][]parquet.Value, len(q.cols))
	for i, c := range q.cols {
		if props[i], err = col(c.Index); err != nil {
			return out, err
		}
	}
	start := pq.groups[g].start
	for k, r := range rows {
		fid := start + int64(r)
		v := geoms[k]
		if v.IsNull() {
			continue
		}
		var f feature
		b, status, free := src.wkbGeometry(v.ByteArray(), thr, &f)
		oc.note(status, fid)
		if b == nil {
			free()
			continue
		}
		geom, err := wkb.Unmarshal(b)
		free()
		if err != nil || geom == nil {
			oc.note(geomInvalid, fid)
			continue
		}
		gf := geojson.NewFeature(geom)
		gf.ID = fid
		gf.Properties = make(map[string]any, len(q.cols))
		for i, c := range q.cols {
			gf.Properties[c.Name] = propertyValue(props[i][k], c)
		}
		k := rankKey{fid: fid}
		if ranked {
			k = newRankKey(f.cls, f.size, fid)
		}
		out = append(out, kept{key: k, f: gf})
	}
	return out, nil
}

// fetchParquet reads features by FID (sorted), keeping those that meet rect.
func fetchParquet(ctx context.Context, st *state, src *source, ids []int64, rect *[4]float64, q query, oc *outcome, out []kept) ([]kept, error) {
	src.setRect(rect)
	groups := st.pq.groups
	for len(ids) > 0 {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		g, _ := slices.BinarySearchFunc(groups, ids[0], func(gr pqGroup, fid int64) int { return cmpInt64(gr.start+gr.n-1, fid) })
		if g >= len(groups) {
			break
		}
		end := groups[g].start + groups[g].n
		var rows []int
		for len(ids) > 0 && ids[0] < end {
			rows = append(rows, int(ids[0]-groups[g].start))
			ids = ids[1:]
		}
		var err error
		// The filter passed already, by the FID set.
		qq := q
		qq.filter = nil
		if out, err = readRows(st, src, g, rows, qq, 0, false, oc, out); err != nil {
			return out, err
		}
	}
	return out, nil
}

// parquetFIDs returns the rows that pass a filter, reading only its columns.
func parquetFIDs(st *state, f *filter) ([]int64, error) {
	pq := st.pq
	var fids []int64
	fcols := make([]column, len(f.Columns))
	for i, name := range f.Columns {
		fcols[i], _ = findColumn(st.all, name)
	}
	row := make([]any, len(fcols))
	for g, gr := range pq.groups {
		vals := make([][]parquet.Value, len(fcols))
		for i, c := range fcols {
			v, err := pq.column(g, c.Index)
			if err != nil {
				return nil, err
			}
			vals[i] = v
		}
		for r := 0; r < int(gr.n); r++ {
			for i := range vals {
				row[i] = filterValue(vals[i][r], fcols[i])
			}
			if f.Eval(row) {
				fids = append(fids, gr.start+int64(r))
			}
		}
	}
	return fids, nil
}
