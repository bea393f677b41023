// The documentation is checked here too: README.md and docs/*.md.
//
// TestExamples runs the documentation's runnable examples against the demo
// server, as `make run` serves it. A fenced code block is runnable when its
// info string has the word "demo" after the language:
//
//	```sh demo          run with bash -euo pipefail
//	```python demo      run with /usr/bin/python3
//	```sh demo admin    the same, with $TOKEN an admin bearer token of the server
//
// Plain ```sh, ```python, ```yaml ... blocks are illustrative and never run.
//
// The test builds cmd/tileserver, writes the demo data (tileserver demo-data),
// and serves the repository's config.yaml on 127.0.0.1 and a free port, with
// its data paths made absolute, jobs and the Python cache in a temporary
// directory, and one admin bearer token added. The blocks of each Markdown file
// run in order in a directory of their own holding bin/tileserver, data/demo,
// udfs/ and clients/ (so `bin/tileserver export ...` with the embedded config
// works as from a checkout), with:
//
//   - localhost:8080 and 127.0.0.1:8080 in the block replaced by the server's address;
//   - UDFTILES_URL set to the server (the Python client and `tileserver run/submit`),
//     PYTHONPATH to clients/python, TMPDIR to a temporary directory;
//   - in shell blocks, curl failing on HTTP errors (--fail-with-body), unless the
//     call prints a status itself with -w/--write-out.
//
// A block fails the test, with its output, when it exits non-zero or runs past
// its time limit.

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

const (
	blockTimeout = 3 * time.Minute    // one example
	readyTimeout = 2 * time.Minute    // the server's Python workers
	python3      = "/usr/bin/python3" // Debian's, with the geo stack
)

// block is one fenced code block of a Markdown file.
type block struct {
	file  string // relative to the repository root
	line  int    // of the opening fence, 1-based
	lang  string // the info string's first word
	info  []string
	code  string
	demo  bool // runnable against the demo server
	admin bool // needs $TOKEN, an admin bearer token
}

func (b block) String() string {
	return fmt.Sprintf("%s:%d (%s)", b.file, b.line, strings.Join(b.info, " "))
}

var fenceRe = regexp.MustCompile("^ {0,3}(`{3,}|~{3,})(.*)$")

// parseBlocks returns the fenced code blocks of a Markdown document.
func parseBlocks(file, text string) ([]block, error) {
	var out []block
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		m := fenceRe.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		fence, info := m[1], strings.Fields(m[2])
		b := block{file: file, line: i + 1, info: info}
		if len(info) > 0 {
			b.lang = info[0]
			for _, w := range info[1:] {
				switch w {
				case "demo":
					b.demo = true
				case "admin":
					b.admin = true
				}
			}
		}
		var code []string
		closed := false
		for i++; i < len(lines); i++ {
			if closes(lines[i], fence) {
				closed = true
				break
			}
			code = append(code, lines[i])
		}
		if !closed {
			return nil, fmt.Errorf("%s:%d: code block never closed", file, b.line)
		}
		b.code = strings.Join(code, "\n") + "\n"
		out = append(out, b)
	}
	return out, nil
}

// closes reports whether line closes a code block opened with fence: the same
// character, at least as many, nothing else.
func closes(line, fence string) bool {
	l := strings.TrimSpace(line)
	return len(line)-len(strings.TrimLeft(line, " ")) <= 3 && len(l) >= len(fence) && strings.Trim(l, fence[:1]) == ""
}

// outsideCode returns the lines of a document, with those of fenced code
// blocks (fences included) blanked.
func outsideCode(text string) []string {
	lines := strings.Split(text, "\n")
	out := make([]string, len(lines))
	fence := ""
	for i, line := range lines {
		switch {
		case fence != "":
			if closes(line, fence) {
				fence = ""
			}
		case fenceRe.MatchString(line):
			fence = fenceRe.FindStringSubmatch(line)[1]
		default:
			out[i] = line
		}
	}
	return out
}

// markdownFiles are README.md and docs/*.md, relative to the repository root.
func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	files := []string{"README.md"}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(docs)
	for _, d := range docs {
		files = append(files, filepath.Join("docs", filepath.Base(d)))
	}
	return files
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "tileserver")); err != nil {
		t.Fatalf("repository root not found from %s: %v", root, err)
	}
	return root
}

// runnableBlocks reads every Markdown file and returns its runnable blocks, by file.
func runnableBlocks(t *testing.T, root string) (files []string, blocks map[string][]block) {
	t.Helper()
	blocks = map[string][]block{}
	for _, f := range markdownFiles(t, root) {
		text, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		all, err := parseBlocks(f, string(text))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range all {
			if !b.demo {
				if b.admin {
					t.Errorf("%s: \"admin\" without \"demo\"", b)
				}
				continue
			}
			switch b.lang {
			case "sh", "bash", "python":
			default:
				t.Errorf("%s: a demo block must be sh, bash or python", b)
				continue
			}
			blocks[f] = append(blocks[f], b)
		}
		if len(blocks[f]) > 0 {
			files = append(files, f)
		}
	}
	return files, blocks
}

// TestParseBlocks checks the block parser on a small document.
func TestParseBlocks(t *testing.T) {
	doc := "# T\n\n```sh\nillustrative\n```\n\n```sh demo\ncurl a\n\n  curl b\n```\n\n" +
		"````python demo admin\nprint(\"```\")\n````\n\n~~~yaml\nk: v\n~~~\n"
	bs, err := parseBlocks("x.md", doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []block{
		{line: 3, lang: "sh", code: "illustrative\n"},
		{line: 7, lang: "sh", code: "curl a\n\n  curl b\n", demo: true},
		{line: 13, lang: "python", code: "print(\"```\")\n", demo: true, admin: true},
		{line: 17, lang: "yaml", code: "k: v\n"},
	}
	if len(bs) != len(want) {
		t.Fatalf("got %d blocks, want %d: %+v", len(bs), len(want), bs)
	}
	for i, w := range want {
		g := bs[i]
		if g.line != w.line || g.lang != w.lang || g.code != w.code || g.demo != w.demo || g.admin != w.admin {
			t.Errorf("block %d: got %+v, want %+v", i, g, w)
		}
	}
	if _, err := parseBlocks("x.md", "```sh demo\nnever closed\n"); err == nil {
		t.Error("an unclosed block parsed without error")
	}
	// A block showing blocks: one block, not runnable, and the text after it is text.
	nested := "````markdown\n```sh demo\ncurl x\n```\n````\n## After\n[a](b.md)\n"
	bs, err = parseBlocks("y.md", nested)
	if err != nil || len(bs) != 1 || bs[0].demo || bs[0].lang != "markdown" {
		t.Errorf("nested fences: %+v, %v", bs, err)
	}
	if a := headingAnchors(nested); !a["after"] || len(a) != 1 {
		t.Errorf("nested fences: anchors %v, want only #after", a)
	}
	if l := markdownLinks(nested); len(l) != 1 || l[0].target != "b.md" || l[0].line != 7 {
		t.Errorf("nested fences: links %+v, want b.md on line 7", l)
	}
}

// TestExamples runs every runnable block against the demo server.
func TestExamples(t *testing.T) {
	for _, tool := range []string{"bash", "curl", python3} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: the examples need it (make run installs it)", tool)
		}
	}
	root := repoRoot(t)
	files, blocks := runnableBlocks(t, root)
	n := 0
	for _, f := range files {
		n += len(blocks[f])
	}
	// The marker must not silently disappear from the documentation.
	if n < 20 || len(blocks["README.md"]) < 3 {
		t.Fatalf("only %d runnable blocks (%d in README.md): is the \"demo\" marker still used?", n, len(blocks["README.md"]))
	}
	if t.Failed() {
		return
	}
	d := startDemo(t, root)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			work := d.workDir(t, f)
			for _, b := range blocks[f] {
				if !d.run(t, work, b) {
					// Later blocks of a page may need what this one made.
					t.Logf("%s failed; the rest of %s is skipped", b, f)
					return
				}
			}
		})
	}
	t.Logf("%d runnable blocks in %d files", n, len(files))
}

// demoServer is a running demo server and what the examples need around it.
type demoServer struct {
	root, tmp, bin, data string
	addr, token          string
	logs                 *syncBuffer
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// startDemo builds the server, writes the demo data and serves config.yaml.
func startDemo(t *testing.T, root string) *demoServer {
	t.Helper()
	tmp := t.TempDir()
	d := &demoServer{root: root, tmp: tmp, bin: filepath.Join(tmp, "bin", "tileserver"), data: filepath.Join(tmp, "data")}
	for _, dir := range []string{"bin", "blocks", "tmp", "jobs", "python-cache"} {
		if err := os.MkdirAll(filepath.Join(tmp, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", d.bin, "./cmd/tileserver")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tileserver: %v\n%s", err, out)
	}
	if out, err := exec.Command(d.bin, "demo-data", "--out", filepath.Join(d.data, "demo")).CombinedOutput(); err != nil {
		t.Fatalf("tileserver demo-data: %v\n%s", err, out)
	}

	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		t.Fatal(err)
	}
	d.token = hex.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(d.token))
	cfg := d.writeConfig(t, hex.EncodeToString(sum[:]))

	d.addr = freePort(t)
	d.logs = &syncBuffer{}
	srv := exec.Command(d.bin, "serve", "--config", cfg, "--listen", d.addr)
	srv.Dir = tmp
	srv.Env = d.env(false)
	srv.Stdout, srv.Stderr = d.logs, d.logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = srv.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("server log (last 8 KiB):\n%s", tail(d.logs.String(), 8<<10))
		}
	})

	deadline := time.Now().Add(readyTimeout)
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("tileserver serve exited: %v\n%s", err, d.logs.String())
		default:
		}
		resp, err := client.Get("http://" + d.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after %v: %v\n%s", readyTimeout, err, d.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeConfig writes the repository's config.yaml with absolute data paths,
// jobs and the Python cache under the test's directory, an admin token, and
// cog_urls.allow over the demo data (for the url= examples).
func (d *demoServer) writeConfig(t *testing.T, tokenHash string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(d.root, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(src, &cfg); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	section := func(k string) map[string]any {
		m, _ := cfg[k].(map[string]any)
		if m == nil {
			m = map[string]any{}
			cfg[k] = m
		}
		return m
	}
	section("server")["jobs_dir"] = filepath.Join(d.tmp, "jobs")
	section("python")["cache_dir"] = filepath.Join(d.tmp, "python-cache")
	// The examples of files named by url= name the demo data.
	section("cog_urls")["allow"] = []any{filepath.Join(d.data, "demo") + "/"}
	auth := section("auth")
	bearer, _ := auth["bearer"].([]any)
	auth["bearer"] = append(bearer, map[string]any{"name": "docs-test", "sha256": tokenHash, "admin": true})
	udfs, _ := cfg["udfs"].([]any)
	if len(udfs) == 0 {
		t.Fatal("config.yaml has no udfs")
	}
	for _, u := range udfs {
		m, _ := u.(map[string]any)
		p, _ := m["path"].(string)
		if p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "/vsi") {
			continue
		}
		if strings.HasPrefix(p, "data/") {
			m["path"] = filepath.Join(d.tmp, p) // the demo data the test wrote
		} else {
			m["path"] = filepath.Join(d.root, p) // udfs/ of the checkout
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(d.tmp, "config.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// workDir makes the directory the blocks of one Markdown file run in: a
// checkout's layout, as far as the examples use it.
func (d *demoServer) workDir(t *testing.T, file string) string {
	t.Helper()
	work := filepath.Join(d.tmp, "work", strings.NewReplacer("/", "_", ".", "_").Replace(file))
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"bin":     filepath.Dir(d.bin),
		"data":    d.data,
		"udfs":    filepath.Join(d.root, "udfs"),
		"clients": filepath.Join(d.root, "clients"),
	} {
		if err := os.Symlink(target, filepath.Join(work, name)); err != nil {
			t.Fatal(err)
		}
	}
	return work
}

// env is the environment of the server and the examples.
func (d *demoServer) env(admin bool) []string {
	drop := map[string]bool{"UDFTILES_URL": true, "UDFTILES_TOKEN": true, "UDFTILES_CACHE_DIR": true, "TOKEN": true, "PYTHONPATH": true,
		"TMPDIR": true, "BASH_ENV": true, "NO_PROXY": true, "no_proxy": true, "GOMEMLIMIT": true, "GDAL_CACHEMAX": true}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	env = append(env,
		"TMPDIR="+filepath.Join(d.tmp, "tmp"),
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
		"PYTHONPATH="+filepath.Join(d.root, "clients", "python"),
		"UDFTILES_CACHE_DIR="+filepath.Join(d.tmp, "udftiles-cache"), // the client's @cache and local runs
	)
	if d.addr != "" {
		env = append(env, "UDFTILES_URL=http://"+d.addr)
	}
	if admin {
		env = append(env, "TOKEN="+d.token)
	}
	return env
}

// shellPrelude comes before every shell block.
const shellPrelude = `# curl fails on HTTP errors, unless the example prints the status itself.
curl() {
  local a
  for a in "$@"; do
    case "$a" in -w|-w*|--write-out|--write-out=*) command curl "$@"; return ;; esac
  done
  command curl --fail-with-body "$@"
}
`

// run runs one block in work and reports whether it passed.
func (d *demoServer) run(t *testing.T, work string, b block) bool {
	t.Helper()
	code := strings.NewReplacer("localhost:8080", d.addr, "127.0.0.1:8080", d.addr).Replace(b.code)
	// Named after its page and line, as tracebacks and bash's errors show it.
	script := filepath.Join(d.tmp, "blocks", fmt.Sprintf("%s-%d.%s", strings.ReplaceAll(b.file, "/", "_"), b.line, b.lang))
	env := d.env(b.admin)
	var args []string
	switch b.lang {
	case "python":
		args = []string{python3, script}
	default:
		// The prelude comes through BASH_ENV, so that bash's line numbers are the block's.
		prelude := filepath.Join(d.tmp, "prelude.sh")
		if err := os.WriteFile(prelude, []byte(shellPrelude), 0o644); err != nil {
			t.Fatal(err)
		}
		env = append(env, "BASH_ENV="+prelude)
		args = []string{"bash", "-euo", "pipefail", script}
	}
	if err := os.WriteFile(script, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = work
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("no end after %v", blockTimeout)
	}
	if err != nil {
		t.Errorf("%s: %v\n--- block ---\n%s--- output (last 8 KiB) ---\n%s", b, err, numbered(b.code), tail(out.String(), 8<<10))
		return false
	}
	t.Logf("%s: ok in %.1fs", b, time.Since(start).Seconds())
	return true
}

func numbered(code string) string {
	var sb strings.Builder
	s := bufio.NewScanner(strings.NewReader(code))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for i := 1; s.Scan(); i++ {
		fmt.Fprintf(&sb, "%3d  %s\n", i, s.Text())
	}
	return sb.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// TestLinks checks the relative links of README.md, SECURITY.md and docs/*.md:
// each names a file of the repository and, for a Markdown file, a heading of
// it; and README.md links every page of docs/.
func TestLinks(t *testing.T) {
	root := repoRoot(t)
	files := append(markdownFiles(t, root), "SECURITY.md")
	anchors := map[string]map[string]bool{} // by path relative to root
	texts := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		texts[f] = string(b)
	}
	anchorsOf := func(f string) map[string]bool {
		if a, ok := anchors[f]; ok {
			return a
		}
		text, ok := texts[f]
		if !ok {
			b, err := os.ReadFile(filepath.Join(root, f))
			if err != nil {
				return nil
			}
			text = string(b)
		}
		anchors[f] = headingAnchors(text)
		return anchors[f]
	}
	linked := map[string]bool{}
	for _, f := range files {
		for _, l := range markdownLinks(texts[f]) {
			target, frag, _ := strings.Cut(l.target, "#")
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			rel := f
			if target != "" {
				rel = filepath.Clean(filepath.Join(filepath.Dir(f), target))
				if strings.HasPrefix(rel, "..") {
					t.Errorf("%s:%d: link %q leaves the repository", f, l.line, l.target)
					continue
				}
				if _, err := os.Stat(filepath.Join(root, rel)); err != nil && !generatedImage(t, root, rel) {
					t.Errorf("%s:%d: link %q: no such file %s", f, l.line, l.target, rel)
					continue
				}
			}
			if f == "README.md" {
				linked[rel] = true
			}
			if frag != "" && strings.HasSuffix(rel, ".md") && !anchorsOf(rel)[frag] {
				t.Errorf("%s:%d: link %q: %s has no heading #%s", f, l.line, l.target, rel, frag)
			}
		}
	}
	for _, f := range files {
		if strings.HasPrefix(f, "docs/") && !linked[f] {
			t.Errorf("README.md does not link %s", f)
		}
	}
}

// generatedImage reports whether rel is an image of docs/images/ that a
// test of e2e/ writes (a screenshot: git-ignored, made by `make test`), so
// that a fresh checkout's links to it are not broken ones.
func generatedImage(t *testing.T, root, rel string) bool {
	t.Helper()
	dir, base := filepath.Split(filepath.ToSlash(rel))
	if dir != "docs/images/" || !strings.HasSuffix(base, ".png") {
		return false
	}
	tests, err := filepath.Glob(filepath.Join(root, "e2e", "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tests {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(`"docs", "images", "`+base+`"`)) {
			return true
		}
	}
	return false
}

type link struct {
	target string
	line   int
}

var (
	linkRe       = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	inlineCodeRe = regexp.MustCompile("`[^`]*`")
	headingRe    = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	htmlAnchorRe = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	mdLinkRe     = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// markdownLinks are the inline links of a document outside code.
func markdownLinks(text string) []link {
	var out []link
	for i, line := range outsideCode(text) {
		for _, m := range linkRe.FindAllStringSubmatch(inlineCodeRe.ReplaceAllString(line, ""), -1) {
			out = append(out, link{target: m[1], line: i + 1})
		}
	}
	return out
}

// headingAnchors are the anchors GitHub gives a document's headings (and its
// explicit <a id=...> anchors).
func headingAnchors(text string) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	for _, line := range outsideCode(text) {
		for _, m := range htmlAnchorRe.FindAllStringSubmatch(line, -1) {
			out[m[1]] = true
		}
		m := headingRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		s := slug(mdLinkRe.ReplaceAllString(m[1], "$1"))
		if n := seen[s]; n > 0 {
			out[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// slug is GitHub's heading anchor: lower case, spaces to hyphens, and only
// letters, digits, hyphens and underscores kept.
func slug(h string) string {
	var sb strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			sb.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

func TestSlug(t *testing.T) {
	for h, want := range map[string]string{
		"Batch runs: submit, jobs and the Python client":                 "batch-runs-submit-jobs-and-the-python-client",
		"What `make run` does":                                           "what-make-run-does",
		"`bench/export.sh`: prerendering against gdal2tiles and ogr2ogr": "benchexportsh-prerendering-against-gdal2tiles-and-ogr2ogr",
		"OGC API – Tiles":                                                "ogc-api--tiles",
	} {
		if got := slug(h); got != want {
			t.Errorf("slug(%q) = %q, want %q", h, got, want)
		}
	}
}
