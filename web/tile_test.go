package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/colormap"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/tiles"
)

// centerTile is the tile of the demo DEM's centre at zoom z.
func (e *testEnv) centerTile(z int) tiles.Tile {
	x, y := e.demoBounds.Center()
	return tiles.AtLonLat(x, y, z)
}

func tileURL(layer string, t tiles.Tile, suffix string) string {
	return fmt.Sprintf("/v1/udfs/%s/tiles/%s%s", layer, t, suffix)
}

// mixedTile is a zoom-9 tile of the DEM with both valid pixels and nodata.
func (e *testEnv) mixedTile(t *testing.T) (tiles.Tile, npyArray) {
	t.Helper()
	var found *tiles.Tile
	var arr npyArray
	tiles.Cover(e.demoBounds, 9).Each(func(tl tiles.Tile) bool {
		a := parseNPY(t, e.get(t, tileURL("elevation", tl, ".npy"), 200).Body.Bytes())
		valid := 0
		for _, v := range a.vals {
			if v != demo.ElevationNoData {
				valid++
			}
		}
		if valid > 1000 && valid < len(a.vals)-1000 {
			found, arr = &tl, a
			return false
		}
		return true
	})
	if found == nil {
		t.Fatal("no zoom-9 tile with both data and nodata")
	}
	return *found, arr
}

func TestTileErrors(t *testing.T) {
	env := newTestServer(t)
	c := env.centerTile(9)
	elev := func(suffix string) string { return tileURL("elevation", c, suffix) }
	rgb := tileURL("rgb", tiles.AtLonLat(15, 46, 6), "")
	tests := []struct {
		name   string
		target string
		status int
		want   []string // substrings of the error message
	}{
		{"unknown layer", "/v1/udfs/nope/tiles/9/0/0.png", 404, []string{`"nope"`}},
		{"z not integer", "/v1/udfs/elevation/tiles/a/1/1.png", 400, []string{`"a"`, "integer"}},
		{"x not integer", "/v1/udfs/elevation/tiles/9/1.5/1.png", 400, []string{`"1.5"`}},
		{"y not integer", "/v1/udfs/elevation/tiles/9/1/y.png", 400, []string{`"y"`}},
		{"y empty before extension", "/v1/udfs/elevation/tiles/9/1/.png", 400, []string{"integer"}},
		{"z 31", "/v1/udfs/elevation/tiles/31/0/0.png", 400, []string{"zoom 31"}},
		{"z negative", "/v1/udfs/elevation/tiles/-1/0/0.png", 400, []string{"zoom -1"}},
		{"x = 2^z", "/v1/udfs/elevation/tiles/9/512/0.png", 400, []string{"x 512"}},
		{"y = 2^z", "/v1/udfs/elevation/tiles/9/0/512", 400, []string{"y 512"}},
		{"y -1", "/v1/udfs/elevation/tiles/9/0/-1.png", 400, []string{"y -1"}},
		{"zoom below the layer's", tileURL("elevation", env.centerTile(4), ".png"), 404, []string{"zoom 4", "5..12"}},
		{"zoom above the layer's", tileURL("elevation", env.centerTile(13), ".png"), 404, []string{"zoom 13", "5..12"}},
		{"tile outside bounds", "/v1/udfs/elevation/tiles/9/0/0.png", 404, []string{"outside"}},
		{"unknown colormap", elev(".png?colormap=nope"), 400, []string{"colormap", `"nope"`, "viridis", "RdYlGn_r", "plasma"}},
		{"bad custom colormap", elev(".png?colormap=" + url.QueryEscape(`{"x":1}`)), 400, []string{"colormap"}},
		{"rescale one number", elev(".png?rescale=1"), 400, []string{"rescale"}},
		{"rescale words", elev(".png?rescale=a,b"), 400, []string{"rescale"}},
		{"rescale reversed", elev(".png?rescale=5,1"), 400, []string{"rescale"}},
		{"bidx word", elev(".png?bidx=x"), 400, []string{"bidx"}},
		{"bidx missing band", elev(".png?bidx=9"), 400, []string{"bidx", "9"}},
		{"bidx zero", elev(".npy?bidx=0"), 400, []string{"bidx"}},
		{"tilesize 300", elev(".png?tilesize=300"), 400, []string{"tilesize", "300"}},
		{"tilesize word", elev(".png?tilesize=abc"), 400, []string{"tilesize", "abc"}},
		{"resampling unknown", elev(".png?resampling=fancy"), 400, []string{"resampling", "bilinear"}},
		{"unknown parameter", elev(".png?foo=1"), 400, []string{"foo"}},
		{"unknown format by extension", elev(".bmp"), 400, []string{"format", `"bmp"`, "png"}},
		{"unknown format by parameter", elev("?format=bmp"), 400, []string{"format", `"bmp"`}},
		{"colormap on three bands", rgb + ".png?colormap=viridis", 400, []string{"colormap", "bidx"}},
		{"rescale count on three bands", rgb + ".png?rescale=0,255&rescale=0,255", 400, []string{"rescale", "3"}},
		{"two bands as an image", rgb + ".png?bidx=1,2", 400, []string{"2 bands"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := env.get(t, tt.target, tt.status)
			msg := jsonError(t, rec)
			for _, s := range tt.want {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("error Cache-Control %q, want no-store", cc)
			}
			if rec.Header().Get("ETag") != "" {
				t.Error("an error carries an ETag")
			}
		})
	}
}

func TestTileFormats(t *testing.T) {
	env := newTestServer(t)
	c := env.centerTile(9)
	tests := []struct {
		suffix, contentType, kind string
	}{
		{"", "image/png", "png"},
		{".png", "image/png", "png"},
		{".PNG", "image/png", "png"},
		{"?format=png", "image/png", "png"},
		{".jpg", "image/jpeg", "jpg"},
		{".jpeg", "image/jpeg", "jpg"},
		{"?format=jpeg", "image/jpeg", "jpg"},
		{"?format=jpg", "image/jpeg", "jpg"},
		{".webp", "image/webp", "webp"},
		{"?format=webp", "image/webp", "webp"},
		{".tif", "image/tiff; application=geotiff", "tif"},
		{".tiff", "image/tiff; application=geotiff", "tif"},
		{"?format=geotiff", "image/tiff; application=geotiff", "tif"},
		{".npy", "application/x-npy", "npy"},
		{"?format=npy", "application/x-npy", "npy"},
		{".npy?format=png", "application/x-npy", "npy"}, // the extension wins
	}
	for _, tt := range tests {
		t.Run(strings.NewReplacer("?", "_", "=", "_", ".", "").Replace("x"+tt.suffix), func(t *testing.T) {
			rec := env.get(t, tileURL("elevation", c, tt.suffix), 200)
			if ct := rec.Header().Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			b := rec.Body.Bytes()
			if cl := rec.Header().Get("Content-Length"); cl != fmt.Sprint(len(b)) {
				t.Errorf("Content-Length %s, body %d bytes", cl, len(b))
			}
			switch tt.kind {
			case "png":
				img, err := png.Decode(bytes.NewReader(b))
				if err != nil || img.Bounds() != image.Rect(0, 0, 256, 256) {
					t.Errorf("PNG: %v %v, want 256x256", err, img)
				}
			case "jpg":
				img, err := jpeg.Decode(bytes.NewReader(b))
				if err != nil || img.Bounds() != image.Rect(0, 0, 256, 256) {
					t.Errorf("JPEG: %v, want 256x256", err)
				}
			case "webp":
				if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
					t.Fatalf("not RIFF....WEBP: % x", b[:min(12, len(b))])
				}
				ds := openGDAL(t, b, "tile.webp")
				if st := ds.Structure(); st.NBands != 4 || st.SizeX != 256 || st.SizeY != 256 {
					t.Errorf("GDAL reads the WebP as %d bands %dx%d, want 4 bands 256x256", st.NBands, st.SizeX, st.SizeY)
				}
			case "tif":
				checkTIFF(t, openGDAL(t, b, "tile.tif"), c)
			case "npy":
				a := parseNPY(t, b)
				if a.descr != "<i2" || fmt.Sprint(a.shape) != "[1 256 256]" {
					t.Errorf("npy %s %v, want <i2 [1 256 256]", a.descr, a.shape)
				}
			}
		})
	}
}

// TestNPYReadsInNumpy hands a tile to Debian's numpy.
func TestNPYReadsInNumpy(t *testing.T) {
	env := newTestServer(t)
	b := env.get(t, tileURL("elevation", env.centerTile(9), ".npy"), 200).Body.Bytes()
	p := filepath.Join(t.TempDir(), "tile.npy")
	writeFile(t, p, b)
	out, err := exec.Command("/usr/bin/python3", "-c",
		"import numpy,sys; a=numpy.load(sys.argv[1]); print(a.dtype, a.shape, int(a.max()))", p).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy.load: %v\n%s", err, out)
	}
	f := strings.Fields(string(out))
	if len(f) != 5 || strings.Join(f[:4], " ") != "int16 (1, 256, 256)" {
		t.Fatalf("numpy reads %q, want int16 (1, 256, 256)", out)
	}
	want := math.Inf(-1)
	for _, v := range parseNPY(t, b).vals {
		want = math.Max(want, v)
	}
	if f[4] != fmt.Sprint(want) || want <= 0 {
		t.Errorf("numpy max %s, want %g", f[4], want)
	}
}

func openGDAL(t *testing.T, b []byte, name string) *godal.Dataset {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	writeFile(t, p, b)
	ds, err := godal.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	return ds
}

// checkTIFF wants the tile's EPSG:3857 bounds at 256 px and the DEM's nodata.
func checkTIFF(t *testing.T, ds *godal.Dataset, tl tiles.Tile) {
	t.Helper()
	st := ds.Structure()
	if st.NBands != 1 || st.SizeX != 256 || st.SizeY != 256 || st.DataType != godal.Int16 {
		t.Fatalf("tif is %d bands %dx%d %s, want 1 band 256x256 Int16", st.NBands, st.SizeX, st.SizeY, st.DataType)
	}
	gt, err := ds.GeoTransform()
	if err != nil {
		t.Fatal(err)
	}
	m := tl.Mercator()
	want := [6]float64{m.MinX, (m.MaxX - m.MinX) / 256, 0, m.MaxY, 0, -(m.MaxY - m.MinY) / 256}
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
	if nd, ok := ds.Bands()[0].NoData(); !ok || nd != demo.ElevationNoData {
		t.Errorf("nodata %v %v, want %d", nd, ok, demo.ElevationNoData)
	}
}

// TestTIFFGdalinfo checks the same georeferencing as GDAL's command line sees it.
func TestTIFFGdalinfo(t *testing.T) {
	env := newTestServer(t)
	tl := env.centerTile(10)
	p := filepath.Join(t.TempDir(), "tile.tif")
	writeFile(t, p, env.get(t, tileURL("elevation", tl, ".tif"), 200).Body.Bytes())
	out, err := exec.Command("gdalinfo", "-json", p).Output()
	if err != nil {
		t.Fatalf("gdalinfo: %v", err)
	}
	var info struct {
		Size         []int     `json:"size"`
		GeoTransform []float64 `json:"geoTransform"`
		STAC         struct {
			EPSG int `json:"proj:epsg"`
		} `json:"stac"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	m := tl.Mercator()
	if fmt.Sprint(info.Size) != "[256 256]" || info.STAC.EPSG != 3857 || len(info.GeoTransform) != 6 ||
		math.Abs(info.GeoTransform[0]-m.MinX) > 1e-6 || math.Abs(info.GeoTransform[3]-m.MaxY) > 1e-6 ||
		math.Abs(info.GeoTransform[1]-(m.MaxX-m.MinX)/256) > 1e-9 {
		t.Errorf("gdalinfo: size %v epsg %d geotransform %v; want 256x256, 3857, origin %g,%g", info.Size, info.STAC.EPSG, info.GeoTransform, m.MinX, m.MaxY)
	}
}

func TestPNGTransparentWhereNoData(t *testing.T) {
	env := newTestServer(t)
	tl, arr := env.mixedTile(t)
	plasma, err := colormap.Lookup("plasma")
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(env.get(t, tileURL("elevation", tl, ".png"), 200).Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := img.(*image.NRGBA); !ok {
		t.Fatalf("PNG decodes as %T, want NRGBA (an alpha channel)", img)
	}
	for i, v := range arr.vals {
		c := img.(*image.NRGBA).NRGBAAt(i%256, i/256)
		if v == demo.ElevationNoData {
			if c.A != 0 {
				t.Fatalf("pixel %d is nodata but alpha %d", i, c.A)
			}
			continue
		}
		want := plasma.Index(colormap.Rescale(v, 0, 3000))
		if [4]uint8{c.R, c.G, c.B, c.A} != want {
			t.Fatalf("pixel %d value %g: %v, want plasma %v", i, v, c, want)
		}
	}
	// JPEG has no alpha but still decodes.
	if _, err := jpeg.Decode(bytes.NewReader(env.get(t, tileURL("elevation", tl, ".jpg"), 200).Body.Bytes())); err != nil {
		t.Errorf("JPEG: %v", err)
	}
}

func TestTileSize512(t *testing.T) {
	env := newTestServer(t)
	c := env.centerTile(9)
	img, err := png.Decode(bytes.NewReader(env.get(t, tileURL("elevation", c, ".png?tilesize=512"), 200).Body.Bytes()))
	if err != nil || img.Bounds() != image.Rect(0, 0, 512, 512) {
		t.Fatalf("tilesize=512 PNG: %v %v, want 512x512", err, img.Bounds())
	}
	a := parseNPY(t, env.get(t, tileURL("elevation", c, ".npy?tilesize=512"), 200).Body.Bytes())
	if fmt.Sprint(a.shape) != "[1 512 512]" {
		t.Errorf("tilesize=512 npy shape %v", a.shape)
	}
	b256 := env.get(t, tileURL("elevation", c, ".png?tilesize=256"), 200).Body.Bytes()
	if !bytes.Equal(b256, env.get(t, tileURL("elevation", c, ".png"), 200).Body.Bytes()) {
		t.Error("tilesize=256 differs from the default")
	}
}

// colours fetches a PNG tile and returns its pixels.
func (e *testEnv) colours(t *testing.T, target string) *image.NRGBA {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(e.get(t, target, 200).Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	switch m := img.(type) {
	case *image.NRGBA:
		return m
	case *image.RGBA: // an opaque tile is written as RGB and may decode as RGBA
		n := image.NewNRGBA(m.Rect)
		copy(n.Pix, m.Pix)
		return n
	}
	t.Fatalf("PNG decodes as %T", img)
	return nil
}

func TestTileColormaps(t *testing.T) {
	env := newTestServer(t)
	tl, arr := env.mixedTile(t)
	named := func(name string, lo, hi float64) func(v float64) ([4]uint8, bool) {
		m, err := colormap.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		return func(v float64) ([4]uint8, bool) { return m.Index(colormap.Rescale(v, lo, hi)), true }
	}
	// The most common valid value, for a discrete map.
	count := map[float64]int{}
	common := 0.0
	for _, v := range arr.vals {
		if v != demo.ElevationNoData {
			if count[v]++; count[v] > count[common] {
				common = v
			}
		}
	}
	tests := []struct {
		name  string
		query string
		want  func(v float64) ([4]uint8, bool) // false: transparent
	}{
		{"default plasma", "", named("plasma", 0, 3000)},
		{"viridis", "colormap=viridis", named("viridis", 0, 3000)},
		{"colormap_name over the layer default", "colormap_name=viridis", named("viridis", 0, 3000)},
		{"reversed map and rescale", "colormap=RdYlGn_r&rescale=500,1500", named("RdYlGn_r", 500, 1500)},
		{"custom intervals", "colormap=" + url.QueryEscape(`[[[null,1000],"#ff0000"],[[1000,2000],"#00ff0080"],[[2000,null],[0,0,255]]]`),
			func(v float64) ([4]uint8, bool) {
				switch {
				case v < 1000:
					return [4]uint8{255, 0, 0, 255}, true
				case v < 2000:
					return [4]uint8{0, 255, 0, 128}, true
				}
				return [4]uint8{0, 0, 255, 255}, true
			}},
		{"custom discrete", "colormap=" + url.QueryEscape(fmt.Sprintf(`{"%g":"#123456"}`, common)),
			func(v float64) ([4]uint8, bool) {
				return [4]uint8{0x12, 0x34, 0x56, 255}, v == common
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := env.colours(t, tileURL("elevation", tl, ".png?"+tt.query))
			matched := 0
			for i, v := range arr.vals {
				c := img.NRGBAAt(i%256, i/256)
				got := [4]uint8{c.R, c.G, c.B, c.A}
				want, ok := tt.want(v)
				if v == demo.ElevationNoData || !ok {
					if c.A != 0 {
						t.Fatalf("pixel %d value %g: %v, want transparent", i, v, got)
					}
					continue
				}
				if got != want {
					t.Fatalf("pixel %d value %g: %v, want %v", i, v, got, want)
				}
				matched++
			}
			if matched == 0 {
				t.Fatal("no pixel coloured")
			}
		})
	}
}

func TestRGBRescalePerBand(t *testing.T) {
	env := newTestServer(t)
	tl := tiles.AtLonLat(15, 46, 6)
	arr := parseNPY(t, env.get(t, tileURL("rgb", tl, ".npy"), 200).Body.Bytes())
	if arr.descr != "|u1" || fmt.Sprint(arr.shape) != "[3 256 256]" {
		t.Fatalf("rgb npy %s %v, want |u1 [3 256 256]", arr.descr, arr.shape)
	}
	tests := []struct {
		query  string
		ranges [3][2]float64
	}{
		{"", [3][2]float64{{0, 255}, {0, 255}, {0, 255}}},
		{"rescale=0,128", [3][2]float64{{0, 128}, {0, 128}, {0, 128}}},
		{"rescale=0,255&rescale=0,255&rescale=0,128", [3][2]float64{{0, 255}, {0, 255}, {0, 128}}},
		{"rescale=50,200&rescale=0,100&rescale=100,255", [3][2]float64{{50, 200}, {0, 100}, {100, 255}}},
	}
	const n = 256 * 256
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			img := env.colours(t, tileURL("rgb", tl, ".png?"+tt.query))
			opaque := 0
			for i := 0; i < n; i++ {
				c := img.NRGBAAt(i%256, i/256)
				if c.A == 0 {
					continue
				}
				opaque++
				got := [3]uint8{c.R, c.G, c.B}
				var want [3]uint8
				for b := range want {
					want[b] = colormap.Rescale(arr.vals[b*n+i], tt.ranges[b][0], tt.ranges[b][1])
				}
				if got != want {
					t.Fatalf("pixel %d: %v, want %v", i, got, want)
				}
			}
			if opaque < n/2 {
				t.Fatalf("only %d opaque pixels", opaque)
			}
		})
	}
}
