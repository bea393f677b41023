package cli

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/udftiles/udftiles"
	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/catalog"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/config"
	"github.com/udftiles/udftiles/gohandler"
	"github.com/udftiles/udftiles/internal/environ"
	"github.com/udftiles/udftiles/internal/s3client"
	"github.com/udftiles/udftiles/jobs"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/metrics"
	"github.com/udftiles/udftiles/pyhost"
	"github.com/udftiles/udftiles/python"
	"github.com/udftiles/udftiles/store"
	"github.com/udftiles/udftiles/tileservice"
	"github.com/udftiles/udftiles/vector"
	"github.com/udftiles/udftiles/web"
)

func serve(args []string, s *settings) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "config file (default: the embedded demo config)")
	listen := fs.String("listen", "", "address to listen on, overriding server.listen")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Server.Listen = *listen
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	boundMemory(cfg, log)
	// UDF code runs in processes that may share this user: they must not read
	// the credentials in this process's environment (see docs/security.md).
	if err := environ.Hide(); err != nil {
		log.Warn("the server's environment stays readable in /proc", "error", err.Error())
	}
	st, err := newStack(cfg, s, log)
	if err != nil {
		return err
	}
	defer st.Close()
	reg := st.reg
	// Python layers are inspected by workers that may still be starting: report
	// every layer's state without holding the listener back.
	go func() {
		for _, l := range reg.List() {
			if err := l.Status(); err != nil {
				attrs := []any{"udf", l.Name, "error", err.Error()}
				if l.Kind == "cog" || l.Kind == "vector" {
					attrs = append(attrs, "hint", "a missing demo file? run `tileserver demo-data`")
				}
				log.Warn("UDF unavailable; serving the others", attrs...)
			}
		}
	}()
	if cfg.AdminToken != "" {
		log.Warn("admin_token is stored in plain text in the config; prefer auth.bearer with its sha256 (tileserver hash-token)")
	}
	readHeader, read, write, idle, drainFor := cfg.Timeouts()
	d := &drain{next: st.handler}
	srv := &http.Server{
		Addr:              cfg.Server.Listen,
		Handler:           d,
		ReadHeaderTimeout: readHeader,
		ReadTimeout:       read,
		WriteTimeout:      write,
		IdleTimeout:       idle,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ConnContext:       web.ConnContext,
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(web.Listener(ln)) }()
	log.Info("serving", "listen", cfg.Server.Listen, "udfs", len(reg.List()), "version", s.version)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Draining: new requests get 503 (and the connection closes) while those
	// in flight finish, up to drain_timeout; then the listener closes.
	start := time.Now()
	d.draining.Store(true)
	log.Info("draining", "in_flight", d.inflight.Load(), "timeout_s", drainFor.Seconds())
	for d.inflight.Load() > 0 && time.Since(start) < drainFor {
		time.Sleep(20 * time.Millisecond)
	}
	sctx, cancel := context.WithTimeout(context.Background(), max(time.Second, drainFor-time.Since(start)))
	defer cancel()
	err = srv.Shutdown(sctx)
	log.Info("stopped", "drained_s", time.Since(start).Seconds(), "left_in_flight", d.inflight.Load())
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// boundMemory keeps the process near what the config sizes: Go's heap is
// given a soft limit of the memory tier plus 384 MiB for everything else (GC
// runs harder near it, instead of letting garbage double the heap), and
// GDAL's block cache 256 MiB instead of 5% of the machine's RAM. GOMEMLIMIT and
// GDAL_CACHEMAX, when set, decide instead.
func boundMemory(cfg *config.Config, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") == "" {
		limit := int64(cfg.Cache.MemoryMB+384) << 20
		debug.SetMemoryLimit(limit)
		log.Debug("Go heap soft limit", "mib", limit>>20)
	}
	if os.Getenv("GDAL_CACHEMAX") == "" {
		mb := cfg.Server.GDALCacheMB
		if mb <= 0 {
			mb = 256
		}
		os.Setenv("GDAL_CACHEMAX", strconv.Itoa(mb))
	}
}

// drain counts requests in flight and, once draining, answers new ones 503.
type drain struct {
	next     http.Handler
	draining atomic.Bool
	inflight atomic.Int64
}

func (d *drain) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d.draining.Load() && r.URL.Path != "/healthz" {
		w.Header().Set("Connection", "close")
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, `{"error":"the server is shutting down; retry on another replica"}`)
		return
	}
	d.inflight.Add(1)
	defer d.inflight.Add(-1)
	d.next.ServeHTTP(w, r)
}

// stack is what serving needs: the layers, the cache tiers, the handler.
type stack struct {
	reg     *layer.Registry
	cache   *cache.Cache
	svc     *tileservice.Service
	handler http.Handler
	closers []func()
}

// newStack builds the cache tiers (memory, and S3 when configured), the Python
// pool when a layer needs it, the layers and the HTTP handler.
func newStack(cfg *config.Config, s *settings, log *slog.Logger) (*stack, error) {
	st := &stack{}
	m := metrics.New()
	var tier cache.Tier
	if s3c := cfg.Cache.S3; s3c.Bucket != "" {
		t, err := cache.NewS3(cache.S3Options{Bucket: s3c.Bucket, Prefix: s3c.Prefix, Endpoint: s3c.Endpoint, Region: s3c.Region,
			AccessKey: s3c.AccessKey, SecretKey: s3c.SecretKey, PathStyle: s3c.PathStyle,
			ReadTimeout: s3c.ReadTimeout.Std(), WriteTimeout: s3c.WriteTimeout.Std(), Logger: log, Metrics: m})
		if err != nil {
			return nil, fmt.Errorf("cache.s3: %v", err)
		}
		st.closers = append(st.closers, t.Close) // last: queued writes finish
		tier = t
		log.Info("s3 cache tier", "bucket", s3c.Bucket, "prefix", s3c.Prefix, "endpoint", s3c.Endpoint)
	}
	c, err := cache.New(int64(cfg.Cache.MemoryMB)<<20, tier, m)
	if err != nil {
		st.Close()
		return nil, err
	}
	st.cache = c
	st.closers = append(st.closers, c.Close)
	db, err := openStore(cfg, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	saved := 0
	if db != nil {
		st.closers = append(st.closers, func() { db.Close() })
		n, err := db.UDFs(context.Background())
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("store: %v", err)
		}
		saved = len(n)
	}
	pool, err := startPython(cfg, log, db != nil && (saved > 0 || mayEdit(cfg)))
	if err != nil {
		st.Close()
		return nil, err
	}
	if pool != nil {
		st.closers = append(st.closers, pool.Close)
		m.WatchPython(func() metrics.PythonStates {
			ps := pool.Stats()
			return metrics.PythonStates{Idle: ps.Idle, Busy: ps.Busy, Starting: max(0, ps.Workers-ps.Idle-ps.Busy), Restarts: ps.Restarts}
		})
	}
	kinds := s.layerKinds(pool, cfg, log)
	if err := checkKinds(cfg, kinds); err != nil {
		st.Close()
		return nil, err
	}
	st.reg = buildRegistry(cfg, kinds)
	lim := cfg.Limits
	st.svc = tileservice.New(tileservice.Options{Registry: st.reg, Cache: c, MaxAgeLimit: cfg.Cache.MaxAgeLimit.Std(),
		MaxRenders: lim.MaxRenders, MaxRenderQueue: lim.MaxRenderQueue, Metrics: m, Logger: log})
	var cat *catalog.Catalog
	if db != nil {
		cat = catalog.New(catalog.Options{Store: db, Registry: st.reg, Build: python.Factory(pool, cfg.Python.Queue),
			Dir: filepath.Join(cfg.Python.CacheDir, "catalog"), DefaultMaxAge: cfg.Cache.DefaultMaxAge.Std(), Logger: log,
			DraftsTTL: cfg.Store.DraftsTTL.Std(), ChangesTTL: cfg.Store.ChangesTTL.Std(),
			Purge: func(name string, q url.Values) {
				sel, err := web.ParseSelection(q)
				if err != nil {
					log.Error("a purge from another replica could not be read", "udf", name, "error", err.Error())
					return
				}
				c.PurgeMemory(name, sel.Match())
				log.Info("cache purged by another replica", "udf", name, "selection", sel.String())
			}})
		ctx, cancel := context.WithCancel(context.Background())
		st.closers = append(st.closers, cancel)
		if err := cat.Start(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	if pool != nil {
		var storage *pyhost.Storage
		if so := cfg.Storage; len(so.Allow) > 0 {
			if storage, err = pyhost.NewStorage(so.Allow, s3client.Options{Endpoint: so.S3.Endpoint, Region: so.S3.Region,
				AccessKey: so.S3.AccessKey, SecretKey: so.S3.SecretKey, PathStyle: so.S3.PathStyle}); err != nil {
				st.Close()
				return nil, fmt.Errorf("config: %v", err)
			}
		}
		ho := pyhost.Options{Service: st.svc, Tokens: tokens(cfg), Storage: storage}
		if cat != nil {
			ho.ShareToken, ho.Lookup = cat.ShareToken, cat.Path
		}
		pool.SetHost(pyhost.New(ho))
	}
	var queue *jobs.Queue
	if db != nil {
		// Jobs live in the store, and every replica of it runs their items.
		if queue, err = openQueue(cfg, db, m, log); err != nil {
			st.Close()
			return nil, err
		}
		st.closers = append(st.closers, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := queue.Close(ctx); err != nil {
				log.Warn("jobs: the queue stopped with items running; they run again elsewhere", "error", err.Error())
			}
		})
	}
	var bearers []web.Bearer
	for _, b := range cfg.Auth.Bearer {
		wb, err := web.NewBearer(b.Name, b.SHA256, b.IsAdmin())
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("config: auth.bearer: %v", err)
		}
		wb.Editor = b.IsEditor()
		bearers = append(bearers, wb)
	}
	d := web.Deps{Service: st.svc, Registry: st.reg, Cache: c, PublicURL: cfg.Server.PublicURL,
		CORSOrigins: cfg.Server.CORSOrigins, Logger: log, Version: s.version,
		Tokens: tokens(cfg), TokenRates: tokenRates(cfg), Ready: func() bool { return pool == nil || pool.Ready() },
		MaxAgeLimit: cfg.Cache.MaxAgeLimit.Std(), AdminToken: cfg.AdminToken, Bearers: bearers, Metrics: m,
		Limits: web.Limits{MaxTileSize: lim.MaxTileSize, MaxParams: lim.MaxParams, MaxParamBytes: lim.MaxParamBytes,
			MaxBodyBytes: lim.MaxBodyBytes, RatePerClient: lim.RatePerClient, BurstPerClient: lim.BurstPerClient,
			TrustProxy: cfg.TrustsProxy(), MaxRenders: lim.MaxRenders, MaxRenderQueue: lim.MaxRenderQueue, MaxSubmitItems: lim.MaxSubmitItems,
			MaxJobsRunning: lim.MaxJobsRunning, MaxJobsStored: lim.MaxJobsStored, MaxJobResultMB: lim.MaxJobResultMB},
		JobsDir: cfg.Server.JobsDir, JobsTTL: cfg.Server.JobsTTL.Std(), AnonymousJobControl: cfg.Auth.AnonymousJobControl}
	d.MetricsAccess = cfg.Auth.Metrics
	d.Catalog = cat
	d.JobQueue = queue
	if len(cfg.COGURLs.Allow) > 0 {
		d.COGAllow, d.COGMaxAge = cfg.COGURLs.Allow, cfg.Cache.DefaultMaxAge.Std()
		// Files named by requests open as GeoTIFFs only; the configured
		// layers keep whatever GDAL opens.
		d.COGSource = func(p string) (layer.Handler, error) {
			return cog.New(cog.Options{Path: p, Drivers: cog.URLDrivers}), nil
		}
		d.PrivateFiles = privateFiles(cfg, log)
	}
	if cfg.Auth.InlineCode && pool != nil {
		d.Inline = inlineUDFs(pool, filepath.Join(cfg.Python.CacheDir, "inline"), cfg.Python.Queue)
	}
	st.handler = web.New(d)
	return st, nil
}

// inlineUDFs makes Python handlers of code sent to POST /v1/run: the code is
// written, by its hash, to a file of its own under dir (readable by the server's
// user only), and the handlers of recent code are kept.
func inlineUDFs(pool *python.Pool, dir string, queue int) func(string) (layer.Handler, error) {
	var mu sync.Mutex
	recent := map[string]layer.Handler{}
	return func(code string) (layer.Handler, error) {
		sum := sha256.Sum256([]byte(code))
		name := hex.EncodeToString(sum[:12])
		mu.Lock()
		defer mu.Unlock()
		if h, ok := recent[name]; ok {
			return h, nil
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("inline code: %v", err)
		}
		p := filepath.Join(dir, "inline_"+name+".py")
		if _, err := os.Stat(p); err != nil {
			tmp := p + ".tmp"
			if err := os.WriteFile(tmp, []byte(code), 0o600); err != nil {
				return nil, fmt.Errorf("inline code: %v", err)
			}
			if err := os.Rename(tmp, p); err != nil {
				return nil, fmt.Errorf("inline code: %v", err)
			}
		}
		if len(recent) >= 64 {
			clear(recent)
		}
		h := python.NewUDF(pool, python.Options{Path: p, Queue: queue})
		recent[name] = h
		return h, nil
	}
}

// privateFiles are the paths of the private layers, which url= refuses; a
// private layer whose file lies under cog_urls.allow is named in the log, as
// the operator may not expect its file to be reachable that way.
func privateFiles(cfg *config.Config, log *slog.Logger) []string {
	var out []string
	for _, u := range cfg.UDFs {
		if u.IsPublic() || u.Path == "" {
			continue
		}
		files := []string{u.Path}
		if u.Handler == "stac" { // the item's assets are the layer's files too
			assets, err := cog.STACAssetFiles(u.Path)
			if err != nil {
				log.Warn("a private STAC layer's item cannot be read now: url= may name its assets until the server restarts with it readable", "udf", u.Name, "error", err.Error())
			}
			files = append(files, assets...)
		}
		if u.Handler == "cog" && cog.IsMosaic(u.Path, u.Paths) { // and a mosaic's files, as they are now
			asset := ""
			if len(u.Assets) > 0 {
				asset = u.Assets[0]
			}
			mf, err := cog.MosaicFiles(u.Path, u.Paths, asset)
			if err != nil {
				log.Warn("a private mosaic's files cannot be listed now: url= may name them until the server restarts with them readable", "udf", u.Name, "error", err.Error())
			}
			files = append(files, mf...)
		}
		for _, f := range files {
			out = append(out, f)
			if entry, ok := web.AllowCovers(f, cfg.COGURLs.Allow); ok {
				log.Warn("a private layer's file lies under cog_urls.allow; url= refuses it, but keep private files outside the allowed places",
					"udf", u.Name, "path", f, "allow", entry)
			}
		}
	}
	return out
}

// tokenRates are the rate limits of the shared tokens that have one.
func tokenRates(cfg *config.Config) map[string]web.Rate {
	out := map[string]web.Rate{}
	for _, tk := range cfg.Tokens {
		if tk.Rate > 0 {
			out[tk.Token] = web.Rate{PerSecond: tk.Rate, Burst: tk.Burst}
		}
	}
	return out
}

// Close stops the pool, then the cache tiers.
func (st *stack) Close() {
	for i := len(st.closers) - 1; i >= 0; i-- {
		st.closers[i]()
	}
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Parse(udftiles.DefaultConfig, "")
	}
	return config.Load(path)
}

// startPython starts the worker pool when a layer needs it.
func startPython(cfg *config.Config, log *slog.Logger, catalog bool) (*python.Pool, error) {
	udfs := map[string]any{}
	need := false
	for _, u := range cfg.UDFs {
		udfs[u.Name] = map[string]string{"path": u.Path, "kind": u.Handler}
		need = need || u.Handler == "python"
	}
	need = need || cfg.Auth.InlineCode || catalog
	if !need {
		return nil, nil
	}
	p := cfg.Python
	return python.NewPool(python.Config{
		Interpreter: p.Interpreter, Workers: p.Workers, Timeout: p.Timeout.Std(), MemoryMB: p.MemoryMB,
		MaxOutputMB: p.MaxOutputMB, MaxLogMB: p.MaxLogMB, MountDir: p.MountDir, Repos: p.Repos, StorageFD: cfg.Storage.FD,
		CacheDir: p.CacheDir, Secrets: cfg.Secrets, Preload: p.Preload, UDFs: udfs,
		Server: loopbackURL(cfg.Server.Listen), Logger: log,
	})
}

// mayEdit reports whether some bearer may save UDFs (an editor or an admin).
func mayEdit(cfg *config.Config) bool {
	for _, b := range cfg.Auth.Bearer {
		if b.IsAdmin() || b.IsEditor() {
			return true
		}
	}
	return cfg.AdminToken != ""
}

// openStore opens the database of store.url and migrates it; nil when
// store.url is none.
func openStore(cfg *config.Config, log *slog.Logger) (*store.Store, error) {
	u := cfg.Store.URL
	if u == config.StoreOff {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := store.Open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("store.url %s: %v (set store.url in the config, or UDFTILES_STORE_URL; %q turns the catalog off)", redact(u), err, config.StoreOff)
	}
	v, _ := db.SchemaVersion(ctx)
	log.Info("store", "url", redact(u), "dialect", db.Dialect(), "schema", v)
	return db, nil
}

// openQueue opens the job queue on the store: server.jobs_workers items at
// once on this replica (default twice python.workers, at least 4).
func openQueue(cfg *config.Config, db *store.Store, m *metrics.Set, log *slog.Logger) (*jobs.Queue, error) {
	workers := cfg.Server.JobsWorkers
	if workers <= 0 {
		workers = max(4, 2*cfg.Python.Workers)
	}
	lim := cfg.Limits
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := jobs.QueueOptions{Logger: log, Metrics: m, Workers: workers,
		Replica:     cmp.Or(cfg.Server.Replica, os.Getenv("UDFTILES_REPLICA")),
		RescueAfter: cfg.Server.JobsRescueAfter.Std(), RunTimeout: cfg.Python.Timeout.Std(), TTL: cfg.Server.JobsTTL.Std(),
		MaxRunning: lim.MaxJobsRunning, MaxStored: lim.MaxJobsStored, MaxResultBytes: int64(lim.MaxJobResultMB) << 20,
		ResultInline: cfg.Server.JobsResultInlineKB << 10}
	if s3c := cfg.Cache.S3; s3c.Bucket != "" {
		// Large results of items live in the S3 tier's bucket, under its
		// prefix: <prefix>/_jobs/<job id>/ (layer names begin with a letter or
		// a digit: a purge of a layer never reaches them).
		o.Results = jobs.NewS3Results(s3client.New(s3client.Options{Endpoint: s3c.Endpoint, Region: s3c.Region,
			AccessKey: s3c.AccessKey, SecretKey: s3c.SecretKey, PathStyle: s3c.PathStyle}), s3c.Bucket, s3c.Prefix)
	}
	q, err := jobs.NewQueue(ctx, db, o)
	if err != nil {
		return nil, fmt.Errorf("store.url %s: the job queue: %v", redact(cfg.Store.URL), err)
	}
	return q, nil
}

// redact hides a URL's password.
func redact(s string) string {
	if p, err := url.Parse(s); err == nil && p.User != nil {
		return p.Redacted()
	}
	return s
}

// loopbackURL is how workers reach this server for fused.run of non-Python layers.
func loopbackURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func tokens(cfg *config.Config) map[string]string {
	t := map[string]string{}
	for _, tk := range cfg.Tokens {
		t[tk.Token] = tk.UDF
	}
	return t
}

// kinds are the kinds of layer this server builds: the built-in ones and
// those added with WithKind.
func (s *settings) layerKinds(pool *python.Pool, cfg *config.Config, log *slog.Logger) *layer.Kinds {
	k := &layer.Kinds{}
	k.Register("cog", cog.Factory)
	k.Register("stac", cog.STACFactory)
	k.Register("vector", vector.Factory(log))
	k.Register("python", python.Factory(pool, cfg.Python.Queue))
	k.Register("go", s.goHandlers.Factory)
	k.Register("plugin", gohandler.PluginFactory)
	for kind, f := range s.kinds {
		k.Register(kind, f)
	}
	return k
}

// checkKinds refuses a config naming a kind of layer this build does not serve.
func checkKinds(cfg *config.Config, kinds *layer.Kinds) error {
	for i, u := range cfg.UDFs {
		if !kinds.Has(u.Handler) {
			return fmt.Errorf("config: udfs[%d].handler: want one of %s (the kinds this build serves), got %q", i, strings.Join(kinds.Names(), ", "), u.Handler)
		}
	}
	return nil
}

// buildRegistry turns config entries into layers; a layer that cannot be built is
// kept with its error, so that it is listed and explains itself.
func buildRegistry(cfg *config.Config, kinds *layer.Kinds) *layer.Registry {
	reg := layer.NewRegistry()
	for _, u := range cfg.UDFs {
		l := &layer.Layer{Name: u.Name, Kind: u.Handler, Description: u.Description, MVTLayer: u.MVTLayer,
			MaxAge: cfg.Cache.DefaultMaxAge.Std(), Defaults: url.Values{}, Private: !u.IsPublic(), Source: layer.SourceConfig}
		if u.CacheMaxAge != nil {
			l.MaxAge, l.MaxAgeSet = u.CacheMaxAge.Std(), true
		}
		if u.Colormap != "" {
			l.Defaults.Set("colormap", u.Colormap)
		}
		for _, r := range u.Rescale {
			l.Defaults.Add("rescale", strconv.FormatFloat(r[0], 'g', -1, 64)+","+strconv.FormatFloat(r[1], 'g', -1, 64))
		}
		l.Handler, l.Err = kinds.New(u)
		reg.Add(l)
	}
	return reg
}
