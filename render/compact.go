package render

import (
	"encoding/binary"
	"image"
	"math"
	"unsafe"

	"github.com/udftiles/udftiles/colormap"
	"github.com/udftiles/udftiles/layer"
)

// maxCompactPaint bounds the rasters of Samples painted whole by paintBytes
// and paintInts: tiles (a COG's, 256 or 512 pixels a side), drawn as their
// Bands would be; a UDF's arrays, larger, go a row at a time (encodeSamples).
const maxCompactPaint = 512 * 512

// paintsCompact reports a raster of Samples that paintBytes or paintInts
// draws: uint8 bands, or one band of int16 or uint16, of tile size.
func paintsCompact(r *layer.Raster) bool {
	if r.Bands != nil || len(r.Samples) == 0 || r.Width*r.Height > maxCompactPaint {
		return false
	}
	return r.DType == "uint8" || len(r.Samples) == 1 && (r.DType == "int16" || r.DType == "uint16")
}

// paintCompact draws a raster paintsCompact accepts.
func paintCompact(r *layer.Raster, st Style, img *image.NRGBA) (*image.NRGBA, error) {
	if r.DType == "uint8" {
		return paintBytes(r, st, img)
	}
	return paintInts(r, st, img)
}

// byteRamps are rasters of nb uint8 bands, 256×1, each pixel's value its
// column: paint draws them into the colours of every byte value.
var byteRamps = func() (r [5]*layer.Raster) {
	ramp := make([]float64, 256)
	for v := range ramp {
		ramp[v] = float64(v)
	}
	for nb := range r {
		r[nb] = &layer.Raster{Width: 256, Height: 1, DType: "uint8", Bands: make([][]float64, nb)}
		for b := range nb {
			r[nb].Bands[b] = ramp
		}
	}
	return r
}()

// paintBytes draws a raster of uint8 Samples (a Byte file's tile) into img
// without widening it: paint colours the 256 values of each band once,
// which gives each band's table (a band's channel depends on that band's
// value alone), and the pixels are looked up in them. The pixels are those
// paint draws from the same values as Bands, mask and errors included.
func paintBytes(r *layer.Raster, st Style, img *image.NRGBA) (*image.NRGBA, error) {
	nb := len(r.Samples)
	if nb != 1 && nb != 3 && nb != 4 {
		// paint's error for that many bands (it reads none of them).
		return paint(&layer.Raster{Width: r.Width, Height: r.Height, DType: "uint8", Bands: make([][]float64, nb)}, st, img)
	}
	var tab [4][256]uint8
	if err := byteTables(nb, st, &tab); err != nil {
		return nil, err
	}
	n := r.Width * r.Height
	pix := img.Pix[:4*n]
	switch nb {
	case 1:
		words := wordsOf(&tab)
		for i, v := range r.Samples[0][:n] {
			binary.LittleEndian.PutUint32(pix[4*i:], words[v])
		}
	default:
		red, green, blue := r.Samples[0][:n], r.Samples[1][:n], r.Samples[2][:n]
		alpha := red // nb 3: the alpha table is 255 for every value
		if nb == 4 {
			alpha = r.Samples[3][:n]
		}
		if nb == 3 && identityTables(&tab) {
			// Bytes as they are, opaque (most RGB tiles).
			for i := range n {
				p := pix[4*i : 4*i+4 : 4*i+4]
				p[0], p[1], p[2], p[3] = red[i], green[i], blue[i], 255
			}
			break
		}
		for i := range n {
			p := pix[4*i : 4*i+4 : 4*i+4]
			p[0], p[1], p[2], p[3] = tab[0][red[i]], tab[1][green[i]], tab[2][blue[i]], tab[3][alpha[i]]
		}
	}
	if r.Mask != nil {
		// paint's three-or-four-bands identity (bytesRGB) leaves a pixel
		// under a zero mask all zero; its other ways keep the colour.
		ranges := make([][2]float64, nb)
		for b := range ranges {
			ranges[b] = bandRange(byteRamps[nb], b, st)
		}
		zero := nb != 1 && identity(ranges)
		for i, m := range r.Mask[:n] {
			switch {
			case m == 255:
			case m == 0 && zero:
				clear(pix[4*i : 4*i+4])
			default:
				pix[4*i+3] = uint8(uint16(pix[4*i+3]) * uint16(m) / 255)
			}
		}
	}
	return img, nil
}

// byteTables are the channels paint draws for each byte value of nb bands
// (1, 3 or 4) in style st: tab[c][v] is channel c (red, green, blue, alpha)
// of value v, of band c for three or four bands (a band's channel depends
// on that band's value alone), of the one band for one.
func byteTables(nb int, st Style, tab *[4][256]uint8) error {
	var lutPix [4 * 256]uint8
	lut := &image.NRGBA{Pix: lutPix[:], Stride: 4 * 256, Rect: image.Rect(0, 0, 256, 1)}
	if _, err := paint(byteRamps[nb], st, lut); err != nil {
		return err
	}
	for c := range 4 {
		for v := range 256 {
			tab[c][v] = lutPix[4*v+c]
		}
	}
	return nil
}

// wordsOf is a one-band table as little-endian RGBA words.
func wordsOf(tab *[4][256]uint8) *[256]uint32 {
	var words [256]uint32
	for v := range words {
		words[v] = uint32(tab[0][v]) | uint32(tab[1][v])<<8 | uint32(tab[2][v])<<16 | uint32(tab[3][v])<<24
	}
	return &words
}

// pngBytes encodes the PNG of a tile of uint8 Samples of one or three
// bands, every pixel on the data and every colour opaque, from the samples:
// each row's colours looked up (or taken as they are) and Sub-filtered at
// once, the bytes PNG writes for the image paintBytes draws. It reports
// false, doing nothing, for other tiles.
func pngBytes(r *layer.Raster, st Style) ([]byte, bool, error) {
	nb, w, n := len(r.Samples), r.Width, r.Width*r.Height
	if nb != 1 && nb != 3 || r.Mask != nil && !allOpaque(r.Mask[:n]) {
		return nil, false, nil
	}
	var tab [4][256]uint8
	if err := byteTables(nb, st, &tab); err != nil {
		return nil, false, nil // paintBytes reports it
	}
	for _, a := range tab[3] {
		if a != 255 {
			return nil, false, nil
		}
	}
	var fill func(y int, row []byte)
	switch {
	case nb == 1:
		words, s := wordsOf(&tab), r.Samples[0][:n]
		fill = func(y int, row []byte) {
			row = row[:3*w]
			var prev uint32
			for x, v := range s[y*w : (y+1)*w] {
				c := words[v]
				p := row[3*x : 3*x+3 : 3*x+3]
				p[0], p[1], p[2] = byte(c)-byte(prev), byte(c>>8)-byte(prev>>8), byte(c>>16)-byte(prev>>16)
				prev = c
			}
		}
	default:
		red, green, blue := r.Samples[0][:n], r.Samples[1][:n], r.Samples[2][:n]
		identity := identityTables(&tab)
		fill = func(y int, row []byte) {
			row = row[:3*w]
			rs, gs, bs := red[y*w:(y+1)*w], green[y*w:(y+1)*w], blue[y*w:(y+1)*w]
			var pr, pg, pb byte
			for x := range rs {
				rv, gv, bv := rs[x], gs[x], bs[x]
				if !identity {
					rv, gv, bv = tab[0][rv], tab[1][gv], tab[2][bv]
				}
				p := row[3*x : 3*x+3 : 3*x+3]
				p[0], p[1], p[2] = rv-pr, gv-pg, bv-pb
				pr, pg, pb = rv, gv, bv
			}
		}
	}
	b, err := encodeRows(w, r.Height, true, fill)
	return b, true, err
}

// identityTables reports tables that keep each of the first three bands'
// values and make every pixel opaque.
func identityTables(tab *[4][256]uint8) bool {
	for v := range 256 {
		if tab[0][v] != uint8(v) || tab[1][v] != uint8(v) || tab[2][v] != uint8(v) || tab[3][v] != 255 {
			return false
		}
	}
	return true
}

// paintInts draws one band of int16 or uint16 Samples (a DEM's tile)
// without widening it, to the pixels paint draws from the band widened:
// the same rescale range (the style's, else the min–max of the pixels with
// data), the same colour of each value through a table of the values
// between the least and the greatest with data, others (nodata under the
// mask) one by one.
func paintInts(r *layer.Raster, st Style, img *image.NRGBA) (*image.NRGBA, error) {
	// paint's checks of the style against one band, on one pixel.
	var one [4]uint8
	if _, err := paint(&layer.Raster{Width: 1, Height: 1, DType: r.DType, Bands: [][]float64{{0}}}, st,
		&image.NRGBA{Pix: one[:], Stride: 4, Rect: image.Rect(0, 0, 1, 1)}); err != nil {
		return nil, err
	}
	if r.DType == "int16" {
		return paint16[int16](r, st, img), nil
	}
	return paint16[uint16](r, st, img), nil
}

func paint16[T int16 | uint16](r *layer.Raster, st Style, img *image.NRGBA) *image.NRGBA {
	n := r.Width * r.Height
	vals := typedSamples(r.Samples[0][:2*n], r.DType).([]T)
	mask := r.Mask
	if mask != nil {
		mask = mask[:n]
	}
	if img, ok := paint16Rescaled(vals, mask, st, img); ok {
		return img
	}
	mn, mx := math.MaxInt, math.MinInt // of the pixels with data
	if mask == nil {
		for _, v := range vals {
			mn, mx = min(mn, int(v)), max(mx, int(v))
		}
	} else {
		for i, v := range vals {
			if mask[i] != 0 {
				mn, mx = min(mn, int(v)), max(mx, int(v))
			}
		}
	}
	lo, hi := 0.0, 255.0
	switch {
	case len(st.Rescale) > 0:
		lo, hi = st.Rescale[0][0], st.Rescale[0][1]
	case mn <= mx:
		lo, hi = float64(mn), float64(mx)
	}
	custom := st.Colormap != nil && !st.Colormap.Scaled()
	packed := levels(st)
	colour := func(v int) uint32 {
		if custom {
			c, _ := st.Colormap.Value(float64(v)) // none: the pixel stays zero
			return binary.LittleEndian.Uint32(c[:])
		}
		return packed[colormap.Rescale(float64(v), lo, hi)]
	}
	var table [maxValueLUT]uint32
	var lut []uint32
	if mn <= mx && mx-mn < maxValueLUT {
		lut = table[:mx-mn+1]
		for k := range lut {
			lut[k] = colour(mn + k)
		}
	}
	// The pixels as little-endian RGBA words (typedSamples' machines), the
	// mask folded into alpha as paint folds it.
	words := unsafe.Slice((*uint32)(unsafe.Pointer(&img.Pix[0])), n)
	other, otherC := math.MinInt, uint32(0)
	for i, v := range vals {
		var c uint32
		if k := int(v) - mn; uint(k) < uint(len(lut)) {
			c = lut[k]
		} else {
			if int(v) != other {
				other, otherC = int(v), colour(int(v))
			}
			c = otherC
		}
		if mask != nil {
			if m := mask[i]; m < 255 {
				c = c&0xffffff | uint32(uint16(c>>24)*uint16(m)/255)<<24
			}
		}
		words[i] = c
	}
	return img
}

// paint16Rescaled is paint16 for a style with a rescale range and a scaled
// colormap (or none): every value below the range has the colour of the
// value under it, every value above that of the value over it (Rescale
// clamps), so the table spans the range and a pixel's value is clamped into
// it; no pass over the pixels for their least and greatest. It reports
// false for other styles and ranges wider than maxValueLUT.
func paint16Rescaled[T int16 | uint16](vals []T, mask []uint8, st Style, img *image.NRGBA) (*image.NRGBA, bool) {
	var table [maxValueLUT]uint32
	lut, base, top, ok := rescaledTable[T](st, &table)
	if !ok {
		return nil, false
	}
	words := unsafe.Slice((*uint32)(unsafe.Pointer(&img.Pix[0])), len(vals))
	for i, v := range vals {
		c := lut[min(max(int(v), base), top)-base]
		if mask != nil {
			if m := mask[i]; m < 255 {
				c = c&0xffffff | uint32(uint16(c>>24)*uint16(m)/255)<<24
			}
		}
		words[i] = c
	}
	return img, true
}

// rescaledTable is paint16Rescaled's table of the colours of the values
// base..top, in table; ok false when the style or range does not allow one.
func rescaledTable[T int16 | uint16](st Style, table *[maxValueLUT]uint32) (lut []uint32, base, top int, ok bool) {
	if len(st.Rescale) == 0 || st.Colormap != nil && !st.Colormap.Scaled() {
		return nil, 0, 0, false
	}
	lo, hi := st.Rescale[0][0], st.Rescale[0][1]
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil, 0, 0, false
	}
	typeMin, typeMax := 0.0, 65535.0
	var zero T
	if _, signed := any(zero).(int16); signed {
		typeMin, typeMax = -32768, 32767
	}
	// One value beyond each end: Rescale of a range's own end is the end's
	// level, of anything past it the constant beyond.
	a := max(math.Floor(min(lo, hi))-1, typeMin)
	b := min(math.Ceil(max(lo, hi))+1, typeMax)
	if a > b || b-a+1 > maxValueLUT {
		return nil, 0, 0, false
	}
	base, top = int(a), int(b)
	packed := levels(st)
	lut = table[:top-base+1]
	for k := range lut {
		lut[k] = packed[colormap.Rescale(float64(base+k), lo, hi)]
	}
	return lut, base, top, true
}

// pngCompact encodes the PNG of a tile of Samples without the image
// between (pngBytes for uint8 ones), and of one band of 16-bit Samples
// under a rescale (a DEM's tile): each row's colours are looked
// up and Sub-filtered at once, the bytes PNG writes for the image
// paintCompact draws. It reports false, doing nothing, for other rasters and
// styles, a table with a colour not opaque, or a pixel not fully on the data.
func pngCompact(r *layer.Raster, st Style) ([]byte, bool, error) {
	if r.DType == "uint8" {
		return pngBytes(r, st)
	}
	if len(r.Samples) != 1 || r.Bands != nil || len(st.Rescale) > 1 {
		return nil, false, nil
	}
	switch r.DType {
	case "int16":
		return pngRescaled16[int16](r, st)
	case "uint16":
		return pngRescaled16[uint16](r, st)
	}
	return nil, false, nil
}

func pngRescaled16[T int16 | uint16](r *layer.Raster, st Style) ([]byte, bool, error) {
	w, n := r.Width, r.Width*r.Height
	if m := r.Mask; m != nil && !allOpaque(m[:n]) {
		return nil, false, nil
	}
	var table [maxValueLUT]uint32
	lut, base, top, ok := rescaledTable[T](st, &table)
	if !ok {
		return nil, false, nil
	}
	for _, c := range lut {
		if c>>24 != 255 {
			return nil, false, nil
		}
	}
	vals := typedSamples(r.Samples[0][:2*n], r.DType).([]T)
	b, err := encodeRows(w, r.Height, true, func(y int, row []byte) {
		row = row[:3*w]
		var prev uint32
		for x, v := range vals[y*w : (y+1)*w] {
			c := lut[min(max(int(v), base), top)-base]
			p := row[3*x : 3*x+3 : 3*x+3]
			p[0], p[1], p[2] = byte(c)-byte(prev), byte(c>>8)-byte(prev>>8), byte(c>>16)-byte(prev>>16)
			prev = c
		}
	})
	return b, true, err
}

// allOpaque reports a mask of 255 everywhere, eight bytes a step.
func allOpaque(m []uint8) bool {
	for len(m) >= 8 {
		if binary.LittleEndian.Uint64(m) != 1<<64-1 {
			return false
		}
		m = m[8:]
	}
	for _, v := range m {
		if v != 255 {
			return false
		}
	}
	return true
}
