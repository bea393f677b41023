package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/jobs"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/render"
	"github.com/udftiles/udftiles/tileservice"
)

// DefaultMaxSubmitItems bounds the items of one submit unless Limits says otherwise.
const DefaultMaxSubmitItems = 10000

// submitRequest is the body of POST /v1/udfs/{name}/submit.
type submitRequest struct {
	// ArgList is a list of values of the first parameter, a list of objects
	// of parameters, or a table: {"columns": [...], "rows": [[...], ...]}.
	ArgList          json.RawMessage `json:"arg_list"`
	Params           map[string]any  `json:"params"` // the parameters every item shares
	MaxWorkers       int             `json:"max_workers"`
	MaxRetry         *int            `json:"max_retry"`
	IgnoreExceptions bool            `json:"ignore_exceptions"`
	CacheMaxAge      string          `json:"cache_max_age"`
}

// submit serves POST /v1/udfs/{name}/submit: a job of one run per item.
func (s *api) submit(w http.ResponseWriter, r *http.Request) {
	if s.jobs == nil {
		writeError(w, r, layer.Errorf(layer.Unavailable, "jobs are off on this server (no jobs directory)"))
		return
	}
	l, ok := s.layer(w, r, mux.Vars(r)["name"])
	if !ok {
		return
	}
	body, err := s.readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var in submitRequest
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, r, layer.Errorf(layer.BadRequest, `the body must be JSON: {"arg_list": [...], "params": {...}, "max_workers": 16, "max_retry": 2}: %v`, err))
		return
	}
	first := ""
	if ps := l.Handler.Schema().Params; len(ps) > 0 {
		first = ps[0].Name
	}
	items, err := argList(in.ArgList, first)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if len(items) > s.limits.MaxSubmitItems {
		writeError(w, r, layer.Errorf(layer.TooLarge, "arg_list has %d items: at most %d (limits.max_submit_items)", len(items), s.limits.MaxSubmitItems))
		return
	}
	if in.MaxWorkers < 0 || in.MaxWorkers > jobs.MaxWorkersLimit {
		writeError(w, r, layer.Errorf(layer.BadRequest, "max_workers: want 1 to %d, got %d", jobs.MaxWorkersLimit, in.MaxWorkers))
		return
	}
	// The job is its submitter's: the bearer's name (never the token), or
	// no one for an anonymous submit, counted against the client's address.
	who, err := s.identify(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	spec := jobs.Spec{UDF: l.Name, Items: items, Params: map[string]string{}, MaxWorkers: in.MaxWorkers, MaxRetry: 2,
		IgnoreExceptions: in.IgnoreExceptions, Client: "addr:" + s.clientAddr(r)}
	if who != nil {
		spec.Owner, spec.Client = who.Name, "bearer:"+who.Name
	}
	if d, err := strconv.Atoi(r.Header.Get("X-Udftiles-Depth")); err == nil && d > 0 {
		if d > layer.MaxDepth {
			writeError(w, r, layer.Errorf(layer.BadRequest, "runs and submits nested more than %d deep", layer.MaxDepth))
			return
		}
		spec.Depth = d
	}
	if in.MaxRetry != nil {
		spec.MaxRetry = max(0, min(*in.MaxRetry, 10))
	}
	for k, v := range in.Params {
		spec.Params[k] = queryValue(v)
	}
	if in.CacheMaxAge != "" {
		spec.Params["cache_max_age"] = in.CacheMaxAge
	}
	j, err := s.jobs.Submit(r.Context(), spec)
	if err != nil {
		s.jobError(w, r, err, who)
		return
	}
	st, err := j.Status(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	base := s.baseURL(r) + "/v1/jobs/" + j.ID()
	w.Header().Set("Location", base)
	writeJSONStatus(w, http.StatusAccepted, map[string]any{"id": j.ID(), "status": st, "status_url": base,
		"results_url": base + "/results", "logs_url": base + "/logs"})
}

// argList turns arg_list into the parameters of each item.
func argList(raw json.RawMessage, first string) ([]map[string]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, layer.Errorf(layer.BadRequest, "arg_list: required: a list of values, a list of objects, or {\"columns\": [...], \"rows\": [...]}")
	}
	var table struct {
		Columns []string `json:"columns"`
		Rows    [][]any  `json:"rows"`
	}
	if raw[0] == '{' {
		if err := json.Unmarshal(raw, &table); err != nil || len(table.Columns) == 0 {
			return nil, layer.Errorf(layer.BadRequest, "arg_list: a table is {\"columns\": [...], \"rows\": [[...], ...]}")
		}
		out := make([]map[string]string, len(table.Rows))
		for i, row := range table.Rows {
			if len(row) != len(table.Columns) {
				return nil, layer.Errorf(layer.BadRequest, "arg_list: row %d has %d values for %d columns", i, len(row), len(table.Columns))
			}
			out[i] = map[string]string{}
			for c, v := range row {
				out[i][table.Columns[c]] = queryValue(v)
			}
		}
		return out, nil
	}
	var list []any
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, layer.Errorf(layer.BadRequest, "arg_list: want a list: %v", err)
	}
	out := make([]map[string]string, len(list))
	for i, v := range list {
		if obj, ok := v.(map[string]any); ok {
			out[i] = map[string]string{}
			for k, x := range obj {
				out[i][k] = queryValue(x)
			}
			continue
		}
		if first == "" {
			return nil, layer.Errorf(layer.BadRequest, "arg_list: this UDF has no parameter for plain values; give objects of parameters")
		}
		out[i] = map[string]string{first: queryValue(v)}
	}
	return out, nil
}

// runItem is the jobs' Runner: the layer in file mode with the parameters,
// through the tile service (its cache and checks), as the job's owner: the
// owner's name is kept with the job, never a token.
func (s *api) runItem(ctx context.Context, udf string, params map[string]string, spec *jobs.Spec) (jobs.Output, error) {
	fail := func(err error) (jobs.Output, error) {
		code := status(layer.KindOf(err))
		var le *layer.Error
		logs := ""
		if errors.As(err, &le) {
			logs = le.Logs
		}
		return jobs.Output{}, &jobs.RunError{Status: code, Msg: fmt.Sprintf("%d: %s", code, err.Error()), Logs: logs}
	}
	owner, ownerErr := s.bearerNamed(spec.Owner)
	l, err := s.svc.Layer(udf, tileservice.Caller{Private: owner != nil})
	if err != nil {
		if ownerErr != nil && layer.KindOf(err) == layer.Unauthorized {
			err = ownerErr // the owner's token is gone from auth.bearer: say so
		}
		return fail(err)
	}
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	bounds, area, err := queryBounds(q)
	if err != nil {
		return fail(err)
	}
	e, err := s.svc.Run(ctx, l, tileservice.Request{Bounds: bounds, Area: area, Query: q, Depth: spec.Depth})
	if ctx.Err() != nil {
		return jobs.Output{}, ctx.Err() // abandoned: not a result
	}
	if err != nil {
		return fail(err)
	}
	return jobs.Output{Body: e.Body, ContentType: e.ContentType, Logs: e.Logs, Cache: string(e.Source)}, nil
}

// jobError answers a refused submit or retry: a per-client limit is a 429
// with Retry-After and how to make room.
func (s *api) jobError(w http.ResponseWriter, r *http.Request, err error, who *Bearer) {
	var le *jobs.LimitError
	if !errors.As(err, &le) {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(le.RetryAfter.Seconds())))))
	ttl := days(s.jobs.TTL())
	if le.Limit == "running" {
		how := "wait for one to end, or cancel one (DELETE /v1/jobs/{id})"
		if who == nil && !s.AnonymousJobControl {
			how = "wait for one to end"
		}
		writeError(w, r, layer.Errorf(layer.TooMany, "this client has %d jobs running: at most %d (limits.max_jobs_running); %s", le.Max, le.Max, how))
		return
	}
	how := fmt.Sprintf("remove ended jobs (DELETE /v1/jobs/{id}?remove=true) or wait until they expire (server.jobs_ttl: %s)", ttl)
	if who == nil && !s.AnonymousJobControl {
		how = fmt.Sprintf("ended jobs expire after server.jobs_ttl (%s); jobs submitted with a bearer token can be removed (DELETE /v1/jobs/{id}?remove=true)", ttl)
	}
	writeError(w, r, layer.Errorf(layer.TooMany, "this client has %d jobs stored: at most %d (limits.max_jobs_stored); %s", le.Max, le.Max, how))
}

// days writes a duration in days when it is whole days, as the config does.
func days(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// job finds the job of the request's id that the caller may see: its owner
// and admins see a bearer's job, anyone holding the id an anonymous one.
// Another bearer, or an anonymous caller, gets the 404 of an unknown id, so
// that the ids of others' jobs are not confirmed. control (cancel, retry,
// delete) of an anonymous job takes an admin token unless
// auth.anonymous_job_control is on: 401 without a token, 403 with another.
func (s *api) job(w http.ResponseWriter, r *http.Request, control bool) (jobHandle, *Bearer, bool) {
	if s.jobs == nil {
		writeError(w, r, layer.Errorf(layer.NotFound, "jobs are off on this server"))
		return nil, nil, false
	}
	who, err := s.identify(r)
	if err != nil {
		writeError(w, r, err)
		return nil, nil, false
	}
	id := mux.Vars(r)["id"]
	j, ok, err := s.jobs.Get(r.Context(), id)
	if err != nil {
		writeError(w, r, err)
		return nil, nil, false
	}
	if ok && j.Owner() != "" && (who == nil || (!who.Admin && who.Name != j.Owner())) {
		ok = false
	}
	if !ok {
		writeError(w, r, layer.Errorf(layer.NotFound, "no job %q (a job submitted with a bearer token is seen with that token or an admin's)", id))
		return nil, nil, false
	}
	if control && j.Owner() == "" && !s.AnonymousJobControl && (who == nil || !who.Admin) {
		if who == nil {
			writeError(w, r, layer.Errorf(layer.Unauthorized, "cancelling, retrying or deleting an anonymous job needs an admin token (or auth.anonymous_job_control: true)"))
		} else {
			writeError(w, r, layer.Errorf(layer.Forbidden, "token %s is not an admin token: an anonymous job is cancelled, retried or deleted by admins only (or with auth.anonymous_job_control: true)", who.Name))
		}
		return nil, nil, false
	}
	return j, who, true
}

// private reports whether a job's answers are for its caller only: a
// bearer's job, or one of a private (or no longer served) layer.
func (s *api) private(j jobHandle) bool {
	l, ok := s.Registry.Get(j.UDF())
	return j.Owner() != "" || !ok || l.Private
}

// jobStatus serves GET /v1/jobs/{id}: counts by state and progress.
func (s *api) jobStatus(w http.ResponseWriter, r *http.Request) {
	if j, _, ok := s.job(w, r, false); ok {
		cc := "no-store"
		if s.private(j) {
			cc = "private, no-store"
		}
		st, err := j.Status(r.Context())
		if err != nil {
			s.jobGone(w, r, j, err)
			return
		}
		w.Header().Set("Cache-Control", cc)
		writeJSON(w, st)
	}
}

// jobGone answers about a job that was deleted while it was read (or could
// not be read).
func (s *api) jobGone(w http.ResponseWriter, r *http.Request, j jobHandle, err error) {
	if errors.Is(err, jobs.ErrNotFound) {
		writeError(w, r, layer.Errorf(layer.NotFound, "no job %q", j.ID()))
		return
	}
	writeError(w, r, err)
}

// jobCancel serves DELETE /v1/jobs/{id}: a running job is cancelled (an
// ended one is left as it is). With ?remove=true the job and its results are
// removed too, once it has stopped: that makes room for new submits. A
// cancel never removes anything, so a late cancel loses no results.
func (s *api) jobCancel(w http.ResponseWriter, r *http.Request) {
	j, _, ok := s.job(w, r, true)
	if !ok {
		return
	}
	st, err := j.Status(r.Context())
	if err == nil && st.State == jobs.JobRunning {
		err = j.Cancel(r.Context())
	}
	if err == nil {
		st, err = j.Status(r.Context())
	}
	if err != nil {
		s.jobGone(w, r, j, err)
		return
	}
	if r.URL.Query().Get("remove") != "true" {
		writeJSON(w, st)
		return
	}
	// A cancelled job stops once its running items have given up.
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	_ = j.Wait(ctx)
	if st, err = j.Status(r.Context()); err != nil {
		s.jobGone(w, r, j, err)
		return
	}
	switch err := s.jobs.Delete(r.Context(), j.ID()); {
	case errors.Is(err, jobs.ErrRunning):
		writeError(w, r, layer.Errorf(layer.Unavailable, "job %s is still stopping; remove it again in a moment", j.ID()))
	case errors.Is(err, jobs.ErrNotFound):
		writeError(w, r, layer.Errorf(layer.NotFound, "no job %q", j.ID()))
	case err != nil:
		writeError(w, r, err)
	default:
		writeJSON(w, map[string]any{"deleted": true, "id": j.ID(), "status": st})
	}
}

// jobRetry serves POST /v1/jobs/{id}/retry: failed and cancelled items run
// again, as the job's owner whoever asks.
func (s *api) jobRetry(w http.ResponseWriter, r *http.Request) {
	j, who, ok := s.job(w, r, true)
	if !ok {
		return
	}
	n, err := j.Retry(r.Context())
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		writeError(w, r, layer.Errorf(layer.NotFound, "no job %q", j.ID()))
		return
	case errors.Is(err, jobs.ErrRunning):
		writeError(w, r, layer.Errorf(layer.BadRequest, "%v", err))
		return
	case err != nil:
		s.jobError(w, r, err, who)
		return
	}
	st, err := j.Status(r.Context())
	if err != nil {
		s.jobGone(w, r, j, err)
		return
	}
	writeJSONStatus(w, http.StatusAccepted, map[string]any{"retried": n, "status": st})
}

// jobResults serves GET /v1/jobs/{id}/results?format=json|csv|parquet: one
// row per item in argument order, with its arguments, status, time, attempts,
// cache, error, logs and result (JSON and text as they are, other bytes in
// base64).
func (s *api) jobResults(w http.ResponseWriter, r *http.Request) {
	j, _, ok := s.job(w, r, false)
	if !ok {
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "csv" && format != "parquet" {
		writeError(w, r, layer.Errorf(layer.BadRequest, "format: json, csv or parquet, got %q", format))
		return
	}
	if s.private(j) {
		w.Header().Set("Cache-Control", "private")
	}
	st, err := j.Status(r.Context())
	if err != nil {
		s.jobGone(w, r, j, err)
		return
	}
	items, err := j.Items(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	// ?replica=true adds the replica that ran each item (jobs on the
	// store's queue), after the other columns.
	withReplica := r.URL.Query().Get("replica") == "true"
	argCols := map[string]bool{}
	for _, it := range items {
		for k := range it.Args {
			argCols[k] = true
		}
	}
	args := make([]string, 0, len(argCols))
	for k := range argCols {
		args = append(args, k)
	}
	sort.Strings(args)
	t := &layer.Table{Columns: append([]string{"index"}, args...), Types: map[string]string{"index": "int", "seconds": "float", "attempts": "int"}}
	t.Columns = append(t.Columns, "status", "seconds", "attempts", "cache", "error", "logs", "content_type", "result")
	if withReplica {
		t.Columns = append(t.Columns, "replica")
	}
	for _, c := range t.Columns {
		if _, ok := t.Types[c]; !ok {
			t.Types[c] = "str"
		}
	}
	row := func(it jobs.Item, body []byte) []any {
		row := []any{int64(it.Index)}
		for _, a := range args {
			if v, ok := it.Args[a]; ok {
				row = append(row, v)
			} else {
				row = append(row, nil)
			}
		}
		row = append(row, it.Status, it.Seconds, int64(it.Attempts), it.Cache, it.Error, it.Logs, it.ContentType, resultText(it, body))
		if withReplica {
			row = append(row, it.Replica)
		}
		return row
	}
	if format == "json" {
		// Rows are written as they are read from disk, one result in
		// memory at a time; JSON results are embedded as JSON, not as text.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		io.WriteString(w, `{"results":[`)
		first := true
		j.Results(r.Context(), func(it jobs.Item, body []byte) error {
			m := map[string]any{}
			for c, v := range row(it, body) {
				m[t.Columns[c]] = v
			}
			if it.Status == jobs.OK && strings.Contains(it.ContentType, "json") && json.Valid(body) {
				m["result"] = json.RawMessage(body)
			}
			if !first {
				io.WriteString(w, ",")
			}
			first = false
			return enc.Encode(m)
		})
		io.WriteString(w, `],"status":`)
		enc.Encode(st)
		io.WriteString(w, "}\n")
		return
	}
	j.Results(r.Context(), func(it jobs.Item, body []byte) error {
		t.Rows = append(t.Rows, row(it, body))
		return nil
	})
	body, ct, err := render.Encode(t, format, render.Options{})
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Write(body)
}

// resultText is an item's result as text: the body when it is UTF-8 text
// (JSON, CSV, plain), else its base64.
func resultText(it jobs.Item, body []byte) any {
	if it.Status != jobs.OK {
		return nil
	}
	ct := it.ContentType
	if (strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json")) && utf8.Valid(body) {
		return string(body)
	}
	return base64.StdEncoding.EncodeToString(body)
}
