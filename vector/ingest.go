package vector

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/internal/gdal"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/progress"
	"github.com/udftiles/udftiles/render"
)

// DefaultRowGroup is the rows per row group Ingest writes: small enough that a
// tile at z10 and beyond reads one or a few groups of a Hilbert-sorted file.
const DefaultRowGroup = 4096

// ingestPage is the page size Ingest writes: a tile's few rows of a row group
// decode a page or two of each column, not the whole group.
const ingestPage = 32 << 10

// IngestOptions configure Ingest.
type IngestOptions struct {
	Layer        string    // the source's layer; "" = the first
	RowGroupSize int       // 0 = DefaultRowGroup
	Progress     io.Writer // progress bars; nil = none
}

// IngestStats tells what Ingest did.
type IngestStats struct {
	Features, Repaired, Skipped int
	RowGroups                   int
	Bytes                       int64
	Elapsed                     time.Duration
}

// Ingest converts any vector file OGR reads into a GeoParquet 1.1 file at dst,
// for fast tiles: geometries in lon/lat (OGC:CRS84), invalid polygons repaired
// (or skipped when they cannot be), rows sorted along a Hilbert curve through
// their bbox centres, a bbox covering column whose per-group statistics let a
// tile skip the groups it does not meet, zstd. Properties are converted as the
// vector layer serves them (dates as ISO 8601 text, lists as JSON text; binary
// fields dropped). dst is written to a temporary file beside it and renamed,
// so it is never left half-written.
func Ingest(ctx context.Context, src, dst string, o IngestOptions) (IngestStats, error) {
	start := time.Now()
	var stats IngestStats
	if o.RowGroupSize <= 0 {
		o.RowGroupSize = DefaultRowGroup
	}
	gdal.Register()
	s, err := openSource(src, o.Layer)
	if err != nil {
		return stats, fmt.Errorf("cannot open %s: %v", src, err)
	}
	defer s.Close()
	count, _, _ := s.info()
	var cols []column
	for _, c := range s.columns() {
		if c.served() {
			cols = append(cols, c)
		}
	}
	if err := s.query(nil, "", nil); err != nil {
		return stats, fmt.Errorf("reading %s: %v", src, err)
	}
	bar := progress.New(o.Progress, "read  ", max(count, 0))
	q := query{zoom: -1, cols: cols}
	var oc outcome
	var fts []*geojson.Feature
	for i := 0; ; i++ {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return stats, err
			}
			bar.Set(int64(i), 0)
		}
		f, ok := s.next(0)
		if !ok {
			break
		}
		if gf := extract(s, f, q, &oc); gf != nil {
			fts = append(fts, gf)
		}
	}
	if err := s.err(); err != nil {
		return stats, fmt.Errorf("reading %s after %d features: %v", src, len(fts), err)
	}
	bar.Set(int64(len(fts)+oc.invalid+oc.unprojectable), 0)
	bar.Done()
	stats.Features, stats.Repaired, stats.Skipped = len(fts), oc.repaired, oc.invalid+oc.unprojectable

	hilbertSort(fts)

	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return stats, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return stats, err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	wbar := progress.New(o.Progress, "write ", int64(len(fts)))
	fc := geojson.NewFeatureCollection()
	fc.Features = fts
	err = render.WriteGeoParquet(tmp, &layer.Features{Collection: fc}, render.GeoParquetOptions{
		RowGroupSize: o.RowGroupSize,
		PageSize:     ingestPage,
		Progress:     func(n int) { wbar.Set(int64(n), 0) },
	})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return stats, fmt.Errorf("writing %s: %v", dst, err)
	}
	wbar.Done()
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return stats, err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return stats, err
	}
	if st, err := os.Stat(dst); err == nil {
		stats.Bytes = st.Size()
	}
	stats.RowGroups = (len(fts) + o.RowGroupSize - 1) / o.RowGroupSize
	stats.Elapsed = time.Since(start)
	return stats, nil
}

// hilbertSort orders features along a Hilbert curve of order 16 through the
// centres of their bboxes, over the extent of them all; ties keep file order.
func hilbertSort(fts []*geojson.Feature) {
	if len(fts) < 2 {
		return
	}
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	cx, cy := make([]float64, len(fts)), make([]float64, len(fts))
	for i, f := range fts {
		b := f.Geometry.Bound()
		cx[i], cy[i] = (b.Min[0]+b.Max[0])/2, (b.Min[1]+b.Max[1])/2
		minX, maxX = math.Min(minX, cx[i]), math.Max(maxX, cx[i])
		minY, maxY = math.Min(minY, cy[i]), math.Max(maxY, cy[i])
	}
	const side = 1 << 16
	scale := func(v, lo, hi float64) uint32 {
		if hi <= lo {
			return 0
		}
		return uint32(math.Min(side-1, math.Max(0, (v-lo)/(hi-lo)*side)))
	}
	type entry struct {
		key uint64
		i   int
	}
	keys := make([]entry, len(fts))
	for i := range fts {
		keys[i] = entry{hilbert(scale(cx[i], minX, maxX), scale(cy[i], minY, maxY), side), i}
	}
	slices.SortStableFunc(keys, func(a, b entry) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	sorted := make([]*geojson.Feature, len(fts))
	for k, e := range keys {
		sorted[k] = fts[e.i]
	}
	copy(fts, sorted)
}

// hilbert is the distance of cell (x, y) along the Hilbert curve filling a
// side×side grid (side a power of two).
func hilbert(x, y, side uint32) uint64 {
	var d uint64
	for s := side / 2; s > 0; s /= 2 {
		var rx, ry uint32
		if x&s != 0 {
			rx = 1
		}
		if y&s != 0 {
			ry = 1
		}
		d += uint64(s) * uint64(s) * uint64((3*rx)^ry)
		// Turn the quadrant so that the curve runs on from the last one.
		if ry == 0 {
			if rx == 1 {
				x, y = side-1-x, side-1-y
			}
			x, y = y, x
		}
	}
	return d
}
