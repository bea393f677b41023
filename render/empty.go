package render

import (
	"bytes"
	"image"
	"image/png"
)

// IsEmpty reports a body of the format with nothing to draw: an MVT without
// features, a GeoJSON collection without features, a PNG every pixel of
// which is transparent. Exports leave such tiles out.
func IsEmpty(body []byte, format string) bool {
	switch Normalize(format) {
	case "mvt":
		return len(body) == 0
	case "geojson", "json":
		return bytes.Equal(bytes.TrimSpace(body), []byte(`{"type":"FeatureCollection","features":[]}`))
	case "png":
		if len(body) > 4096 { // an empty tile compresses to a few hundred bytes
			return false
		}
		// Colour types without alpha (grey 0, RGB 2) have no transparent
		// pixel unless a tRNS chunk names one.
		if len(body) > 25 && string(body[12:16]) == "IHDR" && (body[25] == 0 || body[25] == 2) && !bytes.Contains(body, []byte("tRNS")) {
			return false
		}
		img, err := png.Decode(bytes.NewReader(body))
		return err == nil && transparent(img)
	}
	return false
}

func transparent(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
		return false
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if _, _, _, a := img.At(x, y).RGBA(); a != 0 {
				return false
			}
		}
	}
	return true
}
