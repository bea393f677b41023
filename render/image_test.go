package render

import (
	"bytes"
	"math"
	"net/url"
	"strings"
	"testing"

	"github.com/udftiles/udftiles/colormap"
	"github.com/udftiles/udftiles/layer"
)

func style(t testing.TB, q string) Style {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ParseStyle(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// raster builds a w×h raster whose bands hold vals (one slice per band).
func raster(dtype string, w, h int, bands ...[]float64) *layer.Raster {
	return &layer.Raster{Width: w, Height: h, DType: dtype, Bands: bands}
}

func pixel(img []uint8, i int) [4]uint8 {
	return [4]uint8{img[4*i], img[4*i+1], img[4*i+2], img[4*i+3]}
}

func TestImagePlasma(t *testing.T) {
	plasma, err := colormap.Lookup("plasma")
	if err != nil {
		t.Fatal(err)
	}
	vals := []float64{-100, 0, 1, 11.76, 750, 1500, 2999, 3000, 3500, 1234.5, math.NaN(), 2000}
	r := raster("int16", 4, 3, vals)
	img, err := Image(r, style(t, "colormap=plasma&rescale=0,3000"))
	if err != nil {
		t.Fatal(err)
	}
	if img.Rect.Dx() != 4 || img.Rect.Dy() != 3 {
		t.Fatalf("image is %v, want 4x3", img.Rect)
	}
	for i, v := range vals {
		got := pixel(img.Pix, i)
		if math.IsNaN(v) {
			if got[3] != 0 {
				t.Errorf("NaN pixel %d: %v, want transparent", i, got)
			}
			continue
		}
		if want := plasma.Index(colormap.Rescale(v, 0, 3000)); got != want {
			t.Errorf("value %g: %v, want plasma %v", v, got, want)
		}
	}
	// The ends of the ramp are the ends of the map.
	if got := pixel(img.Pix, 0); got != plasma.Index(0) {
		t.Errorf("below the range: %v, want the first colour %v", got, plasma.Index(0))
	}
	if got := pixel(img.Pix, 8); got != plasma.Index(255) {
		t.Errorf("above the range: %v, want the last colour %v", got, plasma.Index(255))
	}
}

func TestImageMask(t *testing.T) {
	r := raster("int16", 4, 1, []float64{100, 200, 300, 400})
	r.Mask = []uint8{255, 0, 128, 255}
	img, err := Image(r, style(t, "colormap=viridis&rescale=0,400"))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []uint8{255, 0, 128, 255} {
		if a := img.Pix[4*i+3]; a != want {
			t.Errorf("pixel %d alpha %d, want %d (mask)", i, a, want)
		}
	}
}

func TestImageBands(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name   string
		r      *layer.Raster
		style  string
		want   [][4]uint8
		errHas string
	}{
		{name: "uint8 grey identity", r: raster("uint8", 4, 1, []float64{0, 1, 128, 255}),
			want: [][4]uint8{{0, 0, 0, 255}, {1, 1, 1, 255}, {128, 128, 128, 255}, {255, 255, 255, 255}}},
		{name: "float stretches min-max", r: raster("float32", 4, 1, []float64{10, 15, 20, nan}),
			want: [][4]uint8{{0, 0, 0, 255}, {128, 128, 128, 255}, {255, 255, 255, 255}, {0, 0, 0, 0}}},
		{name: "int16 stretches min-max", r: raster("int16", 3, 1, []float64{-50, 0, 50}),
			want: [][4]uint8{{0, 0, 0, 255}, {128, 128, 128, 255}, {255, 255, 255, 255}}},
		{name: "grey rescale", r: raster("float32", 3, 1, []float64{0, 0.5, 1}), style: "rescale=0,1",
			want: [][4]uint8{{0, 0, 0, 255}, {128, 128, 128, 255}, {255, 255, 255, 255}}},
		{name: "rgb uint8", r: raster("uint8", 2, 1, []float64{10, 20}, []float64{30, 40}, []float64{50, 60}),
			want: [][4]uint8{{10, 30, 50, 255}, {20, 40, 60, 255}}},
		{name: "rgb one rescale", r: raster("uint16", 2, 1, []float64{0, 1000}, []float64{500, 1000}, []float64{1000, 0}),
			style: "rescale=0,1000", want: [][4]uint8{{0, 128, 255, 255}, {255, 255, 0, 255}}},
		{name: "rgb per band rescale", r: raster("uint8", 1, 1, []float64{100}, []float64{100}, []float64{100}),
			style: "rescale=0,100&rescale=0,200&rescale=100,200", want: [][4]uint8{{255, 128, 0, 255}}},
		{name: "rgb NaN", r: raster("float32", 2, 1, []float64{0, 1}, []float64{0, nan}, []float64{0, 1}), style: "rescale=0,1",
			want: [][4]uint8{{0, 0, 0, 255}, {255, 0, 255, 0}}},
		{name: "rgba", r: raster("uint8", 2, 1, []float64{1, 2}, []float64{3, 4}, []float64{5, 6}, []float64{255, 0}),
			want: [][4]uint8{{1, 3, 5, 255}, {2, 4, 6, 0}}},
		{name: "two bands", r: raster("uint8", 1, 1, []float64{1}, []float64{2}), errHas: "2 bands"},
		{name: "five bands", r: raster("uint8", 1, 1, []float64{1}, []float64{2}, []float64{3}, []float64{4}, []float64{5}), errHas: "5 bands"},
		{name: "colormap on rgb", r: raster("uint8", 1, 1, []float64{1}, []float64{2}, []float64{3}), style: "colormap=viridis",
			errHas: "parameter colormap"},
		{name: "rescale count", r: raster("uint8", 1, 1, []float64{1}, []float64{2}, []float64{3}), style: "rescale=0,1&rescale=0,1",
			errHas: "parameter rescale"},
		{name: "custom intervals", r: raster("float32", 5, 1, []float64{-1, 0, 999, 1000, 5000}),
			style: "colormap=" + url.QueryEscape(`[[[0,1000],"#ff0000"],[[1000,null],[0,0,255,128]]]`),
			want:  [][4]uint8{{0, 0, 0, 0}, {255, 0, 0, 255}, {255, 0, 0, 255}, {0, 0, 255, 128}, {0, 0, 255, 128}}},
		{name: "custom discrete", r: raster("uint8", 3, 1, []float64{1, 2, 3}),
			style: "colormap=" + url.QueryEscape(`{"1":"#00ff00","3":"#0000ff80"}`),
			want:  [][4]uint8{{0, 255, 0, 255}, {0, 0, 0, 0}, {0, 0, 255, 128}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Image(tt.r, style(t, tt.style))
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) || layer.KindOf(err) != layer.BadRequest {
					t.Fatalf("Image: %v, want a BadRequest containing %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.want {
				if got := pixel(img.Pix, i); got != want {
					t.Errorf("pixel %d: %v, want %v", i, got, want)
				}
			}
		})
	}
}

// A masked pixel's value does not stretch the range of the others.
func TestImageStretchIgnoresMasked(t *testing.T) {
	r := raster("float64", 3, 1, []float64{0, 10, 1e6})
	r.Mask = []uint8{255, 255, 0}
	img, err := Image(r, Style{})
	if err != nil {
		t.Fatal(err)
	}
	if got := pixel(img.Pix, 1); got != [4]uint8{255, 255, 255, 255} {
		t.Errorf("max valid value: %v, want white (the masked 1e6 must not count)", got)
	}
}

// TestImageBytesAsTheyAre: three uint8 bands without rescale= come out as the
// generic rescaling would draw them; a NaN pixel is transparent and zero.
func TestImageBytesAsTheyAre(t *testing.T) {
	n := 300
	bands := make([][]float64, 3)
	for b := range bands {
		bands[b] = make([]float64, n)
		for i := range bands[b] {
			bands[b][i] = float64((i*7 + b*31) % 256)
		}
	}
	bands[1][5] = math.NaN()
	r := &layer.Raster{Width: n, Height: 1, DType: "uint8", Bands: bands}
	img, err := Image(r, Style{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		for b := 0; b < 3 && i != 5; b++ {
			if want := colormap.Rescale(bands[b][i], 0, 255); img.Pix[i*4+b] != want {
				t.Fatalf("pixel %d band %d: %d, want %d", i, b, img.Pix[i*4+b], want)
			}
		}
		if want := uint8(255); i == 5 {
			if pixel(img.Pix, 5) != [4]uint8{} {
				t.Errorf("a NaN pixel is %v, not transparent zeros", pixel(img.Pix, 5))
			}
		} else if img.Pix[i*4+3] != want {
			t.Errorf("pixel %d alpha %d", i, img.Pix[i*4+3])
		}
	}
}

// TestIntegerTableColours: a band of integers is coloured through a table of
// its values' colours; the image equals the one coloured pixel by pixel (the
// same values typed float64), masked nodata and values past the rescale range
// included.
func TestIntegerTableColours(t *testing.T) {
	r := elevationTile()
	for i := range r.Bands[0] {
		if i%97 == 0 {
			r.Bands[0][i] = float64(4000 + i%7) // beyond rescale's 3000
		}
	}
	for _, q := range []string{"colormap=plasma&rescale=0,3000", "colormap=terrain&rescale=500,1500", "colormap=viridis"} {
		st := style(t, q)
		f := *r
		f.DType = "float64"
		want, err := Image(&f, st)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Image(r, st)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Pix, want.Pix) {
			for i := 0; i < len(got.Pix); i += 4 {
				if !bytes.Equal(got.Pix[i:i+4], want.Pix[i:i+4]) {
					t.Fatalf("%s: pixel %d (value %v) %v, want %v", q, i/4, r.Bands[0][i/4], got.Pix[i:i+4], want.Pix[i:i+4])
				}
			}
		}
	}
}
