// Package cache stores encoded results under keys made of a handler version,
// coerced parameters, a tile and a format. The memory tier is bounded in bytes;
// concurrent identical misses render once.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"
)

// Entry is one cached response body.
type Entry struct {
	Body        []byte
	ContentType string
	ETag        string // quoted strong validator of Body
	Created     time.Time
	MaxAge      time.Duration
	Logs        string // what the UDF printed while rendering, shown with debug=true
	Truncated   string // what a feature limit kept, when it cut the result
}

// Expires is when the entry stops being served.
func (e *Entry) Expires() time.Time { return e.Created.Add(e.MaxAge) }

// NewEntry builds an entry created now, with its ETag.
func NewEntry(body []byte, contentType string, maxAge time.Duration) *Entry {
	sum := sha256.Sum256(body)
	return &Entry{Body: body, ContentType: contentType, MaxAge: maxAge, Created: time.Now(),
		ETag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// Key identifies one result.
type Key struct {
	UDF     string
	Version string
	Tile    string // "z/x/y", or "" in file mode
	Format  string
	Params  map[string]any // coerced parameters; marshalled with sorted keys
	Extra   string         // anything else that changes the bytes (style)
}

// String is the key as stored: readable prefix, hashed parameters.
func (k Key) String() string {
	p, _ := json.Marshal(k.Params) // maps marshal with sorted keys: stable
	h := sha256.Sum256(append(p, "\x00"+k.Extra...))
	return fmt.Sprintf("%s/%s/%s/%s.%s", k.UDF, k.Version, k.Tile, hex.EncodeToString(h[:10]), k.Format)
}

// Source says where a response came from: the X-Cache header.
type Source string

// Sources.
const (
	Memory Source = "memory"
	Miss   Source = "miss"
)

// Cache is the tiered cache. The zero value is not usable; call New.
type Cache struct {
	mem *ristretto.Cache[string, *Entry]
	// aliases map a request's raw spelling (path and query as sent) to its key,
	// so a repeated request finds its entry without parsing parameters again.
	aliases *ristretto.Cache[string, string]
	flight  singleflight.Group
}

// New returns a cache whose memory tier holds at most memoryBytes of bodies;
// 0 disables the memory tier.
func New(memoryBytes int64) (*Cache, error) {
	c := &Cache{}
	if memoryBytes > 0 {
		// About one counter per ten 2 KiB entries' worth of bytes, as ristretto advises.
		counters := max(memoryBytes/2048*10, 10000)
		m, err := ristretto.NewCache(&ristretto.Config[string, *Entry]{
			NumCounters: counters, MaxCost: memoryBytes, BufferItems: 64,
		})
		if err != nil {
			return nil, err
		}
		c.mem = m
		a, err := ristretto.NewCache(&ristretto.Config[string, string]{
			NumCounters: counters, MaxCost: max(memoryBytes/16, 1<<20), BufferItems: 64,
		})
		if err != nil {
			return nil, err
		}
		c.aliases = a
	}
	return c, nil
}

// Close releases the memory tier.
func (c *Cache) Close() {
	if c.mem != nil {
		c.mem.Close()
		c.aliases.Close()
	}
}

// Alias remembers that a request spelled raw resolves to key.
func (c *Cache) Alias(raw, key string) {
	if c.aliases != nil {
		c.aliases.Set(raw, key, int64(len(raw)+len(key)+32))
	}
}

// GetAlias returns the fresh entry of the key that raw resolved to before.
func (c *Cache) GetAlias(raw string) (*Entry, bool) {
	if c.aliases == nil {
		return nil, false
	}
	key, ok := c.aliases.Get(raw)
	if !ok {
		return nil, false
	}
	return c.Get(key)
}

// Get returns a fresh entry from the memory tier.
func (c *Cache) Get(key string) (*Entry, bool) {
	if c.mem == nil {
		return nil, false
	}
	e, ok := c.mem.Get(key)
	if !ok || time.Now().After(e.Expires()) {
		return nil, false
	}
	return e, true
}

// Put stores an entry for its max age; an entry with no max age is not stored.
func (c *Cache) Put(key string, e *Entry) {
	if c.mem == nil || e.MaxAge <= 0 {
		return
	}
	c.mem.SetWithTTL(key, e, int64(len(e.Body))+int64(len(key))+64, e.MaxAge)
	c.mem.Wait() // make the entry visible before the next request looks
}

// Fetch returns the cached entry for key, or renders it once however many callers
// ask at the same time. render runs detached from any single caller's cancellation,
// so one client going away does not fail the others waiting on the same key.
func (c *Cache) Fetch(ctx context.Context, key string, render func(context.Context) (*Entry, error)) (*Entry, Source, error) {
	if e, ok := c.Get(key); ok {
		return e, Memory, nil
	}
	ch := c.flight.DoChan(key, func() (any, error) {
		if e, ok := c.Get(key); ok {
			return e, nil
		}
		e, err := safeRender(context.WithoutCancel(ctx), render)
		if err != nil {
			return nil, err
		}
		c.Put(key, e)
		return e, nil
	})
	select {
	case <-ctx.Done():
		return nil, Miss, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, Miss, r.Err
		}
		return r.Val.(*Entry), Miss, nil
	}
}

// PanicError is what Fetch returns when render panicked. render runs on
// singleflight's goroutine, where a panic cannot be recovered by the caller and
// would end the process.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("render panicked: %v", e.Value) }

func safeRender(ctx context.Context, render func(context.Context) (*Entry, error)) (e *Entry, err error) {
	defer func() {
		if v := recover(); v != nil {
			e, err = nil, &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return render(ctx)
}
