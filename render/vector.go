package render

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkt"
	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/layer"
)

// Natural is the format a result is encoded in when none was asked for.
func Natural(res layer.Result) string {
	switch res.(type) {
	case *layer.Raster:
		return "png"
	case *layer.Features:
		return "geojson"
	case *layer.Table:
		return "json"
	}
	return ""
}

func encodeFeatures(f *layer.Features, format string, o Options) ([]byte, string, error) {
	switch format {
	case "mvt":
		if o.Tile == nil {
			return nil, "", layer.Errorf(layer.BadRequest, "format mvt is for tiles: ask for /tiles/{z}/{x}/{y}.mvt")
		}
		b, err := MVT(f, *o.Tile, o)
		return b, MediaType("mvt"), err
	case "geojson", "json":
		b, err := GeoJSON(f, o.precision())
		return b, MediaType("geojson"), err
	case "csv":
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		keys := propertyKeys(f)
		if err := w.Write(append(keys, "geometry")); err != nil {
			return nil, "", err
		}
		for _, ft := range features(f) {
			if ft == nil {
				continue
			}
			row := make([]string, 0, len(keys)+1)
			for _, k := range keys {
				row = append(row, cell(ft.Properties[k]))
			}
			g := ""
			if ft.Geometry != nil {
				g = wkt.MarshalString(withoutNil(ft.Geometry))
			}
			if err := w.Write(append(row, g)); err != nil {
				return nil, "", err
			}
		}
		w.Flush()
		return buf.Bytes(), "text/csv; charset=utf-8", w.Error()
	case "parquet":
		b, err := GeoParquet(f)
		return b, MediaType("parquet"), err
	case "feather":
		b, err := FeatherFeatures(f)
		return b, MediaType("feather"), err
	case "xlsx":
		b, err := XLSXFeatures(f, o.precision())
		return b, MediaType("xlsx"), err
	}
	return nil, "", cannotEncode(format, KindFeatures, "features")
}

// withoutNil returns g with the nil members of its collections, at any depth,
// left out: orb's WKT writer panics on them, and its WKB writer counts them
// but writes nothing for them, which corrupts the collection. A geometry
// without them is returned as it is.
func withoutNil(g orb.Geometry) orb.Geometry {
	c, ok := g.(orb.Collection)
	if !ok || !hasNil(c) {
		return g
	}
	out := make(orb.Collection, 0, len(c))
	for _, m := range c {
		if m != nil {
			out = append(out, withoutNil(m))
		}
	}
	return out
}

func hasNil(c orb.Collection) bool {
	for _, m := range c {
		if m == nil {
			return true
		}
		if mc, ok := m.(orb.Collection); ok && hasNil(mc) {
			return true
		}
	}
	return false
}

// features lists the features of a result, none if it has no collection.
func features(f *layer.Features) []*geojson.Feature {
	if f == nil || f.Collection == nil {
		return nil
	}
	return f.Collection.Features
}

// GeoJSON writes features as an RFC 7946 FeatureCollection in EPSG:4326, not
// clipped, coordinates rounded to precision decimals, rings closed. A property
// that JSON cannot hold (NaN, an infinity) is null. No features is
// {"type":"FeatureCollection","features":[]}.
func GeoJSON(f *layer.Features, precision int) ([]byte, error) {
	w := geojsonWriter{b: make([]byte, 0, 4096), prec: precision}
	w.b = append(w.b, `{"type":"FeatureCollection","features":[`...)
	first := true
	for _, ft := range features(f) {
		if ft == nil {
			continue
		}
		if !first {
			w.b = append(w.b, ',')
		}
		first = false
		w.b = append(w.b, `{"type":"Feature"`...)
		switch ft.ID.(type) {
		case string, float64, float32, int, int64, int32, uint, uint64, uint32, json.Number:
			w.b = append(w.b, `,"id":`...)
			w.value(ft.ID)
		}
		w.b = append(w.b, `,"geometry":`...)
		w.geometry(ft.Geometry)
		w.b = append(w.b, `,"properties":{`...)
		keys := make([]string, 0, len(ft.Properties))
		for k := range ft.Properties {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.value(k)
			w.b = append(w.b, ':')
			w.value(ft.Properties[k])
		}
		w.b = append(w.b, "}}"...)
	}
	w.b = append(w.b, "]}"...)
	return w.b, w.err
}

type geojsonWriter struct {
	b    []byte
	prec int
	err  error
}

func (w *geojsonWriter) geometry(g orb.Geometry) {
	if b, ok := g.(orb.Bound); ok {
		g = b.ToPolygon()
	}
	if r, ok := g.(orb.Ring); ok {
		g = orb.Polygon{r}
	}
	if g == nil {
		w.b = append(w.b, "null"...)
		return
	}
	if c, ok := g.(orb.Collection); ok {
		w.b = append(w.b, `{"type":"GeometryCollection","geometries":[`...)
		first := true
		for _, m := range c {
			if m == nil { // GeoJSON has no null member
				continue
			}
			if !first {
				w.b = append(w.b, ',')
			}
			first = false
			w.geometry(m)
		}
		w.b = append(w.b, "]}"...)
		return
	}
	w.b = append(w.b, `{"type":"`...)
	w.b = append(w.b, g.GeoJSONType()...)
	w.b = append(w.b, `","coordinates":`...)
	switch g := g.(type) {
	case orb.Point:
		w.point(g)
	case orb.MultiPoint:
		w.points(g, false)
	case orb.LineString:
		w.points(g, false)
	case orb.MultiLineString:
		w.b = append(w.b, '[')
		for i, l := range g {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.points(l, false)
		}
		w.b = append(w.b, ']')
	case orb.Polygon:
		w.polygon(g)
	case orb.MultiPolygon:
		w.b = append(w.b, '[')
		for i, p := range g {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.polygon(p)
		}
		w.b = append(w.b, ']')
	}
	w.b = append(w.b, '}')
}

func (w *geojsonWriter) polygon(p orb.Polygon) {
	w.b = append(w.b, '[')
	for i, r := range p {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.points(r, true)
	}
	w.b = append(w.b, ']')
}

// points writes a list of positions; ring closes it if it is not closed.
func (w *geojsonWriter) points(ps []orb.Point, ring bool) {
	w.b = append(w.b, '[')
	for i, p := range ps {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.point(p)
	}
	if ring && len(ps) > 0 && ps[0] != ps[len(ps)-1] {
		w.b = append(w.b, ',')
		w.point(ps[0])
	}
	w.b = append(w.b, ']')
}

func (w *geojsonWriter) point(p orb.Point) {
	w.b = append(w.b, '[')
	w.coord(p[0])
	w.b = append(w.b, ',')
	w.coord(p[1])
	w.b = append(w.b, ']')
}

// coord writes a coordinate with at most prec decimals, no trailing zeros.
func (w *geojsonWriter) coord(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		if w.err == nil {
			w.err = layer.Errorf(layer.Failed, "a coordinate is %v, which GeoJSON cannot hold", v)
		}
		w.b = append(w.b, '0')
		return
	}
	start := len(w.b)
	w.b = strconv.AppendFloat(w.b, v, 'f', w.prec, 64)
	if w.prec > 0 {
		end := len(w.b)
		for w.b[end-1] == '0' {
			end--
		}
		if w.b[end-1] == '.' {
			end--
		}
		w.b = w.b[:end]
	}
	if string(w.b[start:]) == "-0" {
		w.b = append(w.b[:start], '0')
	}
}

// value writes a property value as JSON.
func (w *geojsonWriter) value(v any) {
	switch x := v.(type) {
	case nil:
		w.b = append(w.b, "null"...)
		return
	case bool:
		w.b = strconv.AppendBool(w.b, x)
		return
	case float64:
		w.number(x)
		return
	case float32:
		w.number(float64(x))
		return
	}
	b, err := json.Marshal(v)
	if err != nil { // a NaN deep in an object, a channel: nothing JSON can say
		b = []byte("null")
	}
	w.b = append(w.b, b...)
}

// number writes a float as encoding/json does, and NaN and infinities as null.
func (w *geojsonWriter) number(f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.b = append(w.b, "null"...)
		return
	}
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	w.b = strconv.AppendFloat(w.b, f, format, -1, 64)
	if n := len(w.b); format == 'e' && n >= 4 && w.b[n-4] == 'e' && w.b[n-3] == '-' && w.b[n-2] == '0' {
		w.b[n-2] = w.b[n-1] // e-07 as e-7
		w.b = w.b[:n-1]
	}
}

// propertyKeys lists the properties of all features, in first-seen order.
func propertyKeys(f *layer.Features) []string {
	seen := map[string]bool{}
	var keys []string
	for _, ft := range features(f) {
		if ft == nil {
			continue
		}
		var ks []string
		for k := range ft.Properties {
			if !seen[k] {
				ks = append(ks, k)
			}
		}
		sort.Strings(ks) // a map has no order; sorted keeps output stable
		for _, k := range ks {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		// GeoJSON properties arrive as float64, integers included: 83132799, not 8.3132799e+07.
		if x == math.Trunc(x) && math.Abs(x) < 1e21 {
			return strconv.FormatFloat(x, 'f', -1, 64)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool, int, int64:
		return fmt.Sprint(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func encodeTable(t *layer.Table, format string) ([]byte, string, error) {
	switch format {
	case "json":
		asString := bigIntColumns(t)
		var buf bytes.Buffer
		buf.WriteByte('[')
		for i, row := range t.Rows {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteByte('{')
			for j, c := range t.Columns {
				if j > 0 {
					buf.WriteByte(',')
				}
				k, _ := json.Marshal(c)
				buf.Write(k)
				buf.WriteByte(':')
				var v any
				if j < len(row) {
					v = row[j]
				}
				if n, ok := v.(json.Number); ok && asString[j] {
					v = n.String()
				}
				b, err := json.Marshal(v)
				if err != nil {
					return nil, "", err
				}
				buf.Write(b)
			}
			buf.WriteByte('}')
		}
		buf.WriteByte(']')
		return buf.Bytes(), "application/json", nil
	case "csv":
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		if err := w.Write(t.Columns); err != nil {
			return nil, "", err
		}
		for _, row := range t.Rows {
			rec := make([]string, len(t.Columns))
			for j := range rec {
				if j < len(row) {
					rec[j] = cell(row[j])
				}
			}
			if err := w.Write(rec); err != nil {
				return nil, "", err
			}
		}
		w.Flush()
		return buf.Bytes(), "text/csv; charset=utf-8", w.Error()
	case "parquet":
		b, err := ParquetTable(t)
		return b, MediaType("parquet"), err
	case "feather":
		b, err := FeatherTable(t)
		return b, MediaType("feather"), err
	case "xlsx":
		b, err := XLSXTable(t)
		return b, MediaType("xlsx"), err
	}
	if format == "mvt" || format == "geojson" {
		return nil, "", layer.Errorf(layer.BadRequest, "format %s: a table has no geometry; it can be %s", format, orList(FormatsFor(KindTable)))
	}
	return nil, "", cannotEncode(format, KindTable, "a table (no geometry)")
}

// bigIntColumns marks the integer columns holding a value past 2^53, which a
// JSON reader's doubles would round (H3 cells, ids): the whole column is written
// as strings, so that each column keeps one type.
func bigIntColumns(t *layer.Table) []bool {
	out := make([]bool, len(t.Columns))
	for j, c := range t.Columns {
		if t.Types[c] != "int" {
			continue
		}
		for _, row := range t.Rows {
			if j >= len(row) {
				continue
			}
			n, ok := row[j].(json.Number)
			if !ok {
				continue
			}
			if _, err := n.Int64(); err != nil { // beyond int64 (a big uint64)
				out[j] = true
				break
			}
			if i, _ := n.Int64(); i >= 1<<53 || i <= -(1<<53) {
				out[j] = true
				break
			}
		}
	}
	return out
}

func encodeValue(v *layer.Value, format string) ([]byte, string, error) {
	switch {
	case format == "" || v.Kind == "bytes" || v.Kind == "":
		return v.Body, v.ContentType, nil
	case format == "json" && v.Kind == "text":
		b, err := json.Marshal(string(v.Body))
		return b, "application/json", err
	case format == "json" && v.Kind == "json":
		return v.Body, v.ContentType, nil
	case format == "html" && v.Kind == "text":
		return v.Body, MediaType("html"), nil
	}
	kind, what := KindJSON, "a dict, list or number"
	if v.Kind == "text" {
		kind, what = KindText, "a str"
	}
	return nil, "", layer.Errorf(layer.BadRequest, "format %q: the UDF returned %s, which can be %s (or, with no format, is served as it is)",
		format, what, orList(FormatsFor(kind)))
}
