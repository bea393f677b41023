// Package vector serves vector files (GeoPackage, FlatGeobuf, Shapefile,
// GeoJSON: anything GDAL/OGR reads) as tiles and file-mode results with no UDF
// written. A tile reads only what its spatial index returns for the buffered
// tile; low zooms of large layers are thinned from an in-memory overview built
// by one scan of the file when it is opened (see thin.go).
package vector

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/internal/gdal"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// DefaultMaxFeatures is the per-tile (and per-run) feature limit when the config sets none.
const DefaultMaxFeatures = 20000

// Buffer is the margin read around a tile, in pixels of a 256 px tile: what the
// MVT encoder keeps beyond the edge so that strokes and labels join up.
const Buffer = 64

// directBudget is the most features a tile may meet for it to be read straight
// from the file through the spatial index; zooms whose densest tile meets more
// are thinned from the overview, which reads only the features kept.
const directBudget = 65536

// maxOverview bounds the features an overview holds (about 28 bytes each). A
// larger layer reads every tile from the file, which is slow at low zooms.
const maxOverview = 16 << 20

// recheckFile is how often a served file is checked for replacement.
const recheckFile = time.Second

// retryOpen bounds how often a missing or broken file is tried again.
const retryOpen = 5 * time.Second

// Formats are the formats a vector layer serves; mvt is the default.
var Formats = []string{"mvt", "pbf", "geojson", "json", "csv", "parquet", "feather", "xlsx"}

// Options configure a Layer.
type Options struct {
	Path  string // local path or /vsi... GDAL path
	Layer string // OGR layer name; "" = the first
	// Columns are the columns served as properties and usable in filter=; empty = all.
	Columns     []string
	MaxFeatures int  // per tile or run; 0 = DefaultMaxFeatures
	MinZoom     *int // overrides 0
	MaxZoom     *int // overrides the zoom derived from the extent
	Pool        int  // dataset handles, each used by one read at a time; 0 = 8
	// Logger hears of invalid geometries, once per tile; nil = discard.
	Logger *slog.Logger
}

// Layer is a layer.Handler serving one layer of a vector file.
type Layer struct {
	opts   Options
	budget int // directBudget; tests lower it to exercise the overview
	// resident is the most features held in memory (residentFeatures; tests
	// set 0 to read the file)
	resident int
	// pool holds the file's handles; reset when the file changes: handles of
	// the old file are closed as they are next used.
	pool *gdal.Pool[*handle]
	turn atomic.Uint64

	mu      sync.Mutex
	st      *state
	err     error
	tried   time.Time
	checked time.Time
}

// New returns a layer and starts opening the file. A file that cannot be opened
// does not fail construction: Status reports why, and tiles answer 503 until a
// later attempt succeeds.
func New(opts Options) *Layer {
	return newLayer(opts, directBudget, residentFeatures)
}

// newLayer is New with the thinning budget (see directBudget) and the most
// features the layer may hold in memory (0: none; see resident.go).
func newLayer(opts Options, budget, resident int) *Layer {
	if opts.Pool <= 0 {
		opts.Pool = 8
	}
	if opts.MaxFeatures <= 0 {
		opts.MaxFeatures = DefaultMaxFeatures
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	gdal.Register()
	// Opening a vector file costs milliseconds: a free handle already open is
	// taken before one is opened.
	l := &Layer{opts: opts, budget: budget, resident: resident,
		pool: gdal.NewPool(opts.Pool, func(h *handle) { h.src.Close() }, true)}
	_, _ = l.load()
	return l
}

// state is what is known about one version of the file.
type state struct {
	version   string
	name      string   // the OGR layer's name
	all       []column // every field
	cols      []column // the served ones
	lonlat    bool     // the layer is in lon/lat WGS 84
	count     int64
	extent    [4]float64 // in the layer's CRS
	hasExtent bool
	bounds    tiles.Bounds // lon/lat
	schema    layer.Schema

	ready  chan struct{} // closed when the overview is built or has failed
	ov     *overview     // nil past maxOverview
	ovErr  error
	ovZoom int // tiles of zooms up to this one are thinned from the overview

	filters filterCache
	geoms   *geomCache // converted geometries by FID (OGR files)
	res     *resident  // the whole layer in memory (small lon/lat layers); nil = none
	pq      *pqFile    // a GeoParquet file, read without OGR; nil for the others
}

// load returns the file's state, opening it on first use, after a failure or
// when the file was replaced.
func (l *Layer) load() (*state, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st != nil {
		if time.Since(l.checked) < recheckFile {
			return l.st, nil
		}
		l.checked = time.Now()
		if l.fingerprint() == l.st.version {
			return l.st, nil
		}
		if pq := l.st.pq; pq != nil {
			time.AfterFunc(time.Minute, pq.Close) // after the reads still using it
		}
		l.st = nil
		l.pool.Reset() // handles reopen the file when they are next used
	}
	if l.err != nil && time.Since(l.tried) < retryOpen {
		return nil, l.err
	}
	l.tried = time.Now()
	st, src, err := l.open()
	if err != nil {
		l.err = err
		return nil, err
	}
	l.st, l.err, l.checked = st, nil, time.Now()
	l.pool.Adopt(&handle{src: src})
	go l.index(st)
	return st, nil
}

func (l *Layer) open() (*state, *source, error) {
	p := l.opts.Path
	var st *state
	var src *source
	if isGeoParquet(p) {
		var err error
		if st, src, err = l.openParquet(); err != nil {
			return nil, nil, err
		}
	} else {
		var err error
		if src, err = openSource(p, l.opts.Layer); err != nil {
			return nil, nil, fmt.Errorf("cannot open %s: %v", p, err)
		}
		st = &state{version: l.fingerprint(), name: src.name(), all: src.columns(), geoms: newGeomCache(),
			lonlat: src.lonlat(), ready: make(chan struct{})}
		st.count, st.extent, st.hasExtent = src.info()
		if err := src.err(); err != nil {
			src.Close()
			return nil, nil, fmt.Errorf("%s: %v", p, err)
		}
	}
	closeAll := func() {
		src.Close()
		if st.pq != nil {
			st.pq.Close()
		}
	}
	if len(l.opts.Columns) == 0 {
		for _, c := range st.all {
			if c.served() {
				st.cols = append(st.cols, c)
			}
		}
	}
	for _, name := range l.opts.Columns {
		c, ok := findColumn(st.all, name)
		if !ok {
			closeAll()
			return nil, nil, fmt.Errorf("%s: columns: no column %q in layer %s; it has: %s", p, name, st.name, columnNames(st.all))
		}
		if !slices.ContainsFunc(st.cols, func(o column) bool { return o.Name == c.Name }) {
			st.cols = append(st.cols, c)
		}
	}
	st.bounds = lonLatBounds(src, st)
	st.schema = l.schema(st)
	return st, src, nil
}

// lonLatBounds is the layer's extent in lon/lat: the extent's outline
// transformed, or the world when it cannot be.
func lonLatBounds(src *source, st *state) tiles.Bounds {
	world := tiles.Bounds{MinX: -180, MinY: -90, MaxX: 180, MaxY: 90}
	if !st.hasExtent {
		return world
	}
	e := st.extent
	xs, ys := outline(e, 32)
	ok := make([]bool, len(xs))
	if !st.lonlat {
		// Transform point by point: a corner off the projection's area must not
		// lose the others.
		for i := range xs {
			x, y := xs[i:i+1], ys[i:i+1]
			ok[i] = src.transform(true, x, y)
		}
	} else {
		for i := range ok {
			ok[i] = true
		}
	}
	b := tiles.Bounds{MinX: math.Inf(1), MinY: math.Inf(1), MaxX: math.Inf(-1), MaxY: math.Inf(-1)}
	for i := range xs {
		if ok[i] {
			b.MinX, b.MaxX = math.Min(b.MinX, xs[i]), math.Max(b.MaxX, xs[i])
			b.MinY, b.MaxY = math.Min(b.MinY, ys[i]), math.Max(b.MaxY, ys[i])
		}
	}
	if b.MinX > b.MaxX {
		return world
	}
	b = tiles.Bounds{MinX: math.Max(-180, b.MinX), MinY: math.Max(-90, b.MinY), MaxX: math.Min(180, b.MaxX), MaxY: math.Min(90, b.MaxY)}
	// A single point still meets the tiles around it.
	const eps = 1e-7
	if b.MaxX-b.MinX < eps {
		b.MinX, b.MaxX = b.MinX-eps, b.MaxX+eps
	}
	if b.MaxY-b.MinY < eps {
		b.MinY, b.MaxY = b.MinY-eps, b.MaxY+eps
	}
	return b
}

// outline returns n points along each edge of a box, counter-clockwise.
func outline(e [4]float64, n int) (xs, ys []float64) {
	for i := 0; i < n; i++ {
		f := float64(i) / float64(n)
		xs = append(xs, e[0]+f*(e[2]-e[0]), e[2], e[2]-f*(e[2]-e[0]), e[0])
		ys = append(ys, e[1], e[1]+f*(e[3]-e[1]), e[3], e[3]-f*(e[3]-e[1]))
	}
	return xs, ys
}

// index scans the file once: every feature's FID, size and envelope go into the
// overview, and a file that cannot be read through is reported by Status.
func (l *Layer) index(st *state) {
	defer close(st.ready)
	defer func() {
		if st.ovErr != nil {
			l.opts.Logger.Warn("vector layer unavailable", "path", l.opts.Path, "error", st.ovErr.Error())
		}
	}()
	start := time.Now()
	if st.pq != nil {
		l.indexParquet(st, start)
		return
	}
	if st.count > maxOverview {
		st.ovZoom = -1
		l.opts.Logger.Warn("vector layer too large for an overview: low zooms read the file", "path", l.opts.Path, "features", st.count)
		return
	}
	src, err := openSource(l.opts.Path, l.opts.Layer)
	if err != nil {
		st.ovErr = fmt.Errorf("cannot open %s: %v", l.opts.Path, err)
		return
	}
	defer src.Close()
	ignored := []string{}
	for _, c := range st.all {
		ignored = append(ignored, c.Name)
	}
	if err := src.query(nil, "", ignored); err != nil {
		st.ovErr = fmt.Errorf("%s: %v", l.opts.Path, err)
		return
	}
	var b overviewBuilder
	batch := newScanBatch(1 << 14)
	for {
		n := src.scan(batch)
		b.add(batch, n)
		if n < len(batch.fid) {
			break
		}
	}
	if err := src.err(); err != nil {
		st.ovErr = fmt.Errorf("%s: reading feature %d: %v", l.opts.Path, len(b.keys)+1, err)
		return
	}
	st.ov = b.build()
	st.ovZoom = st.ov.deepest(l.budget)
	if st.lonlat && len(st.ov.fid) <= l.resident {
		res, err := loadResident(l.opts.Path, l.opts.Layer, st)
		switch {
		case err != nil:
			l.opts.Logger.Warn("vector layer not held in memory: tiles read the file", "path", l.opts.Path, "error", err.Error())
		case res != nil:
			st.res = res
			l.opts.Logger.Debug("vector layer held in memory", "path", l.opts.Path, "features", len(res.feats))
		}
	}
	l.opts.Logger.Debug("vector overview built", "path", l.opts.Path, "features", len(st.ov.fid),
		"thinned_to_zoom", st.ovZoom, "seconds", time.Since(start).Seconds())
}

// fingerprint identifies the file's content and the layer's options.
func (l *Layer) fingerprint() string {
	h := sha256.New()
	fmt.Fprintf(h, "vector/1|%s|%s|%q|%d", l.opts.Path, l.opts.Layer, l.opts.Columns, l.opts.MaxFeatures)
	if st, err := os.Stat(l.opts.Path); err == nil {
		fmt.Fprintf(h, "|%d|%d", st.Size(), st.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Status reports why the layer cannot be served, or nil.
func (l *Layer) Status() error {
	st, err := l.load()
	if err != nil {
		return err
	}
	select {
	case <-st.ready:
		return st.ovErr
	default:
		return nil
	}
}

// Version changes when the file or the layer's options change.
func (l *Layer) Version() string {
	if st, err := l.load(); err == nil {
		return st.version
	}
	return l.fingerprint()
}

// Schema lists the query parameters, modes and formats of a vector layer.
func (l *Layer) Schema() layer.Schema {
	if st, err := l.load(); err == nil {
		return st.schema
	}
	return l.schema(nil)
}

func (l *Layer) schema(st *state) layer.Schema {
	s := layer.Schema{
		Params: []layer.Param{
			{Name: "columns", Type: layer.List, Description: "properties to return, comma-separated (default: all)"},
			{Name: "filter", Type: layer.Str, Description: "an attribute filter, e.g. pop_est > 1000000 AND continent = 'Africa' " +
				"(=, <>, <, <=, >, >=, IN, BETWEEN, LIKE, IS NULL, AND, OR, NOT)"},
		},
		Modes:         []string{"tile", "file"},
		Formats:       Formats,
		DefaultFormat: "mvt",
		MaxZoom:       22,
		Bounds:        tiles.Bounds{MinX: -180, MinY: -tiles.MaxLat, MaxX: 180, MaxY: tiles.MaxLat},
		Doc: fmt.Sprintf("Features of %s; tiles keep at most %d features, largest first, "+
			"and drop lines and polygons under half a pixel.", filepath.Base(l.opts.Path), l.opts.MaxFeatures),
	}
	if st != nil {
		s.Params[0].Description += ": " + columnNames(st.cols)
		s.Bounds = st.bounds
		s.MaxZoom = extentZoom(st.bounds)
	}
	if l.opts.MinZoom != nil {
		s.MinZoom = *l.opts.MinZoom
	}
	if l.opts.MaxZoom != nil {
		s.MaxZoom = *l.opts.MaxZoom
	}
	return s
}

// extentZoom is the default maxzoom: 12 zooms below the one where the layer
// fits one tile, between 14 (a world layer; clients overzoom vector tiles) and 22.
func extentZoom(b tiles.Bounds) int {
	m := b.ToMercator()
	span := math.Max(m.MaxX-m.MinX, m.MaxY-m.MinY)
	z := 22
	if span > 0 {
		z = int(math.Floor(math.Log2(2*tiles.OriginShift/span))) + 12
	}
	return max(14, min(22, z))
}

// handle is one open source of the file.
type handle struct {
	src *source
}

// open opens a handle for st: the file through OGR, or for a GeoParquet file
// (read without OGR) the transforms of its CRS.
func (l *Layer) openHandle(st *state) (*handle, error) {
	var src *source
	var err error
	if st.pq != nil {
		src, err = crsSource(st.pq.crs)
	} else {
		src, err = openSource(l.opts.Path, l.opts.Layer)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %v", l.opts.Path, err)
	}
	return &handle{src: src}, nil
}

// acquire takes a handle of the pool for a read of st; release gives it
// back, closing it when broken.
func (l *Layer) acquire(st *state) (h *handle, release func(broken bool), err error) {
	h, release, err = l.pool.Acquire(l.turn.Add(1), func() (*handle, error) { return l.openHandle(st) })
	if err == nil {
		h.src.geoms = st.geoms
	}
	return h, release, err
}

// Close releases the dataset handles; reads afterwards open new ones.
func (l *Layer) Close() { l.pool.Close() }

// query is one read: where, what and how much.
type query struct {
	area   *tiles.Bounds // lon/lat; nil = the whole layer
	thr    float32       // smallest visible line or polygon, EPSG:3857 metres; 0 = all
	zoom   int           // -1 in file mode
	cols   []column
	filter *filter
	limit  int
}

// Run reads a tile (Request.Tile) or, in file mode, the features meeting
// Request.Bounds (all of them when unset), as lon/lat features.
func (l *Layer) Run(ctx context.Context, req layer.Request) (layer.Result, error) {
	st, err := l.load()
	if err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	select {
	case <-st.ready:
	case <-ctx.Done():
		return nil, layer.Errorf(layer.Timeout, "the layer is still being indexed: %v", ctx.Err())
	}
	if st.ovErr != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: st.ovErr.Error()}
	}
	q := query{zoom: -1, limit: l.opts.MaxFeatures, cols: st.cols}
	if err := q.params(st, req.Params); err != nil {
		return nil, err
	}
	if t := req.Tile; t != nil {
		m := t.Mercator()
		pad := (m.MaxX - m.MinX) * Buffer / 256
		m = tiles.Bounds{MinX: m.MinX - pad, MinY: m.MinY - pad, MaxX: m.MaxX + pad, MaxY: m.MaxY + pad}
		area := m.ToLonLat()
		q.area, q.zoom, q.thr = &area, t.Z, threshold(t.Z)
	} else if req.Bounds != (tiles.Bounds{}) {
		area := req.Bounds
		q.area = &area
	}
	h, release, err := l.acquire(st)
	if err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	res, err := l.read(ctx, st, h, q)
	// A handle that failed may be in a bad state: it is dropped.
	release(err != nil && layer.KindOf(err) == layer.Unavailable)
	return res, err
}

// params reads columns= and filter=.
func (q *query) params(st *state, p map[string]any) error {
	if v, ok := p["columns"].([]any); ok && len(v) > 0 {
		q.cols = nil
		for _, x := range v {
			name, ok := x.(string)
			if !ok {
				return layer.Errorf(layer.BadRequest, "parameter columns: want column names, got %v", x)
			}
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			c, ok := findColumn(st.cols, name)
			if !ok {
				return layer.Errorf(layer.BadRequest, "parameter columns: no column %q; columns: %s", name, columnNames(st.cols))
			}
			if !slices.ContainsFunc(q.cols, func(o column) bool { return o.Name == c.Name }) {
				q.cols = append(q.cols, c)
			}
		}
	}
	if s, ok := p["filter"].(string); ok && strings.TrimSpace(s) != "" {
		f, err := parseFilter(s, st.cols)
		if err != nil {
			return layer.Errorf(layer.BadRequest, "parameter filter: %v", err)
		}
		q.filter = f
	}
	return nil
}

// outcome counts what happened to the features of one read.
type outcome struct {
	repaired, invalid, unprojectable int
	skippedFIDs                      []int64
	truncated                        bool
	more                             string // how many more features there were, when known
}

func (o *outcome) note(status int, fid int64) {
	switch status {
	case geomRepaired:
		o.repaired++
		return
	case geomInvalid:
		o.invalid++
	case geomUnprojectable:
		o.unprojectable++
	default:
		return
	}
	if len(o.skippedFIDs) < 10 {
		o.skippedFIDs = append(o.skippedFIDs, fid)
	}
}

// kept is a feature chosen for the result.
type kept struct {
	key rankKey
	f   *geojson.Feature
}

func (l *Layer) read(ctx context.Context, st *state, h *handle, q query) (layer.Result, error) {
	fc := geojson.NewFeatureCollection()
	res := &layer.Features{Collection: fc}
	rect, empty := sourceRect(st, h.src, q.area)
	if empty {
		return res, nil
	}
	if q.filter != nil && st.pq == nil {
		if err := st.filters.validate(h.src, q.filter, st); err != nil {
			return nil, err
		}
	}
	var (
		out []kept
		oc  outcome
		err error
	)
	switch {
	case st.res != nil && q.filter == nil && q.zoom >= 0:
		out, err = st.res.read(ctx, q, rect, &oc)
	case st.ov != nil && (q.zoom < 0 || q.zoom <= st.ovZoom):
		out, err = l.thinned(ctx, st, h, q, rect, &oc)
	case st.pq != nil:
		out, err = l.directParquet(ctx, st, h, q, rect, &oc)
	default:
		out, err = l.direct(ctx, st, h, q, rect, &oc)
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b kept) int { return cmpInt64(a.key.fid, b.key.fid) })
	for _, k := range out {
		fc.Append(k.f)
	}
	res.Logs = l.report(q, len(out), &oc)
	if oc.truncated {
		res.Truncated = strconv.Itoa(len(out)) + cmp.Or(oc.more, " of more")
	}
	return res, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// report logs geometry trouble once per read and returns the result's log lines.
func (l *Layer) report(q query, n int, oc *outcome) string {
	var lines []string
	if oc.truncated {
		lines = append(lines, fmt.Sprintf("max_features: kept %d features, largest first%s", n, oc.more))
	}
	if oc.repaired+oc.invalid+oc.unprojectable > 0 {
		where := "file"
		if q.zoom >= 0 && q.area != nil {
			where = fmt.Sprintf("z%d %.5f,%.5f,%.5f,%.5f", q.zoom, q.area.MinX, q.area.MinY, q.area.MaxX, q.area.MaxY)
		}
		l.opts.Logger.Warn("vector layer: invalid geometries", "path", l.opts.Path, "where", where,
			"repaired", oc.repaired, "skipped_invalid", oc.invalid, "skipped_unprojectable", oc.unprojectable, "fids", oc.skippedFIDs)
		lines = append(lines, fmt.Sprintf("geometries: %d repaired, %d invalid and %d unprojectable skipped (FIDs %v)",
			oc.repaired, oc.invalid, oc.unprojectable, oc.skippedFIDs))
	}
	return strings.Join(lines, "\n")
}

// sourceRect is the spatial filter for a lon/lat area in the layer's CRS: the
// envelope of the area's outline, transformed. empty reports an area that
// cannot hold features.
func sourceRect(st *state, src *source, area *tiles.Bounds) (rect *[4]float64, empty bool) {
	if area == nil {
		return nil, false
	}
	if st.lonlat {
		return &[4]float64{area.MinX, area.MinY, area.MaxX, area.MaxY}, false
	}
	try := func(b tiles.Bounds) *[4]float64 {
		xs, ys := outline([4]float64{b.MinX, b.MinY, b.MaxX, b.MaxY}, 16)
		if !src.transform(false, xs, ys) {
			return nil
		}
		return &[4]float64{slices.Min(xs), slices.Min(ys), slices.Max(xs), slices.Max(ys)}
	}
	if r := try(*area); r != nil {
		return r, false
	}
	// Part of the area is off the projection: keep to the layer's surroundings.
	b := st.bounds
	padX, padY := (b.MaxX-b.MinX)*0.05+1e-6, (b.MaxY-b.MinY)*0.05+1e-6
	clip := tiles.Bounds{MinX: math.Max(area.MinX, math.Max(-180, b.MinX-padX)), MinY: math.Max(area.MinY, math.Max(-90, b.MinY-padY)),
		MaxX: math.Min(area.MaxX, math.Min(180, b.MaxX+padX)), MaxY: math.Min(area.MaxY, math.Min(90, b.MaxY+padY))}
	if clip.MinX >= clip.MaxX || clip.MinY >= clip.MaxY {
		return nil, true
	}
	if r := try(clip); r != nil {
		return r, false
	}
	if st.hasExtent {
		e := st.extent
		return &e, false
	}
	return nil, false
}

// ignoredFields lists the fields a read need not fetch.
func ignoredFields(st *state, q query, geometry bool) []string {
	need := map[string]bool{}
	for _, c := range q.cols {
		need[c.Name] = true
	}
	if q.filter != nil {
		for _, c := range q.filter.Columns {
			need[c] = true
		}
	}
	var out []string
	for _, c := range st.all {
		if !need[c.Name] {
			out = append(out, c.Name)
		}
	}
	if !geometry {
		out = append(out, "OGR_GEOMETRY")
	}
	return out
}

// direct reads the tile from the file: OGR's spatial filter (the file's spatial
// index) and attribute filter, then thinning of what comes back.
func (l *Layer) direct(ctx context.Context, st *state, h *handle, q query, rect *[4]float64, oc *outcome) ([]kept, error) {
	where := ""
	if q.filter != nil {
		where = q.filter.SQL
	}
	if err := h.src.query(rect, where, ignoredFields(st, q, true)); err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: fmt.Sprintf("%s: %v", l.opts.Path, err)}
	}
	var out []kept
	for i := 0; ; i++ {
		if i%1024 == 0 && ctx.Err() != nil {
			return nil, layer.Errorf(layer.Timeout, "reading %s: %v", l.opts.Path, ctx.Err())
		}
		f, ok := h.src.next(q.thr)
		if !ok {
			break
		}
		if gf := extract(h.src, f, q, oc); gf != nil {
			out = append(out, kept{key: newRankKey(f.cls, f.size, f.fid), f: gf})
		}
	}
	if err := h.src.err(); err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: fmt.Sprintf("reading %s: %v", l.opts.Path, err)}
	}
	return truncate(out, q.limit, oc), nil
}

// thinned picks the tile's features from the overview in rank order and reads
// only those, by FID.
func (l *Layer) thinned(ctx context.Context, st *state, h *handle, q query, rect *[4]float64, oc *outcome) ([]kept, error) {
	var allow func(int64) bool
	if q.filter != nil {
		set, err := st.filters.fids(h.src, q.filter, st)
		if err != nil {
			return nil, err
		}
		allow = set.has
	}
	ignored := ignoredFields(st, q, true)
	fidCol := ""
	if st.pq == nil {
		fidCol = h.src.fidColumn()
	}
	ov := st.ov
	var out []kept
	var idx []int
	pos := 0
	for len(out) < q.limit && pos >= 0 {
		if ctx.Err() != nil {
			return nil, layer.Errorf(layer.Timeout, "reading %s: %v", l.opts.Path, ctx.Err())
		}
		idx = idx[:0]
		pos = ov.walk(rect, q.thr, allow, pos, q.limit-len(out), &idx)
		ids := make([]int64, len(idx))
		for k, i := range idx {
			ids[k] = ov.fid[i]
		}
		// Reading in FID order follows the file's order: far fewer seeks.
		slices.Sort(ids)
		var err error
		switch {
		case st.pq != nil:
			out, err = fetchParquet(ctx, st, h.src, ids, rect, q, oc, out)
		case fidCol != "":
			out, err = fetchSQL(h.src, fidCol, ids, rect, ignored, q, oc, out)
		default:
			out, err = fetchEach(h.src, ids, rect, ignored, q, oc, out)
		}
		if err != nil {
			return nil, &layer.Error{Kind: layer.Unavailable, Msg: fmt.Sprintf("reading %s: %v", l.opts.Path, err)}
		}
	}
	if pos >= 0 {
		oc.truncated = true
	}
	return out, nil
}

// fetchEach reads features one by one by FID (FlatGeobuf and shapefiles seek
// to them through their index), keeping those that meet rect.
func fetchEach(src *source, ids []int64, rect *[4]float64, ignored []string, q query, oc *outcome, out []kept) ([]kept, error) {
	if err := src.exact(rect, ignored); err != nil {
		return out, err
	}
	for _, id := range ids {
		f := src.get(id)
		if f.h == nil {
			if err := src.err(); err != nil {
				return out, err
			}
			continue // gone since the scan; the next check of the file reloads it
		}
		if !src.intersects(f) {
			f.release()
			continue
		}
		if gf := extract(src, f, q, oc); gf != nil {
			out = append(out, kept{key: rankKey{fid: f.fid}, f: gf}) // chosen already: only the FID orders them now
		}
	}
	return out, nil
}

// fidChunk bounds the FIDs of one SQL IN list.
const fidChunk = 8192

// fetchSQL reads features by FID with `fid IN (...)` filters, which an SQL
// driver answers from its primary key in one pass: a GeoPackage does so four
// times faster than one lookup per FID.
func fetchSQL(src *source, fidCol string, ids []int64, rect *[4]float64, ignored []string, q query, oc *outcome, out []kept) ([]kept, error) {
	var sb strings.Builder
	for len(ids) > 0 {
		n := min(len(ids), fidChunk)
		sb.Reset()
		sb.WriteString(quoteIdent(fidCol) + " IN (")
		for k, id := range ids[:n] {
			if k > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.FormatInt(id, 10))
		}
		sb.WriteByte(')')
		ids = ids[n:]
		if err := src.setQuery(rect, false, sb.String(), ignored); err != nil {
			return out, err
		}
		for {
			f, ok := src.next(0)
			if !ok {
				break
			}
			if !src.intersects(f) {
				f.release()
				continue
			}
			if gf := extract(src, f, q, oc); gf != nil {
				out = append(out, kept{key: rankKey{fid: f.fid}, f: gf})
			}
		}
		if err := src.err(); err != nil {
			return out, err
		}
	}
	return out, nil
}

// extract converts an OGR feature to a GeoJSON feature in lon/lat and releases
// it; nil when its geometry is skipped.
func extract(src *source, f feature, q query, oc *outcome) *geojson.Feature {
	defer f.release()
	e := src.convert(f)
	oc.note(e.status, f.fid)
	if e.g == nil {
		return nil
	}
	gf := geojson.NewFeature(e.g)
	gf.ID = f.fid
	gf.Properties = properties(f, q.cols)
	return gf
}
