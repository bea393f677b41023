package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/udftiles/udftiles/config"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// freshness reads how a request uses the cache, as Fused's cache_max_age does:
// the layer's age (its config entry, else @fused.udf(cache_max_age=...), else
// the server default) unless the request's cache_max_age= says otherwise,
// capped by MaxAgeLimit; cache_max_age=0s or cache=false: no caching;
// cache_reset=true renders anew and overwrites.
func (s *server) freshness(q url.Values, l *layer.Layer) (cache.FetchOptions, error) {
	o := cache.FetchOptions{MaxAge: l.FreshFor()}
	if v := q.Get("cache_max_age"); q.Has("cache_max_age") {
		d, err := parseAge(v)
		if err != nil {
			return o, layer.Errorf(layer.BadRequest, "parameter cache_max_age: %v", err)
		}
		o.MaxAge = d
	}
	o.MaxAge = min(o.MaxAge, s.MaxAgeLimit)
	if q.Has("cache") {
		on, err := parseBool(q.Get("cache"))
		if err != nil {
			return o, layer.Errorf(layer.BadRequest, "parameter cache: %v", err)
		}
		if !on {
			o.MaxAge = 0
		}
	}
	if q.Has("cache_reset") {
		reset, err := parseBool(q.Get("cache_reset"))
		if err != nil {
			return o, layer.Errorf(layer.BadRequest, "parameter cache_reset: %v", err)
		}
		o.Reset = reset
	}
	return o, nil
}

// parseAge reads a cache age: a number and a unit s, m, h or d ("0" is zero).
func parseAge(v string) (time.Duration, error) {
	return config.ParseDuration(v)
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

// rendered counts a handler run that no cache answered.
func (s *server) rendered(udf string, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	s.Metrics.Renders.WithLabelValues(udf, outcome).Inc()
}

// purge serves DELETE /v1/udfs/{name}/cache[?bbox=&minzoom=&maxzoom=]: the
// layer's cached results (every one, or the tiles meeting bbox at those zooms)
// leave every tier.
func (s *server) purge(w http.ResponseWriter, r *http.Request) {
	if err := s.admin(r); err != nil {
		writeError(w, r, err)
		return
	}
	name := mux.Vars(r)["name"]
	if _, ok := s.Registry.Get(name); !ok {
		writeError(w, r, layer.Errorf(layer.NotFound, "no UDF named %q (see /v1/udfs)", name))
		return
	}
	sel, err := ParseSelection(r.URL.Query())
	if err != nil {
		writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	n, err := s.Cache.Purge(ctx, name, sel.Match())
	if err != nil {
		s.Logger.Error("cache purge failed", "udf", name, "error", err.Error(), "removed", n)
		writeError(w, r, &layer.Error{Kind: layer.Unavailable, Msg: fmt.Sprintf("purge of %s stopped after %d objects: %v", name, n, err)})
		return
	}
	s.Logger.Info("cache purged", "udf", name, "selection", sel.String(), "s3_objects", n)
	writeJSON(w, map[string]any{"udf": name, "selection": sel.String(), "s3_objects_removed": n,
		"memory": "entries older than now are no longer served"})
}

// Selection is which cached results a purge removes: all, or the tiles that
// meet BBox (lon/lat) at zooms MinZoom..MaxZoom.
type Selection struct {
	BBox             *tiles.Bounds
	MinZoom, MaxZoom int
}

// ParseSelection reads bbox=, minzoom= and maxzoom=; zooms alone select tiles
// of those zooms anywhere.
func ParseSelection(q url.Values) (Selection, error) {
	sel := Selection{MinZoom: 0, MaxZoom: tiles.MaxZoom}
	if v := q.Get("bbox"); v != "" {
		b, err := parseBounds(v)
		if err != nil {
			return sel, layer.Errorf(layer.BadRequest, "parameter bbox: %v", err)
		}
		sel.BBox = &b
	}
	for _, z := range []struct {
		name string
		to   *int
	}{{"minzoom", &sel.MinZoom}, {"maxzoom", &sel.MaxZoom}} {
		if v := q.Get(z.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > tiles.MaxZoom {
				return sel, layer.Errorf(layer.BadRequest, "parameter %s: want 0 to %d, got %q", z.name, tiles.MaxZoom, v)
			}
			*z.to = n
		}
	}
	if sel.MinZoom > sel.MaxZoom {
		return sel, layer.Errorf(layer.BadRequest, "minzoom %d is above maxzoom %d", sel.MinZoom, sel.MaxZoom)
	}
	return sel, nil
}

// All reports whether the selection is every result of the layer.
func (sel Selection) All() bool {
	return sel.BBox == nil && sel.MinZoom == 0 && sel.MaxZoom == tiles.MaxZoom
}

// Match returns the test of a cache key (nil: all keys): tiles at the zooms
// whose bounds meet the bbox. File-mode results are kept by a partial selection.
func (sel Selection) Match() func(key string) bool {
	if sel.All() {
		return nil
	}
	return func(key string) bool {
		z, x, y, ok := cache.KeyTile(key)
		if !ok || z < sel.MinZoom || z > sel.MaxZoom {
			return false
		}
		if sel.BBox == nil {
			return true
		}
		t, err := tiles.New(z, x, y)
		return err == nil && t.LonLat().Intersects(*sel.BBox)
	}
}

func (sel Selection) String() string {
	if sel.All() {
		return "all"
	}
	s := fmt.Sprintf("zooms %d-%d", sel.MinZoom, sel.MaxZoom)
	if sel.BBox != nil {
		s += fmt.Sprintf(", bbox %g,%g,%g,%g", sel.BBox.MinX, sel.BBox.MinY, sel.BBox.MaxX, sel.BBox.MaxY)
	}
	return s
}
