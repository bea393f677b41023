package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/udftiles/udftiles/jobs"
	"github.com/udftiles/udftiles/layer"
)

// jobList serves GET /v1/jobs?limit=&after=: the caller's jobs, newest
// first, a page at a time ("next" is the after= of the next page). Listing
// takes a bearer token: an anonymous job is reached by its id only. An
// admin lists everyone's with ?all=true.
func (s *api) jobList(w http.ResponseWriter, r *http.Request) {
	if s.jobs == nil {
		writeError(w, r, layer.Errorf(layer.NotFound, "jobs are off on this server"))
		return
	}
	who, err := s.identify(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if who == nil {
		writeError(w, r, layer.Errorf(layer.Unauthorized, "listing jobs takes a bearer token: a job submitted without one is reached by its id"))
		return
	}
	q := r.URL.Query()
	o := jobs.ListOptions{Owner: who.Name, Limit: 50, After: q.Get("after")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, r, layer.Errorf(layer.BadRequest, "limit: want 1 to 1000, got %q", v))
			return
		}
		o.Limit = n
	}
	if q.Get("all") == "true" {
		if !who.Admin {
			writeError(w, r, layer.Errorf(layer.Forbidden, "token %s is not an admin token: ?all=true lists everyone's jobs, for admins", who.Name))
			return
		}
		o.All = true
	}
	list, next, err := s.jobs.List(r.Context(), o)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if list == nil {
		list = []jobs.Status{}
	}
	out := map[string]any{"jobs": list}
	if next != "" {
		v := url.Values{"after": {next}, "limit": {strconv.Itoa(o.Limit)}}
		if o.All {
			v.Set("all", "true")
		}
		out["next"] = next
		out["next_url"] = s.baseURL(r) + "/v1/jobs?" + v.Encode()
	}
	w.Header().Set("Cache-Control", "private, no-store")
	writeJSON(w, out)
}

// logLine is a line of GET /v1/jobs/{id}/logs: an item that ended.
type logLine struct {
	Index    int     `json:"index"`
	Status   string  `json:"status"`
	Replica  string  `json:"replica,omitempty"`
	Seconds  float64 `json:"seconds"`
	Attempts int     `json:"attempts"`
	Error    string  `json:"error,omitempty"`
	Logs     string  `json:"logs"`
}

// jobLogs serves GET /v1/jobs/{id}/logs: one JSON line (NDJSON) per item
// that has ended, with its logs, its status and the replica that ran it.
// With ?follow=1 the answer stays open: items are written as they end, on
// whichever replica, and a last line {"status": {...}} ends it once the job
// has ended.
func (s *api) jobLogs(w http.ResponseWriter, r *http.Request) {
	j, _, ok := s.job(w, r, false)
	if !ok {
		return
	}
	follow := r.URL.Query().Get("follow")
	following := follow == "1" || follow == "true"
	ctx := r.Context()
	cc := "no-store"
	if s.private(j) {
		cc = "private, no-store"
	}
	w.Header().Set("Cache-Control", cc)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	sent := map[string]bool{}
	var since time.Time
	// Items ended on other replicas are found by when they ended, as their
	// replica's clock says: a few seconds of slack, and no line twice.
	const slack = 5 * time.Second
	for {
		st, err := j.Status(ctx)
		ended := err != nil || st.State != jobs.JobRunning
		items, err := j.Ended(ctx, since.Add(-slack))
		if err != nil {
			return
		}
		for _, it := range items {
			key := fmt.Sprint(it.Index, "/", it.Lease, "/", it.Status, "/", it.Attempts)
			if sent[key] {
				continue
			}
			sent[key] = true
			if it.Updated.After(since) {
				since = it.Updated
			}
			if enc.Encode(logLine{Index: it.Index, Status: it.Status, Replica: it.Replica, Seconds: it.Seconds,
				Attempts: it.Attempts, Error: it.Error, Logs: it.Logs}) != nil {
				return
			}
		}
		if !following {
			return
		}
		if ended {
			if st.ID != "" {
				enc.Encode(map[string]any{"status": st})
			}
			return
		}
		rc.Flush()
		// A follow outlives the server's write timeout, a minute at a time.
		rc.SetWriteDeadline(time.Now().Add(time.Minute))
		select {
		case <-ctx.Done():
			return
		case <-time.After(300 * time.Millisecond):
		}
	}
}
