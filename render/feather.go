package render

import (
	"bytes"
	"encoding/json"
	"math"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/udftiles/udftiles/layer"
)

// featherBatch is the most rows in one record batch of a Feather file.
const featherBatch = 64 * 1024

// Feather files are Arrow IPC files (Feather v2), uncompressed, so that any
// Arrow reader opens them, those without LZ4 or zstd included.

// FeatherTable writes a table as a Feather file: one nullable column per table
// column, typed as Parquet's are (int64, uint64 past int64, float64, bool,
// else utf8 with objects and arrays as JSON). Duplicate column names get a
// trailing underscore.
func FeatherTable(t *layer.Table) ([]byte, error) {
	used := map[string]bool{}
	cols := make([]pqColumn, len(t.Columns))
	for j, c := range t.Columns {
		vals := make([]any, len(t.Rows))
		for i, row := range t.Rows {
			if j < len(row) {
				vals[i] = row[j]
			}
		}
		cols[j] = pqColumn{name: uniqueName(c, used), kind: inferKind(vals, t.Types[c]), values: vals}
	}
	return writeFeather(cols, len(t.Rows), nil, nil)
}

// FeatherFeatures writes features as a Feather file: a column per property
// (in first-seen order, typed from its values as FeatherTable's are), then
// `geometry`, WKB in a binary column marked as GeoArrow's geoarrow.wkb
// extension (lon/lat, OGC:CRS84), with the `geo` schema metadata of
// GeoParquet 1.0 that geopandas.read_feather reads. A property named geometry
// gets a trailing underscore.
func FeatherFeatures(f *layer.Features) ([]byte, error) {
	keys := propertyKeys(f)
	var fts []*featureRow
	for _, ft := range features(f) {
		if ft != nil {
			fts = append(fts, &featureRow{geom: ft.Geometry, props: ft.Properties})
		}
	}
	used := map[string]bool{"geometry": true}
	cols := make([]pqColumn, len(keys))
	for j, k := range keys {
		vals := make([]any, len(fts))
		for i, ft := range fts {
			vals[i] = ft.props[k]
		}
		cols[j] = pqColumn{name: uniqueName(k, used), kind: inferKind(vals, ""), values: vals}
	}
	geoms := make([][]byte, len(fts))
	types := map[string]bool{}
	total := orb.Bound{Min: orb.Point{math.Inf(1), math.Inf(1)}, Max: orb.Point{math.Inf(-1), math.Inf(-1)}}
	for i, ft := range fts {
		g := withoutNil(ft.geom)
		switch x := g.(type) {
		case nil:
			continue
		case orb.Bound:
			g = x.ToPolygon()
		case orb.Ring:
			g = orb.Polygon{x}
		}
		b, err := wkb.Marshal(g)
		if err != nil {
			return nil, layer.Errorf(layer.Failed, "feature %d: geometry to WKB: %v", i, err)
		}
		geoms[i] = b
		types[g.GeoJSONType()] = true
		if !isEmpty(g) {
			total = total.Union(g.Bound())
		}
	}
	geomTypes := make([]string, 0, len(types))
	for t := range types {
		geomTypes = append(geomTypes, t)
	}
	sort.Strings(geomTypes)
	geoCol := map[string]any{"encoding": "WKB", "geometry_types": geomTypes}
	if total.Min[0] <= total.Max[0] && !math.IsNaN(total.Min[0]) && !math.IsInf(total.Min[0], 0) && !math.IsInf(total.Max[0], 0) {
		geoCol["bbox"] = []float64{total.Min[0], total.Min[1], total.Max[0], total.Max[1]}
	}
	meta, err := json.Marshal(map[string]any{
		"version":        "1.0.0",
		"primary_column": "geometry",
		"columns":        map[string]any{"geometry": geoCol},
	})
	if err != nil {
		return nil, err
	}
	schemaMeta := arrow.NewMetadata([]string{"geo"}, []string{string(meta)})
	return writeFeather(cols, len(fts), geoms, &schemaMeta)
}

// uniqueName is name, or "_" for an empty one, with underscores added until
// it is not in used; it is then added to used.
func uniqueName(name string, used map[string]bool) string {
	if name == "" {
		name = "_"
	}
	for used[name] {
		name += "_"
	}
	used[name] = true
	return name
}

// geoarrowWKB marks a binary column as GeoArrow's WKB extension, in lon/lat.
var geoarrowWKB = arrow.NewMetadata(
	[]string{"ARROW:extension:name", "ARROW:extension:metadata"},
	[]string{"geoarrow.wkb", `{"crs":"OGC:CRS84","crs_type":"authority_code"}`})

// writeFeather writes the columns, then geoms as the geometry column when
// not nil, in record batches of featherBatch rows.
func writeFeather(cols []pqColumn, rows int, geoms [][]byte, meta *arrow.Metadata) ([]byte, error) {
	fields := make([]arrow.Field, 0, len(cols)+1)
	for _, c := range cols {
		fields = append(fields, arrow.Field{Name: c.name, Type: c.kind.arrowType(), Nullable: true})
	}
	if geoms != nil {
		fields = append(fields, arrow.Field{Name: "geometry", Type: arrow.BinaryTypes.Binary, Nullable: true, Metadata: geoarrowWKB})
	}
	schema := arrow.NewSchema(fields, meta)
	mem := memory.DefaultAllocator
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	if err != nil {
		return nil, layer.Errorf(layer.Internal, "feather: %v", err)
	}
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for start := 0; start < rows; start += featherBatch {
		end := min(start+featherBatch, rows)
		for j, c := range cols {
			c.appendTo(b.Field(j), start, end)
		}
		if geoms != nil {
			gb := b.Field(len(cols)).(*array.BinaryBuilder)
			for _, g := range geoms[start:end] {
				if g == nil {
					gb.AppendNull()
				} else {
					gb.Append(g)
				}
			}
		}
		var rec arrow.RecordBatch
		if len(fields) == 0 {
			rec = array.NewRecordBatch(schema, nil, int64(end-start))
		} else {
			rec = b.NewRecordBatch()
		}
		err := w.Write(rec)
		rec.Release()
		if err != nil {
			return nil, layer.Errorf(layer.Internal, "feather: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, layer.Errorf(layer.Internal, "feather: %v", err)
	}
	return buf.Bytes(), nil
}

func (k pqKind) arrowType() arrow.DataType {
	switch k {
	case pqInt:
		return arrow.PrimitiveTypes.Int64
	case pqUint:
		return arrow.PrimitiveTypes.Uint64
	case pqFloat:
		return arrow.PrimitiveTypes.Float64
	case pqBool:
		return arrow.FixedWidthTypes.Boolean
	}
	return arrow.BinaryTypes.String
}

// appendTo appends the column's values of rows start..end-1 to b, a builder
// of the column's arrowType.
func (c *pqColumn) appendTo(b array.Builder, start, end int) {
	for _, v := range c.values[start:end] {
		if v == nil {
			b.AppendNull()
			continue
		}
		switch b := b.(type) {
		case *array.Int64Builder:
			n, _ := asInt(v)
			b.Append(n)
		case *array.Uint64Builder:
			n, _ := asUint(v)
			b.Append(n)
		case *array.Float64Builder:
			f, _ := asFloat(v)
			b.Append(f)
		case *array.BooleanBuilder:
			b.Append(v.(bool))
		case *array.StringBuilder:
			b.Append(cell(v))
		}
	}
}
