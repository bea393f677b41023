package layer

import (
	"net/url"
	"sort"
	"sync"
	"time"
)

// Layer is a named handler with its serving options.
type Layer struct {
	Name    string
	Kind    string // handler kind from config: cog, python, go, vector
	Handler Handler
	MaxAge  time.Duration // cache_max_age; 0 means do not cache
	// MaxAgeSet: MaxAge came from the layer's own config entry, which wins over
	// what the handler asks for (@fused.udf(cache_max_age=...)).
	MaxAgeSet   bool
	Description string
	MVTLayer    string // layer name inside vector tiles; "" = udf, as Fused names it
	// Defaults are the config's parameter defaults (rescale, colormap, ...),
	// applied under the request's query values.
	Defaults url.Values
	// Err is set when the layer could not be built at all.
	Err error
	// Private layers answer only requests with a bearer token (or through a
	// shared token) and are left out of anonymous listings.
	Private bool
	// Source says where the layer comes from: SourceConfig (config.yaml,
	// read-only) or SourceCatalog (saved at run time).
	Source string
	// Owner is the bearer that created a catalog layer; "" for config layers.
	Owner string
	// Version is a catalog layer's version number; 0 for config layers.
	Version int
}

// Where layers come from.
const (
	SourceConfig  = "config"
	SourceCatalog = "catalog"
)

// MaxAger is implemented by handlers that choose their own cache_max_age.
type MaxAger interface {
	MaxAge() (time.Duration, bool)
}

// FreshFor is how long results of the layer may be served from caches: the config
// entry's cache_max_age, else the handler's own, else the server default.
func (l *Layer) FreshFor() time.Duration {
	if !l.MaxAgeSet {
		if m, ok := l.Handler.(MaxAger); ok {
			if d, ok := m.MaxAge(); ok {
				return d
			}
		}
	}
	return l.MaxAge
}

// Status returns the layer's current error, if any.
func (l *Layer) Status() error {
	if l.Err != nil {
		return l.Err
	}
	if s, ok := l.Handler.(Statuser); ok {
		return s.Status()
	}
	return nil
}

// Registry holds the layers by name. It is safe for concurrent use.
type Registry struct {
	mu     sync.RWMutex
	layers map[string]*Layer
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{layers: map[string]*Layer{}} }

// Add registers or replaces a layer.
func (r *Registry) Add(l *Layer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.layers[l.Name] = l
}

// Remove drops the named layer if it is the one given (a newer layer of the
// same name stays); it reports whether it removed it.
func (r *Registry) Remove(l *Layer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.layers[l.Name]; ok && cur == l {
		delete(r.layers, l.Name)
		return true
	}
	return false
}

// Get returns the named layer.
func (r *Registry) Get(name string) (*Layer, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	l, ok := r.layers[name]
	return l, ok
}

// List returns the layers sorted by name.
func (r *Registry) List() []*Layer {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Layer, 0, len(r.layers))
	for _, l := range r.layers {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
