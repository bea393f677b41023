package export

import (
	"database/sql"
	"encoding/json"
	"errors"
	"image/color"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/udftiles/udftiles/tiles"
)

// gdalInfo is the part of `gdalinfo -json` the tests read.
type gdalInfo struct {
	DriverShortName string                       `json:"driverShortName"`
	Size            [2]int                       `json:"size"`
	Metadata        map[string]map[string]string `json:"metadata"`
	Wgs84Extent     struct {
		Coordinates [][][2]float64 `json:"coordinates"`
	} `json:"wgs84Extent"`
}

func TestMBTilesPNGReadByGDAL(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "rgb.mbtiles")
	s := mustOpen(t, dest, "png")
	want := map[tiles.Tile][]byte{}
	for _, tl := range pyramid(0, 2) {
		want[tl] = pngTile(t, tileColour(tl))
	}
	blank := pngTile(t, color.NRGBA{A: 0})
	want[tiles.Tile{Z: 2, X: 0, Y: 0}] = blank // two identical tiles: stored once
	want[tiles.Tile{Z: 2, X: 3, Y: 3}] = blank
	putAll(t, s, want)
	mustNotExist(t, dest)
	bounds := tiles.Bounds{MinX: -180, MinY: -85.0511287798, MaxX: 180, MaxY: 85.0511287798}
	err := s.Finish(Metadata{Name: "RGB", Description: "test tiles", Attribution: "© test", Format: "png",
		MinZoom: 0, MaxZoom: 2, Bounds: bounds})
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Tiles != 21 || st.Unique != 20 || st.Duplicates != 1 {
		t.Errorf("stats %+v, want 21 tiles, 20 unique, 1 duplicate", st)
	}
	for _, p := range []string{dest + ".part", dest + ".part-wal", dest + ".part-shm", dest + ".part.lock", dest + "-wal"} {
		mustNotExist(t, p)
	}
	sameTiles(t, "ReadAll", readAll(t, dest), want)

	// GDAL's MBTiles driver, an independent reader.
	var info gdalInfo
	if err := json.Unmarshal([]byte(run(t, "gdalinfo", "-json", dest)), &info); err != nil {
		t.Fatal(err)
	}
	if info.DriverShortName != "MBTiles" {
		t.Fatalf("gdalinfo: driver %q, want MBTiles", info.DriverShortName)
	}
	if info.Size != [2]int{1024, 1024} {
		t.Errorf("gdalinfo: size %v, want 1024×1024 (zoom 2 over the world)", info.Size)
	}
	md := info.Metadata[""]
	for k, v := range map[string]string{"ZOOM_LEVEL": "2", "minzoom": "0", "maxzoom": "2", "name": "RGB", "format": "png",
		"description": "test tiles", "attribution": "© test"} {
		if md[k] != v {
			t.Errorf("gdalinfo metadata %s = %q, want %q (all: %v)", k, md[k], v, md)
		}
	}
	if got := md["bounds"]; !strings.HasPrefix(got, "-180,-85.05") {
		t.Errorf("gdalinfo metadata bounds = %q", got)
	}
	ext := info.Wgs84Extent.Coordinates[0]
	if ext[0][0] > -179.99 || ext[2][0] < 179.99 || ext[0][1] < 85.05 || ext[2][1] > -85.05 {
		t.Errorf("gdalinfo WGS84 extent %v, want the world", ext)
	}
	// gdal_translate reads every tile; the pixel of tile 2/1/2 is its colour.
	tif := filepath.Join(dir, "rgb.tif")
	run(t, "gdal_translate", "-q", "-of", "GTiff", dest, tif)
	out := run(t, "gdallocationinfo", "-valonly", tif, strconv.Itoa(256*1+128), strconv.Itoa(256*2+128))
	c := tileColour(tiles.Tile{Z: 2, X: 1, Y: 2})
	if got, want := strings.Fields(out), []string{strconv.Itoa(int(c.R)), strconv.Itoa(int(c.G)), strconv.Itoa(int(c.B)), "255"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("gdallocationinfo of tile 2/1/2: %v, want %v", got, want)
	}

	// The deduplicated schema: one image for the two blank tiles, the tiles
	// view, TMS rows, the MBTiles application_id, a rollback journal.
	db, err := sql.Open("sqlite", "file:"+dest+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var images, mapped, appID int
	var mode string
	db.QueryRow(`SELECT count(*) FROM images`).Scan(&images)
	db.QueryRow(`SELECT count(*) FROM map`).Scan(&mapped)
	db.QueryRow(`PRAGMA application_id`).Scan(&appID)
	db.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	if images != 20 || mapped != 21 || appID != mbtilesAppID || mode != "delete" {
		t.Errorf("images %d (want 20), map %d (want 21), application_id %#x, journal %s", images, mapped, appID, mode)
	}
	var typ string
	db.QueryRow(`SELECT type FROM sqlite_master WHERE name = 'tiles'`).Scan(&typ)
	if typ != "view" {
		t.Errorf("tiles is a %q, want a view", typ)
	}
	var row int
	if err := db.QueryRow(`SELECT tile_row FROM tiles WHERE zoom_level = 2 AND tile_column = 1`+
		` AND tile_data = ?`, want[tiles.Tile{Z: 2, X: 1, Y: 0}]).Scan(&row); err != nil || row != 3 {
		t.Errorf("tile 2/1/0 is at TMS row %d (%v), want 3", row, err)
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'udftiles_export'`).Scan(&n)
	if n != 0 {
		t.Error("the staging state table is still in the finished archive")
	}
}

func TestMBTilesMVTReadByOGR(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "places.mbtiles")
	s := mustOpen(t, dest, "pbf") // an alias of mvt
	want := map[tiles.Tile][]byte{}
	for _, tl := range pyramid(0, 3) {
		want[tl] = mvtTile(t, tl, 3)
	}
	putAll(t, s, want)
	m := Metadata{Name: "places", Format: "mvt", MinZoom: 0, MaxZoom: 3,
		VectorLayers: []VectorLayer{{ID: "places", Fields: map[string]string{"name": "String", "rank": "Number"}, MinZoom: 0, MaxZoom: 3}}}
	if err := s.Finish(m); err != nil {
		t.Fatal(err)
	}
	sameTiles(t, "ReadAll", readAll(t, dest), want)
	got, err := ReadMetadata(dest)
	if err != nil {
		t.Fatal(err)
	}
	if got.Format != "mvt" || got.MaxZoom != 3 || len(got.VectorLayers) != 1 || got.VectorLayers[0].ID != "places" {
		t.Errorf("ReadMetadata: %+v", got)
	}

	// GDAL's MVT driver reads vector MBTiles: the layer, its fields, and the
	// features of the deepest zoom (64 tiles × 3 points).
	out := run(t, "ogrinfo", "-ro", "-so", "-al", dest)
	for _, re := range []string{`(?m)^Layer name: places$`, `(?m)^Feature Count: 192$`, `(?m)^name: String`, `(?m)^rank: (Integer|Real)`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("ogrinfo output lacks %s:\n%s", re, out)
		}
	}
	out = run(t, "ogrinfo", "-ro", "-al", "-oo", "ZOOM_LEVEL=1", "-where", "rank = 1", dest)
	if !strings.Contains(out, "Feature Count: 4") || !strings.Contains(out, "name (String) = 1/1/0#1") || !strings.Contains(out, "POINT (") {
		t.Errorf("ogrinfo at zoom 1 lacks the features:\n%s", out)
	}
}

func TestMBTilesResume(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "resume.mbtiles")
	all := pyramid(0, 4)
	want := map[tiles.Tile][]byte{}
	for i, tl := range all {
		want[tl] = []byte("tile " + tl.String() + strings.Repeat("x", i%7))
	}
	first, rest := all[:200], all[200:]
	s := mustOpen(t, dest, "png")
	for _, tl := range first {
		if err := s.Put(tl, want[tl]); err != nil {
			t.Fatal(err)
		}
	}
	mustHave(t, s, true, first...) // queued or committed: Has knows
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(rest[0], want[rest[0]]); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v, want ErrClosed", err)
	}
	mustNotExist(t, dest)
	if _, err := Open(dest, "mvt"); err == nil || !strings.Contains(err.Error(), "png") {
		t.Fatalf("reopening a png staging database for mvt: %v, want an error", err)
	}

	s = mustOpen(t, dest, "png")
	mustHave(t, s, true, first...)
	mustHave(t, s, false, rest...)
	for _, tl := range rest {
		if err := s.Put(tl, want[tl]); err != nil {
			t.Fatal(err)
		}
	}
	// A tile put again with other bytes replaces the first ones; its old
	// image is not left behind.
	want[first[0]] = []byte("replaced")
	if err := s.Put(first[0], want[first[0]]); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(Metadata{MinZoom: 0, MaxZoom: 4}); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(Metadata{}); !errors.Is(err, ErrClosed) {
		t.Errorf("second Finish: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after Finish: %v", err)
	}
	sameTiles(t, "resumed export", readAll(t, dest), want)
	db, _ := sql.Open("sqlite", "file:"+dest+"?mode=ro")
	defer db.Close()
	var images int
	db.QueryRow(`SELECT count(*) FROM images`).Scan(&images)
	if images != len(want) {
		t.Errorf("%d images for %d distinct tiles: the replaced one was not removed", images, len(want))
	}
	md, err := ReadMetadata(dest)
	if err != nil || md.Name != "resume" || md.Format != "png" || md.MaxZoom != 4 {
		t.Errorf("metadata %+v, %v", md, err)
	}
}

func TestMBTilesLocked(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "a.mbtiles")
	s := mustOpen(t, dest, "png")
	defer s.Close()
	if _, err := Open(dest, "png"); err == nil || !strings.Contains(err.Error(), "another export") {
		t.Fatalf("second Open of the same destination: %v, want a lock error", err)
	}
}

func TestPutRefusesEmptyAndInvalid(t *testing.T) {
	for _, name := range []string{"d", "a.mbtiles", "a.pmtiles"} {
		s := mustOpen(t, filepath.Join(t.TempDir(), name), "png")
		if err := s.Put(tiles.Tile{Z: 1, X: 0, Y: 0}, nil); !errors.Is(err, ErrEmptyTile) {
			t.Errorf("%s: Put of no bytes: %v, want ErrEmptyTile", name, err)
		}
		if err := s.Put(tiles.Tile{Z: 1, X: 2, Y: 0}, []byte("x")); err == nil {
			t.Errorf("%s: Put of tile 1/2/0 succeeded", name)
		}
		if _, err := s.Has(tiles.Tile{Z: -1}); err == nil {
			t.Errorf("%s: Has of zoom -1 succeeded", name)
		}
		if err := s.Finish(Metadata{Format: "jpg"}); err == nil {
			t.Errorf("%s: Finish with another format succeeded", name)
		}
		s.Close()
	}
	if _, err := Open(filepath.Join(t.TempDir(), "x"), "../png"); err == nil {
		t.Error("Open with format ../png succeeded")
	}
}

// TestMBTilesDiskFull fills the "disk" under the staging database (SQLite's
// max_page_count gives the same SQLITE_FULL error as a full file system; see
// TestFullFileSystem for a real one): Put and Finish fail with a clean error,
// DEST never appears, and the staging database resumes once there is room.
func TestMBTilesDiskFull(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "full.mbtiles")
	testWriterPragmas = []string{"max_page_count(64)"} // 256 KiB
	defer func() { testWriterPragmas = nil }()
	stageBatch = 4
	defer func() { stageBatch = 500 }()
	s := mustOpen(t, dest, "png")
	var err error
	var stored []tiles.Tile
	for _, tl := range pyramid(0, 6) {
		if err = s.Put(tl, randomBytes(tl, 8<<10)); err != nil {
			break
		}
		stored = append(stored, tl)
	}
	if err == nil || !strings.Contains(err.Error(), "full") {
		t.Fatalf("Put on a full disk: %v, want a 'database or disk is full' error", err)
	}
	t.Logf("Put failed cleanly after %d tiles: %v", len(stored), err)
	if _, herr := s.Has(stored[0]); herr == nil {
		t.Error("Has after the writer failed: no error")
	}
	if ferr := s.Finish(Metadata{}); ferr == nil || !strings.Contains(ferr.Error(), "full") {
		t.Errorf("Finish after a full disk: %v", ferr)
	}
	mustNotExist(t, dest)

	testWriterPragmas = nil // room again
	s = mustOpen(t, dest, "png")
	n := 0
	for _, tl := range stored {
		if ok, err := s.Has(tl); err != nil {
			t.Fatal(err)
		} else if ok {
			n++
		}
	}
	if n == 0 {
		t.Fatal("nothing committed before the disk filled up survived")
	}
	if err := s.Finish(Metadata{}); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, dest)
	if len(got) != n {
		t.Errorf("%d tiles in the archive, %d were committed", len(got), n)
	}
	for tl, data := range got {
		if string(data) != string(randomBytes(tl, 8<<10)) {
			t.Errorf("tile %s corrupt", tl)
		}
	}
}

// randomBytes are n incompressible bytes that depend on the tile.
func randomBytes(tl tiles.Tile, n int) []byte {
	b := make([]byte, n)
	x := uint64(tl.Z)<<40 ^ uint64(tl.X)<<20 ^ uint64(tl.Y) ^ 0x9e3779b97f4a7c15
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}
