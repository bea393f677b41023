package cog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/udftiles/udftiles/bandmath"
	"github.com/udftiles/udftiles/config"
	"github.com/udftiles/udftiles/internal/gdal"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// Tiles of a STAC Item's assets, as TiTiler's /stac endpoints serve them:
// assets=B04,B08 reads those assets (each a COG) into one tile grid and
// stacks their bands in order; asset_bidx=B04|1 picks an asset's bands;
// expression= computes band math over them, an asset's band named as in
// B08_b1. Colormaps, rescale and algorithm= apply after, as on a COG layer.
// See docs/raster.md.

// STACOptions configure a STAC handler.
type STACOptions struct {
	// Path is where GDAL reads the item: a local path, /vsicurl/URL or
	// /vsis3/bucket/key.
	Path string
	// Href is the item's location as its relative asset hrefs resolve
	// against it: an absolute path, an http(s):// or s3:// URL; "" = from Path.
	Href string
	// Assets are the assets read when a request names none (assets=).
	Assets     []string
	Resampling string // default resampling; "" = nearest
	MinZoom    *int   // default: from Assets, else 0
	MaxZoom    *int   // default: from Assets, else 24
	// Drivers are the GDAL drivers allowed to open the assets (URLDrivers
	// for items named by requests); empty = any.
	Drivers []string
	// Locate turns an asset's href, resolved against Href, into the path
	// GDAL opens, or refuses it (an items named by url= may only name files
	// of the allowed places). nil: every href, as a configured layer's path.
	Locate func(href string) (string, error)
}

// STAC is a layer.Handler serving the assets of one STAC Item.
type STAC struct {
	opts STACOptions

	mu      sync.Mutex
	item    *stacItem
	err     error
	tried   time.Time
	checked time.Time
	stamp   string             // the local item file's size and time
	readers map[string]*Reader // by GDAL path
	located map[string]string  // GDAL paths of the hrefs Locate allowed
	zooms   *[2]int            // from the default assets, once opened
}

// STACFactory builds a STAC layer (handler: stac) from its config entry.
func STACFactory(u config.UDF) (layer.Handler, error) {
	return NewSTAC(STACOptions{Path: u.Path, Assets: u.Assets, Resampling: u.Resampling, MinZoom: u.MinZoom, MaxZoom: u.MaxZoom}), nil
}

// NewSTAC returns a handler and tries to read the item. An item that cannot be
// read does not fail construction: Status reports why.
func NewSTAC(opts STACOptions) *STAC {
	if opts.Resampling == "" {
		opts.Resampling = "nearest"
	}
	opts.Path, opts.Href = itemLocation(opts.Path, opts.Href)
	gdal.Register()
	s := &STAC{opts: opts, readers: map[string]*Reader{}, located: map[string]string{}}
	_, _ = s.load()
	return s
}

// load returns the item, reading it on first use, after a failure (at most
// every retryOpen) and, for a local file, when the file changed.
func (s *STAC) load() (*stacItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	local := !strings.HasPrefix(s.opts.Path, "/vsi")
	if s.item != nil {
		if !local || time.Since(s.checked) < recheckFile {
			return s.item, nil
		}
		s.checked = time.Now()
		if fileStamp(s.opts.Path) == s.stamp {
			return s.item, nil
		}
		s.item = nil // replaced: read again
	}
	if s.err != nil && time.Since(s.tried) < retryOpen {
		return nil, s.err
	}
	s.tried = time.Now()
	stamp := fileStamp(s.opts.Path)
	it, err := readItem(s.opts.Path)
	if err != nil {
		s.err = err
		return nil, err
	}
	s.item, s.err, s.stamp, s.checked, s.zooms = it, nil, stamp, time.Now(), nil
	return it, nil
}

func fileStamp(p string) string {
	st, err := os.Stat(p)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d|%d", st.Size(), st.ModTime().UnixNano())
}

// Status reports why the item cannot be served, or nil.
func (s *STAC) Status() error {
	_, err := s.load()
	return err
}

// Version changes when the item or the files of the assets read so far change.
func (s *STAC) Version() string {
	_, _ = s.load()
	s.mu.Lock()
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%v", s.opts.Path, s.stamp, s.opts.Assets)
	paths := make([]string, 0, len(s.readers))
	for p := range s.readers {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	readers := make([]*Reader, len(paths))
	for i, p := range paths {
		readers[i] = s.readers[p]
	}
	s.mu.Unlock()
	for i, r := range readers {
		fmt.Fprintf(h, "|%s=%s", paths[i], r.Version())
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Close releases the assets' dataset handles.
func (s *STAC) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, r := range s.readers {
		r.Close()
		delete(s.readers, p)
	}
}

// Schema lists the query parameters of a STAC layer: a COG layer's tile
// parameters, bidx and expression over the assets, assets and asset_bidx.
func (s *STAC) Schema() layer.Schema {
	sc := tileSchema(s.opts.Resampling)
	for i, p := range sc.Params {
		switch p.Name {
		case "bidx":
			sc.Params[i].Description = "bands read of every asset asset_bidx leaves out, e.g. 1"
		case "expression":
			sc.Params[i].Description = "band math over the assets' bands, each named ASSET_bN (B08_b1: band 1 of asset B08), e.g. (B08_b1-B04_b1)/(B08_b1+B04_b1); " +
				"several output bands separated by ;. The functions and rules of a COG layer's expression. Replaces asset_bidx and bidx"
		}
	}
	sc.Modes = append(sc.Modes, "file")            // crops (stacquery.go)
	sc.Params = append(sc.Params, CropParams()...) // crop.go
	sc.Params = append([]layer.Param{
		{Name: "assets", Type: layer.List, Description: "the assets to read, in order, each a COG: e.g. B04,B08 (or assets=B04&assets=B08); " +
			"their bands are stacked. Default: the layer's assets, else those the expression names"},
		{Name: "asset_bidx", Type: layer.List, Description: "bands of each asset, 1-based: ASSET|BAND[,BAND...], e.g. B04|1,B08|1 or visual|3,2,1 " +
			"(repeatable); default all bands of each asset"},
	}, sc.Params...)
	it, err := s.load()
	if err != nil {
		return sc
	}
	if b := it.BBox; b != nil {
		sc.Bounds = tiles.Bounds{MinX: max(-180, b[0]), MinY: max(-tiles.MaxLat, b[1]), MaxX: min(180, b[2]), MaxY: min(tiles.MaxLat, b[3])}
	}
	sc.MinZoom, sc.MaxZoom = s.zoomRange(it)
	return sc
}

// zoomRange is the layer's zooms: as configured, else those of its default
// assets (the widest), else 0 to 24.
func (s *STAC) zoomRange(it *stacItem) (int, int) {
	lo, hi := 0, 24
	s.mu.Lock()
	z := s.zooms
	s.mu.Unlock()
	if z == nil && len(s.opts.Assets) > 0 {
		lo, hi = 24, 0
		for _, name := range s.opts.Assets {
			r, err := s.reader(it, name)
			if err != nil {
				lo, hi = 0, 24
				break
			}
			in, err := r.load()
			if err != nil {
				lo, hi = 0, 24
				break
			}
			a, b := in.zooms()
			lo, hi = min(lo, a), max(hi, b)
		}
		z = &[2]int{lo, hi}
		s.mu.Lock()
		s.zooms = z
		s.mu.Unlock()
	}
	if z != nil {
		lo, hi = z[0], z[1]
	}
	if s.opts.MinZoom != nil {
		lo = *s.opts.MinZoom
	}
	if s.opts.MaxZoom != nil {
		hi = *s.opts.MaxZoom
	}
	return lo, hi
}

// reader returns the COG reader of an asset, opening it on first use.
func (s *STAC) reader(it *stacItem, name string) (*Reader, error) {
	a, ok := it.Assets[name]
	if !ok {
		return nil, layer.Errorf(layer.BadRequest, "asset %s: the item has no such asset (its raster assets: %s)", name, assetList(it))
	}
	if !a.raster() {
		what := a.Type
		if what == "" {
			what = "not a .tif"
		}
		return nil, layer.Errorf(layer.BadRequest, "asset %s: not a raster (%s); the item's raster assets: %s", name, what, assetList(it))
	}
	href, err := resolveHref(s.opts.Href, a.Href)
	if err != nil {
		return nil, layer.Errorf(layer.BadRequest, "asset %s: %v", name, err)
	}
	p := gdalPathOf(href)
	s.mu.Lock()
	known, ok := s.located[href]
	s.mu.Unlock()
	if ok {
		p = known
	} else if s.opts.Locate != nil {
		if p, err = s.opts.Locate(href); err != nil {
			var ue *layer.Error
			if errors.As(err, &ue) {
				return nil, &layer.Error{Kind: ue.Kind, Msg: "asset " + name + ": " + ue.Msg}
			}
			return nil, layer.Errorf(layer.Forbidden, "asset %s: %v", name, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.located[href] = p
	if r, ok := s.readers[p]; ok {
		return r, nil
	}
	// The layer's zooms apply, not each asset's: assets of different
	// resolutions are read into the same tiles.
	lo, hi := 0, tiles.MaxZoom
	r := New(Options{Path: p, Drivers: s.opts.Drivers, MinZoom: &lo, MaxZoom: &hi, Pool: 4})
	s.readers[p] = r
	return r, nil
}

func assetList(it *stacItem) string {
	if names := it.rasterAssets(); len(names) > 0 {
		return strings.Join(names, ", ")
	}
	return "none"
}

// stacPart is one asset read for a request: its bands, and where each goes
// in the stacked raster.
type stacPart struct {
	asset string
	r     *Reader
	bands []int
	at    []int
}

// stacSelection is what a request reads and computes.
type stacSelection struct {
	parts []stacPart
	nb    int               // bands stacked
	names []string          // names of the stacked bands (ASSET_bN), or of the outputs
	prog  *bandmath.Program // nil without expression=
}

// selection resolves assets=, asset_bidx=, bidx= and expression= against the
// item, opening the assets' readers.
func (s *STAC) selection(it *stacItem, params map[string]any) (*stacSelection, error) {
	assets := strings1(params["assets"])
	expr, _ := params["expression"].(string)
	bidx, _ := params["bidx"].([]int)
	abidx, hasABidx := params["asset_bidx"]
	if expr != "" {
		switch {
		case hasABidx:
			return nil, layer.Errorf(layer.BadRequest, "parameters asset_bidx and expression: give one (the expression names its bands, e.g. B08_b1)")
		case len(bidx) > 0:
			return nil, layer.Errorf(layer.BadRequest, "parameters bidx and expression: give one (the expression names its bands, e.g. B08_b1)")
		}
		return s.exprSelection(it, expr, assets)
	}
	if len(assets) == 0 {
		assets = s.opts.Assets
	}
	if len(assets) == 0 {
		return nil, layer.Errorf(layer.BadRequest, "parameter assets: required: the assets to read, e.g. assets=%s (the item's raster assets: %s), or an expression of them", firstAsset(it), assetList(it))
	}
	per := map[string][]int{}
	if hasABidx {
		if len(bidx) > 0 {
			return nil, layer.Errorf(layer.BadRequest, "parameters asset_bidx and bidx: give one")
		}
		var err error
		if per, err = parseAssetBidx(strings1(abidx)); err != nil {
			return nil, err
		}
		for name := range per {
			if !slices.Contains(assets, name) {
				return nil, layer.Errorf(layer.BadRequest, "parameter asset_bidx: asset %s is not in assets= (%s)", name, strings.Join(assets, ","))
			}
		}
	}
	sel := &stacSelection{}
	for _, name := range assets {
		r, err := s.reader(it, name)
		if err != nil {
			return nil, err
		}
		in, err := r.load()
		if err != nil {
			return nil, assetError(name, err)
		}
		bands, ok := per[name]
		if !ok {
			bands = bidx
		}
		if len(bands) == 0 {
			for b := 1; b <= in.bands; b++ {
				bands = append(bands, b)
			}
		}
		p := stacPart{asset: name, r: r}
		for _, b := range bands {
			if b < 1 || b > in.bands {
				which := "asset_bidx"
				if !ok {
					which = "bidx"
				}
				return nil, layer.Errorf(layer.BadRequest, "parameter %s: asset %s has no band %d (it has bands 1..%d)", which, name, b, in.bands)
			}
			p.bands = append(p.bands, b)
			p.at = append(p.at, sel.nb)
			sel.names = append(sel.names, name+"_b"+strconv.Itoa(b))
			sel.nb++
		}
		sel.parts = append(sel.parts, p)
	}
	return sel, nil
}

// exprSelection parses an expression over ASSET_bN names: the assets it
// names are read (those of assets= when given, which must include them).
func (s *STAC) exprSelection(it *stacItem, expr string, assets []string) (*stacSelection, error) {
	type input struct {
		asset string
		band  int
	}
	var inputs []input // the expression's band n is inputs[n-1]
	prog, err := bandmath.ParseNames(expr, func(name string) (int, error) {
		i := strings.LastIndex(name, "_b")
		n, err := strconv.Atoi(name[i+2:])
		if i <= 0 || err != nil || n < 1 || name[i+2] == '0' || name[i+2] == '+' {
			return 0, fmt.Errorf("unknown name %q: name an asset's band as ASSET_bN, e.g. %s_b1 (the item's raster assets: %s; functions %s)",
				name, firstAsset(it), assetList(it), strings.Join(bandmath.FunctionNames, ", "))
		}
		asset := name[:i]
		if len(assets) > 0 && !slices.Contains(assets, asset) {
			return 0, fmt.Errorf("%s names asset %s, which is not in assets= (%s)", name, asset, strings.Join(assets, ","))
		}
		r, err := s.reader(it, asset)
		if err != nil {
			var ue *layer.Error
			if errors.As(err, &ue) && ue.Kind != layer.BadRequest {
				return 0, err
			}
			return 0, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "asset "+asset+": "))
		}
		in, err := r.load()
		if err != nil {
			return 0, assetError(asset, err)
		}
		if n > in.bands {
			return 0, fmt.Errorf("%s: asset %s has no band %d (it has bands 1..%d)", name, asset, n, in.bands)
		}
		for k, v := range inputs {
			if v == (input{asset, n}) {
				return k + 1, nil
			}
		}
		inputs = append(inputs, input{asset, n})
		return len(inputs), nil
	})
	if err != nil {
		// A refusal of the allow-list or an asset that cannot be read keeps
		// its own status; the expression's mistakes are the request's.
		var ue *layer.Error
		if errors.As(err, &ue) {
			return nil, ue
		}
		return nil, layer.Errorf(layer.BadRequest, "parameter %v", err)
	}
	sel := &stacSelection{prog: prog}
	byAsset := map[string]int{} // asset → index in parts
	for k, b := range prog.Bands() {
		in := inputs[b-1]
		i, ok := byAsset[in.asset]
		if !ok {
			r, err := s.reader(it, in.asset)
			if err != nil {
				return nil, err
			}
			i = len(sel.parts)
			byAsset[in.asset] = i
			sel.parts = append(sel.parts, stacPart{asset: in.asset, r: r})
		}
		sel.parts[i].bands = append(sel.parts[i].bands, in.band)
		sel.parts[i].at = append(sel.parts[i].at, k)
		sel.nb++
	}
	if len(sel.parts) == 0 { // an expression of constants reads an asset for the mask
		name := firstAsset(it)
		if len(assets) > 0 {
			name = assets[0]
		}
		r, err := s.reader(it, name)
		if err != nil {
			return nil, err
		}
		sel.parts = []stacPart{{asset: name, r: r, bands: []int{1}, at: []int{0}}}
		sel.nb = 1
	}
	sel.names = exprNames(expr, prog)
	return sel, nil
}

// exprNames names the outputs of an expression by their text.
func exprNames(expr string, prog *bandmath.Program) []string {
	var names []string
	for _, part := range strings.Split(expr, ";") {
		if part = strings.TrimSpace(part); part != "" {
			names = append(names, part)
		}
	}
	if len(names) != prog.Outputs() {
		names = names[:0]
		for i := range prog.Outputs() {
			names = append(names, "expr"+strconv.Itoa(i+1))
		}
	}
	return names
}

func firstAsset(it *stacItem) string {
	if names := it.rasterAssets(); len(names) > 0 {
		return names[0]
	}
	return "B04"
}

// strings1 is a List parameter's values as strings.
func strings1(v any) []string {
	var out []string
	switch l := v.(type) {
	case []any:
		for _, x := range l {
			if s := strings.TrimSpace(fmt.Sprint(x)); s != "" {
				out = append(out, s)
			}
		}
	case []string:
		out = l
	}
	return out
}

// parseAssetBidx reads asset_bidx values, as split on commas: "B04|1", "2",
// "B08|1" is bands 1 and 2 of B04 and band 1 of B08.
func parseAssetBidx(vals []string) (map[string][]int, error) {
	out := map[string][]int{}
	cur := ""
	for _, v := range vals {
		name, band, ok := strings.Cut(v, "|")
		if ok {
			cur = strings.TrimSpace(name)
			if cur == "" {
				return nil, layer.Errorf(layer.BadRequest, "parameter asset_bidx: %q names no asset; want ASSET|BAND[,BAND...], e.g. B04|1", v)
			}
			if _, dup := out[cur]; dup {
				return nil, layer.Errorf(layer.BadRequest, "parameter asset_bidx: asset %s is given twice", cur)
			}
			out[cur] = nil
		} else {
			band = name
		}
		if cur == "" {
			return nil, layer.Errorf(layer.BadRequest, "parameter asset_bidx: want ASSET|BAND[,BAND...], e.g. B04|1, got %q", v)
		}
		n, err := strconv.Atoi(strings.TrimSpace(band))
		if err != nil {
			return nil, layer.Errorf(layer.BadRequest, "parameter asset_bidx: want 1-based band numbers after %s|, got %q", cur, band)
		}
		out[cur] = append(out[cur], n)
	}
	return out, nil
}

// Run reads the request's tile.
func (s *STAC) Run(ctx context.Context, req layer.Request) (layer.Result, error) {
	it, err := s.load()
	if err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	o := tileOptions(req.Params, nil, s.opts.Resampling)
	o.Bands = nil // bidx is the assets' (selection)
	// The algorithm is parsed as for a COG layer; the band selection is the
	// item's own.
	rest := map[string]any{}
	for _, k := range []string{"algorithm", "algorithm_params"} {
		if v, ok := req.Params[k]; ok {
			rest[k] = v
		}
	}
	p, err := parseProcess(rest)
	if err != nil {
		return nil, err
	}
	sel, err := s.selection(it, req.Params)
	if err != nil {
		return nil, err
	}
	if p != nil && p.alg != nil {
		a := p.alg
		have, of := sel.nb, "the assets give"
		if sel.prog != nil {
			have, of = sel.prog.Outputs(), "the expression gives"
		}
		if have < a.Inputs() {
			return nil, layer.Errorf(layer.BadRequest, "parameter algorithm: %s reads %d bands, %s %d", a.Name, a.Inputs(), of, have)
		}
		if sel.prog == nil {
			sel.keep(a.Inputs())
		}
		o.Buffer = a.Pad()
	}
	if req.Tile == nil { // file mode: a crop (stacquery.go)
		return s.crop(ctx, it, req, o, p, sel)
	}
	if name := hasCrop(req.Params); name != "" {
		return nil, layer.Errorf(layer.BadRequest, "parameter %s: for preview, bbox and feature crops, not tiles", name)
	}
	t := *req.Tile
	if lo, hi := s.zoomRange(it); t.Z < lo || t.Z > hi {
		return nil, layer.Errorf(layer.NotFound, "zoom %d is outside this layer's zooms %d..%d", t.Z, lo, hi)
	}
	if b := it.BBox; b != nil && !t.LonLat().Intersects(tiles.Bounds{MinX: b[0], MinY: b[1], MaxX: b[2], MaxY: b[3]}) {
		return nil, layer.Errorf(layer.NotFound, "tile %s is outside this item's bbox", t)
	}
	if err := ctx.Err(); err != nil {
		return nil, layer.Errorf(layer.Timeout, "request cancelled before the read: %v", err)
	}
	ras, err := s.read(t, o, sel)
	if err != nil {
		return nil, err
	}
	if sel.prog != nil {
		if ras, err = evaluate(sel.prog, ras); err != nil {
			return nil, err
		}
	}
	if p == nil || p.alg == nil {
		return ras, nil
	}
	defer ras.Release()
	return applyAlgorithm(p.alg, ras)
}

// keep drops the stacked bands past the first n.
func (sel *stacSelection) keep(n int) {
	var parts []stacPart
	for _, p := range sel.parts {
		var q stacPart
		q.asset, q.r = p.asset, p.r
		for i, at := range p.at {
			if at < n {
				q.bands = append(q.bands, p.bands[i])
				q.at = append(q.at, at)
			}
		}
		if len(q.bands) > 0 {
			parts = append(parts, q)
		}
	}
	sel.parts, sel.nb = parts, min(sel.nb, n)
}

// read reads the parts into one raster of the tile (with o.Buffer around
// it), the assets at once, and stacks their bands. A pixel is valid where
// every asset has it.
func (s *STAC) read(t tiles.Tile, o TileOptions, sel *stacSelection) (*layer.Raster, error) {
	got := make([]*layer.Raster, len(sel.parts))
	errs := make([]error, len(sel.parts))
	var wg sync.WaitGroup
	for i, p := range sel.parts {
		po := o
		po.Bands = p.bands
		if i == len(sel.parts)-1 { // the last in this goroutine
			got[i], errs[i] = p.r.ReadTile(t, po)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = p.r.ReadTile(t, po)
		}()
	}
	wg.Wait()
	defer func() {
		for _, r := range got {
			r.Release()
		}
	}()
	for i, err := range errs {
		if err != nil {
			return nil, assetError(sel.parts[i].asset, err)
		}
	}
	return sel.stack(got), nil
}

// stack stacks the bands the parts read (got, one raster each, all of one
// size) into one raster; a pixel is valid where every asset has it.
func (sel *stacSelection) stack(got []*layer.Raster) *layer.Raster {
	first := got[0]
	out := layer.NewRaster(first.Width, first.Height, sel.nb)
	out.Bounds, out.EPSG = first.Bounds, first.EPSG
	out.DType, out.NoData, out.HasNoData = first.DType, first.NoData, first.HasNoData
	for i := range out.Mask {
		out.Mask[i] = 255
	}
	for i, p := range sel.parts {
		r := got[i]
		if r.DType != out.DType {
			out.DType = widerType(out.DType, r.DType)
		}
		if r.HasNoData != out.HasNoData || r.NoData != out.NoData && !(math.IsNaN(r.NoData) && math.IsNaN(out.NoData)) {
			out.HasNoData = false // masked pixels are told by the mask alone
		}
		for k, at := range p.at {
			copy(out.Bands[at], r.Bands[k])
		}
		if r.Mask != nil {
			for j, m := range r.Mask {
				out.Mask[j] = min(out.Mask[j], m)
			}
		}
	}
	return out
}

// widerType is a sample type holding the values of both a and b.
func widerType(a, b string) string {
	if a == b {
		return a
	}
	small := map[string]bool{"uint8": true, "uint16": true, "int16": true, "float32": true}
	if small[a] && small[b] {
		return "float32"
	}
	return "float64"
}
