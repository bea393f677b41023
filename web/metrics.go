package web

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/metrics"
)

// Who may read /metrics (Deps.MetricsAccess, the config's auth.metrics).
const (
	MetricsPublic = "public" // anyone; private layers folded for requests without a token
	MetricsToken  = "token"  // any known bearer token
	MetricsAdmin  = "admin"  // admin tokens
)

// metrics serves /metrics to whom auth.metrics allows. A request without a
// token never sees a private layer's name: the series labelled with one are
// added up under udf="(private)".
func (s *api) metrics(w http.ResponseWriter, r *http.Request) {
	who, err := s.identify(r)
	switch s.MetricsAccess {
	case MetricsAdmin:
		err = s.admin(r)
	case MetricsToken:
		if err == nil && who == nil {
			err = layer.Errorf(layer.Unauthorized, "/metrics needs a bearer token (auth.metrics: token)")
		}
	default:
		err = nil // as before auth.metrics: an unknown token reads what anyone reads
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if who == nil {
		private := map[string]bool{}
		for _, l := range s.Registry.List() {
			if l.Private {
				private[l.Name] = true
			}
		}
		if len(private) > 0 {
			g := metrics.Redact(s.Metrics.Registry, "udf", func(v string) bool { return private[v] })
			promhttp.HandlerFor(g, promhttp.HandlerOpts{}).ServeHTTP(w, r)
			return
		}
	}
	s.Metrics.Handler().ServeHTTP(w, r)
}
