package render

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"testing"
)

// TestIsEmpty: a PNG is empty when every pixel is transparent, whatever the
// encoder; opaque colour types are known not to be without decoding them.
func TestIsEmpty(t *testing.T) {
	enc := func(img image.Image) []byte {
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	empty := image.NewNRGBA(image.Rect(0, 0, 256, 256))
	half := image.NewNRGBA(image.Rect(0, 0, 256, 256))
	half.Pix[4*300+3] = 1
	grey := image.NewGray(image.Rect(0, 0, 256, 256))
	pal := image.NewPaletted(image.Rect(0, 0, 256, 256), color.Palette{color.NRGBA{}, color.NRGBA{255, 0, 0, 255}})
	for _, c := range []struct {
		name string
		body []byte
		want bool
	}{
		{"transparent RGBA", enc(empty), true},
		{"one pixel barely visible", enc(half), false},
		{"opaque grey", enc(grey), false},
		{"paletted, transparent entry", enc(pal), true},
		{"MVT without features", nil, true},
	} {
		format := "png"
		if c.body == nil {
			format = "mvt"
		}
		if got := IsEmpty(c.body, format); got != c.want {
			t.Errorf("%s: IsEmpty = %v, want %v", c.name, got, c.want)
		}
	}
}
