package render

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"sync"

	"github.com/klauspost/compress/zlib"
)

// PNG encodes an image as 8-bit RGB (when every pixel is opaque) or RGBA.
//
// Tiles are encoded on every cache miss, so this trades a few percent of size for
// speed: each row uses the Sub filter (colormapped rasters are runs of equal or
// slowly changing colours, which Sub turns into zeros) instead of trying all five
// filters per row, and deflate runs at its fastest level. BenchmarkPNG compares it
// with image/png.
func PNG(img *image.NRGBA) ([]byte, error) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	opaque := isOpaque(img)
	return encodeRows(w, h, opaque, func(y int, row []byte) {
		src := img.Pix[y*img.Stride : y*img.Stride+w*4]
		if opaque {
			subRGB(row, src)
		} else {
			subRGBA(row, src)
		}
	})
}

// encodeRows writes a w×h PNG of RGB pixels (opaque) or RGBA whose rows
// fill gives, Sub-filtered (the filter-type byte is written here).
func encodeRows(w, h int, opaque bool, fill func(y int, row []byte)) ([]byte, error) {
	bpp := 4
	colorType := byte(6) // RGBA
	if opaque {
		bpp, colorType = 3, 2 // RGB
	}
	st := pngStates.Get().(*pngState)
	defer pngStates.Put(st)
	stride := 1 + w*bpp
	if cap(st.raw) < stride*h {
		st.raw = make([]byte, stride*h)
	}
	raw := st.raw[:stride*h]
	for y := 0; y < h; y++ {
		row := raw[y*stride : (y+1)*stride]
		row[0] = 1 // Sub: each byte minus the same byte of the pixel to its left
		fill(y, row[1:])
	}
	st.z.Reset()
	if st.zw == nil {
		zw, err := zlib.NewWriterLevel(&st.z, zlib.BestSpeed)
		if err != nil {
			return nil, err
		}
		st.zw = zw
	} else {
		st.zw.Reset(&st.z)
	}
	if _, err := st.zw.Write(raw); err != nil {
		return nil, err
	}
	if err := st.zw.Close(); err != nil {
		return nil, err
	}
	out := bytes.NewBuffer(make([]byte, 0, st.z.Len()+64))
	out.WriteString("\x89PNG\r\n\x1a\n")
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, colorType // bit depth, colour type; compression, filter, interlace = 0
	writeChunk(out, "IHDR", ihdr[:])
	writeChunk(out, "IDAT", st.z.Bytes())
	writeChunk(out, "IEND", nil)
	return out.Bytes(), nil
}

// isOpaque is img.Opaque, eight bytes a step over an image whose rows follow
// each other without a gap.
func isOpaque(img *image.NRGBA) bool {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if img.Stride != 4*w || len(img.Pix) < 4*w*h {
		return img.Opaque()
	}
	const alphas = 0xff000000ff000000 // the alpha bytes of two pixels, little-endian
	pix := img.Pix[:4*w*h]
	for len(pix) >= 8 {
		if binary.LittleEndian.Uint64(pix)&alphas != alphas {
			return false
		}
		pix = pix[8:]
	}
	return len(pix) == 0 || pix[3] == 0xff
}

type pngState struct {
	raw []byte
	z   bytes.Buffer
	zw  *zlib.Writer
}

var pngStates = sync.Pool{New: func() any { return &pngState{} }}

func writeChunk(b *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	b.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	b.WriteString(typ)
	b.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	b.Write(n[:])
}

func subRGBA(out, src []byte) {
	out = out[:len(src)]
	copy(out[:4], src[:4])
	for i := 4; i < len(src); i++ {
		out[i] = src[i] - src[i-4]
	}
}

func subRGB(out, src []byte) {
	var pr, pg, pb byte
	for len(src) >= 4 && len(out) >= 3 {
		r, g, b := src[0], src[1], src[2]
		out[0], out[1], out[2] = r-pr, g-pg, b-pb
		pr, pg, pb = r, g, b
		src, out = src[4:], out[3:]
	}
}
