package export

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/gohandler"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/tileservice"
	"github.com/udftiles/udftiles/vector"
)

// counting wraps a handler and counts its tile requests.
type counting struct {
	layer.Handler
	tiles *atomic.Int64
}

// Run counts the tiles the export asks for: none is cached before it asks.
func (c counting) Run(ctx context.Context, r layer.Request) (layer.Result, error) {
	c.tiles.Add(1)
	return c.Handler.Run(ctx, r)
}

// testService is the tile service of a test and the tiles rendered of its
// checker layer.
type testService struct {
	svc   *tileservice.Service
	tiles *atomic.Int64
}

// testServer serves a checker raster layer and the demo countries (GeoParquet)
// through the tile service.
func testServer(t *testing.T) testService {
	t.Helper()
	reg := layer.NewRegistry()
	chk, err := gohandler.NewChecker(map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	n := &atomic.Int64{}
	reg.Add(&layer.Layer{Name: "checker", Kind: "go", Handler: counting{chk, n}, MaxAge: time.Hour, Defaults: url.Values{}})
	dir := t.TempDir()
	if _, err := demo.WriteVectors(dir); err != nil {
		t.Fatal(err)
	}
	pq := filepath.Join(dir, "countries.parquet")
	if _, err := vector.Ingest(context.Background(), filepath.Join(dir, "countries.gpkg"), pq, vector.IngestOptions{}); err != nil {
		t.Fatal(err)
	}
	l := vector.New(vector.Options{Path: pq})
	t.Cleanup(l.Close)
	reg.Add(&layer.Layer{Name: "countries", Kind: "vector", Handler: l, MaxAge: time.Hour, Defaults: url.Values{}, MVTLayer: "countries"})
	c, err := cache.New(64<<20, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return testService{svc: tileservice.New(tileservice.Options{Registry: reg, Cache: c}), tiles: n}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".json") {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

var europe = Area{BBox: tiles.Bounds{MinX: -10, MinY: 35, MaxX: 30, MaxY: 60}}

func TestExportDirectory(t *testing.T) {
	srv := testServer(t)
	dir := filepath.Join(t.TempDir(), "out")
	sum, err := Run(context.Background(), Options{Service: srv.svc, UDF: "checker", Area: europe, MinZoom: 0, MaxZoom: 5, Dest: dir})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for z := 0; z <= 5; z++ {
		tiles.Cover(europe.BBox, z).Each(func(tl tiles.Tile) bool {
			want = append(want, fmt.Sprintf("%d/%d/%d.png", tl.Z, tl.X, tl.Y))
			return true
		})
	}
	slices.Sort(want)
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("%d files, want %d: %v", len(got), len(want), got)
	}
	if sum.Tiles != int64(len(want)) || sum.Written != sum.Tiles || sum.Bytes == 0 {
		t.Errorf("summary %+v", sum)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "tilejson.json")); err != nil || !strings.Contains(string(b), `"tilejson"`) {
		t.Errorf("tilejson.json: %v %s", err, b)
	}
	// Again: everything is there already; nothing is rendered.
	before := srv.tiles.Load()
	sum, err = Run(context.Background(), Options{Service: srv.svc, UDF: "checker", Area: europe, MinZoom: 0, MaxZoom: 5, Dest: dir})
	if err != nil || sum.Existing != int64(len(want)) || sum.Written != 0 || srv.tiles.Load() != before {
		t.Errorf("second run: %+v %v, %d renders", sum, err, srv.tiles.Load()-before)
	}
}

// TestExportArea: tiles that meet no polygon of the area are not rendered.
func TestExportArea(t *testing.T) {
	srv := testServer(t)
	// A thin diagonal band from (0,40) to (20,55).
	band := orb.Polygon{{{0, 40}, {1, 40}, {21, 55}, {20, 55}, {0, 40}}}
	a := Area{BBox: tiles.Bounds{MinX: 0, MinY: 40, MaxX: 21, MaxY: 55}, Polygons: []orb.Polygon{band}}
	dir := t.TempDir()
	sum, err := Run(context.Background(), Options{Service: srv.svc, UDF: "checker", Area: a, MinZoom: 8, MaxZoom: 8, Dest: dir})
	if err != nil {
		t.Fatal(err)
	}
	box := tiles.Cover(a.BBox, 8).Count()
	if sum.Tiles >= box/2 || sum.Tiles < 10 || srv.tiles.Load() != sum.Tiles {
		t.Errorf("%d tiles of %d in the bbox, %d rendered", sum.Tiles, box, srv.tiles.Load())
	}
	// Every tile meeting the band is there: check by sampling points along it.
	for f := 0.0; f <= 1; f += 0.01 {
		lon, lat := 0.5+20*f, 40+15*f
		tl := tiles.AtLonLat(lon, lat, 8)
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("8/%d/%d.png", tl.X, tl.Y))); err != nil {
			t.Fatalf("tile %s on the band is missing", tl)
		}
	}
}

// TestExportShards: n shards render disjoint parts whose union is the whole.
func TestExportShards(t *testing.T) {
	srv := testServer(t)
	root := t.TempDir()
	whole := filepath.Join(root, "whole")
	if _, err := Run(context.Background(), Options{Service: srv.svc, UDF: "checker", Area: europe, MinZoom: 0, MaxZoom: 6, Dest: whole}); err != nil {
		t.Fatal(err)
	}
	var union []string
	var total int64
	for i := 0; i < 3; i++ {
		d := filepath.Join(root, fmt.Sprint(i))
		sum, err := Run(context.Background(), Options{Service: srv.svc, UDF: "checker", Area: europe, MinZoom: 0, MaxZoom: 6, Dest: d, Shard: i, Shards: 3})
		if err != nil {
			t.Fatal(err)
		}
		got := listDir(t, d)
		if int64(len(got)) != sum.Tiles {
			t.Errorf("shard %d: %d files, summary says %d tiles", i, len(got), sum.Tiles)
		}
		total += sum.Tiles
		union = append(union, got...)
	}
	slices.Sort(union)
	if want := listDir(t, whole); !slices.Equal(union, want) || int64(len(want)) != total {
		t.Errorf("3 shards: %d tiles (%d distinct), one process: %d", total, len(slices.Compact(slices.Clone(union))), len(want))
	}
}

// failingSink fails (disk full) after n tiles.
type failingSink struct {
	Sink
	n    atomic.Int64
	fail int64
}

func (s *failingSink) Put(t tiles.Tile, b []byte) error {
	if s.n.Add(1) > s.fail {
		return fmt.Errorf("write %s: %w", t, syscall.ENOSPC)
	}
	return s.Sink.Put(t, b)
}

// TestExportResume: an export stopped by a full disk leaves no archive; run
// again it continues and gives the same tiles as an uninterrupted one.
func TestExportResume(t *testing.T) {
	srv := testServer(t)
	root := t.TempDir()
	for _, ext := range []string{"mbtiles", "pmtiles"} {
		dest := filepath.Join(root, "c."+ext)
		var once sync.Once
		o := Options{Service: srv.svc, UDF: "checker", Area: europe, MinZoom: 0, MaxZoom: 6, Dest: dest, Concurrency: 3,
			Open: func(dest, format string) (Sink, error) {
				s, err := Open(dest, format)
				var out Sink = s
				once.Do(func() { out = &failingSink{Sink: s, fail: 40} })
				return out, err
			}}
		_, err := Run(context.Background(), o)
		if !errors.Is(err, syscall.ENOSPC) && (err == nil || !strings.Contains(err.Error(), "no space left")) {
			t.Fatalf("%s: a full disk: %v", ext, err)
		}
		if _, err := os.Stat(dest); !os.IsNotExist(err) {
			t.Fatalf("%s: the destination exists after a failed export: %v", ext, err)
		}
		sum, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Existing < 30 || sum.Existing+sum.Written != sum.Tiles {
			t.Errorf("%s: resumed %+v", ext, sum)
		}
		whole := filepath.Join(root, "whole."+ext)
		o.Dest, o.Open = whole, nil
		if _, err := Run(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		a, b := map[string]string{}, map[string]string{}
		for p, m := range map[string]map[string]string{dest: a, whole: b} {
			if err := ReadAll(p, func(tl tiles.Tile, data []byte) error { m[tl.String()] = string(data); return nil }); err != nil {
				t.Fatal(err)
			}
		}
		if len(a) != int(sum.Tiles) || len(a) != len(b) {
			t.Fatalf("%s: resumed %d tiles, uninterrupted %d", ext, len(a), len(b))
		}
		for k, v := range b {
			if a[k] != v {
				t.Fatalf("%s: tile %s differs", ext, k)
			}
		}
	}
}

// TestExportEmptyTiles: z4 MVT tiles over the ocean are empty and skipped unless
// asked for; the metadata names the vector layer.
func TestExportEmptyTiles(t *testing.T) {
	srv := testServer(t)
	world := Area{BBox: tiles.Bounds{MinX: -180, MinY: -85, MaxX: 180, MaxY: 85}}
	dir := t.TempDir()
	sum, err := Run(context.Background(), Options{Service: srv.svc, UDF: "countries", Area: world, MinZoom: 4, MaxZoom: 4, Dest: dir})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Empty < 30 || sum.Written < 60 || sum.Written+sum.Empty != 256 {
		t.Errorf("z3 countries: %+v", sum)
	}
	if n := len(listDir(t, dir)); int64(n) != sum.Written {
		t.Errorf("%d files for %d written", n, sum.Written)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "tilejson.json"))
	if !strings.Contains(string(b), `"countries"`) {
		t.Errorf("tilejson.json without the vector layer: %s", b)
	}
	// Empty collections are bytes that can be kept; empty vector tiles are none.
	sum, err = Run(context.Background(), Options{Service: srv.svc, UDF: "countries", Area: world, MinZoom: 4, MaxZoom: 4, Dest: t.TempDir(), KeepEmpty: true, Format: "geojson"})
	if err != nil || sum.Written != 256 {
		t.Errorf("keep-empty: %+v %v", sum, err)
	}
}

func TestParseShard(t *testing.T) {
	for _, s := range []string{"0/1", "2/3"} {
		if _, _, err := ParseShard(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"3/3", "-1/2", "1", "a/b", "0/0"} {
		if _, _, err := ParseShard(s); err == nil {
			t.Errorf("%s accepted", s)
		}
	}
}
