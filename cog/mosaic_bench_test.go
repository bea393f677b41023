package cog_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/tiles"
)

// benchMosaicFiles is the size of the benchmark's mosaic.
const benchCols, benchRows = 25, 20

var benchOpen = 64

// benchMosaic writes, once per machine (under the system's temp folder,
// kept between runs), the benchmark's 500 COGs: the test mosaic's layout
// (mosaic_test.go) over 25×20 cells, 256 px a file; and the one-file
// references: one COG covering the same area at the same resolution in
// EPSG:4326, and the same warped to UTM 33N (gdalwarp).
func benchMosaic(b *testing.B) (files []string, one, oneUTM string) {
	b.Helper()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("udftiles-bench-mosaic-%dx%d", benchCols, benchRows))
	done := filepath.Join(dir, "done")
	one, oneUTM = filepath.Join(dir, "one.tif"), filepath.Join(dir, "one-utm.tif")
	if _, err := os.Stat(done); err != nil {
		b.Logf("writing %d COGs into %s (once)", benchCols*benchRows, dir)
		if _, err := writeMosaic(dir, benchCols, benchRows, 256); err != nil {
			b.Fatal(err)
		}
		res := mosaicSpan / 256
		w, h := int((mosaicCell*(benchCols-1)+mosaicSpan)/res), int((mosaicCell*(benchRows-1)+mosaicSpan)/res)
		g := filled(4326, [6]float64{mosaicLon, res, 0, mosaicLat, 0, -res}, w, h, godal.Byte, 1, func(x, y, _ int) float64 { return float64(1 + (x+y)%200) })
		if err := demo.WriteCOG(one, g); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(done, nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := os.Stat(oneUTM); err != nil {
		tmp := oneUTM + ".tmp.tif"
		if msg, err := exec.Command("gdalwarp", "-q", "-overwrite", "-t_srs", "EPSG:32633", "-tr", "31.25", "31.25", "-r", "near",
			"-of", "COG", "-co", "COMPRESS=DEFLATE", one, tmp).CombinedOutput(); err != nil {
			b.Fatalf("gdalwarp: %v\n%s", err, msg)
		}
		if err := os.Rename(tmp, oneUTM); err != nil {
			b.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "f*.tif"))
	if err != nil || len(files) != benchCols*benchRows {
		b.Fatalf("%d files in %s (%v): remove the folder to write them again", len(files), dir, err)
	}
	slices.Sort(files)
	return files, one, oneUTM
}

// BenchmarkMosaicTile reads 256 px tiles of zoom 12 over a mosaic of 500
// COGs in two CRSs (each tile meets 4 to 9 files; at most 64 open at
// once), walking the tiles in turn, and the same tiles of one COG covering
// the area, in EPSG:4326 (read by the direct path) and in UTM 33N (warped);
// p50 and p99 are of single tiles. No encoding: the read and the
// combination alone.
func BenchmarkMosaicTile(b *testing.B) {
	files, one, oneUTM := benchMosaic(b)
	twelve := 12
	var set []tiles.Tile
	west, north := mosaicLon+0.05, mosaicLat-0.05
	east, south := mosaicLon+mosaicCell*(benchCols-1)+mosaicSpan-0.05, mosaicLat-mosaicCell*(benchRows-1)-mosaicSpan+0.05
	tiles.Cover(tiles.Bounds{MinX: west, MinY: south, MaxX: east, MaxY: north}, 12).Each(func(t tiles.Tile) bool {
		set = append(set, t)
		return true
	})
	o := cog.TileOptions{Size: 256, Resampling: "nearest"}
	run := func(b *testing.B, read func(tiles.Tile) error) {
		// One walk first: the files' footprints and first handles are not timed.
		for _, t := range set {
			if err := read(t); err != nil {
				b.Fatal(err)
			}
		}
		times := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			if err := read(set[i%len(set)]); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(start))
		}
		b.StopTimer()
		slices.Sort(times)
		ms := func(q float64) float64 { return float64(times[int(q*float64(len(times)-1))]) / 1e6 }
		b.ReportMetric(ms(0.50), "p50-ms")
		b.ReportMetric(ms(0.99), "p99-ms")
		b.ReportMetric(float64(len(set)), "tiles/walk")
	}
	for _, method := range []string{"first", "mean"} {
		b.Run("mosaic500/"+method, func(b *testing.B) {
			m := cog.NewMosaic(cog.MosaicOptions{Paths: files, MaxZoom: &twelve, MaxOpen: benchOpen})
			defer m.Close()
			if err := m.Status(); err != nil {
				b.Fatal(err)
			}
			before := m.Reads()
			run(b, func(t tiles.Tile) error {
				ras, err := m.ReadTile(context.Background(), t, o, method)
				ras.Release()
				return err
			})
			b.ReportMetric(float64(m.Reads()-before)/float64(b.N+len(set)), "files/tile")
		})
	}
	for _, ref := range [][2]string{{"onefile", one}, {"onefile-utm", oneUTM}} {
		path := ref[1]
		b.Run(ref[0], func(b *testing.B) {
			r := cog.New(cog.Options{Path: path, MaxZoom: &twelve})
			defer r.Close()
			run(b, func(t tiles.Tile) error {
				ras, err := r.ReadTile(t, o)
				ras.Release()
				return err
			})
		})
	}
}
