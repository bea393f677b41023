package render

import (
	"bytes"
	"image"
	"image/png"
	"net/url"
	"testing"

	"github.com/udftiles/udftiles/layer"
)

func plasmaTile(b *testing.B) (*image.NRGBA, Style) {
	b.Helper()
	st := style(b, "colormap=plasma&rescale=0,3000")
	img, err := Image(elevationTile(), st)
	if err != nil {
		b.Fatal(err)
	}
	return img, st
}

// BenchmarkPNG compares the tile encoder with image/png at each compression level
// for a 256×256 plasma tile of the demo DEM.
func BenchmarkPNG(b *testing.B) {
	img, _ := plasmaTile(b)
	b.Run("udftiles", func(b *testing.B) {
		var out []byte
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if out, err = PNG(img); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(out)), "bytes")
	})
	levels := []struct {
		name  string
		level png.CompressionLevel
	}{
		{"NoCompression", png.NoCompression},
		{"BestSpeed", png.BestSpeed},
		{"DefaultCompression", png.DefaultCompression},
		{"BestCompression", png.BestCompression},
	}
	for _, l := range levels {
		b.Run("image-png-"+l.name, func(b *testing.B) {
			enc := &png.Encoder{CompressionLevel: l.level}
			var buf bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if err := enc.Encode(&buf, img); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "bytes")
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	img, _ := plasmaTile(b)
	r := elevationTile()
	encoders := []struct {
		name string
		enc  func() ([]byte, error)
	}{
		{"png", func() ([]byte, error) { return PNG(img) }},
		{"jpg", func() ([]byte, error) { return JPEG(img) }},
		{"webp", func() ([]byte, error) { return WebP(img) }},
		{"npy", func() ([]byte, error) { return NPY(r) }},
		{"tif", func() ([]byte, error) { return GeoTIFF(r) }},
	}
	for _, e := range encoders {
		b.Run(e.name, func(b *testing.B) {
			var out []byte
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if out, err = e.enc(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(out)), "bytes")
		})
	}
}

// BenchmarkImageRGB colours a three-band byte tile with a mask, as an RGB
// COG's tile arrives.
func BenchmarkImageRGB(b *testing.B) {
	n := 256
	r := &layer.Raster{Width: n, Height: n, DType: "uint8", Mask: make([]uint8, n*n)}
	for k := 0; k < 3; k++ {
		band := make([]float64, n*n)
		for i := range band {
			band[i] = float64((i*(k+3) + i/n) % 256)
		}
		r.Bands = append(r.Bands, band)
	}
	for i := range r.Mask {
		if i%n > 10 {
			r.Mask[i] = 255
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Image(r, Style{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImage is the colour step alone: rescale and colormap lookup.
func BenchmarkImage(b *testing.B) {
	r := elevationTile()
	styles := []struct{ name, query string }{
		{"plasma", "colormap=plasma&rescale=0,3000"},
		{"grey-stretch", ""},
		{"custom-intervals", "colormap=" + url.QueryEscape(`[[[0,1000],"#0000ff"],[[1000,2000],"#00ff00"],[[2000,null],"#ff0000"]]`)},
	}
	for _, s := range styles {
		st := style(b, s.query)
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Image(r, st); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
