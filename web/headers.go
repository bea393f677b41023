package web

import (
	"net/http"
	"strings"

	"github.com/udftiles/udftiles/layer"
)

// Every response says what may be done with its body, in one place: results
// are bytes a UDF or a request chose (HTML from a str result, a UDF's bytes,
// echoed names in errors), so nothing the server answers may run as a page
// of the server's origin, except the map page and its own files.

// sandboxPolicy is the Content-Security-Policy of everything but the map page:
// a document opened from such a response (an HTML result, say) runs in a
// unique origin with scripts, forms, plugins and popups off, so it can never
// read the server's other answers or act with its users' credentials.
const sandboxPolicy = "sandbox"

// pagePolicy is the map page's: its own scripts only (no inline script, no
// eval); its own styles, and inline ones; MapLibre's worker from a blob: URL;
// tiles drawn from blob: and data: images; requests to this server only;
// framed only by pages of this server. Inline styles are allowed because HTML
// results are shown in a sandboxed srcdoc frame, which inherits this policy,
// and such results carry their own styles; their scripts never run.
const pagePolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; " +
	"child-src 'self' blob:; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; " +
	"frame-ancestors 'self'"

// securityHeaders sets X-Content-Type-Options: nosniff on every answer, the
// map page's policy (and X-Frame-Options for browsers without
// frame-ancestors) on the page and its static files, and the sandbox policy
// on every other route.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The values are shared, read-only slices (of capacity 1, so that an
		// Add copies): no allocation on the path of every cached tile.
		h := w.Header()
		h["X-Content-Type-Options"] = nosniffValue
		if isPagePath(r.URL.Path) {
			h["Content-Security-Policy"] = pagePolicyValue
			h["X-Frame-Options"] = sameOriginValue
		} else {
			h["Content-Security-Policy"] = sandboxValue
		}
		next.ServeHTTP(w, r)
	})
}

var (
	nosniffValue    = []string{"nosniff"}
	sandboxValue    = []string{sandboxPolicy}
	pagePolicyValue = []string{pagePolicy}
	sameOriginValue = []string{"SAMEORIGIN"}
)

// isPagePath is true for the map page (/ and /map/{name}) and its files.
func isPagePath(p string) bool {
	if p == "/" || p == "/workbench" || strings.HasPrefix(p, "/static/") {
		return true
	}
	name, ok := strings.CutPrefix(p, "/map/")
	return ok && name != "" && !strings.Contains(name, "/")
}

// privateDoc marks a document about layers (layer info, TileJSON, listings,
// OGC API and WMTS documents) as the asking client's alone when it describes
// a private layer, so that no shared cache hands it to anyone else. Tiles
// say so through writeEntry.
func privateDoc(w http.ResponseWriter, layers ...*layer.Layer) {
	for _, l := range layers {
		if l != nil && l.Private {
			w.Header().Set("Cache-Control", "private")
			return
		}
	}
}

// headerValue is h's first value of a header named in canonical form (as
// http.CanonicalHeaderKey spells it): Header.Get canonicalizes the name on
// every call, a cost on the path of every cached tile.
func headerValue(h http.Header, canonical string) string {
	if v := h[canonical]; len(v) > 0 {
		return v[0]
	}
	return ""
}
