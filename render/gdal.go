package render

import (
	"bytes"
	"fmt"
	"image"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/internal/gdal"
	"github.com/udftiles/udftiles/layer"
)

var memSeq atomic.Int64

// largeRaster is the number of values past which viaGDAL writes to a
// temporary file rather than to GDAL's memory.
const largeRaster = 4 << 20

// gdalTypes maps raster dtypes to GDAL sample types.
var gdalTypes = map[string]godal.DataType{
	"uint8": godal.Byte, "uint16": godal.UInt16, "int16": godal.Int16,
	"uint32": godal.UInt32, "int32": godal.Int32, "float32": godal.Float32, "float64": godal.Float64,
}

// viaGDAL creates an in-memory dataset, lets fill write it, translates it with
// switches into a /vsimem file and returns that file's bytes.
func viaGDAL(nb int, dt godal.DataType, w, h int, ext string, switches []string, fill func(*godal.Dataset) error) ([]byte, error) {
	gdal.Register()
	src, err := godal.Create(godal.Memory, "", nb, dt, w, h)
	if err != nil {
		return nil, err
	}
	closeSrc := sync.OnceFunc(func() { src.Close() })
	defer closeSrc()
	if err := fill(src); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("/vsimem/udftiles-%d.%s", memSeq.Add(1), ext)
	large := nb*w*h > largeRaster
	if large {
		// A large file goes through the disk: read back at its size, it is
		// not held twice, in GDAL's memory and in a growing buffer.
		f, err := os.CreateTemp("", "udftiles-*."+ext)
		if err != nil {
			return nil, err
		}
		f.Close()
		name = f.Name()
		defer os.Remove(name)
	}
	// GDAL 3.6 writes a GeoTIFF mask to a .msk sidecar by default: one we would
	// neither return nor free. Inside the file, it travels with the bytes.
	out, err := src.Translate(name, switches, godal.ConfigOption("GDAL_TIFF_INTERNAL_MASK=YES"))
	if err != nil {
		return nil, err
	}
	if err := out.Close(); err != nil {
		return nil, err
	}
	if large {
		closeSrc() // its memory is not needed to read the file back
		return os.ReadFile(name)
	}
	defer godal.VSIUnlink(name)
	f, err := godal.VSIOpen(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// typedSamples views little-endian samples as a slice of their Go type, as
// godal writes them (this runs on little-endian machines only, as does GDAL's
// native order here).
func typedSamples(b []byte, dtype string) any {
	if len(b) == 0 || dtype == "uint8" {
		return b
	}
	if uintptr(unsafe.Pointer(&b[0]))%8 != 0 {
		b = bytes.Clone(b) // the worker aligns its blobs; this is for any other producer
	}
	p := unsafe.Pointer(&b[0])
	switch dtype {
	case "uint16":
		return unsafe.Slice((*uint16)(p), len(b)/2)
	case "int16":
		return unsafe.Slice((*int16)(p), len(b)/2)
	case "uint32":
		return unsafe.Slice((*uint32)(p), len(b)/4)
	case "int32":
		return unsafe.Slice((*int32)(p), len(b)/4)
	case "float32":
		return unsafe.Slice((*float32)(p), len(b)/4)
	case "float64":
		return unsafe.Slice((*float64)(p), len(b)/8)
	}
	return b
}

// WebP encodes an image with GDAL's WEBP driver, keeping its alpha.
func WebP(img *image.NRGBA) ([]byte, error) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	return viaGDAL(4, godal.Byte, w, h, "webp", []string{"-of", "WEBP", "-co", "QUALITY=85"}, func(ds *godal.Dataset) error {
		return ds.Write(0, 0, img.Pix, w, h)
	})
}

// GeoTIFF writes the raw values with the raster's georeferencing. Masked pixels
// are written as nodata when the raster has one, and as an internal mask otherwise.
func GeoTIFF(r *layer.Raster) ([]byte, error) {
	dt, ok := gdalTypes[r.DType]
	if !ok {
		return nil, fmt.Errorf("tif: unsupported dtype %q", r.DType)
	}
	n := r.Width * r.Height
	return viaGDAL(r.BandCount(), dt, r.Width, r.Height, "tif",
		[]string{"-of", "GTiff", "-co", "COMPRESS=DEFLATE", "-co", "TILED=YES"},
		func(ds *godal.Dataset) error {
			if r.EPSG != 0 { // an array with no place is written without georeferencing
				sr, err := godal.NewSpatialRefFromEPSG(r.EPSG)
				if err != nil {
					return layer.Errorf(layer.Internal, "tif: EPSG:%d: %v", r.EPSG, err)
				}
				defer sr.Close()
				if err := ds.SetSpatialRef(sr); err != nil {
					return err
				}
				b := r.Bounds
				gt := [6]float64{b.MinX, (b.MaxX - b.MinX) / float64(r.Width), 0, b.MaxY, 0, -(b.MaxY - b.MinY) / float64(r.Height)}
				if err := ds.SetGeoTransform(gt); err != nil {
					return err
				}
			}
			masked := false
			for _, m := range r.Mask {
				if m == 0 {
					masked = true
					break
				}
			}
			for i, band := range ds.Bands() {
				if r.HasNoData {
					if err := band.SetNoData(r.NoData); err != nil {
						return err
					}
				}
				if r.Bands == nil && !(masked && r.HasNoData) {
					// Samples as they are, in their own type: no float64 copy.
					if err := band.Write(0, 0, typedSamples(r.Samples[i], r.DType), r.Width, r.Height); err != nil {
						return err
					}
					continue
				}
				var vals []float64
				if r.Bands != nil {
					vals = r.Bands[i][:n]
				} else {
					vals = make([]float64, n)
					at := r.Sampler(i)
					for p := range vals {
						vals[p] = at(p)
					}
				}
				if masked && r.HasNoData {
					vals = append([]float64(nil), vals...)
					for p, m := range r.Mask[:n] {
						if m == 0 {
							vals[p] = r.NoData
						}
					}
				}
				if err := band.Write(0, 0, vals, r.Width, r.Height); err != nil {
					return err
				}
			}
			if masked && !r.HasNoData {
				mb, err := ds.CreateMaskBand(0x02)
				if err != nil {
					return err
				}
				return mb.Write(0, 0, r.Mask[:n], r.Width, r.Height)
			}
			return nil
		})
}
