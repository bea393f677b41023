package cog

import (
	"container/list"
	"sync"
)

// openFiles are the readers of a mosaic's files. A file is opened when a
// tile first needs it; at most max files hold GDAL handles at once (each a
// few, Options.Pool), the least recently used idle one closed to make room,
// and a read waits when every open file is in use. A closed file's Reader
// is kept, with what it learnt of the file, and reopens its handles when
// read again.
type openFiles struct {
	max  int
	opts func(path string) Options

	mu      sync.Mutex
	cond    *sync.Cond
	entries map[string]*fileEntry
	lru     *list.List // open entries, most recently used first
	peak    int
}

type fileEntry struct {
	path  string
	r     *Reader
	ready chan struct{} // closed once r is set
	refs  int           // reads using it now
	elem  *list.Element // in lru while open, else nil
}

func newOpenFiles(max int, opts func(string) Options) *openFiles {
	f := &openFiles{max: max, opts: opts, entries: map[string]*fileEntry{}, lru: list.New()}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// acquire returns the reader of path, opened, and the function that gives
// it back.
func (f *openFiles) acquire(path string) (*Reader, func()) {
	f.mu.Lock()
	e := f.entries[path]
	create := e == nil
	if create {
		e = &fileEntry{path: path, ready: make(chan struct{})}
		f.entries[path] = e
	}
	for e.elem == nil {
		if f.lru.Len() < f.max {
			e.elem = f.lru.PushFront(e)
			f.peak = max(f.peak, f.lru.Len())
			break
		}
		if !f.closeIdle() {
			f.cond.Wait()
		}
	}
	e.refs++
	f.lru.MoveToFront(e.elem)
	f.mu.Unlock()
	if create {
		e.r = New(f.opts(path))
		close(e.ready)
	} else {
		<-e.ready
	}
	return e.r, func() {
		f.mu.Lock()
		e.refs--
		if e.refs == 0 {
			f.cond.Broadcast()
		}
		f.mu.Unlock()
	}
}

// closeIdle closes the handles of the least recently used open file no read
// is using; false when every open file is in use. f.mu is held.
func (f *openFiles) closeIdle() bool {
	for el := f.lru.Back(); el != nil; el = el.Prev() {
		e := el.Value.(*fileEntry)
		if e.refs == 0 {
			f.lru.Remove(el)
			e.elem = nil
			e.r.Close() // idle: no slot of its pool is held, so this does not wait
			return true
		}
	}
	return false
}

// keep forgets the files not in paths (the source no longer lists them).
func (f *openFiles) keep(paths []string) {
	want := make(map[string]bool, len(paths))
	for _, p := range paths {
		want[p] = true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for p, e := range f.entries {
		if want[p] || e.refs > 0 {
			continue
		}
		if e.elem != nil {
			f.lru.Remove(e.elem)
			e.elem = nil
		}
		e.r.Close()
		delete(f.entries, p)
	}
}

// counts reports the files open now and the most ever open at once.
func (f *openFiles) counts() (open, peak int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lru.Len(), f.peak
}

// closeAll closes every idle file's handles.
func (f *openFiles) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.closeIdle() {
	}
}
