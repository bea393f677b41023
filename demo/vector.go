package demo

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/internal/gdal"
)

// naturalEarth are the places where Debian's python3-geopandas keeps its
// bundled Natural Earth shapefiles.
var naturalEarth = []string{"/usr/lib/python3/dist-packages/geopandas/datasets"}

// NaturalEarthDir finds geopandas' bundled datasets folder (naturalearth_lowres,
// naturalearth_cities): in Debian's place, else where Debian's Python imports
// geopandas from.
func NaturalEarthDir() (string, error) {
	has := func(d string) bool {
		_, err := os.Stat(filepath.Join(d, "naturalearth_lowres", "naturalearth_lowres.shp"))
		return err == nil
	}
	for _, d := range naturalEarth {
		if has(d) {
			return d, nil
		}
	}
	out, err := exec.Command("/usr/bin/python3", "-c",
		"import os, geopandas; print(os.path.join(os.path.dirname(geopandas.__file__), 'datasets'))").Output()
	if err == nil {
		if d := strings.TrimSpace(string(out)); has(d) {
			return d, nil
		}
		err = errors.New("this geopandas has no bundled Natural Earth files")
	} else {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			lines := strings.Split(strings.TrimSpace(string(ee.Stderr)), "\n")
			err = errors.New(lines[len(lines)-1])
		}
	}
	return "", fmt.Errorf("the vector demo data is made from geopandas' bundled Natural Earth files, which were not found (%v): "+
		"install python3-geopandas (apt-get install python3-geopandas) and run demo-data again", err)
}

// WriteVectors writes the vector demo layers into dir: countries.gpkg (Natural
// Earth countries, multipolygons with name, iso_a3, continent, pop_est,
// gdp_md_est) and cities.fgb (Natural Earth populated places, points with a
// name), both with a spatial index.
func WriteVectors(dir string) ([]string, error) {
	src, err := NaturalEarthDir()
	if err != nil {
		return nil, err
	}
	files := []struct {
		name, from string
		switches   []string
	}{
		{"countries.gpkg", "naturalearth_lowres/naturalearth_lowres.shp",
			[]string{"-f", "GPKG", "-nln", "countries", "-nlt", "PROMOTE_TO_MULTI", "-lco", "SPATIAL_INDEX=YES"}},
		{"cities.fgb", "naturalearth_cities/naturalearth_cities.shp",
			[]string{"-f", "FlatGeobuf", "-nln", "cities", "-lco", "SPATIAL_INDEX=YES"}},
	}
	var out []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := Translate(filepath.Join(src, f.from), p, f.switches...); err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Translate converts a vector file as ogr2ogr does with switches, writing to
// temp files that are renamed into place.
func Translate(src, dst string, switches ...string) error {
	gdal.Register()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := godal.Open(src, godal.VectorOnly())
	if err != nil {
		return fmt.Errorf("open %s: %v", src, err)
	}
	defer in.Close()
	// The temp file keeps the extension: the GPKG driver warns otherwise.
	ext := filepath.Ext(dst)
	tmp := strings.TrimSuffix(dst, ext) + ".tmp" + ext
	_ = os.Remove(tmp)
	out, err := in.VectorTranslate(tmp, switches)
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %v", dst, err)
	}
	if err := out.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %v", dst, err)
	}
	// A shapefile comes with sidecars (.shx, .dbf, .prj, ...): move them all.
	base := strings.TrimSuffix(tmp, ext)
	parts, err := filepath.Glob(base + ".*")
	if err != nil {
		return err
	}
	for _, p := range parts {
		if err := os.Rename(p, strings.TrimSuffix(dst, ext)+strings.TrimPrefix(p, base)); err != nil {
			return err
		}
	}
	return nil
}
