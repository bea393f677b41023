package render

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"sort"
	"strconv"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/udftiles/udftiles/layer"
)

// GeoParquet writes features as a GeoParquet 1.1 file, zstd compressed: a
// nullable WKB `geometry` column, a `bbox` covering column (a struct of xmin,
// ymin, xmax, ymax doubles, null where the geometry is null or empty) and one
// nullable column per property. A property column is int64 when every value in
// it is an integer, double when every value is a number, boolean when every
// value is a boolean, and otherwise a string (objects and arrays as JSON). A
// property named geometry or bbox is renamed with a trailing underscore. The
// `geo` metadata omits crs, which means OGC:CRS84 (lon/lat, as GeoJSON). No
// features is a file with the schema and no rows.
func GeoParquet(f *layer.Features) ([]byte, error) {
	var buf bytes.Buffer
	if err := WriteGeoParquet(&buf, f, GeoParquetOptions{}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// GeoParquetOptions tune WriteGeoParquet.
type GeoParquetOptions struct {
	RowGroupSize int            // rows per row group; 0 = 65536
	PageSize     int            // bytes of a column's page before compression; 0 = parquet-go's 256 KiB
	Progress     func(rows int) // if set, called with the rows written so far
}

// WriteGeoParquet writes features to w as GeoParquet does, in row groups of
// o.RowGroupSize rows (each with min/max statistics of the bbox columns, which
// readers use to skip groups), in the order given.
func WriteGeoParquet(w io.Writer, f *layer.Features, o GeoParquetOptions) error {
	var fts []featureRow
	keys := propertyKeys(f)
	for _, ft := range features(f) {
		if ft == nil {
			continue
		}
		g := withoutNil(ft.Geometry)
		switch x := g.(type) {
		case orb.Bound:
			g = x.ToPolygon()
		case orb.Ring:
			g = orb.Polygon{x}
		}
		fts = append(fts, featureRow{geom: g, props: ft.Properties})
	}

	// Columns: the reserved names first, then the properties, renamed on clash.
	used := map[string]bool{"geometry": true, "bbox": true}
	cols := make([]pqColumn, len(keys))
	for i, k := range keys {
		name := k
		if name == "" {
			name = "_"
		}
		for used[name] {
			name += "_"
		}
		used[name] = true
		vals := make([]any, len(fts))
		for j, ft := range fts {
			vals[j] = ft.props[k]
		}
		cols[i] = pqColumn{name: name, kind: inferKind(vals, ""), values: vals}
	}

	types := map[string]bool{}
	total := orb.Bound{Min: orb.Point{math.Inf(1), math.Inf(1)}, Max: orb.Point{math.Inf(-1), math.Inf(-1)}}
	for i := range fts {
		ft := &fts[i]
		if ft.geom == nil {
			continue
		}
		b, err := wkb.Marshal(ft.geom)
		if err != nil {
			return layer.Errorf(layer.Failed, "feature %d: geometry to WKB: %v", i, err)
		}
		ft.wkb = b
		types[ft.geom.GeoJSONType()] = true
		bd := ft.geom.Bound()
		for _, v := range []float64{bd.Min[0], bd.Min[1], bd.Max[0], bd.Max[1]} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return layer.Errorf(layer.Failed, "feature %d: a coordinate is %v, which GeoParquet's bbox cannot hold", i, v)
			}
		}
		if isEmpty(ft.geom) {
			continue
		}
		ft.bbox, ft.hasBBox = bd, true
		total = total.Union(bd)
	}

	geomTypes := make([]string, 0, len(types))
	for t := range types {
		geomTypes = append(geomTypes, t)
	}
	sort.Strings(geomTypes)
	geoCol := map[string]any{
		"encoding":       "WKB",
		"geometry_types": geomTypes,
		"covering": map[string]any{"bbox": map[string][]string{
			"xmin": {"bbox", "xmin"}, "ymin": {"bbox", "ymin"},
			"xmax": {"bbox", "xmax"}, "ymax": {"bbox", "ymax"},
		}},
	}
	if total.Min[0] <= total.Max[0] {
		geoCol["bbox"] = []float64{total.Min[0], total.Min[1], total.Max[0], total.Max[1]}
	}
	meta, err := json.Marshal(map[string]any{
		"version":        "1.1.0",
		"primary_column": "geometry",
		"columns":        map[string]any{"geometry": geoCol},
	})
	if err != nil {
		return err
	}

	group := parquet.Group{
		"geometry": parquet.Optional(parquet.Leaf(parquet.ByteArrayType)),
		"bbox": parquet.Optional(parquet.Group{
			"xmin": parquet.Leaf(parquet.DoubleType),
			"ymin": parquet.Leaf(parquet.DoubleType),
			"xmax": parquet.Leaf(parquet.DoubleType),
			"ymax": parquet.Leaf(parquet.DoubleType),
		}),
	}
	for _, c := range cols {
		group[c.name] = c.kind.node()
	}
	schema := parquet.NewSchema("geoparquet", group)

	// Each leaf column gets a function writing its value of row i.
	byName := map[string]*pqColumn{}
	for i := range cols {
		byName[cols[i].name] = &cols[i]
	}
	leaves := schema.Columns()
	writers := make([]func(i, idx int) parquet.Value, len(leaves))
	for li, path := range leaves {
		switch {
		case path[0] == "geometry":
			writers[li] = func(i, idx int) parquet.Value {
				if fts[i].wkb == nil {
					return parquet.NullValue().Level(0, 0, idx)
				}
				return parquet.ByteArrayValue(fts[i].wkb).Level(0, 1, idx)
			}
		case path[0] == "bbox":
			var get func(b orb.Bound) float64
			switch path[1] {
			case "xmin":
				get = func(b orb.Bound) float64 { return b.Min[0] }
			case "ymin":
				get = func(b orb.Bound) float64 { return b.Min[1] }
			case "xmax":
				get = func(b orb.Bound) float64 { return b.Max[0] }
			default:
				get = func(b orb.Bound) float64 { return b.Max[1] }
			}
			writers[li] = func(i, idx int) parquet.Value {
				if !fts[i].hasBBox {
					return parquet.NullValue().Level(0, 0, idx)
				}
				return parquet.DoubleValue(get(fts[i].bbox)).Level(0, 1, idx)
			}
		default:
			c := byName[path[0]]
			writers[li] = func(i, idx int) parquet.Value { return c.value(i, idx) }
		}
	}
	opts := []parquet.WriterOption{parquet.KeyValueMetadata("geo", string(meta))}
	if o.PageSize > 0 {
		opts = append(opts, parquet.PageBufferSize(o.PageSize))
	}
	return writeParquet(w, schema, len(fts), writers, o.RowGroupSize, o.Progress, opts...)
}

// ParquetTable writes a table as a Parquet file, zstd compressed, one nullable
// column per table column typed from Types: int as int64 (uint64 when a value
// is past int64), float as double, bool as boolean, anything else as a string.
// A column whose values do not fit its type is typed from its values as
// GeoParquet does. No rows is a file with the schema and no rows; duplicate
// column names get a trailing underscore.
func ParquetTable(t *layer.Table) ([]byte, error) {
	used := map[string]bool{}
	cols := make([]pqColumn, len(t.Columns))
	for j, c := range t.Columns {
		name := c
		if name == "" {
			name = "_"
		}
		for used[name] {
			name += "_"
		}
		used[name] = true
		vals := make([]any, len(t.Rows))
		for i, row := range t.Rows {
			if j < len(row) {
				vals[i] = row[j]
			}
		}
		cols[j] = pqColumn{name: name, kind: inferKind(vals, t.Types[c]), values: vals}
	}
	group := parquet.Group{}
	byName := map[string]*pqColumn{}
	for i := range cols {
		group[cols[i].name] = cols[i].kind.node()
		byName[cols[i].name] = &cols[i]
	}
	if len(group) == 0 {
		// Parquet needs a column: a table without any is one null column.
		group["_"] = pqString.node()
		byName["_"] = &pqColumn{name: "_", kind: pqString, values: make([]any, len(t.Rows))}
	}
	schema := parquet.NewSchema("table", group)
	leaves := schema.Columns()
	writers := make([]func(i, idx int) parquet.Value, len(leaves))
	for li, path := range leaves {
		c := byName[path[0]]
		writers[li] = func(i, idx int) parquet.Value { return c.value(i, idx) }
	}
	var buf bytes.Buffer
	if err := writeParquet(&buf, schema, len(t.Rows), writers, 0, nil); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type featureRow struct {
	geom    orb.Geometry
	props   map[string]any
	wkb     []byte
	bbox    orb.Bound
	hasBBox bool
}

// writeParquet writes n rows to w, each leaf column's value from its writer,
// in row groups of rowGroup rows (0 = pqRowGroup); progress, if set, hears of
// the rows written.
func writeParquet(w io.Writer, schema *parquet.Schema, n int, writers []func(i, idx int) parquet.Value, rowGroup int,
	progress func(int), opts ...parquet.WriterOption) error {
	if rowGroup <= 0 {
		rowGroup = pqRowGroup
	}
	opts = append([]parquet.WriterOption{schema, parquet.Compression(pqZstd), parquet.MaxRowsPerRowGroup(int64(rowGroup))}, opts...)
	pw := parquet.NewWriter(w, opts...)
	const batch = 1024
	rows := make([]parquet.Row, 0, batch)
	for i := 0; i < n; i++ {
		row := make(parquet.Row, len(writers))
		for li, wr := range writers {
			row[li] = wr(i, li)
		}
		rows = append(rows, row)
		if len(rows) == batch || i == n-1 {
			if _, err := pw.WriteRows(rows); err != nil {
				return layer.Errorf(layer.Internal, "parquet: %v", err)
			}
			rows = rows[:0]
			if progress != nil {
				progress(i + 1)
			}
		}
	}
	if err := pw.Close(); err != nil {
		return layer.Errorf(layer.Internal, "parquet: %v", err)
	}
	return nil
}

// pqZstd is shared so that its pooled encoders are reused across files.
var pqZstd = &zstd.Codec{}

// pqRowGroup is the most rows in a row group: small enough that readers can
// skip groups by their bbox statistics.
const pqRowGroup = 64 * 1024

type pqKind int

const (
	pqString pqKind = iota
	pqInt
	pqUint
	pqFloat
	pqBool
)

func (k pqKind) node() parquet.Node {
	switch k {
	case pqInt:
		return parquet.Optional(parquet.Int(64))
	case pqUint:
		return parquet.Optional(parquet.Uint(64))
	case pqFloat:
		return parquet.Optional(parquet.Leaf(parquet.DoubleType))
	case pqBool:
		return parquet.Optional(parquet.Leaf(parquet.BooleanType))
	}
	return parquet.Optional(parquet.String())
}

type pqColumn struct {
	name   string
	kind   pqKind
	values []any
}

// value is the column's value in row i as a leaf value of column idx.
func (c *pqColumn) value(i, idx int) parquet.Value {
	v := c.values[i]
	if v == nil {
		return parquet.NullValue().Level(0, 0, idx)
	}
	var pv parquet.Value
	switch c.kind {
	case pqInt:
		n, _ := asInt(v)
		pv = parquet.Int64Value(n)
	case pqUint:
		n, _ := asUint(v)
		pv = parquet.Int64Value(int64(n))
	case pqFloat:
		f, _ := asFloat(v)
		pv = parquet.DoubleValue(f)
	case pqBool:
		pv = parquet.BooleanValue(v.(bool))
	default:
		pv = parquet.ByteArrayValue([]byte(cell(v)))
	}
	return pv.Level(0, 1, idx)
}

// inferKind types a column: the hint (bool, int, float, str) when every
// non-null value fits it, else integers, numbers, booleans, strings in turn.
func inferKind(vals []any, hint string) pqKind {
	all := func(ok func(any) bool) bool {
		for _, v := range vals {
			if v != nil && !ok(v) {
				return false
			}
		}
		return true
	}
	isInt := func(v any) bool { _, ok := asInt(v); return ok }
	isUint := func(v any) bool { _, ok := asUint(v); return ok }
	isNum := func(v any) bool { _, ok := asFloat(v); return ok }
	isBool := func(v any) bool { _, ok := v.(bool); return ok }
	nonNull := false
	for _, v := range vals {
		if v != nil {
			nonNull = true
			break
		}
	}
	switch hint {
	case "str":
		return pqString
	case "bool":
		if all(isBool) {
			return pqBool
		}
	case "int":
		if all(isInt) {
			return pqInt
		}
		if all(isUint) {
			return pqUint
		}
	case "float":
		if all(isNum) {
			return pqFloat
		}
	}
	switch {
	case !nonNull:
		return pqString
	case all(isBool):
		return pqBool
	case all(isInt):
		return pqInt
	case all(isNum):
		return pqFloat
	}
	return pqString
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case float64:
		if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 {
			return int64(x), true
		}
	case float32:
		return asInt(float64(x))
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

func asUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseUint(x.String(), 10, 64)
		return n, err == nil
	case uint64:
		return x, true
	}
	if n, ok := asInt(v); ok && n >= 0 {
		return uint64(n), true
	}
	return 0, false
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	if n, ok := asInt(v); ok {
		return float64(n), true
	}
	return 0, false
}

// isEmpty reports a geometry without any point, whose bound means nothing.
func isEmpty(g orb.Geometry) bool {
	switch x := g.(type) {
	case orb.Point:
		return false
	case orb.MultiPoint:
		return len(x) == 0
	case orb.LineString:
		return len(x) == 0
	case orb.MultiLineString:
		for _, l := range x {
			if len(l) > 0 {
				return false
			}
		}
	case orb.Polygon:
		for _, r := range x {
			if len(r) > 0 {
				return false
			}
		}
	case orb.MultiPolygon:
		for _, p := range x {
			if !isEmpty(p) {
				return false
			}
		}
	case orb.Collection:
		for _, m := range x {
			if !isEmpty(m) {
				return false
			}
		}
	}
	return true
}
