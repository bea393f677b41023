package cli

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/udftiles/udftiles/config"
)

// TestPrivateSTACFiles: a private STAC layer's raster assets, resolved
// against its item, are private files too, not only the item.
func TestPrivateSTACFiles(t *testing.T) {
	dir := t.TempDir()
	item := filepath.Join(dir, "item.json")
	doc := `{"type": "Feature", "id": "x", "assets": {
  "B04": {"href": "./B04.tif", "type": "image/tiff; application=geotiff"},
  "B08": {"href": "bands/B08.tif"},
  "remote": {"href": "https://data.example.com/s2/B11.tif", "type": "image/tiff"},
  "thumbnail": {"href": "thumb.png", "type": "image/png"}}}`
	if err := os.WriteFile(item, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := `udfs:
  - {name: scene, handler: stac, path: ` + item + `, public: false}
  - {name: open, handler: stac, path: ` + item + `}
`
	cfg, err := config.Parse([]byte(yaml), "")
	if err != nil {
		t.Fatal(err)
	}
	files := privateFiles(cfg, slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)))
	want := []string{item, filepath.Join(dir, "B04.tif"), filepath.Join(dir, "bands", "B08.tif"), "/vsicurl/https://data.example.com/s2/B11.tif"}
	slices.Sort(want)
	slices.Sort(files)
	if !slices.Equal(files, want) {
		t.Errorf("private files %v, want %v", files, want)
	}
}
