package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/jobs"
	"github.com/udftiles/udftiles/render"
	"github.com/udftiles/udftiles/udfhost"
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
func (s *server) submit(w http.ResponseWriter, r *http.Request) {
	if s.jobs == nil {
		writeError(w, r, udfhost.Errorf(udfhost.Unavailable, "jobs are off on this server (no jobs directory)"))
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
		writeError(w, r, udfhost.Errorf(udfhost.BadRequest, `the body must be JSON: {"arg_list": [...], "params": {...}, "max_workers": 16, "max_retry": 2}: %v`, err))
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
		writeError(w, r, udfhost.Errorf(udfhost.TooLarge, "arg_list has %d items: at most %d (limits.max_submit_items)", len(items), s.limits.MaxSubmitItems))
		return
	}
	if in.MaxWorkers < 0 || in.MaxWorkers > jobs.MaxWorkersLimit {
		writeError(w, r, udfhost.Errorf(udfhost.BadRequest, "max_workers: want 1 to %d, got %d", jobs.MaxWorkersLimit, in.MaxWorkers))
		return
	}
	spec := jobs.Spec{UDF: l.Name, Items: items, Params: map[string]string{}, MaxWorkers: in.MaxWorkers, MaxRetry: 2,
		IgnoreExceptions: in.IgnoreExceptions, Auth: r.Header.Get("Authorization")}
	if d, err := strconv.Atoi(r.Header.Get("X-Udftiles-Depth")); err == nil && d > 0 {
		if d > udfhost.MaxDepth {
			writeError(w, r, udfhost.Errorf(udfhost.BadRequest, "runs and submits nested more than %d deep", udfhost.MaxDepth))
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
	j, err := s.jobs.Submit(spec)
	if err != nil {
		writeError(w, r, err)
		return
	}
	base := s.baseURL(r) + "/v1/jobs/" + j.ID
	w.Header().Set("Location", base)
	writeJSONStatus(w, http.StatusAccepted, map[string]any{"id": j.ID, "status": j.Status(), "status_url": base, "results_url": base + "/results"})
}

// argList turns arg_list into the parameters of each item.
func argList(raw json.RawMessage, first string) ([]map[string]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, udfhost.Errorf(udfhost.BadRequest, "arg_list: required: a list of values, a list of objects, or {\"columns\": [...], \"rows\": [...]}")
	}
	var table struct {
		Columns []string `json:"columns"`
		Rows    [][]any  `json:"rows"`
	}
	if raw[0] == '{' {
		if err := json.Unmarshal(raw, &table); err != nil || len(table.Columns) == 0 {
			return nil, udfhost.Errorf(udfhost.BadRequest, "arg_list: a table is {\"columns\": [...], \"rows\": [[...], ...]}")
		}
		out := make([]map[string]string, len(table.Rows))
		for i, row := range table.Rows {
			if len(row) != len(table.Columns) {
				return nil, udfhost.Errorf(udfhost.BadRequest, "arg_list: row %d has %d values for %d columns", i, len(row), len(table.Columns))
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
		return nil, udfhost.Errorf(udfhost.BadRequest, "arg_list: want a list: %v", err)
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
			return nil, udfhost.Errorf(udfhost.BadRequest, "arg_list: this UDF has no parameter for plain values; give objects of parameters")
		}
		out[i] = map[string]string{first: queryValue(v)}
	}
	return out, nil
}

// runItem is the jobs' Runner: GET /v1/udfs/{name}/run with the parameters,
// in process, through the cached path and the layer's access check.
func (s *server) runItem(ctx context.Context, udf string, params map[string]string, spec *jobs.Spec) (jobs.Output, error) {
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	q.Set("debug", "true") // the UDF's prints come back in X-UDF-Logs
	req := httptest.NewRequest(http.MethodGet, "/v1/udfs/"+url.PathEscape(udf)+"/run?"+q.Encode(), nil).WithContext(ctx)
	if spec.Auth != "" {
		req.Header.Set("Authorization", spec.Auth)
	}
	if spec.Depth > 0 {
		req.Header.Set("X-Udftiles-Depth", strconv.Itoa(spec.Depth))
	}
	req = mux.SetURLVars(req, map[string]string{"name": udf})
	rec := httptest.NewRecorder()
	s.run(rec, req)
	logs := ""
	if h := rec.Header().Get("X-UDF-Logs"); h != "" {
		logs, _ = strconv.Unquote(h)
	}
	if rec.Code != http.StatusOK {
		var e errorBody
		json.Unmarshal(rec.Body.Bytes(), &e)
		if e.Error == "" {
			e.Error = http.StatusText(rec.Code)
		}
		return jobs.Output{}, &jobs.RunError{Status: rec.Code, Msg: fmt.Sprintf("%d: %s", rec.Code, e.Error), Logs: e.Logs}
	}
	return jobs.Output{Body: rec.Body.Bytes(), ContentType: rec.Header().Get("Content-Type"), Logs: logs, Cache: rec.Header().Get("X-Cache")}, nil
}

func (s *server) job(w http.ResponseWriter, r *http.Request) (*jobs.Job, bool) {
	if s.jobs == nil {
		writeError(w, r, udfhost.Errorf(udfhost.NotFound, "jobs are off on this server"))
		return nil, false
	}
	j, ok := s.jobs.Get(mux.Vars(r)["id"])
	if !ok {
		writeError(w, r, udfhost.Errorf(udfhost.NotFound, "no job %q", mux.Vars(r)["id"]))
		return nil, false
	}
	return j, true
}

// jobStatus serves GET /v1/jobs/{id}: counts by state and progress.
func (s *server) jobStatus(w http.ResponseWriter, r *http.Request) {
	if j, ok := s.job(w, r); ok {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, j.Status())
	}
}

// jobCancel serves DELETE /v1/jobs/{id}.
func (s *server) jobCancel(w http.ResponseWriter, r *http.Request) {
	if j, ok := s.job(w, r); ok {
		j.Cancel()
		writeJSON(w, j.Status())
	}
}

// jobRetry serves POST /v1/jobs/{id}/retry: failed and cancelled items run again.
func (s *server) jobRetry(w http.ResponseWriter, r *http.Request) {
	j, ok := s.job(w, r)
	if !ok {
		return
	}
	// The token of the first submit is not kept on disk: a retry brings its own.
	j.Spec.Auth = r.Header.Get("Authorization")
	n, err := j.Retry()
	if err != nil {
		writeError(w, r, udfhost.Errorf(udfhost.BadRequest, "%v", err))
		return
	}
	writeJSONStatus(w, http.StatusAccepted, map[string]any{"retried": n, "status": j.Status()})
}

// jobResults serves GET /v1/jobs/{id}/results?format=json|csv|parquet: one
// row per item in argument order, with its arguments, status, time, attempts,
// cache, error, logs and result (JSON and text as they are, other bytes in
// base64).
func (s *server) jobResults(w http.ResponseWriter, r *http.Request) {
	j, ok := s.job(w, r)
	if !ok {
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "csv" && format != "parquet" {
		writeError(w, r, udfhost.Errorf(udfhost.BadRequest, "format: json, csv or parquet, got %q", format))
		return
	}
	items := j.Items()
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
	t := &udfhost.Table{Columns: append([]string{"index"}, args...), Types: map[string]string{"index": "int", "seconds": "float", "attempts": "int"}}
	t.Columns = append(t.Columns, "status", "seconds", "attempts", "cache", "error", "logs", "content_type", "result")
	for _, c := range t.Columns {
		if _, ok := t.Types[c]; !ok {
			t.Types[c] = "str"
		}
	}
	for _, it := range items {
		row := []any{int64(it.Index)}
		for _, a := range args {
			if v, ok := it.Args[a]; ok {
				row = append(row, v)
			} else {
				row = append(row, nil)
			}
		}
		row = append(row, it.Status, it.Seconds, int64(it.Attempts), it.Cache, it.Error, it.Logs, it.ContentType, resultText(it))
		t.Rows = append(t.Rows, row)
	}
	if format == "json" {
		// JSON results are embedded as JSON, not as text.
		out := make([]map[string]any, len(t.Rows))
		for i, row := range t.Rows {
			m := map[string]any{}
			for c, v := range row {
				m[t.Columns[c]] = v
			}
			if strings.Contains(items[i].ContentType, "json") && json.Valid(items[i].Body) {
				m["result"] = json.RawMessage(items[i].Body)
			}
			out[i] = m
		}
		writeJSON(w, map[string]any{"status": j.Status(), "results": out})
		return
	}
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
func resultText(it jobs.Item) any {
	if it.Status != jobs.OK {
		return nil
	}
	ct := it.ContentType
	if (strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json")) && utf8.Valid(it.Body) {
		return string(it.Body)
	}
	return base64.StdEncoding.EncodeToString(it.Body)
}
