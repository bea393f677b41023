package render

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/udftiles/udftiles/layer"
)

// npyDescr is the NumPy dtype string of each raster type, little-endian.
var npyDescr = map[string]string{
	"uint8": "|u1", "int8": "|i1", "uint16": "<u2", "int16": "<i2",
	"uint32": "<u4", "int32": "<i4", "float32": "<f4", "float64": "<f8",
}

// NPY writes the raw values as a NumPy .npy array of shape (bands, height, width)
// in the raster's dtype. Masked pixels hold the nodata value when there is one.
func NPY(r *layer.Raster) ([]byte, error) {
	descr, ok := npyDescr[r.DType]
	if !ok {
		return nil, fmt.Errorf("npy: unsupported dtype %q", r.DType)
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d, %d), }",
		descr, r.BandCount(), r.Height, r.Width)
	// Magic (6) + version (2) + length (2) + header + newline, padded to 64 bytes.
	pad := 64 - (10+len(header)+1)%64
	header += string(bytes.Repeat([]byte{' '}, pad%64)) + "\n"
	var buf bytes.Buffer
	buf.Grow(10 + len(header) + r.BandCount()*r.Width*r.Height*layer.SampleSize[r.DType])
	buf.WriteString("\x93NUMPY\x01\x00")
	_ = binary.Write(&buf, binary.LittleEndian, uint16(len(header)))
	buf.WriteString(header)
	if r.Bands == nil && !(r.HasNoData && r.Mask != nil) {
		for _, s := range r.Samples { // already the bytes npy holds
			buf.Write(s)
		}
		return buf.Bytes(), nil
	}
	var b8 [8]byte
	for b := range r.BandCount() {
		at := r.Sampler(b)
		for i := range r.Width * r.Height {
			v := at(i)
			if r.HasNoData && r.Mask != nil && r.Mask[i] == 0 {
				v = r.NoData
			}
			switch r.DType {
			case "uint8":
				buf.WriteByte(uint8(v))
			case "int8":
				buf.WriteByte(uint8(int8(v)))
			case "uint16":
				binary.LittleEndian.PutUint16(b8[:], uint16(v))
				buf.Write(b8[:2])
			case "int16":
				binary.LittleEndian.PutUint16(b8[:], uint16(int16(v)))
				buf.Write(b8[:2])
			case "uint32":
				binary.LittleEndian.PutUint32(b8[:], uint32(v))
				buf.Write(b8[:4])
			case "int32":
				binary.LittleEndian.PutUint32(b8[:], uint32(int32(v)))
				buf.Write(b8[:4])
			case "float32":
				binary.LittleEndian.PutUint32(b8[:], math.Float32bits(float32(v)))
				buf.Write(b8[:4])
			case "float64":
				binary.LittleEndian.PutUint64(b8[:], math.Float64bits(v))
				buf.Write(b8[:8])
			}
		}
	}
	return buf.Bytes(), nil
}
