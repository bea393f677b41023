// Package web is the HTTP face of the server: routes, handlers and middleware.
// web.New returns a plain http.Handler, usable without the command line.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/udftiles/udftiles/metrics"
	"github.com/udftiles/udftiles/tileservice"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/catalog"
	"github.com/udftiles/udftiles/jobs"
	"github.com/udftiles/udftiles/layer"
)

// Deps are what the HTTP layer needs from the rest of the server.
type Deps struct {
	Registry    *layer.Registry
	Cache       *cache.Cache
	PublicURL   string   // absolute base for URLs in TileJSON; "" = from the request
	CORSOrigins []string // "*" or exact origins
	Logger      *slog.Logger
	Version     string
	Tokens      map[string]string // shared token → UDF name
	Ready       func() bool       // nil = always ready
	// MaxAgeLimit caps a request's cache_max_age (0 = 365 days).
	MaxAgeLimit time.Duration
	// AdminToken is a plain-text admin bearer token (the config's legacy
	// admin_token); "" = none. Bearers are the hashed ones.
	AdminToken string
	Bearers    []Bearer
	// TokenRates limit the shared tokens that have a rate: token → limit.
	TokenRates map[string]Rate
	Limits     Limits
	// Inline makes a handler of Python code for POST /v1/run (admins only);
	// nil keeps the route off.
	Inline func(code string) (layer.Handler, error)
	// COGAllow lists where COGs named by url= may be (https://host/path/,
	// s3://bucket/prefix/, /local/dir); empty keeps /v1/cog/... off.
	COGAllow  []string
	COGSource URLSource     // opens an allowed COG
	COGMaxAge time.Duration // how long its tiles are cached
	// PrivateFiles are the paths of private layers (local paths, /vsis3/...,
	// /vsicurl/...): url= never opens them, their side files or what lies in
	// them (a saved UDF's folder).
	PrivateFiles []string
	// JobsDir keeps the jobs of POST .../submit; "" turns jobs off (unless
	// JobQueue is set).
	JobsDir string
	// JobQueue keeps the jobs in the store instead, shared by every replica
	// (JobsDir is then unused): New gives it the runner of items and starts
	// it; its maker closes it.
	JobQueue *jobs.Queue
	// JobsTTL is how long an ended job is kept (0 = 7 days); JobsSweep how
	// often expired jobs are looked for (0 = hourly).
	JobsTTL   time.Duration
	JobsSweep time.Duration
	// AnonymousJobControl lets anyone holding an anonymous job's id cancel,
	// retry or delete it; otherwise that takes an admin token.
	AnonymousJobControl bool
	// Metrics are served on /metrics; nil = a set of the server's own.
	Metrics *metrics.Set
	// Service renders the layers of Registry through Cache; nil = one built
	// from them, Limits and MaxAgeLimit. Export and jobs share the server's.
	Service *tileservice.Service
	// MetricsAccess says who may read /metrics: MetricsPublic ("" too),
	// MetricsToken or MetricsAdmin.
	MetricsAccess string
	// Catalog holds the UDFs saved at run time, their share tokens and the
	// Workbench's drafts; nil = no store, the catalog routes answer 404.
	Catalog *catalog.Catalog
}

// Rate is a token bucket: requests per second, and how many at once.
type Rate struct {
	PerSecond float64
	Burst     int
}

// api is what the routes share: the dependencies, limits, rate limiters and
// the jobs.
type api struct {
	Deps
	started     time.Time
	bearers     []Bearer
	hasAdmin    bool
	limits      Limits
	clients     *rateLimiter            // per client address; nil = no limit
	tokenLimits map[string]*rateLimiter // per shared token with a rate
	svc         *tileservice.Service
	urls        urlLayers  // layers of COGs named by url=
	jobs        jobBackend // nil: jobs are off
	// What instrument uses on every request: request ids, its writers
	// (*statusWriter) and the tile route's metric series.
	ids        requestIDs
	writers    sync.Pool
	tileSeries *routeSeries
}

// New builds the router with every route and middleware.
func New(d Deps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New()
	}
	if d.MaxAgeLimit <= 0 {
		d.MaxAgeLimit = 365 * 24 * time.Hour
	}
	s := &api{Deps: d, started: time.Now(), limits: d.Limits.withDefaults(), tokenLimits: map[string]*rateLimiter{},
		tileSeries: newRouteSeries(d.Metrics, tileRoute)}
	s.bearers = append(s.bearers, d.Bearers...)
	if d.AdminToken != "" {
		b, _ := NewBearer("admin_token", HashToken(d.AdminToken), true)
		s.bearers = append(s.bearers, b)
	}
	for _, b := range s.bearers {
		s.hasAdmin = s.hasAdmin || b.Admin
	}
	if s.limits.RatePerClient > 0 {
		s.clients = newRateLimiter(s.limits.RatePerClient, s.limits.BurstPerClient)
	}
	for tok, rt := range d.TokenRates {
		if rt.PerSecond > 0 {
			burst := rt.Burst
			if burst <= 0 {
				burst = max(1, int(2*rt.PerSecond))
			}
			s.tokenLimits[tok] = newRateLimiter(rt.PerSecond, burst)
		}
	}
	s.svc = d.Service
	if s.svc == nil {
		s.svc = tileservice.New(tileservice.Options{Registry: d.Registry, Cache: d.Cache, MaxAgeLimit: d.MaxAgeLimit,
			MaxRenders: s.limits.MaxRenders, MaxRenderQueue: s.limits.MaxRenderQueue, Metrics: d.Metrics, Logger: d.Logger})
	}
	s.urls.layers = map[string]*layer.Layer{}
	switch {
	case d.JobQueue != nil:
		d.JobQueue.SetRunner(s.runItem)
		if err := d.JobQueue.Start(context.Background()); err != nil {
			d.Logger.Error("jobs are off: the queue cannot start", "error", err.Error())
		} else {
			s.jobs = queueJobs{d.JobQueue}
		}
	case d.JobsDir != "":
		m, err := jobs.New(d.JobsDir, s.runItem, jobs.Options{Logger: d.Logger, TTL: d.JobsTTL, SweepEvery: d.JobsSweep,
			MaxRunning: s.limits.MaxJobsRunning, MaxStored: s.limits.MaxJobsStored, MaxResultBytes: int64(s.limits.MaxJobResultMB) << 20})
		if err != nil {
			d.Logger.Error("jobs are off: their directory cannot be used", "dir", d.JobsDir, "error", err.Error())
		} else {
			s.jobs = fileJobs{m}
		}
	}
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, layer.Errorf(layer.NotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSONStatus(w, http.StatusMethodNotAllowed, errorBody{Error: "method " + r.Method + " not allowed on " + r.URL.Path})
	})
	get := []string{http.MethodGet, http.MethodHead}
	r.HandleFunc("/healthz", s.healthz).Methods(get...)
	r.HandleFunc("/readyz", s.readyz).Methods(get...)
	r.HandleFunc("/v1/udfs", s.listUDFs).Methods(get...)
	r.HandleFunc("/v1/udfs/{name}", s.getUDF).Methods(get...)
	r.HandleFunc("/v1/udfs/{name}", s.saveUDF).Methods(http.MethodPut)
	r.HandleFunc("/v1/udfs/{name}", s.deleteUDF).Methods(http.MethodDelete)
	r.HandleFunc("/v1/udfs/{name}/code", s.udfCode).Methods(get...)
	r.HandleFunc("/v1/udfs/{name}/versions", s.udfVersions).Methods(get...)
	r.HandleFunc("/v1/udfs/{name}/versions/{n}/restore", s.restoreUDF).Methods(http.MethodPost)
	r.HandleFunc("/v1/udfs/{name}/tokens", s.createToken).Methods(http.MethodPost)
	r.HandleFunc("/v1/udfs/{name}/tokens", s.listTokens).Methods(get...)
	r.HandleFunc("/v1/udfs/{name}/tokens/{id}", s.revokeToken).Methods(http.MethodDelete)
	r.HandleFunc("/v1/udfs/{name}/tokens/{id}", s.updateToken).Methods(http.MethodPatch)
	r.HandleFunc("/v1/drafts", s.newDraft).Methods(http.MethodPost)
	r.HandleFunc("/v1/drafts/{id}/tiles/{z}/{x}/{y}", s.draftTile).Methods(get...)
	r.HandleFunc("/v1/drafts/{id}/run", s.draftRun).Methods(http.MethodGet, http.MethodHead, http.MethodPost)
	r.HandleFunc("/v1/udfs/{name}/tilejson.json", s.tileJSON).Methods(get...)
	r.HandleFunc(tileRoute, s.tile).Methods(get...)
	r.HandleFunc("/v1/udfs/{name}/run", s.run).Methods(http.MethodGet, http.MethodHead, http.MethodPost)
	r.HandleFunc("/v1/udfs/{name}/cache", s.purge).Methods(http.MethodDelete)
	r.HandleFunc("/metrics", s.metrics).Methods(get...)
	r.PathPrefix("/debug/pprof/").HandlerFunc(s.pprof).Methods(get...)
	r.HandleFunc("/v1/run", s.inline).Methods(http.MethodPost)
	r.HandleFunc("/v1/udfs/{name}/submit", s.submit).Methods(http.MethodPost)
	r.HandleFunc("/v1/jobs", s.jobList).Methods(get...)
	r.HandleFunc("/v1/jobs/{id}", s.jobStatus).Methods(get...)
	r.HandleFunc("/v1/jobs/{id}/logs", s.jobLogs).Methods(get...)
	r.HandleFunc("/v1/jobs/{id}", s.jobCancel).Methods(http.MethodDelete)
	r.HandleFunc("/v1/jobs/{id}/results", s.jobResults).Methods(get...)
	r.HandleFunc("/v1/jobs/{id}/retry", s.jobRetry).Methods(http.MethodPost)
	r.HandleFunc("/v1/cog/tiles/{z}/{x}/{y}", s.urlTile).Methods(get...)
	r.HandleFunc("/v1/cog/tilejson.json", s.urlTileJSON).Methods(get...)
	// A STAC Item's assets (stac.go).
	r.HandleFunc("/v1/stac/tiles/{z}/{x}/{y}", s.stacTile).Methods(get...)
	r.HandleFunc("/v1/stac/tilejson.json", s.stacTileJSON).Methods(get...)
	r.HandleFunc("/v1/stac/info", s.stacInfo).Methods(get...)
	r.HandleFunc("/v1/stac/point/{lonlat}", s.stacPoint).Methods(get...)
	r.HandleFunc("/v1/stac/statistics", s.rasterStatistics).Methods(http.MethodGet, http.MethodHead, http.MethodPost)
	r.HandleFunc("/v1/stac/preview", s.rasterPreview).Methods(get...)
	r.HandleFunc("/v1/stac/preview.{ext}", s.rasterPreview).Methods(get...)
	r.HandleFunc("/v1/stac/bbox/{bbox}", s.rasterBBox).Methods(get...)
	r.HandleFunc("/v1/stac/feature", s.rasterFeature).Methods(http.MethodPost)
	r.HandleFunc("/v1/stac/feature.{ext}", s.rasterFeature).Methods(http.MethodPost)
	// The raster query API of COG layers and of url= COGs (query.go).
	for _, base := range []string{"/v1/udfs/{name}", "/v1/cog"} {
		r.HandleFunc(base+"/info", s.rasterInfo).Methods(get...)
		r.HandleFunc(base+"/statistics", s.rasterStatistics).Methods(http.MethodGet, http.MethodHead, http.MethodPost)
		r.HandleFunc(base+"/point/{lonlat}", s.rasterPoint).Methods(get...)
		r.HandleFunc(base+"/preview", s.rasterPreview).Methods(get...)
		r.HandleFunc(base+"/preview.{ext}", s.rasterPreview).Methods(get...)
		r.HandleFunc(base+"/bbox/{bbox}", s.rasterBBox).Methods(get...)
		r.HandleFunc(base+"/feature", s.rasterFeature).Methods(http.MethodPost)
		r.HandleFunc(base+"/feature.{ext}", s.rasterFeature).Methods(http.MethodPost)
	}
	r.Use(s.instrument, s.owsErrors, s.guard)
	r.HandleFunc("/server/v1/realtime-shared/{token}/run/tiles/{z}/{x}/{y}", s.shared).Methods(get...)
	r.HandleFunc("/server/v1/realtime-shared/{token}/run/tilejson.json", s.sharedTileJSON).Methods(get...)
	r.HandleFunc("/server/v1/realtime-shared/{token}/run/file", s.shared).Methods(http.MethodGet, http.MethodHead, http.MethodPost)
	r.HandleFunc("/server/v1/realtime-shared/{token}/run/file.{ext}", s.shared).Methods(http.MethodGet, http.MethodHead, http.MethodPost)
	r.HandleFunc("/v1/colormaps", s.listColormaps).Methods(get...)
	r.HandleFunc("/v1/colormaps/{name}", s.getColormap).Methods(get...)
	r.HandleFunc("/ogc", s.ogcLanding).Methods(get...)
	r.HandleFunc("/ogc/conformance", s.ogcConformance).Methods(get...)
	r.HandleFunc("/ogc/tileMatrixSets", s.ogcTileMatrixSets).Methods(get...)
	r.HandleFunc("/ogc/tileMatrixSets/{tms}", s.ogcTileMatrixSet).Methods(get...)
	r.HandleFunc("/ogc/collections", s.ogcCollections).Methods(get...)
	r.HandleFunc("/ogc/collections/{id}", s.ogcCollection).Methods(get...)
	for _, kind := range []string{"", "/{kind:map|vector}"} {
		r.HandleFunc("/ogc/collections/{id}"+kind+"/tiles", s.ogcTilesets).Methods(get...)
		r.HandleFunc("/ogc/collections/{id}"+kind+"/tiles/{tms}", s.ogcTileset).Methods(get...)
		r.HandleFunc("/ogc/collections/{id}"+kind+"/tiles/{tms}/{z}/{row}/{col}", s.ogcTile).Methods(get...)
	}
	r.HandleFunc("/wmts", s.wmts).Methods(get...)
	r.HandleFunc("/wmts/1.0.0/WMTSCapabilities.xml", s.wmtsCapabilities).Methods(get...)
	r.HandleFunc("/", s.page).Methods(get...)
	r.HandleFunc("/map/{name}", s.page).Methods(get...)
	r.HandleFunc("/workbench", s.workbench).Methods(get...)
	r.PathPrefix("/static/").Handler(staticHandler()).Methods(get...)
	return recoverPanics(d.Logger, securityHeaders(cors(d.CORSOrigins, s.tilesFirst(r))))
}

func (s *api) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"status": "ok", "version": s.Version, "uptime_s": int(time.Since(s.started).Seconds())})
}

// readyz is true once the Python workers are up; layers with errors are served
// as errors and do not hold readiness back.
func (s *api) readyz(w http.ResponseWriter, r *http.Request) {
	ready := s.Ready == nil || s.Ready()
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSONStatus(w, status, map[string]any{"ready": ready, "udfs": len(s.Registry.List())})
}
