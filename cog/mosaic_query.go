package cog

import (
	"fmt"
	"math"

	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// The query routes on a mosaic: info describes the mosaic, point reads the
// first file with a value at the point; statistics and crops are for
// single-file layers.

// MosaicInfo describes a mosaic; GET .../info answers with it.
type MosaicInfo struct {
	Source    string     `json:"source"` // list, glob, directory, stac, mosaicjson or index
	Files     int        `json:"files"`
	Count     int        `json:"count"` // bands of every file
	DType     string     `json:"dtype"`
	NoData    *float64   `json:"nodata_value"` // the layer's nodata option; else each file's own
	BandNames []string   `json:"band_names"`
	CRS       string     `json:"crs"`    // of bounds
	Bounds    [4]float64 `json:"bounds"` // the union of the footprints
	MinZoom   int        `json:"minzoom"`
	MaxZoom   int        `json:"maxzoom"`
	// PixelSelection lists the values pixel_selection= takes; the first is the default.
	PixelSelection []string `json:"pixel_selection"`
	OpenFiles      int      `json:"open_files"` // files holding GDAL handles now
	MaxOpenFiles   int      `json:"max_open_files"`
}

// Info describes the mosaic.
func (m *Mosaic) Info() (*MosaicInfo, error) {
	idx, err := m.load()
	if err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	open, _ := m.files.counts()
	in := &MosaicInfo{Source: idx.kind, Files: len(idx.files), Count: idx.bands, DType: numpyType[idx.dtype], NoData: m.opts.NoData,
		CRS: "EPSG:4326", Bounds: [4]float64{idx.lonlat.MinX, idx.lonlat.MinY, idx.lonlat.MaxX, idx.lonlat.MaxY},
		MinZoom: idx.minZoom, MaxZoom: idx.maxZoom, PixelSelection: PixelSelections, OpenFiles: open, MaxOpenFiles: m.opts.MaxOpen}
	for b := 1; b <= idx.bands; b++ {
		in.BandNames = append(in.BandNames, fmt.Sprintf("b%d", b))
	}
	return in, nil
}

// Describe is the mosaic's MosaicInfo.
func (m *Mosaic) Describe() (any, error) { return m.Info() }

// Point reads the values at lon, lat of the first file, in the mosaic's
// order, with a value there (as pixel_selection=first); File names it. A
// point where every file is masked gives the first file's masked values; a
// point outside every file is NotFound.
func (m *Mosaic) Point(lon, lat float64, s Selection) (*PointValues, error) {
	if math.IsNaN(lon) || math.IsNaN(lat) || lon < -180 || lon > 180 || lat < -90 || lat > 90 {
		return nil, layer.Errorf(layer.BadRequest, "point %g,%g: want a longitude in -180..180 and a latitude in -90..90", lon, lat)
	}
	idx, err := m.load()
	if err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: err.Error()}
	}
	x, y := tiles.LonLatToMercator(lon, lat)
	var masked *PointValues
	for _, f := range idx.filesAt(tiles.Bounds{MinX: x, MinY: y, MaxX: x, MaxY: y}) {
		path := idx.files[f]
		p, err := m.pointOf(idx, path, lon, lat, s)
		if layer.KindOf(err) == layer.NotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		p.File = path
		for _, v := range p.Masked {
			if !v {
				return p, nil
			}
		}
		if masked == nil {
			masked = p
		}
	}
	if masked == nil {
		return nil, layer.Errorf(layer.NotFound, "point %g,%g is outside this mosaic's files", lon, lat)
	}
	return masked, nil
}

func (m *Mosaic) pointOf(idx *mosaicIndex, path string, lon, lat float64, s Selection) (*PointValues, error) {
	r, release, err := m.open(idx, path)
	if err != nil {
		return nil, err
	}
	defer release()
	return r.Point(lon, lat, s)
}

// Statistics are for single-file layers.
func (m *Mosaic) Statistics(StatsOptions) (*Statistics, error) {
	return nil, layer.Errorf(layer.BadRequest, "statistics are for single-file layers; a mosaic answers info, point and tiles")
}
