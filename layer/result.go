package layer

import (
	"encoding/binary"
	"math"
	"sync"

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
	// Samples, set instead of Bands, holds each band's values as they came
	// from a UDF: little-endian DType, Width*Height values each. A large
	// array stays one or two bytes a value, not eight, until an encoder reads
	// it a row at a time (see Sampler and Widen).
	Samples [][]byte
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

	pooled bool // Bands and Mask came from NewRaster's pools
}

// NewRaster returns a width×height raster with nb zeroed bands and a zeroed
// mask (all transparent), taken from pools that Release refills: a tile
// server renders many rasters of the same few sizes, and allocating each anew
// costs page faults and collections.
func NewRaster(width, height, nb int) *Raster {
	n := width * height
	r := &Raster{Width: width, Height: height, pooled: true}
	fp, bp := pools(n)
	for range nb {
		b := fp.Get().(*[]float64)
		clear(*b)
		r.Bands = append(r.Bands, *b)
	}
	m := bp.Get().(*[]uint8)
	clear(*m)
	r.Mask = *m
	return r
}

// NewSampleRaster returns a width×height raster of nb zeroed bands of
// Samples of dtype (uint8, int16 or uint16: the values as a file holds them,
// not eight bytes each) and a zeroed mask, from the pools Release refills.
func NewSampleRaster(width, height, nb int, dtype string) *Raster {
	n := width * height
	r := &Raster{Width: width, Height: height, DType: dtype, pooled: true}
	_, sp := pools(n * SampleSize[dtype])
	for range nb {
		b := sp.Get().(*[]uint8)
		clear(*b)
		r.Samples = append(r.Samples, *b)
	}
	_, bp := pools(n)
	m := bp.Get().(*[]uint8)
	clear(*m)
	r.Mask = *m
	return r
}

// Release gives the bands and mask of a raster made by NewRaster or
// NewSampleRaster back to the pools; the raster must not be used afterwards.
// Other rasters are left alone.
func (r *Raster) Release() {
	if r == nil || !r.pooled {
		return
	}
	n := r.Width * r.Height
	fp, bp := pools(n)
	for _, b := range r.Bands {
		if len(b) == n {
			fp.Put(&b)
		}
	}
	if size := SampleSize[r.DType]; size > 0 {
		_, sp := pools(n * size)
		for _, b := range r.Samples {
			if len(b) == n*size {
				sp.Put(&b)
			}
		}
	}
	if m := r.Mask; len(m) == n {
		bp.Put(&m)
	}
	r.Bands, r.Samples, r.Mask, r.pooled = nil, nil, nil, false
}

// KeepBands drops the bands past the first n; those of a raster made by
// NewRaster go back to the pools.
func (r *Raster) KeepBands(n int) {
	if n >= len(r.Bands) {
		return
	}
	if r.pooled {
		fp, _ := pools(r.Width * r.Height)
		for _, b := range r.Bands[n:] {
			if len(b) == r.Width*r.Height {
				fp.Put(&b)
			}
		}
	}
	clear(r.Bands[n:])
	r.Bands = r.Bands[:n]
}

type poolPair struct{ floats, bytes *sync.Pool }

var rasterPools sync.Map // pixels per band → poolPair

func pools(n int) (*sync.Pool, *sync.Pool) {
	if p, ok := rasterPools.Load(n); ok {
		pp := p.(poolPair)
		return pp.floats, pp.bytes
	}
	pp := poolPair{
		floats: &sync.Pool{New: func() any { b := make([]float64, n); return &b }},
		bytes:  &sync.Pool{New: func() any { b := make([]uint8, n); return &b }},
	}
	p, _ := rasterPools.LoadOrStore(n, pp)
	return p.(poolPair).floats, p.(poolPair).bytes
}

// SampleSize is the bytes of one value of each dtype Samples may hold.
var SampleSize = map[string]int{"uint8": 1, "int8": 1, "uint16": 2, "int16": 2, "uint32": 4, "int32": 4, "float32": 4, "float64": 8}

// BandCount is the number of bands, whichever way they are held.
func (r *Raster) BandCount() int {
	if r.Bands != nil {
		return len(r.Bands)
	}
	return len(r.Samples)
}

// Sampler returns a reader of band b's values by pixel index (row-major).
func (r *Raster) Sampler(b int) func(i int) float64 {
	if r.Bands != nil {
		band := r.Bands[b]
		return func(i int) float64 { return band[i] }
	}
	p := r.Samples[b]
	switch r.DType {
	case "uint8":
		return func(i int) float64 { return float64(p[i]) }
	case "int8":
		return func(i int) float64 { return float64(int8(p[i])) }
	case "uint16":
		return func(i int) float64 { return float64(binary.LittleEndian.Uint16(p[2*i:])) }
	case "int16":
		return func(i int) float64 { return float64(int16(binary.LittleEndian.Uint16(p[2*i:]))) }
	case "uint32":
		return func(i int) float64 { return float64(binary.LittleEndian.Uint32(p[4*i:])) }
	case "int32":
		return func(i int) float64 { return float64(int32(binary.LittleEndian.Uint32(p[4*i:]))) }
	case "float32":
		return func(i int) float64 { return float64(math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))) }
	default: // float64
		return func(i int) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(p[8*i:])) }
	}
}

// Widen turns Samples into Bands, eight bytes a value: for rasters small
// enough that the encoders' fast paths are worth it.
func (r *Raster) Widen() {
	if r.Bands != nil || r.Samples == nil {
		return
	}
	n := r.Width * r.Height
	bands := make([][]float64, len(r.Samples))
	for b, src := range r.Samples {
		vals := make([]float64, n)
		if r.DType == "uint8" {
			for i, v := range src[:n] {
				vals[i] = float64(v)
			}
		} else {
			at := r.Sampler(b)
			for i := range vals {
				vals[i] = at(i)
			}
		}
		bands[b] = vals
	}
	r.Bands, r.Samples = bands, nil
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
