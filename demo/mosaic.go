package demo

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/airbusgeo/godal"
)

// MosaicCells is how many files a side the demo DEM is cut into.
const MosaicCells = 4

// WriteMosaic cuts the demo DEM into MosaicCells² COGs in dir/dem_tiles:
// dem_r<row>_c<col>.tif, each a 512-pixel square of it; those of odd
// row+col are warped to EPSG:4326 (bilinear, at about the DEM's
// resolution), so that the mosaic holds files in two CRSs. The demo config
// serves the folder as the layer elevation_tiles (a mosaic).
func WriteMosaic(dir string) ([]string, error) {
	out := filepath.Join(dir, "dem_tiles")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	src := filepath.Join(dir, "elevation.tif")
	ds, err := godal.Open(src)
	if err != nil {
		return nil, err
	}
	defer ds.Close()
	st := ds.Structure()
	side := st.SizeX / MosaicCells
	var files []string
	for r := 0; r < MosaicCells; r++ {
		for c := 0; c < MosaicCells; c++ {
			p := filepath.Join(out, fmt.Sprintf("dem_r%d_c%d.tif", r, c))
			win := []string{"-srcwin", strconv.Itoa(c * side), strconv.Itoa(r * side), strconv.Itoa(side), strconv.Itoa(side)}
			if (r+c)%2 == 0 {
				err = translateCOG(ds, p, win)
			} else {
				err = warpCOG(ds, p, win)
			}
			if err != nil {
				return files, fmt.Errorf("%s: %v", p, err)
			}
			files = append(files, p)
		}
	}
	return files, nil
}

// translateCOG writes a window of ds as a COG.
func translateCOG(ds *godal.Dataset, path string, win []string) error {
	tmp := path + ".part"
	part, err := ds.Translate(tmp, append([]string{"-of", "COG", "-co", "COMPRESS=DEFLATE"}, win...))
	if err != nil {
		return err
	}
	part.Close()
	return os.Rename(tmp, path)
}

// warpCOG writes a window of ds warped to EPSG:4326 as a COG.
func warpCOG(ds *godal.Dataset, path string, win []string) error {
	cut, err := ds.Translate("", append([]string{"-of", "MEM"}, win...))
	if err != nil {
		return err
	}
	defer cut.Close()
	tmp := path + ".part"
	w, err := cut.Warp(tmp, []string{"-of", "COG", "-co", "COMPRESS=DEFLATE", "-t_srs", "EPSG:4326", "-r", "bilinear"})
	if err != nil {
		return err
	}
	w.Close()
	return os.Rename(tmp, path)
}
