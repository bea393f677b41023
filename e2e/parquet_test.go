package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/udftiles/udftiles/python"
)

// TestPythonParquet runs Python UDFs as GeoParquet and Parquet files, read back
// with Apache Arrow's Go reader.
func TestPythonParquet(t *testing.T) {
	s := newPyServer(t, pyServerOptions{})
	s.add("vt", pyFixture(t, "vector_tile.py"), python.Options{})
	s.add("ret", pyFixture(t, "returns.py"), python.Options{})

	read := func(target string) (rows int64, geo string, cols map[string]*arrow.Chunked) {
		t.Helper()
		rec := s.get(t, target, 200)
		if ct := rec.Header().Get("Content-Type"); ct != "application/vnd.apache.parquet" {
			t.Fatalf("%s: content type %q", target, ct)
		}
		rdr, err := file.NewParquetReader(bytes.NewReader(rec.Body.Bytes()))
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		defer rdr.Close()
		if v := rdr.MetaData().KeyValueMetadata().FindValue("geo"); v != nil {
			geo = *v
		}
		fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		cols = map[string]*arrow.Chunked{}
		for i := 0; i < int(tbl.NumCols()); i++ {
			cols[tbl.Column(i).Name()] = tbl.Column(i).Data()
		}
		return tbl.NumRows(), geo, cols
	}

	n, geo, cols := read("/v1/udfs/vt/run?format=parquet")
	if n != 177 {
		t.Errorf("%d countries, want 177", n)
	}
	var m struct {
		Version string `json:"version"`
		Columns map[string]struct {
			Encoding      string    `json:"encoding"`
			GeometryTypes []string  `json:"geometry_types"`
			BBox          []float64 `json:"bbox"`
		} `json:"columns"`
	}
	if err := json.Unmarshal([]byte(geo), &m); err != nil || m.Version != "1.1.0" ||
		m.Columns["geometry"].Encoding != "WKB" || len(m.Columns["geometry"].BBox) != 4 {
		t.Errorf("geo metadata %s: %v", geo, err)
	}
	for k, typ := range map[string]string{"geometry": "binary", "name": "utf8", "rank": "int64", "share": "float64",
		"big": "bool", "tags": "utf8"} {
		if c := cols[k]; c == nil || c.DataType().String() != typ {
			t.Errorf("column %s: %v, want %s", k, c, typ)
		}
	}
	if c := cols["bbox"]; c == nil {
		t.Error("no bbox column")
	}
	g := cols["geometry"].Chunk(0).(*array.Binary)
	if _, err := wkb.Unmarshal(g.Value(0)); err != nil {
		t.Errorf("geometry 0: %v", err)
	}

	// Another spelling; an empty GeoDataFrame; a DataFrame.
	if n, _, _ := read("/v1/udfs/vt/run?format=geoparquet"); n != 177 {
		t.Errorf("geoparquet: %d rows", n)
	}
	if n, geo, cols := read("/v1/udfs/ret/run?kind=empty_gdf&format=parquet"); n != 0 || geo == "" || cols["geometry"] == nil {
		t.Errorf("empty GeoDataFrame: %d rows, geo %q, columns %v", n, geo, cols)
	}
	n, geo, cols = read("/v1/udfs/ret/run?kind=df&format=parquet")
	if n != 2 || geo != "" {
		t.Errorf("DataFrame: %d rows, geo %q", n, geo)
	}
	if h := cols["hex"]; h == nil || h.Chunk(0).(*array.Int64).Value(0) != 617700169958293503 {
		t.Errorf("hex column %v", h)
	}
}
