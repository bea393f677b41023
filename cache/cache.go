// Package cache stores encoded results under keys made of a handler version,
// coerced parameters, a tile and a format. The memory tier is bounded in bytes;
// concurrent identical misses render once.
package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/udftiles/udftiles/metrics"
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

	key    string  // the memory tier's key, once stored there
	header *Header // made with the entry (NewEntry, the S3 tier's decoding)
}

// entryOverhead is what an entry costs besides its strings and body: the
// struct, its Header, the memory tier's item and index, and the purge index's
// map slot.
const entryOverhead = 384

// cost is what keeping e under key costs in memory: everything it holds.
func (e *Entry) cost(key string) int64 {
	return int64(cap(e.Body) + len(e.ContentType) + len(e.ETag) + len(e.Logs) + len(e.Truncated) + 2*len(key) + entryOverhead)
}

// Header is what an HTTP answer with the entry's body says about it, made once
// per entry: each value is a slice of one string with no room to grow (an
// append copies it), so that a hit sets its headers by assigning the slices
// to the response's header map, without allocating.
type Header struct {
	ContentType, ContentLength, ETag []string
	// maxAge is the last Cache-Control value made: a busy entry makes a new
	// one once a second, as its max-age counts down.
	maxAge atomic.Pointer[maxAgeValue]
}

type maxAgeValue struct {
	scope   string
	seconds int
	value   []string
}

func newHeader(e *Entry) *Header {
	return &Header{ContentType: []string{e.ContentType}, ContentLength: []string{strconv.Itoa(len(e.Body))}, ETag: []string{e.ETag}}
}

// Header returns the entry's header values. An entry made other than by
// NewEntry or the S3 tier (a literal) gets new ones on every call.
func (e *Entry) Header() *Header {
	if h := e.header; h != nil {
		return h
	}
	return newHeader(e)
}

// CacheControl is the header value "<scope>, max-age=<seconds>", made anew
// only when scope or seconds differ from the last one asked for.
func (h *Header) CacheControl(scope string, seconds int) []string {
	if v := h.maxAge.Load(); v != nil && v.seconds == seconds && v.scope == scope {
		return v.value
	}
	v := &maxAgeValue{scope: scope, seconds: seconds, value: []string{scope + ", max-age=" + strconv.Itoa(seconds)}}
	h.maxAge.Store(v)
	return v.value
}

// Expires is when the entry stops being served.
func (e *Entry) Expires() time.Time { return e.Created.Add(e.MaxAge) }

// NewEntry builds an entry created now, with its ETag.
// A body in a much larger buffer is copied out of it: the cache must not pin
// memory it does not count.
func NewEntry(body []byte, contentType string, maxAge time.Duration) *Entry {
	if c := cap(body); c-len(body) > 4<<10 && c > len(body)+len(body)/8 {
		body = bytes.Clone(body)
	}
	sum := sha256.Sum256(body)
	e := &Entry{Body: body, ContentType: contentType, MaxAge: maxAge, Created: time.Now(),
		ETag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	e.header = newHeader(e)
	return e
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
	// The UDF and version are one path segment each (a plugin's version holds
	// a slash), so that purges can read the tile from the key.
	seg := strings.NewReplacer("/", "~", "\\", "~").Replace
	return fmt.Sprintf("%s/%s/%s/%s.%s", seg(k.UDF), seg(k.Version), k.Tile, hex.EncodeToString(h[:10]), k.Format)
}

// Source says where a response came from: the X-Cache header.
type Source string

// Sources.
const (
	Memory Source = "memory"
	S3     Source = "s3"
	Miss   Source = "miss"
)

// Tier is a shared store behind the memory tier (S3): slower, larger, seen by
// every replica. Its failures never fail a request: Get errors count as misses.
type Tier interface {
	Source() Source
	// Get returns the entry stored under key, or nil when there is none (or
	// it is corrupt, or older than its own max age or maxAge).
	Get(ctx context.Context, key string, maxAge time.Duration) (*Entry, error)
	// Put stores an entry in the background; it never delays the caller.
	Put(key string, e *Entry)
	// Purge removes the entries of udf whose keys match (nil: all of them)
	// and returns how many it removed.
	Purge(ctx context.Context, udf string, match func(key string) bool) (int, error)
}

// Cache is the tiered cache. The zero value is not usable; call New.
type Cache struct {
	mem *ristretto.Cache[string, *Entry]
	// aliases map a request's raw spelling (path and query as sent) to its key,
	// so a repeated request finds its entry without parsing parameters again.
	aliases *ristretto.Cache[string, string]
	flight  singleflight.Group
	tier    Tier
	m       *metrics.Set
	memHit  prometheus.Counter

	mu      sync.Mutex
	purges  []purge      // newest last
	npurges atomic.Int32 // len(purges), read without the lock on every hit

	// byUDF indexes the memory tier's entries by UDF, so that a purge frees
	// them at once rather than when they are next read.
	idx   sync.Mutex
	byUDF map[string]map[string]*Entry
	// maxEntry is the largest entry the memory tier keeps: an eighth of it,
	// so that one large file-mode result does not evict thousands of tiles.
	maxEntry int64
}

// purge is a purge of the memory tier: entries of udf created before at whose
// keys match are gone. The memory tier cannot list its keys, so it checks
// entries against purges as they are read.
type purge struct {
	udf   string
	match func(key string) bool // nil: every key of udf
	at    time.Time
}

// maxPurges bounds the purges remembered; past it the memory tier is cleared.
const maxPurges = 256

// New returns a cache whose memory tier holds at most memoryBytes of bodies;
// 0 disables the memory tier. tier (nil: none) is the tier behind memory; m
// (nil: none) counts lookups.
func New(memoryBytes int64, tier Tier, m *metrics.Set) (*Cache, error) {
	c := &Cache{tier: tier, m: m, byUDF: map[string]map[string]*Entry{}}
	if m != nil {
		c.memHit = m.CacheLookups.WithLabelValues(string(Memory), "hit")
	}
	if memoryBytes > 0 {
		c.maxEntry = memoryBytes / 8
		// About one counter per ten 2 KiB entries' worth of bytes, as ristretto advises.
		counters := max(memoryBytes/2048*10, 10000)
		mem, err := ristretto.NewCache(&ristretto.Config[string, *Entry]{
			NumCounters: counters, MaxCost: memoryBytes, BufferItems: 64,
			OnExit: c.forget,
		})
		if err != nil {
			return nil, err
		}
		c.mem = mem
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

// GetAlias returns the fresh entry of the key that raw resolved to before,
// when that key is one of udf at version (as Key.String spells them): a
// spelling answered for another layer, or for an older version of this one,
// finds nothing.
func (c *Cache) GetAlias(raw, udf, version string) (*Entry, bool) {
	if c.aliases == nil {
		return nil, false
	}
	key, ok := c.aliases.Get(raw)
	if !ok {
		return nil, false
	}
	rest, ok := cutSegment(key, udf)
	if !ok {
		return nil, false
	}
	if _, ok := cutSegment(rest, version); !ok {
		return nil, false
	}
	return c.Get(key)
}

// cutSegment returns what follows the path segment seg (spelt as Key.String
// spells it: slashes as ~) and its slash at the start of key.
func cutSegment(key, seg string) (string, bool) {
	if len(key) <= len(seg) || key[len(seg)] != '/' {
		return "", false
	}
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c == '/' || c == '\\' {
			c = '~'
		}
		if key[i] != c {
			return "", false
		}
	}
	return key[len(seg)+1:], true
}

// Get returns an entry from the memory tier that is within its own max age.
func (c *Cache) Get(key string) (*Entry, bool) {
	return c.get(key, math.MaxInt64)
}

// get returns an entry from memory that is younger than its own max age and
// than maxAge, and not purged.
func (c *Cache) get(key string, maxAge time.Duration) (*Entry, bool) {
	if c.mem == nil {
		return nil, false
	}
	e, ok := c.mem.Get(key)
	if !ok {
		c.count(Memory, "miss")
		return nil, false
	}
	if !Fresh(e, maxAge, time.Now()) || c.purged(key, e) {
		c.count(Memory, "expired")
		return nil, false
	}
	c.count(Memory, "hit")
	return e, true
}

// Fresh reports whether e, at now, is younger than its own max age and maxAge.
func Fresh(e *Entry, maxAge time.Duration, now time.Time) bool {
	age := now.Sub(e.Created)
	return age < e.MaxAge && age < maxAge
}

func (c *Cache) count(tier Source, result string) {
	if c.m == nil {
		return
	}
	if tier == Memory && result == "hit" { // the hot path: resolved once
		c.memHit.Inc()
		return
	}
	c.m.CacheLookups.WithLabelValues(string(tier), result).Inc()
}

// Put stores an entry in memory for the rest of its max age; an entry with no
// life left is not stored.
func (c *Cache) Put(key string, e *Entry) {
	left := time.Until(e.Expires())
	if c.mem == nil || e.MaxAge <= 0 || left <= 0 {
		return
	}
	if e.key != "" && e.key != key {
		cp := *e // one entry, one key: the index knows it by its key
		e = &cp
	}
	if c := cap(e.Body); c-len(e.Body) > 4<<10 && c > len(e.Body)+len(e.Body)/8 {
		if e.key == key {
			cp := *e
			e = &cp
		}
		e.Body = bytes.Clone(e.Body)
	}
	if e.cost(key) > c.maxEntry {
		return // the tier behind memory (S3) still keeps it
	}
	e.key = key
	udf := KeyUDF(key)
	c.idx.Lock()
	m := c.byUDF[udf]
	if m == nil {
		m = map[string]*Entry{}
		c.byUDF[udf] = m
	}
	m[key] = e
	c.idx.Unlock()
	if !c.mem.SetWithTTL(key, e, e.cost(key), left) {
		c.forget(e) // dropped: the set buffer was full
	}
	c.mem.Wait() // make the entry visible before the next request looks
}

// forget removes an entry that left the memory tier from the index.
func (c *Cache) forget(e *Entry) {
	if e == nil || e.key == "" {
		return
	}
	udf := KeyUDF(e.key)
	c.idx.Lock()
	if m := c.byUDF[udf]; m[e.key] == e {
		delete(m, e.key)
		if len(m) == 0 {
			delete(c.byUDF, udf)
		}
	}
	c.idx.Unlock()
}

// MemoryEntries is how many entries the memory tier holds.
func (c *Cache) MemoryEntries() int {
	c.idx.Lock()
	defer c.idx.Unlock()
	n := 0
	for _, m := range c.byUDF {
		n += len(m)
	}
	return n
}

// FetchOptions say how a request uses the cache.
type FetchOptions struct {
	// MaxAge is how old an answer may be: older entries are not served, and a
	// rendered one is kept this long. 0: nothing is read or kept.
	MaxAge time.Duration
	// Reset renders anew and overwrites what the tiers hold.
	Reset bool
}

// Fetch returns a fresh cached entry for key, from memory or the tier behind
// it (which then fills memory), or renders it once however many callers ask at
// the same time, keeps it in memory and writes it to the tier in the
// background. render runs detached from any single caller's cancellation, so
// one client going away does not fail the others waiting on the same key.
func (c *Cache) Fetch(ctx context.Context, key string, o FetchOptions, render func(context.Context) (*Entry, error)) (*Entry, Source, error) {
	if o.MaxAge <= 0 {
		// Not cancelled with the request either: a client that goes away must
		// not cost a Python worker its life (a cancelled call kills it); the
		// handler's own time limit still applies.
		e, err := safeRender(context.WithoutCancel(ctx), render)
		return e, Miss, err
	}
	if !o.Reset {
		if e, ok := c.get(key, o.MaxAge); ok {
			return e, Memory, nil
		}
	}
	type found struct {
		e   *Entry
		src Source
	}
	fk := key
	if o.Reset {
		fk += "\x00reset"
	}
	ch := c.flight.DoChan(fk, func() (any, error) {
		if !o.Reset {
			if e, ok := c.get(key, o.MaxAge); ok {
				return found{e, Memory}, nil
			}
			if e := c.tierGet(ctx, key, o.MaxAge); e != nil {
				c.Put(key, e)
				return found{e, c.tier.Source()}, nil
			}
		}
		e, err := safeRender(context.WithoutCancel(ctx), render)
		if err != nil {
			return nil, err
		}
		c.Put(key, e)
		if c.tier != nil && e.MaxAge > 0 {
			c.tier.Put(key, e)
		}
		return found{e, Miss}, nil
	})
	select {
	case <-ctx.Done():
		return nil, Miss, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, Miss, r.Err
		}
		f := r.Val.(found)
		return f.e, f.src, nil
	}
}

// Lookup returns a fresh entry of key from memory, or from the tier behind it
// (then kept in memory too), without rendering anything.
func (c *Cache) Lookup(ctx context.Context, key string, maxAge time.Duration) (*Entry, Source, bool) {
	if maxAge <= 0 {
		return nil, Miss, false
	}
	if e, ok := c.get(key, maxAge); ok {
		return e, Memory, true
	}
	if e := c.tierGet(ctx, key, maxAge); e != nil {
		c.Put(key, e)
		return e, c.tier.Source(), true
	}
	return nil, Miss, false
}

// Store keeps an entry rendered outside Fetch in memory and the tier behind it.
func (c *Cache) Store(key string, e *Entry) {
	if e.MaxAge <= 0 {
		return
	}
	c.Put(key, e)
	if c.tier != nil {
		c.tier.Put(key, e)
	}
}

// tierGet reads key from the tier behind memory; nil when it has no fresh entry.
func (c *Cache) tierGet(ctx context.Context, key string, maxAge time.Duration) *Entry {
	if c.tier == nil {
		return nil
	}
	e, err := c.tier.Get(context.WithoutCancel(ctx), key, maxAge)
	if err != nil || e == nil || c.purged(key, e) {
		return nil
	}
	return e
}

// Purge removes udf's entries whose keys match (nil: all) from every tier and
// returns how many the tier behind memory removed. Memory entries are dropped
// as they are next read.
func (c *Cache) Purge(ctx context.Context, udf string, match func(key string) bool) (int, error) {
	c.PurgeMemory(udf, match)
	if c.tier == nil {
		return 0, nil
	}
	n, err := c.tier.Purge(ctx, udf, match)
	if c.m != nil {
		c.m.Purged.WithLabelValues(string(c.tier.Source())).Add(float64(n))
	}
	return n, err
}

// PurgeMemory is Purge of this process's memory only: what another replica's
// purge, which cleared the shared tier, asks of this one. Entries of the tier
// behind memory made before now are not served either.
func (c *Cache) PurgeMemory(udf string, match func(key string) bool) {
	c.mu.Lock()
	c.purges = append(c.purges, purge{udf: udf, match: match, at: time.Now()})
	if len(c.purges) > maxPurges {
		c.purges = nil
		if c.mem != nil {
			c.mem.Clear()
		}
	}
	c.npurges.Store(int32(len(c.purges)))
	c.mu.Unlock()
	c.dropMemory(udf, match)
}

// dropMemory deletes udf's memory entries whose keys match (nil: all), so a
// purge frees their memory now.
func (c *Cache) dropMemory(udf string, match func(key string) bool) {
	if c.mem == nil {
		return
	}
	c.idx.Lock()
	var keys []string
	for k := range c.byUDF[udf] {
		if match == nil || match(k) {
			keys = append(keys, k)
		}
	}
	c.idx.Unlock()
	for _, k := range keys {
		c.mem.Del(k) // OnExit takes it out of the index
	}
	c.mem.Wait()
}

// purged reports whether a purge after e was created covers key.
func (c *Cache) purged(key string, e *Entry) bool {
	if c.npurges.Load() == 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.purges) - 1; i >= 0; i-- {
		p := c.purges[i]
		if !e.Created.Before(p.at) {
			continue
		}
		if KeyUDF(key) == p.udf && (p.match == nil || p.match(key)) {
			return true
		}
	}
	return false
}

// KeyUDF is the UDF a key (Key.String) belongs to.
func KeyUDF(key string) string {
	udf, _, _ := strings.Cut(key, "/")
	return udf
}

// KeyTile returns the tile of a tile's key (Key.String), ok false for file mode.
func KeyTile(key string) (z, x, y int, ok bool) {
	parts := strings.Split(key, "/")
	if len(parts) != 6 {
		return 0, 0, 0, false
	}
	var err [3]error
	z, err[0] = strconv.Atoi(parts[2])
	x, err[1] = strconv.Atoi(parts[3])
	y, err[2] = strconv.Atoi(parts[4])
	return z, x, y, err[0] == nil && err[1] == nil && err[2] == nil
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
