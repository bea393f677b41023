// Package catalog serves the UDFs saved at run time: it keeps the layers of
// the store's catalog in the registry beside the config's, checks code before
// a save, resolves share tokens made at run time, and follows the store's
// change log so that every replica serves a save, a delete or a revocation
// within a second of it.
package catalog

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/udftiles/udftiles/config"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/store"
)

// Options are what a catalog needs.
type Options struct {
	Store    *store.Store
	Registry *layer.Registry
	// Build makes the handler of a Python UDF from its config entry (the
	// python kind's factory).
	Build func(config.UDF) (layer.Handler, error)
	// Dir is where saved code is written, one file per version.
	Dir string
	// DefaultMaxAge is the server's cache_max_age.
	DefaultMaxAge time.Duration
	// Purge drops a layer's cached results from this replica's memory tier
	// (a purge recorded by another replica, with its selection as query
	// parameters); nil = nothing to drop.
	Purge  func(name string, selection url.Values)
	Logger *slog.Logger
	// Every is how often the change log is read (0 = 200 ms).
	Every time.Duration
	// DraftsTTL: drafts not run for this long are deleted from the store,
	// and the code files of drafts and of checks not used for this long
	// from Dir (0 = DefaultDraftsTTL).
	DraftsTTL time.Duration
	// ChangesTTL: entries of the change log older than this are deleted
	// (0 = DefaultChangesTTL).
	ChangesTTL time.Duration
	// PruneEvery is how often they are pruned (0 = a quarter of the shorter
	// TTL, between 1 s and 10 min).
	PruneEvery time.Duration
}

// Retention defaults.
const (
	DefaultDraftsTTL  = time.Hour
	DefaultChangesTTL = 24 * time.Hour
)

// Catalog is the store's UDFs as layers of the registry.
type Catalog struct {
	o Options

	mu     sync.Mutex
	layers map[string]*layer.Layer // catalog layers by name
	paths  map[string]string       // their code files by name
	tokens map[string]store.Token  // share tokens seen, by their plain text's hash

	drafts   map[string]*layer.Layer // recent drafts by id
	touched  map[string]time.Time    // when a draft was last marked used (touchDraft)
	draftsMu sync.Mutex

	filesMu sync.Mutex // code files written (write) and removed (pruneFiles)

	id string // this replica's, in the changes it records
}

// New returns a catalog; Start loads it.
func New(o Options) *Catalog {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Every <= 0 {
		o.Every = 200 * time.Millisecond
	}
	if o.DraftsTTL <= 0 {
		o.DraftsTTL = DefaultDraftsTTL
	}
	if o.ChangesTTL <= 0 {
		o.ChangesTTL = DefaultChangesTTL
	}
	if o.PruneEvery <= 0 {
		o.PruneEvery = min(10*time.Minute, max(time.Second, min(o.DraftsTTL, o.ChangesTTL)/4))
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Catalog{id: hex.EncodeToString(b[:]), o: o, layers: map[string]*layer.Layer{}, paths: map[string]string{}, tokens: map[string]store.Token{}, drafts: map[string]*layer.Layer{},
		touched: map[string]time.Time{}}
}

// Store is the catalog's store.
func (c *Catalog) Store() *store.Store { return c.o.Store }

// Start loads every saved UDF into the registry, then follows the change log
// and prunes drafts, their files and old changes (Prune, every PruneEvery)
// until ctx ends. A name the config already serves is left to the config.
func (c *Catalog) Start(ctx context.Context) error {
	last, err := c.o.Store.LastChange(ctx)
	if err != nil {
		return fmt.Errorf("store: %v", err)
	}
	udfs, err := c.o.Store.UDFs(ctx)
	if err != nil {
		return fmt.Errorf("store: %v", err)
	}
	for _, u := range udfs {
		c.apply(u)
	}
	go func() {
		err := c.o.Store.Follow(ctx, last, c.o.Every, c.changed)
		if err != nil && ctx.Err() == nil {
			c.o.Logger.Error("catalog: following the store's changes stopped", "error", err.Error())
		}
	}()
	go func() {
		t := time.NewTicker(c.o.PruneEvery)
		defer t.Stop()
		for {
			c.Prune(ctx, time.Now())
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Prune deletes what is kept for a while only, as of now: the drafts not
// run for DraftsTTL (from the store; every replica does it, which is
// harmless), the code files of drafts and checks not used for DraftsTTL
// (from this replica's Dir), and the changes older than ChangesTTL.
// Failures are logged.
func (c *Catalog) Prune(ctx context.Context, now time.Time) {
	if ctx.Err() != nil {
		return
	}
	if n, err := c.o.Store.PruneDrafts(ctx, now.Add(-c.o.DraftsTTL)); err != nil {
		c.o.Logger.Warn("catalog: pruning drafts", "error", err.Error())
	} else if n > 0 {
		c.o.Logger.Info("catalog: drafts pruned", "count", n, "unused_for", c.o.DraftsTTL.String())
	}
	if n, err := c.o.Store.PruneChanges(ctx, now.Add(-c.o.ChangesTTL)); err != nil {
		c.o.Logger.Warn("catalog: pruning the change log", "error", err.Error())
	} else if n > 0 {
		c.o.Logger.Info("catalog: change log pruned", "count", n, "older_than", c.o.ChangesTTL.String())
	}
	if n := c.pruneFiles(now.Add(-c.o.DraftsTTL)); n > 0 {
		c.o.Logger.Info("catalog: code files of drafts and checks removed", "count", n, "unused_for", c.o.DraftsTTL.String())
	}
}

// pruneFiles removes the folders of drafts (Dir/draft-*) and of checks
// (Dir/_check/*) last used before cutoff (write marks a folder used), and
// forgets the drafts' layers, which load again from the store if asked.
// It returns how many folders it removed.
func (c *Catalog) pruneFiles(cutoff time.Time) int {
	c.filesMu.Lock()
	defer c.filesMu.Unlock()
	var old []string
	stale := func(dir string) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		for _, e := range entries {
			if !e.IsDir() || (dir == c.o.Dir && !strings.HasPrefix(e.Name(), "draft-")) {
				continue
			}
			if info, err := e.Info(); err == nil && info.ModTime().Before(cutoff) {
				old = append(old, filepath.Join(dir, e.Name()))
			}
		}
	}
	stale(c.o.Dir)
	stale(filepath.Join(c.o.Dir, "_check"))
	removed := 0
	for _, p := range old {
		if err := os.RemoveAll(p); err != nil {
			c.o.Logger.Warn("catalog: removing old code files", "path", p, "error", err.Error())
			continue
		}
		removed++
		if name := filepath.Base(p); strings.HasPrefix(name, "draft-") {
			c.draftsMu.Lock()
			for id, l := range c.drafts {
				if l.Name == name {
					delete(c.drafts, id)
				}
			}
			c.draftsMu.Unlock()
		}
	}
	return removed
}

// changed applies one entry of the change log: from this replica or another.
func (c *Catalog) changed(ch store.Change) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch ch.Kind {
	case store.ChangeUDF:
		u, err := c.o.Store.UDF(ctx, ch.Name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			c.drop(ch.Name)
		case err != nil:
			c.o.Logger.Error("catalog: reading a changed UDF", "udf", ch.Name, "error", err.Error())
		default:
			c.apply(u)
		}
		c.forgetTokens(ch.Name) // a deleted UDF's tokens went with it
	case store.ChangeToken:
		c.forgetTokens(ch.Name)
	case store.ChangePurge:
		q, err := url.ParseQuery(ch.Data)
		if err != nil || c.o.Purge == nil || q.Get("origin") == c.id {
			return // this replica's own purge, done already
		}
		q.Del("origin")
		c.o.Purge(ch.Name, q)
	}
}

// names are those of layers: letters, digits, _ and -, starting with a letter.
var nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// CheckName refuses names the catalog cannot hold.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return layer.Errorf(layer.BadRequest, "UDF name %q: want a letter, then letters, digits, _ or - (at most 64)", name)
	}
	return nil
}

// apply puts version u of a saved UDF in the registry, unless the config
// serves that name, or the registry already has this version.
func (c *Catalog) apply(u store.UDF) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.o.Registry.Get(u.Name); ok && cur.Source != layer.SourceCatalog {
		c.o.Logger.Warn("catalog: a saved UDF has the name of a config layer; the config's is served", "udf", u.Name)
		return
	}
	if cur, ok := c.layers[u.Name]; ok && cur.Version == u.Version {
		return
	}
	l, path := c.build(u)
	c.layers[u.Name], c.paths[u.Name] = l, path
	c.o.Registry.Add(l)
}

// Path is the code file of the catalog UDF name, for workers that load it
// (fused.load("name") in a UDF).
func (c *Catalog) Path(name string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.paths[name]
	return p, ok && p != ""
}

// ShareToken is Token for the Python host: the layer a usable token runs.
func (c *Catalog) ShareToken(ctx context.Context, plain string) (string, bool) {
	t, ok := c.Token(ctx, plain)
	return t.UDF, ok
}

// drop takes a deleted UDF out of the registry.
func (c *Catalog) drop(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.layers[name]; ok {
		c.o.Registry.Remove(l)
		delete(c.layers, name)
		delete(c.paths, name)
	}
}

// build makes the layer of a saved version: its code is written to a file
// named by the code's hash (so a version's cache keys are its own), then
// loaded as a Python layer.
func (c *Catalog) build(u store.UDF) (*layer.Layer, string) {
	l := &layer.Layer{Name: u.Name, Kind: "python", Description: u.Meta.Description, MaxAge: c.o.DefaultMaxAge,
		Defaults: url.Values{}, Private: !u.Meta.Public, Source: layer.SourceCatalog, Owner: u.Owner, Version: u.Version}
	if a := u.Meta.CacheMaxAge; a != "" {
		if d, err := config.ParseDuration(a); err == nil {
			l.MaxAge, l.MaxAgeSet = d, true
		}
	}
	for k, v := range u.Meta.Parameters {
		l.Defaults.Set(k, layer.QueryText(v))
	}
	path, err := c.write(u.Name, u.Code)
	if err != nil {
		l.Err = err
		return l, ""
	}
	cu := config.UDF{Name: u.Name, Handler: "python", Path: path, MinZoom: u.Meta.MinZoom, MaxZoom: u.Meta.MaxZoom, Bounds: u.Meta.Bounds}
	l.Handler, l.Err = c.o.Build(cu)
	return l, path
}

// write keeps code in Dir/name/<hash>/name.py and returns the path. The
// folders' times say when they were last used (pruneFiles goes by them).
func (c *Catalog) write(name, code string) (string, error) {
	c.filesMu.Lock()
	defer c.filesMu.Unlock()
	sum := sha256.Sum256([]byte(code))
	dir := filepath.Join(c.o.Dir, name, hex.EncodeToString(sum[:8]))
	p := filepath.Join(dir, name+".py")
	if b, err := os.ReadFile(p); err == nil && string(b) == code {
		now := time.Now()
		_ = os.Chtimes(dir, now, now)
		_ = os.Chtimes(filepath.Dir(dir), now, now)
		return p, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("catalog: %v", err)
	}
	tmp, err := os.CreateTemp(dir, ".code-*")
	if err != nil {
		return "", fmt.Errorf("catalog: %v", err)
	}
	_, werr := tmp.WriteString(code)
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("catalog: writing code: %v", errors.Join(werr, cerr))
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("catalog: %v", err)
	}
	return p, nil
}

// Check loads code as a UDF without saving it: nil, or the error with the
// traceback of why it does not load (a syntax error, no @fused.udf).
func (c *Catalog) Check(code string) (layer.Handler, error) {
	path, err := c.write("_check", code)
	if err != nil {
		return nil, err
	}
	h, err := c.o.Build(config.UDF{Name: "_check", Handler: "python", Path: path})
	if err != nil {
		return nil, layer.Errorf(layer.Unavailable, "cannot load Python code here: %v", err)
	}
	if s, ok := h.(layer.Statuser); ok {
		if err := s.Status(); err != nil {
			var le *layer.Error
			if errors.As(err, &le) {
				msg, logs := splitTraceback(le.Msg, le.Logs)
				return nil, &layer.Error{Kind: layer.BadRequest, Msg: "the code does not load: " + msg, Logs: logs}
			}
			return nil, layer.Errorf(layer.BadRequest, "the code does not load: %v", err)
		}
	}
	return h, nil
}

// Save checks code, then saves it as the next version of name and serves it
// at once on this replica (others follow the change log). A UDF of another
// owner is changed only by an admin: the store checks it as it writes.
func (c *Catalog) Save(ctx context.Context, name string, by store.Author, code string, meta store.Meta) (store.UDF, error) {
	if err := CheckName(name); err != nil {
		return store.UDF{}, err
	}
	if err := c.notConfig(name); err != nil {
		return store.UDF{}, err
	}
	if err := checkMeta(meta); err != nil {
		return store.UDF{}, err
	}
	if _, err := c.Check(code); err != nil {
		return store.UDF{}, err
	}
	u, err := c.o.Store.SaveUDF(ctx, name, by, code, meta)
	if err != nil {
		return store.UDF{}, storeError(err, name)
	}
	c.apply(u)
	return u, nil
}

// Restore saves version n of name again as its newest.
func (c *Catalog) Restore(ctx context.Context, name string, n int, by store.Author) (store.UDF, error) {
	u, err := c.o.Store.Restore(ctx, name, n, by)
	if err != nil {
		return store.UDF{}, storeError(err, fmt.Sprintf("%s version %d", name, n))
	}
	c.apply(u)
	return u, nil
}

// Delete removes name, its versions and tokens.
func (c *Catalog) Delete(ctx context.Context, name string) error {
	if err := c.notConfig(name); err != nil {
		return err
	}
	if err := c.o.Store.DeleteUDF(ctx, name); err != nil {
		return storeError(err, name)
	}
	c.drop(name)
	c.forgetTokens(name)
	return nil
}

// notConfig refuses names of config layers, which are read-only.
func (c *Catalog) notConfig(name string) error {
	if l, ok := c.o.Registry.Get(name); ok && l.Source != layer.SourceCatalog {
		return layer.Errorf(layer.Conflict, "%q is a layer of the server's config, which is read-only; pick another name", name)
	}
	return nil
}

func checkMeta(m store.Meta) error {
	if m.CacheMaxAge != "" {
		if _, err := config.ParseDuration(m.CacheMaxAge); err != nil {
			return layer.Errorf(layer.BadRequest, "cache_max_age: %v", err)
		}
	}
	if len(m.Bounds) != 0 {
		b := m.Bounds
		if len(b) != 4 || b[0] >= b[2] || b[1] >= b[3] || b[0] < -180 || b[2] > 180 || b[1] < -90 || b[3] > 90 {
			return layer.Errorf(layer.BadRequest, "bounds: want [minx, miny, maxx, maxy] in lon/lat, min below max, got %v", b)
		}
	}
	for _, z := range []*int{m.MinZoom, m.MaxZoom} {
		if z != nil && (*z < 0 || *z > 30) {
			return layer.Errorf(layer.BadRequest, "min_zoom, max_zoom: want 0 to 30, got %d", *z)
		}
	}
	if m.MinZoom != nil && m.MaxZoom != nil && *m.MinZoom > *m.MaxZoom {
		return layer.Errorf(layer.BadRequest, "min_zoom %d is above max_zoom %d", *m.MinZoom, *m.MaxZoom)
	}
	return nil
}

// storeError maps the store's errors to kinds.
func storeError(err error, what string) error {
	var noe *store.NotOwnerError
	switch {
	case errors.Is(err, store.ErrNotFound):
		return layer.Errorf(layer.NotFound, "no saved UDF %s", what)
	case errors.As(err, &noe):
		return layer.Errorf(layer.Forbidden, "UDF %s belongs to %s: only its owner or an admin may change it", noe.Name, noe.Owner)
	}
	return err
}

// Token resolves a share token made at run time: its UDF's name, or false
// when it is unknown, revoked, disabled or expired. Tokens are read from the
// store once and forgotten when the change log says their UDF's tokens
// changed, so a revocation reaches every replica with the log.
func (c *Catalog) Token(ctx context.Context, plain string) (store.Token, bool) {
	key := hashKey(plain)
	c.mu.Lock()
	t, ok := c.tokens[key]
	c.mu.Unlock()
	if !ok {
		var err error
		t, err = c.o.Store.TokenByPlain(ctx, plain)
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				c.o.Logger.Error("catalog: reading a share token", "error", err.Error())
			}
			return store.Token{}, false
		}
		c.mu.Lock()
		if len(c.tokens) > 10000 {
			clear(c.tokens)
		}
		c.tokens[key] = t
		c.mu.Unlock()
	}
	return t, t.Usable(time.Now())
}

// RecordPurge tells the other replicas of a purge of name's cached results
// (selection as query parameters) through the change log.
func (c *Catalog) RecordPurge(ctx context.Context, name string, selection url.Values) error {
	q := url.Values{}
	for k, v := range selection {
		q[k] = v
	}
	q.Set("origin", c.id)
	_, err := c.o.Store.Record(ctx, store.ChangePurge, name, q.Encode())
	return err
}

// RevokeToken revokes a share token of udf: at once on this replica, on the
// others with the change log.
func (c *Catalog) RevokeToken(ctx context.Context, udf, id string) error {
	if err := c.o.Store.RevokeToken(ctx, udf, id); err != nil {
		return err
	}
	c.forgetTokens(udf)
	return nil
}

// UpdateToken changes a share token of udf (enabled, cache, expiry): at
// once on this replica, on the others with the change log.
func (c *Catalog) UpdateToken(ctx context.Context, udf, id string, up store.TokenUpdate) (store.Token, error) {
	t, err := c.o.Store.UpdateToken(ctx, udf, id, up)
	if err != nil {
		return store.Token{}, err
	}
	c.forgetTokens(udf)
	return t, nil
}

func (c *Catalog) forgetTokens(udf string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, t := range c.tokens {
		if t.UDF == udf {
			delete(c.tokens, k)
		}
	}
}

func hashKey(s string) string {
	h := sha256.Sum256([]byte(s))
	return string(h[:])
}

// Draft returns the layer of code run from the Workbench without saving: it
// is never cached, and is known by its code's hash on every replica (the
// store keeps the code).
func (c *Catalog) Draft(ctx context.Context, id string) (*layer.Layer, error) {
	c.draftsMu.Lock()
	l, ok := c.drafts[id]
	c.draftsMu.Unlock()
	if ok {
		c.touchDraft(id)
		return l, nil
	}
	d, err := c.o.Store.Draft(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, layer.Errorf(layer.NotFound, "no draft %q: POST its code to /v1/drafts", id)
		}
		return nil, err
	}
	return c.draftLayer(d)
}

// touchDraft marks a draft in use (its tiles and runs ask for it): its
// store row and its code folder, at most once per a tenth of DraftsTTL, so
// that Prune keeps a draft still being run as long as one being edited.
func (c *Catalog) touchDraft(id string) {
	now := time.Now()
	c.draftsMu.Lock()
	last, ok := c.touched[id]
	due := !ok || now.Sub(last) >= c.o.DraftsTTL/10
	if due {
		if len(c.touched) >= 1024 {
			clear(c.touched)
		}
		c.touched[id] = now
	}
	c.draftsMu.Unlock()
	if !due {
		return
	}
	c.filesMu.Lock()
	_ = os.Chtimes(filepath.Join(c.o.Dir, "draft-"+id[:min(12, len(id))]), now, now)
	c.filesMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.o.Store.TouchDraft(ctx, id, now); err != nil {
		c.o.Logger.Warn("catalog: marking a draft used", "draft", id, "error", err.Error())
	}
}

// NewDraft checks code and keeps it as a draft.
func (c *Catalog) NewDraft(ctx context.Context, author, code string) (store.Draft, *layer.Layer, error) {
	if _, err := c.Check(code); err != nil {
		return store.Draft{}, nil, err
	}
	d, err := c.o.Store.SaveDraft(ctx, author, code)
	if err != nil {
		return store.Draft{}, nil, err
	}
	l, err := c.draftLayer(d)
	return d, l, err
}

func (c *Catalog) draftLayer(d store.Draft) (*layer.Layer, error) {
	name := "draft-" + d.ID[:12]
	path, err := c.write(name, d.Code)
	if err != nil {
		return nil, err
	}
	h, err := c.o.Build(config.UDF{Name: name, Handler: "python", Path: path})
	if err != nil {
		return nil, err
	}
	l := &layer.Layer{Name: name, Kind: "python", Handler: h, MaxAgeSet: true, Defaults: url.Values{}, Private: true}
	c.draftsMu.Lock()
	if len(c.drafts) >= 256 {
		clear(c.drafts)
	}
	c.drafts[d.ID] = l
	c.draftsMu.Unlock()
	return l, nil
}

// splitTraceback puts a traceback that came as an error's message into its
// logs, and keeps the message to the traceback's last line (the exception).
func splitTraceback(msg, logs string) (string, string) {
	if !strings.Contains(msg, "Traceback (most recent call last)") {
		return msg, logs
	}
	last := ""
	for _, l := range strings.Split(strings.TrimSpace(msg), "\n") {
		if t := strings.TrimSpace(l); t != "" {
			last = t
		}
	}
	if logs != "" {
		msg = logs + "\n" + msg
	}
	return last, msg
}
