package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/tiles"
)

// purge serves DELETE /v1/udfs/{name}/cache[?bbox=&minzoom=&maxzoom=]: the
// layer's cached results (every one, or the tiles meeting bbox at those zooms)
// leave every tier.
func (s *api) purge(w http.ResponseWriter, r *http.Request) {
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
	if s.Catalog != nil {
		// Every other replica drops its memory entries within a second.
		if err := s.Catalog.RecordPurge(r.Context(), name, sel.Query()); err != nil {
			s.Logger.Error("the purge was not recorded for the other replicas", "udf", name, "error", err.Error())
		}
	}
	writeJSON(w, map[string]any{"udf": name, "selection": sel.String(), "s3_objects_removed": n,
		"memory": "entries older than now are no longer served"})
}

// Selection is which cached results a purge removes: all, or the tiles that
// meet BBox (lon/lat) at zooms MinZoom..MaxZoom.
type Selection struct {
	BBox             *tiles.Bounds
	MinZoom, MaxZoom int
}

// Query is the selection as query parameters, which ParseSelection reads.
func (s Selection) Query() url.Values {
	q := url.Values{}
	if s.BBox != nil {
		q.Set("bbox", fmt.Sprintf("%g,%g,%g,%g", s.BBox.MinX, s.BBox.MinY, s.BBox.MaxX, s.BBox.MaxY))
	}
	q.Set("minzoom", strconv.Itoa(s.MinZoom))
	q.Set("maxzoom", strconv.Itoa(s.MaxZoom))
	return q
}

// ParseSelection reads bbox=, minzoom= and maxzoom=; zooms alone select tiles
// of those zooms anywhere.
func ParseSelection(q url.Values) (Selection, error) {
	sel := Selection{MinZoom: 0, MaxZoom: tiles.MaxZoom}
	if v := q.Get("bbox"); v != "" {
		b, err := tiles.ParseBounds(v)
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
