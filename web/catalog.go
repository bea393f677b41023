package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/config"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/store"
)

// The catalog's routes: UDFs saved at run time, their versions and share
// tokens, and drafts run from the Workbench. They answer 404 on a server
// without a store.

// saveRequest is the body of PUT /v1/udfs/{name}.
type saveRequest struct {
	Code string `json:"code"`
	store.Meta
}

// saved is what a save, a restore or a delete answers.
type saved struct {
	Name     string `json:"name"`
	Version  int    `json:"version"`
	CodeHash string `json:"code_hash"`
	Owner    string `json:"owner"`
	Source   string `json:"source"`
}

func (s *api) catalogOn(w http.ResponseWriter, r *http.Request) bool {
	if s.Catalog == nil {
		writeError(w, r, layer.Errorf(layer.NotFound, "this server has no store: the catalog is off (store.url)"))
		return false
	}
	return true
}

// owned finds the catalog layer name and checks that who may change it: its
// owner or an admin.
func (s *api) owned(who *Bearer, name string) (*layer.Layer, error) {
	l, ok := s.Registry.Get(name)
	if !ok {
		return nil, layer.Errorf(layer.NotFound, "no UDF named %q (see /v1/udfs)", name)
	}
	if l.Source != layer.SourceCatalog {
		return nil, layer.Errorf(layer.Conflict, "%q is a layer of the server's config, which is read-only", name)
	}
	if !who.Admin && l.Owner != who.Name {
		return nil, layer.Errorf(layer.Forbidden, "UDF %s belongs to %s: only its owner or an admin may change it", name, l.Owner)
	}
	return l, nil
}

// ownerCall admits a request that changes the catalog UDF of the route's
// {name}: a store, an editor's or admin's token, and that UDF being the
// token's own (or any, for an admin). Otherwise it answers the error.
func (s *api) ownerCall(w http.ResponseWriter, r *http.Request) (*Bearer, bool) {
	if !s.catalogOn(w, r) {
		return nil, false
	}
	who, err := s.editor(r)
	if err == nil {
		_, err = s.owned(who, mux.Vars(r)["name"])
	}
	if err != nil {
		writeError(w, r, err)
		return nil, false
	}
	return who, true
}

// saveUDF serves PUT /v1/udfs/{name}: the code and its metadata become the
// UDF's next version, once the code loads. 201 for a new UDF, else 200.
func (s *api) saveUDF(w http.ResponseWriter, r *http.Request) {
	if !s.catalogOn(w, r) {
		return
	}
	who, err := s.editor(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	name := mux.Vars(r)["name"]
	isNew := true
	if _, ok := s.Registry.Get(name); ok {
		if _, err := s.owned(who, name); err != nil {
			writeError(w, r, err)
			return
		}
		isNew = false
	}
	body, err := s.readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var in saveRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeError(w, r, layer.Errorf(layer.BadRequest, `the body must be JSON: {"code": "...", "description": "...", "parameters": {...}, "public": true, "cache_max_age": "1h", "bounds": [...], "min_zoom": 0, "max_zoom": 22}: %v`, err))
		return
	}
	if strings.TrimSpace(in.Code) == "" {
		writeError(w, r, layer.Errorf(layer.BadRequest, "code: the Python source of a @fused.udf function is required"))
		return
	}
	u, err := s.Catalog.Save(r.Context(), name, store.Author{Name: who.Name, Admin: who.Admin}, in.Code, in.Meta)
	if err != nil {
		writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if isNew && u.Version == 1 {
		status = http.StatusCreated
	}
	s.Logger.Info("udf saved", "udf", name, "version", u.Version, "by", who.Name, "code_hash", u.CodeHash)
	writeJSONStatus(w, status, saved{Name: u.Name, Version: u.Version, CodeHash: u.CodeHash, Owner: u.Owner, Source: layer.SourceCatalog})
}

// deleteUDF serves DELETE /v1/udfs/{name}.
func (s *api) deleteUDF(w http.ResponseWriter, r *http.Request) {
	who, ok := s.ownerCall(w, r)
	if !ok {
		return
	}
	name := mux.Vars(r)["name"]
	if err := s.Catalog.Delete(r.Context(), name); err != nil {
		writeError(w, r, err)
		return
	}
	s.Logger.Info("udf deleted", "udf", name, "by", who.Name)
	w.WriteHeader(http.StatusNoContent)
}

// udfCode serves GET /v1/udfs/{name}/code (?version=n for an older one).
func (s *api) udfCode(w http.ResponseWriter, r *http.Request) {
	if !s.catalogOn(w, r) {
		return
	}
	l, ok := s.layer(w, r, mux.Vars(r)["name"])
	if !ok {
		return
	}
	if l.Source != layer.SourceCatalog {
		writeError(w, r, layer.Errorf(layer.NotFound, "%s is a layer of the server's config: its code is not served", l.Name))
		return
	}
	var u store.UDF
	var err error
	if v := r.URL.Query().Get("version"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 {
			writeError(w, r, layer.Errorf(layer.BadRequest, "version: want a version number, got %q", truncate(v, 32)))
			return
		}
		u, err = s.Catalog.Store().UDFVersion(r.Context(), l.Name, n)
	} else {
		u, err = s.Catalog.Store().UDF(r.Context(), l.Name)
	}
	if err != nil {
		writeError(w, r, catalogError(err, l.Name))
		return
	}
	privateDoc(w, l)
	w.Header().Set("Content-Type", "text/x-python; charset=utf-8")
	w.Header().Set("X-UDF-Version", strconv.Itoa(u.Version))
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write([]byte(u.Code))
}

// udfVersions serves GET /v1/udfs/{name}/versions, newest first.
func (s *api) udfVersions(w http.ResponseWriter, r *http.Request) {
	if !s.catalogOn(w, r) {
		return
	}
	l, ok := s.layer(w, r, mux.Vars(r)["name"])
	if !ok {
		return
	}
	if l.Source != layer.SourceCatalog {
		writeError(w, r, layer.Errorf(layer.NotFound, "%s is a layer of the server's config: it has no saved versions", l.Name))
		return
	}
	vs, err := s.Catalog.Store().Versions(r.Context(), l.Name)
	if err != nil {
		writeError(w, r, catalogError(err, l.Name))
		return
	}
	privateDoc(w, l)
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, map[string]any{"name": l.Name, "versions": vs})
}

// restoreUDF serves POST /v1/udfs/{name}/versions/{n}/restore: version n
// saved again as the newest.
func (s *api) restoreUDF(w http.ResponseWriter, r *http.Request) {
	who, ok := s.ownerCall(w, r)
	if !ok {
		return
	}
	v := mux.Vars(r)
	n, err := strconv.Atoi(v["n"])
	if err != nil || n < 1 {
		writeError(w, r, layer.Errorf(layer.BadRequest, "version: want a version number, got %q", truncate(v["n"], 32)))
		return
	}
	u, err := s.Catalog.Restore(r.Context(), v["name"], n, store.Author{Name: who.Name, Admin: who.Admin})
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.Logger.Info("udf restored", "udf", u.Name, "from_version", n, "version", u.Version, "by", who.Name)
	writeJSON(w, saved{Name: u.Name, Version: u.Version, CodeHash: u.CodeHash, Owner: u.Owner, Source: layer.SourceCatalog})
}

// tokenRequest is the body of POST /v1/udfs/{name}/tokens; every field is
// optional.
type tokenRequest struct {
	Enabled    *bool      `json:"enabled"`     // default true
	Cache      *bool      `json:"cache"`       // default true
	PublicRead *bool      `json:"public_read"` // default true; false is refused (see publicReadOnly)
	ExpiresIn  string     `json:"expires_in"`  // "24h", "7d"
	ExpiresAt  *time.Time `json:"expires_at"`  // RFC 3339
}

// tokenAnswer is a token as listed; the plain token only when made.
type tokenAnswer struct {
	store.Token
	Plain string            `json:"token,omitempty"`
	URLs  map[string]string `json:"urls,omitempty"`
}

// createToken serves POST /v1/udfs/{name}/tokens: a share token (fsh_...)
// that runs the UDF for anyone holding it. The token is shown once; the
// store keeps its hash.
func (s *api) createToken(w http.ResponseWriter, r *http.Request) {
	who, ok := s.ownerCall(w, r)
	if !ok {
		return
	}
	name := mux.Vars(r)["name"]
	body, err := s.readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var in tokenRequest
	if strings.TrimSpace(string(body)) != "" {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			writeError(w, r, layer.Errorf(layer.BadRequest, `the body must be JSON: {"enabled": true, "cache": true, "public_read": true, "expires_in": "24h"}: %v`, err))
			return
		}
	}
	o := store.TokenOptions{Enabled: true, Cache: true, Public: true}
	if in.Enabled != nil {
		o.Enabled = *in.Enabled
	}
	if in.Cache != nil {
		o.Cache = *in.Cache
	}
	if in.PublicRead != nil && !*in.PublicRead {
		writeError(w, r, layer.Errorf(layer.BadRequest, publicReadOnly))
		return
	}
	if in.ExpiresIn != "" && in.ExpiresAt != nil {
		writeError(w, r, layer.Errorf(layer.BadRequest, "give expires_in or expires_at, not both"))
		return
	}
	if in.ExpiresIn != "" || in.ExpiresAt != nil {
		if o.ExpiresAt, err = expiry(in.ExpiresIn, in.ExpiresAt); err != nil {
			writeError(w, r, err)
			return
		}
	}
	plain, t, err := s.Catalog.Store().CreateToken(r.Context(), name, who.Name, o)
	if err != nil {
		writeError(w, r, catalogError(err, name))
		return
	}
	base := s.baseURL(r) + "/server/v1/realtime-shared/" + plain
	s.Logger.Info("share token made", "udf", name, "token_id", t.ID, "by", who.Name)
	writeJSONStatus(w, http.StatusCreated, tokenAnswer{Token: t, Plain: plain, URLs: map[string]string{
		"tiles": base + "/run/tiles/{z}/{x}/{y}", "tilejson": base + "/run/tilejson.json", "file": base + "/run/file"}})
}

// publicReadOnly is why "public_read": false is refused: the share token is
// the credential of its URLs. A token that also required a bearer token
// would grant nothing that bearer token does not (any bearer token reads
// private UDFs), so share tokens are public read only.
const publicReadOnly = "public_read: false is not offered: a share token is itself the credential of its URLs " +
	"(anyone holding it may call the UDF); a share token that also required a bearer token would grant nothing " +
	"that bearer token does not already (any bearer token reads private UDFs): save the UDF with \"public\": false " +
	"and use bearer tokens instead"

// expiry is the expiry of expires_in (a duration from now; "never": none)
// or expires_at (an RFC 3339 time, in the future).
func expiry(in string, at *time.Time) (*time.Time, error) {
	switch {
	case in == "never":
		return nil, nil
	case in != "":
		d, err := config.ParseDuration(in)
		if err != nil || d <= 0 {
			return nil, layer.Errorf(layer.BadRequest, "expires_in: want a duration such as 24h or 7d, got %q", truncate(in, 32))
		}
		t := time.Now().Add(d).UTC()
		return &t, nil
	case at != nil:
		if !at.After(time.Now()) {
			return nil, layer.Errorf(layer.BadRequest, "expires_at: %s is past", at.Format(time.RFC3339))
		}
		t := at.UTC()
		return &t, nil
	}
	return nil, nil
}

// tokenPatch is the body of PATCH /v1/udfs/{name}/tokens/{id}; absent
// fields are left as they are.
type tokenPatch struct {
	Enabled   *bool           `json:"enabled"`
	Cache     *bool           `json:"cache"`
	ExpiresIn string          `json:"expires_in"` // "24h", "7d" from now; "never": no expiry
	ExpiresAt json.RawMessage `json:"expires_at"` // RFC 3339; null: no expiry
}

// updateToken serves PATCH /v1/udfs/{name}/tokens/{id}: a share token
// enabled or disabled, its cache turned on or off, its expiry changed; on
// every replica within a second, as a revocation. Revoked tokens stay
// revoked (409).
func (s *api) updateToken(w http.ResponseWriter, r *http.Request) {
	who, ok := s.ownerCall(w, r)
	if !ok {
		return
	}
	v := mux.Vars(r)
	body, err := s.readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var in tokenPatch
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeError(w, r, layer.Errorf(layer.BadRequest, `the body must be JSON: {"enabled": false, "cache": true, "expires_in": "24h"}, any of them ("expires_in": "never" or "expires_at": null removes the expiry): %v`, err))
		return
	}
	up := store.TokenUpdate{Enabled: in.Enabled, Cache: in.Cache}
	var at *time.Time
	atNull := false
	if len(in.ExpiresAt) > 0 {
		if string(in.ExpiresAt) == "null" {
			atNull = true
		} else {
			var t time.Time
			if err := json.Unmarshal(in.ExpiresAt, &t); err != nil {
				writeError(w, r, layer.Errorf(layer.BadRequest, "expires_at: want an RFC 3339 time or null: %v", err))
				return
			}
			at = &t
		}
	}
	switch {
	case in.ExpiresIn != "" && (at != nil || atNull):
		writeError(w, r, layer.Errorf(layer.BadRequest, "give expires_in or expires_at, not both"))
		return
	case in.ExpiresIn != "" || at != nil || atNull:
		e, err := expiry(in.ExpiresIn, at)
		if err != nil {
			writeError(w, r, err)
			return
		}
		up.Expiry = &e
	}
	if up.Enabled == nil && up.Cache == nil && up.Expiry == nil {
		writeError(w, r, layer.Errorf(layer.BadRequest, "nothing to change: give enabled, cache, expires_in or expires_at"))
		return
	}
	t, err := s.Catalog.UpdateToken(r.Context(), v["name"], v["id"], up)
	if err != nil {
		if errors.Is(err, store.ErrRevoked) {
			err = layer.Errorf(layer.Conflict, "token %s of %s is revoked: a revoked token cannot be changed; make a new one", truncate(v["id"], 32), v["name"])
		}
		writeError(w, r, catalogError(err, "token "+truncate(v["id"], 32)))
		return
	}
	s.Logger.Info("share token changed", "udf", v["name"], "token_id", t.ID, "enabled", t.Enabled, "cache", t.Cache, "by", who.Name)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, t)
}

// listTokens serves GET /v1/udfs/{name}/tokens (never the tokens themselves).
func (s *api) listTokens(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.ownerCall(w, r); !ok {
		return
	}
	name := mux.Vars(r)["name"]
	ts, err := s.Catalog.Store().Tokens(r.Context(), name)
	if err != nil {
		writeError(w, r, catalogError(err, name))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, map[string]any{"name": name, "tokens": ts})
}

// revokeToken serves DELETE /v1/udfs/{name}/tokens/{id}: the token stops
// working on every replica within a second.
func (s *api) revokeToken(w http.ResponseWriter, r *http.Request) {
	who, ok := s.ownerCall(w, r)
	if !ok {
		return
	}
	v := mux.Vars(r)
	if err := s.Catalog.RevokeToken(r.Context(), v["name"], v["id"]); err != nil {
		writeError(w, r, catalogError(err, "token "+truncate(v["id"], 32)))
		return
	}
	s.Logger.Info("share token revoked", "udf", v["name"], "token_id", v["id"], "by", who.Name)
	w.WriteHeader(http.StatusNoContent)
}

// draftRequest is the body of POST /v1/drafts.
type draftRequest struct {
	Code string `json:"code"`
}

// newDraft serves POST /v1/drafts: code to run without saving (the
// Workbench). It answers the draft's id and what it takes and makes, as
// GET /v1/udfs/{name} does; code that does not load is a 400 with the
// traceback and, when known, the failing line.
func (s *api) newDraft(w http.ResponseWriter, r *http.Request) {
	if !s.catalogOn(w, r) {
		return
	}
	who, err := s.editor(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	body, err := s.readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var in draftRequest
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, r, layer.Errorf(layer.BadRequest, `the body must be JSON: {"code": "..."}: %v`, err))
		return
	}
	if strings.TrimSpace(in.Code) == "" {
		writeError(w, r, layer.Errorf(layer.BadRequest, "code: the Python source of a @fused.udf function is required"))
		return
	}
	d, l, err := s.Catalog.NewDraft(r.Context(), who.Name, in.Code)
	if err != nil {
		var le *layer.Error
		if errors.As(err, &le) && le.Kind == layer.BadRequest {
			w.Header().Set("Cache-Control", "no-store")
			writeJSONStatus(w, http.StatusBadRequest, draftError{Error: le.Msg, Logs: le.Logs, Line: failingLine(le.Msg + "\n" + le.Logs)})
			return
		}
		writeError(w, r, err)
		return
	}
	info := describe(l)
	base := "/v1/drafts/" + d.ID
	info.Name = l.Name
	info.Tiles = base + "/tiles/{z}/{x}/{y}" + strings.TrimPrefix(info.Tiles, "/v1/udfs/"+url.PathEscape(l.Name)+"/tiles/{z}/{x}/{y}")
	info.TileJSON = ""
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, map[string]any{"id": d.ID, "udf": info, "run": base + "/run"})
}

type draftError struct {
	Error string `json:"error"`
	Logs  string `json:"logs,omitempty"`
	Line  int    `json:"line,omitempty"`
}

// failingLine is the line of the UDF's own code a traceback ends in: the
// last frame of a file the server wrote (its path ends in .py under the
// catalog's folder), or a SyntaxError's line.
func failingLine(tb string) int {
	line := 0
	for _, l := range strings.Split(tb, "\n") {
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(t, "File \"") {
			continue
		}
		file, rest, ok := strings.Cut(strings.TrimPrefix(t, "File \""), "\", line ")
		if !ok || !strings.Contains(file, "/draft-") && !strings.Contains(file, "/_check/") {
			continue
		}
		num, _, _ := strings.Cut(rest, ",")
		if n, err := strconv.Atoi(strings.TrimSpace(num)); err == nil {
			line = n
		}
	}
	return line
}

// draft finds a draft's layer for its tile and run routes (editors only).
func (s *api) draft(w http.ResponseWriter, r *http.Request) (*layer.Layer, bool) {
	if !s.catalogOn(w, r) {
		return nil, false
	}
	if _, err := s.editor(r); err != nil {
		writeError(w, r, err)
		return nil, false
	}
	l, err := s.Catalog.Draft(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		writeError(w, r, err)
		return nil, false
	}
	return l, true
}

// draftTile serves GET /v1/drafts/{id}/tiles/{z}/{x}/{y}[.ext], never cached.
func (s *api) draftTile(w http.ResponseWriter, r *http.Request) {
	l, ok := s.draft(w, r)
	if !ok {
		return
	}
	v := mux.Vars(r)
	y, ext, _ := strings.Cut(v["y"], ".")
	t, err := parseTile(v["z"], v["x"], y)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.serve(w, r, l, call{tile: t, isTile: true, ext: ext, query: r.URL.Query()})
}

// draftRun serves GET|POST /v1/drafts/{id}/run, never cached.
func (s *api) draftRun(w http.ResponseWriter, r *http.Request) {
	l, ok := s.draft(w, r)
	if !ok {
		return
	}
	c, err := s.fileCall(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.serve(w, r, l, c)
}

// catalogError maps the store's not-found to a 404 naming what.
func catalogError(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return layer.Errorf(layer.NotFound, "no %s in the catalog", what)
	}
	return err
}
