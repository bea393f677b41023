package render

import (
	"encoding/binary"
	"image"
	"math"
	"sync"

	"github.com/udftiles/udftiles/colormap"
	"github.com/udftiles/udftiles/layer"
)

// Image colours a raster: one band through the colormap (grey without one), three
// bands as RGB, four as RGBA; the mask and NaNs become transparent.
func Image(r *layer.Raster, st Style) (*image.NRGBA, error) {
	return paint(r, st, image.NewNRGBA(image.Rect(0, 0, r.Width, r.Height)))
}

// paint colours r into img, whose pixels are all zero and of r's size.
func paint(r *layer.Raster, st Style, img *image.NRGBA) (*image.NRGBA, error) {
	nb := len(r.Bands)
	if nb != 1 && nb != 3 && nb != 4 {
		return nil, layer.Errorf(layer.BadRequest, "cannot draw %d bands as an image: choose 1, 3 or 4 bands with bidx", nb)
	}
	if st.Colormap != nil && nb != 1 {
		return nil, layer.Errorf(layer.BadRequest, "parameter colormap: applies to one band, this tile has %d (choose one with bidx)", nb)
	}
	if len(st.Rescale) > 1 && len(st.Rescale) != nb {
		return nil, layer.Errorf(layer.BadRequest, "parameter rescale: give one min,max for all bands or one per band (%d), got %d", nb, len(st.Rescale))
	}
	n := r.Width * r.Height
	pix := img.Pix
	ranges := make([][2]float64, nb)
	for b := range ranges {
		ranges[b] = bandRange(r, b, st)
	}
	if nb == 1 && st.Colormap != nil && !st.Colormap.Scaled() {
		colourCustom(pix, r, st.Colormap)
	} else if nb == 1 {
		lo, hi := ranges[0][0], ranges[0][1]
		packed := levels(st)
		vals := r.Bands[0][:n]
		words := pix[:4*n]
		if !colourIntegers(words, vals, r, packed, lo, hi) {
			for i, v := range vals {
				if v != v { // NaN stays transparent
					continue
				}
				binary.LittleEndian.PutUint32(words[4*i:], packed[colormap.Rescale(v, lo, hi)])
			}
		}
	} else if integer[r.DType] && identity(ranges) {
		bytesRGB(pix, r)
		return img, nil
	} else {
		for b := 0; b < nb; b++ {
			lo, hi := ranges[b][0], ranges[b][1]
			if lo == 0 && hi == 255 && r.DType == "uint8" {
				// Bytes as they are (Rescale's identity, without its rounding).
				for i, v := range r.Bands[b][:n] {
					switch {
					case v >= 255:
						pix[i*4+b] = 255
					case v > 0:
						pix[i*4+b] = uint8(v)
					}
				}
				continue
			}
			for i, v := range r.Bands[b][:n] {
				pix[i*4+b] = colormap.Rescale(v, lo, hi)
			}
		}
		if nb == 3 {
			for i := 0; i < n; i++ {
				if anyNaN(r, i) {
					continue
				}
				pix[i*4+3] = 255
			}
		}
	}
	if r.Mask != nil {
		for i, m := range r.Mask[:n] {
			if m < 255 {
				pix[i*4+3] = uint8(uint16(pix[i*4+3]) * uint16(m) / 255)
			}
		}
	}
	return img, nil
}

// levels are the colours of one band's 256 levels (after its rescale) as
// little-endian RGBA words, one store a pixel: the style's scaled colormap,
// else grey.
func levels(st Style) *[256]uint32 {
	var packed [256]uint32
	for i := range packed {
		c := colormap.RGBA{uint8(i), uint8(i), uint8(i), 255}
		if st.Colormap != nil {
			c = st.Colormap.Index(uint8(i))
		}
		packed[i] = binary.LittleEndian.Uint32(c[:])
	}
	return &packed
}

// maxValueLUT bounds the values a tile of integers is coloured through a
// table of: one Rescale per value instead of one per pixel.
const maxValueLUT = 8192

// colourIntegers colours a band of integer samples (no NaN) through a table
// of the colours of each value between the smallest and the largest of the
// pixels with data, the very colours Rescale and packed give; values beyond
// it (nodata, under the mask) are coloured one by one. It reports false,
// doing nothing, for other types or spans over maxValueLUT.
func colourIntegers(words []uint8, vals []float64, r *layer.Raster, packed *[256]uint32, lo, hi float64) bool {
	if !integer[r.DType] || len(vals) < 2*maxValueLUT/16 {
		return false
	}
	mn, mx := math.Inf(1), math.Inf(-1)
	if m := r.Mask; m != nil {
		m = m[:len(vals)]
		for i, v := range vals {
			if m[i] != 0 {
				if v < mn {
					mn = v
				}
				if v > mx {
					mx = v
				}
			}
		}
	} else {
		for _, v := range vals {
			if v < mn {
				mn = v
			}
			if v > mx {
				mx = v
			}
		}
	}
	if mn > mx || mx-mn >= maxValueLUT {
		return false
	}
	base := int(mn)
	var table [maxValueLUT]uint32
	lut := table[:int(mx)-base+1]
	for k := range lut {
		lut[k] = packed[colormap.Rescale(float64(base+k), lo, hi)]
	}
	// Values beyond the table are few (nodata, mostly one value): the last
	// one's colour is kept.
	other, otherC := math.NaN(), uint32(0)
	words = words[:4*len(vals)]
	for i, v := range vals {
		var c uint32
		if k := int(v) - base; uint(k) < uint(len(lut)) {
			c = lut[k]
		} else {
			if v != other {
				other, otherC = v, packed[colormap.Rescale(v, lo, hi)]
			}
			c = otherC
		}
		binary.LittleEndian.PutUint32(words[4*i:], c)
	}
	return true
}

// imagePools recycle the images of encodeRaster, by size.
var imagePools sync.Map // image.Point → *sync.Pool

// pooledImage returns a zeroed w×h image; putImage gives it back.
func pooledImage(w, h int) *image.NRGBA {
	size := image.Pt(w, h)
	p, ok := imagePools.Load(size)
	if !ok {
		p, _ = imagePools.LoadOrStore(size, &sync.Pool{New: func() any { return image.NewNRGBA(image.Rect(0, 0, w, h)) }})
	}
	img := p.(*sync.Pool).Get().(*image.NRGBA)
	clear(img.Pix)
	return img
}

func putImage(img *image.NRGBA) {
	if p, ok := imagePools.Load(img.Rect.Size()); ok {
		p.(*sync.Pool).Put(img)
	}
}

// integer are the sample types without NaN.
var integer = map[string]bool{"uint8": true, "uint16": true, "int16": true, "uint32": true, "int32": true}

// identity reports rescale ranges that keep 0..255 as it is.
func identity(ranges [][2]float64) bool {
	for _, r := range ranges {
		if r != [2]float64{0, 255} {
			return false
		}
	}
	return true
}

// clampByte is v in 0..255, truncated, as the general path's identity rescale.
func clampByte(v float64) uint8 {
	switch {
	case v >= 255:
		return 255
	case v > 0:
		return uint8(v)
	}
	return 0
}

// bytesRGB draws three or four integer bands shown as they are (the common
// RGB image) in one pass, the mask folded into alpha.
func bytesRGB(pix []uint8, r *layer.Raster) {
	n := r.Width * r.Height
	red, green, blue := r.Bands[0][:n], r.Bands[1][:n], r.Bands[2][:n]
	var alpha []float64
	if len(r.Bands) == 4 {
		alpha = r.Bands[3][:n]
	}
	mask := r.Mask
	if mask != nil {
		mask = mask[:n]
	}
	pix = pix[:4*n]
	bytes := r.DType == "uint8" // 0..255 already: converted without a test
	for i := range n {
		a := uint8(255)
		if alpha != nil {
			a = clampByte(alpha[i])
		}
		if mask != nil {
			if m := mask[i]; m == 0 {
				continue // transparent: the pixel stays zero
			} else if m < 255 {
				a = uint8(uint16(a) * uint16(m) / 255)
			}
		}
		rv, gv, bv := red[i], green[i], blue[i]
		if rv != rv || gv != gv || bv != bv {
			continue // NaN (a masked value some producers write): transparent
		}
		p := pix[4*i : 4*i+4 : 4*i+4]
		if bytes {
			p[0], p[1], p[2], p[3] = uint8(int32(rv)), uint8(int32(gv)), uint8(int32(bv)), a
		} else {
			p[0], p[1], p[2], p[3] = clampByte(rv), clampByte(gv), clampByte(bv), a
		}
	}
}

func anyNaN(r *layer.Raster, i int) bool {
	for _, b := range r.Bands {
		if math.IsNaN(b[i]) {
			return true
		}
	}
	return false
}

func colourCustom(pix []uint8, r *layer.Raster, m *colormap.Map) {
	for i, v := range r.Bands[0][:r.Width*r.Height] {
		if c, ok := m.Value(v); ok {
			copy(pix[i*4:i*4+4], c[:])
		}
	}
}

// bandRange is the rescale range of band b: the style's, else the identity for
// uint8, else the min–max of the tile's valid values.
func bandRange(r *layer.Raster, b int, st Style) [2]float64 {
	switch {
	case len(st.Rescale) == 1:
		return st.Rescale[0]
	case len(st.Rescale) > b:
		return st.Rescale[b]
	case r.DType == "uint8":
		return [2]float64{0, 255}
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, v := range r.Bands[b] {
		if math.IsNaN(v) || (r.Mask != nil && r.Mask[i] == 0) {
			continue
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if lo > hi {
		return [2]float64{0, 255}
	}
	return [2]float64{lo, hi}
}
