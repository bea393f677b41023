package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestWorkbenchPlaywright runs web/test/browser/workbench.pw.mjs, the
// Workbench's loop driven by Playwright (playwright-core from web/'s
// devDependencies) in headless Chromium, against the real binary with a
// SQLite store and an editor token: a new UDF typed and seen on the map, a
// default edited in the code and the map's colour changed, the UDF saved and
// shared, and the shared XYZ URL fetched with no token.
func TestWorkbenchPlaywright(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("the Playwright Workbench test needs node on PATH (%v); install Node.js (apt-get install -y nodejs npm)", err)
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the Playwright Workbench test needs Chromium at %s (%v); install it with `apt-get install -y chromium`", chromiumPath, err)
	}
	web := filepath.Join("..", "web")
	if _, err := os.Stat(filepath.Join(web, "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("the Playwright Workbench test needs playwright-core in web/node_modules (%v); run `npm ci --prefix web` (make web-assets)", err)
	}
	for _, f := range []string{"vendor/maplibre-gl.js", "workbench.js"} {
		if _, err := os.Stat(filepath.Join(web, "static", f)); err != nil {
			t.Fatalf("web/static/%s is missing (%v); run `make web-assets` and rebuild", f, err)
		}
	}
	bin, _ := sharedBinary(t)
	start := time.Now()
	dir := t.TempDir()
	const editorToken = "wb-pw-editor-Zr47-token"
	s := startServer(t, dir, fmt.Sprintf(`
cache: {memory_mb: 16}
store: {url: "sqlite://%s"}
python: {workers: 2, preload: [numpy], cache_dir: %q}
auth:
  bearer:
    - {name: ed, sha256: %s, role: editor}
udfs: []
`, filepath.Join(dir, "udftiles.db"), filepath.Join(dir, "pycache"), hashOf(t, bin, editorToken)))

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("test", "browser", "workbench.pw.mjs"))
	cmd.Dir = web
	cmd.Env = append(os.Environ(),
		"UDFTILES_URL="+s.base,
		"UDFTILES_EDITOR_TOKEN="+editorToken,
		"UDFTILES_CHROMIUM="+chromiumPath,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("the Playwright script did not finish in 120s\nstdout:\n%s\nstderr:\n%s\nserver log:\n%s", stdout.String(), stderr.String(), s.log())
	}
	var report struct {
		OK     bool `json:"ok"`
		Checks []struct {
			Check  string `json:"check"`
			OK     bool   `json:"ok"`
			Detail string `json:"detail"`
		} `json:"checks"`
	}
	jerr := json.Unmarshal(stdout.Bytes(), &report)
	if err != nil || jerr != nil || !report.OK {
		t.Fatalf("the Playwright script failed (%v, report %v)\nstdout:\n%s\nstderr:\n%s", err, jerr, stdout.String(), stderr.String())
	}
	if len(report.Checks) < 10 {
		t.Fatalf("the Playwright script reports %d checks, want its whole loop:\n%s", len(report.Checks), stdout.String())
	}
	for _, c := range report.Checks {
		t.Logf("ok: %s %s", c.Check, c.Detail)
	}
	t.Logf("%d checks passed in %v (server start included)", len(report.Checks), time.Since(start).Round(time.Millisecond))
}
