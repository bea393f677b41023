package render

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"math"
	"sort"

	"github.com/udftiles/udftiles/layer"
)

// GIF encodes an image as a GIF of at most 256 colours. An image of 256
// colours or fewer (one band through a colormap or grey, a classified map)
// keeps them exactly; one of more is reduced to 256 by a median cut of its
// colours, without dithering, which would speckle flat areas of a map. GIF
// has no partial transparency: pixels less than half opaque are transparent,
// the others opaque in their own colour.
func GIF(img *image.NRGBA) ([]byte, error) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if w > 0xffff || h > 0xffff {
		return nil, layer.Errorf(layer.TooLarge, "a %d×%d image is over the 65535 pixels a side GIF holds: ask for png or tif", w, h)
	}
	pm := exactPalette(img)
	if pm == nil {
		pm = medianCut(img)
	}
	var buf bytes.Buffer
	if err := gif.Encode(&buf, pm, &gif.Options{NumColors: 256}); err != nil {
		return nil, layer.Errorf(layer.Internal, "gif: %v", err)
	}
	return buf.Bytes(), nil
}

// pixRow is row y of img, 4 bytes a pixel.
func pixRow(img *image.NRGBA, y int) []uint8 {
	i := img.PixOffset(img.Rect.Min.X, img.Rect.Min.Y+y)
	return img.Pix[i : i+4*img.Rect.Dx()]
}

// transparentColour is the palette entry of transparent pixels; the GIF
// encoder marks the entry of alpha 0 as the transparent one.
var transparentColour = color.NRGBA{}

// opaque reports whether a pixel of alpha a is drawn (GIF's one bit of alpha).
func opaque(a uint8) bool { return a >= 128 }

// exactPalette draws img with a palette of its own colours, in the order
// first seen, the transparent entry last; nil when they are more than 256.
func exactPalette(img *image.NRGBA) *image.Paletted {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	pm := image.NewPaletted(image.Rect(0, 0, w, h), nil)
	index := make(map[uint32]uint8, 256)
	var colours []color.Color
	var holes []int // pixels to point at the transparent entry once it has an index
	lastKey, lastIdx := uint32(1<<31), uint8(0)
	for y := range h {
		row := pixRow(img, y)
		for x := range w {
			p := row[4*x : 4*x+4 : 4*x+4]
			if !opaque(p[3]) {
				holes = append(holes, y*pm.Stride+x)
				continue
			}
			key := uint32(p[0])<<16 | uint32(p[1])<<8 | uint32(p[2])
			if key != lastKey {
				i, ok := index[key]
				if !ok {
					if len(colours) == 256 {
						return nil
					}
					i = uint8(len(colours))
					index[key] = i
					colours = append(colours, color.NRGBA{p[0], p[1], p[2], 255})
				}
				lastKey, lastIdx = key, i
			}
			pm.Pix[y*pm.Stride+x] = lastIdx
		}
	}
	if len(holes) > 0 {
		if len(colours) == 256 {
			return nil // no room for the transparent entry
		}
		t := uint8(len(colours))
		colours = append(colours, transparentColour)
		for _, i := range holes {
			pm.Pix[i] = t
		}
	}
	if len(colours) == 0 { // an empty image still has a palette
		colours = append(colours, transparentColour)
	}
	pm.Palette = colours
	return pm
}

// The median cut works on colours of 5 bits a channel (32768 cells), each
// cell holding the count and the sums of the exact colours that fall in it,
// so that the palette is the mean of the colours it stands for.
const cellBits = 5

func cellOf(r, g, b uint8) int {
	return int(r>>(8-cellBits))<<(2*cellBits) | int(g>>(8-cellBits))<<cellBits | int(b>>(8-cellBits))
}

// medianCut draws img with at most 256 colours (255 and the transparent entry
// when some pixels are transparent), a median cut in the manner of Heckbert's
// with variance for its measure: the cells in use are split in boxes, the box
// whose colours stray most from their mean (squared error) first, along its
// channel of most variance, where the two halves' squared error is least;
// each box is coloured by its pixels' mean.
func medianCut(img *image.NRGBA) *image.Paletted {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	const cells = 1 << (3 * cellBits)
	count := make([]int, cells)
	sums := make([][3]int, cells)
	transparent := false
	for y := range h {
		row := pixRow(img, y)
		for x := 0; x < 4*w; x += 4 {
			if !opaque(row[x+3]) {
				transparent = true
				continue
			}
			c := cellOf(row[x], row[x+1], row[x+2])
			count[c]++
			sums[c][0] += int(row[x])
			sums[c][1] += int(row[x+1])
			sums[c][2] += int(row[x+2])
		}
	}
	var used []int
	for c, n := range count {
		if n > 0 {
			used = append(used, c)
		}
	}
	want := 256
	if transparent {
		want = 255
	}
	type box struct {
		cells  []int
		pixels int
		axis   int     // the channel of most variance
		sse    float64 // squared error of the box's colours from their mean
	}
	mean := func(c, ch int) float64 { return float64(sums[c][ch]) / float64(count[c]) }
	measure := func(cs []int) box {
		b := box{cells: cs}
		var s, s2 [3]float64
		for _, c := range cs {
			n := float64(count[c])
			b.pixels += count[c]
			for ch := range 3 {
				v := mean(c, ch)
				s[ch] += n * v
				s2[ch] += n * v * v
			}
		}
		best := -1.0
		for ch := range 3 {
			e := s2[ch] - s[ch]*s[ch]/float64(max(b.pixels, 1))
			b.sse += e
			if e > best {
				b.axis, best = ch, e
			}
		}
		return b
	}
	boxes := []box{measure(used)}
	for len(boxes) < want {
		best, score := -1, 0.0
		for i, b := range boxes {
			if len(b.cells) > 1 && b.sse > score {
				best, score = i, b.sse
			}
		}
		if best < 0 {
			break // every box is one colour
		}
		b := boxes[best]
		sort.Slice(b.cells, func(i, j int) bool {
			ci, cj := mean(b.cells[i], b.axis), mean(b.cells[j], b.axis)
			return ci < cj || ci == cj && b.cells[i] < b.cells[j]
		})
		// The cut: between two cells that differ along the axis, where the
		// squared error of the two sides is least.
		cut, least := 0, math.Inf(1)
		var ls, ls2 [3]float64 // sums over the cells left of the cut
		var ts, ts2 [3]float64 // over all
		for _, c := range b.cells {
			n := float64(count[c])
			for ch := range 3 {
				v := mean(c, ch)
				ts[ch] += n * v
				ts2[ch] += n * v * v
			}
		}
		ln := 0.0
		for i := 0; i < len(b.cells)-1; i++ {
			c := b.cells[i]
			n := float64(count[c])
			ln += n
			for ch := range 3 {
				v := mean(c, ch)
				ls[ch] += n * v
				ls2[ch] += n * v * v
			}
			if mean(c, b.axis) == mean(b.cells[i+1], b.axis) {
				continue
			}
			rn := float64(b.pixels) - ln
			e := 0.0
			for ch := range 3 {
				e += ls2[ch] - ls[ch]*ls[ch]/ln
				rs, rs2 := ts[ch]-ls[ch], ts2[ch]-ls2[ch]
				e += rs2 - rs*rs/rn
			}
			if e < least {
				cut, least = i+1, e
			}
		}
		if cut == 0 { // no two cells differ along the axis after all
			boxes[best].sse = 0
			continue
		}
		boxes[best] = measure(b.cells[:cut])
		boxes = append(boxes, measure(b.cells[cut:]))
	}
	palette := make(color.Palette, 0, len(boxes)+1)
	entry := make([]uint8, cells)
	for i, b := range boxes {
		var s [3]int
		for _, c := range b.cells {
			entry[c] = uint8(i)
			for ch := range 3 {
				s[ch] += sums[c][ch]
			}
		}
		n := max(b.pixels, 1)
		palette = append(palette, color.NRGBA{uint8((s[0] + n/2) / n), uint8((s[1] + n/2) / n), uint8((s[2] + n/2) / n), 255})
	}
	t := uint8(len(palette))
	if transparent || len(palette) == 0 {
		palette = append(palette, transparentColour)
	}
	pm := image.NewPaletted(image.Rect(0, 0, w, h), palette)
	for y := range h {
		row := pixRow(img, y)
		out := pm.Pix[y*pm.Stride : y*pm.Stride+w]
		for x := range w {
			p := row[4*x : 4*x+4 : 4*x+4]
			if !opaque(p[3]) {
				out[x] = t
				continue
			}
			out[x] = entry[cellOf(p[0], p[1], p[2])]
		}
	}
	return pm
}
