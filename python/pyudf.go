package python

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// Options configure one Python UDF layer.
type Options struct {
	Name    string            // the layer's name (what its calls ask the server as)
	Owner   string            // its owner: its folder of the shared mount ("" = shared)
	Env     map[string]string // environment of its calls
	Path    string            // a .py file or a saved UDF folder (Name/Name.py, meta.json, utils.py)
	Timeout time.Duration     // per call; 0 = the pool's
	Queue   int               // calls waiting for a worker (beyond one per worker running) before 503; 0 = 4 per worker
	MinZoom int
	MaxZoom int
	Bounds  *tiles.Bounds // lon/lat extent of the UDF's data; nil = the world
}

// UDF is a Handler running a Python function on a Pool. Editing the file is
// picked up on the next request: the code hash is the version, so no stale tile
// of the old code is served from the cache.
type UDF struct {
	pool *Pool
	opts Options
	file string // the .py file actually run

	inflight atomic.Int64

	mu      sync.Mutex
	stamp   string // size and modification time of the file when last read
	checked time.Time
	hash    string
	schema  layer.Schema
	maxAge  *time.Duration
	err     error
}

// pyInspect is the worker's description of a UDF.
type pyInspect struct {
	Params []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		Default  any    `json:"default"`
		Required bool   `json:"required"`
	} `json:"params"`
	// Spatial are the parameters the request fills (bounds, bbox, x, y, z,
	// and those annotated fused.types.Tile and the like).
	Spatial []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"spatial"`
	Kwargs      bool   `json:"kwargs"`
	Name        string `json:"name"`
	CacheMaxAge any    `json:"cache_max_age"`
	Doc         string `json:"doc"`
}

// NewUDF returns the handler; the file is read and inspected on first use.
func NewUDF(pool *Pool, opts Options) *UDF {
	if opts.MaxZoom == 0 {
		opts.MaxZoom = 24
	}
	if opts.Queue <= 0 {
		opts.Queue = 4 * pool.cfg.Workers
	}
	abs, err := filepath.Abs(opts.Path)
	if err == nil {
		opts.Path = abs
	}
	return &UDF{pool: pool, opts: opts}
}

// refreshEvery bounds how often the file's modification time is checked.
const refreshEvery = 500 * time.Millisecond

// refresh re-reads and re-inspects the UDF when its file changed.
func (u *UDF) refresh(ctx context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if time.Since(u.checked) < refreshEvery && (u.hash != "" || u.err != nil) {
		return u.err
	}
	u.checked = time.Now()
	file, stamp, code, err := readUDF(u.opts.Path)
	if err != nil {
		u.err, u.hash, u.stamp = err, "", ""
		return err
	}
	if stamp == u.stamp && (u.hash != "" || u.err != nil) {
		return u.err
	}
	u.file, u.stamp = file, stamp
	sum := sha256.Sum256(code)
	u.hash = hex.EncodeToString(sum[:8])
	// Not cancelled with the request that happened to come first: its result is
	// every caller's until the file changes.
	rep, err := u.pool.call(context.WithoutCancel(ctx), u.pool.cfg.StartTimeout, map[string]any{"op": "inspect", "path": u.opts.Path}, nil)
	if err != nil {
		u.err = fmt.Errorf("cannot inspect %s: %v", u.opts.Path, err)
		u.stamp = "" // try again next time
		return u.err
	}
	if !rep.OK {
		u.err = &layer.Error{Kind: layer.Failed, Msg: rep.Error, Logs: rep.Logs}
		return u.err
	}
	var in pyInspect
	if err := json.Unmarshal(rep.raw, &in); err != nil {
		u.err = err
		return err
	}
	u.err = nil
	u.schema = u.buildSchema(in)
	u.maxAge = nil
	if in.CacheMaxAge != nil {
		if d, ok := parseAge(in.CacheMaxAge); ok {
			u.maxAge = &d
		}
	}
	return nil
}

// readUDF finds the file to run (a folder holds Name/Name.py) and returns it with a
// stamp of its state and the code of the whole UDF (utils.py and meta.json too).
func readUDF(path string) (file, stamp string, code []byte, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", "", nil, fmt.Errorf("UDF file: %v", err)
	}
	files := []string{path}
	if st.IsDir() {
		main := filepath.Join(path, filepath.Base(path)+".py")
		files = []string{main, filepath.Join(path, "utils.py"), filepath.Join(path, "meta.json")}
	}
	var buf bytes.Buffer
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			if i == 0 {
				return "", "", nil, fmt.Errorf("UDF file: %v", err)
			}
			continue
		}
		fi, _ := os.Stat(f)
		fmt.Fprintf(&buf, "%s\x00%d\x00", f, len(b))
		buf.Write(b)
		stamp += fmt.Sprintf("%s:%d:%d;", f, fi.Size(), fi.ModTime().UnixNano())
	}
	return files[0], stamp, buf.Bytes(), nil
}

var pyTypes = map[string]layer.ParamType{"int": layer.Int, "float": layer.Float, "bool": layer.Bool, "str": layer.Str,
	"list": layer.List, "dict": layer.Dict, "geometry": layer.Geometry,
	"dataframe": layer.DataFrame, "geodataframe": layer.GeoDataFrame}

func (u *UDF) buildSchema(in pyInspect) layer.Schema {
	s := layer.Schema{Kwargs: in.Kwargs, Modes: []string{"tile", "file"},
		// Every format of some kind of result (render's table): which answer
		// depends on what the UDF returns (/v1/udfs lists formats_by_result).
		Formats: []string{"png", "jpg", "webp", "gif", "tif", "npy", "geojson", "json", "csv", "mvt", "pbf", "parquet",
			"feather", "xlsx", "html"},
		MinZoom: u.opts.MinZoom,
		MaxZoom: u.opts.MaxZoom,
		Bounds:  u.bounds(),
		Doc:     in.Doc,
		Natural: true,
	}
	// x, y and z: a tile call fills them from its path; a file-mode call
	// passes them to a UDF that declares them, and refuses them otherwise
	// (unless it takes **kwargs). bounds= and bbox= reach the UDF's bounds
	// parameter (bounds, bbox, or one typed as bounds, a tile or a
	// viewport); a UDF without one refuses them.
	takesBounds := false
	for _, sp := range in.Spatial {
		if isTileNumber(sp.Name, sp.Type) {
			s.Params = append(s.Params, layer.Param{Name: sp.Name, Type: layer.Int,
				Description: "the tile's " + sp.Name + ": from the path in tile mode; give it in file mode"})
		} else {
			takesBounds = true
		}
	}
	if takesBounds {
		s.Reserved = []string{"bounds", "bbox"}
	} else {
		s.NoBounds = true
	}
	for _, p := range in.Params {
		t, ok := pyTypes[p.Type]
		if !ok {
			t = layer.Str
		}
		s.Params = append(s.Params, layer.Param{Name: p.Name, Type: t, Default: p.Default, Required: p.Required})
	}
	return s
}

// isTileNumber says whether a parameter the request fills is the tile's x, y or
// z (the worker's _spatial_value gives them the tile's numbers).
func isTileNumber(name, typ string) bool {
	return (name == "x" || name == "y" || name == "z") && (typ == "int" || typ == "str" || typ == "float")
}

// parseAge reads @fused.udf(cache_max_age=...): "90d", "1h", "30s" or seconds.
func parseAge(v any) (time.Duration, bool) {
	switch a := v.(type) {
	case float64:
		return time.Duration(a * float64(time.Second)), true
	case string:
		var n float64
		var unit string
		if _, err := fmt.Sscanf(a, "%g%s", &n, &unit); err != nil {
			if _, err := fmt.Sscanf(a, "%g", &n); err != nil {
				return 0, false
			}
			unit = "s"
		}
		m := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[unit]
		if m == 0 {
			return 0, false
		}
		return time.Duration(n * float64(m)), true
	}
	return 0, false
}

// Schema describes the UDF's parameters from its signature.
func (u *UDF) Schema() layer.Schema {
	_ = u.refresh(context.Background())
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.schema
	if s.Modes == nil {
		s = u.buildSchema(pyInspect{})
	}
	return s
}

// Version is the hash of the UDF's code.
func (u *UDF) Version() string {
	_ = u.refresh(context.Background())
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hash
}

// Status is the error loading the UDF (a syntax error, a missing file), or nil.
func (u *UDF) Status() error { return u.refresh(context.Background()) }

// MaxAge is the UDF's own @fused.udf(cache_max_age=...), if it set one.
func (u *UDF) MaxAge() (time.Duration, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.maxAge == nil {
		return 0, false
	}
	return *u.maxAge, true
}

// OwnsQueue says that calls wait in the UDF's own queue (python.queue), not
// in the server's render slots.
func (u *UDF) OwnsQueue() {}

// Run calls the UDF in a worker and converts what it returned.
func (u *UDF) Run(ctx context.Context, req layer.Request) (layer.Result, error) {
	if err := u.refresh(ctx); err != nil {
		return nil, err
	}
	if n := u.inflight.Add(1); n > int64(u.opts.Queue+u.pool.cfg.Workers) {
		u.inflight.Add(-1)
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: fmt.Sprintf("too many calls waiting for this UDF (%d); try again shortly", u.opts.Queue)}
	}
	defer u.inflight.Add(-1)
	timeout := u.opts.Timeout
	if timeout <= 0 {
		timeout = u.pool.cfg.Timeout
	}
	header := map[string]any{"op": "call", "path": u.opts.Path, "params": u.explicit(req.Params), "depth": req.Depth, "layer": u.opts.Name,
		"owner": u.opts.Owner, "env": u.opts.Env}
	if req.Bounds != (tiles.Bounds{}) {
		b := req.Bounds
		header["bounds"] = []float64{b.MinX, b.MinY, b.MaxX, b.MaxY}
	}
	if req.Area != "" && req.Tile == nil {
		header["area"] = req.Area
	}
	if t := req.Tile; t != nil {
		header["tile"] = map[string]int{"x": t.X, "y": t.Y, "z": t.Z}
		for _, n := range []struct {
			name string
			v    int
		}{{"x", t.X}, {"y", t.Y}, {"z", t.Z}} {
			if v, ok := req.Params[n.name]; ok && u.takesTile(n.name) && fmt.Sprint(v) != fmt.Sprint(n.v) {
				return nil, layer.Errorf(layer.BadRequest, "parameter %s=%v: this tile's path gives %s=%d; give x, y and z as parameters in file mode only",
					n.name, v, n.name, n.v)
			}
		}
	}
	rep, err := u.pool.call(ctx, timeout, header, nil)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, &layer.Error{Kind: layer.Timeout, Msg: fmt.Sprintf("the UDF did not finish within %s; its worker was restarted", timeout)}
		}
		if errors.Is(err, context.Canceled) {
			return nil, &layer.Error{Kind: layer.Timeout, Msg: "the request was cancelled"}
		}
		return nil, err
	}
	if !rep.OK {
		k := layer.Failed
		switch rep.Status {
		case 400:
			k = layer.BadRequest
		case 413:
			k = layer.TooLarge
		}
		return nil, &layer.Error{Kind: k, Msg: rep.Error, Logs: rep.Logs}
	}
	res, err := convert(rep, req)
	if err != nil {
		return nil, &layer.Error{Kind: layer.Failed, Msg: err.Error(), Logs: rep.Logs}
	}
	if l, ok := res.(layer.Logged); ok {
		l.SetLogs(rep.Logs)
	}
	return res, nil
}

// takesTile says whether the UDF declares x, y or z (name) as the tile's.
func (u *UDF) takesTile(name string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, p := range u.schema.Params {
		if p.Name == name {
			return p.Type == layer.Int && (name == "x" || name == "y" || name == "z")
		}
	}
	return false
}

// explicit leaves out the parameters that hold their schema default: the
// function then gets its own default, which JSON may not carry (a date, a tuple).
func (u *UDF) explicit(params map[string]any) map[string]any {
	u.mu.Lock()
	defaults := make(map[string]any, len(u.schema.Params))
	for _, p := range u.schema.Params {
		if p.Default != nil {
			defaults[p.Name] = p.Default
		}
	}
	u.mu.Unlock()
	out := make(map[string]any, len(params))
	for k, v := range params {
		if d, ok := defaults[k]; ok && reflect.DeepEqual(d, v) {
			continue
		}
		out[k] = v
	}
	return out
}

// convert turns a worker reply into a Result; rasters of a tile call are placed
// on the tile's grid.
func convert(rep *reply, req layer.Request) (layer.Result, error) {
	blob := func(i int) []byte {
		if i < len(rep.blobs) {
			return rep.blobs[i]
		}
		return nil
	}
	switch rep.Kind {
	case "raster":
		r, err := decodeArray(rep.DType, rep.Shape, blob(0))
		if err != nil {
			return nil, err
		}
		if rep.Mask {
			if m := blob(1); len(m) != r.Width*r.Height {
				return nil, fmt.Errorf("array mask of %d bytes for %dx%d pixels", len(m), r.Width, r.Height)
			}
			r.Mask = blob(1)
		}
		if len(rep.Bounds) == 4 {
			r.Bounds = tiles.Bounds{MinX: rep.Bounds[0], MinY: rep.Bounds[1], MaxX: rep.Bounds[2], MaxY: rep.Bounds[3]}
			r.EPSG = 4326
		} else if req.Bounds != (tiles.Bounds{}) && req.Tile == nil {
			r.Bounds, r.EPSG = req.Bounds, 4326
		}
		if req.Tile != nil {
			size := 256
			if v, ok := req.Params["tilesize"].(int); ok && (v == 256 || v == 512) {
				size = v
			}
			return layer.PlaceOnTile(r, *req.Tile, size), nil
		}
		if r.Width*r.Height*len(r.Samples) <= widenLimit {
			r.Widen()
		}
		return r, nil
	case "features":
		fc, err := unmarshalFeatures(blob(0))
		if err != nil {
			return nil, fmt.Errorf("the UDF's GeoDataFrame could not be read as GeoJSON: %v", err)
		}
		return &layer.Features{Collection: fc}, nil
	case "table":
		var split struct {
			Data [][]any `json:"data"`
		}
		dec := json.NewDecoder(bytes.NewReader(blob(0)))
		dec.UseNumber()
		if err := dec.Decode(&split); err != nil {
			return nil, fmt.Errorf("the UDF's DataFrame could not be read: %v", err)
		}
		return &layer.Table{Columns: rep.Columns, Types: rep.Types, Rows: split.Data}, nil
	case "text":
		return &layer.Value{ContentType: "text/html; charset=utf-8", Body: rep.ownBlob(0), Kind: "text"}, nil
	case "json":
		return &layer.Value{ContentType: "application/json", Body: rep.ownBlob(0), Kind: "json"}, nil
	case "bytes":
		ct := rep.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		return &layer.Value{ContentType: ct, Body: rep.ownBlob(0), Kind: "bytes"}, nil
	}
	return nil, fmt.Errorf("the worker returned an unknown result kind %q", rep.Kind)
}

// unmarshalFeatures reads a GeoJSON FeatureCollection. orb's reader panics on
// some malformed documents (a null among a GeometryCollection's geometries):
// that is an error of the UDF's output, not a failure of the server.
func unmarshalFeatures(b []byte) (fc *geojson.FeatureCollection, err error) {
	defer func() {
		if r := recover(); r != nil {
			fc, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return geojson.UnmarshalFeatureCollection(b)
}

// decodeArray reads little-endian values of shape (bands, height, width). The
// raster's Samples are slices of b: nothing is copied or widened.
func decodeArray(dtype string, shape []int, b []byte) (*layer.Raster, error) {
	if len(shape) != 3 || shape[0] < 1 || shape[1] < 1 || shape[2] < 1 {
		return nil, fmt.Errorf("array shape %v: want (bands, height, width)", shape)
	}
	sz, ok := layer.SampleSize[dtype]
	if !ok {
		return nil, fmt.Errorf("unsupported array dtype %s", dtype)
	}
	nb, h, w := shape[0], shape[1], shape[2]
	// h*w is bounded by len(b) before it is multiplied, so that it cannot overflow.
	if nb > 64 || h > len(b) || w > len(b)/h || nb*h*w*sz != len(b) {
		return nil, fmt.Errorf("array of shape %v and dtype %s does not match its %d bytes", shape, dtype, len(b))
	}
	r := &layer.Raster{Width: w, Height: h, DType: dtype}
	per := w * h * sz
	for band := 0; band < nb; band++ {
		r.Samples = append(r.Samples, b[band*per:(band+1)*per:(band+1)*per])
	}
	return r, nil
}

// widenLimit is the most values a file-mode array is widened to float64 for
// the encoders' fast paths (32 MiB of them); larger ones are encoded from
// their samples a row at a time.
const widenLimit = 4 << 20

func (u *UDF) bounds() tiles.Bounds {
	if u.opts.Bounds != nil {
		return *u.opts.Bounds
	}
	return tiles.Bounds{MinX: -180, MinY: -tiles.MaxLat, MaxX: 180, MaxY: tiles.MaxLat}
}
