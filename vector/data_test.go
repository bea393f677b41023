package vector

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/paulmach/orb/geojson"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// synth describes a generated layer: n features in a lon/lat box, rectangles
// whose side is log-uniform in [minSize, maxSize] degrees, and a share of points.
type synth struct {
	n                int
	seed             int64
	box              [4]float64
	minSize, maxSize float64
	points           float64 // share of point features
}

// writeCSV writes the features as CSV with a WKT column and a .csvt of types:
// id (Integer), cls (Integer, id mod 7), size (Real, degrees), name (String).
func (s synth) writeCSV(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewSource(s.seed))
	fmt.Fprintln(w, "WKT,id,cls,size,name")
	for i := 0; i < s.n; i++ {
		x := s.box[0] + (s.box[2]-s.box[0])*r.Float64()
		y := s.box[1] + (s.box[3]-s.box[1])*r.Float64()
		d := s.minSize * math.Pow(s.maxSize/s.minSize, r.Float64())
		if r.Float64() < s.points {
			fmt.Fprintf(w, "\"POINT (%.7f %.7f)\",%d,%d,0,p%d\n", x, y, i, i%7, i)
			continue
		}
		fmt.Fprintf(w, "\"POLYGON ((%.7f %.7f,%.7f %.7f,%.7f %.7f,%.7f %.7f,%.7f %.7f))\",%d,%d,%.7f,f%d\n",
			x, y, x+d, y, x+d, y+d*0.7, x, y+d, x, y, i, i%7, d, i)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(strings.TrimSuffix(path, ".csv")+".csvt", []byte("WKT,Integer,Integer,Real,String\n"), 0o644)
}

// make writes the layer into dir in each of the given formats (file names by
// extension: gpkg, fgb, shp, geojson) and returns their paths. extra are more
// ogr2ogr switches (e.g. -t_srs).
func (s synth) make(t testing.TB, dir, name string, exts []string, extra ...string) map[string]string {
	t.Helper()
	csv := filepath.Join(dir, name+".csv")
	if err := s.writeCSV(csv); err != nil {
		t.Fatal(err)
	}
	drivers := map[string][]string{
		"gpkg":    {"-f", "GPKG"},
		"fgb":     {"-f", "FlatGeobuf", "-lco", "SPATIAL_INDEX=YES"},
		"shp":     {"-f", "ESRI Shapefile", "-lco", "SPATIAL_INDEX=YES"},
		"geojson": {"-f", "GeoJSON"},
	}
	out := map[string]string{}
	for _, ext := range exts {
		p := filepath.Join(dir, name+"."+ext)
		srs := "-a_srs"
		if slices.Contains(extra, "-t_srs") {
			srs = "-s_srs"
		}
		sw := append(append([]string{}, drivers[ext]...), "-nln", name, srs, "EPSG:4326", "-select", "id,cls,size,name")
		if ext == "shp" {
			sw = append(sw, "-where", "size > 0") // a shapefile holds one kind of geometry
		}
		if err := demo.Translate(csv, p, append(sw, extra...)...); err != nil {
			t.Fatal(err)
		}
		out[ext] = p
	}
	return out
}

// ogrFeature is a feature as ogr2ogr writes it to GeoJSON with -preserve_fid.
type ogrFeature struct {
	ID         int64          `json:"id"`
	Properties map[string]any `json:"properties"`
	Geometry   json.RawMessage
}

// ogr2ogr runs the ogr2ogr program with -preserve_fid to GeoJSON and returns the
// features by FID.
func ogr2ogr(t testing.TB, src string, args ...string) map[int64]ogrFeature {
	t.Helper()
	cmd := exec.Command("ogr2ogr", append([]string{"-f", "GeoJSON", "/vsistdout/", src, "-preserve_fid"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ogr2ogr %v: %v", args, err)
	}
	var fc struct{ Features []ogrFeature }
	if err := json.Unmarshal(out, &fc); err != nil {
		t.Fatalf("ogr2ogr %v: %v\n%.500s", args, err, out)
	}
	m := map[int64]ogrFeature{}
	for _, f := range fc.Features {
		m[f.ID] = f
	}
	return m
}

// fmtf formats numbers for command lines without losing digits.
func fmtf(v float64) string { return fmt.Sprintf("%.17g", v) }

// bufferedLonLat is a tile's bounds plus the read buffer, in lon/lat, computed
// here independently of the handler.
func bufferedLonLat(t tiles.Tile) tiles.Bounds {
	m := t.Mercator()
	pad := (m.MaxX - m.MinX) * 64 / 256
	lo0, la0 := tiles.MercatorToLonLat(m.MinX-pad, m.MinY-pad)
	lo1, la1 := tiles.MercatorToLonLat(m.MaxX+pad, m.MaxY+pad)
	return tiles.Bounds{MinX: lo0, MinY: la0, MaxX: lo1, MaxY: la1}
}

// runTile runs the layer for a tile and returns the features.
func runTile(t testing.TB, l *Layer, tile tiles.Tile, params map[string]any) *layer.Features {
	t.Helper()
	res, err := l.Run(context.Background(), layer.Request{Tile: &tile, Bounds: tile.LonLat(), Params: params})
	if err != nil {
		t.Fatalf("tile %s %v: %v", tile, params, err)
	}
	return res.(*layer.Features)
}

// fids lists the features' FIDs in order.
func fids(fc *geojson.FeatureCollection) []int64 {
	out := make([]int64, len(fc.Features))
	for i, f := range fc.Features {
		out[i] = f.ID.(int64)
	}
	return out
}

func sortedKeys(m map[int64]ogrFeature) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
