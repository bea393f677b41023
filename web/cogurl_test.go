package web_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/web"
)

// TestAllowedURL: what the url= allow-list lets through, and what it refuses
// (other hosts and look-alike hosts, user names, "..", GDAL's /vsi paths,
// other schemes, files outside the directories, links out of them).
func TestAllowedURL(t *testing.T) {
	dir := t.TempDir()
	cogs := filepath.Join(dir, "cogs")
	os.MkdirAll(filepath.Join(cogs, "sub"), 0o755)
	os.WriteFile(filepath.Join(cogs, "sub", "a.tif"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret.tif"), []byte("x"), 0o644)
	os.Symlink(filepath.Join(dir, "secret.tif"), filepath.Join(cogs, "link.tif"))
	allow := []string{"https://data.example.com/cogs/", "s3://bucket/pre/", "http://127.0.0.1:9000/x", cogs}
	for _, c := range []struct {
		url  string
		want string // the GDAL path, or the status of the refusal
	}{
		{"https://data.example.com/cogs/a.tif", "/vsicurl/https://data.example.com/cogs/a.tif"},
		{"https://DATA.example.com/cogs/b/c.tif?sig=1", "/vsicurl/https://data.example.com/cogs/b/c.tif?sig=1"},
		{"https://data.example.com/cogs2/a.tif", "403"},
		{"https://data.example.com.evil.org/cogs/a.tif", "403"},
		{"https://evil.org/https://data.example.com/cogs/a.tif", "403"},
		{"https://user:pw@data.example.com/cogs/a.tif", "400"},
		{"https://data.example.com/cogs/../etc/passwd", "400"},
		{"https://data.example.com/cogs/%2e%2e/etc/passwd", "400"},
		{"http://data.example.com/cogs/a.tif", "403"},
		{"s3://bucket/pre/k.tif", "/vsis3/bucket/pre/k.tif"},
		{"s3://bucket/other/k.tif", "403"},
		{"http://127.0.0.1:9000/x/y.tif", "/vsicurl/http://127.0.0.1:9000/x/y.tif"},
		{"http://127.0.0.1:9001/x/y.tif", "403"},
		{"http://169.254.169.254/latest/meta-data", "403"},
		{"file:///etc/passwd", "400"},
		{"ftp://data.example.com/cogs/a.tif", "400"},
		{"/vsicurl/https://evil.org/a.tif", "400"},
		{filepath.Join(cogs, "sub", "a.tif"), filepath.Join(cogs, "sub", "a.tif")},
		{filepath.Join(cogs, "sub", "..", "..", "secret.tif"), "403"},
		{filepath.Join(cogs, "link.tif"), "403"},
		{filepath.Join(cogs, "missing.tif"), "404"},
		{"/etc/passwd", "403"},
		{"relative/a.tif", "400"},
		{"", "400"},
	} {
		got, err := web.AllowedURL(c.url, allow)
		if err != nil {
			got = map[layer.Kind]string{layer.BadRequest: "400", layer.Forbidden: "403", layer.NotFound: "404"}[layer.KindOf(err)]
		}
		if got != c.want {
			t.Errorf("%q: %s (%v), want %s", c.url, got, err, c.want)
		}
	}
}

// TestCOGByURL serves tiles of COGs named by url=: a local file under the
// allowed directory and the same file over HTTP (through /vsicurl/, from a
// server on 127.0.0.1) give the configured layer's very data; a file outside
// is refused; without an allow-list the routes are off.
func TestCOGByURL(t *testing.T) {
	e := newTestServer(t)
	files := http.FileServer(http.Dir(filepath.Dir(e.demoPath)))
	hs := httptest.NewServer(http.StripPrefix("/cogs", files))
	defer hs.Close()
	open := func(p string) (layer.Handler, error) { return cog.New(cog.Options{Path: p}), nil }
	h := e.withDeps(t, web.Deps{COGAllow: []string{filepath.Dir(e.demoPath), hs.URL + "/cogs/"}, COGSource: open, COGMaxAge: time.Hour})
	tile := e.centerTile(9)
	want := e.get(t, fmt.Sprintf("/v1/udfs/elevation/tiles/%s.npy", tile), 200).Body.Bytes()
	for _, u := range []string{e.demoPath, hs.URL + "/cogs/" + filepath.Base(e.demoPath)} {
		rec := do(h, "GET", fmt.Sprintf("/v1/cog/tiles/%s.npy?url=%s", tile, url.QueryEscape(u)))
		if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), want) {
			t.Errorf("url=%s: %d (%d bytes), want the elevation layer's %d bytes; %.200s", u, rec.Code, rec.Body.Len(), len(want), rec.Body)
		}
		tj := do(h, "GET", "/v1/cog/tilejson.json?url="+url.QueryEscape(u))
		if tj.Code != 200 || !strings.Contains(tj.Body.String(), "/v1/cog/tiles/{z}/{x}/{y}.png?url=") {
			t.Errorf("tilejson for %s: %d %s", u, tj.Code, tj.Body)
		}
	}
	if rec := do(h, "GET", fmt.Sprintf("/v1/cog/tiles/%s.png?url=%s", tile, url.QueryEscape("/etc/passwd"))); rec.Code != 403 {
		t.Errorf("url=/etc/passwd: %d, want 403", rec.Code)
	}
	if rec := do(e.withDeps(t, web.Deps{}), "GET", fmt.Sprintf("/v1/cog/tiles/%s.png?url=%s", tile, url.QueryEscape(e.demoPath))); rec.Code != 404 {
		t.Errorf("no allow-list: %d, want 404", rec.Code)
	}
	// url= means nothing to the configured layers: no file is read through it.
	if rec := do(h, "GET", fmt.Sprintf("/v1/udfs/elevation/tiles/%s.npy?url=%s", tile, url.QueryEscape("/etc/passwd"))); rec.Code != 400 {
		t.Errorf("url= on a configured COG layer: %d, want 400 (an unknown parameter)", rec.Code)
	}
}
