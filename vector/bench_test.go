package vector

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/render"
	"github.com/udftiles/udftiles/tiles"
)

// The benchmark layers: 1,000,000 small rectangles over Europe, sides
// log-uniform from about 50 m to 5 km, and 1,000,000 points over the same area.
var millions = map[string]synth{
	"polygons": {n: 1_000_000, seed: 1, box: [4]float64{-10, 35, 30, 60}, minSize: 0.0005, maxSize: 0.05},
	"points":   {n: 1_000_000, seed: 2, box: [4]float64{-10, 35, 30, 60}, points: 1},
}

var (
	bigOnce  sync.Once
	bigDir   string
	bigFiles map[string]map[string]string // kind → extension → path
)

// bigLayers generates the million-feature layers once per test binary, as
// GeoPackage, FlatGeobuf and GeoParquet (ingested), in a temp dir that TestMain removes.
func bigLayers(b testing.TB) map[string]map[string]string {
	bigOnce.Do(func() {
		dir, err := os.MkdirTemp("", "udftiles-vector-bench")
		if err != nil {
			b.Fatal(err)
		}
		bigDir = dir
		start := time.Now()
		files := map[string]map[string]string{}
		for kind, s := range millions {
			files[kind] = s.make(b, dir, kind, []string{"fgb", "gpkg"})
			pq := filepath.Join(dir, kind+".parquet")
			if _, err := Ingest(context.Background(), files[kind]["fgb"], pq, IngestOptions{}); err != nil {
				b.Fatal(err)
			}
			files[kind]["parquet"] = pq
		}
		bigFiles = files
		b.Logf("generated 2×1M features as GeoPackage and FlatGeobuf in %.1fs", time.Since(start).Seconds())
	})
	if bigFiles == nil {
		b.Fatal("the benchmark layers could not be generated")
	}
	return bigFiles
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range []string{bigDir, demoDir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	os.Exit(code)
}

// benchFormat is mvt when the render package has it, else geojson.
func benchFormat() string {
	if f, ok := render.LookupFormat("mvt"); ok && f.Vector {
		return "mvt"
	}
	return "geojson"
}

// BenchmarkTile reads and encodes tiles of the million-feature layers at zooms
// 0, 6, 10 and 14, from GeoPackage and FlatGeobuf: at z>0 it cycles through the
// 8×8 tiles around the middle of the data. Each layer is opened (and its
// overview built) before the timer starts.
func BenchmarkTile(b *testing.B) {
	for _, kind := range []string{"polygons", "points"} {
		for _, ext := range []string{"parquet", "gpkg", "fgb"} {
			benchLayer(b, kind, ext, bigLayers(b)[kind][ext])
		}
	}
}

func benchLayer(b *testing.B, kind, ext, path string) {
	format := benchFormat()
	{
		start := time.Now()
		l := New(Options{Path: path})
		if err := waitReady(l); err != nil {
			b.Fatal(err)
		}
		b.Logf("%s %s: opened and indexed in %.2fs; thinned from the overview up to z%d", kind, ext, time.Since(start).Seconds(), l.st.ovZoom)
		for _, z := range []int{0, 6, 10, 14} {
			c := tiles.AtLonLat(10, 47.5, z)
			var ts []tiles.Tile
			for dy := -4; dy < 4; dy++ {
				for dx := -4; dx < 4; dx++ {
					if t, err := tiles.New(z, c.X+dx, c.Y+dy); err == nil {
						ts = append(ts, t)
					}
				}
			}
			if z == 0 {
				ts = []tiles.Tile{{}}
			}
			b.Run(fmt.Sprintf("%s/%s/z%d/%s", kind, ext, z, format), func(b *testing.B) {
				features, bytes := 0, 0
				for i := 0; b.Loop(); i++ {
					t := ts[i%len(ts)]
					res, err := l.Run(context.Background(), layer.Request{Tile: &t, Params: map[string]any{}})
					if err != nil {
						b.Fatal(err)
					}
					body, _, err := render.Encode(res, format, render.Options{Tile: &t})
					if err != nil {
						b.Fatal(err)
					}
					features += len(res.(*layer.Features).Collection.Features)
					bytes += len(body)
				}
				b.ReportMetric(float64(features)/float64(b.N), "features/tile")
				b.ReportMetric(float64(bytes)/float64(b.N), "bytes/tile")
			})
		}
		l.Close()
	}
}

// BenchmarkOpen is the startup scan that builds the overview of a million features.
func BenchmarkOpen(b *testing.B) {
	files := bigLayers(b)["polygons"]
	for _, ext := range []string{"parquet", "gpkg", "fgb"} {
		b.Run(ext, func(b *testing.B) {
			for b.Loop() {
				l := New(Options{Path: files[ext]})
				if err := waitReady(l); err != nil {
					b.Fatal(err)
				}
				l.Close()
			}
		})
	}
}
