package web_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udftiles/udftiles/web"
)

func TestTileCaching(t *testing.T) {
	env := newTestServer(t)
	url := tileURL("elevation", env.centerTile(9), ".png")
	first := env.get(t, url, 200)
	if xc := first.Header().Get("X-Cache"); xc != "miss" {
		t.Errorf("first request X-Cache %q, want miss", xc)
	}
	etag := first.Header().Get("ETag")
	if len(etag) < 10 || !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) {
		t.Fatalf("ETag %q is not a quoted validator", etag)
	}
	second := env.get(t, url, 200)
	if xc := second.Header().Get("X-Cache"); xc != "memory" {
		t.Errorf("second request X-Cache %q, want memory", xc)
	}
	if !bytes.Equal(first.Body.Bytes(), second.Body.Bytes()) || second.Header().Get("ETag") != etag {
		t.Error("the cached response differs from the first")
	}
	for _, h := range []http.Header{first.Header(), second.Header()} {
		cc := h.Get("Cache-Control")
		n, err := strconv.Atoi(strings.TrimPrefix(cc, "public, max-age="))
		if !strings.HasPrefix(cc, "public, max-age=") || err != nil || n < 3590 || n > 3600 {
			t.Errorf("Cache-Control %q, want public, max-age=~3600 (the layer's hour)", cc)
		}
	}

	// Conditional requests.
	for _, match := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		rec := env.get(t, url, http.StatusNotModified, "If-None-Match", match)
		if rec.Body.Len() != 0 {
			t.Errorf("If-None-Match %s: 304 with a %d-byte body", match, rec.Body.Len())
		}
		if rec.Header().Get("ETag") != etag || rec.Header().Get("Cache-Control") == "" {
			t.Errorf("If-None-Match %s: 304 without ETag/Cache-Control: %v", match, rec.Header())
		}
	}
	if rec := env.get(t, url, 200, "If-None-Match", `"stale"`); !bytes.Equal(rec.Body.Bytes(), first.Body.Bytes()) {
		t.Error("a stale If-None-Match did not get the body")
	}

	// HEAD: the headers of GET, no body.
	head := do(env.handler, http.MethodHead, url)
	if head.Code != 200 || head.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d bytes, want 200 and no body", head.Code, head.Body.Len())
	}
	for _, h := range []string{"Content-Type", "Content-Length", "ETag", "X-Cache"} {
		if head.Header().Get(h) != second.Header().Get(h) {
			t.Errorf("HEAD %s %q, GET has %q", h, head.Header().Get(h), second.Header().Get(h))
		}
	}
	if head.Header().Get("Content-Length") != strconv.Itoa(first.Body.Len()) {
		t.Errorf("HEAD Content-Length %s, body is %d", head.Header().Get("Content-Length"), first.Body.Len())
	}

	// Anything that changes the bytes is another key.
	seen := map[string]string{etag: "base"}
	for _, variant := range []string{"?colormap=viridis", "?rescale=0,2000", "?resampling=bilinear", "?tilesize=512"} {
		rec := env.get(t, url+variant, 200)
		if xc := rec.Header().Get("X-Cache"); xc != "miss" {
			t.Errorf("%s: X-Cache %q, want miss", variant, xc)
		}
		e := rec.Header().Get("ETag")
		if prev, dup := seen[e]; dup {
			t.Errorf("%s has the ETag of %s", variant, prev)
		}
		seen[e] = variant
		if xc := env.get(t, url+variant, 200).Header().Get("X-Cache"); xc != "memory" {
			t.Errorf("%s again: X-Cache %q, want memory", variant, xc)
		}
	}
	// Another format of the same tile is another key too.
	if xc := env.get(t, strings.TrimSuffix(url, ".png")+".webp", 200).Header().Get("X-Cache"); xc != "miss" {
		t.Errorf("webp of a cached png: X-Cache %q, want miss", xc)
	}
	// Equivalent spellings share the entry.
	if xc := env.get(t, strings.TrimSuffix(url, ".png")+"?format=png", 200).Header().Get("X-Cache"); xc != "memory" {
		t.Errorf("format=png of a cached .png: X-Cache %q, want memory", xc)
	}
}

func TestSingleflight(t *testing.T) {
	env := newTestServer(t)
	h := &fakeHandler{delay: 200 * time.Millisecond}
	env.addFake("slow", h, time.Hour)
	const n = 20
	var wg sync.WaitGroup
	recs := make([]*struct {
		code int
		body []byte
	}, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rec := do(env.handler, http.MethodGet, "/v1/udfs/slow/tiles/3/2/1.png")
			recs[i] = &struct {
				code int
				body []byte
			}{rec.Code, rec.Body.Bytes()}
		}()
	}
	close(start)
	wg.Wait()
	if got := h.calls.Load(); got != 1 {
		t.Errorf("%d concurrent identical requests ran the handler %d times, want 1", n, got)
	}
	for i, r := range recs {
		if r.code != 200 || !bytes.Equal(r.body, recs[0].body) || len(r.body) == 0 {
			t.Errorf("request %d: %d, %d bytes; want 200 with the shared body", i, r.code, len(r.body))
		}
	}
	if xc := env.get(t, "/v1/udfs/slow/tiles/3/2/1.png", 200).Header().Get("X-Cache"); xc != "memory" || h.calls.Load() != 1 {
		t.Errorf("after the flight: X-Cache %q, %d calls", xc, h.calls.Load())
	}
	// A parameter the handler takes is part of the key.
	env.get(t, "/v1/udfs/slow/tiles/3/2/1.png?n=2", 200)
	if h.calls.Load() != 2 {
		t.Errorf("n=2 ran the handler %d times in all, want 2", h.calls.Load())
	}
}

func TestMaxAgeZeroIsNeverCached(t *testing.T) {
	env := newTestServer(t)
	h := &fakeHandler{}
	env.addFake("live", h, 0)
	var etag string
	for i := 0; i < 3; i++ {
		rec := env.get(t, "/v1/udfs/live/tiles/3/2/1.png", 200)
		if xc := rec.Header().Get("X-Cache"); xc != "miss" {
			t.Errorf("request %d: X-Cache %q, want miss", i, xc)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("request %d: Cache-Control %q, want no-cache", i, cc)
		}
		if i > 0 && rec.Header().Get("ETag") != etag {
			t.Error("the same bytes got another ETag")
		}
		etag = rec.Header().Get("ETag")
	}
	if h.calls.Load() != 3 {
		t.Errorf("handler ran %d times for 3 requests, want 3", h.calls.Load())
	}
	// Revalidation still saves the transfer.
	if rec := env.get(t, "/v1/udfs/live/tiles/3/2/1.png", http.StatusNotModified, "If-None-Match", etag); rec.Body.Len() != 0 {
		t.Error("304 with a body")
	}
}

func TestUncachedServer(t *testing.T) {
	env := newTestServer(t)
	h := env.withDeps(t, web.Deps{Cache: mustCache(t, 0)})
	url := tileURL("elevation", env.centerTile(9), ".png")
	var body []byte
	for i := 0; i < 2; i++ {
		rec := do(h, http.MethodGet, url)
		if rec.Code != 200 || rec.Header().Get("X-Cache") != "miss" {
			t.Fatalf("request %d with a 0-byte cache: %d X-Cache %q, want 200 miss", i, rec.Code, rec.Header().Get("X-Cache"))
		}
		if i > 0 && !bytes.Equal(body, rec.Body.Bytes()) {
			t.Error("rendering twice gave different bytes")
		}
		body = rec.Body.Bytes()
	}
}
