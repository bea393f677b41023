package render

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/paulmach/orb/encoding/wkt"
	"github.com/udftiles/udftiles/udfhost"
)

// Natural is the format a result is encoded in when none was asked for.
func Natural(res udfhost.Result) string {
	switch res.(type) {
	case *udfhost.Raster:
		return "png"
	case *udfhost.Features:
		return "geojson"
	case *udfhost.Table:
		return "json"
	}
	return ""
}

func encodeFeatures(f *udfhost.Features, format string) ([]byte, string, error) {
	switch format {
	case "geojson", "json":
		b, err := json.Marshal(f.Collection)
		return b, "application/geo+json", err
	case "csv":
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		keys := propertyKeys(f)
		if err := w.Write(append(keys, "geometry")); err != nil {
			return nil, "", err
		}
		for _, ft := range f.Collection.Features {
			row := make([]string, 0, len(keys)+1)
			for _, k := range keys {
				row = append(row, cell(ft.Properties[k]))
			}
			g := ""
			if ft.Geometry != nil {
				g = wkt.MarshalString(ft.Geometry)
			}
			if err := w.Write(append(row, g)); err != nil {
				return nil, "", err
			}
		}
		w.Flush()
		return buf.Bytes(), "text/csv; charset=utf-8", w.Error()
	}
	return nil, "", udfhost.Errorf(udfhost.BadRequest, "format %q: features can be geojson, json or csv", format)
}

// propertyKeys lists the properties of all features, in first-seen order.
func propertyKeys(f *udfhost.Features) []string {
	seen := map[string]bool{}
	var keys []string
	for _, ft := range f.Collection.Features {
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

func encodeTable(t *udfhost.Table, format string) ([]byte, string, error) {
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
	}
	return nil, "", udfhost.Errorf(udfhost.BadRequest, "format %q: a table (no geometry) can be json or csv", format)
}

// bigIntColumns marks the integer columns holding a value past 2^53, which a
// JSON reader's doubles would round (H3 cells, ids): the whole column is written
// as strings, so that each column keeps one type.
func bigIntColumns(t *udfhost.Table) []bool {
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

func encodeValue(v *udfhost.Value, format string) ([]byte, string, error) {
	switch {
	case format == "" || v.Kind == "bytes" || v.Kind == "":
		return v.Body, v.ContentType, nil
	case format == "json" && v.Kind == "text":
		b, err := json.Marshal(string(v.Body))
		return b, "application/json", err
	case format == "json" && v.Kind == "json":
		return v.Body, v.ContentType, nil
	}
	return nil, "", udfhost.Errorf(udfhost.BadRequest, "format %q: the UDF returned a %s value, served as is or as json", format, v.Kind)
}
