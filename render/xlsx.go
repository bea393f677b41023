package render

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkt"
	"github.com/udftiles/udftiles/layer"
	"github.com/xuri/excelize/v2"
)

// Spreadsheet limits: rows (the header row included) and columns of a sheet,
// and UTF-16 units of a cell's text.
const (
	xlsxMaxRows      = excelize.TotalRows
	xlsxMaxColumns   = excelize.MaxColumns
	xlsxMaxCellChars = excelize.TotalCellChars
)

// xlsxMaxInt is the largest integer a spreadsheet keeps every digit of: Excel
// holds 15 significant digits. An integer column with a value beyond it (an
// H3 cell, a 64-bit id) is written as text.
const xlsxMaxInt = 999_999_999_999_999

// XLSXTable writes a table as a spreadsheet: one sheet, a header row of the
// column names, then a row per table row. Cells are typed from the column's
// type as Parquet's are: numbers as numbers (integers of 16 digits or more as
// text, the whole column, since spreadsheets keep 15), booleans as booleans,
// anything else as text (objects and arrays as JSON); nulls, NaN and
// infinities are empty cells.
func XLSXTable(t *layer.Table) ([]byte, error) {
	cols := make([]pqColumn, len(t.Columns))
	for j, c := range t.Columns {
		vals := make([]any, len(t.Rows))
		for i, row := range t.Rows {
			if j < len(row) {
				vals[i] = row[j]
			}
		}
		cols[j] = pqColumn{name: c, kind: inferKind(vals, t.Types[c]), values: vals}
	}
	return writeXLSX(cols, len(t.Rows))
}

// XLSXFeatures writes features as XLSXTable writes a table: a column per
// property (typed from its values), then a geometry column of WKT with
// coordinates rounded to precision decimals. A geometry whose WKT is over
// the 32767 characters a cell holds is an error naming the formats without
// that limit.
func XLSXFeatures(f *layer.Features, precision int) ([]byte, error) {
	keys := propertyKeys(f)
	var fts []*featureRow
	for _, ft := range features(f) {
		if ft != nil {
			fts = append(fts, &featureRow{geom: ft.Geometry, props: ft.Properties})
		}
	}
	cols := make([]pqColumn, 0, len(keys)+1)
	for _, k := range keys {
		vals := make([]any, len(fts))
		for i, ft := range fts {
			vals[i] = ft.props[k]
		}
		cols = append(cols, pqColumn{name: k, kind: inferKind(vals, ""), values: vals})
	}
	factor := int(math.Pow10(precision))
	geoms := make([]any, len(fts))
	for i, ft := range fts {
		if ft.geom == nil {
			continue
		}
		g := orb.Round(orb.Clone(withoutNil(ft.geom)), factor)
		geoms[i] = wkt.MarshalString(g)
	}
	cols = append(cols, pqColumn{name: "geometry", kind: pqString, values: geoms})
	return writeXLSX(cols, len(fts))
}

func writeXLSX(cols []pqColumn, rows int) ([]byte, error) {
	if rows+1 > xlsxMaxRows || len(cols) > xlsxMaxColumns {
		return nil, layer.Errorf(layer.BadRequest, "format xlsx: %d rows and %d columns are over the %d rows (with the header) and %d columns of a spreadsheet: ask for csv, parquet or feather",
			rows, len(cols), xlsxMaxRows, xlsxMaxColumns)
	}
	// An integer column with a value past what a spreadsheet keeps is text.
	asText := make([]bool, len(cols))
	for j, c := range cols {
		switch c.kind {
		case pqUint:
			asText[j] = true
		case pqInt:
			for _, v := range c.values {
				if n, ok := asInt(v); ok && (n > xlsxMaxInt || n < -xlsxMaxInt) {
					asText[j] = true
					break
				}
			}
		}
	}
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		return nil, layer.Errorf(layer.Internal, "xlsx: %v", err)
	}
	line := make([]any, len(cols))
	for j, c := range cols {
		line[j] = c.name
	}
	if err := sw.SetRow("A1", line); err != nil {
		return nil, layer.Errorf(layer.Internal, "xlsx: %v", err)
	}
	for i := range rows {
		for j, c := range cols {
			v, err := xlsxCell(c, i, asText[j])
			if err != nil {
				return nil, layer.Errorf(layer.BadRequest, "format xlsx: row %d, column %s: %v: ask for csv, parquet or feather", i+1, c.name, err)
			}
			line[j] = v
		}
		if err := sw.SetRow("A"+strconv.Itoa(i+2), line); err != nil {
			return nil, layer.Errorf(layer.Internal, "xlsx: %v", err)
		}
	}
	if err := sw.Flush(); err != nil {
		return nil, layer.Errorf(layer.Internal, "xlsx: %v", err)
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		return nil, layer.Errorf(layer.Internal, "xlsx: %v", err)
	}
	return buf.Bytes(), nil
}

// xlsxCell is the value of column c in row i as excelize writes it: nil for
// an empty cell.
func xlsxCell(c pqColumn, i int, asText bool) (any, error) {
	v := c.values[i]
	if v == nil {
		return nil, nil
	}
	switch {
	case c.kind == pqInt && !asText:
		n, _ := asInt(v)
		return n, nil
	case c.kind == pqFloat:
		f, _ := asFloat(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, nil
		}
		return f, nil
	case c.kind == pqBool:
		return v.(bool), nil
	}
	s := cell(v)
	if len(s) > xlsxMaxCellChars && utf16Len(s) > xlsxMaxCellChars { // UTF-8 is never shorter than UTF-16 units
		return nil, fmt.Errorf("%d characters, over the %d a spreadsheet cell holds", utf16Len(s), xlsxMaxCellChars)
	}
	return s, nil
}

// utf16Len is the length of s in UTF-16 units, as spreadsheets count text.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}
