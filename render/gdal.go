package render

import (
	"fmt"
	"image"
	"io"
	"sync"
	"sync/atomic"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/udfhost"
)

var registerGDAL = sync.OnceFunc(godal.RegisterAll)

var memSeq atomic.Int64

// gdalTypes maps raster dtypes to GDAL sample types.
var gdalTypes = map[string]godal.DataType{
	"uint8": godal.Byte, "uint16": godal.UInt16, "int16": godal.Int16,
	"uint32": godal.UInt32, "int32": godal.Int32, "float32": godal.Float32, "float64": godal.Float64,
}

// viaGDAL creates an in-memory dataset, lets fill write it, translates it with
// switches into a /vsimem file and returns that file's bytes.
func viaGDAL(nb int, dt godal.DataType, w, h int, ext string, switches []string, fill func(*godal.Dataset) error) ([]byte, error) {
	registerGDAL()
	src, err := godal.Create(godal.Memory, "", nb, dt, w, h)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if err := fill(src); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("/vsimem/udftiles-%d.%s", memSeq.Add(1), ext)
	// GDAL 3.6 writes a GeoTIFF mask to a .msk sidecar by default: one we would
	// neither return nor free. Inside the file, it travels with the bytes.
	out, err := src.Translate(name, switches, godal.ConfigOption("GDAL_TIFF_INTERNAL_MASK=YES"))
	if err != nil {
		return nil, err
	}
	defer godal.VSIUnlink(name)
	if err := out.Close(); err != nil {
		return nil, err
	}
	f, err := godal.VSIOpen(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
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
func GeoTIFF(r *udfhost.Raster) ([]byte, error) {
	dt, ok := gdalTypes[r.DType]
	if !ok {
		return nil, fmt.Errorf("tif: unsupported dtype %q", r.DType)
	}
	n := r.Width * r.Height
	return viaGDAL(len(r.Bands), dt, r.Width, r.Height, "tif",
		[]string{"-of", "GTiff", "-co", "COMPRESS=DEFLATE", "-co", "TILED=YES"},
		func(ds *godal.Dataset) error {
			if r.EPSG != 0 { // an array with no place is written without georeferencing
				sr, err := godal.NewSpatialRefFromEPSG(r.EPSG)
				if err != nil {
					return udfhost.Errorf(udfhost.Internal, "tif: EPSG:%d: %v", r.EPSG, err)
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
				vals := r.Bands[i][:n]
				if masked && r.HasNoData {
					vals = append([]float64(nil), vals...)
					for p, m := range r.Mask[:n] {
						if m == 0 {
							vals[p] = r.NoData
						}
					}
				}
				if r.HasNoData {
					if err := band.SetNoData(r.NoData); err != nil {
						return err
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
