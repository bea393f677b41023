package web

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// statusWriter remembers the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
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
		id := r.Header.Get("X-Request-Id")
		if !saneID(id) {
			var b [8]byte
			rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		route := "unmatched"
		if cr := mux.CurrentRoute(r); cr != nil {
			if t, err := cr.GetPathTemplate(); err == nil {
				route = t
			}
		}
		sw := &statusWriter{ResponseWriter: w}
		start := time.Now()
		next.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		took := time.Since(start)
		s.Metrics.RequestSeconds.WithLabelValues(route).Observe(took.Seconds())
		s.Metrics.Requests.WithLabelValues(route, r.Method, strconv.Itoa(sw.code)).Inc()
		level := slog.LevelDebug
		if sw.code >= 500 {
			level = slog.LevelError
		}
		if s.Logger.Enabled(r.Context(), level) {
			s.Logger.Log(r.Context(), level, "request", "request_id", id, "method", r.Method, "route", route,
				"path", logPath(r), "status", sw.code, "ms", float64(took.Microseconds())/1000, "x_cache", w.Header().Get("X-Cache"))
		}
	})
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
