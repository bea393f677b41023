package export

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/udftiles/udftiles/tiles"
)

func TestDirectoryExport(t *testing.T) {
	root := filepath.Join(t.TempDir(), "out")
	s := mustOpen(t, root, "pbf")
	want := map[tiles.Tile][]byte{}
	for _, tl := range pyramid(0, 3) {
		want[tl] = mvtTile(t, tl, 2)
	}
	same := mvtTile(t, tiles.Tile{}, 1)
	want[tiles.Tile{Z: 3, X: 0, Y: 0}] = same
	want[tiles.Tile{Z: 3, X: 1, Y: 0}] = same
	first := pyramid(0, 2)
	for _, tl := range first {
		if err := s.Put(tl, want[tl]); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// A temporary file a killed run left behind.
	stray := filepath.Join(root, "2", "1", ".3.mvt"+tmpMark+"123")
	if err := os.WriteFile(stray, []byte("half a tile"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A killed run's journal: 2/1/3 was begun and not finished (its file may
	// be half written), 2/1/2 was finished.
	half := tiles.Tile{Z: 2, X: 1, Y: 3}
	if err := os.WriteFile(filepath.Join(root, "2", "1", "3.mvt"), want[half][:5], 0o644); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(root, journalPrefix+"dead")
	if err := os.WriteFile(dead, []byte("+ 2/1/2\n+ 2/1/3\n- 2/1/2\n- 2/1"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A live shard's journal, locked: its begun tile is left alone.
	live := filepath.Join(root, journalPrefix+"live")
	if err := os.WriteFile(live, []byte("+ 2/0/0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lf, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, root, "mvt")
	mustNotExist(t, dead)
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live journal was removed: %v", err)
	}
	mustHave(t, s, false, half)
	mustHave(t, s, true, tiles.Tile{Z: 2, X: 1, Y: 2}, tiles.Tile{Z: 2, X: 0, Y: 0})
	if err := s.Put(half, want[half]); err != nil {
		t.Fatal(err)
	}
	mustHave(t, s, true, first...)
	mustHave(t, s, false, pyramid(3, 3)...)
	for _, tl := range pyramid(3, 3) {
		if err := s.Put(tl, want[tl]); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Tiles != 65 || st.Unique != 64 || st.Duplicates != 1 {
		t.Errorf("stats %+v, want 65 tiles (2/1/3 again, then zoom 3), 64 unique, 1 duplicate", st)
	}
	m := Metadata{Name: "Places", Attribution: "© us", MinZoom: 0, MaxZoom: 3,
		Bounds:       tiles.Bounds{MinX: 5.87, MinY: 47.27, MaxX: 15.04, MaxY: 55.06},
		VectorLayers: []VectorLayer{{ID: "places", Fields: map[string]string{"name": "String"}, MaxZoom: 3}}}
	if err := s.Finish(m); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, stray)
	if left, _ := filepath.Glob(filepath.Join(root, journalPrefix+"*")); len(left) != 1 {
		t.Errorf("journals left: %v, want the live one only", left)
	}
	if _, err := os.Stat(filepath.Join(root, "3", "5", "2.mvt")); err != nil {
		t.Fatal(err)
	}
	sameTiles(t, "directory", readAll(t, root), want)

	b, err := os.ReadFile(filepath.Join(root, "tilejson.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("tilejson.json is not JSON: %v\n%s", err, b)
	}
	for k, v := range map[string]string{"tilejson": "3.0.0", "name": "Places", "format": "mvt", "scheme": "xyz", "attribution": "© us",
		"tiles": "[{z}/{x}/{y}.mvt]", "minzoom": "0", "maxzoom": "3", "bounds": "[5.87 47.27 15.04 55.06]", "center": "[10.455 51.165 3]",
		"vector_layers": "[map[fields:map[name:String] id:places maxzoom:3 minzoom:0]]"} {
		if got := fmt.Sprint(doc[k]); got != v {
			t.Errorf("tilejson %s = %s, want %s", k, got, v)
		}
	}
	md, err := ReadMetadata(root)
	if err != nil || md.Format != "mvt" || md.Name != "Places" || md.TileURL != "" || len(md.VectorLayers) != 1 {
		t.Errorf("ReadMetadata: %+v %v", md, err)
	}
}

func TestDirectoryTileURL(t *testing.T) {
	root := t.TempDir()
	s := mustOpen(t, root, "jpeg")
	if err := s.Put(tiles.Tile{}, []byte("jpeg bytes")); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(Metadata{TileURL: "https://tiles.example.com/x/{z}/{x}/{y}.jpg"}); err != nil {
		t.Fatal(err)
	}
	var doc tileJSON
	b, _ := os.ReadFile(filepath.Join(root, "tilejson.json"))
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Tiles) != 1 || doc.Tiles[0] != "https://tiles.example.com/x/{z}/{x}/{y}.jpg" || doc.Format != "jpg" || doc.VectorLayers != nil {
		t.Errorf("tilejson %s", b)
	}
	if _, err := os.Stat(filepath.Join(root, "0", "0", "0.jpg")); err != nil {
		t.Fatal(err)
	}
	md, _ := ReadMetadata(root)
	if md.TileURL != "https://tiles.example.com/x/{z}/{x}/{y}.jpg" {
		t.Errorf("ReadMetadata TileURL %q", md.TileURL)
	}
}
