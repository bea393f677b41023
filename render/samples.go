package render

import (
	"bytes"
	"encoding/binary"
	"image"
	"math"

	"github.com/klauspost/compress/zlib"
	"github.com/udftiles/udftiles/layer"
)

// Rasters held as samples (large arrays a UDF returned in file mode, see
// layer.Raster.Samples) are encoded without widening them whole: npy and
// tif from the samples as they are, png a row at a time through the same
// colouring as tiles. jpg, webp and gif need the whole image in memory, so
// they are limited to MaxPaintPixels.

// MaxPaintPixels bounds a jpg, webp or gif image of a large array (64 MiB of RGBA).
const MaxPaintPixels = 16 << 20

func encodeSamples(r *layer.Raster, format string, st Style) ([]byte, string, error) {
	var (
		b   []byte
		err error
	)
	switch format {
	case "npy":
		b, err = NPY(r)
	case "tif":
		b, err = GeoTIFF(r)
	case "png", "jpg", "webp", "gif":
		var rows *rowPainter
		if rows, err = newRowPainter(r, st); err != nil {
			return nil, "", err
		}
		if format == "png" {
			b, err = rows.png()
			break
		}
		if r.Width*r.Height > MaxPaintPixels {
			return nil, "", layer.Errorf(layer.TooLarge, "a %d×%d array is over %d megapixels for %s: ask for png, tif or npy", r.Width, r.Height, MaxPaintPixels>>20, format)
		}
		img := image.NewNRGBA(image.Rect(0, 0, r.Width, r.Height))
		for y := range r.Height {
			row := img.SubImage(image.Rect(0, y, r.Width, y+1)).(*image.NRGBA)
			if err = rows.paint(y, row); err != nil {
				return nil, "", err
			}
		}
		switch format {
		case "jpg":
			b, err = JPEG(img)
		case "gif":
			b, err = GIF(img)
		default:
			b, err = WebP(img)
		}
	default:
		return nil, "", cannotEncode(format, KindRaster, "an array")
	}
	if err != nil {
		return nil, "", err
	}
	return b, MediaType(format), nil
}

// rowPainter colours one row of a raster at a time, as paint colours a whole
// tile: the rescale ranges are those of the whole raster, worked out first.
type rowPainter struct {
	src *layer.Raster
	st  Style
	row *layer.Raster // one row of src, widened
	at  []func(int) float64
}

func newRowPainter(r *layer.Raster, st Style) (*rowPainter, error) {
	nb := r.BandCount()
	p := &rowPainter{src: r, st: st, row: &layer.Raster{Width: r.Width, Height: 1, DType: r.DType}}
	for b := range nb {
		p.at = append(p.at, r.Sampler(b))
		p.row.Bands = append(p.row.Bands, make([]float64, r.Width))
	}
	if r.Mask != nil {
		p.row.Mask = make([]uint8, r.Width)
	}
	if len(st.Rescale) == 0 && r.DType != "uint8" && nb >= 1 && nb <= 4 {
		// paint stretches a tile's own min–max: here, the whole raster's.
		p.st.Rescale = make([][2]float64, nb)
		for b := range nb {
			p.st.Rescale[b] = p.extent(b)
		}
	}
	return p, nil
}

// extent is band b's min–max over valid pixels, as bandRange finds it.
func (p *rowPainter) extent(b int) [2]float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	at, mask := p.at[b], p.src.Mask
	for i := range p.src.Width * p.src.Height {
		v := at(i)
		if math.IsNaN(v) || (mask != nil && mask[i] == 0) {
			continue
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if lo > hi {
		return [2]float64{0, 255}
	}
	return [2]float64{lo, hi}
}

// paint colours row y into img, an image one row high.
func (p *rowPainter) paint(y int, img *image.NRGBA) error {
	w := p.src.Width
	off := y * w
	for b, at := range p.at {
		vals := p.row.Bands[b]
		for i := range vals {
			vals[i] = at(off + i)
		}
	}
	if p.row.Mask != nil {
		copy(p.row.Mask, p.src.Mask[off:off+w])
	}
	clear(img.Pix[:4*w])
	_, err := paint(p.row, p.st, img)
	return err
}

// png encodes the raster a row at a time: a first pass finds whether every
// pixel is opaque and grey, which picks the smallest colour type (a one-band
// array stays a byte a pixel), a second writes the rows.
func (p *rowPainter) png() ([]byte, error) {
	w, h := p.src.Width, p.src.Height
	img := image.NewNRGBA(image.Rect(0, 0, w, 1))
	opaque, grey := true, true
	for y := range h {
		if err := p.paint(y, img); err != nil {
			return nil, err
		}
		for i := 0; i < 4*w && (opaque || grey); i += 4 {
			px := img.Pix[i : i+4]
			opaque = opaque && px[3] == 255
			grey = grey && px[0] == px[1] && px[1] == px[2]
		}
	}
	colorType, bpp := byte(6), 4 // RGBA
	switch {
	case grey && opaque:
		colorType, bpp = 0, 1
	case grey:
		colorType, bpp = 4, 2
	case opaque:
		colorType, bpp = 2, 3
	}
	var z chunks
	zw, err := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	if err != nil {
		return nil, err
	}
	line := make([]byte, 1+w*bpp)
	for y := range h {
		if err := p.paint(y, img); err != nil {
			return nil, err
		}
		line[0] = 1 // Sub
		switch colorType {
		case 0:
			subGrey(line[1:], img.Pix, false)
		case 4:
			subGrey(line[1:], img.Pix, true)
		case 2:
			subRGB(line[1:], img.Pix)
		default:
			subRGBA(line[1:], img.Pix[:4*w])
		}
		if _, err := zw.Write(line); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	// One IDAT chunk per piece: the file is assembled once, at its size.
	size := 8 + 25 + 12
	for _, c := range z.done {
		size += 12 + len(c)
	}
	out := bytes.NewBuffer(make([]byte, 0, size))
	out.WriteString("\x89PNG\r\n\x1a\n")
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, colorType
	writeChunk(out, "IHDR", ihdr[:])
	for i, c := range z.done {
		writeChunk(out, "IDAT", c)
		z.done[i] = nil
	}
	writeChunk(out, "IEND", nil)
	return out.Bytes(), nil
}

// chunks collects what is written in pieces of up to 1 MiB, none of them
// ever copied to grow.
type chunks struct{ done [][]byte }

func (c *chunks) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(c.done) == 0 || len(c.done[len(c.done)-1]) == cap(c.done[len(c.done)-1]) {
			c.done = append(c.done, make([]byte, 0, 1<<20))
		}
		last := &c.done[len(c.done)-1]
		k := min(len(p), cap(*last)-len(*last))
		*last = append(*last, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

// subGrey writes the grey (and alpha) bytes of RGBA pixels with the Sub filter.
func subGrey(out, src []byte, alpha bool) {
	var pg, pa byte
	for len(src) >= 4 && len(out) >= 1 {
		g := src[0]
		out[0] = g - pg
		pg = g
		if alpha {
			a := src[3]
			out[1] = a - pa
			pa = a
			out = out[2:]
		} else {
			out = out[1:]
		}
		src = src[4:]
	}
}
