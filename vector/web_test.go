package vector_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb/encoding/mvt"
	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/vector"
	"github.com/udftiles/udftiles/web"
)

// TestDemoLayersOverHTTP serves the demo's countries (GeoPackage) and cities
// (FlatGeobuf) through the web handler, as `tileserver serve` does.
func TestDemoLayersOverHTTP(t *testing.T) {
	dir := t.TempDir()
	if _, err := demo.WriteVectors(dir); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.fgb")
	if err := os.WriteFile(broken, []byte("fgb\x03fgb\x00 and nothing else"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := vector.Ingest(context.Background(), filepath.Join(dir, "countries.gpkg"), filepath.Join(dir, "countries.parquet"), vector.IngestOptions{}); err != nil {
		t.Fatal(err)
	}
	reg := layer.NewRegistry()
	for name, o := range map[string]vector.Options{"countries": {Path: "countries.gpkg"}, "countries_pq": {Path: "countries.parquet"},
		"top5": {Path: "countries.parquet", MaxFeatures: 5}, "cities": {Path: "cities.fgb"}, "broken": {Path: "broken.fgb"}} {
		o.Path = filepath.Join(dir, o.Path)
		l := vector.New(o)
		t.Cleanup(l.Close)
		reg.Add(&layer.Layer{Name: name, Kind: "vector", Handler: l, MaxAge: time.Hour, Defaults: url.Values{}})
	}
	c, err := cache.New(64<<20, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := httptest.NewServer(web.New(web.Deps{Registry: reg, Cache: c}))
	defer srv.Close()
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	for _, layer := range []string{"countries", "countries_pq"} {
		countries(t, get, layer)
	}

	// Past max_features a tile says what it kept, from the cache too.
	for i := 0; i < 2; i++ {
		resp, body := get("/v1/udfs/top5/tiles/1/1/0")
		layers, err := mvt.Unmarshal(body)
		if resp.StatusCode != 200 || err != nil || len(layers) != 1 || len(layers[0].Features) != 5 ||
			resp.Header.Get("X-Features-Truncated") != "5 of 146" {
			t.Errorf("top5 1/1/0: %d, %v, X-Features-Truncated %q", resp.StatusCode, err, resp.Header.Get("X-Features-Truncated"))
		}
	}
	if resp, _ := get("/v1/udfs/countries_pq/tiles/1/1/0"); resp.Header.Get("X-Features-Truncated") != "" {
		t.Errorf("a tile within max_features says X-Features-Truncated: %q", resp.Header.Get("X-Features-Truncated"))
	}

	resp, body := get("/v1/udfs/cities/run?bounds=-10,35,30,60&format=csv")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Paris") || strings.Contains(string(body), "Tokyo") {
		t.Errorf("cities in file mode: %d %.300s", resp.StatusCode, body)
	}

	resp, body = get("/v1/udfs/broken/tiles/0/0/0?format=geojson")
	if resp.StatusCode != 503 {
		t.Errorf("a broken file: %d %s, want 503", resp.StatusCode, body)
	}
	resp, body = get("/v1/udfs")
	var list struct {
		UDFs []struct {
			Name, Status, Error string
			DefaultFormat       string `json:"default_format"`
		}
	}
	if err := json.Unmarshal(body, &list); err != nil || resp.StatusCode != 200 || len(list.UDFs) != 5 {
		t.Fatalf("/v1/udfs: %v %.300s", err, body)
	}
	for _, u := range list.UDFs {
		switch {
		case u.Name == "broken" && (u.Status != "error" || u.Error == ""):
			t.Errorf("broken layer listed as %+v", u)
		case u.Name != "broken" && (u.Status != "ok" || u.DefaultFormat != "mvt"):
			t.Errorf("layer listed as %+v", u)
		}
	}
}

// countries checks a layer of the demo countries over HTTP: GeoJSON, MVT,
// columns=, filter= and their mistakes.
func countries(t *testing.T, get func(string) (*http.Response, []byte), layer string) {
	t.Helper()
	resp, body := get("/v1/udfs/" + layer + "/tiles/2/2/1?format=geojson")
	var fc struct {
		Features []struct {
			ID         int64          `json:"id"`
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/geo+json" || json.Unmarshal(body, &fc) != nil {
		t.Fatalf("countries 2/2/1: %d %s %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	names := map[string]bool{}
	for _, f := range fc.Features {
		if f.Properties["pop_est"] == nil || f.ID == 0 {
			t.Errorf("%s feature %d: %v, want pop_est and an id", layer, f.ID, f.Properties)
		}
		names[f.Properties["name"].(string)] = true
	}
	if !names["Germany"] || !names["France"] || names["Brazil"] {
		t.Errorf("countries 2/2/1 (Europe): %v", names)
	}

	// The default format is MVT, with the properties in layer "udf".
	resp, body = get("/v1/udfs/" + layer + "/tiles/2/2/1")
	if resp.StatusCode != 200 {
		t.Fatalf("countries 2/2/1 as MVT: %d %.300s", resp.StatusCode, body)
	}
	layers, err := mvt.Unmarshal(body)
	if err != nil || len(layers) != 1 || len(layers[0].Features) != len(fc.Features) {
		t.Fatalf("MVT: %v, %d layers", err, len(layers))
	}
	if p := layers[0].Features[0].Properties; p["name"] == nil || p["pop_est"] == nil {
		t.Errorf("MVT properties %v", p)
	}

	resp, body = get("/v1/udfs/" + layer + "/tiles/2/2/1.geojson?columns=name&filter=" + url.QueryEscape("continent = 'Europe' AND pop_est > 50000000"))
	fc.Features = nil
	if resp.StatusCode != 200 || json.Unmarshal(body, &fc) != nil || len(fc.Features) < 4 {
		t.Fatalf("filtered: %d %.300s", resp.StatusCode, body)
	}
	for _, f := range fc.Features {
		if len(f.Properties) != 1 || f.Properties["name"] == "Spain" {
			t.Errorf("filtered feature %v", f.Properties)
		}
	}

	for path, want := range map[string]string{
		"/v1/udfs/" + layer + "/tiles/2/2/1?filter=" + url.QueryEscape("pop_est > 'x'"): "cannot compare",
		"/v1/udfs/" + layer + "/tiles/2/2/1?columns=nope":                               "gdp_md_est",
	} {
		resp, body := get(path)
		if resp.StatusCode != 400 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %s, want 400 with %q", path, resp.StatusCode, body, want)
		}
	}

}
