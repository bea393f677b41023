package cog

import (
	"fmt"
	"math"
	"strconv"

	"github.com/udftiles/udftiles/algorithm"
	"github.com/udftiles/udftiles/bandmath"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// Band math (expression=) and algorithms (algorithm=, algorithm_params=), as
// TiTiler spells them: what a tile computes from the bands read. See
// docs/raster.md.

// ProcessParams are the parameters of a COG layer that compute new bands;
// Schema lists them after bidx, resampling and tilesize.
func ProcessParams() []layer.Param {
	return []layer.Param{
		{Name: "expression", Type: layer.Str, Description: "band math over the file's bands b1..bN, e.g. (b3-b1)/(b3+b1); " +
			"several output bands separated by ;. Numbers, + - * /, comparisons, && ||, and abs, sqrt, log, log10, exp, min, max, pow, where(cond, a, b). " +
			"Float32 result; division by zero and other NaN are transparent. Replaces bidx"},
		{Name: "algorithm", Type: layer.Str, Enum: algorithm.Accepted, Description: "computed from the first band (the first two for normalized_index) " +
			"of bidx or of the expression: hillshade (gdaldem's, uint8), slope (degrees, float32), normalized_index ((b2-b1)/(b2+b1), float32), " +
			"terrainrgb (Mapbox Terrain-RGB, uint8 RGB), terrarium (Terrarium, uint8 RGB)"},
		{Name: "algorithm_params", Type: layer.Dict, Description: `the algorithm's parameters as a JSON object: hillshade azimuth (315), angle_altitude (45), ` +
			`z_exaggeration (1), buffer (1); slope z_exaggeration, buffer; terrainrgb interval (0.1), baseval (-10000). E.g. {"azimuth":270,"angle_altitude":30}`},
	}
}

// process is what a request computes: band math, then an algorithm.
type process struct {
	expr string
	alg  *algorithm.Algorithm
}

// parseProcess reads expression=, algorithm= and algorithm_params= (as
// Schema coerced them); nil when the request computes nothing.
func parseProcess(params map[string]any) (*process, error) {
	expr, _ := params["expression"].(string)
	name, _ := params["algorithm"].(string)
	ap, hasParams := params["algorithm_params"].(map[string]any)
	if expr == "" && name == "" {
		if hasParams {
			return nil, layer.Errorf(layer.BadRequest, "parameter algorithm_params: give algorithm= too")
		}
		return nil, nil
	}
	p := &process{expr: expr}
	if expr != "" {
		if _, ok := params["bidx"]; ok {
			return nil, layer.Errorf(layer.BadRequest, "parameters bidx and expression: give one (the expression names its bands, b1..bN)")
		}
	}
	if name != "" {
		a, err := algorithm.Parse(name, ap)
		if err != nil {
			return nil, layer.Errorf(layer.BadRequest, "parameter algorithm_params: %v", err)
		}
		p.alg = a
	} else if hasParams {
		return nil, layer.Errorf(layer.BadRequest, "parameter algorithm_params: give algorithm= too")
	}
	return p, nil
}

// processTile reads the bands the request's expression or algorithm needs
// (with the border the algorithm needs around the tile) and computes the tile.
func (r *Reader) processTile(t tiles.Tile, o TileOptions, p *process) (*layer.Raster, error) {
	in, err := r.load()
	if err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	return p.tile(t, o, in.bands, r.ReadTile)
}

// tile computes the tile from the bands read reads of a source of nbands
// bands: a file (Reader.ReadTile) or a mosaic's combined files.
func (p *process) tile(t tiles.Tile, o TileOptions, nbands int, read func(tiles.Tile, TileOptions) (*layer.Raster, error)) (*layer.Raster, error) {
	bands := o.Bands
	if len(bands) == 0 {
		for b := 1; b <= nbands; b++ {
			bands = append(bands, b)
		}
	}
	var (
		prog *bandmath.Program
		err  error
	)
	if p.expr != "" {
		if prog, err = bandmath.Parse(p.expr, nbands); err != nil {
			return nil, layer.Errorf(layer.BadRequest, "parameter %v", err)
		}
		// Only the bands the expression names are read; an expression of
		// constants reads the first for the mask.
		if bands = prog.Bands(); len(bands) == 0 {
			bands = []int{1}
		}
	}
	pad := 0
	if a := p.alg; a != nil {
		have, of := len(bands), "bidx selects"
		if prog != nil {
			have, of = prog.Outputs(), "the expression gives"
		}
		if have < a.Inputs() {
			return nil, layer.Errorf(layer.BadRequest, "parameter algorithm: %s reads %d bands, %s %d", a.Name, a.Inputs(), of, have)
		}
		if prog == nil {
			bands = bands[:a.Inputs()]
		}
		pad = a.Pad()
	}
	o.Bands, o.Buffer = bands, pad
	src, err := read(t, o)
	if err != nil {
		return nil, err
	}
	if prog != nil {
		if src, err = evaluate(prog, src); err != nil {
			return nil, err
		}
	}
	if p.alg == nil {
		return src, nil
	}
	defer src.Release()
	n := o.Size
	out := layer.NewRaster(n, n, p.alg.Outputs())
	out.DType = p.alg.DType()
	out.NoData, out.HasNoData = p.alg.NoData()
	out.Bounds, out.EPSG = t.Mercator(), 3857
	res := tiles.Size(t.Z) / float64(n)
	err = p.alg.Apply(algorithm.Input{Width: src.Width, Height: src.Height, Bands: src.Bands, Mask: src.Mask, ResX: res, ResY: -res}, out.Bands, out.Mask)
	if err != nil {
		out.Release()
		return nil, layer.Errorf(layer.Internal, "%v", err)
	}
	return out, nil
}

// evaluate runs the expression over src's bands (those prog.Bands names, in
// that order) as float32 values. The result is float32; pixels masked in src
// or whose value is NaN or infinite in any output band are transparent and
// NaN. It consumes src: the result is src, its bands and mask reused (the
// expression's values written over those read, a chunk at a time), so that
// an expression copies and allocates no band of its own. Error or not, src
// is not the caller's any more.
func evaluate(prog *bandmath.Program, src *layer.Raster) (*layer.Raster, error) {
	n := src.Width * src.Height
	in := make([][]float64, len(prog.Bands()))
	for i := range in {
		in[i] = src.Bands[i][:n]
	}
	ras := src
	for len(ras.Bands) < prog.Outputs() { // more outputs than bands read
		ras.Bands = append(ras.Bands, make([]float64, n))
	}
	outs := make([][]float64, prog.Outputs())
	for j := range outs {
		outs[j] = ras.Bands[j][:n]
	}
	if ras.Mask == nil {
		ras.Mask = make([]uint8, n)
		for i := range ras.Mask {
			ras.Mask[i] = 255
		}
	}
	// The mask is the expression's: NaN and infinite results lose their
	// value, and pixels without one are NaN in every band.
	if err := prog.EvalFloat64(in, outs, ras.Mask[:n]); err != nil {
		ras.Release()
		return nil, layer.Errorf(layer.Internal, "%v", err)
	}
	ras.KeepBands(len(outs)) // the inputs past the outputs are read: now free
	ras.DType, ras.NoData, ras.HasNoData = "float32", math.NaN(), true
	return ras, nil
}

// warpPadded reads the tile's window grown by o.Buffer pixels on each side:
// a (Size+2·Buffer)² raster. Algorithms that look at each pixel's neighbours
// read it, so that the pixels at a tile's edge see those of the next tile.
// As for tiles as served, a tile well inside the data is read from a warped
// grid of its column (its rows as wide as the tile and its borders, so the
// very values a one-off gdalwarp of the window gives); others are warped
// alone into memory.
func (r *Reader) warpPadded(h *handle, in *info, t tiles.Tile, bands []int, o TileOptions) (*layer.Raster, error) {
	n, pad := o.Size, o.Buffer
	w := n + 2*pad
	var opts []string
	if in.pipeline != "" {
		opts = append(opts, "-ct", in.pipeline)
	}
	if in.hasNoData {
		opts = append(opts, "-srcnodata", strconv.FormatFloat(in.nodata, 'g', -1, 64))
	}
	lvl := in.overviewFor(h.ratio(in, t, n))
	var (
		g   *grid
		err error
	)
	if in.paddedInterior(t, n, pad) {
		g, err = h.paddedGrid(in, gridKey{z: t.Z, x: t.X, size: n, resampling: o.Resampling, ovr: lvl, pad: pad}, t, opts)
	} else {
		g, err = h.warpPad(t, 1, n, pad, o.Resampling, lvl, "MEM", opts)
		if g != nil {
			defer g.vrt.Close()
		}
	}
	if err != nil {
		return nil, err
	}
	py := (t.Y - g.minY) * n
	all := g.vrt.Bands()
	ras := layer.NewRaster(w, w, len(bands))
	for i, b := range bands {
		if err := all[b-1].Read(0, py, ras.Bands[i], w, w); err != nil {
			ras.Release()
			return nil, fmt.Errorf("read: %v", err)
		}
	}
	if err := all[in.bands].Read(0, py, ras.Mask, w, w); err != nil {
		ras.Release()
		return nil, fmt.Errorf("read mask: %v", err)
	}
	b := t.Mercator()
	p := float64(pad) * (b.MaxX - b.MinX) / float64(n)
	ras.DType, ras.NoData, ras.HasNoData, ras.EPSG = numpyType[in.dtype], in.nodata, in.hasNoData, 3857
	ras.Bounds = tiles.Bounds{MinX: b.MinX - p, MinY: b.MinY - p, MaxX: b.MaxX + p, MaxY: b.MaxY + p}
	return ras, nil
}

// paddedInterior is interior for a tile and its border.
func (in *info) paddedInterior(t tiles.Tile, size, pad int) bool {
	b := t.Mercator()
	m := float64(4+pad) * (b.MaxX - b.MinX) / float64(size)
	return b.MinX-m >= in.inner.MinX && b.MaxX+m <= in.inner.MaxX && b.MinY-m >= in.inner.MinY && b.MaxY+m <= in.inner.MaxY
}

// paddedGrid is grid for tiles read with a border: the column's warped
// grid grown by the border on every side.
func (h *handle) paddedGrid(in *info, k gridKey, t tiles.Tile, opts []string) (*grid, error) {
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
	g, err := h.warpPad(tiles.Tile{Z: k.z, X: k.x, Y: minY}, maxY-minY+1, k.size, k.pad, k.resampling, k.ovr, "VRT", opts)
	if err != nil {
		return nil, err
	}
	h.grids[k] = g
	return g, nil
}

// warpPad is warp with a border of pad pixels around the rows tiles below
// top: (size+2·pad) × (rows·size+2·pad) pixels.
func (h *handle) warpPad(top tiles.Tile, rows, size, pad int, resampling string, lvl int, driver string, opts []string) (*grid, error) {
	span := tiles.Size(top.Z)
	p := float64(pad) * span / float64(size)
	x0, y0 := -tiles.OriginShift+float64(top.X)*span, tiles.OriginShift-float64(top.Y)*span
	x1, y1 := x0+span, y0-float64(rows)*span
	ovr := "NONE"
	if lvl >= 0 {
		ovr = strconv.Itoa(lvl)
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	sw := []string{"-of", driver, "-t_srs", webMercatorWKT(),
		"-te", f(x0 - p), f(y1 - p), f(x1 + p), f(y0 + p), "-ts", strconv.Itoa(size + 2*pad), strconv.Itoa(rows*size + 2*pad),
		"-r", resampling, "-ovr", ovr, "-dstalpha"}
	sw = append(sw, opts...)
	vrt, err := h.src.Warp("", sw)
	if err != nil {
		return nil, fmt.Errorf("warp: %v", err)
	}
	return &grid{vrt: vrt, minY: top.Y}, nil
}
