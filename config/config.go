// Package config reads config.yaml: the schema, defaults, ${ENV} expansion and
// validation with key paths in every error.
package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole server configuration.
type Config struct {
	Server  Server            `yaml:"server"`
	Cache   Cache             `yaml:"cache"`
	Python  Python            `yaml:"python"`
	UDFs    []UDF             `yaml:"udfs"`
	Tokens  []Token           `yaml:"tokens"`
	Secrets map[string]string `yaml:"secrets"` // fused.secrets[...] in Python UDFs
	// AdminToken is a bearer token of admin routes, in plain text; "" = none.
	// auth.bearer, which stores tokens hashed, is the better place for it.
	AdminToken string  `yaml:"admin_token"`
	Auth       Auth    `yaml:"auth"`
	Limits     Limits  `yaml:"limits"`
	COGURLs    COGURLs `yaml:"cog_urls"`
	Storage    Storage `yaml:"storage"`
	Store      Store   `yaml:"store"`
}

// Store is the database of the catalog (UDFs saved at run time, their
// versions and share tokens) and of the change log replicas follow.
type Store struct {
	// URL is sqlite:///abs/path.db (embedded, one replica), sqlite://rel/path.db
	// (beside the config file), postgres://user@host/db (replicas share it),
	// or none (no catalog). Default: $UDFTILES_STORE_URL, else
	// sqlite:///var/lib/udftiles/udftiles.db.
	URL string `yaml:"url"`
	// DraftsTTL: Workbench drafts not run for this long are deleted from
	// the store, and their code files (and those written to check code
	// before a save) from python.cache_dir (default 1h).
	DraftsTTL Duration `yaml:"drafts_ttl"`
	// ChangesTTL: entries of the change log older than this are deleted
	// (default 24h; the newest is always kept). Replicas read the log
	// within a second of each change; one cut off from the store for
	// longer than this should be restarted.
	ChangesTTL Duration `yaml:"changes_ttl"`
}

// DefaultStoreURL is store.url when neither the config nor
// $UDFTILES_STORE_URL sets it.
const DefaultStoreURL = "sqlite:///var/lib/udftiles/udftiles.db"

// StoreOff is the store.url that turns the store and the catalog off.
const StoreOff = "none"

// Storage is what UDFs read and write through fused.api and fused.download
// of s3:// paths: the server does it for them, with its own credentials.
type Storage struct {
	// Allow lists the prefixes UDFs may use: s3://bucket/prefix/ or an
	// absolute directory. Empty: UDFs have no storage.
	Allow []string `yaml:"allow"`
	// FD is what fd:// paths (Fused's own bucket) stand for: an s3:// prefix
	// or a directory under Allow; "" = fd:// paths are refused.
	FD string `yaml:"fd"`
	// S3 are the endpoint and credentials of s3:// prefixes ("" = AWS and
	// the environment's AWS_* variables).
	S3 StorageS3 `yaml:"s3"`
}

// StorageS3 is the S3 endpoint of storage.
type StorageS3 struct {
	Endpoint  string `yaml:"endpoint"`
	Region    string `yaml:"region"`
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
	PathStyle *bool  `yaml:"path_style"`
}

// COGURLs turns on tiles of any COG named by url= (GET /v1/cog/tiles/...), for
// the places listed.
type COGURLs struct {
	// Allow lists the URL prefixes and directories COGs may come from:
	// https://host/path/, s3://bucket/prefix/ or /absolute/dir. Empty = off.
	Allow []string `yaml:"allow"`
}

// Auth lists the bearer tokens the server accepts (Authorization: Bearer
// <token>) and what they may do.
type Auth struct {
	Bearer []Bearer `yaml:"bearer"`
	// InlineCode turns on POST /v1/run, which runs Python code sent in the
	// request, for admin tokens only. Off by default.
	InlineCode bool `yaml:"inline_code"`
	// AnonymousJobControl lets anyone holding the id of an anonymous job
	// (one submitted without a token) cancel, retry or delete it. Off by
	// default: that takes an admin token. Reading its status and results
	// takes only the id either way.
	AnonymousJobControl bool `yaml:"anonymous_job_control"`
	// Metrics says who may read /metrics: public (the default: anyone, with
	// private layers' series folded into udf="(private)" for requests
	// without a token), token (any auth.bearer token) or admin (admin
	// tokens only).
	Metrics string `yaml:"metrics"`
}

// MetricsAccess are the values of auth.metrics.
var MetricsAccess = []string{"public", "token", "admin"}

// Bearer is one token, stored as its SHA-256 (tileserver hash-token makes one).
type Bearer struct {
	Name   string `yaml:"name"`   // what logs and errors call it; never the token
	SHA256 string `yaml:"sha256"` // 64 hex digits
	Admin  bool   `yaml:"admin"`  // cache purges, profiles, inline code; else private UDFs only
	// Role is admin, editor (saves UDFs to the catalog, shares and deletes its
	// own, runs drafts) or reader (private UDFs only); "" = admin when Admin
	// is set, else reader.
	Role string `yaml:"role"`
}

// Roles are the values of auth.bearer[].role.
var Roles = []string{"admin", "editor", "reader"}

// IsAdmin reports whether the bearer has the admin role.
func (b Bearer) IsAdmin() bool { return b.Admin || b.Role == "admin" }

// IsEditor reports whether the bearer has the editor role.
func (b Bearer) IsEditor() bool { return b.Role == "editor" }

// Limits bound what one request, and one client, may ask of the server.
type Limits struct {
	MaxTileSize   int   `yaml:"max_tile_size"`   // largest tilesize= in pixels (default 512)
	MaxParams     int   `yaml:"max_params"`      // query parameters per request (default 64)
	MaxParamBytes int   `yaml:"max_param_bytes"` // bytes of one parameter's name or value (default 64 KiB)
	MaxBodyBytes  int64 `yaml:"max_body_bytes"`  // request body (default 1 MiB)
	// RatePerClient is the requests per second one client address may make,
	// as a token bucket of BurstPerClient (default 2 s of rate); 0 = no limit.
	RatePerClient  float64 `yaml:"rate_per_client"`
	BurstPerClient int     `yaml:"burst_per_client"`
	// TrustProxy is the older spelling of server.trust_proxy; either one
	// being true trusts the proxy.
	TrustProxy bool `yaml:"trust_proxy"`
	// MaxRenders bounds the tiles and runs rendered at once (default 4 per
	// CPU); up to MaxRenderQueue more wait (default 64 per CPU), and past that
	// a request gets 503 with Retry-After.
	MaxRenders     int `yaml:"max_renders"`
	MaxRenderQueue int `yaml:"max_render_queue"`
	// MaxSubmitItems bounds the items of one submitted job (default 10000).
	MaxSubmitItems int `yaml:"max_submit_items"`
	// MaxJobsRunning bounds the jobs one client has running at once (default
	// 4), MaxJobsStored those it has kept, running or ended (default 100):
	// a submit past either is a 429 with Retry-After. A client is a bearer
	// token, or for anonymous submits the client address (as the rate limit
	// tells clients apart, trust_proxy included).
	MaxJobsRunning int `yaml:"max_jobs_running"`
	MaxJobsStored  int `yaml:"max_jobs_stored"`
	// MaxJobResultMB bounds the results one job keeps, in MiB (default
	// 1024): the items past it end in error (413).
	MaxJobResultMB int `yaml:"max_job_result_mb"`
}

// Server holds listener and URL settings.
type Server struct {
	Listen      string   `yaml:"listen"`
	PublicURL   string   `yaml:"public_url"`
	CORSOrigins []string `yaml:"cors_origins"`
	// TrustProxy: the server is behind a proxy that sets X-Forwarded-For,
	// X-Forwarded-Proto and X-Forwarded-Host; the client address is taken
	// from the first, the base of URLs in documents (without public_url) from
	// the others. Off, those headers are ignored. limits.trust_proxy, its
	// older spelling, means the same.
	TrustProxy bool `yaml:"trust_proxy"`
	// Timeouts of the HTTP server (see net/http.Server).
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"` // default 10s
	ReadTimeout       Duration `yaml:"read_timeout"`        // the whole request, body included; default 30s
	// WriteTimeout bounds a response from the end of its request's headers;
	// default python.timeout + 30s, so that the slowest render still answers.
	WriteTimeout Duration `yaml:"write_timeout"`
	IdleTimeout  Duration `yaml:"idle_timeout"` // keep-alive; default 120s
	// DrainTimeout bounds the graceful stop on SIGTERM (default 20s).
	DrainTimeout Duration `yaml:"drain_timeout"`
	// JobsDir keeps submitted jobs and their results (default: udftiles-jobs
	// in the system's temporary directory).
	JobsDir string `yaml:"jobs_dir"`
	// JobsTTL is how long a job is kept once it has ended (default 7d);
	// expired jobs are removed at start-up and by an hourly sweep.
	JobsTTL Duration `yaml:"jobs_ttl"`
	// With a store (store.url), jobs live in it and every replica runs
	// their items. JobsWorkers is how many items this replica runs at once
	// (default twice python.workers, at least 4); JobsRescueAfter how long
	// a replica may stay silent before the items it was running are run
	// again by the others (default 15s). Replica names this server in the
	// items it runs (default $UDFTILES_REPLICA, else the host's name and
	// the process id).
	JobsWorkers     int      `yaml:"jobs_workers"`
	JobsRescueAfter Duration `yaml:"jobs_rescue_after"`
	Replica         string   `yaml:"replica"`
	// JobsResultInlineKB is the largest result of a job's item kept in the
	// store's row (default 64): with an S3 tier (cache.s3), larger ones are
	// objects under <cache.s3.prefix>/jobs/<job id>/, deleted with their job.
	JobsResultInlineKB int `yaml:"jobs_result_inline_kb"`
	// GDALCacheMB is GDAL's block cache (default 256; GDAL_CACHEMAX in the
	// environment wins). GDAL's own default, 5% of RAM, warps uncached tiles
	// of a few layers faster under concurrency, at the cost of memory.
	GDALCacheMB int `yaml:"gdal_cache_mb"`
}

// Cache sizes the tiers and sets the default freshness.
type Cache struct {
	MemoryMB      int      `yaml:"memory_mb"`
	DefaultMaxAge Duration `yaml:"default_max_age"`
	// MaxAgeLimit caps a request's cache_max_age= (default 365d).
	MaxAgeLimit Duration `yaml:"max_age_limit"`
	S3          S3       `yaml:"s3"`
}

// S3 is the shared cache tier; it is on when Bucket is set.
type S3 struct {
	Bucket    string `yaml:"bucket"`
	Prefix    string `yaml:"prefix"`
	Endpoint  string `yaml:"endpoint"` // an S3-compatible server (MinIO); "" = AWS
	Region    string `yaml:"region"`
	AccessKey string `yaml:"access_key"` // "" = AWS_ACCESS_KEY_ID
	SecretKey string `yaml:"secret_key"` // "" = AWS_SECRET_ACCESS_KEY
	// PathStyle addresses buckets in the path (default: on with an endpoint).
	PathStyle    *bool    `yaml:"path_style"`
	ReadTimeout  Duration `yaml:"read_timeout"`  // default 0.25s
	WriteTimeout Duration `yaml:"write_timeout"` // default 10s
}

// Python configures the UDF worker pool.
type Python struct {
	Interpreter string   `yaml:"interpreter"`
	Workers     int      `yaml:"workers"`
	Timeout     Duration `yaml:"timeout"`
	MemoryMB    int      `yaml:"memory_mb"`
	CacheDir    string   `yaml:"cache_dir"` // @fused.cache and fused.download
	Preload     []string `yaml:"preload"`   // modules imported when a worker starts
	Queue       int      `yaml:"queue"`     // calls waiting per UDF before 503; 0 = 4 per worker
	// MaxOutputMB bounds the result of one call (default 256): past it the
	// call is a 413.
	MaxOutputMB int `yaml:"max_output_mb"`
	// MaxLogMB bounds what one call may print (default 64): past it the call
	// fails with a 500 and its logs cut.
	MaxLogMB int `yaml:"max_log_mb"`
	// MountDir is the shared folder of fused.file_path (Fused's /mount):
	// each UDF owner has a folder in it, whose .env is loaded for the
	// owner's UDFs. "" = python.cache_dir/mount.
	MountDir string `yaml:"mount_dir"`
	// Repos maps GitHub repositories ("github.com/owner/name") to local git
	// checkouts: fused.load of a URL into one reads the UDF from the
	// checkout at the URL's commit or branch, with no network.
	Repos map[string]string `yaml:"repos"`
}

// Token grants anonymous use of one UDF through the shared-token routes.
type Token struct {
	Token string `yaml:"token"`
	UDF   string `yaml:"udf"`
	// Rate is the requests per second this token allows, all its users
	// together, as a token bucket of Burst (default 2 s of rate); 0 = no limit.
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
}

// UDF is one served layer.
type UDF struct {
	Name        string    `yaml:"name"`
	Handler     string    `yaml:"handler"`
	Path        string    `yaml:"path"`
	Description string    `yaml:"description"`
	Bands       []int     `yaml:"bands"`
	Rescale     Rescale   `yaml:"rescale"`
	Colormap    string    `yaml:"colormap"`
	NoData      *float64  `yaml:"nodata"`
	Resampling  string    `yaml:"resampling"`
	MinZoom     *int      `yaml:"minzoom"`
	MaxZoom     *int      `yaml:"maxzoom"`
	CacheMaxAge *Duration `yaml:"cache_max_age"`
	Timeout     *Duration `yaml:"timeout"` // python: per-call limit, default python.timeout
	// Bounds is where a Python UDF has data, [xmin, ymin, xmax, ymax] in lon/lat:
	// tiles outside answer 404 and maps open there. Default: the whole world.
	Bounds []float64 `yaml:"bounds"`
	// MVTLayer names the layer inside the layer's vector tiles (default "udf").
	MVTLayer string `yaml:"mvt_layer"`
	// Go names a Go handler compiled into the server (handler: go); the name is
	// checked when the server builds its layers.
	Go string `yaml:"go"`
	// Options are passed as they are to a go or plugin handler's factory.
	Options map[string]any `yaml:"options"`
	// Paths are the files of a cog mosaic given as a YAML list in path:
	// (Path is then the first of them); nil for a single path.
	Paths []string `yaml:"-"`
	// Assets names the asset a cog mosaic reads of each item of a STAC
	// ItemCollection; default the first GeoTIFF of each. For handler stac
	// (path: a STAC Item), the assets read when a request names none.
	Assets []string `yaml:"assets"`
	// Layer is the layer of the file a vector handler serves; "" = the first.
	Layer string `yaml:"layer"`
	// MaxFeatures bounds the features of one vector tile or run (default 20000).
	MaxFeatures *int `yaml:"max_features"`
	// Columns are the properties a vector layer serves and filters on (default all).
	Columns []string `yaml:"columns"`
	// Env are environment variables set for the UDF's calls (python).
	Env map[string]string `yaml:"env"`
	// Public: false makes the layer private: it answers only requests with a
	// bearer token (auth.bearer) or through a shared token, and anonymous
	// listings leave it out. Default true.
	Public *bool `yaml:"public"`
}

// IsPublic reports whether anonymous requests may use the layer.
func (u UDF) IsPublic() bool { return u.Public == nil || *u.Public }

// Handlers are the built-in kinds of layer, whose keys the config knows; a
// server may be built with more (cli.WithKind).
var Handlers = []string{"cog", "vector", "python", "go", "plugin", "stac"}

// MaxFeaturesLimit is the largest max_features accepted: beyond it a tile is
// too large to encode in reasonable time.
const MaxFeaturesLimit = 1000000

// Resamplings are the accepted resampling names, as GDAL spells them.
var Resamplings = []string{"nearest", "bilinear", "cubic", "cubicspline", "lanczos", "average", "mode", "min", "max", "med", "q1", "q3", "rms", "sum"}

// Load reads a config file. Relative data paths are resolved against the file's folder.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(b, filepath.Dir(path))
}

// Parse parses config YAML; relative data paths are joined to baseDir ("" keeps them as they are).
func Parse(b []byte, baseDir string) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("config: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	// Expand in values only, so comments may mention ${VAR} freely.
	if err := expandNode(&doc); err != nil {
		return nil, err
	}
	lists, err := pathLists(&doc)
	if err != nil {
		return nil, err
	}
	expanded, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("config: %v", err)
	}
	c := Defaults()
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) { // an empty file means all defaults
		return nil, located(err, &doc, expanded)
	}
	for i, list := range lists {
		if i < len(c.UDFs) {
			c.UDFs[i].Paths = list
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	for i := range c.UDFs {
		c.UDFs[i].Path = resolve(baseDir, c.UDFs[i].Path)
		for k, p := range c.UDFs[i].Paths {
			c.UDFs[i].Paths[k] = resolve(baseDir, p)
		}
	}
	c.Python.CacheDir = resolve(baseDir, c.Python.CacheDir)
	c.Python.MountDir = resolve(baseDir, c.Python.MountDir)
	for k, v := range c.Python.Repos {
		c.Python.Repos[k] = resolve(baseDir, v)
	}
	c.Server.JobsDir = resolve(baseDir, c.Server.JobsDir)
	if rest, ok := strings.CutPrefix(c.Store.URL, "sqlite://"); ok && rest != "" && !strings.HasPrefix(rest, "/") && !strings.HasPrefix(rest, ":memory:") {
		c.Store.URL = "sqlite://" + resolve(baseDir, rest)
	}
	return c, nil
}

func resolve(base, p string) string {
	if base == "" || p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "/vsi") || strings.Contains(p, "://") {
		return p
	}
	return filepath.Join(base, p)
}

// Defaults returns a config with every default filled in and no layers.
func Defaults() *Config {
	return &Config{
		Server: Server{Listen: ":8080", CORSOrigins: []string{"*"}, JobsDir: filepath.Join(os.TempDir(), "udftiles-jobs"), JobsTTL: Duration(7 * 24 * time.Hour)},
		Cache: Cache{MemoryMB: 512, DefaultMaxAge: Duration(90 * 24 * time.Hour), MaxAgeLimit: Duration(365 * 24 * time.Hour),
			S3: S3{Prefix: "udftiles", Region: "us-east-1", ReadTimeout: Duration(250 * time.Millisecond), WriteTimeout: Duration(10 * time.Second)}},
		Python: Python{Interpreter: "/usr/bin/python3", Workers: 2, Timeout: Duration(120 * time.Second), MemoryMB: 2048,
			CacheDir: filepath.Join(os.TempDir(), "udftiles-cache"), Preload: []string{"numpy", "pandas", "geopandas", "shapely"}},
		Limits: Limits{MaxTileSize: 512, MaxParams: 64, MaxParamBytes: 64 << 10, MaxBodyBytes: 1 << 20},
		Store: Store{URL: cmp.Or(os.Getenv("UDFTILES_STORE_URL"), DefaultStoreURL),
			DraftsTTL: Duration(time.Hour), ChangesTTL: Duration(24 * time.Hour)},
	}
}

// TrustsProxy reports whether X-Forwarded-* headers are believed:
// server.trust_proxy, or its older spelling limits.trust_proxy.
func (c *Config) TrustsProxy() bool { return c.Server.TrustProxy || c.Limits.TrustProxy }

// Timeouts returns the server's timeouts with their defaults filled in.
func (c *Config) Timeouts() (readHeader, read, write, idle, drain time.Duration) {
	or := func(d Duration, def time.Duration) time.Duration {
		if d > 0 {
			return d.Std()
		}
		return def
	}
	return or(c.Server.ReadHeaderTimeout, 10*time.Second), or(c.Server.ReadTimeout, 30*time.Second),
		or(c.Server.WriteTimeout, c.Python.Timeout.Std()+30*time.Second), or(c.Server.IdleTimeout, 120*time.Second),
		or(c.Server.DrainTimeout, 20*time.Second)
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandNode replaces ${VAR} and ${VAR:-default} in every scalar value; an unset
// VAR without a default is an error naming the line.
func expandNode(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		var missing string
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
			g := envRef.FindStringSubmatch(m)
			// As in the shell, ${VAR:-default} also replaces a VAR that is set but empty.
			if v, ok := os.LookupEnv(g[1]); ok && (v != "" || g[2] == "") {
				return v
			}
			if g[2] != "" {
				return g[3]
			}
			missing = g[1]
			return ""
		})
		if missing != "" {
			return fmt.Errorf("config: line %d: environment variable %s is not set (use ${%s:-default} for a fallback)", n.Line, missing, missing)
		}
		// A value that came from the environment is data, not YAML syntax.
		n.Tag, n.Style = "", 0
	}
	for _, c := range n.Content {
		if err := expandNode(c); err != nil {
			return err
		}
	}
	return nil
}

var lineRef = regexp.MustCompile(`line (\d+)`)

// located rewrites the "line N" of a decode error, which counts lines of the
// re-marshalled document, as the key path and the line in the file as written.
func located(err error, orig *yaml.Node, expanded []byte) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var doc yaml.Node
	if yaml.Unmarshal(expanded, &doc) == nil {
		where := map[int]string{}
		keyPaths(&doc, orig, "", where)
		msg = lineRef.ReplaceAllStringFunc(msg, func(m string) string {
			n, _ := strconv.Atoi(m[len("line "):])
			if w, ok := where[n]; ok {
				return w
			}
			return m
		})
	}
	return fmt.Errorf("config: %s", msg)
}

// keyPaths walks the re-marshalled tree m beside the original tree o (same shape)
// and records, for each line of m, "path (line N)" of the first node on it.
func keyPaths(m, o *yaml.Node, path string, where map[int]string) {
	if len(m.Content) != len(o.Content) {
		return
	}
	at := func(mn, on *yaml.Node, p string) {
		if _, ok := where[mn.Line]; !ok && p != "" {
			where[mn.Line] = fmt.Sprintf("%s (line %d)", p, on.Line)
		}
	}
	switch m.Kind {
	case yaml.DocumentNode:
		for i := range m.Content {
			keyPaths(m.Content[i], o.Content[i], path, where)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(m.Content); i += 2 {
			p := m.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			at(m.Content[i], o.Content[i], p)
			keyPaths(m.Content[i+1], o.Content[i+1], p, where)
		}
	case yaml.SequenceNode:
		for i := range m.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			// A block mapping's first key names its line better than the item does.
			if item := m.Content[i]; item.Kind != yaml.MappingNode || item.Style&yaml.FlowStyle != 0 {
				at(item, o.Content[i], p)
			}
			keyPaths(m.Content[i], o.Content[i], p, where)
		}
	}
}
