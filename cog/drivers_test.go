package cog_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/cog"
)

// TestURLDrivers: a reader limited to cog.URLDrivers opens GeoTIFFs only: a
// VRT naming another file, whether called .vrt or .tif, does not open, while
// a reader without the limit (a configured layer) still opens it.
func TestURLDrivers(t *testing.T) {
	tif := writeCOG(t, "data", filled(4326, smallGT, 300, 200, godal.Byte, 1, constant(7)))
	dir := t.TempDir()
	vrt := filepath.Join(dir, "other.vrt")
	if out, err := exec.Command("gdal_translate", "-q", "-of", "VRT", tif, vrt).CombinedOutput(); err != nil {
		t.Fatalf("gdal_translate: %v: %s", err, out)
	}
	renamed := filepath.Join(dir, "renamed.tif")
	b, err := os.ReadFile(vrt)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(renamed, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path    string
		drivers []string
		opens   bool
	}{
		{tif, cog.URLDrivers, true},
		{vrt, cog.URLDrivers, false},
		{renamed, cog.URLDrivers, false},
		{vrt, nil, true},
		{renamed, nil, true},
	} {
		r := cog.New(cog.Options{Path: c.path, Drivers: c.drivers})
		err := r.Status()
		r.Close()
		if (err == nil) != c.opens {
			t.Errorf("%s with drivers %v: status %v, want it to open: %v", filepath.Base(c.path), c.drivers, err, c.opens)
		}
	}
}
