package cog_test

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/render"
	"github.com/udftiles/udftiles/tiles"
)

// BenchmarkProcessTiles times served tiles one by one, plain and computed,
// and their peers, over blocks of warm tiles of the demo files: each round
// reads every tile once of each kind, the kinds interleaved so that they
// share the machine's moods. It reports each kind's median and the ratios
// issue 20 asks for: an expression tile over a plain one (read, read and
// encoded as png, read with bilinear), and a hillshade tile over GDAL's own (the same
// window warped in-process and gdaldem's hillshade by DEMProcessing, and
// the gdalwarp and gdaldem programs run per tile). b.N is the rounds
// (bench/raster.sh: -benchtime 30x); with $BENCH_RASTER_OUT set, a
// Markdown table is written there.
func BenchmarkProcessTiles(b *testing.B) {
	rgbPath, demPath := demoRGB(b), demoDEM(b)
	rgb := cog.New(cog.Options{Path: rgbPath})
	defer rgb.Close()
	rgbWarp := cog.New(cog.Options{Path: rgbPath, Resampling: "bilinear"})
	defer rgbWarp.Close()
	dem := cog.New(cog.Options{Path: demPath, Resampling: "bilinear"})
	defer dem.Close()
	rgbTiles := tileBlock(rgb, rgb.Schema().MaxZoom-1, 4)
	demTiles := tileBlock(dem, dem.Schema().MaxZoom, 4)
	ndi := "expression=" + url.QueryEscape("(b3-b1)/(b3+b1)")
	ndiStyle := url.Values{"rescale": {"-1,1"}, "colormap": {"rdylgn"}}
	demStyle := url.Values{"rescale": {"0,3000"}, "colormap": {"plasma"}}
	src, err := godal.Open(demPath)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	tmp := b.TempDir()
	kinds := []benchKind{
		{key: "rgb-plain-read", name: "rgb plain, read (direct path)", tiles: rgbTiles, run: tileRun(b, rgb, "", nil)},
		{key: "rgb-expr-read", name: "rgb (b3-b1)/(b3+b1), read (direct path)", tiles: rgbTiles, run: tileRun(b, rgb, ndi, nil)},
		{key: "rgb-plain-png", name: "rgb plain, png", tiles: rgbTiles, run: tileRun(b, rgb, "", url.Values{})},
		{key: "rgb-expr-png", name: "rgb (b3-b1)/(b3+b1), png (rescale, colormap)", tiles: rgbTiles, run: tileRun(b, rgb, ndi, ndiStyle)},
		{key: "rgb-plain-bilinear", name: "rgb plain, read (bilinear)", tiles: rgbTiles, run: tileRun(b, rgbWarp, "", nil)},
		{key: "rgb-expr-bilinear", name: "rgb (b3-b1)/(b3+b1), read (bilinear)", tiles: rgbTiles, run: tileRun(b, rgbWarp, ndi, nil)},
		{key: "dem-plain-read", name: "DEM plain, read (bilinear)", tiles: demTiles, run: tileRun(b, dem, "", nil)},
		{key: "dem-plain-png", name: "DEM plain, png (rescale, colormap)", tiles: demTiles, run: tileRun(b, dem, "", demStyle)},
		{key: "dem-hillshade-read", name: "DEM hillshade, read", tiles: demTiles, run: tileRun(b, dem, "algorithm=hillshade", nil)},
		{key: "dem-hillshade-png", name: "DEM hillshade, png", tiles: demTiles, run: tileRun(b, dem, "algorithm=hillshade", url.Values{})},
		{key: "gdal-hillshade", name: "GDAL in-process: warp + DEMProcessing hillshade", tiles: demTiles, run: func(t tiles.Tile) error { return gdalHillshade(src, t) }},
		{key: "gdaldem-cli", name: "gdalwarp + gdaldem hillshade programs", tiles: demTiles[:4], run: func(t tiles.Tile) error { return gdaldemHillshade(demPath, tmp, t) }},
	}
	for _, k := range kinds { // warm: handles open, grids built
		for _, t := range k.tiles {
			if err := k.run(t); err != nil {
				b.Fatalf("%s %s: %v", k.name, t, err)
			}
		}
	}
	b.ResetTimer()
	times := make([][]time.Duration, len(kinds))
	for range b.N {
		for i := range 16 {
			for k, kind := range kinds {
				if i >= len(kind.tiles) {
					continue
				}
				t0 := time.Now()
				if err := kind.run(kind.tiles[i]); err != nil {
					b.Fatal(err)
				}
				times[k] = append(times[k], time.Since(t0))
			}
		}
	}
	b.StopTimer()
	p50 := make([]float64, len(kinds))
	var md strings.Builder
	fmt.Fprintf(&md, "| tile (256 px, warm) | p50 ms | p90 ms | tiles timed |\n| --- | --- | --- | --- |\n")
	for k, kind := range kinds {
		p50[k] = quantile(times[k], 0.5)
		fmt.Fprintf(&md, "| %s | %.3f | %.3f | %d |\n", kind.name, p50[k], quantile(times[k], 0.9), len(times[k]))
		b.ReportMetric(p50[k], kind.key+"-p50-ms")
	}
	ratios := []struct {
		name, metric string
		num, den     int
	}{
		{"expression / plain, read (direct path)", "expr/plain-read", 1, 0},
		{"expression / plain, png", "expr/plain-png", 3, 2},
		{"expression / plain, read (bilinear)", "expr/plain-bilinear", 5, 4},
		{"hillshade / plain DEM, read", "hillshade/plain", 8, 6},
		{"hillshade / GDAL in-process (warp + DEMProcessing)", "hillshade/gdal", 8, 10},
		{"hillshade / gdalwarp + gdaldem programs", "hillshade/gdaldem-cli", 8, 11},
	}
	fmt.Fprintf(&md, "\n| ratio of medians | |\n| --- | --- |\n")
	for _, r := range ratios {
		v := p50[r.num] / p50[r.den]
		fmt.Fprintf(&md, "| %s | %.3g |\n", r.name, v)
		b.ReportMetric(v, r.metric)
	}
	b.Logf("\n%s", md.String())
	if out := os.Getenv("BENCH_RASTER_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(md.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

type benchKind struct {
	key   string // the metric's name
	name  string
	tiles []tiles.Tile
	run   func(tiles.Tile) error
}

// tileBlock is an n×n block of tiles of zoom z in the middle of the layer.
func tileBlock(r *cog.Reader, z, n int) []tiles.Tile {
	rg := tiles.Cover(r.Schema().Bounds, z)
	x0, y0 := (rg.MinX+rg.MaxX)/2-n/2, (rg.MinY+rg.MaxY)/2-n/2
	var out []tiles.Tile
	for y := y0; y < y0+n; y++ {
		for x := x0; x < x0+n; x++ {
			out = append(out, tiles.Tile{Z: z, X: x, Y: y})
		}
	}
	return out
}

// tileRun reads a tile as the tile service does, and encodes it as png
// with the style given (nil: not encoded).
func tileRun(tb testing.TB, r *cog.Reader, query string, style url.Values) func(tiles.Tile) error {
	var st render.Style
	if style != nil {
		var err error
		if st, err = render.ParseStyle(style, nil); err != nil {
			tb.Fatal(err)
		}
	}
	return func(t tiles.Tile) error {
		ras, err := run(tb, r, t, query)
		if err != nil {
			return err
		}
		defer ras.Release()
		if style != nil {
			_, _, err = render.Encode(ras, "png", render.Options{Style: st})
		}
		return err
	}
}

// gdalHillshade is what a server built on GDAL alone does for a hillshade
// tile: warp the tile and a one-pixel border (bilinear, full resolution,
// as the reader reads it) into memory, DEMProcessing's hillshade, and read
// the tile's pixels.
func gdalHillshade(src *godal.Dataset, t tiles.Tile) error {
	b := t.Mercator()
	p := (b.MaxX - b.MinX) / 256
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	w, err := src.Warp("", []string{"-of", "MEM", "-t_srs", "EPSG:3857", "-te", f(b.MinX - p), f(b.MinY - p), f(b.MaxX + p), f(b.MaxY + p),
		"-ts", "258", "258", "-r", "bilinear", "-ovr", "NONE", "-dstnodata", "-32768"})
	if err != nil {
		return err
	}
	defer w.Close()
	hs, err := w.Dem("", "hillshade", "", []string{"-of", "MEM"})
	if err != nil {
		return err
	}
	defer hs.Close()
	out := make([]uint8, 256*256)
	return hs.Bands()[0].Read(1, 1, out, 256, 256)
}

// gdaldemHillshade runs the gdalwarp and gdaldem programs for the tile, as
// a server shelling out to them per tile would.
func gdaldemHillshade(path, dir string, t tiles.Tile) error {
	b := t.Mercator()
	p := (b.MaxX - b.MinX) / 256
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	warped, shaded := filepath.Join(dir, "w.tif"), filepath.Join(dir, "h.tif")
	if out, err := exec.Command("gdalwarp", "-q", "-overwrite", "-t_srs", "EPSG:3857", "-te", f(b.MinX-p), f(b.MinY-p), f(b.MaxX+p), f(b.MaxY+p),
		"-ts", "258", "258", "-r", "bilinear", "-ovr", "NONE", "-dstnodata", "-32768", path, warped).CombinedOutput(); err != nil {
		return fmt.Errorf("gdalwarp: %v: %s", err, out)
	}
	if out, err := exec.Command("gdaldem", "hillshade", "-q", warped, shaded).CombinedOutput(); err != nil {
		return fmt.Errorf("gdaldem: %v: %s", err, out)
	}
	return nil
}

// quantile is the q-quantile of d in milliseconds.
func quantile(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1)+0.5)]) / 1e6
}
