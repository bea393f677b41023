package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/udftiles/udftiles/layer"
)

// inlineRequest is the body of POST /v1/run.
type inlineRequest struct {
	Code   string         `json:"code"`   // Python source defining one @fused.udf function
	Params map[string]any `json:"params"` // its parameters
	Bounds any            `json:"bounds"` // xmin,ymin,xmax,ymax (text or a list) or a GeoJSON/WKT geometry, optional
	Format string         `json:"format"` // output format, optional
}

// inline serves POST /v1/run: Python code sent in the request, run once in
// file mode, never cached. The route exists only with auth.inline_code, and
// only admin tokens may use it: the code runs with the workers' rights.
func (s *api) inline(w http.ResponseWriter, r *http.Request) {
	if s.Inline == nil {
		writeError(w, r, layer.Errorf(layer.NotFound, "POST /v1/run is off on this server (auth.inline_code)"))
		return
	}
	if err := s.admin(r); err != nil {
		writeError(w, r, err)
		return
	}
	body, err := s.readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var in inlineRequest
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, r, layer.Errorf(layer.BadRequest, `the body must be JSON: {"code": "...", "params": {...}, "bounds": "xmin,ymin,xmax,ymax", "format": "geojson"}: %v`, err))
		return
	}
	// The body and its params are read once more, to refuse a key given twice.
	var raw struct {
		Params json.RawMessage `json:"params"`
	}
	_ = json.Unmarshal(body, &raw)
	for _, obj := range [][]byte{body, raw.Params} {
		if len(obj) == 0 || string(obj) == "null" {
			continue
		}
		if _, err := jsonParams(obj); err != nil {
			writeError(w, r, asBadRequest(err, "the body"))
			return
		}
	}
	if strings.TrimSpace(in.Code) == "" {
		writeError(w, r, layer.Errorf(layer.BadRequest, "code: the Python source of a @fused.udf function is required"))
		return
	}
	if n := len(in.Params); n > s.limits.MaxParams {
		writeError(w, r, layer.Errorf(layer.BadRequest, "%d parameters: at most %d", n, s.limits.MaxParams))
		return
	}
	h, err := s.Inline(in.Code)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	for k, v := range in.Params {
		if _, dup := q[k]; dup {
			writeError(w, r, layer.Errorf(layer.BadRequest, "parameter %s: given in both the query and params; give it once", truncate(k, 64)))
			return
		}
		q[k] = []string{queryValue(v)}
	}
	if in.Format != "" {
		if q.Has("format") {
			writeError(w, r, layer.Errorf(layer.BadRequest, "parameter format: given in both the query and the body; give it once"))
			return
		}
		q.Set("format", in.Format)
	}
	c := call{query: q}
	if in.Bounds != nil {
		text, ok := in.Bounds.(string)
		if !ok {
			b, _ := json.Marshal(in.Bounds)
			text = string(b)
		}
		b, area, err := areaBounds(text)
		if err != nil {
			writeError(w, r, layer.Errorf(layer.BadRequest, "bounds: %v", err))
			return
		}
		c.bounds, c.area = &b, area
	}
	l := &layer.Layer{Name: "inline", Kind: "python", Handler: h, MaxAgeSet: true, Defaults: url.Values{}}
	s.serve(w, r, l, c)
}
