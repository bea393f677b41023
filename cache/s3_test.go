package cache

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/udftiles/udftiles/metrics"
)

// fakeS3 starts an in-process S3 server with bucket "tiles" and returns a tier
// on it (prefix "pre") and a client for looking behind the tier's back.
func fakeS3(t *testing.T) (*S3Tier, *s3.Client, *metrics.Set) {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	m := metrics.New()
	tier, err := NewS3(S3Options{Bucket: "tiles", Prefix: "/pre/", Endpoint: srv.URL, AccessKey: "k", SecretKey: "s", Metrics: m,
		ReadTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tier.Close)
	if _, err := tier.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("tiles")}); err != nil {
		t.Fatal(err)
	}
	return tier, tier.client, m
}

func tileKey(z, x, y int) string {
	return Key{UDF: "dem", Version: "v1", Tile: fmt.Sprintf("%d/%d/%d", z, x, y), Format: "png"}.String()
}

func TestS3TierRoundTrip(t *testing.T) {
	tier, client, m := fakeS3(t)
	ctx := context.Background()
	key := tileKey(3, 4, 2)
	if !strings.HasPrefix(key, "dem/v1/3/4/2/") || !strings.HasSuffix(key, ".png") {
		t.Fatalf("key layout %q, want udf/version/z/x/y/hash.png", key)
	}
	if e, err := tier.Get(ctx, key, time.Hour); e != nil || err != nil {
		t.Fatalf("empty bucket: %v %v", e, err)
	}
	e := NewEntry([]byte("png bytes"), "image/png", time.Hour)
	e.Logs, e.Truncated = "printed", "5 of 9"
	tier.Put(key, e)
	if !tier.Flush(5 * time.Second) {
		t.Fatal("the write did not finish")
	}
	obj, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("tiles"), Key: aws.String("pre/" + key)})
	if err != nil {
		t.Fatalf("no object at pre/%s: %v", key, err)
	}
	if aws.ToInt64(obj.ContentLength) <= int64(len(e.Body)) {
		t.Errorf("object of %d bytes", aws.ToInt64(obj.ContentLength))
	}
	got, err := tier.Get(ctx, key, time.Hour)
	if err != nil || got == nil || !bytes.Equal(got.Body, e.Body) || got.ETag != e.ETag || got.ContentType != "image/png" ||
		got.Logs != "printed" || got.Truncated != "5 of 9" || !got.Created.Equal(e.Created) || got.MaxAge != time.Hour {
		t.Fatalf("read back %+v, %v; want %+v", got, err, e)
	}
	if v := testutil.ToFloat64(m.CacheLookups.WithLabelValues("s3", "hit")); v != 1 {
		t.Errorf("s3 hits %v", v)
	}

	// A corrupt object is a miss, not an error, and not served.
	for _, bad := range [][]byte{[]byte("garbage"), append(encodeObject(e)[:30], 'x'), bytes.Replace(encodeObject(e), []byte("png bytes"), []byte("png bytez"), 1)} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tiles"), Key: aws.String("pre/" + key), Body: bytes.NewReader(bad)}); err != nil {
			t.Fatal(err)
		}
		if got, err := tier.Get(ctx, key, time.Hour); got != nil || err != nil {
			t.Errorf("corrupt object %q: %v, %v", bad[:min(len(bad), 12)], got, err)
		}
	}
	if v := testutil.ToFloat64(m.CacheLookups.WithLabelValues("s3", "corrupt")); v != 3 {
		t.Errorf("corrupt lookups %v, want 3", v)
	}

	// An expired object is never served.
	old := NewEntry([]byte("old"), "image/png", time.Hour)
	old.Created = time.Now().Add(-2 * time.Hour)
	tier.Put(key, old)
	tier.Flush(5 * time.Second)
	if got, _ := tier.Get(ctx, key, time.Hour); got != nil {
		t.Errorf("an expired object was served: %+v", got)
	}
}

// TestTieredFetch: memory, then S3 (promoted to memory), then rendering;
// cache_max_age semantics; a second cache on the same bucket (a replica) reads
// what the first rendered.
func TestTieredFetch(t *testing.T) {
	tier, _, m := fakeS3(t)
	ctx := context.Background()
	var renders atomic.Int32
	render := func(body string, maxAge time.Duration) func(context.Context) (*Entry, error) {
		return func(context.Context) (*Entry, error) {
			renders.Add(1)
			return NewEntry([]byte(body), "text/plain", maxAge), nil
		}
	}
	a, _ := New(1<<20, tier, m)
	defer a.Close()
	key := tileKey(5, 1, 1)
	day := FetchOptions{MaxAge: 24 * time.Hour}
	if e, src, err := a.Fetch(ctx, key, day, render("one", day.MaxAge)); err != nil || src != Miss || string(e.Body) != "one" {
		t.Fatalf("first: %v %v %v", e, src, err)
	}
	if _, src, _ := a.Fetch(ctx, key, day, render("two", day.MaxAge)); src != Memory {
		t.Errorf("second: %v, want memory", src)
	}
	tier.Flush(5 * time.Second)

	b, _ := New(1<<20, tier, m) // a replica: empty memory, same bucket
	defer b.Close()
	if e, src, _ := b.Fetch(ctx, key, day, render("three", day.MaxAge)); src != S3 || string(e.Body) != "one" {
		t.Errorf("replica: %v %q, want s3 \"one\"", src, e.Body)
	}
	if _, src, _ := b.Fetch(ctx, key, day, render("four", day.MaxAge)); src != Memory {
		t.Errorf("replica again: %v, want memory (promoted)", src)
	}
	if n := renders.Load(); n != 1 {
		t.Errorf("%d renders, want 1", n)
	}

	// A request accepting younger answers only renders anew, and so do 0s and a reset.
	time.Sleep(20 * time.Millisecond)
	if e, src, _ := b.Fetch(ctx, key, FetchOptions{MaxAge: 10 * time.Millisecond}, render("five", 10*time.Millisecond)); src != Miss || string(e.Body) != "five" {
		t.Errorf("cache_max_age shorter than the entry's age: %v %q", src, e.Body)
	}
	for i := 0; i < 2; i++ {
		if _, src, _ := a.Fetch(ctx, key, FetchOptions{}, render("six", 0)); src != Miss {
			t.Errorf("cache_max_age=0s: %v", src)
		}
	}
	if e, src, _ := a.Fetch(ctx, key, FetchOptions{MaxAge: day.MaxAge, Reset: true}, render("seven", day.MaxAge)); src != Miss || string(e.Body) != "seven" {
		t.Errorf("reset: %v %q", src, e.Body)
	}
	tier.Flush(5 * time.Second)
	c, _ := New(1<<20, tier, m)
	defer c.Close()
	if e, src, _ := c.Fetch(ctx, key, day, render("eight", day.MaxAge)); src != S3 || string(e.Body) != "seven" {
		t.Errorf("after a reset, another replica reads %v %q, want the overwritten \"seven\" from s3", src, e.Body)
	}
}

// TestPurge removes exactly the selected tiles from S3 and memory.
func TestPurge(t *testing.T) {
	tier, _, m := fakeS3(t)
	ctx := context.Background()
	c, _ := New(1<<20, tier, m)
	defer c.Close()
	day := FetchOptions{MaxAge: 24 * time.Hour}
	keys := []string{tileKey(1, 0, 0), tileKey(1, 1, 0), tileKey(2, 0, 0), tileKey(2, 3, 3),
		Key{UDF: "other", Version: "v", Tile: "1/0/0", Format: "png"}.String(), Key{UDF: "dem", Version: "v1", Tile: "file", Format: "json"}.String()}
	for _, k := range keys {
		c.Fetch(ctx, k, day, func(context.Context) (*Entry, error) { return NewEntry([]byte(k), "text/plain", day.MaxAge), nil })
	}
	tier.Flush(5 * time.Second)
	// dem's tiles at zoom 1 in the western hemisphere: 1/0/0 only.
	n, err := c.Purge(ctx, "dem", func(k string) bool {
		z, x, _, ok := KeyTile(k)
		return ok && z == 1 && x == 0
	})
	if err != nil || n != 1 {
		t.Fatalf("purge: %d, %v; want 1", n, err)
	}
	left, _ := tier.Keys(ctx, "dem")
	if len(left) != 4 || strings.Contains(strings.Join(left, " "), "dem/v1/1/0/0/") {
		t.Errorf("left in s3: %v", left)
	}
	for i, k := range keys {
		_, src, _ := c.Fetch(ctx, k, day, func(context.Context) (*Entry, error) { return NewEntry([]byte("again"), "text/plain", day.MaxAge), nil })
		if want := Memory; i == 0 && src != Miss || i != 0 && src != want {
			t.Errorf("%s after the purge: %v", k, src)
		}
	}
	tier.Flush(5 * time.Second)
	if n, err := c.Purge(ctx, "dem", nil); err != nil || n != 5 {
		t.Errorf("purge all: %d, %v; want 5 (the re-rendered one too)", n, err)
	}
	if left, _ := tier.Keys(ctx, "other"); len(left) != 1 {
		t.Errorf("another UDF's objects: %v", left)
	}
}

// TestBreaker: a dead endpoint fails a few reads within the budget, then is
// skipped without a network call until it is tried again.
func TestBreaker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close() // a dead server: every connection cut
		}
	}()
	defer ln.Close()
	m := metrics.New()
	tier, err := NewS3(S3Options{Bucket: "tiles", Endpoint: "http://" + ln.Addr().String(), AccessKey: "k", SecretKey: "s", Metrics: m,
		ReadTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tier.Close()
	start := time.Now()
	for i := 0; i < 10; i++ {
		if e, _ := tier.Get(context.Background(), tileKey(1, 0, 0), time.Hour); e != nil {
			t.Fatal("an entry from a dead server")
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("10 reads of a dead server took %v", d)
	}
	if n := conns.Load(); n > breakerFailures+1 {
		t.Errorf("%d connections: the breaker did not open after %d failures", n, breakerFailures)
	}
	if v := testutil.ToFloat64(m.S3Breaker); v != 1 {
		t.Errorf("breaker gauge %v, want 1", v)
	}
	if v := testutil.ToFloat64(m.CacheLookups.WithLabelValues("s3", "skipped")); v < 5 {
		t.Errorf("skipped lookups %v", v)
	}
}

// TestMissingBucket: a tier whose bucket does not exist fails its reads and
// writes quietly; tiles are rendered and served.
func TestMissingBucket(t *testing.T) {
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer srv.Close()
	m := metrics.New()
	tier, err := NewS3(S3Options{Bucket: "nope", Endpoint: srv.URL, AccessKey: "k", SecretKey: "s", Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer tier.Close()
	c, _ := New(1<<20, tier, m)
	defer c.Close()
	for i := 0; i < 5; i++ {
		key := tileKey(4, i, 0)
		e, src, err := c.Fetch(context.Background(), key, hour, func(context.Context) (*Entry, error) {
			return NewEntry([]byte("tile"), "image/png", time.Hour), nil
		})
		if err != nil || src != Miss || string(e.Body) != "tile" {
			t.Fatalf("tile %d: %v %v %v", i, e, src, err)
		}
		tier.Flush(5 * time.Second)
	}
	if v := testutil.ToFloat64(m.CacheLookups.WithLabelValues("s3", "error")) + testutil.ToFloat64(m.CacheWrites.WithLabelValues("s3", "error")); v < 3 {
		t.Errorf("%v S3 errors counted, want the failures before the breaker opened", v)
	}
	if v := testutil.ToFloat64(m.S3Breaker); v != 1 {
		t.Errorf("breaker gauge %v, want open", v)
	}
}
