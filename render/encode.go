package render

import (
	"bytes"
	"image"
	"image/jpeg"

	"github.com/udftiles/udftiles/udfhost"
)

// ContentTypes maps each format to its media type.
var ContentTypes = map[string]string{
	"png":     "image/png",
	"geojson": "application/geo+json",
	"json":    "application/json",
	"csv":     "text/csv; charset=utf-8",
	"jpg":     "image/jpeg",
	"webp":    "image/webp",
	"tif":     "image/tiff; application=geotiff",
	"npy":     "application/x-npy",
}

// Aliases are other spellings accepted for a format.
var Aliases = map[string]string{"jpeg": "jpg", "tiff": "tif", "geotiff": "tif"}

// Normalize returns the canonical spelling of a format name.
func Normalize(f string) string {
	if a, ok := Aliases[f]; ok {
		return a
	}
	return f
}

// Encode turns a result into bytes of the given format; "" means the result's
// natural format (see Natural).
func Encode(res udfhost.Result, format string, st Style) ([]byte, string, error) {
	if format == "" {
		format = Natural(res)
	}
	switch v := res.(type) {
	case *udfhost.Value:
		return encodeValue(v, format)
	case *udfhost.Raster:
		return encodeRaster(v, format, st)
	case *udfhost.Features:
		return encodeFeatures(v, format)
	case *udfhost.Table:
		return encodeTable(v, format)
	}
	return nil, "", udfhost.Errorf(udfhost.Internal, "cannot encode a %T", res)
}

func encodeRaster(r *udfhost.Raster, format string, st Style) ([]byte, string, error) {
	var (
		b   []byte
		err error
	)
	switch format {
	case "tif":
		b, err = GeoTIFF(r)
	case "npy":
		b, err = NPY(r)
	case "png", "jpg", "webp":
		var img *image.NRGBA
		if img, err = Image(r, st); err != nil {
			return nil, "", err
		}
		switch format {
		case "png":
			b, err = PNG(img)
		case "jpg":
			b, err = JPEG(img)
		default:
			b, err = WebP(img)
		}
	default:
		return nil, "", udfhost.Errorf(udfhost.BadRequest, "format %q: an array can be png, jpg, webp, tif or npy", format)
	}
	if err != nil {
		return nil, "", err
	}
	return b, ContentTypes[format], nil
}

// JPEG encodes an image at quality 85; transparent pixels become black.
func JPEG(img *image.NRGBA) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
