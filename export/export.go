// Package export prerenders a layer's tiles into a directory, an MBTiles or
// PMTiles archive, or an S3 prefix. Tiles are rendered by the server's own
// HTTP handler in process, so an export holds exactly what the server serves
// (and reads and fills the same cache). An export is resumable: tiles already
// stored are skipped, archives are assembled in a staging file beside the
// destination and renamed into place when complete. --shard i/n splits the
// tile set so that n processes share the work.
package export

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/progress"
	"github.com/udftiles/udftiles/render"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/tileservice"
)

// Options describe one export.
type Options struct {
	Service *tileservice.Service // renders the tiles, through the server's cache
	UDF     string
	// Area is where tiles are rendered, in lon/lat: a bbox, and optionally
	// polygons within it (tiles meeting none of them are not rendered).
	Area             Area
	MinZoom, MaxZoom int
	Format           string     // "" = the layer's default format
	Params           url.Values // handler and style parameters
	Dest             string     // directory, *.mbtiles, *.pmtiles or s3://bucket/prefix
	Concurrency      int        // tiles rendered at once; 0 = 4
	Shard, Shards    int        // this process renders the tiles whose index mod Shards is Shard; Shards 0 = 1
	KeepEmpty        bool       // store empty tiles too (transparent images, MVT without features)
	Progress         io.Writer  // progress bar or lines; nil = none
	// Open opens the destination (nil = Open); tests inject failing sinks.
	Open func(dest, format string) (Sink, error)
}

// Area is a bbox in lon/lat and optional polygons.
type Area struct {
	BBox     tiles.Bounds
	Polygons []orb.Polygon
}

// Summary is what an export did.
type Summary struct {
	Tiles      int64 // in this shard's tile set
	Written    int64 // rendered and stored now
	Existing   int64 // stored by an earlier run: skipped
	Empty      int64 // empty: not stored
	Duplicates int64 // stored once for several tiles (archives)
	Failed     int64
	Bytes      int64
	Elapsed    time.Duration
}

func (s Summary) String() string {
	rate := float64(s.Written+s.Empty) / math.Max(s.Elapsed.Seconds(), 1e-9)
	return fmt.Sprintf("%s tiles: %s written, %s empty skipped, %s already there, %s duplicates stored once, %s failed; %s bytes in %.1fs (%s tiles/s)",
		progress.Count(s.Tiles), progress.Count(s.Written), progress.Count(s.Empty), progress.Count(s.Existing),
		progress.Count(s.Duplicates), progress.Count(s.Failed), progress.Count(s.Bytes), s.Elapsed.Seconds(), progress.Count(int64(rate)))
}

// maxAttempts bounds the renders of a tile that fails for a reason that may pass.
const maxAttempts = 3

// Run exports the tiles. A failure leaves what was stored for the next run.
func Run(ctx context.Context, o Options) (Summary, error) {
	start := time.Now()
	var sum Summary
	if err := o.validate(); err != nil {
		return sum, err
	}
	info, err := layerInfo(o)
	if err != nil {
		return sum, err
	}
	format := o.Format
	if format == "" {
		format = info.Format
	}
	// Zooms the layer does not serve would be 404s: left out, and said so.
	if o.MinZoom < info.MinZoom || o.MaxZoom > info.MaxZoom {
		lo, hi := max(o.MinZoom, info.MinZoom), min(o.MaxZoom, info.MaxZoom)
		if lo > hi {
			return sum, fmt.Errorf("layer %s serves zooms %d to %d, none of %d to %d", o.UDF, info.MinZoom, info.MaxZoom, o.MinZoom, o.MaxZoom)
		}
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "layer %s serves zooms %d to %d: exporting %d to %d\n", o.UDF, info.MinZoom, info.MaxZoom, lo, hi)
		}
		o.MinZoom, o.MaxZoom = lo, hi
	}
	open := o.Open
	if open == nil {
		open = Open
	}
	sink, err := open(o.Dest, format)
	if err != nil {
		return sum, err
	}
	finished := false
	defer func() {
		if !finished {
			sink.Close()
		}
	}()

	// Vector tiles in archives are gzipped, as MBTiles 1.3 says of pbf and as
	// PMTiles readers expect; directories and S3 keep them as served.
	lower := strings.ToLower(o.Dest)
	gz := (format == "mvt" || format == "pbf") && (strings.HasSuffix(lower, ".mbtiles") || strings.HasSuffix(lower, ".pmtiles"))

	sum.Tiles = o.count()
	label := fmt.Sprintf("export %s z%d-%d", o.UDF, o.MinZoom, o.MaxZoom)
	if o.Shards > 1 {
		label += fmt.Sprintf(" shard %d/%d", o.Shard, o.Shards)
	}
	bar := progress.New(o.Progress, label, sum.Tiles)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan []tiles.Tile, o.Concurrency)
	var (
		wg                                     sync.WaitGroup
		firstErr                               error
		errOnce                                sync.Once
		written, existing, empty, failed, byts atomic.Int64
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	// exportTile renders and stores one tile; false stops the worker.
	exportTile := func(t tiles.Tile) bool {
		has, err := sink.Has(t)
		if err != nil {
			fail(fmt.Errorf("%s: %v", t, err))
			return false
		}
		if has {
			existing.Add(1)
			bar.Add(1)
			return true
		}
		body, missing, err := renderTile(ctx, o, info.layer, format, t)
		switch {
		case ctx.Err() != nil:
			return false
		case err != nil:
			failed.Add(1)
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "\ntile %s failed: %v\n", t, err)
			}
		case missing || len(body) == 0 || !o.KeepEmpty && render.IsEmpty(body, format):
			empty.Add(1)
		default:
			if gz {
				body = gzipped(body)
			}
			if err := sink.Put(t, body); err != nil {
				fail(fmt.Errorf("storing tile %s: %v", t, err))
				return false
			}
			written.Add(1)
			byts.Add(int64(len(body)))
		}
		bar.Add(1)
		return true
	}
	for i := 0; i < o.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for block := range work {
				for _, t := range block {
					if !exportTile(t) {
						return
					}
				}
			}
		}()
	}
	o.eachBlock(func(block []tiles.Tile) bool {
		select {
		case work <- block:
			return true
		case <-ctx.Done():
			return false
		}
	})
	close(work)
	wg.Wait()
	bar.Done()
	st := sink.Stats()
	sum.Written, sum.Existing, sum.Empty, sum.Failed, sum.Bytes = written.Load(), existing.Load(), empty.Load(), failed.Load(), byts.Load()
	sum.Duplicates = st.Duplicates
	sum.Elapsed = time.Since(start)
	if firstErr != nil {
		return sum, firstErr
	}
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("stopped: %v; run the same command again to continue", err)
	}
	if sum.Failed > 0 {
		return sum, fmt.Errorf("%d tiles failed (see above); the others are stored: run the same command again to retry them", sum.Failed)
	}
	m := Metadata{Name: info.Name, Description: info.Description, Attribution: info.Attribution, Format: format,
		MinZoom: o.MinZoom, MaxZoom: o.MaxZoom, Bounds: clampLat(o.Area.BBox), VectorLayers: info.VectorLayers}
	if gz {
		m.TileCompression = "gzip"
	}
	if err := sink.Finish(m); err != nil {
		return sum, fmt.Errorf("finishing %s: %v", o.Dest, err)
	}
	finished = true
	sum.Elapsed = time.Since(start)
	return sum, nil
}

func (o *Options) validate() error {
	if o.Service == nil || o.UDF == "" || o.Dest == "" {
		return errors.New("a service, a UDF and a destination are required")
	}
	if o.MinZoom < 0 || o.MaxZoom > tiles.MaxZoom || o.MinZoom > o.MaxZoom {
		return fmt.Errorf("zooms %d to %d: want 0 <= minzoom <= maxzoom <= %d", o.MinZoom, o.MaxZoom, tiles.MaxZoom)
	}
	if o.Shards <= 0 {
		o.Shards = 1
	}
	if o.Shard < 0 || o.Shard >= o.Shards {
		return fmt.Errorf("shard %d of %d: want 0 <= i < n", o.Shard, o.Shards)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if err := o.Area.BBox.Validate(); err != nil {
		return fmt.Errorf("the area: %v", err)
	}
	return nil
}

// blockSide is the side, in tiles, of the blocks export renders one at a
// time on one worker: the tiles of a block share the file blocks a COG
// reader decompresses, and its dataset handle (cog's columnSlot homes four
// columns together), so that each is decompressed about once instead of once
// per worker that reads it.
const blockSide = 4

// each calls fn with the tiles of this shard in a fixed order: by zoom, then
// blockSide×blockSide blocks of tiles a row of blocks after the other, and a
// block's tiles column by column (the COG reader's column grids serve a
// column's tiles from one warp set-up); until fn returns false.
func (o *Options) each(fn func(tiles.Tile) bool) {
	var i int64
	for z := o.MinZoom; z <= o.MaxZoom; z++ {
		r := tiles.Cover(clampLat(o.Area.BBox), z)
		for by := r.MinY / blockSide; by <= r.MaxY/blockSide; by++ {
			for bx := r.MinX / blockSide; bx <= r.MaxX/blockSide; bx++ {
				for x := max(r.MinX, bx*blockSide); x <= min(r.MaxX, bx*blockSide+blockSide-1); x++ {
					for y := max(r.MinY, by*blockSide); y <= min(r.MaxY, by*blockSide+blockSide-1); y++ {
						t := tiles.Tile{Z: z, X: x, Y: y}
						if !o.Area.meets(t) {
							continue
						}
						mine := i%int64(o.Shards) == int64(o.Shard)
						i++
						if mine && !fn(t) {
							return
						}
					}
				}
			}
		}
	}
}

// eachBlock calls fn with the tiles of this shard block by block, in each's
// order, until fn returns false.
func (o *Options) eachBlock(fn func([]tiles.Tile) bool) {
	var block []tiles.Tile
	same := func(a, b tiles.Tile) bool {
		return a.Z == b.Z && a.X/blockSide == b.X/blockSide && a.Y/blockSide == b.Y/blockSide
	}
	stopped := false
	o.each(func(t tiles.Tile) bool {
		if len(block) > 0 && !same(block[0], t) {
			if !fn(block) {
				stopped = true
				return false
			}
			block = nil
		}
		block = append(block, t)
		return true
	})
	if !stopped && len(block) > 0 {
		fn(block)
	}
}

// count is the number of tiles each visits.
func (o *Options) count() int64 {
	var n int64
	if len(o.Area.Polygons) == 0 {
		var all int64
		for z := o.MinZoom; z <= o.MaxZoom; z++ {
			all += tiles.Cover(clampLat(o.Area.BBox), z).Count()
		}
		n = all / int64(o.Shards)
		if int64(o.Shard) < all%int64(o.Shards) {
			n++
		}
		return n
	}
	o.each(func(tiles.Tile) bool { n++; return true })
	return n
}

func clampLat(b tiles.Bounds) tiles.Bounds {
	b.MinY, b.MaxY = math.Max(b.MinY, -tiles.MaxLat), math.Min(b.MaxY, tiles.MaxLat)
	return b
}

// meets reports whether a tile's area meets the area: its bbox, and one of
// its polygons if it has any.
func (a Area) meets(t tiles.Tile) bool {
	b := t.LonLat()
	if len(a.Polygons) == 0 {
		return true
	}
	for _, p := range a.Polygons {
		if boxMeetsPolygon(b, p) {
			return true
		}
	}
	return false
}

// boxMeetsPolygon tests a lon/lat box against a polygon with holes: a corner of
// the box inside the polygon, a vertex of the polygon inside the box, or an
// edge of the polygon crossing an edge of the box.
func boxMeetsPolygon(b tiles.Bounds, p orb.Polygon) bool {
	if len(p) == 0 {
		return false
	}
	pb := p.Bound()
	if pb.Max[0] < b.MinX || pb.Max[1] < b.MinY || b.MaxX < pb.Min[0] || b.MaxY < pb.Min[1] {
		return false
	}
	corners := []orb.Point{{b.MinX, b.MinY}, {b.MaxX, b.MinY}, {b.MaxX, b.MaxY}, {b.MinX, b.MaxY}}
	for _, c := range corners {
		if planar.PolygonContains(p, c) {
			return true
		}
	}
	for _, ring := range p {
		for i, v := range ring {
			if v[0] >= b.MinX && v[0] <= b.MaxX && v[1] >= b.MinY && v[1] <= b.MaxY {
				return true
			}
			if i == 0 {
				continue
			}
			for k := range corners {
				if segmentsCross(ring[i-1], v, corners[k], corners[(k+1)%4]) {
					return true
				}
			}
		}
	}
	return false
}

// segmentsCross reports whether segments ab and cd share a point.
func segmentsCross(a, b, c, d orb.Point) bool {
	side := func(p, q, r orb.Point) float64 { return (q[0]-p[0])*(r[1]-p[1]) - (q[1]-p[1])*(r[0]-p[0]) }
	d1, d2 := side(c, d, a), side(c, d, b)
	d3, d4 := side(a, b, c), side(a, b, d)
	if (d1 > 0 && d2 < 0 || d1 < 0 && d2 > 0) && (d3 > 0 && d4 < 0 || d3 < 0 && d4 > 0) {
		return true
	}
	on := func(p, q, r orb.Point) bool { // r on segment pq, given collinear
		return math.Min(p[0], q[0]) <= r[0] && r[0] <= math.Max(p[0], q[0]) && math.Min(p[1], q[1]) <= r[1] && r[1] <= math.Max(p[1], q[1])
	}
	return d1 == 0 && on(c, d, a) || d2 == 0 && on(c, d, b) || d3 == 0 && on(a, b, c) || d4 == 0 && on(a, b, d)
}

// ReadArea reads a GeoJSON file (a geometry, a feature or a collection) as
// polygons and their bbox; other geometry types are an error.
func ReadArea(path string) (Area, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Area{}, err
	}
	var geoms []orb.Geometry
	if fc, err := geojson.UnmarshalFeatureCollection(b); err == nil && fc.Type == "FeatureCollection" {
		for _, f := range fc.Features {
			geoms = append(geoms, f.Geometry)
		}
	} else if f, err := geojson.UnmarshalFeature(b); err == nil && f.Type == "Feature" {
		geoms = append(geoms, f.Geometry)
	} else if g, err := geojson.UnmarshalGeometry(b); err == nil {
		geoms = append(geoms, g.Geometry())
	} else {
		return Area{}, fmt.Errorf("%s: not GeoJSON: %v", path, err)
	}
	var a Area
	for _, g := range geoms {
		switch v := g.(type) {
		case orb.Polygon:
			a.Polygons = append(a.Polygons, v)
		case orb.MultiPolygon:
			a.Polygons = append(a.Polygons, v...)
		case nil:
		default:
			return Area{}, fmt.Errorf("%s: the area must be polygons, got a %s", path, g.GeoJSONType())
		}
	}
	if len(a.Polygons) == 0 {
		return Area{}, fmt.Errorf("%s: no polygon in it", path)
	}
	bd := a.Polygons[0].Bound()
	for _, p := range a.Polygons[1:] {
		bd = bd.Union(p.Bound())
	}
	a.BBox = tiles.Bounds{MinX: bd.Min[0], MinY: bd.Min[1], MaxX: bd.Max[0], MaxY: bd.Max[1]}
	return a, nil
}

// layerMeta is what an export needs to know of its layer.
type layerMeta struct {
	Name, Description, Attribution string
	Format                         string
	VectorLayers                   []VectorLayer
	MinZoom, MaxZoom               int
	layer                          *layer.Layer
}

// exporter is the operator: private layers are exported too.
var exporter = tileservice.Caller{Private: true}

func layerInfo(o Options) (layerMeta, error) {
	l, err := o.Service.Layer(o.UDF, exporter)
	if err != nil {
		return layerMeta{}, fmt.Errorf("layer %s: %v", o.UDF, err)
	}
	if err := tileservice.SameSetting(o.Params); err != nil {
		return layerMeta{}, fmt.Errorf("layer %s: %v", o.UDF, err)
	}
	format := o.Format
	if format == "" {
		format = o.Params.Get("format")
	}
	in, err := o.Service.Info(l, format)
	if err != nil {
		return layerMeta{}, fmt.Errorf("layer %s: %v", o.UDF, err)
	}
	m := layerMeta{Name: in.Name, Description: in.Description, VectorLayers: in.VectorLayers, Format: in.Format,
		MinZoom: in.MinZoom, MaxZoom: in.MaxZoom, layer: l}
	if m.Format == "" {
		m.Format = "png"
	}
	return m, nil
}

// renderTile asks the service for a tile as a map client would, retrying
// failures that may pass (busy, timed out, a worker died). missing is a tile
// outside the layer's bounds or zooms.
func renderTile(ctx context.Context, o Options, l *layer.Layer, format string, t tiles.Tile) (body []byte, missing bool, err error) {
	q := url.Values{}
	for k, v := range o.Params {
		q[k] = v
	}
	q.Set("format", format)
	var last error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		e, err := o.Service.Tile(ctx, l, tileservice.Request{Tile: t, Query: q})
		switch k := layer.KindOf(err); {
		case err == nil:
			return e.Body, false, nil
		case ctx.Err() != nil:
			return nil, false, ctx.Err()
		case k == layer.NotFound:
			return nil, true, nil
		case k == layer.Unavailable || k == layer.Timeout || k == layer.WorkerDied:
			last = err
			select {
			case <-ctx.Done():
				return nil, false, ctx.Err()
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		default:
			return nil, false, err
		}
	}
	return nil, false, fmt.Errorf("after %d attempts: %v", maxAttempts, last)
}

// ParseShard reads "i/n" (0 <= i < n).
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("--shard %q: want i/n with 0 <= i < n, e.g. 0/3", s)
	}
	return i, n, nil
}

// gzipped compresses a tile; the same bytes give the same output, so
// duplicates stay duplicates.
func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}
