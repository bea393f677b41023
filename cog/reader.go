package cog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/internal/gdal"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// Resamplings are the resampling names accepted by resampling=, as gdalwarp spells them.
var Resamplings = []string{"nearest", "bilinear", "cubic", "cubicspline", "lanczos", "average", "mode", "min", "max", "med", "q1", "q3", "rms", "sum"}

// TileSizes are the accepted tilesize= values.
var TileSizes = []int{256, 512}

// Options configure a Reader.
type Options struct {
	Path       string   // local path, /vsis3/..., /vsicurl/...
	Bands      []int    // default band selection (1-based); empty = all
	NoData     *float64 // overrides the file's nodata
	Resampling string   // default resampling; "" = nearest
	MinZoom    *int     // overrides the zoom derived from the coarsest overview
	MaxZoom    *int     // overrides the zoom derived from the native resolution
	Pool       int      // dataset handles, each used by one read at a time; 0 = 8
	// Drivers are the GDAL drivers allowed to open Path; empty = any that
	// recognises it. Files named by requests are opened with URLDrivers.
	Drivers []string
}

// URLDrivers open the files requests name (url=): GeoTIFF only. Formats that
// name other files or URLs (VRT and its kin, a VRT renamed .tif) would let a
// file inside cog_urls.allow read what lies outside it.
var URLDrivers = []string{"GTiff", "COG"}

// recheckFile is how often a served file is checked for replacement.
const recheckFile = time.Second

// retryOpen bounds how often a missing or broken file is tried again.
const retryOpen = 5 * time.Second

// Reader is a layer.Handler serving one raster file.
type Reader struct {
	opts Options
	// pool holds the dataset handles. Reset when the file changes: handles
	// of the old file are closed as they are next used.
	pool *gdal.Pool[*handle]

	// Tiles read by the direct path (fast.go) and by a warp.
	directReads, warpReads atomic.Int64

	mu      sync.Mutex
	info    *info
	err     error
	tried   time.Time
	checked time.Time // when the file was last checked for replacement
	version string
}

// New returns a reader and tries to open the file. A file that cannot be opened
// does not fail construction: Status reports why, and tiles answer 503 until a
// later attempt succeeds.
func New(opts Options) *Reader {
	if opts.Pool <= 0 {
		opts.Pool = 8
	}
	if opts.Resampling == "" {
		opts.Resampling = "nearest"
	}
	gdal.Register()
	r := &Reader{opts: opts, pool: gdal.NewPool(opts.Pool, (*handle).Close, false)}
	_, _ = r.load()
	return r
}

// load returns the dataset info, opening the file on first use or after a failure.
func (r *Reader) load() (*info, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.info != nil {
		// Checking the file costs a stat and a hash: once a second is enough to
		// notice a replaced file without taxing every cached tile.
		if time.Since(r.checked) < recheckFile {
			return r.info, nil
		}
		r.checked = time.Now()
		if r.fingerprint() == r.version {
			return r.info, nil
		}
		// The file was replaced: what was learnt about it and the handles open on
		// it are stale, and tiles of the new file must not share the old version.
		r.info = nil
		r.pool.Reset() // handles reopen the file when they are next used
	}
	if r.err != nil && time.Since(r.tried) < retryOpen {
		return nil, r.err
	}
	r.tried = time.Now()
	ds, err := r.open()
	if err != nil {
		r.err = err
		return nil, err
	}
	in, err := readInfo(ds.src)
	if err != nil {
		ds.Close()
		r.err = fmt.Errorf("%s: %v", r.opts.Path, err)
		return nil, r.err
	}
	if r.opts.NoData != nil {
		in.nodata, in.hasNoData = *r.opts.NoData, true
	}
	for _, b := range r.opts.Bands {
		if b < 1 || b > in.bands {
			ds.Close()
			r.err = fmt.Errorf("%s: band %d does not exist (the file has %d)", r.opts.Path, b, in.bands)
			return nil, r.err
		}
	}
	if r.opts.MinZoom != nil {
		in.minZoom = *r.opts.MinZoom
	}
	if r.opts.MaxZoom != nil {
		in.maxZoom = *r.opts.MaxZoom
	}
	in.pipeline = mercatorPipeline(ds.src, in)
	r.info, r.err = in, nil
	r.version, r.checked = r.fingerprint(), time.Now()
	r.pool.Adopt(ds)
	return in, nil
}

func (r *Reader) open() (*handle, error) {
	opts := []godal.OpenOption{godal.RasterOnly(), godal.ConfigOption("GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR")}
	if len(r.opts.Drivers) > 0 {
		opts = append(opts, godal.Drivers(r.opts.Drivers...))
	}
	ds, err := godal.Open(r.opts.Path, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %v", r.opts.Path, err)
	}
	h := &handle{src: ds, grids: map[gridKey]*grid{}}
	h.toSrc = newSourceGrid(ds)
	return h, nil
}

// columnSlot is the pool slot tried first for tile t: tiles of four
// neighbouring columns share a handle, so that a column's warped grid is
// built once and reused, and the file blocks the handle decompressed for a
// tile serve its neighbours (export renders blocks of 4×4 tiles on one
// worker); when that slot is busy another free one is taken rather than
// waiting.
func columnSlot(t tiles.Tile) uint64 {
	return uint64(t.Z)*0x9E3779B97F4A7C15 ^ uint64(t.X/4)*0xBF58476D1CE4E5B9
}

// fingerprint identifies the file's content and the reader's options.
func (r *Reader) fingerprint() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%v|%v", r.opts.Path, r.opts.Bands, r.opts.NoData)
	if st, err := os.Stat(r.opts.Path); err == nil {
		fmt.Fprintf(h, "|%d|%d", st.Size(), st.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Reads counts the tiles read so far by the direct path (a source in EPSG:4326
// or EPSG:3857 read with nearest neighbour; see fast.go) and by a warp.
func (r *Reader) Reads() (direct, warped int64) {
	return r.directReads.Load(), r.warpReads.Load()
}

// Status reports why the file cannot be served, or nil.
func (r *Reader) Status() error {
	_, err := r.load()
	return err
}

// Version changes when the file or the reader's options change.
func (r *Reader) Version() string {
	_, _ = r.load() // notices a replaced file
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.version
}

// Schema lists the query parameters of a COG layer.
func (r *Reader) Schema() layer.Schema {
	s := tileSchema(r.opts.Resampling)
	s.Modes = append(s.Modes, "file")            // crops (crop.go)
	s.Params = append(s.Params, CropParams()...) // crop.go
	if in, err := r.load(); err == nil {
		s.MinZoom, s.MaxZoom, s.Bounds = in.minZoom, in.maxZoom, in.lonlat
	}
	return s
}

// tileSchema is what a file and a mosaic have in common: the tile
// parameters, band math and algorithms, formats, and the whole world.
func tileSchema(resampling string) layer.Schema {
	s := layer.Schema{
		Params: []layer.Param{
			{Name: "bidx", Type: layer.IntList, Description: "bands to read, 1-based, e.g. 1 or 3,2,1"},
			{Name: "resampling", Type: layer.Str, Default: resampling, Enum: Resamplings},
			{Name: "tilesize", Type: layer.Int, Default: 256, Enum: []string{"256", "512"}},
		},
		Modes:         []string{"tile"},
		Formats:       []string{"png", "jpg", "webp", "gif", "tif", "npy"},
		DefaultFormat: "png",
		MaxZoom:       24,
		Bounds:        tiles.Bounds{MinX: -180, MinY: -tiles.MaxLat, MaxX: 180, MaxY: tiles.MaxLat},
	}
	s.Params = append(s.Params, ProcessParams()...) // process.go
	s.Restyle = []string{"expression", "algorithm"}
	return s
}

// tileOptions reads bidx, resampling and tilesize (as Schema coerced them)
// over the layer's defaults.
func tileOptions(params map[string]any, bands []int, resampling string) TileOptions {
	o := TileOptions{Resampling: resampling, Size: 256, Bands: bands}
	if v, ok := params["bidx"].([]int); ok && len(v) > 0 {
		o.Bands = v
	}
	if v, ok := params["resampling"].(string); ok && v != "" {
		o.Resampling = v
	}
	if v, ok := params["tilesize"].(int); ok {
		o.Size = v
	}
	return o
}

// TileOptions are the per-request choices of a tile read.
type TileOptions struct {
	Bands      []int
	Resampling string
	Size       int
	// Buffer is a border, in pixels, read around the tile: the raster is
	// Size+2·Buffer pixels wide (see warpPadded). 0 for tiles as served.
	Buffer int
	// Compact lets the tile come as Samples of the file's type instead of
	// float64 Bands where the reader's own paths fill it: a Byte file's
	// bands, one band of Int16 or UInt16 on the grid path (GDAL's warp
	// still gives Bands). For callers that only encode the tile.
	Compact bool
}

// Run reads the request's tile; the Params come from Schema. A tile without
// expression= or algorithm= may come as Samples of the file's type (see
// TileOptions.Compact; layer.Raster.Widen makes Bands of them).
func (r *Reader) Run(ctx context.Context, req layer.Request) (layer.Result, error) {
	o := tileOptions(req.Params, r.opts.Bands, r.opts.Resampling)
	if err := ctx.Err(); err != nil {
		return nil, layer.Errorf(layer.Timeout, "request cancelled before the read: %v", err)
	}
	p, err := parseProcess(req.Params)
	if err != nil {
		return nil, err
	}
	if req.Tile == nil { // file mode: a crop (crop.go)
		return r.runCrop(ctx, req, o, p)
	}
	if name := hasCrop(req.Params); name != "" {
		return nil, layer.Errorf(layer.BadRequest, "parameter %s: for preview, bbox and feature crops, not tiles", name)
	}
	if p != nil { // expression= or algorithm=: process.go
		return r.processTile(*req.Tile, o, p)
	}
	o.Compact = true // encoded as it is
	return r.ReadTile(*req.Tile, o)
}

// ReadTile warps the tile's window of the file into a Size×Size EPSG:3857 grid.
func (r *Reader) ReadTile(t tiles.Tile, o TileOptions) (*layer.Raster, error) {
	in, err := r.load()
	if err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	if o.Size != 256 && o.Size != 512 {
		return nil, layer.Errorf(layer.BadRequest, "parameter tilesize: want 256 or 512, got %d", o.Size)
	}
	if o.Buffer < 0 || o.Buffer > 128 {
		return nil, layer.Errorf(layer.BadRequest, "buffer: want 0 to 128 pixels, got %d", o.Buffer)
	}
	bands := o.Bands
	if len(bands) == 0 {
		bands = make([]int, in.bands)
		for i := range bands {
			bands[i] = i + 1
		}
	}
	for _, b := range bands {
		if b < 1 || b > in.bands {
			return nil, layer.Errorf(layer.BadRequest, "parameter bidx: band %d does not exist; this layer has bands 1..%d", b, in.bands)
		}
	}
	if t.Z < in.minZoom || t.Z > in.maxZoom {
		return nil, layer.Errorf(layer.NotFound, "zoom %d is outside this layer's zooms %d..%d", t.Z, in.minZoom, in.maxZoom)
	}
	if !t.Mercator().Intersects(in.merc) {
		return nil, layer.Errorf(layer.NotFound, "tile %s is outside this layer's bounds", t)
	}
	h, release, err := r.pool.Acquire(columnSlot(t), r.open)
	if err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	broken := false
	defer func() { release(broken) }()
	if !h.checked {
		h.direct, h.checked = newDirect(h.src, in), true
	}
	var ras *layer.Raster
	if o.Buffer > 0 { // a border read around the tile: process.go
		r.warpReads.Add(1)
		ras, err = r.warpPadded(h, in, t, bands, o)
	} else if h.direct != nil && o.Resampling == "nearest" {
		// Also the tiles running off the data of a source in another CRS:
		// a pixel whose source coordinates fall off it stays transparent,
		// as in the warper's kernel.
		r.directReads.Add(1)
		ras, err = r.directTile(h, in, t, bands, o.Size, o.Compact)
		if errors.Is(err, errWideWindow) {
			r.warpReads.Add(1)
			ras, err = r.warpTile(h, in, t, bands, o)
		}
	} else if h.direct != nil && !h.direct.nodata && o.Resampling == "bilinear" && in.interior(t, o.Size) {
		r.directReads.Add(1)
		ras, err = r.bilinearTile(h, in, t, bands, o.Size, in.overviewFor(h.ratio(in, t, o.Size)), o.Compact)
		if errors.Is(err, errWideWindow) {
			r.warpReads.Add(1)
			ras, err = r.warpTile(h, in, t, bands, o)
		}
	} else {
		r.warpReads.Add(1)
		ras, err = r.warpTile(h, in, t, bands, o)
	}
	if err != nil {
		broken = true // a handle that failed may be in a bad state: drop it
		var ue *layer.Error
		if errors.As(err, &ue) {
			return nil, err
		}
		// A read error is the file's (damaged, truncated, being replaced), not
		// the request's: 503, and the file is looked at again next time.
		r.mu.Lock()
		r.checked = time.Time{}
		r.mu.Unlock()
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: "the layer's file cannot be read now (damaged or being replaced?): " + err.Error()}
	}
	return ras, nil
}

// gridKey names one warped grid of a dataset: one column of a zoom's tiles at a
// tile size and resampling.
type gridKey struct {
	z, x, size int
	resampling string
	ovr        int
	pad        int // border around each tile (process.go)
}

// handle is one dataset opened for one goroutine at a time, with the warped grids
// built on it so far. A grid is a warped VRT in EPSG:3857 covering one column of
// tiles: its coordinate transformation is set up once for every tile of the
// column. A column is exactly one tile wide because gdalwarp approximates the
// transformation per output row; with rows one tile wide, each tile gets the very
// values a one-off `gdalwarp -te <tile> -ts 256 256` produces.
type handle struct {
	src   *godal.Dataset
	grids map[gridKey]*grid
	toSrc *sourceGrid // nil when the file cannot be transformed
	// direct is set once the file is known to qualify for the direct path
	// (fast.go); checked once it has been looked at.
	direct  *direct
	checked bool
}

type grid struct {
	vrt  *godal.Dataset
	minY int // first tile row covered
}

// maxGrids bounds the grids kept per handle; past it the handle starts afresh.
const maxGrids = 512

// maxGridRows keeps a grid's height well inside GDAL's int32 raster sizes; deeper
// than that, a grid covers only the requested tile.
const maxGridRows = 1 << 18

// ratio is the number of source pixels per tile pixel that picks the overview.
func (h *handle) ratio(in *info, t tiles.Tile, size int) float64 {
	if h.toSrc == nil {
		return tiles.Size(t.Z) / float64(size) / in.nativeRes
	}
	return h.toSrc.ratio(t, size)
}

func (h *handle) Close() {
	h.dropGrids()
	if h.direct != nil {
		h.direct.Close()
	}
	if h.toSrc != nil {
		h.toSrc.Close()
	}
	h.src.Close()
}

func (h *handle) dropGrids() {
	for k, g := range h.grids {
		g.vrt.Close()
		delete(h.grids, k)
	}
}

func (h *handle) grid(in *info, k gridKey, t tiles.Tile, opts []string) (*grid, error) {
	if g, ok := h.grids[k]; ok {
		return g, nil
	}
	if len(h.grids) >= maxGrids {
		h.dropGrids()
	}
	span := tiles.Size(k.z)
	minY := int((tiles.OriginShift - in.inner.MaxY) / span)
	maxY := int((tiles.OriginShift - in.inner.MinY) / span)
	if maxY-minY+1 > maxGridRows || t.Y < minY || t.Y > maxY {
		minY, maxY = t.Y, t.Y
	}
	g, err := h.warp(tiles.Tile{Z: k.z, X: k.x, Y: minY}, maxY-minY+1, k.size, k.resampling, k.ovr, "VRT", opts)
	if err != nil {
		return nil, err
	}
	h.grids[k] = g
	return g, nil
}

// single warps one tile into memory, exactly as a one-off gdalwarp would.
func (h *handle) single(t tiles.Tile, size int, resampling string, lvl int, opts []string) (*grid, error) {
	return h.warp(t, 1, size, resampling, lvl, "MEM", opts)
}

// warp builds a grid of rows tiles below top, one tile wide, from overview lvl
// (-1: full resolution).
func (h *handle) warp(top tiles.Tile, rows, size int, resampling string, lvl int, driver string, opts []string) (*grid, error) {
	span := tiles.Size(top.Z)
	x0, y0 := -tiles.OriginShift+float64(top.X)*span, tiles.OriginShift-float64(top.Y)*span
	x1, y1 := x0+span, y0-float64(rows)*span
	ovr := "NONE"
	if lvl >= 0 {
		ovr = strconv.Itoa(lvl)
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	sw := []string{"-of", driver, "-t_srs", webMercatorWKT(),
		"-te", f(x0), f(y1), f(x1), f(y0), "-ts", strconv.Itoa(size), strconv.Itoa(rows * size),
		"-r", resampling, "-ovr", ovr, "-dstalpha"}
	sw = append(sw, opts...)
	vrt, err := h.src.Warp("", sw)
	if err != nil {
		return nil, fmt.Errorf("warp: %v", err)
	}
	return &grid{vrt: vrt, minY: top.Y}, nil
}

func (r *Reader) warpTile(h *handle, in *info, t tiles.Tile, bands []int, o TileOptions) (*layer.Raster, error) {
	n := o.Size
	var opts []string
	if in.pipeline != "" {
		opts = append(opts, "-ct", in.pipeline)
	}
	if in.hasNoData {
		opts = append(opts, "-srcnodata", strconv.FormatFloat(in.nodata, 'g', -1, 64))
	}
	var (
		g   *grid
		err error
	)
	lvl := in.overviewFor(h.ratio(in, t, n))
	if in.interior(t, n) {
		g, err = h.grid(in, gridKey{z: t.Z, x: t.X, size: n, resampling: o.Resampling, ovr: lvl}, t, opts)
	} else {
		// gdalwarp splits a tile that runs off the data into pieces; warping such a
		// tile alone gives the same values it does.
		g, err = h.single(t, n, o.Resampling, lvl, opts)
		if g != nil {
			defer g.vrt.Close()
		}
	}
	if err != nil {
		return nil, err
	}
	px, py := 0, (t.Y-g.minY)*n
	idx := make([]int, len(bands)) // godal counts bands from 0
	for i, b := range bands {
		idx[i] = b - 1
	}
	buf := make([]float64, len(bands)*n*n)
	if err := g.vrt.Read(px, py, buf, n, n, godal.Bands(idx...), godal.BandInterleaved()); err != nil {
		return nil, fmt.Errorf("read: %v", err)
	}
	alpha := make([]uint8, n*n)
	if err := g.vrt.Bands()[in.bands].Read(px, py, alpha, n, n); err != nil {
		return nil, fmt.Errorf("read mask: %v", err)
	}
	ras := &layer.Raster{
		Width: n, Height: n, DType: numpyType[in.dtype], Mask: alpha,
		NoData: in.nodata, HasNoData: in.hasNoData, Bounds: t.Mercator(), EPSG: 3857,
	}
	for i := range bands {
		ras.Bands = append(ras.Bands, buf[i*n*n:(i+1)*n*n])
	}
	return ras, nil
}

// Close releases the dataset handles; tiles read afterwards open new ones.
func (r *Reader) Close() { r.pool.Close() }
