package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzConfigParse feeds YAML to Parse. It never panics; it returns a config or an
// error, never both nor neither; errors are plain errors worded "config: ...";
// and a config it returns passes Validate again, with relative layer paths
// joined to the base folder.
func FuzzConfigParse(f *testing.F) {
	for _, name := range []string{"../config.yaml", "../deploy/compose-config.yaml"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b, true)
		}
	}
	for _, s := range []string{
		"",
		"# nothing\n",
		"server: {listen: ':9000', public_url: 'https://tiles.example.com'}\ncache: {memory_mb: 0, default_max_age: 0}\n",
		"udfs:\n  - {name: a, handler: cog, path: a.tif, rescale: [[0, 1], [2, 3]], bands: [1, 2], nodata: -9999}\n",
		"udfs:\n  - {name: a, handler: cog, path: /abs/a.tif, rescale: [0, 1, 2]}\n",
		"udfs:\n  - {name: a, handler: cog, path: a.tif, colormap: '[[[0, 1], \"#ff0000\"]]', minzoom: 3, maxzoom: 30}\n",
		"udfs:\n  - {name: v, handler: vector, path: x.parquet, max_features: 10, columns: [a, b, a]}\n",
		"udfs:\n  - {name: p, handler: python, path: p.py, bounds: [-10, -10, 10, 10], timeout: 30s, cache_max_age: 1.5h}\n",
		"udfs:\n  - {name: g, handler: go, go: tilegrid, options: {a: [1, {b: c}]}}\n",
		"udfs:\n  - &x {name: a, handler: cog, path: a.tif}\n  - *x\n",
		"base: &b {handler: cog, path: a.tif}\nudfs:\n  - {<<: *b, name: a}\n",
		"udfs:\n  - name: ${UDFTILES_FUZZ_UNSET}\n",
		"udfs:\n  - name: ${UDFTILES_FUZZ_UNSET:-dflt}\n    handler: cog\n    path: ${HOME}/a.tif\n",
		"cache: {default_max_age: 9999999d}\n",
		"cache: {default_max_age: -1s}\n",
		"python: {workers: 0}\n",
		"tokens: [{token: t, udf: nope}]\n",
		"admin_token: secret\nsecrets: {a: b}\n",
		"unknown_key: 1\n",
		"server: [1, 2]\n",
		"udfs: {a: 1}\n",
		"- a\n- b\n",
		"a: b: c\n",
		"{{{{\n",
		"%YAML 1.2\n---\nserver: {}\n...\n---\ncache: {}\n",
		"!!binary aGVsbG8=\n",
		"udfs:\n  - name: a\n    handler: cog\n    path: a.tif\n    rescale: !!str 5\n",
	} {
		f.Add([]byte(s), s != "")
	}
	f.Fuzz(func(t *testing.T, yaml []byte, withBase bool) {
		base := ""
		if withBase {
			base = "/srv/udftiles"
		}
		c, err := Parse(yaml, base)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a config and error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("error %q does not start with \"config: \"", err)
			}
			return
		}
		if c == nil {
			t.Fatal("Parse returned neither a config nor an error")
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("a parsed config fails Validate: %v", err)
		}
		for i, u := range c.UDFs {
			if base != "" && u.Path != "" && !filepath.IsAbs(u.Path) && !strings.HasPrefix(u.Path, "/vsi") && !strings.Contains(u.Path, "://") {
				t.Fatalf("udfs[%d].path %q is relative to nothing", i, u.Path)
			}
		}
	})
}
