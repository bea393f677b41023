package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/web"
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCOGByURLRefuses: url= cannot escape cog_urls.allow through GDAL. Only
// GeoTIFFs open: a VRT inside the allowed directory that points at a file
// outside it is refused, as .vrt and renamed .tif, locally and over HTTP; a
// directory, a FIFO, a file that is no TIFF and (for users other than root)
// a file the server cannot read are 4xx with a short message, not 503s with
// GDAL's text; a private layer's file, its side files and links to it are
// refused while a public layer's file and any other COG are served.
func TestCOGByURLRefuses(t *testing.T) {
	e := newTestServer(t)
	root := t.TempDir()
	allowed, outside := filepath.Join(root, "cogs"), filepath.Join(root, "outside")
	for _, d := range []string{allowed, outside, filepath.Join(allowed, "adir")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(outside, "secret.tif")
	copyFile(t, e.demoPath, secret)
	for _, name := range []string{"public.tif", "private.tif", "other.tif"} {
		copyFile(t, e.demoPath, filepath.Join(allowed, name))
	}
	private := filepath.Join(allowed, "private.tif")
	copyFile(t, e.demoPath, private+".ovr")
	if err := os.Link(private, filepath.Join(allowed, "hardlink.tif")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(private, filepath.Join(allowed, "symlink.tif")); err != nil {
		t.Fatal(err)
	}
	// A VRT of the file outside, with its absolute path, as .vrt and as .tif.
	vrt := filepath.Join(allowed, "evil.vrt")
	if out, err := exec.Command("gdal_translate", "-q", "-of", "VRT", secret, vrt).CombinedOutput(); err != nil {
		t.Fatalf("gdal_translate: %v: %s", err, out)
	}
	if b, _ := os.ReadFile(vrt); !strings.Contains(string(b), "secret.tif") {
		t.Fatalf("the VRT does not name the file outside: %s", b)
	}
	copyFile(t, vrt, filepath.Join(allowed, "evil.tif"))
	writeFile(t, filepath.Join(allowed, "notes.tif"), []byte("just some text, not a TIFF\n"))
	writeFile(t, filepath.Join(allowed, "empty.tif"), nil)
	if err := syscall.Mkfifo(filepath.Join(allowed, "fifo.tif"), 0o644); err != nil {
		t.Fatal(err)
	}

	files := http.FileServer(http.Dir(allowed))
	hs := httptest.NewServer(http.StripPrefix("/cogs", files))
	defer hs.Close()
	open := func(p string) (layer.Handler, error) {
		return cog.New(cog.Options{Path: p, Drivers: cog.URLDrivers}), nil
	}
	h := e.withDeps(t, web.Deps{COGAllow: []string{allowed, hs.URL + "/cogs/"}, COGSource: open, COGMaxAge: time.Hour,
		PrivateFiles: []string{private, "/vsicurl/" + hs.URL + "/cogs/private.tif"}})
	tile := e.centerTile(9)
	want := e.get(t, fmt.Sprintf("/v1/udfs/elevation/tiles/%s.npy", tile), 200).Body.Bytes()

	get := func(u string) *httptest.ResponseRecorder {
		t.Helper()
		done := make(chan *httptest.ResponseRecorder, 1)
		go func() { done <- do(h, "GET", fmt.Sprintf("/v1/cog/tiles/%s.npy?url=%s", tile, url.QueryEscape(u))) }()
		select {
		case rec := <-done:
			return rec
		case <-time.After(30 * time.Second):
			t.Fatalf("url=%s: no answer in 30 s", u)
			return nil
		}
	}
	for _, c := range []struct {
		url  string
		code int
	}{
		{filepath.Join(allowed, "public.tif"), 200},
		{filepath.Join(allowed, "other.tif"), 200},
		{hs.URL + "/cogs/public.tif", 200},
		{vrt, 400},
		{filepath.Join(allowed, "evil.tif"), 400},
		{hs.URL + "/cogs/evil.vrt", 400},
		{hs.URL + "/cogs/evil.tif", 400},
		{filepath.Join(allowed, "adir"), 400},
		{allowed, 400},
		{filepath.Join(allowed, "notes.tif"), 400},
		{filepath.Join(allowed, "empty.tif"), 400},
		{filepath.Join(allowed, "fifo.tif"), 400},
		{private, 404},
		{private + ".ovr", 404},
		{filepath.Join(allowed, "hardlink.tif"), 404},
		{filepath.Join(allowed, "symlink.tif"), 404},
		{hs.URL + "/cogs/private.tif", 404},
		{filepath.Join(allowed, "missing.tif"), 404},
	} {
		rec := get(c.url)
		if rec.Code != c.code {
			t.Errorf("url=%s: %d, want %d; %.300s", c.url, rec.Code, c.code, rec.Body)
			continue
		}
		if c.code == 200 {
			if rec.Body.String() != string(want) {
				t.Errorf("url=%s: not the elevation layer's data", c.url)
			}
			continue
		}
		msg := jsonError(t, rec)
		if len(msg) > 200 || strings.Contains(msg, "ERROR") || strings.Contains(msg, "recognized") || strings.Contains(msg, "cannot open") {
			t.Errorf("url=%s: %q is not a short message of the server's own", c.url, msg)
		}
		if c.code == 404 && strings.Contains(msg, "layer") {
			t.Errorf("url=%s: %q tells a private layer is there", c.url, msg)
		}
	}
	// The TileJSON of a refused file is refused alike.
	if rec := do(h, "GET", "/v1/cog/tilejson.json?url="+url.QueryEscape(vrt)); rec.Code != 400 {
		t.Errorf("tilejson of the VRT: %d %s", rec.Code, rec.Body)
	}

	// A file the server's user cannot read. Root reads every file, so the
	// check needs another user; the other kinds of unreadable file above
	// (FIFO, not a TIFF, empty) run for everyone.
	unreadable := filepath.Join(allowed, "unreadable.tif")
	copyFile(t, e.demoPath, unreadable)
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		t.Log("running as root: the mode-0 file is readable; its check is skipped")
	} else if rec := get(unreadable); rec.Code != 403 {
		t.Errorf("url=%s (mode 0): %d, want 403; %s", unreadable, rec.Code, rec.Body)
	}
}
