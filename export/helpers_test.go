package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/udftiles/udftiles/internal/miniotest"
	"github.com/udftiles/udftiles/tiles"
)

// The pmtiles CLI the tests verify archives with, built once into tools/.
const (
	pmtilesModule  = "github.com/protomaps/go-pmtiles"
	pmtilesVersion = "v1.31.2"
)

// pmtilesCLI returns <repo>/tools/pmtiles, building it first if missing:
//
//	mkdir -p tools/pmtiles-src && cd tools/pmtiles-src && go mod init tools &&
//	go get -tool github.com/protomaps/go-pmtiles@v1.31.2 &&
//	go build -o ../pmtiles github.com/protomaps/go-pmtiles
//
// Builds are serialised by an flock on tools/.pmtiles.lock (test binaries of
// several packages may run at once) and renamed into place, like MinIO's in
// internal/miniotest. A failed build fails the test; it never skips.
func pmtilesCLI(t testing.TB) string {
	t.Helper()
	root, err := miniotest.RepoRoot()
	if err != nil {
		t.Fatalf("pmtiles CLI: %v", err)
	}
	tools := filepath.Join(root, "tools")
	bin := filepath.Join(tools, "pmtiles")
	if executable(bin) {
		return bin
	}
	if err := os.MkdirAll(tools, 0o755); err != nil {
		t.Fatalf("pmtiles CLI: %v", err)
	}
	lock, err := os.OpenFile(filepath.Join(tools, ".pmtiles.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("pmtiles CLI: %v", err)
	}
	defer lock.Close()
	for {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		t.Fatalf("pmtiles CLI: locking %s: %v", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if executable(bin) {
		return bin
	}
	t.Logf("building %s@%s into %s (a few minutes the first time)", pmtilesModule, pmtilesVersion, bin)
	start := time.Now()
	src := filepath.Join(tools, "pmtiles-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatalf("pmtiles CLI: %v", err)
	}
	tmp, err := os.MkdirTemp(tools, ".pmtiles-build-")
	if err != nil {
		t.Fatalf("pmtiles CLI: %v", err)
	}
	defer os.RemoveAll(tmp)
	steps := [][]string{
		{"get", "-tool", pmtilesModule + "@" + pmtilesVersion},
		{"build", "-o", filepath.Join(tmp, "pmtiles"), pmtilesModule},
	}
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		steps = append([][]string{{"mod", "init", "tools"}}, steps...)
	}
	goCmd := "go"
	if p, err := exec.LookPath("go"); err == nil {
		goCmd = p
	}
	for _, args := range steps {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		cmd := exec.CommandContext(ctx, goCmd, args...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("pmtiles CLI: go %s (in %s): %v\n%s", strings.Join(args, " "), src, err, out)
		}
	}
	if err := os.Rename(filepath.Join(tmp, "pmtiles"), bin); err != nil {
		t.Fatalf("pmtiles CLI: %v", err)
	}
	t.Logf("built the pmtiles CLI in %s", time.Since(start).Round(time.Second))
	return bin
}

func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// run runs a command, failing the test with its output if it fails.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := runOut(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runOut(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

// pmtilesVerify runs `pmtiles verify`, which logs some problems without
// failing: any "Invalid" line fails the test too.
func pmtilesVerify(t testing.TB, file string) {
	t.Helper()
	out := run(t, pmtilesCLI(t), "verify", file)
	if strings.Contains(out, "Invalid") || !strings.Contains(out, "Completed verify") {
		t.Fatalf("pmtiles verify %s:\n%s", file, out)
	}
}

// pngTile is a 256×256 PNG of one colour.
func pngTile(t testing.TB, c color.NRGBA) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 256, 256))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tileColour is a colour that differs from tile to tile.
func tileColour(tl tiles.Tile) color.NRGBA {
	return color.NRGBA{R: uint8(40 + tl.Z*50), G: uint8(tl.X * 37), B: uint8(tl.Y * 59), A: 255}
}

// mvtTile is a real vector tile: a layer "places" with n points across the
// middle of the tile, each with a name and a rank.
func mvtTile(t testing.TB, tl tiles.Tile, n int) []byte {
	t.Helper()
	b := tl.LonLat()
	fc := geojson.NewFeatureCollection()
	for i := 0; i < n; i++ {
		lon := b.MinX + (b.MaxX-b.MinX)*(float64(i)+0.5)/float64(n)
		lat := (b.MinY + b.MaxY) / 2
		f := geojson.NewFeature(orb.Point{lon, lat})
		f.Properties["name"] = fmt.Sprintf("%s#%d", tl, i)
		f.Properties["rank"] = i
		fc.Append(f)
	}
	layers := mvt.NewLayers(map[string]*geojson.FeatureCollection{"places": fc})
	layers.ProjectToTile(maptile.New(uint32(tl.X), uint32(tl.Y), maptile.Zoom(tl.Z)))
	data, err := mvt.Marshal(layers)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// pyramid lists the tiles of zooms minz..maxz.
func pyramid(minz, maxz int) []tiles.Tile {
	var ts []tiles.Tile
	for z := minz; z <= maxz; z++ {
		for x := 0; x < 1<<z; x++ {
			for y := 0; y < 1<<z; y++ {
				ts = append(ts, tiles.Tile{Z: z, X: x, Y: y})
			}
		}
	}
	return ts
}

// readAll reads every tile of path into a map.
func readAll(t testing.TB, path string) map[tiles.Tile][]byte {
	t.Helper()
	got := map[tiles.Tile][]byte{}
	err := ReadAll(path, func(tl tiles.Tile, data []byte) error {
		if _, dup := got[tl]; dup {
			return fmt.Errorf("tile %s read twice", tl)
		}
		got[tl] = bytes.Clone(data)
		return nil
	})
	if err != nil {
		t.Fatalf("ReadAll %s: %v", path, err)
	}
	return got
}

// sameTiles fails the test unless got holds exactly want.
func sameTiles(t testing.TB, what string, got, want map[tiles.Tile][]byte) {
	t.Helper()
	if len(got) != len(want) {
		missing, extra := 0, 0
		for k := range want {
			if _, ok := got[k]; !ok {
				missing++
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				extra++
			}
		}
		t.Fatalf("%s: %d tiles, want %d (%d missing, %d extra)", what, len(got), len(want), missing, extra)
	}
	for _, k := range slices.SortedFunc(maps.Keys(want), cmpTile) {
		if !bytes.Equal(got[k], want[k]) {
			t.Fatalf("%s: tile %s has %d bytes that differ from the %d put", what, k, len(got[k]), len(want[k]))
		}
	}
}

func cmpTile(a, b tiles.Tile) int {
	if a.Z != b.Z {
		return a.Z - b.Z
	}
	if a.X != b.X {
		return a.X - b.X
	}
	return a.Y - b.Y
}

// putAll puts tiles, failing the test on error.
func putAll(t testing.TB, s Sink, want map[tiles.Tile][]byte) {
	t.Helper()
	for _, k := range slices.SortedFunc(maps.Keys(want), cmpTile) {
		if err := s.Put(k, want[k]); err != nil {
			t.Fatalf("Put %s: %v", k, err)
		}
	}
}

func mustOpen(t testing.TB, dest, format string) Sink {
	t.Helper()
	s, err := Open(dest, format)
	if err != nil {
		t.Fatalf("Open %s: %v", dest, err)
	}
	return s
}

func mustNotExist(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s exists (or stat failed: %v), want it absent", path, err)
	}
}

// mustHave fails the test unless Has reports each tile as want.
func mustHave(t testing.TB, s Sink, want bool, ts ...tiles.Tile) {
	t.Helper()
	for _, tl := range ts {
		got, err := s.Has(tl)
		if err != nil {
			t.Fatalf("Has %s: %v", tl, err)
		}
		if got != want {
			t.Fatalf("Has %s = %v, want %v", tl, got, want)
		}
	}
}
