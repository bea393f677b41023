package gdal

import (
	"sync"
	"sync/atomic"
)

// Pool holds up to n open handles of one source, each used by one read at a
// time. A handle opened before Reset (the file was replaced) is closed and
// opened again on its next use.
type Pool[H any] struct {
	slots []*slot[H]
	close func(H)
	gen   atomic.Int64
	// preferOpen takes a free slot with an open handle over the home slot:
	// for sources where opening costs more than what a slot keeps.
	preferOpen bool
}

type slot[H any] struct {
	mu   sync.Mutex
	h    H
	open bool
	gen  int64
}

// NewPool returns a pool of n slots (at least one); close releases a handle.
// With preferOpen, Acquire takes any free slot with an open handle before
// opening one in the home slot.
func NewPool[H any](n int, close func(H), preferOpen bool) *Pool[H] {
	p := &Pool[H]{slots: make([]*slot[H], max(1, n)), close: close, preferOpen: preferOpen}
	for i := range p.slots {
		p.slots[i] = &slot[H]{}
	}
	return p
}

// Acquire locks a slot and returns its handle, opened with open when the slot
// has none (or an outdated one), and the function that frees the slot: with
// broken true the handle is closed too (a read failed and may have left it in
// a bad state). home picks the slot tried first, so that related reads share
// a handle and what it caches; when every slot is busy the read waits for
// the home slot.
func (p *Pool[H]) Acquire(home uint64, open func() (H, error)) (H, func(broken bool), error) {
	n := len(p.slots)
	first := int(home % uint64(n))
	var s *slot[H]
	passes := 1
	if p.preferOpen {
		passes = 2
	}
	for pass := 0; pass < passes && s == nil; pass++ {
		for i := 0; i < n && s == nil; i++ {
			c := p.slots[(first+i)%n]
			if c.mu.TryLock() {
				if passes == 2 && pass == 0 && !c.open {
					c.mu.Unlock()
					continue
				}
				s = c
			}
		}
	}
	if s == nil {
		s = p.slots[first]
		s.mu.Lock()
	}
	gen := p.gen.Load()
	if s.open && s.gen != gen {
		p.close(s.h) // the source was replaced
		var zero H
		s.h, s.open = zero, false
	}
	if !s.open {
		h, err := open()
		if err != nil {
			s.mu.Unlock()
			var zero H
			return zero, nil, err
		}
		s.h, s.open, s.gen = h, true, gen
	}
	return s.h, func(broken bool) {
		if broken && s.open {
			p.close(s.h)
			var zero H
			s.h, s.open = zero, false
		}
		s.mu.Unlock()
	}, nil
}

// Adopt keeps a handle opened outside Acquire (to read the source's
// metadata, say) in a free slot, or closes it.
func (p *Pool[H]) Adopt(h H) {
	gen := p.gen.Load()
	for _, s := range p.slots {
		if s.mu.TryLock() {
			if !s.open {
				s.h, s.open, s.gen = h, true, gen
				s.mu.Unlock()
				return
			}
			s.mu.Unlock()
		}
	}
	p.close(h)
}

// Reset makes every handle open now be reopened on its next use.
func (p *Pool[H]) Reset() { p.gen.Add(1) }

// Each calls f with every open handle, each slot locked in turn.
func (p *Pool[H]) Each(f func(H)) {
	for _, s := range p.slots {
		s.mu.Lock()
		if s.open {
			f(s.h)
		}
		s.mu.Unlock()
	}
}

// Close closes the open handles; reads afterwards open new ones.
func (p *Pool[H]) Close() {
	for _, s := range p.slots {
		s.mu.Lock()
		if s.open {
			p.close(s.h)
			var zero H
			s.h, s.open = zero, false
		}
		s.mu.Unlock()
	}
}

// Size is the number of slots.
func (p *Pool[H]) Size() int { return len(p.slots) }
