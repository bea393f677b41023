package cog_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/algorithm"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/render"
	"github.com/udftiles/udftiles/tiles"
)

// demoRGB writes the demo RGB image (demo.RGB) once and returns its path.
func demoRGB(t testing.TB) string {
	t.Helper()
	p, err := writeDemoRGB()
	if err != nil {
		t.Fatalf("demo RGB: %v", err)
	}
	return p
}

var writeDemoRGB = sync.OnceValues(func() (string, error) {
	p := filepath.Join(shared, "rgb.tif")
	return p, demo.WriteCOG(p, demo.RGB())
})

// run calls the reader as the tile service does: the query coerced by the
// layer's schema.
func run(t testing.TB, r *cog.Reader, tile tiles.Tile, query string) (*layer.Raster, error) {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	params, err := r.Schema().Coerce(q)
	if err != nil {
		return nil, err
	}
	res, err := r.Run(context.Background(), layer.Request{Tile: &tile, Params: params})
	if err != nil {
		return nil, err
	}
	ras := res.(*layer.Raster)
	ras.Widen() // a Byte file's tile comes as Samples
	return ras, nil
}

func mustRun(t testing.TB, r *cog.Reader, tile tiles.Tile, query string) *layer.Raster {
	t.Helper()
	ras, err := run(t, r, tile, query)
	if err != nil {
		t.Fatalf("%s %s: %v", tile, query, err)
	}
	return ras
}

// gdalwarpArea warps the area of tiles x0..x1 × y0..y1 of zoom z, grown by pad
// pixels on each side, as the gdalwarp program does: the reference grid.
func gdalwarpArea(t testing.TB, path string, z, x0, y0, x1, y1, size, pad int, resampling string, extra ...string) string {
	t.Helper()
	a, b := tiles.Tile{Z: z, X: x0, Y: y0}.Mercator(), tiles.Tile{Z: z, X: x1, Y: y1}.Mercator()
	px := (a.MaxX - a.MinX) / float64(size)
	p := float64(pad) * px
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	out := filepath.Join(t.TempDir(), "warped.tif")
	args := []string{"-q", "-of", "GTiff", "-t_srs", "EPSG:3857",
		"-te", f(a.MinX - p), f(b.MinY - p), f(b.MaxX + p), f(a.MaxY + p),
		"-ts", strconv.Itoa((x1-x0+1)*size + 2*pad), strconv.Itoa((y1-y0+1)*size + 2*pad), "-r", resampling}
	args = append(args, extra...)
	args = append(args, path, out)
	if msg, err := exec.Command("gdalwarp", args...).CombinedOutput(); err != nil {
		t.Fatalf("gdalwarp %v: %v\n%s", args, err, msg)
	}
	return out
}

// readAll reads every band of a file as float64, and its size.
func readAll(t testing.TB, path string) (bands [][]float64, w, h int) {
	t.Helper()
	ds, err := godal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	st := ds.Structure()
	w, h = st.SizeX, st.SizeY
	for _, b := range ds.Bands() {
		v := make([]float64, w*h)
		if err := b.Read(0, 0, v, w, h); err != nil {
			t.Fatal(err)
		}
		bands = append(bands, v)
	}
	return bands, w, h
}

// TestExpressionMatchesGDALCalc reads tiles with expression= and holds them to
// gdal_calc.py run on the same file warped by gdalwarp to the tile's grid.
func TestExpressionMatchesGDALCalc(t *testing.T) {
	calc, err := exec.LookPath("gdal_calc.py")
	if err != nil {
		if calc, err = exec.LookPath("gdal_calc"); err != nil {
			t.Skip("gdal_calc.py is not installed (gdal-bin)")
		}
	}
	path := demoRGB(t)
	r := newReader(t, cog.Options{Path: path})
	z := r.Schema().MaxZoom - 1
	exprs := []struct{ ours, numpy string }{
		{"(b3-b1)/(b3+b1)", "(C.astype(float32)-A)/(C.astype(float32)+A)"},
		{"b2*0.5 + sqrt(b1) - where(b3 > 100, 1, 0)", "B.astype(float32)*float32(0.5) + sqrt(A.astype(float32)) - where(C > 100, float32(1), float32(0))"},
		{"max(b1, b2) / (b3 - b3)", "maximum(A, B).astype(float32) / (C.astype(float32) - C)"}, // all NaN: transparent
		{"log10(b1 + 1) * pow(b2, 0.5)", "log10(A.astype(float32) + 1) * power(B.astype(float32), float32(0.5))"},
	}
	for _, resampling := range []string{"nearest", "bilinear"} {
		for _, tile := range sampleTiles(r, z)[:2] { // inside, and at the data's edge
			ref := gdalwarpArea(t, path, tile.Z, tile.X, tile.Y, tile.X, tile.Y, 256, 0, resampling, "-dstalpha")
			refBands, _, _ := readAll(t, ref)
			alpha := refBands[3]
			for _, e := range exprs {
				name := fmt.Sprintf("%s/%s/%s", resampling, tile, e.ours)
				got := mustRun(t, r, tile, "resampling="+resampling+"&expression="+url.QueryEscape(e.ours))
				if got.DType != "float32" || len(got.Bands) != 1 || got.Width != 256 {
					t.Fatalf("%s: %s %d bands %d px, want one float32 band of 256 px", name, got.DType, len(got.Bands), got.Width)
				}
				out := filepath.Join(t.TempDir(), "calc.tif")
				args := []string{calc, "--quiet", "-A", ref, "--A_band=1", "-B", ref, "--B_band=2", "-C", ref, "--C_band=3",
					"--calc=" + e.numpy, "--type=Float32", "--hideNoData", "--outfile=" + out, "--overwrite"}
				if msg, err := exec.Command("/usr/bin/python3", args...).CombinedOutput(); err != nil {
					t.Fatalf("%s: gdal_calc %v: %v\n%s", name, args, err, msg)
				}
				want, _, _ := readAll(t, out)
				valid, bad := 0, 0
				for i, a := range alpha {
					g, w := got.Bands[0][i], want[0][i]
					finite := !math.IsNaN(w) && !math.IsInf(w, 0)
					switch {
					case a == 0 || !finite:
						if got.Mask[i] != 0 {
							bad++
							if bad < 4 {
								t.Errorf("%s pixel %d: %v (mask %d), gdal_calc %v with alpha %v: want transparent", name, i, g, got.Mask[i], w, a)
							}
						}
					case got.Mask[i] == 0:
						bad++
						if bad < 4 {
							t.Errorf("%s pixel %d: transparent, gdal_calc %v", name, i, w)
						}
					default:
						valid++
						if math.Abs(g-w) > 1e-5*math.Max(1, math.Abs(w)) {
							bad++
							if bad < 4 {
								t.Errorf("%s pixel %d: %v, gdal_calc %v", name, i, g, w)
							}
						}
					}
				}
				if bad > 0 {
					t.Errorf("%s: %d of %d pixels differ from gdal_calc", name, bad, len(alpha))
				}
				t.Logf("%s: %d valid pixels agree", name, valid)
			}
		}
	}
}

// TestExpressionBands checks several output bands, that B1 and b1 are one
// band, and that a raster's mask and nodata follow.
func TestExpressionBands(t *testing.T) {
	r := newReader(t, cog.Options{Path: demoRGB(t)})
	tile := sampleTiles(r, r.Schema().MaxZoom)[0]
	plain := mustRun(t, r, tile, "")
	got := mustRun(t, r, tile, "expression="+url.QueryEscape("B3;b1*2;b2-b1;7"))
	if len(got.Bands) != 4 || got.DType != "float32" || !got.HasNoData || !math.IsNaN(got.NoData) {
		t.Fatalf("got %d bands of %s, nodata %v %v", len(got.Bands), got.DType, got.HasNoData, got.NoData)
	}
	for i := range plain.Mask {
		if (plain.Mask[i] == 0) != (got.Mask[i] == 0) {
			t.Fatalf("pixel %d: mask %d, plain tile's %d", i, got.Mask[i], plain.Mask[i])
		}
		if plain.Mask[i] == 0 {
			continue
		}
		b1, b2, b3 := plain.Bands[0][i], plain.Bands[1][i], plain.Bands[2][i]
		want := []float64{b3, b1 * 2, b2 - b1, 7}
		for j, w := range want {
			if got.Bands[j][i] != w {
				t.Fatalf("pixel %d band %d: %v, want %v", i, j+1, got.Bands[j][i], w)
			}
		}
	}
}

func TestProcessErrors(t *testing.T) {
	rgb := newReader(t, cog.Options{Path: demoRGB(t)})
	dem := newReader(t, cog.Options{Path: demoDEM(t)})
	rt := sampleTiles(rgb, rgb.Schema().MaxZoom)[0]
	dt := sampleTiles(dem, dem.Schema().MaxZoom)[0]
	for _, c := range []struct {
		r     *cog.Reader
		tile  tiles.Tile
		query string
		want  string
	}{
		{rgb, rt, "expression=" + url.QueryEscape("(b1-b9)"), "parameter expression: unknown band b9 at 5 (this layer has bands 1..3)"},
		{rgb, rt, "expression=" + url.QueryEscape("b1%2"), `parameter expression: unsupported token "%" at 3`},
		{rgb, rt, "expression=b1&bidx=1", "parameters bidx and expression: give one"},
		{rgb, rt, "algorithm=sobel", "parameter algorithm: want one of"},
		{rgb, rt, "algorithm_params=" + url.QueryEscape(`{"azimuth":1}`), "parameter algorithm_params: give algorithm= too"},
		{dem, dt, "algorithm=hillshade&algorithm_params=" + url.QueryEscape(`{"azimut":1}`), `parameter algorithm_params: hillshade takes no parameter "azimut"; it takes: azimuth, angle_altitude, z_exaggeration, buffer`},
		{dem, dt, "algorithm=hillshade&algorithm_params=" + url.QueryEscape(`{"azimuth":400}`), "azimuth: want a number from 0 to 360, got 400"},
		{dem, dt, "algorithm=hillshade&algorithm_params=" + url.QueryEscape(`{"buffer":1.5}`), "buffer: want an integer"},
		{dem, dt, "algorithm=hillshade&algorithm_params=" + url.QueryEscape(`[1]`), "parameter algorithm_params: want a JSON object"},
		{dem, dt, "algorithm=normalized_index", "parameter algorithm: normalized_index reads 2 bands, bidx selects 1"},
		{rgb, rt, "algorithm=normalized_index&expression=b1", "parameter algorithm: normalized_index reads 2 bands, the expression gives 1"},
	} {
		_, err := run(t, c.r, c.tile, c.query)
		if err == nil || layer.KindOf(err) != layer.BadRequest || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want a bad request with %q", c.query, err, c.want)
		}
	}
}

// dem is the demo DEM's reader as config.yaml serves it (bilinear), with a
// zoom whose tiles are read at full resolution (no overview) and a 2×2 block
// of tiles of it inside the data.
func demTiles(t testing.TB) (*cog.Reader, string, int, int, int) {
	path := demoDEM(t)
	r := newReader(t, cog.Options{Path: path, Resampling: "bilinear"})
	z := r.Schema().MaxZoom
	rg := tiles.Cover(r.Schema().Bounds, z)
	x, y := (rg.MinX+rg.MaxX)/2, (rg.MinY+rg.MaxY)/2
	return r, path, z, x, y
}

// TestDEMAlgorithmsMatchGdaldem reads a 2×2 block of hillshade and slope
// tiles and holds each to gdaldem run on the tile and its border warped by
// gdalwarp, to the tile's edges; then checks the seams between them.
func TestDEMAlgorithmsMatchGdaldem(t *testing.T) {
	if _, err := exec.LookPath("gdaldem"); err != nil {
		t.Skip("gdaldem is not installed (gdal-bin)")
	}
	r, path, z, x, y := demTiles(t)
	for _, c := range []struct {
		alg, params string
		pad         int
		gdaldem     []string
		tol         float64
	}{
		{"hillshade", "", 1, []string{"hillshade"}, 1},
		{"hillshade", `{"azimuth":200,"angle_altitude":30,"z_exaggeration":3,"buffer":3}`, 3, []string{"hillshade", "-az", "200", "-alt", "30", "-z", "3"}, 1},
		{"slope", "", 1, []string{"slope"}, 0.01},
	} {
		name := c.alg + c.params
		nd := 0.0
		if c.alg == "slope" {
			nd = -9999
		}
		// A 2×2 block inside, a tile over the nodata lake, one at the edge.
		b := r.Schema().Bounds
		lake := tiles.AtLonLat(b.MinX+0.68*(b.MaxX-b.MinX), b.MaxY-0.32*(b.MaxY-b.MinY), z)
		list := []tiles.Tile{{Z: z, X: x, Y: y}, {Z: z, X: x + 1, Y: y}, {Z: z, X: x, Y: y + 1}, {Z: z, X: x + 1, Y: y + 1},
			lake, edgeTile(t, r, z, y)}
		read := map[tiles.Tile]*layer.Raster{}
		for _, tile := range list {
			q := "algorithm=" + c.alg
			if c.params != "" {
				q += "&algorithm_params=" + url.QueryEscape(c.params)
			}
			got := mustRun(t, r, tile, q)
			read[tile] = got
			// The reference: the tile and its border warped as the reader
			// warps them, then gdaldem.
			ref := gdalwarpArea(t, path, z, tile.X, tile.Y, tile.X, tile.Y, 256, c.pad, "bilinear", "-ovr", "NONE", "-dstalpha", "-dstnodata", "-32768")
			out := filepath.Join(t.TempDir(), "dem.tif")
			args := append(append([]string{}, c.gdaldem...), "-q", ref, out)
			if msg, err := exec.Command("gdaldem", args...).CombinedOutput(); err != nil {
				t.Fatalf("gdaldem %v: %v\n%s", args, err, msg)
			}
			want, ww, _ := readAll(t, out)
			pad := c.pad
			valid, bad, maskDiff := 0, 0, 0
			worst := 0.0
			for j := 0; j < 256; j++ {
				for i := 0; i < 256; i++ {
					w := want[0][(j+pad)*ww+i+pad]
					g, m := got.Bands[0][j*256+i], got.Mask[j*256+i]
					if (w == nd) != (m == 0) {
						maskDiff++
						continue
					}
					if m == 0 {
						continue
					}
					valid++
					d := math.Abs(g - w)
					worst = math.Max(worst, d)
					if d > c.tol {
						bad++
						if bad < 4 {
							t.Errorf("%s %s pixel %d,%d: %v, gdaldem %v", name, tile, i, j, g, w)
						}
					}
				}
			}
			if bad > 0 || valid < 256*20 || maskDiff > 256 {
				t.Errorf("%s %s: %d valid pixels, %d differ from gdaldem by more than %g, %d masked differently", name, tile, valid, bad, c.tol, maskDiff)
			}
			t.Logf("%s %s: %d pixels, largest difference %g, %d masked differently", name, tile, valid, worst, maskDiff)
		}
		tilesOf := [2][2]*layer.Raster{{read[list[0]], read[list[1]]}, {read[list[2]], read[list[3]]}}
		// The shared edges, directly: across a seam, neighbouring pixels
		// differ as much as neighbours inside a tile do, not more.
		seam := func(what string, a, b *layer.Raster, at func(k, side int) (int, int)) {
			var across, inside float64
			n := 0
			for k := 0; k < 256; k++ {
				pa, pb := at(k, 0) // the last pixel of a, the first of b
				pi, _ := at(k, 1)  // the one before the last of a
				if a.Mask[pa] == 0 || b.Mask[pb] == 0 || a.Mask[pi] == 0 {
					continue
				}
				across += math.Abs(a.Bands[0][pa] - b.Bands[0][pb])
				inside += math.Abs(a.Bands[0][pi] - a.Bands[0][pa])
				n++
			}
			if n < 200 || across > 2*inside+float64(n)*c.tol {
				t.Errorf("%s %s seam: mean difference across %g, inside %g (%d pixels)", name, what, across/float64(n), inside/float64(n), n)
			}
		}
		seam("vertical", tilesOf[0][0], tilesOf[0][1], func(k, side int) (int, int) { return k*256 + 255 - side, k * 256 })
		seam("horizontal", tilesOf[0][0], tilesOf[1][0], func(k, side int) (int, int) { return (255-side)*256 + k, k })
	}
}

// edgeTile is the first tile of row y, from the west, partly on the data.
func edgeTile(t testing.TB, r *cog.Reader, z, y int) tiles.Tile {
	rg := tiles.Cover(r.Schema().Bounds, z)
	for x := rg.MinX; x <= rg.MaxX; x++ {
		tile := tiles.Tile{Z: z, X: x, Y: y}
		ras, err := run(t, r, tile, "")
		if err != nil {
			continue
		}
		if n := valid(ras); n > 0 && n < len(ras.Mask) {
			return tile
		}
	}
	t.Fatalf("no tile of row %d at zoom %d is partly on the data", y, z)
	return tiles.Tile{}
}

// TestBufferedReadsOverlap checks the border read around adjacent tiles:
// where two tiles' padded windows overlap they hold the same heights, so a
// 3×3 window at a tile's edge sees what the next tile holds.
func TestBufferedReadsOverlap(t *testing.T) {
	r, _, z, x, y := demTiles(t)
	const pad = 2
	read := func(tile tiles.Tile) *layer.Raster {
		ras, err := r.ReadTile(tile, cog.TileOptions{Size: 256, Resampling: "bilinear", Buffer: pad})
		if err != nil {
			t.Fatal(err)
		}
		if ras.Width != 256+2*pad || len(ras.Mask) != ras.Width*ras.Width {
			t.Fatalf("%dx%d, want %d", ras.Width, ras.Height, 256+2*pad)
		}
		return ras
	}
	plain := read(tiles.Tile{Z: z, X: x, Y: y})
	a, b := plain, read(tiles.Tile{Z: z, X: x + 1, Y: y})
	c := read(tiles.Tile{Z: z, X: x, Y: y + 1})
	W := 256 + 2*pad
	worst := 0.0
	for j := 0; j < W; j++ {
		for k := 0; k < 2*pad; k++ { // columns 256..259 of a are 0..3 of b
			pa, pb := j*W+256+k, j*W+k
			if a.Mask[pa] > 0 && b.Mask[pb] > 0 {
				worst = math.Max(worst, math.Abs(a.Bands[0][pa]-b.Bands[0][pb]))
			}
			pa, pc := (256+k)*W+j, k*W+j // rows 256..259 of a are 0..3 of c
			if a.Mask[pa] > 0 && c.Mask[pc] > 0 {
				worst = math.Max(worst, math.Abs(a.Bands[0][pa]-c.Bands[0][pc]))
			}
		}
	}
	if worst > 0.5 {
		t.Errorf("overlapping borders differ by up to %g m", worst)
	}
	t.Logf("overlapping borders differ by up to %g m", worst)
	// Inside, the padded read holds the tile's own values.
	tile := read(tiles.Tile{Z: z, X: x, Y: y})
	served := mustRun(t, r, tiles.Tile{Z: z, X: x, Y: y}, "")
	worst = 0
	for j := 0; j < 256; j++ {
		for i := 0; i < 256; i++ {
			if m := served.Mask[j*256+i]; m > 0 && tile.Mask[(j+pad)*W+i+pad] > 0 {
				worst = math.Max(worst, math.Abs(served.Bands[0][j*256+i]-tile.Bands[0][(j+pad)*W+i+pad]))
			}
		}
	}
	// gdalwarp places each row's pixels by an approximate transformation
	// (within an eighth of a pixel), along the wider rows of a padded read:
	// bilinear heights, rounded to the DEM's Int16, may differ by 1.
	if worst > 1 {
		t.Errorf("a padded read differs from the served tile by up to %g m", worst)
	}
}

// decodePNG encodes a raster as the server does and decodes the PNG.
func decodePNG(t testing.TB, ras *layer.Raster) *image.NRGBA {
	t.Helper()
	body, _, err := render.Encode(ras, "png", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out := image.NewNRGBA(img.Bounds())
	for y := 0; y < img.Bounds().Dy(); y++ {
		for x := 0; x < img.Bounds().Dx(); x++ {
			out.Set(x, y, img.At(x, y))
		}
	}
	return out
}

// TestTerrainEncodingsRoundTrip encodes DEM tiles as Terrain-RGB and
// Terrarium PNGs and decodes the heights back: each within the encoding's
// precision of the heights read, nodata transparent.
func TestTerrainEncodingsRoundTrip(t *testing.T) {
	r, _, z, x, y := demTiles(t)
	list := append(sampleTiles(r, z-2), tiles.Tile{Z: z, X: x, Y: y})
	// A tile over the nodata lake: the lake is centred at 68% across, 32% down.
	b := r.Schema().Bounds
	lake := tiles.AtLonLat(b.MinX+0.68*(b.MaxX-b.MinX), b.MaxY-0.32*(b.MaxY-b.MinY), z-1)
	if masked := roundTrip(t, r, append(list, lake)); masked == 0 {
		t.Error("no tile crossed the nodata lake")
	}
	// The demo DEM holds whole metres: a Float32 DEM with fractions and
	// heights below sea level, read bilinear.
	path := writeCOG(t, "float-dem", filled(32633, [6]float64{380000, 30, 0, 5250000, 0, -30}, 600, 500, godal.Float32, 1,
		func(x, y, _ int) float64 {
			return -420.3 + 1234.567*math.Sin(float64(x)/37)*math.Cos(float64(y)/23) + float64(x*y)/1000 + 0.001*float64(x)
		}))
	fr := newReader(t, cog.Options{Path: path, Resampling: "bilinear"})
	roundTrip(t, fr, sampleTiles(fr, fr.Schema().MaxZoom))
}

// roundTrip checks both encodings on tiles of r and returns the number of
// masked pixels seen.
func roundTrip(t *testing.T, r *cog.Reader, list []tiles.Tile) (masked int) {
	t.Helper()
	for _, c := range []struct {
		alg    string
		decode func(r, g, b uint8) float64
		tol    float64
	}{
		{"terrainrgb", algorithm.DecodeTerrainRGB, 0.05 + 1e-9},
		{"terrarium", algorithm.DecodeTerrarium, 1.0/512 + 1e-9},
	} {
		for _, tile := range list {
			raw := mustRun(t, r, tile, "")
			enc := mustRun(t, r, tile, "algorithm="+c.alg)
			if enc.DType != "uint8" || len(enc.Bands) != 3 {
				t.Fatalf("%s: %s with %d bands", c.alg, enc.DType, len(enc.Bands))
			}
			img := decodePNG(t, enc)
			valid, worst := 0, 0.0
			for i := range raw.Mask {
				p := img.Pix[4*i : 4*i+4]
				if raw.Mask[i] == 0 {
					masked++
					if p[3] != 0 {
						t.Fatalf("%s %s pixel %d: opaque where the DEM has no data", c.alg, tile, i)
					}
					continue
				}
				if p[3] != raw.Mask[i] {
					t.Fatalf("%s %s pixel %d: alpha %d, mask %d", c.alg, tile, i, p[3], raw.Mask[i])
				}
				valid++
				d := math.Abs(c.decode(p[0], p[1], p[2]) - raw.Bands[0][i])
				worst = math.Max(worst, d)
				if d > c.tol {
					t.Fatalf("%s %s pixel %d: decodes to %v, height %v", c.alg, tile, i, c.decode(p[0], p[1], p[2]), raw.Bands[0][i])
				}
			}
			t.Logf("%s %s: %d pixels, largest error %.6f m", c.alg, tile, valid, worst)
		}
	}
	return masked
}

// BenchmarkTilePlain and BenchmarkTileExpression read the same tile of the
// demo RGB COG (nearest: the direct path), as a plain RGB tile and as a
// normalized difference of two of its bands; png adds the encoding.
func BenchmarkTilePlain(b *testing.B) { benchTile(b, cog.Options{Path: demoRGB(b)}, "") }

func BenchmarkTileExpression(b *testing.B) {
	benchTile(b, cog.Options{Path: demoRGB(b)}, "expression="+url.QueryEscape("(b3-b1)/(b3+b1)"))
}

// BenchmarkTileDEM reads a tile of the demo DEM (bilinear, as config.yaml
// serves it) plain and through the algorithms.
func BenchmarkTileDEM(b *testing.B) {
	for _, q := range []string{"plain", "hillshade", "slope", "terrainrgb"} {
		b.Run(q, func(b *testing.B) {
			query := "algorithm=" + q
			if q == "plain" {
				query = ""
			}
			benchTile(b, cog.Options{Path: demoDEM(b), Resampling: "bilinear"}, query)
		})
	}
}

func benchTile(b *testing.B, o cog.Options, query string) {
	r := cog.New(o)
	defer r.Close()
	tile := sampleTiles(r, r.Schema().MaxZoom-1)[0]
	mustRun(b, r, tile, query).Release() // the handle opened, the file checked
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			mustRun(b, r, tile, query).Release()
		}
	})
	b.Run("png", func(b *testing.B) {
		for b.Loop() {
			ras := mustRun(b, r, tile, query)
			if _, _, err := render.Encode(ras, "png", render.Options{}); err != nil {
				b.Fatal(err)
			}
			ras.Release()
		}
	})
}

// TestExpressionReadsItsBands serves a VRT whose band 2 cannot be read (its
// file is missing): an expression of bands 1 and 3 is served all the same,
// read by the direct path, while one of band 2 fails.
func TestExpressionReadsItsBands(t *testing.T) {
	src := demoRGB(t)
	dir := t.TempDir()
	vrt := filepath.Join(dir, "broken.vrt")
	out, err := exec.Command("gdalbuildvrt", "-q", "-separate", "-b", "1", vrt, src).CombinedOutput()
	if err != nil {
		t.Fatalf("gdalbuildvrt: %v\n%s", err, out)
	}
	ds, err := godal.Open(vrt)
	if err != nil {
		t.Fatal(err)
	}
	w, h := ds.Structure().SizeX, ds.Structure().SizeY
	ds.Close()
	band := func(n int, file string) string {
		return fmt.Sprintf(`<VRTRasterBand dataType="Byte" band="%d"><SimpleSource><SourceFilename relativeToVRT="0">%s</SourceFilename>`+
			`<SourceBand>%d</SourceBand><SrcRect xOff="0" yOff="0" xSize="%d" ySize="%d"/><DstRect xOff="0" yOff="0" xSize="%d" ySize="%d"/></SimpleSource></VRTRasterBand>`,
			n, file, n, w, h, w, h)
	}
	b, err := os.ReadFile(vrt)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	head := text[:strings.Index(text, "<VRTRasterBand")]
	text = head + band(1, src) + band(2, filepath.Join(dir, "missing.tif")) + band(3, src) + "</VRTDataset>\n"
	if err := os.WriteFile(vrt, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newReader(t, cog.Options{Path: vrt})
	tile := sampleTiles(r, r.Schema().MaxZoom)[0]
	got := mustRun(t, r, tile, "expression="+url.QueryEscape("b3-b1"))
	if valid(got) == 0 {
		t.Fatal("b3-b1: an empty tile")
	}
	if direct, _ := r.Reads(); direct == 0 {
		t.Error("the tile was not read by the direct path")
	}
	for _, q := range []string{"expression=b2", ""} { // b2, and all bands
		if _, err := run(t, r, tile, q); err == nil {
			t.Errorf("%q, reading band 2 whose file is missing: no error", q)
		}
	}
}
