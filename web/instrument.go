package web

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/udftiles/udftiles/metrics"
)

// statusWriter remembers the status code a handler wrote, and what
// instrument needs to count and log the request at its end. Pooled: see
// begin and end.
type statusWriter struct {
	http.ResponseWriter
	code  int
	route string
	id    string
	start time.Time
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument gives each request an id (the client's X-Request-Id when it is a
// sane one, else a new one; sent back in X-Request-Id), counts requests by
// route template (not by path: one series per route, whatever the tiles) and
// status, times them, and logs them as JSON: server errors at error level,
// the rest at debug.
func (s *api) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := "unmatched"
		if cr := mux.CurrentRoute(r); cr != nil {
			if t, err := cr.GetPathTemplate(); err == nil {
				route = t
			}
		}
		sw := s.begin(w, r, route)
		next.ServeHTTP(sw, r)
		s.end(sw, r)
	})
}

// begin starts instrumenting a request of route: its id, in X-Request-Id,
// and its start. The writer it returns goes back to the pool in end, once the
// handler has returned: net/http never sees it.
func (s *api) begin(w http.ResponseWriter, r *http.Request, route string) *statusWriter {
	id := headerValue(r.Header, "X-Request-Id")
	if saneID(id) {
		w.Header().Set("X-Request-Id", id)
	} else {
		v := s.ids.next()
		w.Header()["X-Request-Id"] = v
		id = v[0]
	}
	sw, _ := s.writers.Get().(*statusWriter)
	if sw == nil {
		sw = new(statusWriter)
	}
	*sw = statusWriter{ResponseWriter: w, route: route, id: id, start: time.Now()}
	return sw
}

// end counts, times and logs the request begin started.
func (s *api) end(sw *statusWriter, r *http.Request) {
	if sw.code == 0 {
		sw.code = http.StatusOK
	}
	took := time.Since(sw.start)
	if sw.route == tileRoute {
		s.tileSeries.observe(r.Method, sw.code, took)
	} else {
		s.Metrics.RequestSeconds.WithLabelValues(sw.route).Observe(took.Seconds())
		s.Metrics.Requests.WithLabelValues(sw.route, r.Method, strconv.Itoa(sw.code)).Inc()
	}
	level := slog.LevelDebug
	if sw.code >= 500 {
		level = slog.LevelError
	}
	if s.Logger.Enabled(r.Context(), level) {
		s.Logger.Log(r.Context(), level, "request", "request_id", sw.id, "method", r.Method, "route", sw.route,
			"path", logPath(r), "status", sw.code, "ms", float64(took.Microseconds())/1000, "x_cache", sw.Header().Get("X-Cache"))
	}
	*sw = statusWriter{}
	s.writers.Put(sw)
}

// routeSeries are a route's metric series, each found once (on first use)
// for the answers most of its requests get: finding a series by its labels
// costs a hash and a lock on every request.
type routeSeries struct {
	m       *metrics.Set
	route   string
	seconds atomic.Pointer[observerRef]
	counts  [4]atomic.Pointer[counterRef] // GET 200, GET 304, HEAD 200, HEAD 304
}

type observerRef struct{ prometheus.Observer }
type counterRef struct{ prometheus.Counter }

func newRouteSeries(m *metrics.Set, route string) *routeSeries {
	return &routeSeries{m: m, route: route}
}

func (rs *routeSeries) observe(method string, code int, took time.Duration) {
	o := rs.seconds.Load()
	if o == nil {
		o = &observerRef{rs.m.RequestSeconds.WithLabelValues(rs.route)}
		rs.seconds.Store(o)
	}
	o.Observe(took.Seconds())
	i := -1
	switch {
	case method == http.MethodGet && code == http.StatusOK:
		i = 0
	case method == http.MethodGet && code == http.StatusNotModified:
		i = 1
	case method == http.MethodHead && code == http.StatusOK:
		i = 2
	case method == http.MethodHead && code == http.StatusNotModified:
		i = 3
	}
	if i < 0 {
		rs.m.Requests.WithLabelValues(rs.route, method, strconv.Itoa(code)).Inc()
		return
	}
	c := rs.counts[i].Load()
	if c == nil {
		c = &counterRef{rs.m.Requests.WithLabelValues(rs.route, method, strconv.Itoa(code))}
		rs.counts[i].Store(c)
	}
	c.Inc()
}

// requestIDs hands out new request ids (16 hex digits of crypto/rand) as
// header values, made 64 at a time: one read of random bytes and two
// allocations per 64 requests rather than three per request.
type requestIDs struct {
	blocks sync.Pool // *idBlock
}

type idBlock struct {
	vals []string
	next int
}

const idsPerBlock = 64

// next returns a new id as a header value: a slice of one string with no
// room to grow, which an Add copies before appending.
func (ids *requestIDs) next() []string {
	b, _ := ids.blocks.Get().(*idBlock)
	if b == nil || b.next == len(b.vals) {
		var raw [idsPerBlock * 8]byte
		rand.Read(raw[:])
		all := hex.EncodeToString(raw[:])
		b = &idBlock{vals: make([]string, idsPerBlock)}
		for i := range b.vals {
			b.vals[i] = all[16*i : 16*(i+1)]
		}
	}
	v := b.vals[b.next : b.next+1 : b.next+1]
	b.next++
	ids.blocks.Put(b)
	return v
}

// saneID accepts client request ids of up to 64 letters, digits, '-', '_' and '.'.
func saneID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// pprof serves Go's profiles under /debug/pprof/ to the admin token only.
func (s *api) pprof(w http.ResponseWriter, r *http.Request) {
	if err := s.admin(r); err != nil {
		writeError(w, r, err)
		return
	}
	switch name := strings.TrimPrefix(r.URL.Path, "/debug/pprof/"); name {
	case "":
		pprof.Index(w, r)
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Handler(name).ServeHTTP(w, r)
	}
}
