package render

import (
	"encoding/binary"
	"image"
	"math"

	"github.com/udftiles/udftiles/colormap"
	"github.com/udftiles/udftiles/udfhost"
)

// Image colours a raster: one band through the colormap (grey without one), three
// bands as RGB, four as RGBA; the mask and NaNs become transparent.
func Image(r *udfhost.Raster, st Style) (*image.NRGBA, error) {
	nb := len(r.Bands)
	if nb != 1 && nb != 3 && nb != 4 {
		return nil, udfhost.Errorf(udfhost.BadRequest, "cannot draw %d bands as an image: choose 1, 3 or 4 bands with bidx", nb)
	}
	if st.Colormap != nil && nb != 1 {
		return nil, udfhost.Errorf(udfhost.BadRequest, "parameter colormap: applies to one band, this tile has %d (choose one with bidx)", nb)
	}
	if len(st.Rescale) > 1 && len(st.Rescale) != nb {
		return nil, udfhost.Errorf(udfhost.BadRequest, "parameter rescale: give one min,max for all bands or one per band (%d), got %d", nb, len(st.Rescale))
	}
	n := r.Width * r.Height
	img := image.NewNRGBA(image.Rect(0, 0, r.Width, r.Height))
	pix := img.Pix
	ranges := make([][2]float64, nb)
	for b := range ranges {
		ranges[b] = bandRange(r, b, st)
	}
	if nb == 1 && st.Colormap != nil && !st.Colormap.Scaled() {
		colourCustom(pix, r, st.Colormap)
	} else if nb == 1 {
		var lut [256]colormap.RGBA
		for i := range lut {
			if st.Colormap != nil {
				lut[i] = st.Colormap.Index(uint8(i))
			} else {
				lut[i] = colormap.RGBA{uint8(i), uint8(i), uint8(i), 255}
			}
		}
		lo, hi := ranges[0][0], ranges[0][1]
		var packed [256]uint32 // the LUT as little-endian RGBA words: one store per pixel
		for i, c := range lut {
			packed[i] = binary.LittleEndian.Uint32(c[:])
		}
		vals := r.Bands[0][:n]
		words := pix[:4*n]
		for i, v := range vals {
			if v != v { // NaN stays transparent
				continue
			}
			binary.LittleEndian.PutUint32(words[4*i:], packed[colormap.Rescale(v, lo, hi)])
		}
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

func anyNaN(r *udfhost.Raster, i int) bool {
	for _, b := range r.Bands {
		if math.IsNaN(b[i]) {
			return true
		}
	}
	return false
}

func colourCustom(pix []uint8, r *udfhost.Raster, m *colormap.Map) {
	for i, v := range r.Bands[0][:r.Width*r.Height] {
		if c, ok := m.Value(v); ok {
			copy(pix[i*4:i*4+4], c[:])
		}
	}
}

// bandRange is the rescale range of band b: the style's, else the identity for
// uint8, else the min–max of the tile's valid values.
func bandRange(r *udfhost.Raster, b int, st Style) [2]float64 {
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
