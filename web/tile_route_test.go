package web

import (
	"net/http"
	"testing"
)

// TestSplitTilePath: the tile route taken ahead of the router matches what
// the router would, and leaves to it every path it would clean or refuse.
func TestSplitTilePath(t *testing.T) {
	for _, c := range []struct {
		path          string
		name, z, x, y string
	}{
		{"/v1/udfs/dem/tiles/3/2/1", "dem", "3", "2", "1"},
		{"/v1/udfs/dem/tiles/3/2/1.png", "dem", "3", "2", "1.png"},
		{"/v1/udfs/a b/tiles/x/y/z.webp", "a b", "x", "y", "z.webp"},
		{"/v1/udfs/tiles/tiles/0/0/0", "tiles", "0", "0", "0"},
		{"/v1/udfs/dem/tiles/3/2/1/", "", "", "", ""},
		{"/v1/udfs/dem/tiles/3/2", "", "", "", ""},
		{"/v1/udfs/dem/tiles/3/2/1/0", "", "", "", ""},
		{"/v1/udfs/dem/tiles//2/1", "", "", "", ""},
		{"/v1/udfs//tiles/3/2/1", "", "", "", ""},
		{"/v1/udfs/dem/tiles/3/../1", "", "", "", ""},
		{"/v1/udfs/./tiles/3/2/1", "", "", "", ""},
		{"/v1/udfs/dem/tile/3/2/1", "", "", "", ""},
		{"/v1/udfs/dem/run", "", "", "", ""},
		{"/v1/udfsx/dem/tiles/3/2/1", "", "", "", ""},
		{"/v2/udfs/dem/tiles/3/2/1", "", "", "", ""},
	} {
		name, z, x, y, ok := splitTilePath(c.path)
		if ok != (c.name != "") || name != c.name || z != c.z || x != c.x || y != c.y {
			t.Errorf("%s: %q %q %q %q %v, want %q %q %q %q", c.path, name, z, x, y, ok, c.name, c.z, c.x, c.y)
		}
	}
}

// TestHeaderNamesCanonical: headers set by assignment to the map (no
// canonicalization, no allocation) are named as Header.Set would name them.
func TestHeaderNamesCanonical(t *testing.T) {
	for _, k := range []string{"Etag", "X-Cache", "Cache-Control", "Content-Type", "Content-Length", "X-Request-Id",
		"Vary", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "X-Content-Type-Options",
		"Content-Security-Policy", "X-Frame-Options", "Origin", "If-None-Match", "X-Udftiles-Depth"} {
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Errorf("header %q is canonically %q", k, c)
		}
	}
}

// TestRequestIDs: ids from the blocks are 16 hex digits, all different, each
// a header value that an Add does not write through.
func TestRequestIDs(t *testing.T) {
	var ids requestIDs
	seen := map[string]bool{}
	for range 5 * idsPerBlock {
		v := ids.next()
		if len(v) != 1 || cap(v) != 1 || len(v[0]) != 16 || seen[v[0]] {
			t.Fatalf("id %q (len %d cap %d), seen before: %v", v, len(v), cap(v), seen[v[0]])
		}
		seen[v[0]] = true
		h := http.Header{"X-Request-Id": v}
		h.Add("X-Request-Id", "other")
		if next := ids.next(); next[0] == "other" {
			t.Fatal("an Add wrote into the next id")
		}
	}
}
