package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// run serves file (single) mode: GET /v1/udfs/{name}/run?bounds=...&param=... or
// POST with a JSON object of parameters.
func (s *api) run(w http.ResponseWriter, r *http.Request) {
	l, ok := s.layer(w, r, mux.Vars(r)["name"])
	if !ok {
		return
	}
	c, err := s.fileCall(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.serve(w, r, l, c)
}

// readBody reads a request body within limits.max_body_bytes.
func (s *api) readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, layer.Errorf(layer.TooLarge, "the body is over %d bytes (limits.max_body_bytes)", s.limits.MaxBodyBytes)
	case err != nil:
		return nil, layer.Errorf(layer.BadRequest, "reading the body: %v", err)
	}
	return body, nil
}

// fileCall reads a file-mode call's parameters from the query and, for POST, a
// JSON body; bounds= (or the legacy bbox=) is xmin,ymin,xmax,ymax in lon/lat.
func (s *api) fileCall(r *http.Request) (call, error) {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		body, err := s.readBody(r)
		if err != nil {
			return call{}, err
		}
		if len(strings.TrimSpace(string(body))) > 0 {
			params, err := jsonParams(body)
			if err != nil {
				return call{}, asBadRequest(err, "the body must be a JSON object of parameters")
			}
			if n := len(params) + len(q); n > s.limits.MaxParams {
				return call{}, layer.Errorf(layer.BadRequest, "%d parameters: at most %d", n, s.limits.MaxParams)
			}
			for k, v := range params {
				if _, dup := q[k]; dup {
					return call{}, layer.Errorf(layer.BadRequest, "parameter %s: given in both the query and the body; give it once", truncate(k, 64))
				}
				q[k] = []string{queryValue(v)}
			}
		}
	}
	b, err := queryBounds(q)
	if err != nil {
		return call{}, err
	}
	return call{query: q, bounds: b}, nil
}

// queryBounds reads and removes bounds= (or the legacy bbox=):
// xmin,ymin,xmax,ymax in lon/lat; nil when neither is given.
func queryBounds(q url.Values) (*tiles.Bounds, error) {
	if q.Has("bounds") && q.Has("bbox") {
		return nil, layer.Errorf(layer.BadRequest, "parameters bounds and bbox: the same setting; give one")
	}
	var out *tiles.Bounds
	for _, k := range []string{"bounds", "bbox"} {
		if v := q.Get(k); v != "" {
			b, err := tiles.ParseBounds(v)
			if err != nil {
				return nil, layer.Errorf(layer.BadRequest, "parameter %s: %v", k, err)
			}
			out = &b
		}
		q.Del(k)
	}
	return out, nil
}

// queryValue turns a JSON parameter into the string a query would carry.
func queryValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// shared serves the Fused-compatible shared-token routes: a token from config
// grants anonymous use of one UDF, in tile or file mode.
func (s *api) shared(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	name, ok := s.Tokens[v["token"]]
	if !ok {
		writeError(w, r, layer.Errorf(layer.NotFound, "unknown shared token"))
		return
	}
	if lim := s.tokenLimits[v["token"]]; lim != nil {
		if ok, wait := lim.allow("", time.Now()); !ok {
			tooMany(w, r, wait, "this shared token")
			return
		}
	}
	// A shared token grants its layer, private or not.
	l, ok := s.Registry.Get(name)
	if !ok {
		writeError(w, r, layer.Errorf(layer.NotFound, "the UDF of this token is not served"))
		return
	}
	var c call
	if zs, ok := v["z"]; ok {
		y, ext, _ := strings.Cut(v["y"], ".")
		t, err := parseTile(zs, v["x"], y)
		if err != nil {
			writeError(w, r, err)
			return
		}
		c = call{tile: &t, ext: ext, query: r.URL.Query()}
	} else {
		var err error
		if c, err = s.fileCall(r); err != nil {
			writeError(w, r, err)
			return
		}
	}
	// Fused's legacy output parameters name the format per kind of result.
	c.rasterFormat = legacyFormat(c.query.Get("dtype_out_raster"))
	c.vectorFormat = legacyFormat(c.query.Get("dtype_out_vector"))
	c.query.Del("dtype_out_raster")
	c.query.Del("dtype_out_vector")
	s.serve(w, r, l, c)
}

func legacyFormat(f string) string {
	switch f = strings.ToLower(f); f {
	case "tiff", "geotiff":
		return "tif"
	case "jpeg":
		return "jpg"
	}
	return f
}
