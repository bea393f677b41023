package cog_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/tiles"
)

// sameAsLocal reads tiles at every zoom of the demo DEM through remote and from
// the local file, and fails t unless they are identical.
func sameAsLocal(t *testing.T, remote *cog.Reader, local string) {
	t.Helper()
	l := newReader(t, cog.Options{Path: local})
	rs, ls := remote.Schema(), l.Schema()
	if rs.Bounds != ls.Bounds || rs.MinZoom != ls.MinZoom || rs.MaxZoom != ls.MaxZoom {
		t.Fatalf("remote schema %+v %d..%d, local %+v %d..%d", rs.Bounds, rs.MinZoom, rs.MaxZoom, ls.Bounds, ls.MinZoom, ls.MaxZoom)
	}
	for z := ls.MinZoom; z <= ls.MaxZoom; z += 3 {
		for _, tile := range sampleTiles(l, z) {
			o := cog.TileOptions{Resampling: "bilinear"}
			got, want := read(t, remote, tile, o), read(t, l, tile, o)
			if !sameRaster(got, want) {
				t.Errorf("tile %s read remotely differs from the local read", tile)
			}
			if valid(want) == 0 && z == ls.MaxZoom {
				t.Errorf("tile %s has no data to compare", tile)
			}
		}
	}
}

func TestVSICurl(t *testing.T) {
	path := demoDEM(t)
	var ranges atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/dem/elevation.tif" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Range") != "" {
			ranges.Add(1)
		}
		http.ServeFile(w, r, path)
	}))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want loopback", srv.URL)
	}
	t.Setenv("NO_PROXY", "127.0.0.1")
	t.Setenv("no_proxy", "127.0.0.1")

	remote := newReader(t, cog.Options{Path: "/vsicurl/" + srv.URL + "/dem/elevation.tif"})
	sameAsLocal(t, remote, path)
	if ranges.Load() == 0 {
		t.Errorf("GDAL made no range requests: it did not read the file as a COG")
	}

	missing := cog.New(cog.Options{Path: "/vsicurl/" + srv.URL + "/dem/missing.tif"})
	defer missing.Close()
	if err := missing.Status(); err == nil || !strings.Contains(err.Error(), "missing.tif") {
		t.Errorf("status of a missing URL: %v, want an error naming it", err)
	}
}

func TestVSIS3(t *testing.T) {
	path := demoDEM(t)
	s3 := gofakes3.New(s3mem.New()).Server()
	var ranges atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.Header.Get("Range") != "" {
			ranges.Add(1)
		}
		s3.ServeHTTP(w, r)
	}))
	defer srv.Close()
	put := func(url string, body []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s: %s", url, res.Status)
		}
	}
	put(srv.URL+"/tiles-test", nil)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	put(srv.URL+"/tiles-test/dem/elevation.tif", b)

	for k, v := range map[string]string{
		"AWS_S3_ENDPOINT":       strings.TrimPrefix(srv.URL, "http://"),
		"AWS_HTTPS":             "NO",
		"AWS_VIRTUAL_HOSTING":   "FALSE",
		"AWS_ACCESS_KEY_ID":     "test",
		"AWS_SECRET_ACCESS_KEY": "test",
		"AWS_REGION":            "us-east-1",
		"AWS_SESSION_TOKEN":     "",
		"NO_PROXY":              "127.0.0.1",
		"no_proxy":              "127.0.0.1",
	} {
		t.Setenv(k, v)
	}
	remote := newReader(t, cog.Options{Path: "/vsis3/tiles-test/dem/elevation.tif"})
	sameAsLocal(t, remote, path)
	if ranges.Load() == 0 {
		t.Errorf("GDAL made no range requests to the S3 server")
	}

	missing := cog.New(cog.Options{Path: "/vsis3/tiles-test/dem/missing.tif"})
	defer missing.Close()
	if err := missing.Status(); err == nil {
		t.Errorf("status of a missing object: nil, want an error")
	}
	tile := tiles.AtLonLat(13.9, 47.1, 8)
	if _, err := missing.ReadTile(tile, cog.TileOptions{Size: 256, Resampling: "nearest"}); err == nil {
		t.Errorf("tile of a missing object: no error")
	}
}
