package render

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/draw"
	"image/png"
	"math"
	"math/rand"
	"testing"

	"github.com/udftiles/udftiles/layer"
)

// sampled builds a raster held as samples of dtype from values per band, as
// a UDF's array arrives, and the same raster widened.
func sampled(t *testing.T, dtype string, w, h int, mask []uint8, bands ...[]float64) (*layer.Raster, *layer.Raster) {
	t.Helper()
	s := &layer.Raster{Width: w, Height: h, DType: dtype, Mask: mask}
	size := layer.SampleSize[dtype]
	for _, vals := range bands {
		b := make([]byte, len(vals)*size)
		for i, v := range vals {
			p := b[i*size:]
			switch dtype {
			case "uint8":
				p[0] = uint8(v)
			case "uint16":
				binary.LittleEndian.PutUint16(p, uint16(v))
			case "int16":
				binary.LittleEndian.PutUint16(p, uint16(int16(v)))
			case "float32":
				binary.LittleEndian.PutUint32(p, math.Float32bits(float32(v)))
			case "float64":
				binary.LittleEndian.PutUint64(p, math.Float64bits(v))
			default:
				t.Fatalf("dtype %s", dtype)
			}
		}
		s.Samples = append(s.Samples, b)
	}
	wide := *s
	wide.Samples = append([][]byte(nil), s.Samples...)
	wide.Widen()
	if wide.Bands == nil || wide.Samples != nil {
		t.Fatal("Widen left samples")
	}
	return s, &wide
}

func decodeRGBA(t *testing.T, b []byte) *image.NRGBA {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out := image.NewNRGBA(img.Bounds())
	draw.Draw(out, out.Rect, img, image.Point{}, draw.Src)
	return out
}

// TestSamplesEncodeAsWidened: a raster held as samples encodes to the same
// pixels and values as the same raster widened to float64, in every format
// and colouring, without being widened whole.
func TestSamplesEncodeAsWidened(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	const w, h = 37, 23
	n := w * h
	noise := func(lo, hi float64, nan bool) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Round(lo + rng.Float64()*(hi-lo))
			if nan && i%17 == 0 {
				v[i] = math.NaN()
			}
		}
		return v
	}
	mask := make([]uint8, n)
	for i := range mask {
		mask[i] = 255
		if i%13 == 0 {
			mask[i] = 0
		}
	}
	flat := make([]float64, n)
	for i := range flat {
		flat[i] = 7
	}
	cases := []struct {
		name, dtype, style string
		mask               []uint8
		bands              [][]float64
	}{
		{"grey bytes", "uint8", "", nil, [][]float64{noise(0, 255, false)}},
		{"grey bytes masked", "uint8", "", mask, [][]float64{noise(0, 255, false)}},
		{"uint16 stretched", "uint16", "", nil, [][]float64{noise(100, 40000, false)}},
		{"int16 plasma rescaled", "int16", "colormap=plasma&rescale=-100,3000", mask, [][]float64{noise(-500, 4000, false)}},
		{"float32 viridis with NaN", "float32", "colormap=viridis", nil, [][]float64{noise(-1, 1, true)}},
		{"float64 constant", "float64", "", nil, [][]float64{flat}},
		{"rgb bytes", "uint8", "", nil, [][]float64{noise(0, 255, false), noise(0, 255, false), noise(0, 255, false)}},
		{"rgb bytes masked", "uint8", "", mask, [][]float64{noise(0, 255, false), noise(0, 255, false), noise(0, 255, false)}},
		{"rgba uint16 rescaled", "uint16", "rescale=0,1000", nil, [][]float64{noise(0, 1000, false), noise(0, 1000, false), noise(0, 1000, false), noise(0, 1000, false)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, wide := sampled(t, c.dtype, w, h, c.mask, c.bands...)
			st := style(t, c.style)
			got, ct, err := encodeRaster(s, "png", st)
			if err != nil {
				t.Fatal(err)
			}
			if s.Bands != nil {
				t.Fatal("encoding widened the raster")
			}
			want, _, err := encodeRaster(wide, "png", st)
			if err != nil {
				t.Fatal(err)
			}
			if ct != "image/png" {
				t.Errorf("content type %s", ct)
			}
			gi, wi := decodeRGBA(t, got), decodeRGBA(t, want)
			if !bytes.Equal(gi.Pix, wi.Pix) {
				diff := 0
				for i := range gi.Pix {
					if gi.Pix[i] != wi.Pix[i] {
						diff++
					}
				}
				t.Fatalf("%d of %d bytes differ from the widened raster's png", diff, len(gi.Pix))
			}
			for _, f := range []string{"npy", "jpg", "webp"} {
				g, _, err := encodeRaster(s, f, st)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				wb, _, _ := encodeRaster(wide, f, st)
				if !bytes.Equal(g, wb) {
					t.Errorf("%s differs from the widened raster's", f)
				}
			}
			if c.dtype != "uint8" || len(c.bands) == 1 {
				g, _, err := encodeRaster(s, "tif", st)
				if err != nil {
					t.Fatalf("tif: %v", err)
				}
				ds := openBytes(t, g, "samples.tif")
				defer ds.Close()
				for b, band := range ds.Bands() {
					vals := make([]float64, n)
					if err := band.Read(0, 0, vals, w, h); err != nil {
						t.Fatal(err)
					}
					for i, v := range vals {
						if want := wide.Bands[b][i]; v != want && !(math.IsNaN(v) && math.IsNaN(want)) {
							t.Fatalf("tif band %d pixel %d: %g, want %g", b, i, v, want)
						}
					}
				}
			}
		})
	}
}

// TestSamplesPNGColourTypes: a one-band array stays one byte a pixel (grey),
// with alpha only when some pixel is transparent. (Arrays larger than a tile:
// tile-sized Samples, a COG's tiles, are drawn as tiles are, paintCompact.)
func TestSamplesPNGColourTypes(t *testing.T) {
	const side = 520
	vals := make([]float64, side*side)
	for i := range vals {
		vals[i] = float64(i % 251)
	}
	mask := make([]uint8, len(vals))
	for i := range mask {
		mask[i] = 255
	}
	mask[5] = 0
	for _, c := range []struct {
		name  string
		mask  []uint8
		style string
		want  image.Image
	}{
		{"grey", nil, "", &image.Gray{}},
		{"grey and alpha", mask, "", &image.NRGBA{}},
		{"colormap", nil, "colormap=plasma", &image.RGBA{}},
	} {
		s, _ := sampled(t, "uint8", side, side, c.mask, vals)
		b, _, err := encodeRaster(s, "png", style(t, c.style))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		img, _ := png.Decode(bytes.NewReader(b))
		t.Logf("%s: %T, %d bytes", c.name, img, len(b))
		switch c.want.(type) {
		case *image.Gray:
			if _, ok := img.(*image.Gray); !ok {
				t.Errorf("%s: decoded as %T (colour model %T), want grey", c.name, img, cfg.ColorModel)
			}
		case *image.NRGBA:
			if _, ok := img.(*image.NRGBA); !ok {
				if _, ok := img.(*image.NRGBA64); !ok {
					t.Errorf("%s: decoded as %T, want grey with alpha", c.name, img)
				}
			}
		}
	}
}

// TestSamplesLimits: jpg and webp of arrays past MaxPaintPixels are a 413.
func TestSamplesLimits(t *testing.T) {
	s := &layer.Raster{Width: 5000, Height: 4000, DType: "uint8", Samples: [][]byte{make([]byte, 5000*4000)}}
	for _, f := range []string{"jpg", "webp"} {
		_, _, err := encodeRaster(s, f, Style{})
		if layer.KindOf(err) != layer.TooLarge {
			t.Errorf("%s of 20 megapixels: %v, want 413", f, err)
		}
	}
}
