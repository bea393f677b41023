package render

import (
	"bytes"
	"image"
	"image/png"
	"math/rand"
	"testing"
)

// TestPNGRoundTrip decodes the encoder's output with image/png: every pixel must
// come back, for opaque (RGB) and translucent (RGBA) images of odd sizes.
func TestPNGRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, c := range []struct {
		name   string
		w, h   int
		opaque bool
	}{{"opaque256", 256, 256, true}, {"alpha256", 256, 256, false}, {"opaque300x17", 300, 17, true}, {"alpha1x1", 1, 1, false}} {
		t.Run(c.name, func(t *testing.T) {
			img := image.NewNRGBA(image.Rect(0, 0, c.w, c.h))
			rng.Read(img.Pix)
			for i := 3; i < len(img.Pix); i += 4 {
				if c.opaque {
					img.Pix[i] = 255
				} else if img.Pix[i] == 0 {
					img.Pix[i] = 1 // NRGBA colour under alpha 0 is not kept by decoders
				}
			}
			b, err := PNG(img)
			if err != nil {
				t.Fatal(err)
			}
			got, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if got.Bounds() != img.Bounds() {
				t.Fatalf("bounds %v, want %v", got.Bounds(), img.Bounds())
			}
			_, isRGB := got.(*image.RGBA)
			if c.opaque && !isRGB {
				t.Errorf("opaque image decoded as %T, want RGB (decoded as *image.RGBA)", got)
			}
			for y := 0; y < c.h; y++ {
				for x := 0; x < c.w; x++ {
					want := img.NRGBAAt(x, y)
					r, g, bl, a := got.At(x, y).RGBA()
					wr, wg, wb, wa := want.RGBA()
					w := [4]uint32{wr, wg, wb, wa}
					if [4]uint32{r, g, bl, a} != w {
						t.Fatalf("pixel %d,%d = %v, want %v", x, y, [4]uint32{r, g, bl, a}, w)
					}
				}
			}
		})
	}
}

// TestSubFilters holds the Sub filter of RGBA and RGB rows to PNG's
// definition, byte by byte, on rows of random pixels of every length from
// one pixel up, so that a borrow between bytes or the last pixel's bytes
// cannot go wrong unseen.
func TestSubFilters(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for w := 1; w <= 40; w++ {
		src := make([]byte, 4*w)
		rng.Read(src)
		for _, bpp := range []int{3, 4} {
			want := make([]byte, bpp*w)
			for x := 0; x < w; x++ {
				for c := 0; c < bpp; c++ {
					v := src[4*x+c]
					if x > 0 {
						v -= src[4*(x-1)+c]
					}
					want[bpp*x+c] = v
				}
			}
			got := make([]byte, bpp*w)
			if bpp == 3 {
				subRGB(got, src)
			} else {
				subRGBA(got, src)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%d px, %d bytes a pixel: %v, want %v", w, bpp, got, want)
			}
		}
	}
}

// TestIsOpaque holds isOpaque to image.NRGBA's Opaque for images of odd and
// even pixel counts with one pixel made translucent anywhere, and for a
// sub-image.
func TestIsOpaque(t *testing.T) {
	for _, size := range []image.Point{{1, 1}, {3, 1}, {5, 3}, {16, 16}} {
		img := image.NewNRGBA(image.Rect(0, 0, size.X, size.Y))
		for i := 3; i < len(img.Pix); i += 4 {
			img.Pix[i] = 0xff
		}
		if !isOpaque(img) {
			t.Fatalf("%v: an opaque image is not", size)
		}
		for i := 3; i < len(img.Pix); i += 4 {
			img.Pix[i] = 0xfe
			if isOpaque(img) != img.Opaque() || isOpaque(img) {
				t.Fatalf("%v: pixel %d translucent, isOpaque %v", size, i/4, isOpaque(img))
			}
			img.Pix[i] = 0xff
		}
		sub := img.SubImage(image.Rect(0, 0, (size.X+1)/2, size.Y)).(*image.NRGBA)
		if isOpaque(sub) != sub.Opaque() {
			t.Fatalf("%v: a sub-image: isOpaque %v, Opaque %v", size, isOpaque(sub), sub.Opaque())
		}
	}
}
