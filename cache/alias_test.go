package cache

import (
	"testing"
	"time"
)

// TestAliasChecksLayerAndVersion: a spelling answers only for the UDF and
// version its key was made for, slashes in either spelt as the key spells them.
func TestAliasChecksLayerAndVersion(t *testing.T) {
	c := newCache(t, 1<<20)
	for _, udf := range []struct{ name, version string }{{"dem", "v1"}, {"plug/in", "p/1\\x"}} {
		key := Key{UDF: udf.name, Version: udf.version, Tile: "3/2/1", Format: "png"}.String()
		c.Put(key, NewEntry([]byte("tile of "+udf.name), "image/png", time.Hour))
		c.Alias("/v1/udfs/x/tiles/3/2/1.png", key)
		c.aliases.Wait() // sets are buffered
		if e, ok := c.GetAlias("/v1/udfs/x/tiles/3/2/1.png", udf.name, udf.version); !ok || string(e.Body) != "tile of "+udf.name {
			t.Errorf("%s %s: alias not found (%v)", udf.name, udf.version, ok)
		}
		for _, other := range []struct{ name, version string }{{udf.name, udf.version + "2"}, {udf.name + "x", udf.version},
			{udf.name[:len(udf.name)-1], udf.version}, {udf.name, ""}, {"", udf.version}} {
			if _, ok := c.GetAlias("/v1/udfs/x/tiles/3/2/1.png", other.name, other.version); ok {
				t.Errorf("alias of %s %s found for %s %s", udf.name, udf.version, other.name, other.version)
			}
		}
	}
}

// TestEntryHeader: the header values match the entry, and Cache-Control is
// made again only when its scope or seconds change.
func TestEntryHeader(t *testing.T) {
	e := NewEntry([]byte("12345"), "image/png", time.Hour)
	h := e.Header()
	if h.ContentType[0] != "image/png" || h.ContentLength[0] != "5" || h.ETag[0] != e.ETag || cap(h.ETag) != 1 {
		t.Errorf("header %+v", h)
	}
	a, b := h.CacheControl("public", 60), h.CacheControl("public", 60)
	if a[0] != "public, max-age=60" || &a[0] != &b[0] {
		t.Errorf("Cache-Control %q made twice: %v", a, &a[0] != &b[0])
	}
	if c := h.CacheControl("private", 60); c[0] != "private, max-age=60" {
		t.Errorf("Cache-Control %q", c)
	}
	if c := h.CacheControl("private", 59); c[0] != "private, max-age=59" {
		t.Errorf("Cache-Control %q", c)
	}
	lit := &Entry{Body: []byte("ab"), ContentType: "text/plain", ETag: `"x"`}
	if lh := lit.Header(); lh.ContentLength[0] != "2" || lh.ETag[0] != `"x"` {
		t.Errorf("header of a literal entry %+v", lh)
	}
}
