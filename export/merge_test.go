package export

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/udftiles/udftiles/tiles"
)

// TestMergeThreeParts splits an export in three shards of three kinds
// (MBTiles, PMTiles, directory) overlapping on a few identical tiles, merges
// them, and compares with the same tiles exported at once.
func TestMergeThreeParts(t *testing.T) {
	dir := t.TempDir()
	all := pyramid(0, 5)
	want := map[tiles.Tile][]byte{}
	for _, tl := range all {
		want[tl] = mvtTile(t, tl, 1+tl.X%3)
	}
	vl := []VectorLayer{{ID: "places", Fields: map[string]string{"name": "String", "rank": "Number"}, MaxZoom: 5}}
	m := Metadata{Name: "places", MinZoom: 0, MaxZoom: 5, VectorLayers: vl}

	single := filepath.Join(dir, "single.pmtiles")
	s := mustOpen(t, single, "mvt")
	putAll(t, s, want)
	if err := s.Finish(m); err != nil {
		t.Fatal(err)
	}

	parts := []string{filepath.Join(dir, "a.mbtiles"), filepath.Join(dir, "b.pmtiles"), filepath.Join(dir, "c")}
	shard := func(tl tiles.Tile) int { return (tl.X + 2*tl.Y) % 3 }
	for i, p := range parts {
		s := mustOpen(t, p, "mvt")
		for _, tl := range all {
			// Tiles of zoom 0..2 are in every part.
			if shard(tl) == i || tl.Z <= 2 {
				if err := s.Put(tl, want[tl]); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.Finish(Metadata{MinZoom: 0, MaxZoom: 5, VectorLayers: vl}); err != nil {
			t.Fatal(err)
		}
	}

	for _, dest := range []string{filepath.Join(dir, "merged.pmtiles"), filepath.Join(dir, "merged.mbtiles"), filepath.Join(dir, "merged")} {
		st, err := Merge(dest, parts, Metadata{Name: "merged"})
		if err != nil {
			t.Fatal(err)
		}
		if st.Tiles != int64(len(all)) {
			t.Errorf("%s: %d tiles stored, want %d (each once)", dest, st.Tiles, len(all))
		}
		got := readAll(t, dest)
		sameTiles(t, dest, got, readAll(t, single))
		md, err := ReadMetadata(dest)
		if err != nil {
			t.Fatal(err)
		}
		if md.Format != "mvt" || md.Name != "merged" || md.MinZoom != 0 || md.MaxZoom != 5 || len(md.VectorLayers) != 1 {
			t.Errorf("%s: metadata %+v", dest, md)
		}
	}
	pmtilesVerify(t, filepath.Join(dir, "merged.pmtiles"))
}

func TestMergeConflict(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.mbtiles"), filepath.Join(dir, "b.pmtiles")
	for i, p := range []string{a, b} {
		s := mustOpen(t, p, "png")
		for _, tl := range pyramid(0, 2) {
			data := []byte(tl.String())
			if tl == (tiles.Tile{Z: 2, X: 1, Y: 3}) && i == 1 {
				data = []byte("other bytes")
			}
			if err := s.Put(tl, data); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Finish(Metadata{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, dest := range []string{filepath.Join(dir, "m.pmtiles"), filepath.Join(dir, "m")} {
		_, err := Merge(dest, []string{a, b}, Metadata{})
		if err == nil || !strings.Contains(err.Error(), "tile 2/1/3 differs between "+a+" and "+b) {
			t.Errorf("merge of conflicting parts into %s: %v", dest, err)
		}
	}
	mustNotExist(t, filepath.Join(dir, "m.pmtiles"))
	if _, err := Merge(a, []string{a, b}, Metadata{}); err == nil {
		t.Error("merging a part into itself succeeded")
	}
}
