// Package metrics holds the server's Prometheus collectors, served on /metrics.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Set is one process's collectors. Tests make their own; the server makes one.
type Set struct {
	Registry *prometheus.Registry

	// CacheLookups counts cache lookups by tier (memory, s3) and result (hit,
	// miss, expired, error, corrupt).
	CacheLookups *prometheus.CounterVec
	// CacheBytes counts body bytes by tier and direction (read, written).
	CacheBytes *prometheus.CounterVec
	// CacheWrites counts tier writes by tier and result (ok, error, dropped).
	CacheWrites *prometheus.CounterVec
	// S3Seconds is the latency of S3 calls by operation (get, put, list, delete).
	S3Seconds *prometheus.HistogramVec
	// S3Breaker is 1 while the S3 circuit breaker is open (S3 skipped).
	S3Breaker prometheus.Gauge
	// Renders counts handler runs that were not answered from a cache, by UDF and outcome.
	Renders *prometheus.CounterVec
	// Purged counts cache entries removed by purges, by tier.
	Purged *prometheus.CounterVec
	// Requests counts HTTP requests by route template, method and status code.
	Requests *prometheus.CounterVec
	// RequestSeconds is the latency of HTTP requests by route template.
	RequestSeconds *prometheus.HistogramVec
	// RenderSeconds is the time handlers take to run and encode, by UDF.
	RenderSeconds *prometheus.HistogramVec
	// JobItemsClaimed counts the job items this replica claimed, by replica.
	JobItemsClaimed *prometheus.CounterVec
	// JobItemSeconds is how long this replica's runs of job items took, by
	// outcome (ok, error, retried, abandoned, stopped).
	JobItemSeconds *prometheus.HistogramVec
	// JobItemRetries counts runs of job items that failed and are tried again.
	JobItemRetries prometheus.Counter
	// JobItemSnoozes counts deliveries of job items put off, by reason
	// (max_workers: the job has as many items running as it may; busy: the
	// server's render queue is full; held: another replica runs the item).
	JobItemSnoozes *prometheus.CounterVec
	// JobItemsRescued counts job items queued again because the replica
	// running them stopped (or their queue entry was lost).
	JobItemsRescued prometheus.Counter
}

// New makes a Set with Go runtime and process collectors.
func New() *Set {
	r := prometheus.NewRegistry()
	s := &Set{
		Registry: r,
		CacheLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "udftiles_cache_lookups_total", Help: "Cache lookups by tier and result.",
		}, []string{"tier", "result"}),
		CacheBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "udftiles_cache_bytes_total", Help: "Body bytes read from and written to each cache tier.",
		}, []string{"tier", "direction"}),
		CacheWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "udftiles_cache_writes_total", Help: "Cache tier writes by result.",
		}, []string{"tier", "result"}),
		S3Seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "udftiles_s3_request_seconds", Help: "Latency of S3 requests by operation.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"op"}),
		S3Breaker: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "udftiles_s3_breaker_open", Help: "1 while the S3 tier is skipped after repeated failures.",
		}),
		Renders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "udftiles_renders_total", Help: "Handler runs not answered from a cache, by UDF and outcome.",
		}, []string{"udf", "outcome"}),
		Purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "udftiles_cache_purged_total", Help: "Cache entries removed by purges, by tier.",
		}, []string{"tier"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "udftiles_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		RequestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "udftiles_http_request_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		RenderSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "udftiles_render_seconds", Help: "Time to run a handler and encode its result, by UDF.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 120},
		}, []string{"udf"}),
		JobItemsClaimed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "udftiles_job_items_claimed_total", Help: "Job items claimed by this replica to run.",
		}, []string{"replica"}),
		JobItemSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "udftiles_job_item_seconds", Help: "Time this replica's runs of job items took, by outcome.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 120},
		}, []string{"outcome"}),
		JobItemRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "udftiles_job_item_retries_total", Help: "Runs of job items that failed and are tried again.",
		}),
		JobItemSnoozes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "udftiles_job_item_snoozes_total", Help: "Deliveries of job items put off, by reason.",
		}, []string{"reason"}),
		JobItemsRescued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "udftiles_job_items_rescued_total", Help: "Job items queued again after their replica stopped.",
		}),
	}
	r.MustRegister(s.CacheLookups, s.CacheBytes, s.CacheWrites, s.S3Seconds, s.S3Breaker, s.Renders, s.Purged,
		s.Requests, s.RequestSeconds, s.RenderSeconds,
		s.JobItemsClaimed, s.JobItemSeconds, s.JobItemRetries, s.JobItemSnoozes, s.JobItemsRescued,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return s
}

// Handler serves the Set in Prometheus' text format.
func (s *Set) Handler() http.Handler {
	return promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry})
}

// PythonStates is a snapshot of the Python worker pool.
type PythonStates struct {
	Idle, Busy, Starting int
	Restarts             int64
}

// WatchPython exports the pool's workers by state (idle, busy, starting) and
// its restarts, read from stats at each scrape.
func (s *Set) WatchPython(stats func() PythonStates) {
	for _, st := range []string{"idle", "busy", "starting"} {
		st := st
		s.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "udftiles_python_workers", Help: "Python UDF worker processes by state.", ConstLabels: prometheus.Labels{"state": st},
		}, func() float64 {
			p := stats()
			return float64(map[string]int{"idle": p.Idle, "busy": p.Busy, "starting": p.Starting}[st])
		}))
	}
	s.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "udftiles_python_worker_restarts_total", Help: "Python worker processes started again after one died or was killed.",
	}, func() float64 { return float64(stats().Restarts) }))
}

// JobQueueStates is a snapshot of the job queue's items over every replica.
type JobQueueStates struct {
	Pending, Running int
}

// WatchJobQueue exports the queue's items pending (its depth) and running,
// over every replica, read from stats at each scrape. A second call on one
// Set does nothing.
func (s *Set) WatchJobQueue(stats func() JobQueueStates) {
	for _, st := range []string{"pending", "running"} {
		st := st
		_ = s.Registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "udftiles_job_items", Help: "Items of batch jobs by state, over every replica of the store.", ConstLabels: prometheus.Labels{"state": st},
		}, func() float64 {
			q := stats()
			if st == "pending" {
				return float64(q.Pending)
			}
			return float64(q.Running)
		}))
	}
}
