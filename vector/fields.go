package vector

/*
#cgo pkg-config: gdal
#include <ogr_api.h>
#include <cpl_string.h>
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unsafe"
)

// fieldType is OGR's field type (OFTInteger, ...).
type fieldType int

// column is one attribute field of a layer.
type column struct {
	Name  string
	Index int // OGR field index
	Type  fieldType
	Sub   int // OGR subtype: boolean, int16, float32, JSON
	unit  int // a GeoParquet TIME or TIMESTAMP column's unit (pqMicros, ...)
}

// valueKind is what a filter can do with a column.
type valueKind int

const (
	kindNumber valueKind = iota
	kindText
	kindDate
	kindOther
)

func (k valueKind) String() string {
	return [...]string{"number", "text", "date", "other"}[k]
}

func (c column) kind() valueKind {
	switch C.OGRFieldType(c.Type) {
	case C.OFTInteger, C.OFTInteger64, C.OFTReal:
		return kindNumber
	case C.OFTString:
		return kindText
	case C.OFTDate, C.OFTTime, C.OFTDateTime:
		return kindDate
	}
	return kindOther
}

// typeName is the field type as OGR names it (Integer, StringList, ...).
func (c column) typeName() string {
	return C.GoString(C.OGR_GetFieldTypeName(C.OGRFieldType(c.Type)))
}

// served reports whether the column becomes a property: binary fields are skipped.
func (c column) served() bool { return C.OGRFieldType(c.Type) != C.OFTBinary }

func findColumn(cols []column, name string) (column, bool) {
	for _, c := range cols {
		if c.Name == name {
			return c, true
		}
	}
	// OGR SQL and SQLite match column names regardless of case.
	for _, c := range cols {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return column{}, false
}

func columnNames(cols []column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// properties converts a feature's fields to GeoJSON property values: integers as
// int64 (booleans as bool), reals as float64 (NaN and infinities as null), text
// as string, dates and times as ISO 8601 text, lists as JSON text. Nulls stay
// nil so every feature carries every column.
func properties(f feature, cols []column) map[string]any {
	props := make(map[string]any, len(cols))
	for _, c := range cols {
		i := C.int(c.Index)
		if C.OGR_F_IsFieldSetAndNotNull(f.h, i) == 0 {
			props[c.Name] = nil
			continue
		}
		props[c.Name] = value(f.h, i, c)
	}
	return props
}

func value(h C.OGRFeatureH, i C.int, c column) any {
	switch C.OGRFieldType(c.Type) {
	case C.OFTInteger:
		n := int64(C.OGR_F_GetFieldAsInteger64(h, i))
		if c.Sub == C.OFSTBoolean {
			return n != 0
		}
		return n
	case C.OFTInteger64:
		return int64(C.OGR_F_GetFieldAsInteger64(h, i))
	case C.OFTReal:
		v := float64(C.OGR_F_GetFieldAsDouble(h, i))
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil // JSON has no NaN; an unknown value is what it is
		}
		return v
	case C.OFTDate, C.OFTTime, C.OFTDateTime:
		return isoTime(h, i, C.OGRFieldType(c.Type))
	case C.OFTIntegerList:
		var n C.int
		p := C.OGR_F_GetFieldAsIntegerList(h, i, &n)
		return jsonText(unsafe.Slice((*int32)(unsafe.Pointer(p)), int(n)))
	case C.OFTInteger64List:
		var n C.int
		p := C.OGR_F_GetFieldAsInteger64List(h, i, &n)
		return jsonText(unsafe.Slice((*int64)(unsafe.Pointer(p)), int(n)))
	case C.OFTRealList:
		var n C.int
		p := C.OGR_F_GetFieldAsDoubleList(h, i, &n)
		vals := make([]any, n)
		for k, v := range unsafe.Slice((*float64)(unsafe.Pointer(p)), int(n)) {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				vals[k] = v
			}
		}
		return jsonText(vals)
	case C.OFTStringList:
		p := C.OGR_F_GetFieldAsStringList(h, i)
		var vals []string
		for _, s := range unsafe.Slice(p, C.CSLCount(p)) {
			vals = append(vals, C.GoString(s))
		}
		return jsonText(vals)
	}
	return C.GoString(C.OGR_F_GetFieldAsString(h, i))
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	if string(b) == "null" {
		return "[]"
	}
	return string(b)
}

// isoTime writes a date, time or date-time field as ISO 8601, with the time
// zone when the file records one (tz flag 100 is UTC, each step 15 minutes).
func isoTime(h C.OGRFeatureH, i C.int, t C.OGRFieldType) string {
	var y, mo, d, hh, mi, tz C.int
	var sec C.float
	if C.OGR_F_GetFieldAsDateTimeEx(h, i, &y, &mo, &d, &hh, &mi, &sec, &tz) == 0 {
		return C.GoString(C.OGR_F_GetFieldAsString(h, i))
	}
	date := fmt.Sprintf("%04d-%02d-%02d", int(y), int(mo), int(d))
	s := float64(sec)
	clock := fmt.Sprintf("%02d:%02d:%02d", int(hh), int(mi), int(s))
	if ms := int(math.Round((s - math.Floor(s)) * 1000)); ms > 0 && ms < 1000 {
		clock += fmt.Sprintf(".%03d", ms)
	}
	switch t {
	case C.OFTDate:
		return date
	case C.OFTTime:
		return clock
	}
	out := date + "T" + clock
	switch {
	case tz == 100:
		out += "Z"
	case tz > 1:
		off := (int(tz) - 100) * 15
		sign := "+"
		if off < 0 {
			sign, off = "-", -off
		}
		out += fmt.Sprintf("%s%02d:%02d", sign, off/60, off%60)
	}
	return out
}
