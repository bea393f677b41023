package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/udfhost"
)

// Tiles of any COG named by url= (GET /v1/cog/tiles/{z}/{x}/{y}?url=...), as
// a tiler of arbitrary files does, are served only when the config lists
// where such files may be (cog_urls.allow): otherwise a request could make
// the server read any local file or fetch any address its network reaches.

// URLSource opens a layer for an allowed COG; it is called with the GDAL path
// AllowedURL returned.
type URLSource func(gdalPath string) (udfhost.Handler, error)

// AllowedURL checks a url= value against the allow-list and returns the path
// GDAL opens: http(s) URLs through /vsicurl/, s3:// through /vsis3/, local
// absolute paths as they are once symbolic links are resolved. An entry of
// the list allows what lies below it: the same scheme and host (port
// included) and a path under its path; for local directories, a file under
// the directory after links are resolved. User names, "..", GDAL's own /vsi
// prefixes and other schemes are refused.
func AllowedURL(raw string, allow []string) (string, error) {
	if raw == "" {
		return "", udfhost.Errorf(udfhost.BadRequest, "parameter url: required: the COG's https://, s3:// URL or path")
	}
	if strings.ContainsAny(raw, "\x00\r\n") || strings.HasPrefix(raw, "/vsi") {
		return "", udfhost.Errorf(udfhost.BadRequest, "parameter url: not a URL or path the server accepts")
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
	return "", udfhost.Errorf(udfhost.Forbidden, "parameter url: %s://%s%s is not under cog_urls.allow", u.Scheme, u.Host, u.Path)
}

// cleanURL parses an http(s) or s3 URL and cleans its path.
func cleanURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, udfhost.Errorf(udfhost.BadRequest, "parameter url: want https://host/path, s3://bucket/key or an absolute path")
	}
	switch u.Scheme = strings.ToLower(u.Scheme); u.Scheme {
	case "http", "https", "s3":
	default:
		return nil, udfhost.Errorf(udfhost.BadRequest, "parameter url: scheme %q is not served (http, https, s3)", u.Scheme)
	}
	if u.User != nil {
		return nil, udfhost.Errorf(udfhost.BadRequest, "parameter url: user names and passwords are not accepted")
	}
	if u.Scheme == "s3" && u.RawQuery != "" {
		return nil, udfhost.Errorf(udfhost.BadRequest, "parameter url: an s3:// URL has no query")
	}
	if strings.Contains(u.Path, "/../") || strings.HasSuffix(u.Path, "/..") || strings.Contains(u.EscapedPath(), "%2e%2e") || strings.Contains(u.EscapedPath(), "%2E%2E") {
		return nil, udfhost.Errorf(udfhost.BadRequest, "parameter url: \"..\" is not accepted")
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
			return "", udfhost.Errorf(udfhost.NotFound, "parameter url: no file %s", p)
		}
	}
	return "", udfhost.Errorf(udfhost.Forbidden, "parameter url: %s is not under cog_urls.allow", p)
}

// urlLayers keeps the layers of recently used URLs.
type urlLayers struct {
	mu     sync.Mutex
	layers map[string]*udfhost.Layer
	order  []string
}

const maxURLLayers = 64

func (s *server) urlLayer(r *http.Request) (*udfhost.Layer, error) {
	if len(s.COGAllow) == 0 || s.COGSource == nil {
		return nil, udfhost.Errorf(udfhost.NotFound, "tiles of COGs named by url= are off on this server (cog_urls.allow)")
	}
	gdalPath, err := AllowedURL(r.URL.Query().Get("url"), s.COGAllow)
	if err != nil {
		return nil, err
	}
	s.urls.mu.Lock()
	defer s.urls.mu.Unlock()
	if l, ok := s.urls.layers[gdalPath]; ok {
		return l, nil
	}
	h, err := s.COGSource(gdalPath)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(gdalPath))
	l := &udfhost.Layer{Name: "cog-" + hex.EncodeToString(sum[:6]), Kind: "cog", Handler: h, MaxAge: s.COGMaxAge, Defaults: url.Values{}}
	if len(s.urls.order) >= maxURLLayers {
		old := s.urls.order[0]
		s.urls.order = s.urls.order[1:]
		if c, ok := s.urls.layers[old].Handler.(interface{ Close() }); ok {
			defer c.Close()
		}
		delete(s.urls.layers, old)
	}
	s.urls.layers[gdalPath] = l
	s.urls.order = append(s.urls.order, gdalPath)
	return l, nil
}

// urlTile serves /v1/cog/tiles/{z}/{x}/{y}[.ext]?url=...
func (s *server) urlTile(w http.ResponseWriter, r *http.Request) {
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
	s.serve(w, r, l, call{tile: &t, ext: ext, query: q})
}

// urlTileJSON serves /v1/cog/tilejson.json?url=...
func (s *server) urlTileJSON(w http.ResponseWriter, r *http.Request) {
	l, err := s.urlLayer(r)
	if err != nil {
		var ue *udfhost.Error
		if !errors.As(err, &ue) {
			err = udfhost.Errorf(udfhost.Unavailable, "%v", err)
		}
		writeError(w, r, err)
		return
	}
	s.writeTileJSON(w, r, l, "/v1/cog/tiles/{z}/{x}/{y}", r.URL.Query())
}
