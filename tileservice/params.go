package tileservice

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/udftiles/udftiles/config"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/render"
)

// reserved query parameters are read by the service, never passed to a
// handler. render.VectorParams are too, unless the handler declares a
// parameter of that name: a UDF's own buffer= is the UDF's.
var reserved = append([]string{"format", "debug", "cache_max_age", "cache", "cache_reset"}, render.StyleParams...)

func isReserved(k string, sch layer.Schema) bool {
	return slices.Contains(reserved, k) || (slices.Contains(render.VectorParams, k) && !declares(sch, k))
}

func declares(sch layer.Schema, name string) bool {
	return slices.ContainsFunc(sch.Params, func(p layer.Param) bool { return p.Name == name })
}

// withoutDeclared drops from q the vector options the handler takes as its own parameters.
func withoutDeclared(q url.Values, sch layer.Schema) url.Values {
	var out url.Values
	for _, k := range render.VectorParams {
		if _, ok := q[k]; ok && declares(sch, k) {
			if out == nil {
				out = maps.Clone(q)
			}
			delete(out, k)
		}
	}
	if out == nil {
		return q
	}
	return out
}

// PickFormat chooses from the extension, then format=, then the handler's
// default; "" leaves it to the result (Schema.Natural).
func PickFormat(ext, param string, sch layer.Schema) (string, error) {
	f := sch.DefaultFormat
	switch {
	case ext != "":
		f = ext
	case param != "":
		f = param
	}
	f = render.Normalize(strings.ToLower(f))
	if f == "" && sch.Natural {
		return "", nil
	}
	if !sch.HasFormat(f) {
		return "", layer.Errorf(layer.BadRequest, "format %q: this UDF serves %s", f, strings.Join(sch.Formats, ", "))
	}
	return f, nil
}

// SameSetting refuses two spellings of one setting, and an empty colormap.
func SameSetting(q url.Values) error {
	if q.Has("colormap") && q.Has("colormap_name") {
		return layer.Errorf(layer.BadRequest, "parameters colormap and colormap_name: the same setting; give one")
	}
	for _, k := range []string{"colormap", "colormap_name"} {
		if vs, ok := q[k]; ok && len(vs) > 0 && strings.TrimSpace(vs[len(vs)-1]) == "" {
			return layer.Errorf(layer.BadRequest, "parameter %s: empty; give a name from /v1/colormaps or custom JSON, or leave it out for the layer's default", k)
		}
	}
	return nil
}

// freshness reads how a request uses the cache, as Fused's cache_max_age
// does: the layer's age (its config entry, else
// @fused.udf(cache_max_age=...), else the server default) unless the
// request's cache_max_age= says otherwise, capped by the service's limit;
// cache_max_age=0s or cache=false: no caching; cache_reset=true renders anew
// and overwrites.
func (s *Service) freshness(q url.Values, l *layer.Layer) (maxAge time.Duration, reset bool, err error) {
	maxAge = l.FreshFor()
	if v := q.Get("cache_max_age"); q.Has("cache_max_age") {
		d, err := config.ParseDuration(v)
		if err != nil {
			return 0, false, layer.Errorf(layer.BadRequest, "parameter cache_max_age: %v", err)
		}
		maxAge = d
	}
	maxAge = min(maxAge, s.maxAgeLimit)
	if q.Has("cache") {
		on, err := parseBool(q.Get("cache"))
		if err != nil {
			return 0, false, layer.Errorf(layer.BadRequest, "parameter cache: %v", err)
		}
		if !on {
			maxAge = 0
		}
	}
	if q.Has("cache_reset") {
		if reset, err = parseBool(q.Get("cache_reset")); err != nil {
			return 0, false, layer.Errorf(layer.BadRequest, "parameter cache_reset: %v", err)
		}
	}
	return maxAge, reset, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("want true or false, got %q", v)
}
