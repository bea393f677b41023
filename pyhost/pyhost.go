// Package pyhost answers what Python UDFs ask of the server during a call:
// nested runs of layers (fused.run) through the tile service, under the same
// cache keys as HTTP requests, and storage (fused.api, fused.download) read
// and written by the server with its own credentials, within the prefixes
// the config allows. The workers hold no credentials.
package pyhost

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/python"
	"github.com/udftiles/udftiles/tiles"
	"github.com/udftiles/udftiles/tileservice"
)

// Options are what the host needs.
type Options struct {
	Service *tileservice.Service
	// Tokens maps shared tokens to the layers they grant (fused.run("fsh_...")).
	Tokens  map[string]string
	Storage *Storage // nil: no storage for UDFs
	// ShareToken resolves share tokens made at run time to their layer;
	// nil = only Tokens.
	ShareToken func(ctx context.Context, plain string) (string, bool)
	// Lookup finds the code file of a layer saved at run time (fused.load of
	// a catalog UDF by name); nil = none.
	Lookup func(name string) (path string, ok bool)
}

// New returns the host of a Python pool.
func New(o Options) python.Host {
	return func(ctx context.Context, c python.HostCall) (python.HostAnswer, error) {
		switch c.Op {
		case "run":
			return run(ctx, o, c)
		case "delete_cache":
			return deleteCache(ctx, o, c)
		case "lookup":
			return lookup(o, c)
		case "storage":
			if o.Storage == nil {
				return python.HostAnswer{}, layer.Errorf(layer.Forbidden, "storage is off on this server (storage.allow)")
			}
			return o.Storage.serve(ctx, c)
		}
		return python.HostAnswer{}, layer.Errorf(layer.BadRequest, "unknown request %q", c.Op)
	}
}

// runArgs are fused.run's arguments, as the worker sends them.
type runArgs struct {
	UDF         string         `json:"udf"`
	Token       string         `json:"token"`
	Tile        *[3]int        `json:"tile"` // z, x, y
	Bounds      []float64      `json:"bounds"`
	Params      map[string]any `json:"params"`
	Format      string         `json:"format"`
	CacheMaxAge string         `json:"cache_max_age"`
	Cache       *bool          `json:"cache"`
	CacheReset  bool           `json:"cache_reset"`
}

// run is a nested fused.run: the layer through the tile service, as an HTTP
// request would run it (same cache keys and freshness), one level deeper.
// The asking UDF is trusted as code is: it may run private layers.
func run(ctx context.Context, o Options, c python.HostCall) (python.HostAnswer, error) {
	var a runArgs
	if err := json.Unmarshal(c.Args, &a); err != nil {
		return python.HostAnswer{}, layer.Errorf(layer.BadRequest, "fused.run: %v", err)
	}
	name := a.UDF
	if a.Token != "" {
		n, ok := o.Tokens[a.Token]
		if !ok && o.ShareToken != nil {
			n, ok = o.ShareToken(ctx, a.Token)
		}
		if !ok {
			return python.HostAnswer{}, layer.Errorf(layer.NotFound, "fused.run: unknown shared token")
		}
		name = n
	}
	l, err := o.Service.Layer(name, tileservice.Caller{Private: true})
	if err != nil {
		return python.HostAnswer{}, err
	}
	q := url.Values{}
	for k, v := range a.Params {
		q.Set(k, queryValue(v))
	}
	if a.Format != "" {
		q.Set("format", a.Format)
	}
	if a.CacheMaxAge != "" {
		q.Set("cache_max_age", a.CacheMaxAge)
	}
	if a.Cache != nil && !*a.Cache {
		q.Set("cache", "false")
	}
	if a.CacheReset {
		q.Set("cache_reset", "true")
	}
	req := tileservice.Request{Query: q, Depth: c.Depth + 1, Raw: true}
	var e tileservice.Entry
	if a.Tile != nil {
		t, err := tiles.New(a.Tile[0], a.Tile[1], a.Tile[2])
		if err != nil {
			return python.HostAnswer{}, layer.Errorf(layer.BadRequest, "fused.run: tile %v: %v", *a.Tile, err)
		}
		req.Tile = t
		e, err = o.Service.Tile(ctx, l, req)
		if err != nil {
			return python.HostAnswer{}, err
		}
	} else {
		if len(a.Bounds) == 4 {
			b := tiles.Bounds{MinX: a.Bounds[0], MinY: a.Bounds[1], MaxX: a.Bounds[2], MaxY: a.Bounds[3]}
			if err := b.Validate(); err != nil {
				return python.HostAnswer{}, layer.Errorf(layer.BadRequest, "fused.run: bounds: %v", err)
			}
			req.Bounds = &b
		}
		if e, err = o.Service.Run(ctx, l, req); err != nil {
			return python.HostAnswer{}, err
		}
	}
	return python.HostAnswer{Result: map[string]any{"content_type": e.ContentType, "cache": string(e.Source),
		"logs": e.Logs, "layer": l.Name}, Blob: e.Body}, nil
}

// deleteCache is Udf.delete_cache: the layer's cached results leave every
// tier. A UDF may purge only the layer it serves, so that code of one layer
// never empties another's cache.
func deleteCache(ctx context.Context, o Options, c python.HostCall) (python.HostAnswer, error) {
	var a struct {
		UDF string `json:"udf"`
	}
	if err := json.Unmarshal(c.Args, &a); err != nil {
		return python.HostAnswer{}, layer.Errorf(layer.BadRequest, "delete_cache: %v", err)
	}
	if a.UDF == "" || a.UDF != c.Layer {
		return python.HostAnswer{}, layer.Errorf(layer.Forbidden,
			"delete_cache: a UDF may purge only its own layer's cache (%q), not %q; use DELETE /v1/udfs/%s/cache", c.Layer, a.UDF, a.UDF)
	}
	cache := o.Service.Cache()
	if cache == nil {
		return python.HostAnswer{Result: map[string]any{"s3_objects_removed": 0}}, nil
	}
	n, err := cache.Purge(ctx, a.UDF, func(string) bool { return true })
	if err != nil {
		return python.HostAnswer{}, layer.Errorf(layer.Unavailable, "delete_cache: purge of %s stopped after %d objects: %v", a.UDF, n, err)
	}
	return python.HostAnswer{Result: map[string]any{"s3_objects_removed": n}}, nil
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

// describe is a short name of a path for errors.
func describe(p string) string {
	if len(p) > 200 {
		return p[:200] + "…"
	}
	return strings.TrimSpace(p)
}

// lookup tells a worker what a layer name is when its config does not say:
// a catalog UDF's code file (loaded and run like a config UDF's), another
// kind of layer, or nothing.
func lookup(o Options, c python.HostCall) (python.HostAnswer, error) {
	var a struct {
		UDF string `json:"udf"`
	}
	if err := json.Unmarshal(c.Args, &a); err != nil {
		return python.HostAnswer{}, layer.Errorf(layer.BadRequest, "lookup: %v", err)
	}
	if o.Lookup != nil {
		if p, ok := o.Lookup(a.UDF); ok {
			return python.HostAnswer{Result: map[string]any{"kind": "python", "path": p}}, nil
		}
	}
	l, err := o.Service.Layer(a.UDF, tileservice.Caller{Private: true})
	if err != nil {
		return python.HostAnswer{Result: map[string]any{"kind": ""}}, nil
	}
	return python.HostAnswer{Result: map[string]any{"kind": l.Kind}}, nil
}
