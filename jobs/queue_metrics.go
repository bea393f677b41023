package jobs

import (
	"context"
	"sync"
	"time"

	"github.com/udftiles/udftiles/metrics"
)

// queueMetrics records the queue's work in a metrics.Set (nil: nowhere).
type queueMetrics struct {
	m       *metrics.Set
	replica string
}

func newQueueMetrics(m *metrics.Set, q *Queue) queueMetrics {
	if m != nil {
		var mu sync.Mutex
		var last time.Time
		var cached metrics.JobQueueStates
		m.WatchJobQueue(func() metrics.JobQueueStates {
			mu.Lock()
			defer mu.Unlock()
			if time.Since(last) < time.Second {
				return cached
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if s, err := q.depth(ctx); err == nil {
				cached, last = s, time.Now()
			}
			return cached
		})
	}
	return queueMetrics{m: m, replica: q.replica}
}

func (qm queueMetrics) claim() {
	if qm.m != nil {
		qm.m.JobItemsClaimed.WithLabelValues(qm.replica).Inc()
	}
}

func (qm queueMetrics) item(outcome string, seconds float64) {
	if qm.m != nil {
		qm.m.JobItemSeconds.WithLabelValues(outcome).Observe(seconds)
	}
}

func (qm queueMetrics) retry() {
	if qm.m != nil {
		qm.m.JobItemRetries.Inc()
	}
}

func (qm queueMetrics) snooze(reason string) {
	if qm.m != nil {
		qm.m.JobItemSnoozes.WithLabelValues(reason).Inc()
	}
}

func (qm queueMetrics) rescued() {
	if qm.m != nil {
		qm.m.JobItemsRescued.Inc()
	}
}

// depth counts the items pending and running over every replica.
func (q *Queue) depth(ctx context.Context) (metrics.JobQueueStates, error) {
	var s metrics.JobQueueStates
	r, err := q.b.db().query(ctx, `SELECT status, COUNT(*) FROM job_items WHERE status IN ('pending', 'running') GROUP BY status`)
	if err != nil {
		return s, err
	}
	defer r.Close()
	for r.Next() {
		var st string
		var n int
		if err := r.Scan(&st, &n); err != nil {
			return s, err
		}
		if st == Pending {
			s.Pending = n
		} else {
			s.Running = n
		}
	}
	return s, r.Err()
}
