package render

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// numpyPython is Debian's interpreter: the python3 first on PATH has no numpy.
const numpyPython = "/usr/bin/python3"

var (
	elevOnce sync.Once
	elevGrid demo.Grid
)

// elevationTile is a 256×256 window of the demo DEM that takes in part of its
// nodata lake: real values, a real mask.
func elevationTile() *layer.Raster {
	elevOnce.Do(func() { elevGrid = demo.Elevation() })
	const n, x0, y0 = 256, 1200, 500
	src := elevGrid.Bands[0]
	r := &layer.Raster{Width: n, Height: n, DType: "int16", Bands: [][]float64{make([]float64, n*n)},
		Mask: make([]uint8, n*n), NoData: demo.ElevationNoData, HasNoData: true,
		Bounds: tiles.Tile{Z: 12, X: 2200, Y: 1430}.Mercator(), EPSG: 3857}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			v := src[(y0+y)*elevGrid.Width+x0+x]
			r.Bands[0][y*n+x] = v
			if v != demo.ElevationNoData {
				r.Mask[y*n+x] = 255
			}
		}
	}
	return r
}

func TestElevationTileHasDataAndNoData(t *testing.T) {
	r := elevationTile()
	valid := 0
	for _, m := range r.Mask {
		if m == 255 {
			valid++
		}
	}
	if valid == 0 || valid == len(r.Mask) {
		t.Fatalf("the test tile has %d of %d valid pixels; want both data and nodata", valid, len(r.Mask))
	}
}

func TestEncodeFormats(t *testing.T) {
	r := elevationTile()
	st := style(t, "colormap=plasma&rescale=0,3000")
	tests := []struct {
		format, contentType string
		magic               func([]byte) bool
	}{
		{"png", "image/png", func(b []byte) bool { return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) }},
		{"jpg", "image/jpeg", func(b []byte) bool { return bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}) }},
		{"webp", "image/webp", func(b []byte) bool { return string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP" }},
		{"tif", "image/tiff; application=geotiff", func(b []byte) bool {
			return bytes.HasPrefix(b, []byte("II*\x00")) || bytes.HasPrefix(b, []byte("MM\x00*"))
		}},
		{"npy", "application/x-npy", func(b []byte) bool { return bytes.HasPrefix(b, []byte("\x93NUMPY")) }},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			b, ct, err := Encode(r, tt.format, Options{Style: st})
			if err != nil {
				t.Fatal(err)
			}
			if ct != tt.contentType || MediaType(tt.format) != tt.contentType {
				t.Errorf("content type %q, want %q", ct, tt.contentType)
			}
			if len(b) < 12 || !tt.magic(b) {
				t.Errorf("%d bytes do not start with the %s signature: % x", len(b), tt.format, b[:min(len(b), 16)])
			}
		})
	}
	if _, _, err := Encode(r, "bmp", Options{Style: st}); layer.KindOf(err) != layer.BadRequest || !strings.Contains(err.Error(), "bmp") {
		t.Errorf("Encode bmp: %v, want a BadRequest naming the format", err)
	}
	if _, _, err := Encode(raster("uint8", 1, 1, []float64{1}, []float64{2}), "png", Options{}); layer.KindOf(err) != layer.BadRequest {
		t.Errorf("Encode of 2 bands as png: %v, want BadRequest", err)
	}
	v := &layer.Value{ContentType: "text/html", Body: []byte("<p>hi</p>")}
	if b, ct, err := Encode(v, "png", Options{}); err != nil || ct != "text/html" || string(b) != "<p>hi</p>" {
		t.Errorf("Encode of a value: %q %q %v, want it as is", b, ct, err)
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"jpeg": "jpg", "tiff": "tif", "geotiff": "tif", "png": "png", "jpg": "jpg", "gif": "gif"} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPNG(t *testing.T) {
	r := elevationTile()
	img, err := Image(r, style(t, "colormap=plasma&rescale=0,3000"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := PNG(img)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if b[25] != 6 {
		t.Errorf("PNG colour type %d, want 6 (RGBA) for a tile with transparency", b[25])
	}
	for i, m := range r.Mask {
		_, _, _, a := dec.At(i%256, i/256).RGBA()
		c := img.Pix[4*i : 4*i+4]
		gr, gg, gb, _ := dec.At(i%256, i/256).RGBA()
		if (m == 0) != (a == 0) {
			t.Fatalf("pixel %d: mask %d but alpha %d", i, m, a>>8)
		}
		if m != 0 && (uint8(gr>>8) != c[0] || uint8(gg>>8) != c[1] || uint8(gb>>8) != c[2]) {
			t.Fatalf("pixel %d decodes as %d,%d,%d, want %v", i, gr>>8, gg>>8, gb>>8, c)
		}
	}
	// A fully opaque image is written as RGB.
	opaque := image.NewNRGBA(image.Rect(0, 0, 8, 8))
	for i := range opaque.Pix {
		opaque.Pix[i] = 255
	}
	if b, err := PNG(opaque); err != nil || b[25] != 2 {
		t.Errorf("opaque PNG colour type %d (%v), want 2 (RGB)", b[25], err)
	}
}

func TestJPEG(t *testing.T) {
	img, err := Image(elevationTile(), style(t, "colormap=plasma&rescale=0,3000"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := JPEG(img)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if dec.Bounds().Dx() != 256 || dec.Bounds().Dy() != 256 {
		t.Errorf("JPEG is %v, want 256x256", dec.Bounds())
	}
}

// openBytes writes b to a file and opens it with GDAL.
func openBytes(t *testing.T, b []byte, name string) *godal.Dataset {
	t.Helper()
	godal.RegisterAll()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := godal.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	return ds
}

func TestWebP(t *testing.T) {
	r := elevationTile()
	img, err := Image(r, style(t, "colormap=plasma&rescale=0,3000"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := WebP(img)
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		t.Fatalf("not a WebP file: % x", b[:12])
	}
	if size := binary.LittleEndian.Uint32(b[4:8]); int(size) != len(b)-8 {
		t.Errorf("RIFF size %d, want %d", size, len(b)-8)
	}
	ds := openBytes(t, b, "tile.webp")
	st := ds.Structure()
	if st.NBands != 4 || st.SizeX != 256 || st.SizeY != 256 {
		t.Fatalf("GDAL reads %d bands of %dx%d, want 4 of 256x256", st.NBands, st.SizeX, st.SizeY)
	}
	alpha := make([]uint8, 256*256)
	if err := ds.Bands()[3].Read(0, 0, alpha, 256, 256); err != nil {
		t.Fatal(err)
	}
	for i, m := range r.Mask {
		if (m == 0) != (alpha[i] == 0) {
			t.Fatalf("pixel %d: mask %d, WebP alpha %d", i, m, alpha[i])
		}
	}
}

func TestGeoTIFFNoData(t *testing.T) {
	r := elevationTile()
	// Values under the mask that are not the nodata value must be written as nodata.
	r.Bands[0] = append([]float64(nil), r.Bands[0]...)
	masked := -1
	for i, m := range r.Mask {
		if m == 0 {
			r.Bands[0][i] = 1234
			masked = i
		}
	}
	b, err := GeoTIFF(r)
	if err != nil {
		t.Fatal(err)
	}
	ds := openBytes(t, b, "tile.tif")
	st := ds.Structure()
	if st.NBands != 1 || st.SizeX != 256 || st.SizeY != 256 || st.DataType != godal.Int16 {
		t.Fatalf("GeoTIFF is %d bands %dx%d %s, want 1 band 256x256 Int16", st.NBands, st.SizeX, st.SizeY, st.DataType)
	}
	band := ds.Bands()[0]
	nd, ok := band.NoData()
	if !ok || nd != demo.ElevationNoData {
		t.Fatalf("nodata %v %v, want %d", nd, ok, demo.ElevationNoData)
	}
	vals := make([]float64, 256*256)
	if err := band.Read(0, 0, vals, 256, 256); err != nil {
		t.Fatal(err)
	}
	for i, m := range r.Mask {
		want := r.Bands[0][i]
		if m == 0 {
			want = demo.ElevationNoData
		}
		if vals[i] != want {
			t.Fatalf("pixel %d = %g, want %g", i, vals[i], want)
		}
	}
	if masked < 0 {
		t.Fatal("no masked pixel in the test tile")
	}
	checkGeoreference(t, ds, r.Bounds, 256)
}

func TestGeoTIFFInternalMask(t *testing.T) {
	r := elevationTile()
	r.DType, r.HasNoData = "float32", false
	b, err := GeoTIFF(r)
	if err != nil {
		t.Fatal(err)
	}
	ds := openBytes(t, b, "tile.tif")
	band := ds.Bands()[0]
	if _, ok := band.NoData(); ok {
		t.Error("a raster without nodata was written with one")
	}
	const perDataset = 0x02 // GMF_PER_DATASET: a real mask band, not derived from nodata
	if f := band.MaskFlags(); f != perDataset {
		t.Fatalf("mask flags %#x, want GMF_PER_DATASET (an internal mask)", f)
	}
	mask := make([]uint8, 256*256)
	if err := band.MaskBand().Read(0, 0, mask, 256, 256); err != nil {
		t.Fatal(err)
	}
	for i, m := range r.Mask {
		if (m == 0) != (mask[i] == 0) {
			t.Fatalf("pixel %d: mask %d, GeoTIFF mask %d", i, m, mask[i])
		}
	}
	vals := make([]float32, 256*256)
	if err := band.Read(0, 0, vals, 256, 256); err != nil {
		t.Fatal(err)
	}
	for i := range vals {
		if float64(vals[i]) != r.Bands[0][i] {
			t.Fatalf("pixel %d = %g, want %g", i, vals[i], r.Bands[0][i])
		}
	}
	// Without a mask, nothing is masked.
	r.Mask = nil
	if b, err = GeoTIFF(r); err != nil {
		t.Fatal(err)
	}
	if f := openBytes(t, b, "nomask.tif").Bands()[0].MaskFlags(); f != 0x01 {
		t.Errorf("mask flags without a mask %#x, want GMF_ALL_VALID", f)
	}
}

func checkGeoreference(t *testing.T, ds *godal.Dataset, b tiles.Bounds, n int) {
	t.Helper()
	gt, err := ds.GeoTransform()
	if err != nil {
		t.Fatal(err)
	}
	res := (b.MaxX - b.MinX) / float64(n)
	want := [6]float64{b.MinX, res, 0, b.MaxY, 0, -res}
	for i := range gt {
		if math.Abs(gt[i]-want[i]) > 1e-6 {
			t.Fatalf("geotransform %v, want %v", gt, want)
		}
	}
	sr := ds.SpatialRef()
	defer sr.Close()
	if sr.AuthorityName("") != "EPSG" || sr.AuthorityCode("") != "3857" {
		t.Errorf("SRS %s:%s, want EPSG:3857", sr.AuthorityName(""), sr.AuthorityCode(""))
	}
}

func TestGeoTIFFUnsupportedType(t *testing.T) {
	if _, err := GeoTIFF(raster("complex64", 1, 1, []float64{1})); err == nil {
		t.Error("GeoTIFF of an unknown dtype succeeded")
	}
	if _, err := NPY(raster("complex64", 1, 1, []float64{1})); err == nil {
		t.Error("NPY of an unknown dtype succeeded")
	}
}

// numpyLoad reads an .npy file with numpy and returns dtype, shape and values.
func numpyLoad(t *testing.T, b []byte) (string, []int, []float64) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.npy")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	script := `import json, numpy, sys
a = numpy.load(sys.argv[1])
print(json.dumps({"dtype": str(a.dtype), "shape": list(a.shape), "values": [float(v) for v in a.ravel()]}))`
	out, err := exec.Command(numpyPython, "-c", script, p).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy.load: %v\n%s", err, out)
	}
	var res struct {
		DType  string    `json:"dtype"`
		Shape  []int     `json:"shape"`
		Values []float64 `json:"values"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return res.DType, res.Shape, res.Values
}

func TestNPY(t *testing.T) {
	tests := []struct {
		dtype string
		vals  []float64 // two bands of 2×3
	}{
		{"uint8", []float64{0, 1, 127, 128, 254, 255, 9, 8, 7, 6, 5, 4}},
		{"int8", []float64{-128, -1, 0, 1, 126, 127, 1, 2, 3, 4, 5, 6}},
		{"int16", []float64{-32768, -1, 0, 1, 2999, 32767, 10, 20, 30, 40, 50, 60}},
		{"uint16", []float64{0, 1, 255, 256, 65534, 65535, 1, 1, 1, 1, 1, 1}},
		{"int32", []float64{-2147483648, -1, 0, 1, 70000, 2147483647, 0, 0, 0, 0, 0, 0}},
		{"uint32", []float64{0, 1, 4294967295, 70000, 3, 2, 0, 0, 0, 0, 0, 0}},
		{"float32", []float64{-1.5, 0, 0.25, 3.140625, float64(float32(0.1)), float64(float32(1e30)), -2, 65504, float64(float32(1e-20)), 7, -0.5, float64(float32(2.2))}},
		{"float64", []float64{-1.5, 0, 0.1, math.Pi, 1e300, -1e-300, 1, 2, 3, 4, 5, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.dtype, func(t *testing.T) {
			r := raster(tt.dtype, 3, 2, tt.vals[:6], tt.vals[6:])
			b, err := NPY(r)
			if err != nil {
				t.Fatal(err)
			}
			if string(b[:8]) != "\x93NUMPY\x01\x00" {
				t.Fatalf("magic % x", b[:8])
			}
			hl := int(binary.LittleEndian.Uint16(b[8:10]))
			if (10+hl)%64 != 0 || b[10+hl-1] != '\n' {
				t.Errorf("header ends at %d: want a multiple of 64 ending in a newline", 10+hl)
			}
			if want := 10 + hl + 12*map[string]int{"uint8": 1, "int8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4, "float32": 4, "float64": 8}[tt.dtype]; len(b) != want {
				t.Errorf("%d bytes, want %d", len(b), want)
			}
			dt, shape, vals := numpyLoad(t, b)
			if dt != tt.dtype || !reflect.DeepEqual(shape, []int{2, 2, 3}) {
				t.Errorf("numpy reads %s %v, want %s [2 2 3]", dt, shape, tt.dtype)
			}
			if !reflect.DeepEqual(vals, tt.vals) {
				t.Errorf("numpy reads %v, want %v", vals, tt.vals)
			}
		})
	}
}

func TestNPYNoDataUnderMask(t *testing.T) {
	r := elevationTile()
	r.Bands[0] = append([]float64(nil), r.Bands[0]...)
	for i, m := range r.Mask {
		if m == 0 {
			r.Bands[0][i] = 77 // not nodata: the mask must win
		}
	}
	b, err := NPY(r)
	if err != nil {
		t.Fatal(err)
	}
	dt, shape, vals := numpyLoad(t, b)
	if dt != "int16" || !reflect.DeepEqual(shape, []int{1, 256, 256}) {
		t.Fatalf("numpy reads %s %v, want int16 [1 256 256]", dt, shape)
	}
	for i, m := range r.Mask {
		want := r.Bands[0][i]
		if m == 0 {
			want = demo.ElevationNoData
		}
		if vals[i] != want {
			t.Fatalf("pixel %d = %g, want %g", i, vals[i], want)
		}
	}
}
