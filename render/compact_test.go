package render

import (
	"bytes"
	"fmt"
	"image"
	"math/rand/v2"
	"testing"

	"github.com/udftiles/udftiles/colormap"
	"github.com/udftiles/udftiles/layer"
)

// TestPaintBytesAsPaint: a raster of uint8 Samples paints to the very pixels
// (and PNG bytes) its widened copy does, for every number of bands, style
// and mask, and fails with the same errors.
func TestPaintBytesAsPaint(t *testing.T) {
	viridis, err := colormap.Lookup("viridis")
	if err != nil {
		t.Fatal(err)
	}
	custom, err := colormap.Parse(`[[[0, 100], "#f00"], [[100, 200], [0, 255, 0, 128]]]`)
	if err != nil {
		t.Fatal(err)
	}
	styles := []Style{
		{},
		{Rescale: [][2]float64{{0, 255}}},
		{Rescale: [][2]float64{{20, 180}}},
		{Rescale: [][2]float64{{200, 10}}},
		{Colormap: viridis},
		{Colormap: viridis, Rescale: [][2]float64{{50, 150}}},
		{Colormap: custom},
		{Rescale: [][2]float64{{0, 255}, {10, 90}, {0, 255}}},
		{Rescale: [][2]float64{{0, 255}, {0, 255}, {0, 255}, {0, 100}}},
	}
	rng := rand.New(rand.NewPCG(7, 19))
	const w, h = 64, 48
	n := w * h
	for _, nb := range []int{1, 2, 3, 4, 5} {
		for mi, maskKind := range []string{"none", "full", "mixed"} {
			src := layer.NewSampleRaster(w, h, nb, "uint8")
			for _, s := range src.Samples {
				for i := range s {
					s[i] = uint8(rng.IntN(256))
				}
			}
			switch maskKind {
			case "none":
				src.Mask = nil
			case "full":
				for i := range src.Mask {
					src.Mask[i] = 255
				}
			default:
				for i := range src.Mask {
					src.Mask[i] = []uint8{0, 255, 255, 128, 1, 254}[rng.IntN(6)]
				}
			}
			wide := &layer.Raster{Width: w, Height: h, DType: "uint8", Samples: src.Samples, Mask: src.Mask}
			wide.Widen()
			for si, st := range styles {
				name := fmt.Sprintf("bands %d mask %s style %d", nb, maskKind, si)
				want, werr := paint(wide, st, image.NewNRGBA(image.Rect(0, 0, w, h)))
				got, gerr := paintBytes(src, st, image.NewNRGBA(image.Rect(0, 0, w, h)))
				if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
					t.Fatalf("%s: error %v, paint's %v", name, gerr, werr)
				}
				if werr != nil {
					continue
				}
				if !bytes.Equal(got.Pix[:4*n], want.Pix[:4*n]) {
					for i := 0; i < 4*n; i++ {
						if got.Pix[i] != want.Pix[i] {
							t.Fatalf("%s: pixel %d channel %d is %d, paint draws %d", name, i/4, i%4, got.Pix[i], want.Pix[i])
						}
					}
				}
				if mi != 2 && (nb == 1 || nb == 3) && st.Colormap != custom {
					// Every pixel on the data, opaque colours: the PNG is
					// written from the samples.
					if _, ok, err := pngCompact(src, st); !ok || err != nil {
						t.Fatalf("%s: pngCompact took no part (%v, %v)", name, ok, err)
					}
				}
				samePNG(t, name, src, wide, st) // the encoder's way: the same file
			}
		}
	}
}

// TestPaintIntsAsPaint: one band of int16 or uint16 Samples paints to the
// pixels (and PNG bytes) of its widened copy: the tile's own min–max or a
// rescale, named and custom colormaps, nodata under the mask, values spread
// past the table of values.
func TestPaintIntsAsPaint(t *testing.T) {
	plasma, err := colormap.Lookup("plasma")
	if err != nil {
		t.Fatal(err)
	}
	custom, err := colormap.Parse(`[[[-100, 100], "#f00"], [[100, 2000], [0, 255, 0, 128]]]`)
	if err != nil {
		t.Fatal(err)
	}
	styles := []Style{
		{},
		{Rescale: [][2]float64{{0, 3000}}},
		{Colormap: plasma, Rescale: [][2]float64{{0, 3000}}},
		{Colormap: plasma},
		{Colormap: custom},
		{Rescale: [][2]float64{{0, 3000}, {0, 1}}}, // refused: two ranges for one band
		// Ranges the table of paint16Rescaled spans, and one it does not.
		{Colormap: plasma, Rescale: [][2]float64{{3000, 0}}},
		{Rescale: [][2]float64{{100, 100}}},
		{Colormap: plasma, Rescale: [][2]float64{{10.5, 200.25}}},
		{Rescale: [][2]float64{{-40000, -32000}}},
		{Rescale: [][2]float64{{65000, 70000}}},
		{Rescale: [][2]float64{{0, 20000}}},
	}
	rng := rand.New(rand.NewPCG(3, 5))
	const w, h = 64, 48
	n := w * h
	for _, dtype := range []string{"int16", "uint16"} {
		for _, spread := range []int{600, 20000, 65535} {
			for _, maskKind := range []string{"none", "nodata", "mixed", "empty"} {
				src := &layer.Raster{Width: w, Height: h, DType: dtype, Samples: [][]byte{make([]byte, 2*n)}, Mask: make([]uint8, n)}
				for i := range n {
					v := rng.IntN(spread)
					if dtype == "int16" {
						v -= spread / 3
						v = max(-32768, min(32767, v))
					}
					src.Samples[0][2*i], src.Samples[0][2*i+1] = uint8(v), uint8(v>>8)
					src.Mask[i] = 255
					switch {
					case maskKind == "none":
					case maskKind == "empty":
						src.Mask[i] = 0
					case rng.IntN(5) == 0: // nodata, masked
						src.Samples[0][2*i], src.Samples[0][2*i+1] = 0, 0x80
						src.Mask[i] = 0
					case maskKind == "mixed" && rng.IntN(7) == 0:
						src.Mask[i] = uint8(rng.IntN(255))
					}
				}
				if maskKind == "none" {
					src.Mask = nil
				}
				wide := &layer.Raster{Width: w, Height: h, DType: dtype, Samples: src.Samples, Mask: src.Mask}
				wide.Widen()
				for si, st := range styles {
					name := fmt.Sprintf("%s spread %d mask %s style %d", dtype, spread, maskKind, si)
					want, werr := paint(wide, st, image.NewNRGBA(image.Rect(0, 0, w, h)))
					got, gerr := paintCompact(src, st, image.NewNRGBA(image.Rect(0, 0, w, h)))
					if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
						t.Fatalf("%s: error %v, paint's %v", name, gerr, werr)
					}
					if werr != nil {
						continue
					}
					for i := 0; i < 4*n; i++ {
						if got.Pix[i] != want.Pix[i] {
							t.Fatalf("%s: pixel %d channel %d is %d, paint draws %d", name, i/4, i%4, got.Pix[i], want.Pix[i])
						}
					}
					if (si == 1 || si == 2) && maskKind == "none" {
						// The DEM's way: its PNG written from the samples.
						if _, ok, err := pngCompact(src, st); !ok || err != nil {
							t.Fatalf("%s: pngCompact took no part (%v, %v)", name, ok, err)
						}
					}
					if spread != 65535 {
						samePNG(t, name, src, wide, st)
					}
				}
			}
		}
	}
}

// samePNG: the PNG of the samples is the PNG of their widened copy, byte
// for byte.
func samePNG(t *testing.T, name string, src, wide *layer.Raster, st Style) {
	t.Helper()
	a, _, err := encodeRaster(src, "png", st)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := encodeRaster(wide, "png", st)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("%s: the PNG of the samples differs from that of the bands", name)
	}
}
