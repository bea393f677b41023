// Package tileservice answers tiles and file-mode runs of layers through the
// cache: validate (mode, zoom, bounds, parameters), choose the format, build
// the cache key, and on a miss render once per key (Handler.Run, then
// render.Encode) within the render slots. It knows no HTTP: web turns
// requests into calls of Tile and Run and entries and errors into responses;
// export, jobs and OGC API call it directly.
package tileservice

import (
	"log/slog"
	"runtime"
	"time"

	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/metrics"
)

// Options are what a Service needs.
type Options struct {
	Registry *layer.Registry
	Cache    *cache.Cache
	// MaxAgeLimit caps a request's cache_max_age (0 = 365 days).
	MaxAgeLimit time.Duration
	// MaxRenders bounds the handler runs at once (0 = 4 per CPU);
	// MaxRenderQueue more wait (0 = 64 per CPU), past which a render is
	// refused (Unavailable).
	MaxRenders, MaxRenderQueue int
	Metrics                    *metrics.Set // nil = a set of its own
	Logger                     *slog.Logger
}

// Service renders and caches the layers of a registry.
type Service struct {
	reg         *layer.Registry
	cache       *cache.Cache
	maxAgeLimit time.Duration
	slots       *renderSlots
	metrics     *metrics.Set
	log         *slog.Logger
}

// New returns a service.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if o.MaxAgeLimit <= 0 {
		o.MaxAgeLimit = 365 * 24 * time.Hour
	}
	if o.Registry == nil {
		o.Registry = layer.NewRegistry()
	}
	if o.MaxRenders <= 0 {
		o.MaxRenders = 4 * runtime.NumCPU()
	}
	if o.MaxRenderQueue <= 0 {
		o.MaxRenderQueue = 64 * runtime.NumCPU()
	}
	return &Service{reg: o.Registry, cache: o.Cache, maxAgeLimit: o.MaxAgeLimit, metrics: o.Metrics, log: o.Logger,
		slots: newRenderSlots(o.MaxRenders, o.MaxRenderQueue)}
}

// Registry is the service's registry of layers.
func (s *Service) Registry() *layer.Registry { return s.reg }

// Cache is the service's cache.
func (s *Service) Cache() *cache.Cache { return s.cache }

// Caller says what the asker may use.
type Caller struct {
	// Private lets the caller use private layers: it holds a known bearer
	// token, a shared token of the layer, or runs a job of such an owner.
	Private bool
}

// Layer returns the named layer the caller may use: NotFound for a name that
// is not served, Unauthorized for a private layer the caller may not use.
func (s *Service) Layer(name string, c Caller) (*layer.Layer, error) {
	l, ok := s.reg.Get(name)
	if !ok {
		return nil, layer.Errorf(layer.NotFound, "no UDF named %q (see /v1/udfs)", name)
	}
	if l.Private && !c.Private {
		return nil, layer.Errorf(layer.Unauthorized, "UDF %s is private: send Authorization: Bearer <token>", l.Name)
	}
	return l, nil
}
