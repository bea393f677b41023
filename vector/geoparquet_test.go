package vector

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/parquet-go/parquet-go"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// ingestTest converts src to GeoParquet with small row groups, so that tiles
// meet few of them.
func ingestTest(t testing.TB, src string, rowGroup int) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))+".parquet")
	if _, err := Ingest(context.Background(), src, dst, IngestOptions{RowGroupSize: rowGroup}); err != nil {
		t.Fatal(err)
	}
	return dst
}

// rowsByID maps the id property of every feature of a layer to its FID.
func rowsByID(t testing.TB, l *Layer) map[int64]int64 {
	t.Helper()
	res, err := l.Run(context.Background(), layer.Request{Params: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	m := map[int64]int64{}
	for _, f := range res.(*layer.Features).Collection.Features {
		m[f.Properties["id"].(int64)] = f.ID.(int64)
	}
	return m
}

// rekey gives ogr2ogr's features the FIDs they have in the GeoParquet file.
func rekey(t testing.TB, read map[int64]ogrFeature, byID map[int64]int64) map[int64]ogrFeature {
	out := map[int64]ogrFeature{}
	for _, f := range read {
		id := int64(f.Properties["id"].(float64))
		fid, ok := byID[id]
		if !ok {
			t.Fatalf("feature id %d is not in the GeoParquet file", id)
		}
		f.ID = fid
		out[fid] = f
	}
	return out
}

// TestGeoParquetMatchesOgr2ogr: a tile of an ingested GeoParquet file holds the
// features ogr2ogr -spat reads from the source for the buffered tile, less those
// under half a pixel and past max_features, with their properties and
// coordinates, read directly (row groups by bbox) and thinned from the overview.
func TestGeoParquetMatchesOgr2ogr(t *testing.T) {
	dir := t.TempDir()
	src := europe.make(t, dir, "europe", []string{"fgb"})["fgb"]
	pq := ingestTest(t, src, 512)
	tileset := []tiles.Tile{
		{Z: 0}, tiles.AtLonLat(5, 45, 3), tiles.AtLonLat(5, 45, 6), tiles.AtLonLat(2.3, 48.8, 8),
		tiles.AtLonLat(0.01, 40.01, 9), tiles.AtLonLat(7, 43, 10), tiles.AtLonLat(9.99, 49.99, 12),
		tiles.AtLonLat(5, 45, 13), tiles.AtLonLat(5.5, 45.5, 14),
	}
	const all = 1 << 20
	type variant struct {
		l     *Layer
		limit int
	}
	var vs []variant
	for _, budget := range []int{directBudget, 0} {
		for _, limit := range []int{all, 1000} {
			vs = append(vs, variant{newTestLayer(t, Options{Path: pq, MaxFeatures: limit}, budget), limit})
		}
	}
	st := vs[0].l.st
	if st.pq == nil || st.pq.cover[0] < 0 || len(st.pq.groups) != (europe.n+511)/512 || !st.lonlat {
		t.Fatalf("the ingested file: %+v", st.pq)
	}
	byID := rowsByID(t, vs[0].l)
	if len(byID) != europe.n {
		t.Fatalf("file mode: %d features, want %d", len(byID), europe.n)
	}
	for _, tile := range tileset {
		b := bufferedLonLat(tile)
		read := rekey(t, ogr2ogr(t, src, "-spat", fmtf(b.MinX), fmtf(b.MinY), fmtf(b.MaxX), fmtf(b.MaxY)), byID)
		for i, v := range vs {
			want := expected(t, read, tile.Z, v.limit)
			fc := runTile(t, v.l, tile, nil).Collection
			if got := fids(fc); !slices.Equal(got, want) || len(got) == 0 {
				t.Errorf("variant %d (limit %d) tile %s: %d features, ogr2ogr %d\n got %v\nwant %v",
					i, v.limit, tile, len(got), len(want), head(got), head(want))
				continue
			}
			for _, f := range fc.Features {
				o := read[f.ID.(int64)]
				g, err := geojson.UnmarshalGeometry(o.Geometry)
				if err != nil {
					t.Fatal(err)
				}
				if f.Properties["name"] != o.Properties["name"] || f.Properties["size"] != o.Properties["size"] ||
					f.Properties["cls"] != int64(o.Properties["cls"].(float64)) || !closeGeom(f.Geometry, g.Coordinates, 0) {
					t.Errorf("tile %s feature %d: %v %v, ogr2ogr %v %v", tile, f.ID, f.Properties, f.Geometry, o.Properties, g.Coordinates)
					break
				}
			}
		}
	}
	// filter= keeps what ogr2ogr -where keeps, evaluated without OGR.
	// LIKE minds case as OGR SQL does: 'P1%' matches none of the names p1...
	for _, where := range []string{"cls = 3 AND size > 0.01", "name LIKE 'p1%' OR cls IN (1, 2)", "name LIKE 'P1%'", "NOT (size BETWEEN 0.001 AND 0.3)", "cls <> 2 AND name >= 'f5'"} {
		for _, tile := range []tiles.Tile{{}, tiles.AtLonLat(5, 45, 6)} {
			b := bufferedLonLat(tile)
			read := rekey(t, ogr2ogr(t, src, "-where", where, "-spat", fmtf(b.MinX), fmtf(b.MinY), fmtf(b.MaxX), fmtf(b.MaxY)), byID)
			for i, v := range vs {
				want := expected(t, read, tile.Z, v.limit)
				got := fids(runTile(t, v.l, tile, map[string]any{"filter": where}).Collection)
				if !slices.Equal(got, want) || len(want) == 0 && !strings.Contains(where, "P1") {
					t.Errorf("variant %d filter %q tile %s: %d features, ogr2ogr -where %d", i, where, tile, len(got), len(want))
				}
			}
		}
	}
}

// TestIngestedFile: the `geo` metadata is GeoParquet 1.1's, and the Hilbert
// order makes row groups compact: together far smaller than the extent.
func TestIngestedFile(t *testing.T) {
	src := europe.make(t, t.TempDir(), "europe", []string{"gpkg"})["gpkg"]
	dst := ingestTest(t, src, 1024)
	f, err := os.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := pf.Lookup("geo")
	var geo map[string]any
	if err := json.Unmarshal([]byte(raw), &geo); err != nil {
		t.Fatal(err)
	}
	col := geo["columns"].(map[string]any)["geometry"].(map[string]any)
	if geo["version"] != "1.1.0" || geo["primary_column"] != "geometry" || col["encoding"] != "WKB" || col["covering"] == nil || len(col["bbox"].([]any)) != 4 {
		t.Errorf("geo metadata %s", raw)
	}
	if pf.NumRows() != int64(europe.n) || len(pf.RowGroups()) != (europe.n+1023)/1024 {
		t.Errorf("%d rows in %d groups", pf.NumRows(), len(pf.RowGroups()))
	}
	p, err := openParquet(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	area := 0.0
	for _, g := range p.groups {
		if !g.hasEnv {
			t.Fatalf("a row group without bbox statistics: %+v", g)
		}
		area += (g.env[2] - g.env[0]) * (g.env[3] - g.env[1])
	}
	total := (europe.box[2] - europe.box[0]) * (europe.box[3] - europe.box[1])
	// In file order each group would span about the whole extent (20 times it together).
	if area > total*3 {
		t.Errorf("row groups cover %.1f square degrees together, the data %.1f: not sorted", area, total)
	}
	// Apache Arrow's reader reads it too: every row, the columns typed, and
	// bbox statistics in every row group.
	data, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("arrow: %v", err)
	}
	defer rdr.Close()
	for i := 0; i < rdr.NumRowGroups(); i++ {
		rg := rdr.MetaData().RowGroup(i)
		for j := 0; j < rg.NumColumns(); j++ {
			cc, err := rg.ColumnChunk(j)
			if err != nil {
				t.Fatal(err)
			}
			if path := cc.PathInSchema().String(); strings.HasPrefix(path, "bbox.") {
				if ok, err := cc.StatsSet(); !ok || err != nil {
					t.Errorf("arrow: row group %d column %s has no statistics (%v)", i, path, err)
				}
			}
		}
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatalf("arrow: read table: %v", err)
	}
	defer tbl.Release()
	types := map[string]string{}
	for _, f := range tbl.Schema().Fields() {
		types[f.Name] = f.Type.String()
	}
	if tbl.NumRows() != int64(europe.n) || types["geometry"] != "binary" || types["id"] != "int64" || types["size"] != "float64" ||
		types["name"] != "utf8" || !strings.HasPrefix(types["bbox"], "struct<") {
		t.Errorf("arrow: %d rows, columns %v", tbl.NumRows(), types)
	}

	// Properties keep their types; the geometry is WKB.
	l := newTestLayer(t, Options{Path: dst}, directBudget)
	if got := columnNames(l.st.all); got != "cls, id, name, size" {
		t.Errorf("columns %s", got)
	}
	vals, err := p.column(0, p.geom)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wkb.Unmarshal(vals[0].ByteArray()); err != nil {
		t.Errorf("the first geometry is not WKB: %v", err)
	}
}

// TestGeoParquetCRS: a GeoParquet file in UTM 33N (PROJJSON crs) answers in
// lon/lat with the features and coordinates ogr2ogr computes.
func TestGeoParquetCRS(t *testing.T) {
	dir := t.TempDir()
	utm := synth{n: 3000, seed: 3, box: [4]float64{12, 45, 18, 50}, minSize: 0.001, maxSize: 0.2, points: 0.3}
	src := utm.make(t, dir, "utm", []string{"fgb"}, "-t_srs", "EPSG:32633")["fgb"]
	projjson, err := exec.Command("gdalsrsinfo", "-o", "PROJJSON", "EPSG:32633").Output()
	if err != nil {
		t.Fatal(err)
	}
	// A GeoParquet file with the UTM coordinates, written here without a covering.
	native := ogr2ogr(t, src)
	type row struct {
		Geometry []byte `parquet:"geometry"`
		ID       int64  `parquet:"id"`
	}
	var rows []row
	for _, fid := range sortedKeys(native) {
		g, err := geojson.UnmarshalGeometry(native[fid].Geometry)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := wkb.Marshal(g.Coordinates)
		rows = append(rows, row{b, int64(native[fid].Properties["id"].(float64))})
	}
	meta, _ := json.Marshal(map[string]any{"version": "1.1.0", "primary_column": "geometry",
		"columns": map[string]any{"geometry": map[string]any{"encoding": "WKB", "geometry_types": []string{},
			"crs": json.RawMessage(projjson)}}})
	path := filepath.Join(dir, "utm.parquet")
	out, _ := os.Create(path)
	w := parquet.NewGenericWriter[row](out, parquet.KeyValueMetadata("geo", string(meta)), parquet.MaxRowsPerRowGroup(500))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out.Close()

	l := newTestLayer(t, Options{Path: path}, directBudget)
	if l.st.lonlat || l.st.pq.cover[0] >= 0 {
		t.Fatalf("UTM file: lonlat %v, covering %v", l.st.lonlat, l.st.pq.cover)
	}
	byID := rowsByID(t, l)
	for _, tile := range []tiles.Tile{tiles.AtLonLat(15, 47.5, 7), tiles.AtLonLat(16, 48, 11)} {
		h, release, err := l.acquire(l.st)
		if err != nil {
			t.Fatal(err)
		}
		area := bufferedLonLat(tile)
		r, _ := sourceRect(l.st, h.src, &area)
		release(false)
		spat := []string{"-spat", fmtf(r[0]), fmtf(r[1]), fmtf(r[2]), fmtf(r[3])}
		read := rekey(t, ogr2ogr(t, src, append(spat, "-t_srs", "EPSG:4326")...), byID)
		toLonLat := func(xs, ys []float64) {
			h, release, _ := l.acquire(l.st)
			defer release(false)
			h.src.transform(true, xs, ys)
		}
		want := expected(t, rekey(t, ogr2ogr(t, src, spat...), byID), tile.Z, DefaultMaxFeatures, toLonLat)
		fc := runTile(t, l, tile, nil).Collection
		if got := fids(fc); !slices.Equal(got, want) || len(got) == 0 {
			t.Errorf("tile %s: %d features, ogr2ogr %d", tile, len(got), len(want))
			continue
		}
		for _, f := range fc.Features {
			g, _ := geojson.UnmarshalGeometry(read[f.ID.(int64)].Geometry)
			if !closeGeom(f.Geometry, g.Coordinates, 1e-9) {
				t.Errorf("feature %d: %v, ogr2ogr -t_srs EPSG:4326 gives %v", f.ID, f.Geometry, g.Coordinates)
				break
			}
		}
	}
}
