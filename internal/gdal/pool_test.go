package gdal

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

type fakeHandle struct{ id int }

// TestPool: handles are reused, one read at a time each; Reset and a broken
// read make them reopen; a failed open frees the slot; Close closes them all.
func TestPool(t *testing.T) {
	var opened, closed atomic.Int64
	open := func() (*fakeHandle, error) { return &fakeHandle{id: int(opened.Add(1))}, nil }
	p := NewPool(2, func(*fakeHandle) { closed.Add(1) }, false)

	h, release, err := p.Acquire(0, open)
	if err != nil || h.id != 1 {
		t.Fatalf("first: %v %v", h, err)
	}
	release(false)
	if h2, release, _ := p.Acquire(0, open); h2 != h {
		t.Errorf("the home slot's handle was not reused")
	} else {
		release(false)
	}

	// Every slot busy: concurrent reads never share a handle.
	var inUse sync.Map
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, release, err := p.Acquire(uint64(i), open)
			if err != nil {
				t.Error(err)
				return
			}
			if _, dup := inUse.LoadOrStore(h, true); dup {
				t.Error("two reads hold one handle")
			}
			inUse.Delete(h)
			release(false)
		}()
	}
	wg.Wait()
	if n := opened.Load(); n > 2 {
		t.Errorf("%d handles opened for 2 slots", n)
	}

	// The source was replaced: the next use reopens.
	before := opened.Load()
	p.Reset()
	_, release, _ = p.Acquire(0, open)
	release(true) // and this read broke it: closed
	if opened.Load() != before+1 || closed.Load() < 2 {
		t.Errorf("after Reset and a broken read: opened %d (was %d), closed %d", opened.Load(), before, closed.Load())
	}

	// A failed open frees its slot.
	if _, _, err := p.Acquire(0, func() (*fakeHandle, error) { return nil, errors.New("gone") }); err == nil {
		t.Error("a failed open was not reported")
	}
	if _, release, err := p.Acquire(0, open); err != nil {
		t.Fatal(err)
	} else {
		release(false)
	}

	// Adopt fills a free slot; Close closes every open handle.
	p.Adopt(&fakeHandle{id: 99})
	c := closed.Load()
	p.Close()
	if closed.Load()-c != 2 {
		t.Errorf("Close closed %d handles, want 2", closed.Load()-c)
	}
}

// TestPoolPreferOpen: with preferOpen a free open handle is taken before a
// new one is opened in the home slot.
func TestPoolPreferOpen(t *testing.T) {
	var opened atomic.Int64
	open := func() (*fakeHandle, error) { return &fakeHandle{id: int(opened.Add(1))}, nil }
	p := NewPool(4, func(*fakeHandle) {}, true)
	h, release, _ := p.Acquire(0, open)
	release(false)
	for home := range uint64(8) {
		h2, release, _ := p.Acquire(home, open)
		if h2 != h {
			t.Errorf("home %d: a new handle while one was free and open", home)
		}
		release(false)
	}
	if opened.Load() != 1 {
		t.Errorf("%d opened, want 1", opened.Load())
	}
}
