package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udftiles/udftiles/internal/pgtest"
	"github.com/udftiles/udftiles/store"
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

// within polls cond every 20 ms until it holds, and requires it to hold
// within d of the call (the last poll included); it returns how long it
// took.
func within(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	waitFor(t, d, what, cond)
	took := time.Since(start)
	if took > d {
		t.Fatalf("%s took %s, want at most %s", what, took.Round(time.Millisecond), d)
	}
	return took
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
	checkConcurrentOwners(t, s, tok)
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
	// The token was made with "cache": false: its tiles are rendered again
	// each time, though the same tile is in the memory cache.
	for i := range 2 {
		if x := xcacheOf(t, s, shared+"/run/tiles/3/4/2.png"); x != "miss" {
			t.Fatalf("tile %d of a cache:false token: X-Cache %q, want miss", i, x)
		}
	}
	if x := xcacheOf(t, s, "/v1/udfs/shade/tiles/3/4/2.png"); x != "memory" {
		t.Fatalf("the same tile without the token: X-Cache %q, want memory", x)
	}
	// Its TileJSON, with no bearer token, points at the token's tile route.
	if made.URLs["tilejson"] != s.base+shared+"/run/tilejson.json" {
		t.Fatalf("the token's tilejson URL is %q, want %s", made.URLs["tilejson"], s.base+shared+"/run/tilejson.json")
	}
	code, body = s.call(t, "GET", shared+"/run/tilejson.json?level=90", "", "")
	var tj struct {
		TileJSON string   `json:"tilejson"`
		Tiles    []string `json:"tiles"`
	}
	if err := json.Unmarshal([]byte(body), &tj); code != 200 || err != nil || tj.TileJSON != "3.0.0" || len(tj.Tiles) != 1 ||
		!strings.HasPrefix(tj.Tiles[0], s.base+shared+"/run/tiles/{z}/{x}/{y}") || !strings.Contains(tj.Tiles[0], "level=90") {
		t.Fatalf("shared TileJSON: %d %s", code, body)
	}
	tileOf := strings.TrimPrefix(strings.NewReplacer("{z}", "3", "{x}", "4", "{y}", "2").Replace(tj.Tiles[0]), s.base)
	if code, body := s.call(t, "GET", tileOf, "", ""); code != 200 || pngLevel(t, body) != 90 {
		t.Fatalf("the shared TileJSON's tile %s: %d", tileOf, code)
	}
	if code, body := s.call(t, "GET", "/server/v1/realtime-shared/fsh_00000000000000000000000000000000/run/tilejson.json", "", ""); code != 404 {
		t.Fatalf("TileJSON of an unknown token: %d %s", code, body)
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
	if code, body := s.call(t, "PATCH", "/v1/udfs/shade/tokens/"+made.ID, tok["alice"], `{"enabled": true}`); code != 409 || !has(body, "revoked") {
		t.Fatalf("PATCH of a revoked token: %d %s", code, body)
	}
	checkTokenOptions(t, s, tok)

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

// checkConcurrentOwners: two editors save the same new name at once. One
// creates it; the other is refused (403, naming the owner), whichever of
// this server's checks sees it first, and every version is the owner's.
func checkConcurrentOwners(t *testing.T, s *tileServer, tok map[string]string) {
	t.Helper()
	who := []string{"alice", "bob"}
	for i := range 3 {
		name := fmt.Sprint("race", i)
		var wg sync.WaitGroup
		res := make([]response, 2)
		start := make(chan struct{})
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				body := saveBody(t, fmt.Sprintf(catalogCode, 10+g, 100+g), map[string]any{"public": true})
				res[g] = s.doBody("PUT", "/v1/udfs/"+name, http.Header{"Authorization": {"Bearer " + tok[who[g]]}}, strings.NewReader(body), 90*time.Second)
			}()
		}
		close(start)
		wg.Wait()
		for g := range 2 {
			if res[g].err != nil {
				t.Fatalf("%s's save of %s: %v", who[g], name, res[g].err)
			}
		}
		owner := slices.IndexFunc(res, func(r response) bool { return r.status == 201 })
		if owner < 0 || res[1-owner].status != 403 || !has(string(res[1-owner].body), "belongsto"+who[owner]) {
			t.Fatalf("concurrent saves of %s: %s got %d %s; %s got %d %s; want one 201 and one 403 naming the owner",
				name, who[0], res[0].status, res[0].body, who[1], res[1].status, res[1].body)
		}
		code, body := s.call(t, "GET", "/v1/udfs/"+name+"/versions", "", "")
		if code != 200 || strings.Count(body, `"version"`) != 1 || !has(body, `"author":"`+who[owner]+`"`) {
			t.Fatalf("versions of %s after concurrent saves (owner %s): %d %s", name, who[owner], code, body)
		}
		if code, body := s.call(t, "GET", "/v1/udfs/"+name+"/run?level=-1", "", ""); code != 200 || !has(body, fmt.Sprintf(`"tag":"v%d"`, 100+owner)) {
			t.Fatalf("%s serves another's code: %d %s", name, code, body)
		}
		if code, body := s.call(t, "DELETE", "/v1/udfs/"+name, tok[who[owner]], ""); code != 204 {
			t.Fatalf("delete %s: %d %s", name, code, body)
		}
	}
}

// xcacheOf is the X-Cache header of a tile fetched with no bearer token.
func xcacheOf(t *testing.T, s *tileServer, path string) string {
	t.Helper()
	r := s.do("GET", path, nil, 60*time.Second)
	if r.err != nil || r.status != 200 {
		t.Fatalf("GET %s: %v %d %.200s", path, r.err, r.status, r.body)
	}
	return r.xcache()
}

type madeToken struct {
	ID        string     `json:"id"`
	Token     string     `json:"token"`
	Enabled   bool       `json:"enabled"`
	Cache     bool       `json:"cache"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// makeToken makes a share token of shade with the options of body.
func makeToken(t *testing.T, s *tileServer, token, body string) madeToken {
	t.Helper()
	return makeTokenOf(t, s, "shade", token, body)
}

// makeTokenOf makes a share token of UDF name with the options of body.
func makeTokenOf(t *testing.T, s *tileServer, name, token, body string) madeToken {
	t.Helper()
	code, answer := s.call(t, "POST", "/v1/udfs/"+name+"/tokens", token, body)
	var m madeToken
	if err := json.Unmarshal([]byte(answer), &m); code != 201 || err != nil || m.Token == "" {
		t.Fatalf("token %s: %d %s", body, code, answer)
	}
	return m
}

// sharedCode is the status of a file-mode call through a share token.
func sharedCode(t *testing.T, s *tileServer, token string) int {
	t.Helper()
	code, _ := s.call(t, "GET", "/server/v1/realtime-shared/"+token+"/run/file?level=-1", "", "")
	return code
}

// checkTokenOptions: public_read, enabled, expiry and cache over HTTP, at
// creation and changed with PATCH.
func checkTokenOptions(t *testing.T, s *tileServer, tok map[string]string) {
	t.Helper()
	if code, body := s.call(t, "POST", "/v1/udfs/shade/tokens", tok["alice"], `{"public_read": false}`); code != 400 || !has(body, "notoffered") {
		t.Fatalf("public_read false: %d %s", code, body)
	}
	// An expiring token works until its expiry, then 404s.
	exp := makeToken(t, s, tok["alice"], `{"expires_in": "2s"}`)
	if exp.ExpiresAt == nil || time.Until(*exp.ExpiresAt) > 2*time.Second || time.Until(*exp.ExpiresAt) < time.Second {
		t.Fatalf("expires_in 2s: expires_at %v", exp.ExpiresAt)
	}
	if code := sharedCode(t, s, exp.Token); code != 200 {
		t.Fatalf("a token before its expiry: %d", code)
	}
	// A token made disabled 404s; enabled with PATCH it works; disabled again, 404.
	off := makeToken(t, s, tok["alice"], `{"enabled": false}`)
	if off.Enabled {
		t.Fatalf("enabled false: %+v", off)
	}
	if code := sharedCode(t, s, off.Token); code != 404 {
		t.Fatalf("a disabled token: %d", code)
	}
	patch := func(who, id, body string) (int, string) {
		return s.call(t, "PATCH", "/v1/udfs/shade/tokens/"+id, tok[who], body)
	}
	if code, body := patch("bob", off.ID, `{"enabled": true}`); code != 403 {
		t.Fatalf("bob enables alice's token: %d %s", code, body)
	}
	if code, body := patch("alice", off.ID, `{}`); code != 400 {
		t.Fatalf("an empty PATCH: %d %s", code, body)
	}
	if code, body := patch("alice", "nosuchid", `{"enabled": true}`); code != 404 {
		t.Fatalf("PATCH of an unknown token: %d %s", code, body)
	}
	code, body := patch("alice", off.ID, `{"enabled": true}`)
	if code != 200 || !has(body, `"enabled":true`) {
		t.Fatalf("enable: %d %s", code, body)
	}
	if code := sharedCode(t, s, off.Token); code != 200 {
		t.Fatalf("a token enabled again: %d", code)
	}
	xcacheOf(t, s, "/server/v1/realtime-shared/"+off.Token+"/run/tiles/3/4/2.png")
	if x := xcacheOf(t, s, "/server/v1/realtime-shared/"+off.Token+"/run/tiles/3/4/2.png"); x != "memory" {
		t.Fatalf("a cached token's second tile: X-Cache %q, want memory", x)
	}
	// Its cache turned off: the same tile is rendered again.
	if code, body := patch("alice", off.ID, `{"cache": false}`); code != 200 || !has(body, `"cache":false`) {
		t.Fatalf("cache off: %d %s", code, body)
	}
	if x := xcacheOf(t, s, "/server/v1/realtime-shared/"+off.Token+"/run/tiles/3/4/2.png"); x != "miss" {
		t.Fatalf("the tile of a token whose cache was turned off: X-Cache %q, want miss", x)
	}
	if code, body := patch("alice", off.ID, `{"enabled": false}`); code != 200 || !has(body, `"enabled":false`) {
		t.Fatalf("disable: %d %s", code, body)
	}
	if code := sharedCode(t, s, off.Token); code != 404 {
		t.Fatalf("a token disabled again: %d", code)
	}
	// The expiring token: 404 once past its expiry, not before.
	waitFor(t, 5*time.Second, "the expired token 404s", func() bool { return sharedCode(t, s, exp.Token) == 404 })
	if now := time.Now(); now.Before(*exp.ExpiresAt) {
		t.Fatalf("the token 404s at %s, before its expiry %s", now.Format(time.RFC3339Nano), exp.ExpiresAt.Format(time.RFC3339Nano))
	}
	// An expired token given a new expiry works again.
	if code, body := patch("alice", exp.ID, `{"expires_in": "never"}`); code != 200 || has(body, "expires_at") {
		t.Fatalf("expiry removed: %d %s", code, body)
	}
	if code := sharedCode(t, s, exp.Token); code != 200 {
		t.Fatalf("a token without expiry: %d", code)
	}
	if code, body := patch("alice", exp.ID, `{"expires_at": "2001-01-01T00:00:00Z"}`); code != 400 {
		t.Fatalf("an expiry in the past: %d %s", code, body)
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
	// A token disabled on A stops on B within a second; enabled again, it
	// works on B within a second.
	other := makeToken(t, a, tok["alice"], "")
	if code := sharedCode(t, b, other.Token); code != 200 {
		t.Fatalf("A's token on B: %d", code)
	}
	if code, body := a.call(t, "PATCH", "/v1/udfs/shade/tokens/"+other.ID, tok["alice"], `{"enabled": false}`); code != 200 {
		t.Fatalf("disable on A: %d %s", code, body)
	}
	took = within(t, time.Second, "B refuses the disabled token", func() bool { return sharedCode(t, b, other.Token) == 404 })
	t.Logf("a token disabled on A was refused by B after %s", took)
	if code, body := a.call(t, "PATCH", "/v1/udfs/shade/tokens/"+other.ID, tok["alice"], `{"enabled": true}`); code != 200 {
		t.Fatalf("enable on A: %d %s", code, body)
	}
	took = within(t, time.Second, "B serves the enabled token", func() bool { return sharedCode(t, b, other.Token) == 200 })
	t.Logf("a token enabled on A was served by B after %s", took)
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

// TestCatalogPrune: with store.drafts_ttl and store.changes_ttl of 2 s, a
// draft kept running stays; once unused for longer, it is deleted from the
// store, its code files and those of the checks are removed, and the change
// log is cut to its newest entry; saved UDFs and their files stay.
func TestCatalogPrune(t *testing.T) {
	bin, _ := sharedBinary(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "udftiles.db")
	cfg, tok := catalogConfig(t, dir, "sqlite://"+dbPath, bin)
	cfg = strings.Replace(cfg, "store:\n", "store:\n  drafts_ttl: 2s\n  changes_ttl: 2s\n", 1)
	s := startServer(t, dir, cfg)
	codeDir := filepath.Join(dir, "cache", "catalog")

	if code, body := s.call(t, "PUT", "/v1/udfs/keep", tok["alice"], saveBody(t, fmt.Sprintf(catalogCode, 3, 1), map[string]any{"public": true})); code != 201 {
		t.Fatalf("save: %d %s", code, body)
	}
	// Two more changes in the log: a second version, a token.
	if code, body := s.call(t, "PUT", "/v1/udfs/keep", tok["alice"], saveBody(t, fmt.Sprintf(catalogCode, 4, 1), map[string]any{"public": true})); code != 200 {
		t.Fatalf("second save: %d %s", code, body)
	}
	makeTokenOf(t, s, "keep", tok["alice"], "")
	draftBody := saveBody(t, fmt.Sprintf(catalogCode, 8, 8), nil)
	var draft struct {
		ID string `json:"id"`
	}
	code, body := s.call(t, "POST", "/v1/drafts", tok["alice"], draftBody)
	if err := json.Unmarshal([]byte(body), &draft); code != 200 || err != nil || len(draft.ID) < 12 {
		t.Fatalf("draft: %d %s", code, body)
	}
	draftDir := filepath.Join(codeDir, "draft-"+draft.ID[:12])
	entries := func(p string) int {
		es, _ := os.ReadDir(p)
		return len(es)
	}
	if entries(draftDir) == 0 || entries(filepath.Join(codeDir, "_check")) == 0 || entries(filepath.Join(codeDir, "keep")) == 0 {
		t.Fatalf("code files: draft %d, checks %d, keep %d entries; want some of each", entries(draftDir), entries(filepath.Join(codeDir, "_check")), entries(filepath.Join(codeDir, "keep")))
	}
	// Run (not saved again) for twice the TTL: a draft in use is kept.
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
		if code, body := s.call(t, "GET", "/v1/drafts/"+draft.ID+"/run?level=-1", tok["alice"], ""); code != 200 || !has(body, `"tag":"v8"`) {
			t.Fatalf("a draft in use: %d %s", code, body)
		}
	}
	if entries(draftDir) == 0 {
		t.Fatal("the code files of a draft in use were removed")
	}
	db, err := store.Open(context.Background(), "sqlite://"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Draft(context.Background(), draft.ID); err != nil {
		t.Fatalf("a draft in use was pruned from the store: %v", err)
	}
	// Unused: it goes, with its files and the checks'.
	waitFor(t, 15*time.Second, "the unused draft pruned", func() bool {
		_, err := db.Draft(context.Background(), draft.ID)
		return errors.Is(err, store.ErrNotFound) && entries(draftDir) == 0 && entries(filepath.Join(codeDir, "_check")) == 0
	})
	if code, body := s.call(t, "GET", "/v1/drafts/"+draft.ID+"/run?level=-1", tok["alice"], ""); code != 404 {
		t.Fatalf("a pruned draft: %d %s, want 404", code, body)
	}
	waitFor(t, 15*time.Second, "the change log cut to its newest entry", func() bool {
		cs, err := db.Changes(context.Background(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(cs) == 1
	})
	if code, body := s.call(t, "GET", "/v1/udfs/keep/run?level=-1", "", ""); code != 200 || !has(body, `"tag":"v1"`) || entries(filepath.Join(codeDir, "keep")) == 0 {
		t.Fatalf("the saved UDF after pruning: %d %s (%d code folders)", code, body, entries(filepath.Join(codeDir, "keep")))
	}
}
