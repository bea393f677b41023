package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEmbeddedDefault(t *testing.T) {
	b, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("UDFTILES_LISTEN", "")
	os.Unsetenv("UDFTILES_LISTEN") // restored by t.Setenv's cleanup
	c, err := Parse(b, "")
	if err != nil {
		t.Fatalf("the shipped config.yaml does not parse: %v", err)
	}
	if c.Server.Listen != ":8080" {
		t.Errorf("listen %q, want the ${UDFTILES_LISTEN:-:8080} fallback :8080", c.Server.Listen)
	}
	if !reflect.DeepEqual(c.Server.CORSOrigins, []string{"*"}) || c.Cache.MemoryMB != 512 ||
		c.Cache.DefaultMaxAge.Std() != 90*24*time.Hour {
		t.Errorf("server/cache %+v %+v", c.Server, c.Cache)
	}
	var names []string
	for _, u := range c.UDFs {
		names = append(names, u.Name+":"+u.Handler)
	}
	want := []string{"elevation:cog", "rgb:cog", "scene:stac", "elevation_tiles:cog", "countries:vector", "cities:vector", "countries_gpkg:vector", "cities_fgb:vector", "hillshade:python",
		"countries_udf:python", "cities_table:python", "bounds_echo:python", "daily:python"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("udfs %v, want %v", names, want)
	}
	if len(c.Tokens) == 0 || c.Tokens[0].UDF != "elevation" || c.Python.Interpreter != "/usr/bin/python3" {
		t.Errorf("tokens %+v python %+v", c.Tokens, c.Python)
	}
	e, r := c.UDFs[0], c.UDFs[1]
	if e.Name != "elevation" || e.Handler != "cog" || e.Path != "data/demo/elevation.tif" ||
		e.Colormap != "plasma" || !reflect.DeepEqual(e.Rescale, Rescale{{0, 3000}}) || e.Resampling != "bilinear" {
		t.Errorf("elevation %+v", e)
	}
	if r.Name != "rgb" || r.CacheMaxAge == nil || r.CacheMaxAge.Std() != time.Hour || e.CacheMaxAge != nil {
		t.Errorf("rgb %+v (elevation max age %v)", r, e.CacheMaxAge)
	}
	if v := c.UDFs[4]; v.Path != "data/demo/countries.parquet" || v.MaxFeatures == nil || *v.MaxFeatures != 20000 {
		t.Errorf("countries %+v", v)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	t.Setenv("UDFTILES_LISTEN", "127.0.0.1:9999")
	c, err = Parse(b, "")
	if err != nil || c.Server.Listen != "127.0.0.1:9999" {
		t.Errorf("with UDFTILES_LISTEN set: listen %v, %v", c, err)
	}
}

func TestDefaults(t *testing.T) {
	for _, doc := range []string{"", "# only a comment\n", "server: {}\n"} {
		c, err := Parse([]byte(doc), "")
		if err != nil {
			t.Fatalf("Parse(%q): %v", doc, err)
		}
		if !reflect.DeepEqual(c, Defaults()) {
			t.Errorf("Parse(%q) = %+v, want the defaults %+v", doc, c, Defaults())
		}
	}
}

func TestEnvExpansion(t *testing.T) {
	t.Setenv("UT_BUCKET", "my-tiles")
	t.Setenv("UT_MEM", "64")
	t.Setenv("UT_EMPTY", "")
	t.Setenv("UT_YAMLISH", "[not, a, list]")
	t.Setenv("UT_HOST", "tiles.example.com")
	os.Unsetenv("UT_UNSET")
	tests := []struct {
		name  string
		yaml  string
		check func(*Config) bool
		err   []string
	}{
		{name: "plain", yaml: "cache:\n  s3:\n    bucket: ${UT_BUCKET}\n",
			check: func(c *Config) bool { return c.Cache.S3.Bucket == "my-tiles" }},
		{name: "inside text", yaml: "server: {public_url: \"https://${UT_HOST}/base\"}",
			check: func(c *Config) bool { return c.Server.PublicURL == "https://tiles.example.com/base" }},
		{name: "number from env", yaml: "cache:\n  memory_mb: ${UT_MEM}\n",
			check: func(c *Config) bool { return c.Cache.MemoryMB == 64 }},
		{name: "default unused", yaml: "cache: {memory_mb: \"${UT_MEM:-128}\"}",
			check: func(c *Config) bool { return c.Cache.MemoryMB == 64 }},
		{name: "default used", yaml: "cache: {s3: {bucket: \"${UT_UNSET:-fallback}\"}}",
			check: func(c *Config) bool { return c.Cache.S3.Bucket == "fallback" }},
		{name: "default for empty", yaml: "cache: {s3: {bucket: \"${UT_EMPTY:-fallback}\"}}",
			check: func(c *Config) bool { return c.Cache.S3.Bucket == "fallback" }},
		{name: "set but empty", yaml: "cache: {s3: {bucket: \"x${UT_EMPTY}y\"}}",
			check: func(c *Config) bool { return c.Cache.S3.Bucket == "xy" }},
		{name: "empty default", yaml: "cache: {s3: {bucket: \"a${UT_UNSET:-}b\"}}",
			check: func(c *Config) bool { return c.Cache.S3.Bucket == "ab" }},
		{name: "two refs", yaml: "cache: {s3: {prefix: \"${UT_BUCKET}/${UT_MEM}/\"}}",
			check: func(c *Config) bool { return c.Cache.S3.Prefix == "my-tiles/64/" }},
		{name: "env value is data not yaml", yaml: "cache:\n  s3:\n    bucket: ${UT_YAMLISH}\n",
			check: func(c *Config) bool { return c.Cache.S3.Bucket == "[not, a, list]" }},
		{name: "comment ignored", yaml: "# set ${UT_UNSET} if you like\nserver:\n  listen: \":1\" # or ${UT_UNSET}\n",
			check: func(c *Config) bool { return c.Server.Listen == ":1" }},
		{name: "unset", yaml: "server:\n  listen: \":1\"\n\ncache:\n  s3:\n    bucket: ${UT_UNSET}\n",
			err: []string{"UT_UNSET", "line 6", "not set"}},
		{name: "unset in a list", yaml: "server:\n  cors_origins:\n    - https://a\n    - ${UT_UNSET}\n",
			err: []string{"UT_UNSET", "line 4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), "")
			if tt.err != nil {
				if err == nil {
					t.Fatalf("Parse succeeded, want an error containing %q", tt.err)
				}
				for _, s := range tt.err {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("unexpected config %+v", c)
			}
		})
	}
}

func TestLoadResolvesPaths(t *testing.T) {
	dir := t.TempDir()
	doc := `udfs:
  - {name: rel, handler: cog, path: data/a.tif}
  - {name: dot, handler: cog, path: ./b.tif}
  - {name: abs, handler: cog, path: /srv/c.tif}
  - {name: s3, handler: cog, path: /vsis3/bucket/d.tif}
  - {name: curl, handler: cog, path: /vsicurl/https://example.com/e.tif}
  - {name: url, handler: cog, path: "https://example.com/f.tif"}
`
	path := filepath.Join(dir, "my.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"rel":  filepath.Join(dir, "data", "a.tif"),
		"dot":  filepath.Join(dir, "b.tif"),
		"abs":  "/srv/c.tif",
		"s3":   "/vsis3/bucket/d.tif",
		"curl": "/vsicurl/https://example.com/e.tif",
		"url":  "https://example.com/f.tif",
	}
	for _, u := range c.UDFs {
		if u.Path != want[u.Name] {
			t.Errorf("%s: path %q, want %q", u.Name, u.Path, want[u.Name])
		}
	}
	// Parse with no base keeps relative paths.
	c, err = Parse([]byte(doc), "")
	if err != nil || c.UDFs[0].Path != "data/a.tif" {
		t.Errorf("Parse without base: %v %v", c.UDFs[0].Path, err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

// udf is a valid layer entry to build bad documents from.
const udf = "  - name: a\n    handler: cog\n    path: a.tif\n"

func TestValidationErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{"colormap of the second layer", "udfs:\n" + udf + "  - name: b\n    handler: cog\n    path: b.tif\n    colormap: nope\n",
			[]string{"udfs[1].colormap", "nope", "viridis"}},
		{"custom colormap broken", "udfs:\n" + udf + "    colormap: '{\"0\": \"red\"}'\n", []string{"udfs[0].colormap"}},
		{"rescale min > max", "udfs:\n" + udf + "    rescale: [5, 1]\n", []string{"udfs[0].rescale", "min < max"}},
		{"rescale one value", "udfs:\n" + udf + "    rescale: [5]\n", []string{"udfs[0].rescale", "want [min, max]", "line 5"}},
		{"rescale three values", "udfs:\n" + udf + "    rescale: [1, 2, 3]\n", []string{"udfs[0].rescale", "line 5"}},
		{"rescale per band wrong", "udfs:\n" + udf + "    rescale: [[0, 255], [1]]\n", []string{"udfs[0].rescale", "rescale[1]"}},
		{"rescale per band min > max", "udfs:\n" + udf + "    rescale: [[0, 255], [9, 1]]\n", []string{"udfs[0].rescale[1]", "min < max"}},
		{"rescale not a list", "udfs:\n" + udf + "    rescale: 3000\n", []string{"udfs[0].rescale"}},
		{"rescale not numbers", "udfs:\n" + udf + "    rescale: [a, b]\n", []string{"udfs[0].rescale"}},
		{"handler", "udfs:\n  - name: a\n    handler: Fortran 77\n    path: a.py\n", []string{"udfs[0].handler", "cog", `"Fortran 77"`}},
		{"handler missing", "udfs:\n  - name: a\n    path: a.tif\n", []string{"udfs[0].handler"}},
		{"path missing", "udfs:\n  - name: a\n    handler: cog\n", []string{"udfs[0].path", "required"}},
		{"name bad", "udfs:\n  - name: 'a b'\n    handler: cog\n    path: a.tif\n", []string{"udfs[0].name"}},
		{"name empty", "udfs:\n  - handler: cog\n    path: a.tif\n", []string{"udfs[0].name"}},
		{"name duplicate", "udfs:\n" + udf + udf, []string{"udfs[1].name", "udfs[0]"}},
		{"resampling", "udfs:\n" + udf + "    resampling: fancy\n", []string{"udfs[0].resampling", "bilinear"}},
		{"band zero", "udfs:\n" + udf + "    bands: [1, 0]\n", []string{"udfs[0].bands[1]"}},
		{"zooms reversed", "udfs:\n" + udf + "    minzoom: 10\n    maxzoom: 5\n", []string{"udfs[0]", "minzoom 10", "maxzoom 5"}},
		{"maxzoom too deep", "udfs:\n" + udf + "    maxzoom: 31\n", []string{"udfs[0]", "maxzoom 31"}},
		{"cache max age bad", "udfs:\n" + udf + "    cache_max_age: -1d\n", []string{"udfs[0].cache_max_age", "line 5", `"-1d"`}},
		{"cache max age in a flow mapping", "# layers\nudfs:\n  - {name: a, handler: cog, path: a.tif, cache_max_age: 5x}\n",
			[]string{"udfs[0] (line 3)", `"5x"`}},
		{"memory negative", "cache:\n  memory_mb: -1\n", []string{"cache.memory_mb", "-1"}},
		{"memory not a number", "# comment\n\ncache:\n\n  memory_mb: lots\n", []string{"cache.memory_mb", "line 5", "lots"}},
		{"default max age", "cache:\n  default_max_age: 5x\n", []string{"cache.default_max_age", "line 2", `"5x"`}},
		{"workers", "python:\n  workers: 0\n", []string{"python.workers"}},
		{"timeout", "python:\n  timeout: 10\n", []string{"python.timeout", `"10"`}},
		{"public url", "server:\n  public_url: tiles.example.com\n", []string{"server.public_url", "http"}},
		{"token unknown udf", "udfs:\n" + udf + "tokens:\n  - token: t\n    udf: nope\n", []string{"tokens[0].udf", `"nope"`}},
		{"token second unknown udf", "udfs:\n" + udf + "tokens:\n  - {token: t, udf: a}\n  - {token: u, udf: b}\n", []string{"tokens[1].udf"}},
		{"token empty", "udfs:\n" + udf + "tokens:\n  - udf: a\n", []string{"tokens[0].token", "required"}},
		{"unknown top key", "# a comment\n\nservr:\n  listen: ':1'\n", []string{"servr", "line 3"}},
		{"bearer short hash", "auth:\n  bearer:\n    - {name: ops, sha256: abc}\n", []string{"auth.bearer[0].sha256", "64 hex"}},
		{"bearer bad name", "auth:\n  bearer:\n    - {name: 'a b', sha256: " + strings.Repeat("a", 64) + "}\n", []string{"auth.bearer[0].name"}},
		{"bearer same token", "auth:\n  bearer:\n    - {name: a, sha256: " + strings.Repeat("b", 64) + "}\n    - {name: c, sha256: " + strings.Repeat("B", 64) + "}\n", []string{"auth.bearer[1].sha256", "auth.bearer[0]"}},
		{"tile size", "limits:\n  max_tile_size: 100\n", []string{"limits.max_tile_size"}},
		{"duration overflow", "cache:\n  default_max_age: 9999999d\n", []string{"longest duration"}},
		{"duration NaN", "python:\n  timeout: NaNs\n", []string{"python.timeout"}},
		{"body size", "limits:\n  max_body_bytes: 10\n", []string{"limits.max_body_bytes"}},
		{"negative rate", "limits:\n  rate_per_client: -1\n", []string{"limits.rate_per_client"}},
		{"token rate", "udfs:\n" + udf + "tokens:\n  - {token: t, udf: a, rate: -2}\n", []string{"tokens[0]", "rate"}},
		{"negative timeout", "server:\n  write_timeout: -5s\n", []string{"server.write_timeout"}},
		{"jobs running", "limits:\n  max_jobs_running: -1\n", []string{"limits.max_jobs_running"}},
		{"jobs stored", "limits:\n  max_jobs_stored: -3\n", []string{"limits.max_jobs_stored"}},
		{"job results", "limits:\n  max_job_result_mb: -1\n", []string{"limits.max_job_result_mb"}},
		{"jobs ttl zero", "server:\n  jobs_ttl: 0s\n", []string{"server.jobs_ttl", "positive"}},
		{"jobs ttl bad", "server:\n  jobs_ttl: week\n", []string{"server.jobs_ttl", `"week"`}},
		{"cog url relative", "cog_urls:\n  allow: [cogs/]\n", []string{"cog_urls.allow[0]"}},
		{"cog url userinfo", "cog_urls:\n  allow: ['https://u@h/x/']\n", []string{"cog_urls.allow[0]"}},
		{"cog url vsi", "cog_urls:\n  allow: ['/vsicurl/http://h/']\n", []string{"cog_urls.allow[0]"}},
		{"unknown nested key", "server:\n  listen: ':1'\n\n  lisen: ':2'\n", []string{"server.lisen", "line 4"}},
		{"unknown udf key", "udfs:\n" + udf + "    colour: red\n", []string{"udfs[0].colour", "line 5"}},
		{"not yaml", "server: [\n", []string{"config:"}},
		{"wrong shape", "udfs: {name: a}\n", []string{"udfs", "line 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), "")
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want an error containing %q", c, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Errorf("error %q does not start with config:", err)
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestDurations(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"45s", 45 * time.Second, true},
		{"30m", 30 * time.Minute, true},
		{"1h", time.Hour, true},
		{"90d", 90 * 24 * time.Hour, true},
		{"1.5h", 90 * time.Minute, true},
		{"0s", 0, true},
		{"0", 0, true},
		{" 2d ", 48 * time.Hour, true},
		{"5x", 0, false},
		{"-1d", 0, false},
		{"10", 0, false},
		{"", 0, false},
		{"d", 0, false},
		{"1w", 0, false},
		{"1hs", 0, false},
		{"1e9d", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.ok && (err != nil || got != tt.want) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if !tt.ok && err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", tt.in, got)
		}
		// The same through YAML.
		c, err := Parse([]byte("udfs:\n"+udf+"    cache_max_age: \""+tt.in+"\"\n"), "")
		if tt.ok {
			if err != nil || c.UDFs[0].CacheMaxAge == nil || c.UDFs[0].CacheMaxAge.Std() != tt.want {
				t.Errorf("cache_max_age %q: %v", tt.in, err)
			}
		} else if err == nil {
			t.Errorf("cache_max_age %q accepted as %v", tt.in, c.UDFs[0].CacheMaxAge.Std())
		}
	}
}

func TestRescaleForms(t *testing.T) {
	tests := []struct {
		yaml string
		want Rescale
	}{
		{"[0, 3000]", Rescale{{0, 3000}}},
		{"[-1.5, 2.5e3]", Rescale{{-1.5, 2500}}},
		{"[[0, 255], [0, 255], [0, 255]]", Rescale{{0, 255}, {0, 255}, {0, 255}}},
		{"[[0, 100], [10, 200]]", Rescale{{0, 100}, {10, 200}}},
		{"\n      - [0, 1]\n      - [2, 3]", Rescale{{0, 1}, {2, 3}}},
		{"\n      - 0\n      - 1", Rescale{{0, 1}}},
	}
	for _, tt := range tests {
		c, err := Parse([]byte("udfs:\n"+udf+"    rescale: "+tt.yaml+"\n"), "")
		if err != nil {
			t.Errorf("rescale %s: %v", tt.yaml, err)
			continue
		}
		if !reflect.DeepEqual(c.UDFs[0].Rescale, tt.want) {
			t.Errorf("rescale %s = %v, want %v", tt.yaml, c.UDFs[0].Rescale, tt.want)
		}
	}
}

// TestPathLists: a cog layer's path may be a list of files (a mosaic),
// resolved one by one; other kinds refuse a list, and errors name the key.
func TestPathLists(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse([]byte(`udfs:
  - name: m
    handler: cog
    path:
      - tiles/a.tif
      - /srv/b.tif
      - /vsis3/bucket/c.tif
    assets: [visual]
  - {name: one, handler: cog, path: x.tif}
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	m := c.UDFs[0]
	want := []string{filepath.Join(dir, "tiles", "a.tif"), "/srv/b.tif", "/vsis3/bucket/c.tif"}
	if m.Path != want[0] || !slices.Equal(m.Paths, want) || !slices.Equal(m.Assets, []string{"visual"}) {
		t.Errorf("list: path %q, paths %q, assets %q; want paths %q", m.Path, m.Paths, m.Assets, want)
	}
	if one := c.UDFs[1]; one.Path != filepath.Join(dir, "x.tif") || one.Paths != nil {
		t.Errorf("single: path %q, paths %q", one.Path, one.Paths)
	}
	for _, bad := range []struct{ doc, want string }{
		{"udfs:\n  - {name: v, handler: vector, path: [a.fgb, b.fgb]}\n", "udfs[0].path: a list of files is a mosaic, for handler cog only"},
		{"udfs:\n  - {name: m, handler: cog, path: []}\n", "udfs[0].path: an empty list"},
		{"udfs:\n  - {name: m, handler: cog, path: [a.tif, [b.tif]]}\n", "udfs[0].path[1]: want a file path"},
		{"udfs:\n  - name: m\n    handler: cog\n    path:\n      - a.tif\n      - b.tif\n    bands: x\n", "udfs[0].bands (line 7)"},
		{"udfs:\n  - {name: v, handler: vector, path: a.fgb, assets: [b]}\n", "udfs[0].assets: only for handler cog"},
	} {
		if _, err := Parse([]byte(bad.doc), ""); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want an error with %q", bad.doc, err, bad.want)
		}
	}
}
