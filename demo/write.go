// Package demo generates the demo data that `tileserver demo-data` writes and the
// tests read: deterministic rasters (synthetic terrain in a UTM zone, an RGB
// image) and vector layers converted from geopandas' Natural Earth files.
package demo

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/internal/gdal"
)

// Grid is an in-memory raster to be written as a COG.
type Grid struct {
	EPSG          int
	GeoTransform  [6]float64
	Width, Height int
	DType         godal.DataType
	Bands         [][]float64 // row-major, one slice per band
	NoData        *float64
	Mask          []uint8 // optional internal mask, 0 = invalid
	// Overviews replace computed overview content when set: level i, band b.
	// Tests use it to tell which level a tile was read from.
	OverviewFill []float64
}

// WriteCOG writes g to path as a Cloud-Optimized GeoTIFF with DEFLATE and
// averaged overviews down to one block. It writes to a temp file and renames it.
func WriteCOG(path string, g Grid, extra ...string) error {
	gdal.Register()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	mem, err := g.gtiff(path + ".src.tif")
	if err != nil {
		return err
	}
	defer os.Remove(path + ".src.tif")
	defer mem.Close()
	tmp := path + ".tmp"
	sw := append([]string{"-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "BLOCKSIZE=256",
		"-co", "OVERVIEWS=FORCE_USE_EXISTING"}, extra...)
	out, err := mem.Translate(tmp, sw)
	if err != nil {
		return fmt.Errorf("write %s: %v", path, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// gtiff writes a tiled GeoTIFF with overviews, from which the COG is copied.
func (g Grid) gtiff(path string) (*godal.Dataset, error) {
	ds, err := godal.Create(godal.GTiff, path, len(g.Bands), g.DType, g.Width, g.Height,
		godal.CreationOption("TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256"))
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*godal.Dataset, error) { ds.Close(); return nil, err }
	sr, err := godal.NewSpatialRefFromEPSG(g.EPSG)
	if err != nil {
		return fail(err)
	}
	defer sr.Close()
	if err := ds.SetSpatialRef(sr); err != nil {
		return fail(err)
	}
	if err := ds.SetGeoTransform(g.GeoTransform); err != nil {
		return fail(err)
	}
	for i, band := range ds.Bands() {
		if g.NoData != nil {
			if err := band.SetNoData(*g.NoData); err != nil {
				return fail(err)
			}
		}
		if err := band.Write(0, 0, g.Bands[i], g.Width, g.Height); err != nil {
			return fail(err)
		}
	}
	if g.Mask != nil {
		mb, err := ds.CreateMaskBand(0x02) // GMF_PER_DATASET
		if err != nil {
			return fail(err)
		}
		if err := mb.Write(0, 0, g.Mask, g.Width, g.Height); err != nil {
			return fail(err)
		}
	}
	levels := []int{}
	for f := 2; g.Width/f >= 128 || g.Height/f >= 128; f *= 2 {
		levels = append(levels, f)
	}
	if len(levels) > 0 {
		if err := ds.BuildOverviews(godal.Levels(levels...), godal.Resampling(godal.Average)); err != nil {
			return fail(err)
		}
	}
	if g.OverviewFill != nil {
		for _, band := range ds.Bands() {
			for i, o := range band.Overviews() {
				if i < len(g.OverviewFill) {
					if err := o.Fill(g.OverviewFill[i], 0); err != nil {
						return fail(err)
					}
				}
			}
		}
	}
	return ds, nil
}
