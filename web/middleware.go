package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
)

// recoverPanics turns a panic in any handler into a 500 JSON answer and a log
// line with the stack, so one bad request never takes the server down.
func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeJSONStatus(w, http.StatusInternalServerError, errorBody{Error: "internal error: the server failed on this request; it has been logged"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// cors allows the configured origins to read responses, and answers preflights.
func cors(origins []string, next http.Handler) http.Handler {
	any := slices.Contains(origins, "*")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := origin != "" && (any || slices.Contains(origins, origin))
		if !any {
			// Whether the answer allows the origin depends on it, for every origin:
			// a shared cache must not hand one origin's answer to another.
			w.Header().Add("Vary", "Origin")
		}
		if allowed {
			if any {
				w.Header().Set("Access-Control-Allow-Origin", "*")
			} else {
				w.Header().Set("Access-Control-Allow-Origin", origin)
			}
			w.Header().Set("Access-Control-Expose-Headers", "ETag, X-Cache, X-UDF-Logs, Content-Length")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if allowed {
				w.Header().Set("Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS")
				w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Authorization, If-None-Match")
				w.Header().Set("Access-Control-Max-Age", "86400")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
