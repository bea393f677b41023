package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/udftiles/udftiles/colormap"
	"github.com/udftiles/udftiles/tiles"
)

var layerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// repoKey is a repository of python.repos: host/owner/name.
var repoKey = regexp.MustCompile(`^[A-Za-z0-9.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

// Validate checks every value and reports the first problem with its key path and the fix.
func (c *Config) Validate() error {
	if c.Cache.MemoryMB < 0 {
		return fmt.Errorf("config: cache.memory_mb: want 0 (off) or a positive size in MiB, got %d", c.Cache.MemoryMB)
	}
	if c.Python.Workers < 1 {
		return fmt.Errorf("config: python.workers: want at least 1, got %d", c.Python.Workers)
	}
	if c.Python.MaxOutputMB < 0 || c.Python.MaxOutputMB > 4000 {
		return fmt.Errorf("config: python.max_output_mb: want 1 to 4000 (0 = 256), got %d", c.Python.MaxOutputMB)
	}
	if c.Python.MaxLogMB < 0 || c.Python.MaxLogMB > 4000 {
		return fmt.Errorf("config: python.max_log_mb: want 1 to 4000 (0 = 64), got %d", c.Python.MaxLogMB)
	}
	for k, dir := range c.Python.Repos {
		if !repoKey.MatchString(k) {
			return fmt.Errorf("config: python.repos: want keys like github.com/owner/name, got %q", k)
		}
		if dir == "" {
			return fmt.Errorf("config: python.repos[%q]: want the folder of a local git checkout", k)
		}
	}
	if u := c.Server.PublicURL; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return fmt.Errorf("config: server.public_url: want an absolute http(s) URL, got %q", u)
	}
	seen := map[string]int{}
	for i, u := range c.UDFs {
		at := fmt.Sprintf("config: udfs[%d]", i)
		if !layerName.MatchString(u.Name) {
			return fmt.Errorf("%s.name: want letters, digits, '_', '-' or '.', at most 64, got %q", at, u.Name)
		}
		if j, dup := seen[u.Name]; dup {
			return fmt.Errorf("%s.name: %q is already used by udfs[%d]", at, u.Name, j)
		}
		seen[u.Name] = i
		// Kinds beyond the built-in ones are added to a server in Go (see
		// layer.Kinds); the server checks the names it was built with.
		builtin := contains(Handlers, u.Handler)
		if !builtin && !kindName.MatchString(u.Handler) {
			return fmt.Errorf("%s.handler: want one of %s, or the name of a kind compiled into the server, got %q", at, strings.Join(Handlers, ", "), u.Handler)
		}
		switch {
		case u.Handler == "go" && u.Go == "":
			return fmt.Errorf("%s.go: required with handler go: the name of a Go handler compiled into the server (e.g. tilegrid)", at)
		case u.Handler == "go" && u.Path != "":
			return fmt.Errorf("%s.path: not used by handler go; give the handler its settings in options", at)
		case u.Handler != "go" && u.Go != "":
			return fmt.Errorf("%s.go: only for handler go, got handler %q", at, u.Handler)
		case builtin && u.Handler != "go" && u.Path == "":
			return fmt.Errorf("%s.path: required: the file this layer serves", at)
		case u.Options != nil && (u.Handler == "cog" || u.Handler == "vector" || u.Handler == "python" || u.Handler == "stac"):
			return fmt.Errorf("%s.options: not for handler %s (its settings have keys of their own)", at, u.Handler)
		}
		if len(u.Paths) > 0 && u.Handler != "cog" {
			return fmt.Errorf("%s.path: a list of files is a mosaic, for handler cog only; handler %s serves one file", at, u.Handler)
		}
		if len(u.Assets) > 0 && u.Handler != "cog" && u.Handler != "stac" {
			return fmt.Errorf("%s.assets: only for handler cog (the asset a mosaic reads of each STAC item) and stac (the item's assets read by default), got handler %q", at, u.Handler)
		}
		for k, a := range u.Assets {
			if a == "" {
				return fmt.Errorf("%s.assets[%d]: want an asset name, got \"\"", at, k)
			}
		}
		if len(u.Env) > 0 && u.Handler != "python" {
			return fmt.Errorf("%s.env: only for handler python, got handler %q", at, u.Handler)
		}
		if err := validateVector(at, u); err != nil {
			return err
		}
		if u.Colormap != "" {
			if _, err := colormap.Parse(u.Colormap); err != nil {
				return fmt.Errorf("%s.colormap: %v", at, err)
			}
		}
		if u.Resampling != "" && !contains(Resamplings, u.Resampling) {
			return fmt.Errorf("%s.resampling: want one of %s, got %q", at, strings.Join(Resamplings, ", "), u.Resampling)
		}
		for k, b := range u.Bands {
			if b < 1 {
				return fmt.Errorf("%s.bands[%d]: band numbers start at 1, got %d", at, k, b)
			}
		}
		if u.Bounds != nil {
			if len(u.Bounds) != 4 {
				return fmt.Errorf("%s.bounds: want [xmin, ymin, xmax, ymax] in lon/lat, got %d numbers", at, len(u.Bounds))
			}
			if err := (tiles.Bounds{MinX: u.Bounds[0], MinY: u.Bounds[1], MaxX: u.Bounds[2], MaxY: u.Bounds[3]}).Validate(); err != nil {
				return fmt.Errorf("%s.bounds: %v", at, err)
			}
		}
		for k, r := range u.Rescale {
			if !(r[0] < r[1]) {
				return fmt.Errorf("%s.rescale[%d]: want [min, max] with min < max, got [%g, %g]", at, k, r[0], r[1])
			}
		}
		lo, hi := 0, 24
		if u.MinZoom != nil {
			lo = *u.MinZoom
		}
		if u.MaxZoom != nil {
			hi = *u.MaxZoom
		}
		if lo < 0 || hi > tiles.MaxZoom || lo > hi {
			return fmt.Errorf("%s: minzoom %d / maxzoom %d: want 0 <= minzoom <= maxzoom <= %d", at, lo, hi, tiles.MaxZoom)
		}
	}
	for i, t := range c.Tokens {
		if t.Token == "" {
			return fmt.Errorf("config: tokens[%d].token: required", i)
		}
		if _, ok := seen[t.UDF]; !ok {
			return fmt.Errorf("config: tokens[%d].udf: no layer named %q", i, t.UDF)
		}
		if t.Rate < 0 || t.Burst < 0 {
			return fmt.Errorf("config: tokens[%d]: rate and burst: want 0 (no limit) or more, got %g and %d", i, t.Rate, t.Burst)
		}
	}
	if err := c.validateStorage(); err != nil {
		return err
	}
	return c.validateAuth()
}

// validateStorage checks storage.allow and storage.fd.
func (c *Config) validateStorage() error {
	for i, a := range c.Storage.Allow {
		s3 := strings.HasPrefix(a, "s3://") && len(strings.TrimPrefix(a, "s3://")) > 0 && !strings.HasPrefix(strings.TrimPrefix(a, "s3://"), "/")
		dir := strings.HasPrefix(a, "/") && !strings.HasPrefix(a, "/vsi")
		if !s3 && !dir || strings.Contains(a, "..") {
			return fmt.Errorf("config: storage.allow[%d]: want s3://bucket/prefix/ or an absolute directory, got %q", i, a)
		}
	}
	if fd := c.Storage.FD; fd != "" {
		under := false
		for _, a := range c.Storage.Allow {
			under = under || strings.HasPrefix(strings.TrimSuffix(fd, "/")+"/", strings.TrimSuffix(a, "/")+"/")
		}
		if !under {
			return fmt.Errorf("config: storage.fd: %q is not under storage.allow", fd)
		}
	}
	return nil
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// kindName is how a kind of layer compiled into a server may be named.
var kindName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// validateAuth checks auth, limits and the server's timeouts.
func (c *Config) validateAuth() error {
	names := map[string]int{}
	hashes := map[string]int{}
	for i, b := range c.Auth.Bearer {
		at := fmt.Sprintf("config: auth.bearer[%d]", i)
		if !layerName.MatchString(b.Name) {
			return fmt.Errorf("%s.name: want letters, digits, '_', '-' or '.', at most 64 (logs show it), got %q", at, b.Name)
		}
		if j, dup := names[b.Name]; dup {
			return fmt.Errorf("%s.name: %q is already used by auth.bearer[%d]", at, b.Name, j)
		}
		names[b.Name] = i
		h := strings.ToLower(b.SHA256)
		if !sha256Hex.MatchString(h) {
			return fmt.Errorf("%s.sha256: want the token's SHA-256 as 64 hex digits (tileserver hash-token prints it), got %d characters", at, len(b.SHA256))
		}
		if j, dup := hashes[h]; dup {
			return fmt.Errorf("%s.sha256: the same token as auth.bearer[%d]", at, j)
		}
		hashes[h] = i
		if b.Role != "" && !contains(Roles, b.Role) {
			return fmt.Errorf("%s.role: want one of %s, got %q", at, strings.Join(Roles, ", "), b.Role)
		}
		if b.Admin && b.Role != "" && b.Role != "admin" {
			return fmt.Errorf("%s: admin: true and role: %s disagree; give role alone", at, b.Role)
		}
	}
	if u := c.Store.URL; u != StoreOff && !strings.HasPrefix(u, "sqlite://") && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		return fmt.Errorf("config: store.url: want sqlite:///path/to/file.db, postgres://user@host/db or %s, got %q", StoreOff, redactURL(u))
	}
	if c.Store.DraftsTTL <= 0 {
		return fmt.Errorf("config: store.drafts_ttl: want a positive duration (e.g. 1h): how long an unused Workbench draft is kept, got %v", c.Store.DraftsTTL.Std())
	}
	if c.Store.ChangesTTL <= 0 {
		return fmt.Errorf("config: store.changes_ttl: want a positive duration (e.g. 24h): how long the change log keeps an entry, got %v", c.Store.ChangesTTL.Std())
	}
	if m := c.Auth.Metrics; m != "" && !contains(MetricsAccess, m) {
		return fmt.Errorf("config: auth.metrics: want one of %s, got %q", strings.Join(MetricsAccess, ", "), m)
	}
	for i, a := range c.COGURLs.Allow {
		ok := strings.HasPrefix(a, "/") && !strings.HasPrefix(a, "/vsi") && !strings.Contains(a, "..")
		for _, scheme := range []string{"https://", "http://", "s3://"} {
			if rest, found := strings.CutPrefix(a, scheme); found && rest != "" && !strings.HasPrefix(rest, "/") && !strings.Contains(rest, "@") && !strings.Contains(rest, "..") {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("config: cog_urls.allow[%d]: want https://host/path/, s3://bucket/prefix/ or an absolute directory, got %q", i, a)
		}
	}
	if c.Server.GDALCacheMB < 0 {
		return fmt.Errorf("config: server.gdal_cache_mb: want 0 (the default, 256) or a size in MiB, got %d", c.Server.GDALCacheMB)
	}
	l := c.Limits
	switch {
	case l.MaxTileSize < 256:
		return fmt.Errorf("config: limits.max_tile_size: want 256 or more pixels, got %d", l.MaxTileSize)
	case l.MaxParams < 1 || l.MaxParams > 10000:
		return fmt.Errorf("config: limits.max_params: want 1 to 10000 (Go reads no more parameters than that), got %d", l.MaxParams)
	case l.MaxParamBytes < 64:
		return fmt.Errorf("config: limits.max_param_bytes: want at least 64, got %d", l.MaxParamBytes)
	case l.MaxBodyBytes < 1024:
		return fmt.Errorf("config: limits.max_body_bytes: want at least 1024, got %d", l.MaxBodyBytes)
	case l.RatePerClient < 0 || l.BurstPerClient < 0:
		return fmt.Errorf("config: limits.rate_per_client and burst_per_client: want 0 (no limit) or more, got %g and %d", l.RatePerClient, l.BurstPerClient)
	case l.MaxSubmitItems < 0:
		return fmt.Errorf("config: limits.max_submit_items: want 0 (the default) or more, got %d", l.MaxSubmitItems)
	case l.MaxJobsRunning < 0:
		return fmt.Errorf("config: limits.max_jobs_running: want 0 (the default, 4) or more jobs per client, got %d", l.MaxJobsRunning)
	case l.MaxJobsStored < 0:
		return fmt.Errorf("config: limits.max_jobs_stored: want 0 (the default, 100) or more jobs per client, got %d", l.MaxJobsStored)
	case l.MaxJobResultMB < 0:
		return fmt.Errorf("config: limits.max_job_result_mb: want 0 (the default, 1024) or more MiB per job, got %d", l.MaxJobResultMB)
	case l.MaxRenders < 0 || l.MaxRenderQueue < 0:
		return fmt.Errorf("config: limits.max_renders and max_render_queue: want 0 (the default) or more, got %d and %d", l.MaxRenders, l.MaxRenderQueue)
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{{"read_header_timeout", c.Server.ReadHeaderTimeout}, {"read_timeout", c.Server.ReadTimeout}, {"write_timeout", c.Server.WriteTimeout},
		{"idle_timeout", c.Server.IdleTimeout}, {"drain_timeout", c.Server.DrainTimeout}} {
		if d.v < 0 {
			return fmt.Errorf("config: server.%s: want a positive duration (e.g. 30s), got %v", d.key, d.v.Std())
		}
	}
	if c.Server.JobsResultInlineKB < 0 {
		return fmt.Errorf("config: server.jobs_result_inline_kb: want 0 (the default, 64) or more KiB, got %d", c.Server.JobsResultInlineKB)
	}
	if c.Server.JobsWorkers < 0 {
		return fmt.Errorf("config: server.jobs_workers: want 0 (the default: twice python.workers) or more items run at once, got %d", c.Server.JobsWorkers)
	}
	if r := c.Server.JobsRescueAfter; r < 0 || (r > 0 && r.Std() < time.Second) {
		return fmt.Errorf("config: server.jobs_rescue_after: want 1s or more (default 15s): how long a silent replica's items wait before they run elsewhere, got %v", r.Std())
	}
	if c.Server.JobsTTL <= 0 {
		return fmt.Errorf("config: server.jobs_ttl: want a positive duration (e.g. 7d): how long an ended job is kept, got %v", c.Server.JobsTTL.Std())
	}
	return nil
}

// validateVector checks the keys of handler vector, and that only it uses them.
func validateVector(at string, u UDF) error {
	if u.Handler != "vector" {
		for _, k := range []struct {
			key string
			set bool
		}{{"layer", u.Layer != ""}, {"max_features", u.MaxFeatures != nil}, {"columns", u.Columns != nil}} {
			if k.set {
				return fmt.Errorf("%s.%s: only for handler vector, got handler %q", at, k.key, u.Handler)
			}
		}
		return nil
	}
	if m := u.MaxFeatures; m != nil && (*m < 1 || *m > MaxFeaturesLimit) {
		return fmt.Errorf("%s.max_features: want 1 to %d features per tile, got %d", at, MaxFeaturesLimit, *m)
	}
	seen := map[string]int{}
	for k, c := range u.Columns {
		if strings.TrimSpace(c) == "" {
			return fmt.Errorf("%s.columns[%d]: want a column name, got %q", at, k, c)
		}
		if j, dup := seen[c]; dup {
			return fmt.Errorf("%s.columns[%d]: %q is already listed at columns[%d]", at, k, c, j)
		}
		seen[c] = k
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// redactURL hides a URL's password (a store URL in an error or a log).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
