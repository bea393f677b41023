package vector

import (
	"fmt"
	"sync"

	"github.com/udftiles/udftiles/layer"
)

// maxFilters bounds the filters remembered per layer; maxFilterBytes bounds
// the memory of their FID sets.
const (
	maxFilters     = 16
	maxFilterBytes = 64 << 20
)

// filterCache remembers, per filter= expression, whether OGR accepts it and, for
// thinning from the overview, which FIDs pass it. A map asks for many tiles with
// one filter: the set is computed once, by one read of the file with no geometry.
type filterCache struct {
	mu      sync.Mutex
	entries map[string]*filterEntry
	order   []string // least recently used first
}

type filterEntry struct {
	checkOnce sync.Once
	checkErr  error
	setOnce   sync.Once
	set       *fidSet
	setErr    error
}

func (c *filterCache) entry(sql string) *filterEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]*filterEntry{}
	}
	e, ok := c.entries[sql]
	if ok {
		for i, k := range c.order {
			if k == sql {
				c.order = append(c.order[:i], c.order[i+1:]...)
				break
			}
		}
	} else {
		e = &filterEntry{}
		c.entries[sql] = e
	}
	c.order = append(c.order, sql)
	// Evict the oldest beyond the bounds; an entry in use stays valid for its user.
	for len(c.order) > 1 && (len(c.order) > maxFilters || c.bytes() > maxFilterBytes) {
		delete(c.entries, c.order[0])
		c.order = c.order[1:]
	}
	return e
}

// bytes is the memory of the computed sets; the caller holds mu.
func (c *filterCache) bytes() int {
	n := 0
	for _, e := range c.entries {
		if e.set != nil {
			n += e.set.bytes()
		}
	}
	return n
}

// validate has OGR prepare the filter on an area beside the layer, where it reads
// (next to) nothing: a filter the driver refuses is the caller's mistake, a 400.
func (c *filterCache) validate(src *source, f *filter, st *state) error {
	e := c.entry(f.SQL)
	e.checkOnce.Do(func() {
		var probe *[4]float64
		if st.hasExtent {
			x, y := st.extent[2], st.extent[3]
			w, h := st.extent[2]-st.extent[0]+1, st.extent[3]-st.extent[1]+1
			probe = &[4]float64{x + w, y + h, x + 2*w, y + 2*h}
		}
		q := query{filter: f}
		if err := src.query(probe, f.SQL, ignoredFields(st, q, true)); err != nil {
			e.checkErr = layer.Errorf(layer.BadRequest, "parameter filter: OGR refused %s: %v", f.SQL, err)
			return
		}
		if ft, ok := src.next(0); ok {
			ft.release()
		}
		if err := src.err(); err != nil {
			e.checkErr = layer.Errorf(layer.BadRequest, "parameter filter: OGR refused %s: %v", f.SQL, err)
		}
	})
	return e.checkErr
}

// fids returns the FIDs of the features that pass the filter.
func (c *filterCache) fids(src *source, f *filter, st *state) (*fidSet, error) {
	e := c.entry(f.SQL)
	e.setOnce.Do(func() {
		var all []int64
		if st.pq != nil {
			var err error
			if all, err = parquetFIDs(st, f); err != nil {
				e.setErr = &layer.Error{Kind: layer.Unavailable, Msg: fmt.Sprintf("filtering %s: %v", st.name, err)}
				return
			}
		} else if all, e.setErr = ogrFIDs(src, f, st); e.setErr != nil {
			return
		}
		set := newFIDSet(all)
		c.mu.Lock() // bytes reads it under the lock
		e.set = set
		c.mu.Unlock()
	})
	if e.setErr != nil {
		// A failure is not remembered: the next request tries again.
		c.mu.Lock()
		if c.entries[f.SQL] == e {
			delete(c.entries, f.SQL)
		}
		c.mu.Unlock()
	}
	return e.set, e.setErr
}

// ogrFIDs reads the FIDs passing the filter through OGR, with no geometry.
func ogrFIDs(src *source, f *filter, st *state) ([]int64, error) {
	if err := src.query(nil, f.SQL, ignoredFields(st, query{filter: f}, false)); err != nil {
		return nil, layer.Errorf(layer.BadRequest, "parameter filter: OGR refused %s: %v", f.SQL, err)
	}
	var all []int64
	buf := make([]int64, 1<<14)
	for {
		n := src.fids(buf)
		all = append(all, buf[:n]...)
		if n < len(buf) {
			break
		}
	}
	if err := src.err(); err != nil {
		return nil, &layer.Error{Kind: layer.Unavailable, Msg: fmt.Sprintf("filtering %s: %v", st.name, err)}
	}
	return all, nil
}
