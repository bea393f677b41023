package render

import "strings"

// Format is one output format: the one table that render, web, export and
// OGC API read names, media types and kinds from.
type Format struct {
	Name         string   // canonical name, also the file extension
	Aliases      []string // other spellings accepted for it
	MediaType    string   // its Content-Type
	Compressible bool     // gzip shrinks it (vector tiles and text), on the wire and in archives
	// Raster, Vector and Table say what results it encodes. A format that
	// encodes none is only carried: tiles of it are stored and served by
	// exports (PMTiles archives may hold them) but not rendered here.
	Raster, Vector, Table bool
}

var formats = []Format{
	{Name: "png", MediaType: "image/png", Raster: true},
	{Name: "jpg", Aliases: []string{"jpeg"}, MediaType: "image/jpeg", Raster: true},
	{Name: "webp", MediaType: "image/webp", Raster: true},
	{Name: "tif", Aliases: []string{"tiff", "geotiff"}, MediaType: "image/tiff; application=geotiff", Raster: true},
	{Name: "npy", MediaType: "application/x-npy", Raster: true},
	{Name: "mvt", Aliases: []string{"pbf"}, MediaType: "application/vnd.mapbox-vector-tile", Compressible: true, Vector: true},
	{Name: "geojson", MediaType: "application/geo+json", Compressible: true, Vector: true},
	{Name: "json", MediaType: "application/json", Compressible: true, Vector: true, Table: true},
	{Name: "csv", MediaType: "text/csv; charset=utf-8", Compressible: true, Vector: true, Table: true},
	{Name: "parquet", Aliases: []string{"geoparquet"}, MediaType: "application/vnd.apache.parquet", Vector: true, Table: true},
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
