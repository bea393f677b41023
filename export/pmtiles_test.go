package export

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/protomaps/go-pmtiles/pmtiles"
	"github.com/udftiles/udftiles/tiles"
)

// pmHeader reads an archive's header.
func pmHeader(t testing.TB, path string) pmtiles.HeaderV3 {
	t.Helper()
	r, err := openPMReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return r.h
}

func TestPMTilesMVTVerifiedByCLI(t *testing.T) {
	cli := pmtilesCLI(t)
	dest := filepath.Join(t.TempDir(), "places.pmtiles")
	s := mustOpen(t, dest, "mvt")
	want := map[tiles.Tile][]byte{}
	for _, tl := range pyramid(0, 2) {
		want[tl] = mvtTile(t, tl, 2)
	}
	// Zoom 3 is mostly "ocean": one tile repeated, which run-length entries
	// cover where TileIDs are consecutive; two other tiles break the runs.
	ocean := mvtTile(t, tiles.Tile{Z: 0}, 1)
	for _, tl := range pyramid(3, 3) {
		want[tl] = ocean
	}
	want[tiles.Tile{Z: 3, X: 2, Y: 5}] = mvtTile(t, tiles.Tile{Z: 3, X: 2, Y: 5}, 4)
	want[tiles.Tile{Z: 3, X: 6, Y: 1}] = mvtTile(t, tiles.Tile{Z: 3, X: 6, Y: 1}, 4)
	putAll(t, s, want)
	b := tiles.Bounds{MinX: -170, MinY: -60, MaxX: 170, MaxY: 75}
	m := Metadata{Name: "Places", Description: "points", Attribution: "© us", MinZoom: 0, MaxZoom: 3, Bounds: b,
		VectorLayers: []VectorLayer{{ID: "places", Fields: map[string]string{"name": "String"}, MinZoom: 0, MaxZoom: 3}}}
	if err := s.Finish(m); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, dest+".part")
	mustNotExist(t, dest+".part.lock")
	st := s.Stats()
	if st.Tiles != 85 || st.Unique != 24 || st.Duplicates != 61 {
		t.Errorf("stats %+v, want 85 tiles, 24 unique (21 + ocean + 2), 61 duplicates", st)
	}

	h := pmHeader(t, dest)
	if h.AddressedTilesCount != 85 || h.TileContentsCount != 24 || h.TileEntriesCount >= 85 || !h.Clustered {
		t.Errorf("header: %d addressed, %d contents, %d entries, clustered %v: want 85, 24, fewer than 85 (runs), true",
			h.AddressedTilesCount, h.TileContentsCount, h.TileEntriesCount, h.Clustered)
	}
	if h.TileType != pmtiles.Mvt || h.TileCompression != pmtiles.NoCompression || h.InternalCompression != pmtiles.Gzip {
		t.Errorf("header: type %d, tile compression %d, internal %d", h.TileType, h.TileCompression, h.InternalCompression)
	}
	t.Logf("85 tiles, 24 contents, %d entries", h.TileEntriesCount)

	pmtilesVerify(t, dest)
	var hj struct {
		TileCompression string    `json:"tile_compression"`
		TileType        string    `json:"tile_type"`
		MinZoom         int       `json:"minzoom"`
		MaxZoom         int       `json:"maxzoom"`
		Bounds          []float64 `json:"bounds"`
		Center          []float64 `json:"center"`
	}
	if err := json.Unmarshal([]byte(run(t, cli, "show", "--header-json", dest)), &hj); err != nil {
		t.Fatal(err)
	}
	if hj.TileType != "mvt" || hj.TileCompression != "none" || hj.MinZoom != 0 || hj.MaxZoom != 3 ||
		fmt.Sprint(hj.Bounds) != "[-170 -60 170 75]" || len(hj.Center) != 3 || hj.Center[0] != 0 || hj.Center[1] != 7.5 {
		t.Errorf("pmtiles show --header-json: %+v", hj)
	}
	show := run(t, cli, "show", dest)
	for _, s := range []string{"tile type: mvt", "min zoom: 0", "max zoom: 3", "bounds: (long: -170.000000, lat: -60.000000) (long: 170.000000, lat: 75.000000)", "addressed tiles count: 85", "tile contents count: 24", "clustered: true"} {
		if !strings.Contains(show, s) {
			t.Errorf("pmtiles show lacks %q:\n%s", s, show)
		}
	}
	var meta map[string]any
	if err := json.Unmarshal([]byte(run(t, cli, "show", "--metadata", dest)), &meta); err != nil {
		t.Fatal(err)
	}
	if meta["name"] != "Places" || meta["attribution"] != "© us" || fmt.Sprint(meta["vector_layers"]) != "[map[fields:map[name:String] id:places maxzoom:3 minzoom:0]]" {
		t.Errorf("pmtiles show --metadata: %v", meta)
	}
	for _, tl := range []tiles.Tile{{Z: 0, X: 0, Y: 0}, {Z: 1, X: 1, Y: 0}, {Z: 2, X: 3, Y: 1}, {Z: 3, X: 0, Y: 0}, {Z: 3, X: 2, Y: 5}, {Z: 3, X: 6, Y: 1}, {Z: 3, X: 7, Y: 7}, {Z: 3, X: 4, Y: 4}} {
		got := run(t, cli, "tile", dest, fmt.Sprint(tl.Z), fmt.Sprint(tl.X), fmt.Sprint(tl.Y))
		if !bytes.Equal([]byte(got), want[tl]) {
			t.Errorf("pmtiles tile %s: %d bytes differ from the %d put", tl, len(got), len(want[tl]))
		}
	}
	sameTiles(t, "ReadAll", readAll(t, dest), want)
	md, err := ReadMetadata(dest)
	if err != nil {
		t.Fatal(err)
	}
	if md.Format != "mvt" || md.Name != "Places" || md.MaxZoom != 3 || md.TileCompression != "none" || len(md.VectorLayers) != 1 {
		t.Errorf("ReadMetadata: %+v", md)
	}
}

// TestPMTilesLeafDirectories: 21845 distinct tiles do not fit a 16 KiB root
// directory, so the archive has leaf directories.
func TestPMTilesLeafDirectories(t *testing.T) {
	cli := pmtilesCLI(t)
	dest := filepath.Join(t.TempDir(), "big.pmtiles")
	s := mustOpen(t, dest, "png")
	want := map[tiles.Tile][]byte{}
	for _, tl := range pyramid(0, 7) {
		want[tl] = []byte(tl.String())
	}
	putAll(t, s, want)
	if err := s.Finish(Metadata{MinZoom: 0, MaxZoom: 7}); err != nil {
		t.Fatal(err)
	}
	h := pmHeader(t, dest)
	if h.LeafDirectoryLength == 0 || h.RootLength > 16384-pmtiles.HeaderV3LenBytes {
		t.Errorf("root %d bytes, leaves %d bytes: want leaf directories", h.RootLength, h.LeafDirectoryLength)
	}
	pmtilesVerify(t, dest)
	for _, tl := range []tiles.Tile{{Z: 7, X: 0, Y: 0}, {Z: 7, X: 127, Y: 127}, {Z: 7, X: 64, Y: 3}, {Z: 6, X: 33, Y: 17}} {
		if got := run(t, cli, "tile", dest, fmt.Sprint(tl.Z), fmt.Sprint(tl.X), fmt.Sprint(tl.Y)); got != tl.String() {
			t.Errorf("pmtiles tile %s = %q", tl, got)
		}
	}
	sameTiles(t, "ReadAll", readAll(t, dest), want)
}

func TestPMTilesResume(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "r.pmtiles")
	all := pyramid(0, 4)
	want := map[tiles.Tile][]byte{}
	for _, tl := range all {
		want[tl] = []byte("t" + tl.String())
	}
	s := mustOpen(t, dest, "webp")
	for _, tl := range all[:100] {
		if err := s.Put(tl, want[tl]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, dest)
	s = mustOpen(t, dest, "webp")
	mustHave(t, s, true, all[:100]...)
	mustHave(t, s, false, all[100:]...)
	for _, tl := range all[100:] {
		if err := s.Put(tl, want[tl]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Finish(Metadata{}); err != nil {
		t.Fatal(err)
	}
	sameTiles(t, "resumed", readAll(t, dest), want)
	pmtilesVerify(t, dest)
	if h := pmHeader(t, dest); h.TileType != pmtiles.Webp || h.MaxZoom != 4 {
		t.Errorf("header type %d max zoom %d", h.TileType, h.MaxZoom)
	}
}

// failingFile fails its writes past limit bytes, as a full disk would.
type failingFile struct {
	*os.File
	limit int
}

func (f *failingFile) Write(p []byte) (int, error) {
	if len(p) > f.limit {
		n, _ := f.File.Write(p[:f.limit])
		f.limit = 0
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	f.limit -= len(p)
	return f.File.Write(p)
}

// TestPMTilesDiskFull makes the archive file fail as on a full disk (see
// TestFullFileSystem for a real one): Finish fails with the write error,
// DEST and the temporary file are absent, the staging database stays and a
// later Finish succeeds.
func TestPMTilesDiskFull(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "full.pmtiles")
	if err := os.WriteFile(dest, []byte("the previous export"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, dest, "png")
	want := map[tiles.Tile][]byte{}
	for _, tl := range pyramid(0, 3) {
		want[tl] = randomBytes(tl, 4096)
	}
	putAll(t, s, want)
	orig := createArchive
	defer func() { createArchive = orig }()
	createArchive = func(dir, pattern string) (archiveFile, error) {
		f, err := os.CreateTemp(dir, pattern)
		if err != nil {
			return nil, err
		}
		return &failingFile{File: f, limit: 100 << 10}, nil
	}
	err := s.Finish(Metadata{})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Finish on a full disk: %v, want ENOSPC", err)
	}
	if b, _ := os.ReadFile(dest); string(b) != "the previous export" {
		t.Errorf("DEST changed by a failed Finish: %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".full.pmtiles"+tmpMark+"*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if _, err := os.Stat(dest + ".part"); err != nil {
		t.Fatalf("staging database: %v", err)
	}
	createArchive = orig
	s = mustOpen(t, dest, "png")
	mustHave(t, s, true, pyramid(0, 3)...)
	if err := s.Finish(Metadata{}); err != nil {
		t.Fatal(err)
	}
	sameTiles(t, "after freeing space", readAll(t, dest), want)
	pmtilesVerify(t, dest)
}

func gz(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// Tiles that arrive gzip-compressed are stored so and the header says so;
// mixed compression is refused naming a tile.
func TestPMTilesTileCompression(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "gz.pmtiles")
	s := mustOpen(t, dest, "mvt")
	want := map[tiles.Tile][]byte{}
	for _, tl := range pyramid(0, 2) {
		want[tl] = gz(t, mvtTile(t, tl, 2))
	}
	putAll(t, s, want)
	if err := s.Finish(Metadata{}); err != nil {
		t.Fatal(err)
	}
	if h := pmHeader(t, dest); h.TileCompression != pmtiles.Gzip {
		t.Errorf("tile compression %d, want gzip", h.TileCompression)
	}
	pmtilesVerify(t, dest)
	sameTiles(t, "gzip tiles", readAll(t, dest), want)

	dest = filepath.Join(t.TempDir(), "mixed.pmtiles")
	s = mustOpen(t, dest, "mvt")
	putAll(t, s, want)
	plain := tiles.Tile{Z: 2, X: 1, Y: 1}
	if err := s.Put(plain, mvtTile(t, plain, 1)); err != nil {
		t.Fatal(err)
	}
	err := s.Finish(Metadata{TileCompression: "gzip"})
	if err == nil || !strings.Contains(err.Error(), "tile 2/1/1 is not gzip-compressed") {
		t.Fatalf("Finish with mixed compression: %v", err)
	}
	mustNotExist(t, dest)
}
