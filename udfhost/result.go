package udfhost

import (
	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/tiles"
)

// Result is what a handler returns: *Raster, *Features, *Table or *Value.
type Result interface{ isResult() }

// Meta is what every result carries besides its data.
type Meta struct {
	Logs string // what the UDF printed while computing it
	// Truncated, when set, says that a feature limit cut the result and what
	// was kept (e.g. "20000 of 51234"); served as X-Features-Truncated.
	Truncated string
}

// Truncation returns Truncated.
func (m *Meta) Truncation() string { return m.Truncated }

// UDFLogs returns what the UDF printed.
func (m *Meta) UDFLogs() string { return m.Logs }

// SetLogs records what the UDF printed.
func (m *Meta) SetLogs(s string) { m.Logs = s }

// Logged is implemented by every result: the prints of the call that made it.
type Logged interface {
	UDFLogs() string
	SetLogs(string)
	Truncation() string
}

// Raster is a planar stack of bands in a georeferenced grid.
type Raster struct {
	Meta
	Width, Height int
	// Bands holds each band's values, row-major, len Width*Height each.
	Bands [][]float64
	// DType is the source sample type in numpy spelling: uint8, uint16, int16,
	// uint32, int32, float32, float64. Raw encoders (tif, npy) write this type.
	DType string
	// Mask is the per-pixel opacity 0..255 (0 = no data); nil means all valid.
	Mask []uint8
	// NoData is written in raw encodings for masked pixels when HasNoData.
	NoData    float64
	HasNoData bool
	// Bounds and EPSG place the grid; a tile result is in EPSG:3857.
	Bounds tiles.Bounds
	EPSG   int
}

// Value is a non-spatial result: raw bytes with their content type.
type Value struct {
	Meta
	ContentType string
	Body        []byte
	Kind        string // text, json or bytes
}

func (*Raster) isResult() {}
func (*Value) isResult()  {}

// Features are vector results: a GeoJSON FeatureCollection in EPSG:4326.
type Features struct {
	Meta
	Collection *geojson.FeatureCollection
}

// Table is a result without geometry: named columns and rows of JSON values
// (numbers are json.Number, so large integer ids keep every digit).
type Table struct {
	Meta
	Columns []string
	Types   map[string]string // column → bool, int, float or str
	Rows    [][]any
}

func (*Features) isResult() {}
func (*Table) isResult()    {}
