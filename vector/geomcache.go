package vector

import (
	"sync"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
)

// geomCacheBytes bounds the geometries a layer keeps converted, counted as
// their WKB size.
const geomCacheBytes = 128 << 20

// geomCache keeps the features' geometries as a read returns them: linearised,
// repaired, in lon/lat, decoded. None of that depends on the tile, and
// checking and repairing polygons (GEOS) is most of a small tile's time, so a
// feature met by many tiles is converted once per version of the file. When
// the budget is spent, further features are converted on every read. The
// geometries are shared by the results of many reads: nothing may change them.
type geomCache struct {
	mu    sync.RWMutex
	m     map[int64]cachedGeom
	bytes int64
}

type cachedGeom struct {
	g      orb.Geometry // nil when the feature is skipped
	status int          // what converting it did (geomOK, geomRepaired, ...)
}

func newGeomCache() *geomCache { return &geomCache{m: map[int64]cachedGeom{}} }

func (c *geomCache) get(fid int64) (cachedGeom, bool) {
	if c == nil {
		return cachedGeom{}, false
	}
	c.mu.RLock()
	e, ok := c.m[fid]
	c.mu.RUnlock()
	return e, ok
}

func (c *geomCache) put(fid int64, e cachedGeom, size int) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if _, ok := c.m[fid]; !ok && c.bytes+int64(size) <= geomCacheBytes {
		c.m[fid] = e
		c.bytes += int64(size) + 64
	}
	c.mu.Unlock()
}

// convert returns the feature's geometry as udft_geometry makes it, from the
// cache or converted now (and kept).
func (s *source) convert(f feature) cachedGeom {
	if e, ok := s.geoms.get(f.fid); ok {
		return e
	}
	b, status, free := s.geometry(f)
	defer free()
	e := cachedGeom{status: status}
	if b != nil {
		if g, err := wkb.Unmarshal(b); err == nil && g != nil {
			e.g = g
		} else {
			e.status = geomInvalid
		}
	}
	s.geoms.put(f.fid, e, len(b))
	return e
}
