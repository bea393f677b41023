package vector

/*
#cgo pkg-config: gdal
#include <ogr_api.h>
*/
import "C"

import (
	"container/list"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// GeoParquet. GDAL here has no Parquet driver, so GeoParquet files are read
// with parquet-go: the `geo` metadata names the WKB geometry column, its CRS
// and, from GeoParquet 1.1, a bbox covering column. A tile reads only the row
// groups whose bbox meets it (from the covering's column statistics, or from
// the geometries, measured once when the file is opened), and of those the
// columns it needs; `tileserver ingest` writes files sorted along a Hilbert
// curve so that a row group covers a small area. Geometries go through the
// same OGR code as other formats: repaired, reprojected and tested against the
// tile exactly. Properties are the top-level columns of types OGR would give a
// field (integers, booleans, floats, text, dates and timestamps); binary,
// decimal, INT96 and nested columns (structs, lists, maps) are not served.

// pqFile is one opened GeoParquet file; safe for concurrent reads.
type pqFile struct {
	f        *os.File
	pf       *parquet.File
	geom     int    // leaf column of the primary geometry
	cover    [4]int // leaf columns of the bbox covering (xmin, ymin, xmax, ymax); -1: none
	crs      string // PROJJSON or another CRS definition; "" = OGC:CRS84
	groups   []pqGroup
	cols     []column // the property columns served; Index is the leaf column
	unserved []string // columns not served, with why
	count    int64
	// env holds every row's envelope (minx, miny, maxx, maxy, as float32
	// rounded outwards; an empty box for rows without a geometry), by FID, once
	// the file is indexed: tiles find their rows without reading the covering.
	env       []float32
	extent    [4]float64 // from the geo metadata or the groups
	pages     pageCache
	hasExtent bool
}

// pqGroup is one row group: its rows and their bbox in the file's CRS.
type pqGroup struct {
	start, n int64
	env      [4]float64
	hasEnv   bool // false until known; a group without one is always read
}

// geoMeta is the part of GeoParquet's `geo` metadata this reader uses.
type geoMeta struct {
	Version       string `json:"version"`
	PrimaryColumn string `json:"primary_column"`
	Columns       map[string]struct {
		Encoding string          `json:"encoding"`
		CRS      json.RawMessage `json:"crs"`
		BBox     []float64       `json:"bbox"`
		Covering *struct {
			BBox map[string][]string `json:"bbox"`
		} `json:"covering"`
	} `json:"columns"`
}

// isGeoParquet reports whether path names a GeoParquet file by its extension.
func isGeoParquet(path string) bool {
	ext := strings.ToLower(path[strings.LastIndexByte(path, '.')+1:])
	return strings.Contains(path, ".") && (ext == "parquet" || ext == "geoparquet")
}

// openParquet opens a GeoParquet file and reads its metadata (not its rows).
func openParquet(path string) (*pqFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	// The page index (read here) lets a read seek to the pages holding its rows.
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipBloomFilters(true))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("not a Parquet file: %v", err)
	}
	p := &pqFile{f: f, pf: pf, geom: -1, cover: [4]int{-1, -1, -1, -1}, count: pf.NumRows()}
	if err := p.readMeta(); err != nil {
		f.Close()
		return nil, err
	}
	var start int64
	for _, rg := range pf.RowGroups() {
		g := pqGroup{start: start, n: rg.NumRows()}
		if p.cover[0] >= 0 {
			g.env, g.hasEnv = p.coverBounds(rg)
		}
		p.groups = append(p.groups, g)
		start += g.n
	}
	return p, nil
}

func (p *pqFile) Close() { p.f.Close() }

// leafColumn returns the leaf column at path, or nil.
func leafColumn(pf *parquet.File, path ...string) *parquet.Column {
	c := pf.Root()
	for _, name := range path {
		if c = c.Column(name); c == nil {
			return nil
		}
	}
	if !c.Leaf() {
		return nil
	}
	return c
}

func (p *pqFile) readMeta() error {
	raw, ok := p.pf.Lookup("geo")
	if !ok {
		return errors.New("a Parquet file without GeoParquet's `geo` metadata: no geometry column is known (write it with tileserver ingest)")
	}
	var m geoMeta
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return fmt.Errorf("the `geo` metadata is not valid JSON: %v", err)
	}
	c, ok := m.Columns[m.PrimaryColumn]
	if m.PrimaryColumn == "" || !ok {
		return fmt.Errorf("the `geo` metadata has no primary_column among its columns")
	}
	if !strings.EqualFold(c.Encoding, "WKB") {
		return fmt.Errorf("geometry column %s is encoded as %q: only WKB is read (rewrite it with tileserver ingest)", m.PrimaryColumn, c.Encoding)
	}
	gc := leafColumn(p.pf, m.PrimaryColumn)
	if gc == nil || gc.Repeated() {
		return fmt.Errorf("the geometry column %s is not a top-level column of the file", m.PrimaryColumn)
	}
	if t := gc.Type(); t.Kind() != parquet.ByteArray {
		return fmt.Errorf("the geometry column %s holds %s values, not WKB bytes", m.PrimaryColumn, t)
	}
	p.geom = gc.Index()
	// crs: absent = OGC:CRS84; null = unknown, taken as lon/lat as OGR does a layer without a CRS.
	if len(c.CRS) > 0 && string(c.CRS) != "null" {
		var s string
		if json.Unmarshal(c.CRS, &s) == nil {
			p.crs = s
		} else {
			p.crs = string(c.CRS) // PROJJSON
		}
		if isLonLatCRS(p.crs) {
			p.crs = ""
		}
	}
	if len(c.BBox) >= 4 {
		n := len(c.BBox) / 2 // 2D or 3D
		p.extent = [4]float64{c.BBox[0], c.BBox[1], c.BBox[n], c.BBox[n+1]}
		p.hasExtent = true
	}
	coverRoot := ""
	if c.Covering != nil && c.Covering.BBox != nil {
		cover := [4]int{}
		for i, k := range []string{"xmin", "ymin", "xmax", "ymax"} {
			cover[i] = -1
			if bc := leafColumn(p.pf, c.Covering.BBox[k]...); bc != nil && !bc.Repeated() &&
				(bc.Type().Kind() == parquet.Double || bc.Type().Kind() == parquet.Float) {
				cover[i] = bc.Index()
			}
		}
		if !slices.Contains(cover[:], -1) && len(c.Covering.BBox["xmin"]) > 0 {
			p.cover = cover
			coverRoot = c.Covering.BBox["xmin"][0]
		}
	}
	// Properties: top-level columns other than the geometries and the covering.
	for _, f := range p.pf.Schema().Fields() {
		name := f.Name()
		if _, geom := m.Columns[name]; geom || name == coverRoot {
			continue
		}
		if !f.Leaf() || f.Repeated() {
			p.unserved = append(p.unserved, name+" (nested)")
			continue
		}
		ft, sub, ok := ogrType(f.Type())
		if !ok {
			p.unserved = append(p.unserved, fmt.Sprintf("%s (%s)", name, f.Type()))
			continue
		}
		p.cols = append(p.cols, column{Name: name, Index: leafColumn(p.pf, name).Index(), Type: ft, Sub: sub,
			unit: pqTimeUnit(f.Type().LogicalType())})
	}
	return nil
}

// isLonLatCRS recognises the usual spellings of lon/lat WGS 84.
func isLonLatCRS(s string) bool {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "OGC:CRS84", "EPSG:4326", "WGS84", "CRS84":
		return true
	}
	var pj struct {
		ID struct {
			Authority string `json:"authority"`
			Code      any    `json:"code"`
		} `json:"id"`
	}
	if json.Unmarshal([]byte(s), &pj) == nil {
		code := fmt.Sprint(pj.ID.Code)
		return pj.ID.Authority == "OGC" && code == "CRS84"
	}
	return false
}

// ogrType maps a Parquet column type to the OGR field type it is served as.
func ogrType(t parquet.Type) (fieldType, int, bool) {
	var lt any
	if l := t.LogicalType(); l != nil {
		lt = l.Value
	}
	switch t.Kind() {
	case parquet.Boolean:
		return fieldType(C.OFTInteger), int(C.OFSTBoolean), true
	case parquet.Int32, parquet.Int64:
		switch lt.(type) {
		case *format.DateType:
			return fieldType(C.OFTDate), 0, true
		case *format.TimeType:
			return fieldType(C.OFTTime), 0, true
		case *format.TimestampType:
			return fieldType(C.OFTDateTime), 0, true
		case *format.DecimalType:
			return 0, 0, false
		}
		if t.Kind() == parquet.Int32 {
			return fieldType(C.OFTInteger), 0, true
		}
		return fieldType(C.OFTInteger64), 0, true
	case parquet.Float, parquet.Double:
		return fieldType(C.OFTReal), 0, true
	case parquet.ByteArray:
		switch lt.(type) {
		case *format.StringType, *format.EnumType, *format.JsonType:
			return fieldType(C.OFTString), 0, true
		}
	}
	return 0, 0, false
}

// coverBounds is a row group's bbox from its covering columns' statistics.
func (p *pqFile) coverBounds(rg parquet.RowGroup) ([4]float64, bool) {
	var env [4]float64
	chunks := rg.ColumnChunks()
	for i, leaf := range p.cover {
		fc, ok := chunks[leaf].(*parquet.FileColumnChunk)
		if !ok {
			return env, false
		}
		lo, hi, ok := fc.Bounds()
		if !ok || lo.IsNull() || hi.IsNull() {
			return env, false
		}
		if i < 2 {
			env[i] = number64(lo) // the least xmin and ymin
		} else {
			env[i] = number64(hi) // the greatest xmax and ymax
		}
		if math.IsNaN(env[i]) {
			return env, false
		}
	}
	return env, true
}

func number64(v parquet.Value) float64 {
	switch v.Kind() {
	case parquet.Float:
		return float64(v.Float())
	case parquet.Double:
		return v.Double()
	case parquet.Int32, parquet.Int64:
		return float64(v.Int64())
	}
	return math.NaN()
}

// column reads every value of one leaf column of a row group, one per row.
func (p *pqFile) column(g, leaf int) ([]parquet.Value, error) {
	rg := p.pf.RowGroups()[g]
	pages := rg.ColumnChunks()[leaf].Pages()
	defer pages.Close()
	out := make([]parquet.Value, 0, p.groups[g].n)
	for {
		pg, err := pages.ReadPage()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("row group %d, column %d: %v", g, leaf, err)
		}
		// Values keep pointing into the page's buffers: retained, the page is
		// not recycled by parquet-go when the next one is read; the collector
		// frees it.
		parquet.Retain(pg)
		n := int(pg.NumValues())
		start := len(out)
		out = slices.Grow(out, n)[:start+n]
		if _, err := pg.Values().ReadValues(out[start:]); err != nil && err != io.EOF {
			return nil, fmt.Errorf("row group %d, column %d: %v", g, leaf, err)
		}
	}
	if int64(len(out)) != p.groups[g].n {
		return nil, fmt.Errorf("row group %d, column %d: %d values for %d rows (a repeated column?)", g, leaf, len(out), p.groups[g].n)
	}
	return out, nil
}

// pick reads the values of one leaf column of a row group at rows (ascending),
// decoding only the pages that hold them, through the file's page cache.
func (p *pqFile) pick(g, leaf int, rows []int) ([]parquet.Value, error) {
	out := make([]parquet.Value, len(rows))
	cc := p.pf.RowGroups()[g].ColumnChunks()[leaf]
	oi, err := cc.OffsetIndex()
	if err != nil || oi.NumPages() == 0 {
		// No page index: the whole chunk.
		all, err := p.column(g, leaf)
		if err != nil {
			return nil, err
		}
		for i, r := range rows {
			out[i] = all[r]
		}
		return out, nil
	}
	var pages parquet.Pages
	defer func() {
		if pages != nil {
			pages.Close()
		}
	}()
	for i := 0; i < len(rows); {
		// The page holding rows[i]: the last whose first row is not after it.
		page := sort.Search(oi.NumPages(), func(k int) bool { return oi.FirstRowIndex(k) > int64(rows[i]) }) - 1
		if page < 0 {
			return nil, fmt.Errorf("row group %d, column %d: no page holds row %d", g, leaf, rows[i])
		}
		key := pageKey{g, leaf, page}
		vals, ok := p.pages.get(key)
		if !ok {
			first := oi.FirstRowIndex(page)
			if pages == nil {
				pages = cc.Pages()
			}
			if vals, err = readPage(pages, first); err != nil {
				return nil, fmt.Errorf("row group %d, column %d, page %d: %v", g, leaf, page, err)
			}
			p.pages.put(key, vals)
		}
		base, from := int(oi.FirstRowIndex(page)), i
		for ; i < len(rows) && rows[i] >= base && rows[i]-base < len(vals); i++ {
			out[i] = vals[rows[i]-base]
		}
		if i == from { // rows out of order, or a page with fewer values than rows
			return nil, fmt.Errorf("row group %d, column %d, page %d: no value for row %d", g, leaf, page, rows[i])
		}
	}
	return out, nil
}

// readPage decodes the page that starts at row first. The page is retained, so
// that its values stay valid after parquet-go moves on.
func readPage(pages parquet.Pages, first int64) ([]parquet.Value, error) {
	if err := pages.SeekToRow(first); err != nil {
		return nil, err
	}
	pg, err := pages.ReadPage()
	if err != nil {
		return nil, err
	}
	parquet.Retain(pg)
	n := int(pg.NumValues())
	if n == 0 {
		return nil, errors.New("an empty page")
	}
	vals := make([]parquet.Value, n)
	if _, err := pg.Values().ReadValues(vals); err != nil && err != io.EOF {
		return nil, err
	}
	return vals, nil
}

// pageCacheBytes bounds the decoded pages a file keeps.
const pageCacheBytes = 64 << 20

type pageKey struct{ group, leaf, page int }

// pageCache keeps decoded pages, least recently used dropped first: the tiles
// around a tile read the same pages.
type pageCache struct {
	mu    sync.Mutex
	bytes int
	items map[pageKey]*list.Element
	order list.List // of *cachedPage, most recent first
}

type cachedPage struct {
	key   pageKey
	vals  []parquet.Value
	bytes int
}

func (c *pageCache) get(k pageKey) ([]parquet.Value, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*cachedPage).vals, true
	}
	return nil, false
}

func (c *pageCache) put(k pageKey, vals []parquet.Value) {
	n := 64 + 24*len(vals)
	for _, v := range vals {
		if k := v.Kind(); !v.IsNull() && (k == parquet.ByteArray || k == parquet.FixedLenByteArray) {
			n += len(v.ByteArray())
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil {
		c.items = map[pageKey]*list.Element{}
	}
	if _, ok := c.items[k]; ok {
		return
	}
	c.items[k] = c.order.PushFront(&cachedPage{key: k, vals: vals, bytes: n})
	c.bytes += n
	for c.bytes > pageCacheBytes && c.order.Len() > 1 {
		old := c.order.Remove(c.order.Back()).(*cachedPage)
		delete(c.items, old.key)
		c.bytes -= old.bytes
	}
}

// propertyValue converts a value of column c as properties does an OGR field.
func propertyValue(v parquet.Value, c column) any {
	if v.IsNull() {
		return nil
	}
	switch C.OGRFieldType(c.Type) {
	case C.OFTInteger, C.OFTInteger64:
		if v.Kind() == parquet.Boolean {
			return v.Boolean()
		}
		return v.Int64()
	case C.OFTReal:
		f := number64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		return f
	case C.OFTString:
		return string(v.ByteArray())
	case C.OFTDate:
		return time.Unix(int64(v.Int32())*86400, 0).UTC().Format("2006-01-02")
	case C.OFTTime, C.OFTDateTime:
		return parquetTime(v, c)
	}
	return nil
}

// filterValue is a value as filter.Eval reads it: booleans as 0 and 1.
func filterValue(v parquet.Value, c column) any {
	x := propertyValue(v, c)
	if b, ok := x.(bool); ok {
		if b {
			return int64(1)
		}
		return int64(0)
	}
	return x
}

// parquetTime writes a TIME or TIMESTAMP value as ISO 8601 (UTC), with
// milliseconds when there are any.
func parquetTime(v parquet.Value, c column) any {
	n := v.Int64()
	if v.Kind() == parquet.Int32 { // TIME in milliseconds
		n = int64(v.Int32())
	}
	var t time.Time
	switch c.unit {
	case pqMillis:
		t = time.UnixMilli(n)
	case pqNanos:
		t = time.Unix(0, n)
	default:
		t = time.UnixMicro(n)
	}
	t = t.UTC()
	frac := t.Nanosecond()/1e6 > 0
	switch {
	case C.OGRFieldType(c.Type) == C.OFTTime && frac:
		return t.Format("15:04:05.000")
	case C.OGRFieldType(c.Type) == C.OFTTime:
		return t.Format("15:04:05")
	case frac:
		return t.Format("2006-01-02T15:04:05.000Z")
	}
	return t.Format("2006-01-02T15:04:05Z")
}

// Time units of TIME and TIMESTAMP columns (column.unit).
const (
	pqMicros = iota
	pqMillis
	pqNanos
)

func pqTimeUnit(lt *format.LogicalType) int {
	if lt == nil {
		return pqMicros
	}
	var u format.TimeUnitValue
	switch x := lt.Value.(type) {
	case *format.TimestampType:
		u = x.Unit.Value
	case *format.TimeType:
		u = x.Unit.Value
	}
	switch u.(type) {
	case *format.MilliSeconds:
		return pqMillis
	case *format.NanoSeconds:
		return pqNanos
	}
	return pqMicros
}
