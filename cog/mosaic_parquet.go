package cog

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/airbusgeo/godal"
	"github.com/parquet-go/parquet-go"
)

// readParquetIndex reads a GeoParquet footprint index: each row's geometry
// (WKB, the `geo` metadata's primary column) is a footprint, its location
// (or path) column the file. GDAL here has no Parquet driver, so the file is
// read with parquet-go, as the vector layers read GeoParquet.
func readParquetIndex(p string) ([]string, []footprint, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open the index %s: %v", p, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a Parquet file: %v", p, err)
	}
	raw, ok := pf.Lookup("geo")
	if !ok {
		return nil, nil, fmt.Errorf("%s: no GeoParquet `geo` metadata: which column holds the footprints is not known", p)
	}
	var meta struct {
		PrimaryColumn string `json:"primary_column"`
		Columns       map[string]struct {
			Encoding string          `json:"encoding"`
			CRS      json.RawMessage `json:"crs"`
		} `json:"columns"`
	}
	if err := json.Unmarshal([]byte(raw), &meta); err != nil {
		return nil, nil, fmt.Errorf("%s: the `geo` metadata is not JSON: %v", p, err)
	}
	gc, ok := meta.Columns[meta.PrimaryColumn]
	if !ok || !strings.EqualFold(gc.Encoding, "WKB") {
		return nil, nil, fmt.Errorf("%s: the primary geometry column %q is not WKB", p, meta.PrimaryColumn)
	}
	leaf := func(name string) int {
		c := pf.Root().Column(name)
		if c == nil || !c.Leaf() || c.Repeated() || c.Type().Kind() != parquet.ByteArray {
			return -1
		}
		return c.Index()
	}
	geom := leaf(meta.PrimaryColumn)
	loc := leaf("location")
	if loc < 0 {
		loc = leaf("path")
	}
	if geom < 0 || loc < 0 {
		return nil, nil, fmt.Errorf("%s: want a WKB geometry column and a text column location or path naming each file", p)
	}
	// crs: absent or null is lon/lat; else PROJJSON or another definition GDAL reads.
	var sr *godal.SpatialRef
	if len(gc.CRS) > 0 && string(gc.CRS) != "null" {
		def := string(gc.CRS)
		var s string
		if json.Unmarshal(gc.CRS, &s) == nil {
			def = s
		}
		if sr, err = godal.NewSpatialRef(def); err != nil {
			return nil, nil, fmt.Errorf("%s: the geometry column's crs: %v", p, err)
		}
		defer sr.Close()
	}
	var files []string
	var fps []footprint
	ids := map[string]int{}
	row := 0
	for g, rg := range pf.RowGroups() {
		gv, err := columnValues(rg, geom)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: row group %d: %v", p, g, err)
		}
		lv, err := columnValues(rg, loc)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: row group %d: %v", p, g, err)
		}
		if len(gv) != len(lv) {
			return nil, nil, fmt.Errorf("%s: row group %d: %d geometries for %d files", p, g, len(gv), len(lv))
		}
		for i := range gv {
			href := string(lv[i].ByteArray())
			if lv[i].IsNull() || href == "" || gv[i].IsNull() {
				return nil, nil, fmt.Errorf("%s: row %d: want a file and a footprint", p, row)
			}
			gm, err := godal.NewGeometryFromWKB(gv[i].ByteArray(), nil)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: row %d: %v", p, row, err)
			}
			env, err := gm.Bounds()
			gm.Close()
			if err != nil {
				return nil, nil, fmt.Errorf("%s: row %d: %v", p, row, err)
			}
			xs, ys := outline(env[0], env[1], env[2], env[3])
			box, err := toLonLat(sr, xs, ys)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: row %d: %v", p, row, err)
			}
			href = hrefPath(p, href)
			id, seen := ids[href]
			if !seen {
				id = len(files)
				ids[href] = id
				files = append(files, href)
			}
			fps = append(fps, footprint{file: id, order: row, box: box.ToMercator()})
			row++
		}
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("%s: the index has no rows", p)
	}
	return files, fps, nil
}

// columnValues reads every value of one leaf column of a row group.
func columnValues(rg parquet.RowGroup, leaf int) ([]parquet.Value, error) {
	pages := rg.ColumnChunks()[leaf].Pages()
	defer pages.Close()
	var out []parquet.Value
	for {
		pg, err := pages.ReadPage()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		// The values point into the page: kept from recycling.
		parquet.Retain(pg)
		n := int(pg.NumValues())
		start := len(out)
		out = slices.Grow(out, n)[:start+n]
		if _, err := pg.Values().ReadValues(out[start:]); err != nil && err != io.EOF {
			return nil, err
		}
	}
}
