package render

import (
	"strings"

	"github.com/udftiles/udftiles/layer"
)

// Format is one output format: the one table that render, web, export and
// OGC API read names, media types and kinds from.
type Format struct {
	Name         string   // canonical name, also the file extension
	Aliases      []string // other spellings accepted for it
	MediaType    string   // its Content-Type
	Compressible bool     // gzip shrinks it (vector tiles and text), on the wire and in archives
	// Raster, Vector, Table, Text and JSONValue say what results it encodes
	// (arrays, features, tables, a str, a dict, list or number: see
	// ResultKinds). A format that encodes none is only carried: tiles of it are
	// stored and served by exports (PMTiles archives may hold them) but not
	// rendered here.
	Raster, Vector, Table, Text, JSONValue bool
}

var formats = []Format{
	{Name: "png", MediaType: "image/png", Raster: true},
	{Name: "jpg", Aliases: []string{"jpeg"}, MediaType: "image/jpeg", Raster: true},
	{Name: "webp", MediaType: "image/webp", Raster: true},
	{Name: "gif", MediaType: "image/gif", Raster: true},
	{Name: "tif", Aliases: []string{"tiff", "geotiff"}, MediaType: "image/tiff; application=geotiff", Raster: true},
	{Name: "npy", MediaType: "application/x-npy", Raster: true},
	{Name: "mvt", Aliases: []string{"pbf"}, MediaType: "application/vnd.mapbox-vector-tile", Compressible: true, Vector: true},
	{Name: "geojson", MediaType: "application/geo+json", Compressible: true, Vector: true},
	{Name: "json", MediaType: "application/json", Compressible: true, Vector: true, Table: true, Text: true, JSONValue: true},
	{Name: "csv", MediaType: "text/csv; charset=utf-8", Compressible: true, Vector: true, Table: true},
	{Name: "parquet", Aliases: []string{"geoparquet"}, MediaType: "application/vnd.apache.parquet", Vector: true, Table: true},
	{Name: "feather", Aliases: []string{"arrow"}, MediaType: "application/vnd.apache.arrow.file", Compressible: true, Vector: true, Table: true},
	{Name: "xlsx", Aliases: []string{"excel"}, MediaType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Vector: true, Table: true},
	{Name: "html", MediaType: "text/html; charset=utf-8", Compressible: true, Text: true},
	{Name: "avif", MediaType: "image/avif"},
	{Name: "mlt", MediaType: "application/vnd.maplibre-tile"},
}

// Formats lists every format.
func Formats() []Format { return append([]Format(nil), formats...) }

// LookupFormat finds a format by its name or one of its aliases, in any case.
func LookupFormat(name string) (Format, bool) {
	name = strings.ToLower(strings.TrimPrefix(name, "."))
	for _, f := range formats {
		if f.Name == name {
			return f, true
		}
		for _, a := range f.Aliases {
			if a == name {
				return f, true
			}
		}
	}
	return Format{}, false
}

// Normalize returns the canonical spelling of a format name; a name it does
// not know is returned as it is.
func Normalize(name string) string {
	if f, ok := LookupFormat(name); ok {
		return f.Name
	}
	return name
}

// MediaType is the Content-Type of a format; unknown ones are octet streams.
func MediaType(name string) string {
	if f, ok := LookupFormat(name); ok {
		return f.MediaType
	}
	return "application/octet-stream"
}

// FormatOfMediaType finds the format of a Content-Type (parameters after ';'
// aside, except that they must not contradict the table's).
func FormatOfMediaType(ct string) (Format, bool) {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	for _, f := range formats {
		fm, _, _ := strings.Cut(f.MediaType, ";")
		if fm == mt {
			return f, true
		}
	}
	return Format{}, false
}

// The kinds of result the format table tells apart (the keys of
// formats_by_result in /v1/udfs).
const (
	KindRaster   = "raster"   // an array
	KindFeatures = "features" // a GeoDataFrame, features with geometry
	KindTable    = "table"    // a DataFrame, rows without geometry
	KindText     = "text"     // a str
	KindJSON     = "json"     // a dict, a list, a number, a bool
)

// ResultKinds lists the kinds of result that formats encode, in the order
// listings show them. Bytes (a UDF's own bytes) are served as they are, in
// any format.
func ResultKinds() []string {
	return []string{KindRaster, KindFeatures, KindTable, KindText, KindJSON}
}

// Encodes reports whether the format encodes results of kind (see ResultKinds).
func (f Format) Encodes(kind string) bool {
	switch kind {
	case KindRaster:
		return f.Raster
	case KindFeatures:
		return f.Vector
	case KindTable:
		return f.Table
	case KindText:
		return f.Text
	case KindJSON:
		return f.JSONValue
	}
	return false
}

// FormatsFor lists the canonical names of the formats that encode results of
// kind, in the table's order.
func FormatsFor(kind string) []string {
	var out []string
	for _, f := range formats {
		if f.Encodes(kind) {
			out = append(out, f.Name)
		}
	}
	return out
}

// ResultFormats lists the canonical names of the formats that encode some
// kind of result: what a handler whose results vary (a Python UDF) serves.
func ResultFormats() []string {
	var out []string
	for _, f := range formats {
		for _, k := range ResultKinds() {
			if f.Encodes(k) {
				out = append(out, f.Name)
				break
			}
		}
	}
	return out
}

// cannotEncode is the error for a format that does not encode a result of
// kind (described as what): it names the formats that do.
func cannotEncode(format, kind, what string) error {
	list := FormatsFor(kind)
	if kind == KindFeatures {
		for i, f := range list {
			if f == "mvt" {
				list[i] = "mvt (tiles)"
			}
		}
	}
	return layer.Errorf(layer.BadRequest, "format %q: %s can be %s", format, what, orList(list))
}

// orList writes names as "a, b or c".
func orList(names []string) string {
	switch len(names) {
	case 0:
		return "nothing"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
