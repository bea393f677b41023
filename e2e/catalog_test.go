package e2e

import (
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udftiles/udftiles/internal/pgtest"
)

// catalogCode is a UDF saved at run time: tiles filled with one grey level,
// and a file mode answer naming its version.
const catalogCode = `import fused
import numpy as np


@fused.udf
def udf(bounds: fused.types.Bounds = None, level: int = %d, tag: str = "v%d"):
    print("drawing", level)
    return np.full((256, 256), level, dtype="uint8") if bounds is not None and level >= 0 else {"tag": tag, "level": level}
`

// catalogUser is a UDF of the config that loads a catalog UDF by name.
const catalogUser = `import fused


@fused.udf
def udf(name: str = "shade"):
    u = fused.load(name)
    return {"loaded": u.name, "ran": fused.run(name, level=-1, tag="nested")}
`

// catalogConfig writes a config with an editor (alice), a second editor
// (bob), a reader and an admin, the store at storeURL, and a config layer
// "fixed" (a name the catalog may not take).
func catalogConfig(t *testing.T, dir, storeURL string, bin string) (cfg string, tokens map[string]string) {
	t.Helper()
	tokens = map[string]string{"alice": "alice-token-1", "bob": "bob-token-2", "reader": "reader-token-3", "admin": "admin-token-4"}
	if err := os.WriteFile(filepath.Join(dir, "user.py"), []byte(catalogUser), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg = fmt.Sprintf(`python:
  workers: 2
  cache_dir: %s/cache
store:
  url: %s
auth:
  bearer:
    - {name: alice, sha256: %s, role: editor}
    - {name: bob, sha256: %s, role: editor}
    - {name: reader, sha256: %s}
    - {name: admin, sha256: %s, role: admin}
udfs:
  - {name: fixed, handler: python, path: user.py}
`, dir, storeURL, hashOf(t, bin, tokens["alice"]), hashOf(t, bin, tokens["bob"]), hashOf(t, bin, tokens["reader"]), hashOf(t, bin, tokens["admin"]))
	return cfg, tokens
}

func saveBody(t *testing.T, code string, meta map[string]any) string {
	t.Helper()
	m := map[string]any{"code": code}
	for k, v := range meta {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pngLevel is the grey level of a PNG tile's first pixel.
func pngLevel(t *testing.T, body string) int {
	t.Helper()
	img, err := png.Decode(strings.NewReader(body))
	if err != nil {
		t.Fatalf("not a PNG (%v): %.200q", err, body)
	}
	r, _, _, _ := img.At(0, 0).RGBA()
	return int(r >> 8)
}

// within polls cond every 20 ms until it holds, for at most d, and returns
// how long it took.
func within(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	waitFor(t, d, what, cond)
	return time.Since(start)
}

// TestCatalogSQLite: the catalog on the embedded store, one server: saving,
// roles, versions, share tokens, drafts, fused.load of a saved UDF in a UDF,
// and the catalog surviving a restart.
func TestCatalogSQLite(t *testing.T) {
	bin, _ := sharedBinary(t)
	dir := t.TempDir()
	cfg, tok := catalogConfig(t, dir, "sqlite://"+filepath.Join(dir, "udftiles.db"), bin)
	s := startServer(t, dir, cfg)
	checkCatalog(t, s, tok)

	// The catalog survives a restart: the saved version and its token.
	code, body := s.call(t, "GET", "/v1/udfs/shade", "", "")
	if code != 200 || !has(body, `"source":"catalog"`) {
		t.Fatalf("before restart: %d %s", code, body)
	}
	s.stop()
	s.start()
	s.waitReady()
	code, body = s.call(t, "GET", "/v1/udfs/shade/run?level=-1", "", "")
	if code != 200 || !has(body, `"tag":"v1"`) { // version 3 restored version 1
		t.Fatalf("after restart, the saved UDF: %d %s", code, body)
	}
	if code, body := s.call(t, "GET", "/v1/udfs/shade", "", ""); code != 200 || !has(body, `"version":3`) {
		t.Fatalf("after restart, the version: %d %s", code, body)
	}
}

// checkCatalog runs the catalog's checks on a server of catalogConfig.
func checkCatalog(t *testing.T, s *tileServer, tok map[string]string) {
	t.Helper()
	put := func(who, name, body string) (int, string) {
		return s.call(t, "PUT", "/v1/udfs/"+name, tok[who], body)
	}
	// Roles: anonymous 401, reader 403; the config's names are read-only.
	if code, body := s.call(t, "PUT", "/v1/udfs/shade", "", saveBody(t, fmt.Sprintf(catalogCode, 10, 1), nil)); code != 401 {
		t.Fatalf("anonymous save: %d %s", code, body)
	}
	if code, body := put("reader", "shade", saveBody(t, fmt.Sprintf(catalogCode, 10, 1), nil)); code != 403 || !has(body, "reader") {
		t.Fatalf("reader save: %d %s", code, body)
	}
	if code, body := put("alice", "fixed", saveBody(t, fmt.Sprintf(catalogCode, 10, 1), nil)); code != 409 || !has(body, "read-only") {
		t.Fatalf("save over a config layer: %d %s", code, body)
	}
	// A save that does not load is refused with its traceback, and nothing is saved.
	code, body := put("alice", "shade", saveBody(t, "import fused\n\n@fused.udf\ndef udf(:\n    return 1\n", nil))
	if code != 400 || !has(body, "SyntaxError") {
		t.Fatalf("broken save: %d %s", code, body)
	}
	if code, body := s.call(t, "GET", "/v1/udfs/shade", "", ""); code != 404 {
		t.Fatalf("after a refused save: %d %s", code, body)
	}
	if code, body := put("alice", "shade", saveBody(t, "x = 1\n", nil)); code != 400 || !strings.Contains(strings.ToLower(body), "udf") {
		t.Fatalf("code without @fused.udf: %d %s", code, body)
	}
	if code, body := put("alice", "bad name!", saveBody(t, fmt.Sprintf(catalogCode, 10, 1), nil)); code != 400 && code != 404 {
		t.Fatalf("a bad name: %d %s", code, body)
	}

	// Version 1, public, with a default parameter from the metadata.
	code, body = put("alice", "shade", saveBody(t, fmt.Sprintf(catalogCode, 10, 1), map[string]any{
		"description": "grey tiles", "public": true, "parameters": map[string]any{"level": 40}, "cache_max_age": "1h"}))
	if code != 201 || !has(body, `"version":1`) || !has(body, `"owner":"alice"`) {
		t.Fatalf("first save: %d %s", code, body)
	}
	code, body = s.call(t, "GET", "/v1/udfs/shade/tiles/3/4/2.png", "", "")
	if code != 200 || pngLevel(t, body) != 40 {
		t.Fatalf("tile of version 1 (level from the saved default 40): %d", code)
	}
	code, body = s.call(t, "GET", "/v1/udfs/shade", "", "")
	if code != 200 || !has(body, `"source":"catalog"`) || !has(body, `"cache_max_age":"1h0m0s"`) || !strings.Contains(body, `"description":"grey tiles"`) || !has(body, `{"name":"level","type":"int","default":"40"}`) {
		t.Fatalf("info: %d %s", code, body)
	}
	if _, list := s.call(t, "GET", "/v1/udfs", "", ""); !has(list, `"name":"fixed"`) || !has(list, `"source":"config"`) || !has(list, `"name":"shade"`) {
		t.Fatalf("listing: %s", list)
	}

	// Version 2: a new level; the tile changes at once (the code hash is in the key).
	code, body = put("alice", "shade", saveBody(t, fmt.Sprintf(catalogCode, 200, 2), map[string]any{"public": true}))
	if code != 200 || !has(body, `"version":2`) {
		t.Fatalf("second save: %d %s", code, body)
	}
	code, body = s.call(t, "GET", "/v1/udfs/shade/tiles/3/4/2.png", "", "")
	if code != 200 || pngLevel(t, body) != 200 {
		t.Fatalf("tile of version 2: %d", code)
	}
	// Bob may not change alice's UDF; an admin may.
	if code, body := put("bob", "shade", saveBody(t, fmt.Sprintf(catalogCode, 1, 9), nil)); code != 403 || !has(body, "alice") {
		t.Fatalf("bob over alice's: %d %s", code, body)
	}
	if code, body := s.call(t, "DELETE", "/v1/udfs/shade", tok["bob"], ""); code != 403 {
		t.Fatalf("bob deletes alice's: %d %s", code, body)
	}
	// Code, versions, restore.
	code, body = s.call(t, "GET", "/v1/udfs/shade/code", "", "")
	if code != 200 || !strings.Contains(body, "level: int = 200") {
		t.Fatalf("code: %d %s", code, body)
	}
	code, body = s.call(t, "GET", "/v1/udfs/shade/code?version=1", "", "")
	if code != 200 || !strings.Contains(body, "level: int = 10") {
		t.Fatalf("code of version 1: %d %s", code, body)
	}
	code, body = s.call(t, "GET", "/v1/udfs/shade/versions", "", "")
	var vs struct {
		Versions []struct {
			Version  int    `json:"version"`
			Author   string `json:"author"`
			CodeHash string `json:"code_hash"`
		} `json:"versions"`
	}
	if err := json.Unmarshal([]byte(body), &vs); code != 200 || err != nil || len(vs.Versions) != 2 || vs.Versions[0].Version != 2 || vs.Versions[1].Author != "alice" || vs.Versions[0].CodeHash == vs.Versions[1].CodeHash {
		t.Fatalf("versions: %d %s", code, body)
	}
	code, body = s.call(t, "POST", "/v1/udfs/shade/versions/1/restore", tok["admin"], "")
	if code != 200 || !has(body, `"version":3`) {
		t.Fatalf("restore: %d %s", code, body)
	}
	code, body = s.call(t, "GET", "/v1/udfs/shade/tiles/3/4/2.png", "", "")
	if code != 200 || pngLevel(t, body) != 40 {
		t.Fatalf("tile after restoring version 1 (its default 40): %d", code)
	}
	// fused.load / fused.run of the saved UDF inside a config UDF.
	code, body = s.call(t, "GET", "/v1/udfs/fixed/run?name=shade", "", "")
	if flat := strings.ReplaceAll(body, " ", ""); code != 200 || !strings.Contains(flat, `"loaded":"shade"`) || !strings.Contains(flat, `"tag":"nested"`) {
		t.Fatalf("fused.load of a catalog UDF in a UDF: %d %s", code, body)
	}

	// Share tokens: made by the owner, used with no bearer, listed, revoked.
	if code, body := s.call(t, "POST", "/v1/udfs/shade/tokens", tok["bob"], ""); code != 403 {
		t.Fatalf("bob shares alice's: %d %s", code, body)
	}
	code, body = s.call(t, "POST", "/v1/udfs/shade/tokens", tok["alice"], `{"cache": false}`)
	var made struct {
		ID    string            `json:"id"`
		Token string            `json:"token"`
		URLs  map[string]string `json:"urls"`
		Cache bool              `json:"cache"`
	}
	if err := json.Unmarshal([]byte(body), &made); code != 201 || err != nil || !strings.HasPrefix(made.Token, "fsh_") || made.Cache || !strings.Contains(made.URLs["tiles"], made.Token) {
		t.Fatalf("token: %d %s", code, body)
	}
	shared := "/server/v1/realtime-shared/" + made.Token
	code, body = s.call(t, "GET", shared+"/run/tiles/3/4/2.png", "", "")
	if code != 200 || pngLevel(t, body) != 40 {
		t.Fatalf("shared tile: %d %s", code, body)
	}
	code, body = s.call(t, "GET", shared+"/run/file?level=-1&tag=shared", "", "")
	if code != 200 || !has(body, `"tag":"shared"`) {
		t.Fatalf("shared file: %d %s", code, body)
	}
	code, body = s.call(t, "GET", "/v1/udfs/shade/tokens", tok["alice"], "")
	if code != 200 || !has(body, made.ID) || has(body, made.Token) {
		t.Fatalf("token listing (never the token itself): %d %s", code, body)
	}
	if code, body := s.call(t, "DELETE", "/v1/udfs/shade/tokens/"+made.ID, tok["alice"], ""); code != 204 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if code, body := s.call(t, "GET", shared+"/run/file?level=-1", "", ""); code != 404 {
		t.Fatalf("revoked token still works: %d %s", code, body)
	}

	// Drafts: editors only, never cached; a broken draft names its line.
	if code, body := s.call(t, "POST", "/v1/drafts", tok["reader"], `{"code": "x"}`); code != 403 {
		t.Fatalf("reader draft: %d %s", code, body)
	}
	code, body = s.call(t, "POST", "/v1/drafts", tok["alice"], saveBody(t, "import fused\n\n@fused.udf\ndef udf(n: int = 1):\n    return 1 +\n", nil))
	if code != 400 || !has(body, `"line":5`) {
		t.Fatalf("broken draft: %d %s", code, body)
	}
	code, body = s.call(t, "POST", "/v1/drafts", tok["alice"], saveBody(t, fmt.Sprintf(catalogCode, 77, 7), nil))
	var draft struct {
		ID  string `json:"id"`
		UDF struct {
			Tiles      string `json:"tiles"`
			Parameters []struct {
				Name string `json:"name"`
			} `json:"parameters"`
		} `json:"udf"`
	}
	if err := json.Unmarshal([]byte(body), &draft); code != 200 || err != nil || draft.ID == "" || !strings.HasPrefix(draft.UDF.Tiles, "/v1/drafts/"+draft.ID+"/tiles/") || len(draft.UDF.Parameters) < 2 {
		t.Fatalf("draft: %d %s", code, body)
	}
	if code, _ := s.call(t, "GET", "/v1/drafts/"+draft.ID+"/tiles/3/4/2.png", "", ""); code != 401 {
		t.Fatalf("anonymous draft tile: %d", code)
	}
	for i := 0; i < 2; i++ {
		r := s.doBody("GET", "/v1/drafts/"+draft.ID+"/tiles/3/4/2.png?debug=true", http.Header{"Authorization": {"Bearer " + tok["alice"]}}, nil, 60*time.Second)
		if r.err != nil || r.status != 200 || pngLevel(t, string(r.body)) != 77 {
			t.Fatalf("draft tile: %v %d", r.err, r.status)
		}
		if r.header.Get("X-Cache") == "hit" || !strings.Contains(r.header.Get("X-UDF-Logs"), "drawing 77") {
			t.Fatalf("draft tile %d: X-Cache %q, X-UDF-Logs %q", i, r.header.Get("X-Cache"), r.header.Get("X-UDF-Logs"))
		}
	}
	code, body = s.call(t, "GET", "/v1/drafts/"+draft.ID+"/run?level=-1", tok["alice"], "")
	if code != 200 || !has(body, `"tag":"v7"`) {
		t.Fatalf("draft run: %d %s", code, body)
	}

	// A second UDF, deleted: gone from the listing and its routes.
	if code, body := put("bob", "gone", saveBody(t, fmt.Sprintf(catalogCode, 5, 1), map[string]any{"public": false})); code != 201 {
		t.Fatalf("bob's save: %d %s", code, body)
	}
	if code, _ := s.call(t, "GET", "/v1/udfs/gone/run?level=-1", "", ""); code != 401 {
		t.Fatalf("a private saved UDF without a token: %d", code)
	}
	if code, body := s.call(t, "GET", "/v1/udfs/gone/run?level=-1", tok["reader"], ""); code != 200 || !has(body, `"level":-1`) {
		t.Fatalf("a private saved UDF with a reader's token: %d %s", code, body)
	}
	if code, body := s.call(t, "DELETE", "/v1/udfs/gone", tok["bob"], ""); code != 204 {
		t.Fatalf("delete: %d %s", code, body)
	}
	if code, _ := s.call(t, "GET", "/v1/udfs/gone", tok["reader"], ""); code != 404 {
		t.Fatalf("deleted UDF still served: %d", code)
	}
}

// TestCatalogPostgres: the same checks on PostgreSQL, then a second replica
// on the same database serves a save, a delete and a token revocation made
// on the first within a second.
func TestCatalogPostgres(t *testing.T) {
	bin, _ := sharedBinary(t)
	pg := pgtest.Start(t)
	dbURL := pg.NewDatabase(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	cfgA, tok := catalogConfig(t, dirA, dbURL, bin)
	cfgB, _ := catalogConfig(t, dirB, dbURL, bin)
	a := startServer(t, dirA, cfgA)
	b := startServer(t, dirB, cfgB)
	checkCatalog(t, a, tok)

	// B already serves what A saved, at its latest version.
	if code, body := b.call(t, "GET", "/v1/udfs/shade/run?level=-1", "", ""); code != 200 || !has(body, `"tag":"v1"`) {
		t.Fatalf("replica B, version 3 (restored 1): %d %s", code, body)
	}
	// A save on A is served by B within a second.
	if code, body := a.call(t, "PUT", "/v1/udfs/shade", tok["alice"], saveBody(t, fmt.Sprintf(catalogCode, 99, 4), map[string]any{"public": true})); code != 200 {
		t.Fatalf("save on A: %d %s", code, body)
	}
	took := within(t, time.Second, "B serves A's save", func() bool {
		_, body := b.call(t, "GET", "/v1/udfs/shade/run?level=-1", "", "")
		return has(body, `"tag":"v4"`)
	})
	t.Logf("a save on replica A was served by B after %s", took)
	// A token made on A works on B; revoked on A, it stops on B within a second.
	_, body := a.call(t, "POST", "/v1/udfs/shade/tokens", tok["alice"], "")
	var made struct {
		ID, Token string
	}
	if err := json.Unmarshal([]byte(body), &made); err != nil || made.Token == "" {
		t.Fatalf("token on A: %s", body)
	}
	if code, body := b.call(t, "GET", "/server/v1/realtime-shared/"+made.Token+"/run/file?level=-1", "", ""); code != 200 || !has(body, `"tag":"v4"`) {
		t.Fatalf("A's token on B: %d %s", code, body)
	}
	if code, body := a.call(t, "DELETE", "/v1/udfs/shade/tokens/"+made.ID, tok["alice"], ""); code != 204 {
		t.Fatalf("revoke on A: %d %s", code, body)
	}
	took = within(t, time.Second, "B refuses the revoked token", func() bool {
		code, _ := b.call(t, "GET", "/server/v1/realtime-shared/"+made.Token+"/run/file?level=-1", "", "")
		return code == 404
	})
	t.Logf("a revocation on A reached B after %s", took)
	// A purge on A: B's memory stops serving the purged tile within a second.
	xcache := func(srv *tileServer) string {
		r := srv.do("GET", "/v1/udfs/shade/tiles/3/4/2.png", nil, 60*time.Second)
		if r.err != nil || r.status != 200 {
			t.Fatalf("tile on %s: %v %d", srv.name, r.err, r.status)
		}
		return r.xcache()
	}
	xcache(b)
	if got := xcache(b); got != "memory" {
		t.Fatalf("B's second tile: X-Cache %q, want memory", got)
	}
	if code, body := a.call(t, "DELETE", "/v1/udfs/shade/cache", tok["admin"], ""); code != 200 {
		t.Fatalf("purge on A: %d %s", code, body)
	}
	took = within(t, time.Second, "B misses after A's purge", func() bool { return xcache(b) == "miss" })
	t.Logf("a purge on A reached B's memory after %s", took)
	// A delete on A: B stops serving within a second.
	if code, body := a.call(t, "DELETE", "/v1/udfs/shade", tok["alice"], ""); code != 204 {
		t.Fatalf("delete on A: %d %s", code, body)
	}
	took = within(t, time.Second, "B drops the deleted UDF", func() bool {
		code, _ := b.call(t, "GET", "/v1/udfs/shade", "", "")
		return code == 404
	})
	t.Logf("a delete on A reached B after %s", took)
}

// has reports whether a JSON answer holds sub, spaces aside (Python's json
// writes ", " and ": ").
func has(body, sub string) bool {
	return strings.Contains(strings.ReplaceAll(body, " ", ""), sub)
}
