package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newCache(t *testing.T, bytes int64) *Cache {
	t.Helper()
	c, err := New(bytes, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// counting returns a render func that builds body after delay and counts its calls.
func counting(calls *atomic.Int64, body string, maxAge, delay time.Duration) func(context.Context) (*Entry, error) {
	return func(ctx context.Context) (*Entry, error) {
		calls.Add(1)
		time.Sleep(delay)
		return NewEntry([]byte(body), "text/plain", maxAge), nil
	}
}

func TestKeyString(t *testing.T) {
	base := Key{UDF: "elevation", Version: "abc123", Tile: "9/277/181", Format: "png",
		Params: map[string]any{"bidx": []int{1}, "resampling": "nearest", "tilesize": 256}, Extra: "plasma|0,3000"}
	// The same parameters built in many insertion orders give one key.
	want := base.String()
	names := []string{"bidx", "resampling", "tilesize"}
	for i := 0; i < 50; i++ {
		p := map[string]any{}
		for j := range names {
			n := names[(i+j)%len(names)]
			p[n] = base.Params[n]
		}
		k := base
		k.Params = p
		if got := k.String(); got != want {
			t.Fatalf("key with params in another order = %q, want %q", got, want)
		}
	}
	if !strings.HasPrefix(want, "elevation/abc123/9/277/181/") || !strings.HasSuffix(want, ".png") {
		t.Errorf("key %q lacks its readable prefix or format suffix", want)
	}
	with := func(f func(*Key)) Key {
		k := base
		k.Params = map[string]any{}
		for n, v := range base.Params {
			k.Params[n] = v
		}
		f(&k)
		return k
	}
	variants := []struct {
		name string
		key  Key
	}{
		{"udf", with(func(k *Key) { k.UDF = "rgb" })},
		{"version", with(func(k *Key) { k.Version = "abc124" })},
		{"tile", with(func(k *Key) { k.Tile = "9/277/182" })},
		{"format", with(func(k *Key) { k.Format = "webp" })},
		{"param value", with(func(k *Key) { k.Params["resampling"] = "bilinear" })},
		{"param list", with(func(k *Key) { k.Params["bidx"] = []int{1, 2} })},
		{"param added", with(func(k *Key) { k.Params["x"] = 1 })},
		{"param removed", with(func(k *Key) { delete(k.Params, "tilesize") })},
		{"param type", with(func(k *Key) { k.Params["tilesize"] = "256" })},
		{"nil params", with(func(k *Key) { k.Params = nil })},
		{"extra", with(func(k *Key) { k.Extra = "viridis|0,3000" })},
		{"extra empty", with(func(k *Key) { k.Extra = "" })},
	}
	seen := map[string]string{want: "base"}
	for _, v := range variants {
		s := v.key.String()
		if prev, dup := seen[s]; dup {
			t.Errorf("changing %s gives the same key as %s: %q", v.name, prev, s)
		}
		seen[s] = v.name
		if s2 := v.key.String(); s2 != s {
			t.Errorf("%s: String is not deterministic: %q then %q", v.name, s, s2)
		}
	}
}

func TestFetchMissThenHit(t *testing.T) {
	c := newCache(t, 1<<20)
	var calls atomic.Int64
	render := counting(&calls, "tile bytes", time.Hour, 0)
	e1, src, err := c.Fetch(context.Background(), "k", hour, render)
	if err != nil || src != Miss {
		t.Fatalf("first Fetch: src %q err %v, want miss", src, err)
	}
	e2, src, err := c.Fetch(context.Background(), "k", hour, render)
	if err != nil || src != Memory {
		t.Fatalf("second Fetch: src %q err %v, want memory", src, err)
	}
	if calls.Load() != 1 {
		t.Errorf("render called %d times, want 1", calls.Load())
	}
	if !bytes.Equal(e1.Body, e2.Body) || e1.ETag != e2.ETag || e2.ContentType != "text/plain" {
		t.Errorf("hit %+v differs from miss %+v", e2, e1)
	}
	if _, src, _ := c.Fetch(context.Background(), "other", hour, render); src != Miss {
		t.Errorf("another key: src %q, want miss", src)
	}
}

func TestNewEntry(t *testing.T) {
	a := NewEntry([]byte("a"), "x", time.Minute)
	b := NewEntry([]byte("a"), "x", time.Minute)
	c := NewEntry([]byte("b"), "x", time.Minute)
	if a.ETag != b.ETag || a.ETag == c.ETag {
		t.Errorf("ETags %s %s %s: want equal for equal bodies only", a.ETag, b.ETag, c.ETag)
	}
	if !strings.HasPrefix(a.ETag, `"`) || !strings.HasSuffix(a.ETag, `"`) || len(a.ETag) < 10 {
		t.Errorf("ETag %s is not a quoted strong validator", a.ETag)
	}
	if d := a.Expires().Sub(a.Created); d != time.Minute {
		t.Errorf("Expires - Created = %v, want 1m", d)
	}
}

func TestExpiry(t *testing.T) {
	c := newCache(t, 1<<20)
	var calls atomic.Int64
	render := counting(&calls, "short-lived", 50*time.Millisecond, 0)
	if _, src, _ := c.Fetch(context.Background(), "k", hour, render); src != Miss {
		t.Fatalf("first: %q, want miss", src)
	}
	if _, src, _ := c.Fetch(context.Background(), "k", hour, render); src != Memory {
		t.Fatalf("second (fresh): %q, want memory", src)
	}
	time.Sleep(100 * time.Millisecond)
	if _, ok := c.Get("k"); ok {
		t.Error("Get returned an expired entry")
	}
	if _, src, _ := c.Fetch(context.Background(), "k", hour, render); src != Miss {
		t.Errorf("after expiry: %q, want miss", src)
	}
	if calls.Load() != 2 {
		t.Errorf("render called %d times, want 2", calls.Load())
	}
}

func TestMemoryBound(t *testing.T) {
	const limit = 1 << 20
	c := newCache(t, limit)
	body := bytes.Repeat([]byte{7}, 100<<10)
	for i := 0; i < 100; i++ {
		c.Put(fmt.Sprintf("tile-%03d", i), NewEntry(body, "application/octet-stream", time.Hour))
	}
	hits := 0
	for i := 0; i < 100; i++ {
		if e, ok := c.Get(fmt.Sprintf("tile-%03d", i)); ok {
			hits++
			if len(e.Body) != len(body) {
				t.Fatalf("entry %d has %d bytes, want %d", i, len(e.Body), len(body))
			}
		}
	}
	retained := hits * len(body)
	t.Logf("%d of 100 entries of 100 KiB retained (%d KiB) in a %d KiB cache", hits, retained>>10, limit>>10)
	if retained > limit+limit/10 {
		t.Errorf("retained %d bytes, want at most about %d", retained, limit)
	}
	if hits == 0 {
		t.Error("nothing retained: the memory tier does not work")
	}
}

func TestDisabled(t *testing.T) {
	c := newCache(t, 0)
	var calls atomic.Int64
	render := counting(&calls, "x", time.Hour, 0)
	for i := 0; i < 3; i++ {
		e, src, err := c.Fetch(context.Background(), "k", hour, render)
		if err != nil || src != Miss || string(e.Body) != "x" {
			t.Fatalf("Fetch %d: %v %q %v, want a miss with the body", i, e, src, err)
		}
	}
	c.Put("k", NewEntry([]byte("y"), "", time.Hour))
	if _, ok := c.Get("k"); ok {
		t.Error("a disabled cache returned an entry")
	}
	if calls.Load() != 3 {
		t.Errorf("render called %d times, want 3", calls.Load())
	}
}

func TestZeroMaxAgeNotStored(t *testing.T) {
	c := newCache(t, 1<<20)
	var calls atomic.Int64
	render := counting(&calls, "x", 0, 0)
	for i := 0; i < 3; i++ {
		if _, src, err := c.Fetch(context.Background(), "k", hour, render); err != nil || src != Miss {
			t.Fatalf("Fetch %d: %q %v, want miss", i, src, err)
		}
	}
	if calls.Load() != 3 {
		t.Errorf("render called %d times, want 3", calls.Load())
	}
}

func TestSingleflight(t *testing.T) {
	for _, size := range []int64{1 << 20, 0} {
		t.Run(fmt.Sprintf("memory=%d", size), func(t *testing.T) {
			c := newCache(t, size)
			var calls atomic.Int64
			render := counting(&calls, "shared", time.Hour, 50*time.Millisecond)
			var wg sync.WaitGroup
			bodies := make([]string, 50)
			errs := make([]error, 50)
			for i := range bodies {
				wg.Add(1)
				go func() {
					defer wg.Done()
					e, _, err := c.Fetch(context.Background(), "k", hour, render)
					if err == nil {
						bodies[i] = string(e.Body)
					}
					errs[i] = err
				}()
			}
			wg.Wait()
			for i := range bodies {
				if errs[i] != nil || bodies[i] != "shared" {
					t.Errorf("caller %d: %q %v", i, bodies[i], errs[i])
				}
			}
			if calls.Load() != 1 {
				t.Errorf("render called %d times for 50 concurrent callers, want 1", calls.Load())
			}
		})
	}
}

func TestCancelledCallerDoesNotFailOthers(t *testing.T) {
	c := newCache(t, 1<<20)
	started := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int64
	var renderCtxErr atomic.Value
	render := func(ctx context.Context) (*Entry, error) {
		calls.Add(1)
		close(started)
		<-release
		renderCtxErr.Store(fmt.Sprint(ctx.Err()))
		return NewEntry([]byte("done"), "text/plain", time.Hour), nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() {
		_, _, err := c.Fetch(ctx, "k", hour, render)
		cancelled <- err
	}()
	<-started
	other := make(chan *Entry, 1)
	go func() {
		e, _, err := c.Fetch(context.Background(), "k", hour, render)
		if err != nil {
			t.Errorf("patient caller: %v", err)
		}
		other <- e
	}()
	time.Sleep(20 * time.Millisecond) // let the second caller join the flight
	cancel()
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled caller got %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("cancelled caller did not return while the render was still running")
	}
	close(release)
	if e := <-other; e == nil || string(e.Body) != "done" {
		t.Errorf("patient caller got %+v, want the entry", e)
	}
	if got := renderCtxErr.Load(); got != "<nil>" {
		t.Errorf("render saw its context end (%v) because one caller left", got)
	}
	if e, ok := c.Get("k"); !ok || string(e.Body) != "done" {
		t.Error("the entry rendered for the cancelled caller was not cached")
	}
	if calls.Load() != 1 {
		t.Errorf("render called %d times, want 1", calls.Load())
	}
}

func TestRenderErrorNotCached(t *testing.T) {
	c := newCache(t, 1<<20)
	boom := errors.New("source unavailable")
	var calls atomic.Int64
	fail := func(context.Context) (*Entry, error) { calls.Add(1); return nil, boom }
	for i := 0; i < 2; i++ {
		e, src, err := c.Fetch(context.Background(), "k", hour, fail)
		if !errors.Is(err, boom) || e != nil || src != Miss {
			t.Fatalf("Fetch %d: %v %q %v, want the render error", i, e, src, err)
		}
	}
	if calls.Load() != 2 {
		t.Errorf("failing render called %d times, want 2 (errors are not cached)", calls.Load())
	}
	var ok atomic.Int64
	if e, _, err := c.Fetch(context.Background(), "k", hour, counting(&ok, "fixed", time.Hour, 0)); err != nil || string(e.Body) != "fixed" {
		t.Errorf("after the error: %v %v, want a fresh render", e, err)
	}
}

// A panic in render runs on singleflight's goroutine, where no HTTP middleware
// can recover it: Fetch must turn it into an error instead of killing the process.
func TestRenderPanicIsAnError(t *testing.T) {
	c := newCache(t, 1<<20)
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = c.Fetch(context.Background(), "k", hour, func(context.Context) (*Entry, error) {
				time.Sleep(20 * time.Millisecond)
				panic("handler bug")
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		var pe *PanicError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "handler bug") || len(pe.Stack) == 0 {
			t.Errorf("caller %d: %v, want a *PanicError naming the panic with a stack", i, err)
		}
	}
	if _, ok := c.Get("k"); ok {
		t.Error("a panicking render left an entry")
	}
}

// hour is the FetchOptions of a request that accepts answers up to an hour old.
var hour = FetchOptions{MaxAge: time.Hour}
