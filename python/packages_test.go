package python_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// debianPackages maps the modules of cmRuntimePackages to the Debian
// packages that install them.
var debianPackages = map[string]string{"scipy": "python3-scipy", "skimage": "python3-skimage",
	"rioxarray": "python3-rioxarray", "pyproj": "python3-pyproj", "fiona": "python3-fiona", "boto3": "python3-boto3",
	"fsspec": "python3-fsspec", "dotenv": "python3-dotenv", "openpyxl": "python3-openpyxl", "netCDF4": "python3-netcdf4",
	"h5py": "python3-h5py", "zarr": "python3-zarr", "dask": "python3-dask", "PIL": "python3-pil", "rtree": "python3-rtree",
	"requests": "python3-requests", "numpy": "python3-numpy", "pandas": "python3-pandas", "geopandas": "python3-geopandas",
	"shapely": "python3-shapely", "rasterio": "python3-rasterio", "osgeo": "python3-gdal", "xarray": "python3-xarray",
	"matplotlib": "python3-matplotlib"}

// TestInstallersListRuntimePackages: `make run` (scripts/deps.sh) and the
// Docker image's runtime stage install the Debian package of every module
// UDFs may import (cmRuntimePackages, the list docs/udfs.md gives).
func TestInstallersListRuntimePackages(t *testing.T) {
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	words := func(s string) map[string]bool {
		out := map[string]bool{}
		for _, line := range strings.Split(s, "\n") {
			line, _, _ = strings.Cut(line, "#")
			for _, w := range strings.Fields(strings.NewReplacer("\\", " ", "&&", " ").Replace(line)) {
				out[w] = true
			}
		}
		return out
	}
	// scripts/deps.sh: the pkgs=( ... ) list, which `make run` installs (run: deps).
	m := regexp.MustCompile(`(?s)\npkgs=\((.*?)\n\)`).FindStringSubmatch(read("../scripts/deps.sh"))
	if m == nil {
		t.Fatal("scripts/deps.sh: no pkgs=( ... ) list")
	}
	deps := words(m[1])
	if mk := read("../Makefile"); !regexp.MustCompile(`(?m)^run:.*\bdeps\b`).MatchString(mk) ||
		!regexp.MustCompile(`(?m)^deps:[^\n]*\n(\t[^\n]*\n)*\t@?scripts/deps\.sh`).MatchString(mk) {
		t.Error("Makefile: `make run` does not run scripts/deps.sh (run: deps, deps: scripts/deps.sh)")
	}
	// The Dockerfile: the apt-get install of its last stage (the image that runs UDFs).
	docker := read("../Dockerfile")
	stage := docker[strings.LastIndex(docker, "\nFROM "):]
	i := strings.Index(stage, "apt-get install")
	if i < 0 {
		t.Fatal("Dockerfile: no apt-get install in the runtime stage")
	}
	run := stage[i:]
	if j := strings.Index(run, "\n\n"); j >= 0 {
		run = run[:j]
	}
	if j := strings.Index(run, "\nCOPY"); j >= 0 {
		run = run[:j]
	}
	image := words(run)
	for _, mod := range cmRuntimePackages {
		pkg, ok := debianPackages[mod]
		if !ok {
			t.Errorf("%s: no Debian package known for it (debianPackages)", mod)
			continue
		}
		if !deps[pkg] {
			t.Errorf("scripts/deps.sh does not install %s (for %s)", pkg, mod)
		}
		if !image[pkg] {
			t.Errorf("the Dockerfile's runtime stage does not install %s (for %s)", pkg, mod)
		}
	}
}
