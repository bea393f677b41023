package cache

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMemoryBoundCountsEverything: an entry costs its logs and headers too,
// not only its body: small results with large prints stay within the tier.
func TestMemoryBoundCountsEverything(t *testing.T) {
	const limit = 1 << 20
	c := newCache(t, limit)
	logs := strings.Repeat("printed line\n", 60<<10/13) // ~60 KiB of prints per result
	for i := range 300 {
		e := NewEntry([]byte(fmt.Sprintf("result %d", i)), "text/plain", time.Hour)
		e.Logs = logs
		c.Put(fmt.Sprintf("chatty/v1/file/%03d.json", i), e)
	}
	kept := 0
	for i := range 300 {
		if e, ok := c.Get(fmt.Sprintf("chatty/v1/file/%03d.json", i)); ok {
			kept += len(e.Body) + len(e.Logs)
		}
	}
	t.Logf("%d KiB of bodies and logs kept in a %d KiB tier", kept>>10, limit>>10)
	if kept > limit+limit/10 {
		t.Errorf("kept %d bytes of bodies and logs, want at most about %d", kept, limit)
	}
	if kept == 0 {
		t.Error("nothing kept")
	}
}

// TestEntryDoesNotPinItsBuffer: a small body cut from a large buffer is
// copied out, so the cache holds what it counts.
func TestEntryDoesNotPinItsBuffer(t *testing.T) {
	big := make([]byte, 1<<20)
	copy(big, "small result")
	e := NewEntry(big[:12], "text/plain", time.Hour)
	if cap(e.Body) > 4<<10 {
		t.Errorf("a 12-byte body keeps a buffer of %d bytes", cap(e.Body))
	}
	if string(e.Body) != "small result" {
		t.Errorf("body %q", e.Body)
	}
	c := newCache(t, 1<<20)
	e2 := &Entry{Body: big[:12], MaxAge: time.Hour, Created: time.Now()}
	c.Put("u/v/file/x.json", e2)
	if got, ok := c.Get("u/v/file/x.json"); !ok || cap(got.Body) > 4<<10 {
		t.Errorf("entry put with a 1 MiB buffer kept it (ok %v)", ok)
	}
}

// TestPurgeFreesMemory: a purge deletes the memory entries it covers at once
// (their memory is freed), and only those.
func TestPurgeFreesMemory(t *testing.T) {
	c := newCache(t, 256<<20)
	body := bytes.Repeat([]byte{1}, 64<<10)
	for i := range 1000 {
		c.Put(fmt.Sprintf("big/v1/3/%d/1/h.png", i), NewEntry(bytes.Clone(body), "image/png", time.Hour))
	}
	for i := range 10 {
		c.Put(fmt.Sprintf("other/v1/3/%d/1/h.png", i), NewEntry(bytes.Clone(body), "image/png", time.Hour))
	}
	before := heapInUse()
	// A bbox-like purge first: only x < 500.
	if _, err := c.Purge(t.Context(), "big", func(k string) bool {
		_, x, _, ok := KeyTile(k)
		return ok && x < 500
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get("big/v1/3/100/1/h.png"); ok {
		t.Error("a purged entry is served")
	}
	if _, ok := c.Get("big/v1/3/700/1/h.png"); !ok {
		t.Error("an entry outside the purge is gone")
	}
	if _, err := c.Purge(t.Context(), "big", nil); err != nil {
		t.Fatal(err)
	}
	after := heapInUse()
	t.Logf("heap in use %d MiB before the purges, %d MiB after", before>>20, after>>20)
	if before-after < 48<<20 {
		t.Errorf("purging 62 MiB of entries freed %d MiB of heap", (before-after)>>20)
	}
	if _, ok := c.Get("other/v1/3/5/1/h.png"); !ok {
		t.Error("another UDF's entry was purged")
	}
	if n := c.MemoryEntries(); n != 10 {
		t.Errorf("%d entries indexed, want the other UDF's 10", n)
	}
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// TestLargeEntryNotInMemory: an entry over an eighth of the tier is not kept
// in memory, where it would evict thousands of small ones.
func TestLargeEntryNotInMemory(t *testing.T) {
	c := newCache(t, 8<<20)
	c.Put("u/v/1/1/1/small.png", NewEntry(make([]byte, 100<<10), "image/png", time.Hour))
	c.Put("u/v/file/big.png", NewEntry(make([]byte, 2<<20), "image/png", time.Hour))
	if _, ok := c.Get("u/v/file/big.png"); ok {
		t.Error("a 2 MiB entry is kept in an 8 MiB tier")
	}
	if _, ok := c.Get("u/v/1/1/1/small.png"); !ok {
		t.Error("a small entry is not kept")
	}
}
