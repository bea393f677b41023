package web

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/udftiles/udftiles/render"
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
				log.Error("panic serving request", "method", r.Method, "path", logPath(r), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeJSONStatus(w, http.StatusInternalServerError, errorBody{Error: "internal error: the server failed on this request; it has been logged"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// cors allows the configured origins to read responses, and answers preflights.
// Its header values are made once, as read-only slices of one value (an Add
// copies them): no allocation on the path of every cached tile.
func cors(origins []string, next http.Handler) http.Handler {
	any := slices.Contains(origins, "*")
	allow := map[string][]string{} // origin: its Access-Control-Allow-Origin
	for _, o := range origins {
		allow[o] = []string{o}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := headerValue(r.Header, "Origin")
		h := w.Header()
		if !any {
			// Whether the answer allows the origin depends on it, for every origin:
			// a shared cache must not hand one origin's answer to another.
			if len(h["Vary"]) == 0 {
				h["Vary"] = varyOriginValue
			} else {
				h.Add("Vary", "Origin")
			}
		}
		v, allowed := allow[origin]
		if any {
			v, allowed = allow["*"], true
		}
		allowed = allowed && origin != ""
		if allowed {
			h["Access-Control-Allow-Origin"] = v
			h["Access-Control-Expose-Headers"] = exposeHeadersValue
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

var (
	varyOriginValue    = []string{"Origin"}
	exposeHeadersValue = []string{"ETag, X-Cache, X-UDF-Logs, X-Features-Truncated, X-Request-Id, Content-Length"}
)

// compressible says whether gzip shrinks a body of this type: vector tiles and
// text do; PNG, JPEG and WebP are compressed already.
func compressible(contentType string) bool {
	f, ok := render.FormatOfMediaType(contentType)
	return ok && f.Compressible
}

// acceptsGzip reads Accept-Encoding: gzip (or x-gzip) with a q above 0, or
// failing any mention of gzip, * with a q above 0.
func acceptsGzip(header string) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(k) == "q" {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				q = f
			}
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "gzip", "x-gzip":
			gzipQ = q
		case "*":
			starQ = q
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

// gzipETag is the validator of the gzipped representation: the identity one
// with -gzip inside its quotes. Each representation has its own strong ETag, so
// a cache never answers a conditional request with the other one's bytes.
func gzipETag(etag string) string {
	if strings.HasSuffix(etag, `"`) {
		return etag[:len(etag)-1] + `-gzip"`
	}
	return etag
}

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
	return w
}}

// gzipBytes compresses a body; it cannot fail writing to memory.
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(b)/2 + 64)
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	gzipWriters.Put(zw)
	return buf.Bytes()
}
