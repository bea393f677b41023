package cog

import (
	"math"
	"slices"

	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// PixelSelections are the values of pixel_selection=, as rio-tiler names
// its mosaic methods: how the files meeting a pixel give its value.
var PixelSelections = []string{"first", "highest", "lowest", "mean", "median", "stdev", "count"}

// combiner folds the tiles read of a mosaic's files, in order, into one.
// A pixel of a file's tile has a value where its mask is not 0 (its
// nodata, mask or alpha say so); partly transparent pixels (resampled
// edges) count as values, and a later file's more opaque pixel replaces
// them under first.
type combiner struct {
	method string
	out    *layer.Raster // first, highest, lowest: the tile so far
	filled int           // first: fully opaque pixels of out
	// mean: the sum per band and pixel of n[pixel] values (exact for
	// integers, whatever the order); stdev: Welford's running mean and sum
	// of squared deviations.
	sum, mean, m2 [][]float64
	n             []int32
	stack         []*layer.Raster // median: every tile read
	fed           int             // tiles fed
	proto         *layer.Raster   // the first tile's shape, type and place
}

func newCombiner(method string) *combiner { return &combiner{method: method} }

// opaque is the mask value of a fully valid pixel.
const opaque = 255

// feed adds the next file's tile; it reports true when the result can no
// longer change (first, once every pixel is opaque). The combiner owns ras.
func (c *combiner) feed(ras *layer.Raster) (done bool) {
	c.fed++
	if ras.Mask == nil {
		ras.Mask = make([]uint8, ras.Width*ras.Height)
		for i := range ras.Mask {
			ras.Mask[i] = opaque
		}
	}
	if c.proto == nil {
		c.proto = &layer.Raster{Width: ras.Width, Height: ras.Height, DType: ras.DType, NoData: ras.NoData,
			HasNoData: ras.HasNoData, Bounds: ras.Bounds, EPSG: ras.EPSG}
	}
	switch c.method {
	case "first", "highest", "lowest":
		if c.out == nil {
			c.out = ras
			for _, m := range ras.Mask {
				if m == opaque {
					c.filled++
				}
			}
			return c.method == "first" && c.filled == len(ras.Mask)
		}
		defer ras.Release()
		if c.method == "first" {
			return c.first(ras)
		}
		c.extreme(ras, c.method == "highest")
	case "mean", "stdev", "count":
		c.running(ras)
		ras.Release()
	case "median":
		c.stack = append(c.stack, ras)
	}
	return false
}

// covered reports whether, under first, every pixel of the tile (of
// bounds b) inside box is opaque already: a file with no data outside box
// cannot change the result.
func (c *combiner) covered(b, box tiles.Bounds) bool {
	if c.method != "first" || c.out == nil {
		return false
	}
	w, h := c.out.Width, c.out.Height
	rx, ry := (b.MaxX-b.MinX)/float64(w), (b.MaxY-b.MinY)/float64(h)
	x0, x1 := max(0, int(math.Floor((box.MinX-b.MinX)/rx))), min(w, int(math.Ceil((box.MaxX-b.MinX)/rx)))
	y0, y1 := max(0, int(math.Floor((b.MaxY-box.MaxY)/ry))), min(h, int(math.Ceil((b.MaxY-box.MinY)/ry)))
	for y := y0; y < y1; y++ {
		for _, m := range c.out.Mask[y*w+x0 : y*w+max(x0, x1)] {
			if m != opaque {
				return false
			}
		}
	}
	return true
}

// first fills the pixels that are not yet opaque from ras where it is more
// opaque.
func (c *combiner) first(ras *layer.Raster) bool {
	om := c.out.Mask
	for i, m := range ras.Mask {
		if o := om[i]; o < opaque && m > o {
			for b := range c.out.Bands {
				c.out.Bands[b][i] = ras.Bands[b][i]
			}
			om[i] = m
			if m == opaque {
				c.filled++
			}
		}
	}
	return c.filled == len(om)
}

// extreme keeps, band by band, the highest (or lowest) value of the files
// with a value at each pixel, as rio-tiler's HighestMethod and LowestMethod.
func (c *combiner) extreme(ras *layer.Raster, highest bool) {
	om := c.out.Mask
	for i, m := range ras.Mask {
		if m == 0 {
			continue
		}
		if om[i] == 0 {
			for b := range c.out.Bands {
				c.out.Bands[b][i] = ras.Bands[b][i]
			}
			om[i] = m
			continue
		}
		for b, band := range c.out.Bands {
			v := ras.Bands[b][i]
			if highest && v > band[i] || !highest && v < band[i] {
				band[i] = v
			}
		}
		om[i] = max(om[i], m)
	}
}

// running adds ras to the running means and deviations.
func (c *combiner) running(ras *layer.Raster) {
	np := ras.Width * ras.Height
	if c.n == nil {
		c.n = make([]int32, np)
		for range ras.Bands {
			switch c.method {
			case "mean":
				c.sum = append(c.sum, make([]float64, np))
			case "stdev":
				c.mean = append(c.mean, make([]float64, np))
				c.m2 = append(c.m2, make([]float64, np))
			}
		}
	}
	for i, m := range ras.Mask {
		if m == 0 {
			continue
		}
		c.n[i]++
		for b, s := range c.sum {
			s[i] += ras.Bands[b][i]
		}
		k := float64(c.n[i])
		for b := range c.mean {
			v := ras.Bands[b][i]
			d := v - c.mean[b][i]
			c.mean[b][i] += d / k
			c.m2[b][i] += d * (v - c.mean[b][i])
		}
	}
}

// result returns the combined tile, or nil when nothing was fed.
func (c *combiner) result() *layer.Raster {
	if c.fed == 0 {
		return nil
	}
	switch c.method {
	case "first", "highest", "lowest":
		out := c.out
		c.out = nil
		return out
	case "count":
		// The number of files with a value, one band, every pixel valid (as
		// rio-tiler's CountMethod); fewer than 256 files are ever combined.
		out := c.blank(1)
		out.DType, out.HasNoData, out.NoData = "uint8", false, 0
		for i, n := range c.n {
			out.Bands[0][i] = float64(n)
			out.Mask[i] = opaque
		}
		return out
	case "median":
		return c.median()
	}
	out := c.blank(len(c.sum) + len(c.m2))
	if c.method == "stdev" {
		// Population deviation (numpy's std), in float64.
		out.DType, out.NoData, out.HasNoData = "float64", math.NaN(), true
	}
	for i, n := range c.n {
		if n == 0 {
			continue
		}
		out.Mask[i] = opaque
		for b, s := range c.sum {
			out.Bands[b][i] = castTo(out.DType, s[i]/float64(n))
		}
		for b, m2 := range c.m2 {
			out.Bands[b][i] = math.Sqrt(m2[i] / float64(n))
		}
	}
	return out
}

// blank is a transparent tile of nb bands shaped as the tiles fed.
func (c *combiner) blank(nb int) *layer.Raster {
	p := c.proto
	out := layer.NewRaster(p.Width, p.Height, nb)
	out.DType, out.NoData, out.HasNoData, out.Bounds, out.EPSG = p.DType, p.NoData, p.HasNoData, p.Bounds, p.EPSG
	return out
}

// median is the middle value of the files with a value, band by band (the
// mean of the two middle ones for an even count), in the files' sample type
// as rio-tiler's MedianMethod gives it.
func (c *combiner) median() *layer.Raster {
	nb := len(c.stack[0].Bands)
	out := c.blank(nb)
	vals := make([]float64, 0, len(c.stack))
	for i := range out.Mask {
		for b := 0; b < nb; b++ {
			vals = vals[:0]
			for _, r := range c.stack {
				if r.Mask[i] != 0 {
					vals = append(vals, r.Bands[b][i])
				}
			}
			if len(vals) == 0 {
				break
			}
			out.Mask[i] = opaque
			slices.Sort(vals)
			k := len(vals) / 2
			v := vals[k]
			if len(vals)%2 == 0 {
				v = (vals[k-1] + vals[k]) / 2
			}
			out.Bands[b][i] = castTo(out.DType, v)
		}
	}
	c.release()
	return out
}

// release gives back the tiles held.
func (c *combiner) release() {
	for _, r := range c.stack {
		r.Release()
	}
	c.stack = nil
	if c.out != nil {
		c.out.Release()
		c.out = nil
	}
}

// castTo gives v the sample type's precision as numpy's astype does:
// integers truncated toward zero, float32 rounded.
func castTo(dtype string, v float64) float64 {
	switch dtype {
	case "float64", "":
		return v
	case "float32":
		return float64(float32(v))
	}
	return math.Trunc(v)
}
