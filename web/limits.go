package web

import (
	"math"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/udftiles/udftiles/jobs"
	"github.com/udftiles/udftiles/layer"
)

// Limits bound what one request, and one client, may ask of the server. Zero
// values take the defaults of DefaultLimits.
type Limits struct {
	MaxTileSize   int   // largest tilesize= in pixels
	MaxParams     int   // query parameters per request
	MaxParamBytes int   // bytes of one parameter's name or value
	MaxBodyBytes  int64 // request body
	// RatePerClient is requests per second per client address, as a token
	// bucket of BurstPerClient; 0 = no limit.
	RatePerClient  float64
	BurstPerClient int
	// TrustProxy: a proxy in front sets X-Forwarded-For (the client address
	// is its first), X-Forwarded-Proto and X-Forwarded-Host (the base of the
	// URLs in documents); otherwise those headers are ignored.
	TrustProxy bool
	// MaxRenders bounds the handler runs at once; MaxRenderQueue more wait.
	MaxRenders     int
	MaxRenderQueue int
	// MaxSubmitItems bounds the items of one submitted job.
	MaxSubmitItems int
	// MaxJobsRunning and MaxJobsStored bound the jobs of one client (a
	// bearer token, or the address of anonymous submits) running and kept;
	// MaxJobResultMB the results one job keeps.
	MaxJobsRunning int
	MaxJobsStored  int
	MaxJobResultMB int
}

// DefaultLimits are the limits of a server configured with none.
func DefaultLimits() Limits {
	return Limits{MaxTileSize: 512, MaxParams: 64, MaxParamBytes: 64 << 10, MaxBodyBytes: 1 << 20,
		MaxRenders: 4 * runtime.NumCPU(), MaxRenderQueue: 64 * runtime.NumCPU(), MaxSubmitItems: DefaultMaxSubmitItems,
		MaxJobsRunning: jobs.DefaultMaxRunning, MaxJobsStored: jobs.DefaultMaxStored, MaxJobResultMB: jobs.DefaultMaxResultBytes >> 20}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxTileSize <= 0 {
		l.MaxTileSize = d.MaxTileSize
	}
	if l.MaxParams <= 0 {
		l.MaxParams = d.MaxParams
	}
	if l.MaxParamBytes <= 0 {
		l.MaxParamBytes = d.MaxParamBytes
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	if l.MaxRenders <= 0 {
		l.MaxRenders = d.MaxRenders
	}
	if l.MaxRenderQueue <= 0 {
		l.MaxRenderQueue = d.MaxRenderQueue
	}
	if l.MaxSubmitItems <= 0 {
		l.MaxSubmitItems = d.MaxSubmitItems
	}
	if l.MaxJobsRunning <= 0 {
		l.MaxJobsRunning = d.MaxJobsRunning
	}
	if l.MaxJobsStored <= 0 {
		l.MaxJobsStored = d.MaxJobsStored
	}
	if l.MaxJobResultMB <= 0 {
		l.MaxJobResultMB = d.MaxJobResultMB
	}
	if l.RatePerClient > 0 && l.BurstPerClient <= 0 {
		l.BurstPerClient = int(math.Ceil(2 * l.RatePerClient))
	}
	return l
}

// checkQuery enforces the parameter count and sizes, and that each parameter
// is given once (see repeatable). A query Go cannot parse whole (a ';'
// separator, a broken %-escape, more than 10,000 parameters) is refused:
// r.URL.Query() would silently drop those parts, or all of them.
func (s *api) checkQuery(r *http.Request) error {
	raw := r.URL.RawQuery
	if len(raw) > maxQuery {
		return layer.Errorf(layer.TooLarge, "the query string is over %d KiB; POST large parameters to the layer's /run as a JSON body (up to %d bytes)",
			maxQuery>>10, s.limits.MaxBodyBytes)
	}
	// Most queries are short: no parameter can be over the limit, nor too
	// many of them, and there is no tilesize to look at; repeated names are
	// found by comparing them as written.
	also := repeatableOn(r.URL.Path)
	if also == nil && len(raw) <= s.limits.MaxParamBytes && strings.Count(raw, "&") < min(s.limits.MaxParams, fastScanPairs) &&
		!strings.Contains(raw, ";") && !strings.Contains(raw, "tilesize") {
		if dup, ok := quickDuplicate(raw); ok {
			if dup != "" {
				return duplicateError(dup)
			}
			return nil
		}
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		if strings.Count(raw, "&") >= maxQueryPairs {
			return layer.Errorf(layer.BadRequest, "more than %d query parameters: at most %d", maxQueryPairs, s.limits.MaxParams)
		}
		return layer.Errorf(layer.BadRequest, "the query string is malformed (%v): separate parameters with '&' and escape '%%' as %%25", err)
	}
	n := 0
	for k, vs := range q {
		n += len(vs)
		if len(k) > s.limits.MaxParamBytes {
			return layer.Errorf(layer.TooLarge, "a parameter name is over %d bytes", s.limits.MaxParamBytes)
		}
		for _, v := range vs {
			if len(v) > s.limits.MaxParamBytes {
				return layer.Errorf(layer.TooLarge, "parameter %s is over %d bytes; POST large parameters to /run as a JSON body", truncate(k, 64), s.limits.MaxParamBytes)
			}
		}
	}
	if n > s.limits.MaxParams {
		return layer.Errorf(layer.BadRequest, "%d query parameters: at most %d", n, s.limits.MaxParams)
	}
	if dup := duplicated(q, also); dup != "" {
		return duplicateError(dup)
	}
	if ts := q.Get("tilesize"); ts != "" {
		if v, err := strconv.Atoi(ts); err == nil && v > s.limits.MaxTileSize {
			return layer.Errorf(layer.BadRequest, "parameter tilesize: at most %d on this server, got %d", s.limits.MaxTileSize, v)
		}
	}
	return nil
}

// maxQueryPairs is the most parameters Go's url.ParseQuery reads: past it, it
// reads none (GODEBUG urlmaxqueryparams).
const maxQueryPairs = 10000

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// bucket is a token bucket: up to burst requests at once, refilled at rate per second.
type bucket struct {
	tokens float64
	last   time.Time
}

// rateLimiter keeps one bucket per key (a client address, a shared token).
type rateLimiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	buckets map[string]*bucket
	swept   time.Time
}

func newRateLimiter(rate float64, burst int) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), buckets: map[string]*bucket{}, swept: time.Now()}
}

// allow takes a token from key's bucket; when there is none it returns how
// long until there is.
func (l *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Buckets full again are forgotten, so idle clients cost nothing.
	if now.Sub(l.swept) > time.Minute {
		full := time.Duration(l.burst / l.rate * float64(time.Second))
		for k, b := range l.buckets {
			if now.Sub(b.last) > full {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// tooMany answers 429 with Retry-After.
func tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration, what string) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	writeError(w, r, layer.Errorf(layer.TooMany, "%s: too many requests; retry after %s", what, wait.Round(time.Millisecond)))
}

// clientAddr is the request's client address: the connection's, or with
// TrustProxy the first address of X-Forwarded-For.
func (s *api) clientAddr(r *http.Request) string {
	if s.limits.TrustProxy {
		if f := r.Header.Get("X-Forwarded-For"); f != "" {
			first, _, _ := strings.Cut(f, ",")
			if a := strings.TrimSpace(first); a != "" {
				return a
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// guard applies the request limits every route shares: the client's rate,
// the parameters and the body size.
func (s *api) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.admit(w, r) {
			next.ServeHTTP(w, r)
		}
	})
}

// admit is guard's test: false when it answered the request itself (429,
// 400, 413).
func (s *api) admit(w http.ResponseWriter, r *http.Request) bool {
	if s.clients != nil {
		if ok, wait := s.clients.allow(s.clientAddr(r), time.Now()); !ok {
			tooMany(w, r, wait, "this client")
			return false
		}
	}
	if err := s.checkQuery(r); err != nil {
		writeError(w, r, err)
		return false
	}
	if r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > s.limits.MaxBodyBytes {
			writeError(w, r, layer.Errorf(layer.TooLarge, "the body is over %d bytes (limits.max_body_bytes)", s.limits.MaxBodyBytes))
			return false
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.limits.MaxBodyBytes)
	}
	return true
}
