package render

import (
	"bytes"
	"image"
	"image/jpeg"
	"net/url"
	"strconv"
	"strings"

	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// Options say how a result is encoded besides its format. The zero value
// encodes with the defaults, in file mode.
type Options struct {
	Style Style // rasters to colours
	// Tile is the tile served; nil in file mode. MVT needs one.
	Tile *tiles.Tile
	// Layer names the MVT layer; "" is DefaultLayer. Set per layer in config.
	Layer string
	// Buffer is the margin clipped MVT geometries keep around the tile, in
	// pixels of a 256 px tile; nil is DefaultBuffer.
	Buffer *int
	// Precision is how many decimals GeoJSON coordinates keep; nil is
	// DefaultPrecision.
	Precision *int
}

// DefaultPrecision keeps GeoJSON coordinates to 7 decimals: about 1 cm.
const DefaultPrecision = 7

// VectorParams are the query parameters ParseOptions reads besides StyleParams:
// buffer= (MVT) and precision= (GeoJSON).
var VectorParams = []string{"buffer", "precision"}

// ParseOptions reads the style parameters (see ParseStyle) and buffer= (0 to
// MaxBuffer pixels) and precision= (0 to 15 decimals). Values in q take
// precedence over defaults. Tile and Layer are the caller's to set.
func ParseOptions(q, defaults url.Values) (Options, error) {
	st, err := ParseStyle(q, defaults)
	if err != nil {
		return Options{}, err
	}
	o := Options{Style: st}
	for _, p := range []struct {
		name     string
		max      int
		dst      **int
		describe string
	}{
		{"buffer", MaxBuffer, &o.Buffer, "pixels of a 256 px tile"},
		{"precision", 15, &o.Precision, "decimals"},
	} {
		v := q.Get(p.name)
		if v == "" {
			v = defaults.Get(p.name)
		}
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > p.max {
			return Options{}, layer.Errorf(layer.BadRequest, "parameter %s: want an integer from 0 to %d (%s), got %q", p.name, p.max, p.describe, v)
		}
		*p.dst = &n
	}
	return o, nil
}

func (o Options) layer() string {
	if o.Layer == "" {
		return DefaultLayer
	}
	return o.Layer
}

func (o Options) buffer() int {
	if o.Buffer == nil {
		return DefaultBuffer
	}
	return *o.Buffer
}

func (o Options) precision() int {
	if o.Precision == nil {
		return DefaultPrecision
	}
	return *o.Precision
}

// Canonical renders what changes the bytes, besides the format and the tile,
// as a stable string for cache keys; options at their defaults add nothing.
func (o Options) Canonical() string {
	var b strings.Builder
	b.WriteString(o.Style.Canonical())
	if o.layer() != DefaultLayer {
		b.WriteString("|layer=" + o.layer())
	}
	if o.buffer() != DefaultBuffer {
		b.WriteString("|buffer=" + strconv.Itoa(o.buffer()))
	}
	if o.precision() != DefaultPrecision {
		b.WriteString("|precision=" + strconv.Itoa(o.precision()))
	}
	return b.String()
}

// Encode turns a result into bytes of the given format; "" means the result's
// natural format (see Natural).
func Encode(res layer.Result, format string, o Options) ([]byte, string, error) {
	format = Normalize(format)
	if format == "" {
		format = Natural(res)
	}
	switch v := res.(type) {
	case *layer.Value:
		return encodeValue(v, format)
	case *layer.Raster:
		return encodeRaster(v, format, o.Style)
	case *layer.Features:
		return encodeFeatures(v, format, o)
	case *layer.Table:
		return encodeTable(v, format)
	}
	return nil, "", layer.Errorf(layer.Internal, "cannot encode a %T", res)
}

func encodeRaster(r *layer.Raster, format string, st Style) ([]byte, string, error) {
	compact := paintsCompact(r)
	if r.Bands == nil && r.Samples != nil && !(compact && imageFormat(format)) {
		return encodeSamples(r, format, st)
	}
	var (
		b   []byte
		err error
	)
	switch format {
	case "tif":
		b, err = GeoTIFF(r)
	case "npy":
		b, err = NPY(r)
	case "png", "jpg", "webp", "gif":
		if compact && format == "png" {
			if b, ok, err := pngCompact(r, st); ok {
				if err != nil {
					return nil, "", err
				}
				return b, MediaType(format), nil
			}
		}
		img := pooledImage(r.Width, r.Height)
		defer putImage(img) // the encoders copy what they keep
		if compact {
			img, err = paintCompact(r, st, img)
		} else {
			img, err = paint(r, st, img)
		}
		if err != nil {
			return nil, "", err
		}
		switch format {
		case "png":
			b, err = PNG(img)
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

// imageFormat reports the formats drawn as images.
func imageFormat(format string) bool {
	return format == "png" || format == "jpg" || format == "webp" || format == "gif"
}

// JPEG encodes an image at quality 85; transparent pixels become black.
func JPEG(img *image.NRGBA) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
