package cli

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/udftiles/udftiles/config"
)

// TestPrivateFilesUnderAllow: the files of private layers are handed to the
// web layer (which refuses them through url=), and one lying under a
// cog_urls.allow entry is named in a warning at start-up with that entry;
// public layers and private files elsewhere are not.
func TestPrivateFilesUnderAllow(t *testing.T) {
	dir := t.TempDir()
	cogs, elsewhere := filepath.Join(dir, "cogs"), filepath.Join(dir, "elsewhere")
	for _, d := range []string{cogs, elsewhere} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	yaml := `cog_urls:
  allow: [` + cogs + `/, "s3://bucket/open/"]
udfs:
  - {name: hidden, handler: cog, path: ` + filepath.Join(cogs, "hidden.tif") + `, public: false}
  - {name: hidden_s3, handler: cog, path: /vsis3/bucket/open/h.tif, public: false}
  - {name: apart, handler: cog, path: ` + filepath.Join(elsewhere, "apart.tif") + `, public: false}
  - {name: shown, handler: cog, path: ` + filepath.Join(cogs, "shown.tif") + `}
`
	cfg, err := config.Parse([]byte(yaml), "")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	files := privateFiles(cfg, slog.New(slog.NewJSONHandler(&buf, nil)))
	if len(files) != 3 || files[0] != filepath.Join(cogs, "hidden.tif") {
		t.Errorf("private files %v, want the three private layers' paths", files)
	}
	warned := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec struct {
			Level, Msg, UDF, Allow string
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "WARN" {
			warned[rec.UDF] = rec.Allow
		}
	}
	want := map[string]string{"hidden": cogs + "/", "hidden_s3": "s3://bucket/open/"}
	if len(warned) != len(want) || warned["hidden"] != want["hidden"] || warned["hidden_s3"] != want["hidden_s3"] {
		t.Errorf("warnings %v, want %v; log:\n%s", warned, want, buf.String())
	}
}

// TestPrivateMosaicFiles: a private mosaic's files (of its glob, folder or
// list) are private files too, not only its path.
func TestPrivateMosaicFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.tif", "b.tif", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	yaml := `udfs:
  - {name: glob, handler: cog, path: ` + filepath.Join(dir, "*.tif") + `, public: false}
  - {name: list, handler: cog, path: [` + filepath.Join(dir, "a.tif") + `, /vsis3/bucket/c.tif], public: false}
  - {name: open, handler: cog, path: ` + filepath.Join(dir, "*.tif") + `}
`
	cfg, err := config.Parse([]byte(yaml), "")
	if err != nil {
		t.Fatal(err)
	}
	files := privateFiles(cfg, slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)))
	for _, want := range []string{filepath.Join(dir, "a.tif"), filepath.Join(dir, "b.tif"), "/vsis3/bucket/c.tif"} {
		if !slices.Contains(files, want) {
			t.Errorf("private files %v: %s missing", files, want)
		}
	}
	if slices.Contains(files, filepath.Join(dir, "notes.txt")) {
		t.Errorf("private files %v: notes.txt is no mosaic's", files)
	}
}
