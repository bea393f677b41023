package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/layer"
)

// Tiles of any COG named by url= (GET /v1/cog/tiles/{z}/{x}/{y}?url=...), as
// a tiler of arbitrary files does, are served only when the config lists
// where such files may be (cog_urls.allow): otherwise a request could make
// the server read any local file or fetch any address its network reaches.

// URLSource opens a layer for an allowed COG; it is called with the GDAL path
// AllowedURL returned.
type URLSource func(gdalPath string) (layer.Handler, error)

// AllowedURL checks a url= value against the allow-list and returns the path
// GDAL opens: http(s) URLs through /vsicurl/, s3:// through /vsis3/, local
// absolute paths as they are once symbolic links are resolved. An entry of
// the list allows what lies below it: the same scheme and host (port
// included) and a path under its path; for local directories, a file under
// the directory after links are resolved. User names, "..", GDAL's own /vsi
// prefixes and other schemes are refused.
func AllowedURL(raw string, allow []string) (string, error) {
	if raw == "" {
		return "", layer.Errorf(layer.BadRequest, "parameter url: required: the COG's https://, s3:// URL or path")
	}
	if strings.ContainsAny(raw, "\x00\r\n") || strings.HasPrefix(raw, "/vsi") {
		return "", layer.Errorf(layer.BadRequest, "parameter url: not a URL or path the server accepts")
	}
	if strings.HasPrefix(raw, "/") {
		return allowedFile(raw, allow)
	}
	u, err := cleanURL(raw)
	if err != nil {
		return "", err
	}
	for _, a := range allow {
		au, err := cleanURL(a)
		if err != nil || au.Scheme != u.Scheme || au.Host != u.Host {
			continue
		}
		prefix := au.Path
		if !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		if u.Path == au.Path || strings.HasPrefix(u.Path, prefix) {
			if u.Scheme == "s3" {
				return "/vsis3/" + u.Host + u.Path, nil
			}
			return "/vsicurl/" + u.String(), nil
		}
	}
	return "", layer.Errorf(layer.Forbidden, "parameter url: %s://%s%s is not under cog_urls.allow", u.Scheme, u.Host, u.Path)
}

// cleanURL parses an http(s) or s3 URL and cleans its path.
func cleanURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, layer.Errorf(layer.BadRequest, "parameter url: want https://host/path, s3://bucket/key or an absolute path")
	}
	switch u.Scheme = strings.ToLower(u.Scheme); u.Scheme {
	case "http", "https", "s3":
	default:
		return nil, layer.Errorf(layer.BadRequest, "parameter url: scheme %q is not served (http, https, s3)", u.Scheme)
	}
	if u.User != nil {
		return nil, layer.Errorf(layer.BadRequest, "parameter url: user names and passwords are not accepted")
	}
	if u.Scheme == "s3" && u.RawQuery != "" {
		return nil, layer.Errorf(layer.BadRequest, "parameter url: an s3:// URL has no query")
	}
	if strings.Contains(u.Path, "/../") || strings.HasSuffix(u.Path, "/..") || strings.Contains(u.EscapedPath(), "%2e%2e") || strings.Contains(u.EscapedPath(), "%2E%2E") {
		return nil, layer.Errorf(layer.BadRequest, "parameter url: \"..\" is not accepted")
	}
	u.Host = strings.ToLower(u.Host)
	u.Fragment, u.RawFragment = "", ""
	if u.Path == "" {
		u.Path = "/"
	}
	u.Path = path.Clean(u.Path)
	u.RawPath = ""
	return u, nil
}

// allowedFile resolves a local path and checks it lies in an allowed directory.
func allowedFile(p string, allow []string) (string, error) {
	real, err := filepath.EvalSymlinks(filepath.Clean(p))
	if err != nil {
		// Whether the file exists is only said for allowed places.
		real = ""
	}
	for _, a := range allow {
		if !strings.HasPrefix(a, "/") {
			continue
		}
		dir, err := filepath.EvalSymlinks(filepath.Clean(a))
		if err != nil {
			continue
		}
		if real != "" && (real == dir || strings.HasPrefix(real, dir+string(filepath.Separator))) {
			return real, nil
		}
		if real == "" && strings.HasPrefix(filepath.Clean(p), filepath.Clean(a)+string(filepath.Separator)) {
			return "", layer.Errorf(layer.NotFound, "parameter url: no file %s", p)
		}
	}
	return "", layer.Errorf(layer.Forbidden, "parameter url: %s is not under cog_urls.allow", p)
}

// urlLayers keeps the layers of recently used URLs.
type urlLayers struct {
	mu     sync.Mutex
	layers map[string]*layer.Layer
	order  []string
}

const maxURLLayers = 64

// urlKind is what url= names on a family of routes: a COG (/v1/cog/...) or
// a STAC Item (/v1/stac/...), how a local one is checked before it is
// opened, how it is opened, and what an allowed one that cannot be served
// answers.
type urlKind struct {
	name  string
	check func(p, raw string) error
	open  func(gdalPath string) (layer.Handler, error)
	fail  func(err error, raw string, local bool) error
}

// urlLayer is the layer of the COG url= names.
func (s *api) urlLayer(r *http.Request) (*layer.Layer, error) {
	return s.namedLayer(r, urlKind{name: "cog", check: checkLocalCOG, open: s.COGSource, fail: openError})
}

// namedLayer is the layer of what url= names, allowed by cog_urls.allow.
func (s *api) namedLayer(r *http.Request, k urlKind) (*layer.Layer, error) {
	if len(s.COGAllow) == 0 || s.COGSource == nil {
		return nil, layer.Errorf(layer.NotFound, "tiles of COGs named by url= are off on this server (cog_urls.allow)")
	}
	raw := r.URL.Query().Get("url")
	gdalPath, err := AllowedURL(raw, s.COGAllow)
	if err != nil {
		return nil, err
	}
	local := !strings.HasPrefix(gdalPath, "/vsi")
	// A private layer's file is not served to whoever names it: the same
	// answer as for a missing file, so the name says nothing about it.
	if s.privateFile(gdalPath) {
		if local {
			return nil, layer.Errorf(layer.NotFound, "parameter url: no file %s", raw)
		}
		return nil, layer.Errorf(layer.NotFound, "parameter url: no COG at %s", raw)
	}
	key := gdalPath
	if k.name != "cog" {
		key = k.name + ":" + gdalPath
	}
	s.urls.mu.Lock()
	defer s.urls.mu.Unlock()
	if l, ok := s.urls.layers[key]; ok {
		return l, nil
	}
	if local {
		if err := k.check(gdalPath, raw); err != nil {
			return nil, err
		}
	}
	h, err := k.open(gdalPath)
	if err != nil {
		return nil, err
	}
	if st, ok := h.(layer.Statuser); ok {
		if err := st.Status(); err != nil {
			if c, ok := h.(interface{ Close() }); ok {
				c.Close()
			}
			s.Logger.Debug("url= names a file that cannot be opened", "url", raw, "error", err.Error())
			return nil, k.fail(err, raw, local)
		}
	}
	sum := sha256.Sum256([]byte(key))
	l := &layer.Layer{Name: k.name + "-" + hex.EncodeToString(sum[:6]), Kind: k.name, Handler: h, MaxAge: s.COGMaxAge, Defaults: url.Values{}}
	if len(s.urls.order) >= maxURLLayers {
		old := s.urls.order[0]
		s.urls.order = s.urls.order[1:]
		if c, ok := s.urls.layers[old].Handler.(interface{ Close() }); ok {
			defer c.Close()
		}
		delete(s.urls.layers, old)
	}
	s.urls.layers[key] = l
	s.urls.order = append(s.urls.order, key)
	return l, nil
}

// checkLocalCOG refuses, before GDAL sees it, a local path that cannot be a
// GeoTIFF: a directory, anything but a regular file (a FIFO would hold the
// request forever), a file the server cannot read, and one that does not
// start as a TIFF does (a VRT, renamed or not, or any other format).
func checkLocalCOG(p, raw string) error {
	if err := checkLocalFile(p, raw, "a GeoTIFF"); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return layer.Errorf(layer.Forbidden, "parameter url: %s cannot be read by the server", raw)
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || !isTIFF(magic) {
		return layer.Errorf(layer.BadRequest, "parameter url: %s is not a GeoTIFF (only GeoTIFF and COG files are served by url=)", raw)
	}
	return nil
}

// checkLocalFile refuses a local path that is not a regular file the
// server can read; what names what it should be.
func checkLocalFile(p, raw, what string) error {
	st, err := os.Stat(p)
	switch {
	case err != nil:
		return layer.Errorf(layer.NotFound, "parameter url: no file %s", raw)
	case st.IsDir():
		return layer.Errorf(layer.BadRequest, "parameter url: %s is a directory, not %s", raw, what)
	case !st.Mode().IsRegular():
		return layer.Errorf(layer.BadRequest, "parameter url: %s is not a regular file", raw)
	}
	return nil
}

// isTIFF is true for the first bytes of a TIFF or a BigTIFF, either byte order.
func isTIFF(m [4]byte) bool {
	s := string(m[:])
	return s == "II*\x00" || s == "MM\x00*" || s == "II+\x00" || s == "MM\x00+"
}

// openError is the answer for an allowed url= GDAL cannot open as a GeoTIFF:
// short, in the request's terms, without GDAL's text.
func openError(err error, raw string, local bool) error {
	msg := err.Error()
	switch {
	case local || strings.Contains(msg, "not recognized as") || strings.Contains(msg, "not recognised as"):
		return layer.Errorf(layer.BadRequest, "parameter url: %s is not a GeoTIFF the server can read (only GeoTIFF and COG files are served by url=)", raw)
	case strings.Contains(msg, "HTTP response code: 404") || strings.Contains(msg, "No such file"):
		return layer.Errorf(layer.NotFound, "parameter url: no COG at %s", raw)
	case strings.Contains(msg, "HTTP response code: 403") || strings.Contains(msg, "HTTP response code: 401"):
		return layer.Errorf(layer.Forbidden, "parameter url: %s refuses the server", raw)
	}
	return layer.Errorf(layer.Unavailable, "parameter url: %s cannot be read now", raw)
}

// privateFile reports whether gdalPath is a private layer's file, one of its
// side files (x.tif.ovr, x.tif.msk, x.tif.aux.xml) or a file inside a private
// layer's folder, by name or, for local files, by identity (links).
func (s *api) privateFile(gdalPath string) bool {
	var st os.FileInfo
	local := !strings.HasPrefix(gdalPath, "/vsi")
	if local {
		st, _ = os.Stat(gdalPath)
	}
	for _, p := range s.PrivateFiles {
		names := []string{layerPath(p)}
		if local && !strings.HasPrefix(p, "/vsi") {
			if real, err := filepath.EvalSymlinks(names[0]); err == nil && real != names[0] {
				names = append(names, real)
			}
			if pst, err := os.Stat(p); err == nil && st != nil && os.SameFile(st, pst) {
				return true
			}
		}
		for _, n := range names {
			if gdalPath == n || strings.HasPrefix(gdalPath, n+".") && !strings.Contains(gdalPath[len(n):], "/") ||
				strings.HasPrefix(gdalPath, strings.TrimSuffix(n, "/")+"/") {
				return true
			}
		}
	}
	return false
}

// layerPath is a layer's configured path spelt as AllowedURL spells the path
// it returns: local paths absolute and clean, /vsicurl/ URLs cleaned.
func layerPath(p string) string {
	switch {
	case strings.HasPrefix(p, "/vsicurl/"):
		if u, err := cleanURL(strings.TrimPrefix(p, "/vsicurl/")); err == nil {
			return "/vsicurl/" + u.String()
		}
		return p
	case strings.HasPrefix(p, "/vsis3/"):
		return "/vsis3/" + strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(p, "/vsis3/")), "/")
	case strings.HasPrefix(p, "/vsi"):
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// AllowCovers returns the cog_urls.allow entry under which a layer's path (a
// local path, /vsis3/bucket/key or /vsicurl/URL) lies, if any: url= could name
// that file, so the server refuses it for a private layer and says so at
// start-up.
func AllowCovers(layerFile string, allow []string) (string, bool) {
	raw := layerPath(layerFile)
	switch {
	case strings.HasPrefix(raw, "/vsis3/"):
		raw = "s3://" + strings.TrimPrefix(raw, "/vsis3/")
	case strings.HasPrefix(raw, "/vsicurl/"):
		raw = strings.TrimPrefix(raw, "/vsicurl/")
	case strings.HasPrefix(raw, "/vsi"):
		return "", false
	}
	for _, a := range allow {
		// A missing file under an allowed directory is covered too: it may
		// appear later. A folder (a saved Python UDF) is covered as a file is.
		if _, err := AllowedURL(raw, []string{a}); err == nil || layer.KindOf(err) == layer.NotFound {
			return a, true
		}
	}
	return "", false
}

// urlTile serves /v1/cog/tiles/{z}/{x}/{y}[.ext]?url=...
func (s *api) urlTile(w http.ResponseWriter, r *http.Request) {
	l, err := s.urlLayer(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	v := mux.Vars(r)
	y, ext, _ := strings.Cut(v["y"], ".")
	t, err := parseTile(v["z"], v["x"], y)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	q.Del("url")
	s.serve(w, r, l, call{tile: t, isTile: true, ext: ext, query: q})
}

// urlTileJSON serves /v1/cog/tilejson.json?url=...
func (s *api) urlTileJSON(w http.ResponseWriter, r *http.Request) {
	l, err := s.urlLayer(r)
	if err != nil {
		var ue *layer.Error
		if !errors.As(err, &ue) {
			err = layer.Errorf(layer.Unavailable, "%v", err)
		}
		writeError(w, r, err)
		return
	}
	s.writeTileJSON(w, r, l, "/v1/cog/tiles/{z}/{x}/{y}", r.URL.Query())
}
