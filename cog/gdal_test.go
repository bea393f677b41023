package cog_test

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// shared holds files written once for the whole package's tests and benchmarks.
var shared string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cog-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// demoDEM writes the demo DEM (demo.Elevation) once and returns its path.
func demoDEM(t testing.TB) string {
	t.Helper()
	p, err := writeDemoDEM()
	if err != nil {
		t.Fatalf("demo DEM: %v", err)
	}
	return p
}

var writeDemoDEM = sync.OnceValues(func() (string, error) {
	p := filepath.Join(shared, "elevation.tif")
	return p, demo.WriteCOG(p, demo.Elevation())
})

// writeCOG writes g as name.tif under a fresh temp dir and returns its path.
func writeCOG(t testing.TB, name string, g demo.Grid) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".tif")
	if err := demo.WriteCOG(p, g); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	return p
}

// filled is a grid of w×h pixels whose bands hold f(x, y, band).
func filled(epsg int, gt [6]float64, w, h int, dt godal.DataType, nbands int, f func(x, y, b int) float64) demo.Grid {
	g := demo.Grid{EPSG: epsg, GeoTransform: gt, Width: w, Height: h, DType: dt}
	for b := 0; b < nbands; b++ {
		band := make([]float64, w*h)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				band[y*w+x] = f(x, y, b)
			}
		}
		g.Bands = append(g.Bands, band)
	}
	return g
}

// warped is a tile as gdalwarp writes it: the bands and the alpha band.
type warped struct {
	bands [][]float64
	alpha []uint8
}

// gdalwarpTile runs the gdalwarp program on one tile of path, the reference every
// tile read is held to. extra comes before the file names, e.g. "-ovr", "AUTO".
func gdalwarpTile(t testing.TB, path string, tile tiles.Tile, size int, resampling string, extra ...string) warped {
	t.Helper()
	b := tile.Mercator()
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	out := filepath.Join(t.TempDir(), fmt.Sprintf("ref-%d-%d-%d.tif", tile.Z, tile.X, tile.Y))
	args := []string{"-q", "-of", "GTiff", "-t_srs", "EPSG:3857",
		"-te", f(b.MinX), f(b.MinY), f(b.MaxX), f(b.MaxY),
		"-ts", strconv.Itoa(size), strconv.Itoa(size), "-r", resampling, "-dstalpha"}
	args = append(args, extra...)
	args = append(args, path, out)
	cmd := exec.Command("gdalwarp", args...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gdalwarp %v: %v\n%s", args, err, msg)
	}
	ds, err := godal.Open(out)
	if err != nil {
		t.Fatalf("open gdalwarp output: %v", err)
	}
	defer ds.Close()
	bands := ds.Bands()
	w := warped{alpha: make([]uint8, size*size)}
	for _, band := range bands[:len(bands)-1] {
		v := make([]float64, size*size)
		if err := band.Read(0, 0, v, size, size); err != nil {
			t.Fatal(err)
		}
		w.bands = append(w.bands, v)
	}
	if err := bands[len(bands)-1].Read(0, 0, w.alpha, size, size); err != nil {
		t.Fatal(err)
	}
	return w
}

// sameAsGDAL fails t unless the raster has the reference's valid pixels, and their
// values within tol.
func sameAsGDAL(t testing.TB, got *layer.Raster, want warped, tol float64) {
	t.Helper()
	closeToGDAL(t, got, want, tol, 0)
}

// closeToGDAL is sameAsGDAL allowing a share of the valid pixels to differ:
// for tiles whose coordinates come from the lattice (lattice.go), held to
// gdalwarp with exact coordinates (-et 0), where a pixel whose coordinates
// lie within the lattice's error of a source pixel's edge may take the
// other side.
func closeToGDAL(t testing.TB, got *layer.Raster, want warped, tol, share float64) {
	t.Helper()
	if len(got.Bands) != len(want.bands) {
		t.Fatalf("got %d bands, gdalwarp wrote %d", len(got.Bands), len(want.bands))
	}
	valid, bad := 0, 0
	var first []string
	note := func(format string, args ...any) {
		if bad++; bad <= 5 {
			first = append(first, fmt.Sprintf(format, args...))
		}
	}
	for i := range want.alpha {
		if (got.Mask[i] > 0) != (want.alpha[i] > 0) {
			note("pixel %d,%d: mask %d, gdalwarp alpha %d", i%got.Width, i/got.Width, got.Mask[i], want.alpha[i])
			continue
		}
		if want.alpha[i] == 0 {
			continue
		}
		valid++
		for b := range want.bands {
			g, w := got.Bands[b][i], want.bands[b][i]
			if math.Abs(g-w) > tol && !(math.IsNaN(g) && math.IsNaN(w)) {
				note("band %d pixel %d,%d: %v, gdalwarp %v", b+1, i%got.Width, i/got.Width, g, w)
			}
		}
	}
	if float64(bad) > share*float64(valid) {
		for _, m := range first {
			t.Error(m)
		}
		t.Errorf("%d pixels differ from gdalwarp (%d valid; %.2g%% allowed)", bad, valid, 100*share)
	} else if bad > 0 {
		t.Logf("%d of %d pixels differ from gdalwarp (%.2g%% allowed)", bad, valid, 100*share)
	}
}

// read reads one tile and fails t on error.
func read(t testing.TB, r *cog.Reader, tile tiles.Tile, o cog.TileOptions) *layer.Raster {
	t.Helper()
	if o.Size == 0 {
		o.Size = 256
	}
	if o.Resampling == "" {
		o.Resampling = "nearest"
	}
	ras, err := r.ReadTile(tile, o)
	if err != nil {
		t.Fatalf("tile %s: %v", tile, err)
	}
	if ras.Width != o.Size || ras.Height != o.Size || len(ras.Mask) != o.Size*o.Size {
		t.Fatalf("tile %s: %dx%d with %d mask pixels, want %dx%d", tile, ras.Width, ras.Height, len(ras.Mask), o.Size, o.Size)
	}
	return ras
}

// newReader opens path and fails t unless the file can be served.
func newReader(t testing.TB, opts cog.Options) *cog.Reader {
	t.Helper()
	r := cog.New(opts)
	t.Cleanup(r.Close)
	if err := r.Status(); err != nil {
		t.Fatalf("status: %v", err)
	}
	return r
}

// sampleTiles picks tiles of zoom z over the layer: the corners of the covering
// range (at the data's edge) and its middle (inside).
func sampleTiles(r *cog.Reader, z int) []tiles.Tile {
	rg := tiles.Cover(r.Schema().Bounds, z)
	seen := map[tiles.Tile]bool{}
	var out []tiles.Tile
	for _, t := range []tiles.Tile{
		{Z: z, X: (rg.MinX + rg.MaxX) / 2, Y: (rg.MinY + rg.MaxY) / 2},
		{Z: z, X: rg.MinX, Y: rg.MinY}, {Z: z, X: rg.MaxX, Y: rg.MaxY},
		{Z: z, X: rg.MaxX, Y: rg.MinY}, {Z: z, X: rg.MinX, Y: rg.MaxY},
	} {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// valid counts the pixels whose mask is not 0.
func valid(ras *layer.Raster) int {
	n := 0
	for _, m := range ras.Mask {
		if m > 0 {
			n++
		}
	}
	return n
}

// sameRaster reports whether two tiles have the same shape, bands and mask.
func sameRaster(a, b *layer.Raster) bool {
	if a.Width != b.Width || a.Height != b.Height || a.DType != b.DType || len(a.Bands) != len(b.Bands) || !slices.Equal(a.Mask, b.Mask) {
		return false
	}
	for i := range a.Bands {
		if !slices.EqualFunc(a.Bands[i], b.Bands[i], func(x, y float64) bool { return x == y || x != x && y != y }) {
			return false
		}
	}
	return true
}
