package cog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/udftiles/udftiles/internal/gdal"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// MosaicOptions configure a Mosaic.
type MosaicOptions struct {
	// Path is a glob (data/*.tif), a directory (its .tif and .tiff files),
	// a STAC ItemCollection, a MosaicJSON document or a footprint index
	// (GeoJSON, FlatGeobuf, GeoPackage, Shapefile or GeoParquet, with a
	// location or path column naming each file). Unused with Paths.
	Path string
	// Paths are the files, in the order they are read.
	Paths []string
	// Asset names the asset read of each STAC item; "" = its first GeoTIFF.
	Asset      string
	Bands      []int    // default band selection (1-based); empty = all
	NoData     *float64 // overrides the files' nodata
	Resampling string   // default resampling; "" = nearest
	MinZoom    *int     // overrides the zooms of the files (or the MosaicJSON's)
	MaxZoom    *int
	// MaxOpen bounds the files holding GDAL handles at once; 0 = 64.
	MaxOpen int
	// Pool is the dataset handles of each open file; 0 = 2.
	Pool int
}

// maxCombined bounds the files a tile combines with pixel_selection other
// than first (which stops once the tile is filled).
const maxCombined = 128

// Mosaic is a layer.Handler serving many raster files as one layer: each
// tile reads the files whose footprints meet it, in order, and combines
// them by pixel_selection. See docs/raster.md#mosaics.
type Mosaic struct {
	opts  MosaicOptions
	kind  string
	files *openFiles
	reads atomic.Int64 // tiles read of files

	mu      sync.Mutex
	idx     *mosaicIndex
	err     error
	tried   time.Time
	checked time.Time
	stamp   string
	scans   map[fileStat]scanned // what listed files were found to be, kept across rebuilds
}

// NewMosaic returns a mosaic and reads its source. A source that cannot be
// read does not fail construction: Status reports why, and tiles answer 503
// until a later attempt succeeds.
func NewMosaic(opts MosaicOptions) *Mosaic {
	if opts.MaxOpen <= 0 {
		opts.MaxOpen = 64
	}
	if opts.Pool <= 0 {
		opts.Pool = 2
	}
	if opts.Resampling == "" {
		opts.Resampling = "nearest"
	}
	gdal.Register()
	m := &Mosaic{opts: opts, kind: mosaicKind(opts.Path, opts.Paths)}
	if m.kind == "" {
		m.kind = kindList
		m.opts.Paths = []string{opts.Path}
	}
	lo, hi := 0, tiles.MaxZoom
	m.files = newOpenFiles(opts.MaxOpen, func(p string) Options {
		// The mosaic bounds the zooms; each file reads whatever is asked.
		return Options{Path: p, Bands: opts.Bands, NoData: opts.NoData, Resampling: opts.Resampling,
			MinZoom: &lo, MaxZoom: &hi, Pool: opts.Pool}
	})
	_, _ = m.load()
	return m
}

// load returns the index, built on first use and again when the source
// changes (checked at most once a second). While a rebuild fails, the last
// good index is served.
func (m *Mosaic) load() (*mosaicIndex, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.idx != nil && time.Since(m.checked) < recheckFile {
		return m.idx, nil
	}
	if m.idx == nil && m.err != nil && time.Since(m.tried) < retryOpen {
		return nil, m.err
	}
	now := time.Now()
	m.checked, m.tried = now, now
	idx, stamp, err := m.build()
	if err != nil {
		if m.idx != nil {
			return m.idx, nil
		}
		m.err = fmt.Errorf("mosaic %s: %v", m.describe(), err)
		return nil, m.err
	}
	if idx != nil {
		m.idx, m.stamp, m.err = idx, stamp, nil
		m.files.keep(idx.files)
	}
	return m.idx, nil
}

// describe names the source in messages.
func (m *Mosaic) describe() string {
	if m.kind == kindList {
		return fmt.Sprintf("of %d files", len(m.opts.Paths))
	}
	return m.opts.Path
}

// build reads the source when its fingerprint changed: the new index, or
// nil when it did not change.
func (m *Mosaic) build() (*mosaicIndex, string, error) {
	switch m.kind {
	case kindList, kindGlob, kindDirectory:
		files, err := listFiles(m.kind, m.opts.Path, m.opts.Paths)
		if err != nil {
			return nil, "", err
		}
		stamp := stampOf(files)
		if m.idx != nil && stamp == m.stamp {
			return nil, stamp, nil
		}
		scans, err := scanFiles(files, m.scans)
		if err != nil {
			return nil, "", err
		}
		m.scans = scans
		idx, err := listedIndex(m.kind, files, scans)
		if err != nil {
			return nil, "", err
		}
		m.zooms(idx, -1, -1)
		return idx, stamp, nil
	}
	stamp := indexStamp(m.opts.Path)
	if m.idx != nil && stamp == m.stamp {
		return nil, stamp, nil
	}
	kind, files, fps, lo, hi, err := readIndex(m.opts.Path, m.opts.Asset)
	if err != nil {
		return nil, "", err
	}
	// The files are opened as tiles need them; the first tells the bands and
	// sample type every other must have, and the zooms.
	first, err := scanFile(files[0])
	if err != nil {
		return nil, "", fmt.Errorf("the first file: %v", err)
	}
	idx := newMosaicIndex(kind, files, fps)
	idx.bands, idx.dtype, idx.minZoom, idx.maxZoom = first.bands, first.dtype, first.minZoom, first.maxZoom
	m.zooms(idx, lo, hi)
	return idx, stamp, nil
}

// zooms applies the source's zooms (lo, hi; -1 = none) and the options'.
func (m *Mosaic) zooms(idx *mosaicIndex, lo, hi int) {
	if lo >= 0 {
		idx.minZoom, idx.maxZoom = lo, hi
	}
	if m.opts.MinZoom != nil {
		idx.minZoom = *m.opts.MinZoom
	}
	if m.opts.MaxZoom != nil {
		idx.maxZoom = *m.opts.MaxZoom
	}
	if idx.minZoom > idx.maxZoom {
		idx.minZoom = idx.maxZoom
	}
}

// Status reports why the mosaic cannot be served, or nil.
func (m *Mosaic) Status() error {
	_, err := m.load()
	return err
}

// Version changes when the source (its list of files, their sizes and
// times, or the index document) or the options change.
func (m *Mosaic) Version() string {
	_, _ = m.load()
	m.mu.Lock()
	defer m.mu.Unlock()
	h := sha256.New()
	fmt.Fprintf(h, "mosaic|%s|%v|%s|%v|%v|%s", m.opts.Path, m.opts.Paths, m.opts.Asset, m.opts.Bands, m.opts.NoData, m.stamp)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Schema lists the query parameters of a mosaic: a file's, and pixel_selection.
func (m *Mosaic) Schema() layer.Schema {
	s := tileSchema(m.opts.Resampling)
	s.Modes = append(s.Modes, "file")            // crops (mosaic_query.go)
	s.Params = append(s.Params, CropParams()...) // crop.go
	s.Params = append(s.Params, layer.Param{Name: "pixel_selection", Type: layer.Str, Default: "first", Enum: PixelSelections,
		Description: "how the files meeting a pixel give its value: the first with a value (in the mosaic's order), the highest, lowest, mean, median " +
			"or standard deviation of their values, or their count"})
	if idx, err := m.load(); err == nil {
		s.MinZoom, s.MaxZoom, s.Bounds = idx.minZoom, idx.maxZoom, idx.lonlat
	}
	return s
}

// Run reads the request's tile; the Params come from Schema.
func (m *Mosaic) Run(ctx context.Context, req layer.Request) (layer.Result, error) {
	o := tileOptions(req.Params, m.opts.Bands, m.opts.Resampling)
	method, _ := req.Params["pixel_selection"].(string)
	if method == "" {
		method = "first"
	}
	if err := ctx.Err(); err != nil {
		return nil, layer.Errorf(layer.Timeout, "request cancelled before the read: %v", err)
	}
	p, err := parseProcess(req.Params)
	if err != nil {
		return nil, err
	}
	if method == "count" && p != nil {
		return nil, errCountProcess
	}
	if req.Tile == nil { // file mode: a crop (mosaic_query.go)
		return m.crop(ctx, req, o, p, method)
	}
	if name := hasCrop(req.Params); name != "" {
		return nil, layer.Errorf(layer.BadRequest, "parameter %s: for preview, bbox and feature crops, not tiles", name)
	}
	read := func(t tiles.Tile, o TileOptions) (*layer.Raster, error) { return m.ReadTile(ctx, t, o, method) }
	if p != nil { // expression= or algorithm=, on the combined tile: process.go
		idx, err := m.load()
		if err != nil {
			return nil, &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
		}
		return p.tile(*req.Tile, o, idx.bands, read)
	}
	return read(*req.Tile, o)
}

// ReadTile reads the tile of every file meeting it, in order, and combines
// them by method (one of PixelSelections).
func (m *Mosaic) ReadTile(ctx context.Context, t tiles.Tile, o TileOptions, method string) (*layer.Raster, error) {
	idx, err := m.load()
	if err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	if !validMethod(method) {
		return nil, layer.Errorf(layer.BadRequest, "parameter pixel_selection: want one of first, highest, lowest, mean, median, stdev, count, got %q", method)
	}
	for _, b := range o.Bands {
		if b < 1 || b > idx.bands {
			return nil, layer.Errorf(layer.BadRequest, "parameter bidx: band %d does not exist; this layer has bands 1..%d", b, idx.bands)
		}
	}
	if t.Z < idx.minZoom || t.Z > idx.maxZoom {
		return nil, layer.Errorf(layer.NotFound, "zoom %d is outside this layer's zooms %d..%d", t.Z, idx.minZoom, idx.maxZoom)
	}
	area := t.Mercator()
	if o.Buffer > 0 { // the border an algorithm reads: files meeting it count
		p := float64(o.Buffer) * (area.MaxX - area.MinX) / float64(o.Size)
		area = tiles.Bounds{MinX: area.MinX - p, MinY: area.MinY - p, MaxX: area.MaxX + p, MaxY: area.MaxY + p}
	}
	files := idx.filesAt(area)
	if len(files) == 0 {
		return nil, layer.Errorf(layer.NotFound, "tile %s meets none of this mosaic's %d files", t, len(idx.files))
	}
	if method != "first" && len(files) > maxCombined {
		return nil, layer.Errorf(layer.TooLarge, "tile %s meets %d files; pixel_selection=%s combines at most %d: zoom in, or use first", t, len(files), method, maxCombined)
	}
	c := newCombiner(method)
	defer c.release()
	read := func(path string) (*layer.Raster, error) { return m.readFile(ctx, idx, path, t, o) }
	if method == "first" {
		// A file whose footprint lies where the tile is filled already is not read.
		skip := func(f int) bool { return c.covered(area, idx.fileBoxes[f]) }
		err = m.inOrder(idx, files, skip, read, c.feed)
	} else {
		err = m.each(ctx, idx, files, read, c.feed)
	}
	if err != nil {
		return nil, err
	}
	out := c.result()
	if out == nil {
		return nil, layer.Errorf(layer.NotFound, "tile %s has no data in this mosaic's files", t)
	}
	return out, nil
}

// errCountProcess refuses band math and algorithms over pixel_selection=count.
var errCountProcess = layer.Errorf(layer.BadRequest, "pixel_selection=count gives one band, the number of files with a value: expression= and algorithm= do not apply to it")

func validMethod(s string) bool {
	for _, p := range PixelSelections {
		if p == s {
			return true
		}
	}
	return false
}

// inOrder reads each file (read: its tile or grid), one after the other,
// and feeds it to fn until fn says the result is complete: no file is read
// past that one, nor any skip refuses.
func (m *Mosaic) inOrder(idx *mosaicIndex, files []int, skip func(int) bool, read func(string) (*layer.Raster, error), fn func(*layer.Raster) bool) error {
	for _, f := range files {
		if skip != nil && skip(f) {
			continue
		}
		ras, err := read(idx.files[f])
		if err != nil {
			return err
		}
		if ras != nil && fn(ras) {
			return nil
		}
	}
	return nil
}

// each reads every file (read: its tile or grid), a few at a time, and
// feeds them to fn in order.
func (m *Mosaic) each(ctx context.Context, idx *mosaicIndex, files []int, read func(string) (*layer.Raster, error), fn func(*layer.Raster) bool) error {
	workers := min(4, len(files))
	type result struct {
		ras *layer.Raster
		err error
	}
	results := make([]chan result, len(files))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ras, err := read(idx.files[files[i]])
				results[i] <- result{ras, err}
			}
		}()
	}
	go func() {
		defer close(next)
		for i := range files {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		cancel()
		wg.Wait()
		// Tiles read but not fed.
		for _, ch := range results {
			select {
			case r := <-ch:
				r.ras.Release()
			default:
			}
		}
	}()
	for i := range files {
		var r result
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return layer.Errorf(layer.Timeout, "request cancelled during the mosaic's reads: %v", ctx.Err())
		}
		if r.err != nil {
			return r.err
		}
		if r.ras != nil && fn(r.ras) {
			return nil
		}
	}
	return nil
}

// readFile reads one file's tile: nil without error when the tile is
// outside the file's data.
func (m *Mosaic) readFile(ctx context.Context, idx *mosaicIndex, path string, t tiles.Tile, o TileOptions) (*layer.Raster, error) {
	ras, err := m.readWith(ctx, idx, path, func(r *Reader) (*layer.Raster, error) { return r.ReadTile(t, o) })
	if layer.KindOf(err) == layer.NotFound {
		return nil, nil
	}
	return ras, err
}

// readWith runs read on the reader of one of the mosaic's files (a tile or
// a grid of it), counting it; a file that cannot be read is named.
func (m *Mosaic) readWith(ctx context.Context, idx *mosaicIndex, path string, read func(*Reader) (*layer.Raster, error)) (*layer.Raster, error) {
	if err := ctx.Err(); err != nil {
		return nil, layer.Errorf(layer.Timeout, "request cancelled during the mosaic's reads: %v", err)
	}
	r, release, err := m.open(idx, path)
	if err != nil {
		return nil, err
	}
	defer release()
	m.reads.Add(1)
	ras, err := read(r)
	var ue *layer.Error
	if errors.As(err, &ue) && ue.Kind == layer.Unavailable {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: fmt.Sprintf("mosaic file %s: %s", path, ue.Msg)}
	}
	return ras, err
}

// open returns the reader of one of the mosaic's files, checked to have the
// mosaic's bands and sample type, and the function that gives it back.
func (m *Mosaic) open(idx *mosaicIndex, path string) (*Reader, func(), error) {
	r, release := m.files.acquire(path)
	in, err := r.load()
	if err != nil {
		release()
		return nil, nil, &layer.Error{Kind: layer.Unavailable, Msg: fmt.Sprintf("mosaic file %v", err)}
	}
	if in.bands != idx.bands || in.dtype != idx.dtype {
		release()
		return nil, nil, layer.Errorf(layer.Unavailable, "mosaic file %s has %s, the mosaic's files %s: every file of a mosaic must have the same bands and sample type",
			path, bandsOf(in.bands, in.dtype), bandsOf(idx.bands, idx.dtype))
	}
	return r, release, nil
}

// Reads counts the tiles read of the mosaic's files so far.
func (m *Mosaic) Reads() int64 { return m.reads.Load() }

// OpenFiles reports the files holding GDAL handles now, and the most at once.
func (m *Mosaic) OpenFiles() (now, peak int) { return m.files.counts() }

// Close releases the files' handles; tiles read afterwards open them again.
func (m *Mosaic) Close() { m.files.closeAll() }
