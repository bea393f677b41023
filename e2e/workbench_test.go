package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// workbenchUDF draws one flat colour, (red, green, 90), on every tile, and
// prints what it drew.
const workbenchUDF = `import fused


@fused.udf
def udf(bounds: fused.types.Bounds = None, red: int = 200, green: int = 40):
    import numpy as np

    print(f"drawing red={red} green={green}")
    a = np.empty((3, 256, 256), dtype=np.uint8)
    a[0], a[1], a[2] = red, green, 90
    return a
`

// workbenchBroken does not parse: line 6 opens a bracket it never closes.
const workbenchBroken = `import fused


@fused.udf
def udf(n: int = 1):
    values = [n,
    return values
`

// workbenchRaises raises on line 7, inside the UDF.
const workbenchRaises = `import fused


@fused.udf
def udf(bounds: fused.types.Bounds = None, n: int = 1):
    print("about to fail")
    return n / 0
`

// TestWorkbench drives /workbench in headless Chromium against the real
// binary with a catalog store and an editor token: the token typed in, the
// raster template run, a UDF typed into the editor and drawn, a default
// changed in the code and a value in the form (each redraws the map), the
// UDF saved and shared, the shared XYZ URL fetched without a token, an old
// version restored, the table, file and vector templates shown, and a syntax error
// and an exception marking their lines with the traceback.
func TestWorkbench(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the Workbench test needs Chromium at %s (%v); install it with `apt-get install -y chromium`", chromiumPath, err)
	}
	for _, f := range []string{"vendor/maplibre-gl.js", "workbench.js"} {
		if _, err := os.Stat(filepath.Join("..", "web", "static", f)); err != nil {
			t.Fatalf("web/static/%s is missing (%v); run `make web-assets` and rebuild", f, err)
		}
	}
	built := time.Now()
	bin, _ := sharedBinary(t) // built once for all the e2e tests
	t.Logf("binary ready in %v", time.Since(built).Round(time.Millisecond))
	start := time.Now()
	dir := t.TempDir()
	const editorToken = "wb-editor-Qx81-token"
	s := startServer(t, dir, fmt.Sprintf(`
cache: {memory_mb: 16}
store: {url: "sqlite://%s"}
python: {workers: 2, preload: [numpy], cache_dir: %q}
auth:
  bearer:
    - {name: ed, sha256: %s, role: editor}
udfs: []
`, filepath.Join(dir, "udftiles.db"), filepath.Join(dir, "pycache"), hashOf(t, bin, editorToken)))
	browser := startBrowser(t)
	tab := newTab(t, browser)
	t.Logf("server and browser up in %v", time.Since(start).Round(time.Millisecond))

	tab.navigate(t, s.base+"/workbench")
	tab.waitFor(t, "the editor and the map", `!!(window.workbench && window.workbench.editor && window.workbench.map && window.workbench.map.loaded())`)
	if st := tab.eval(t, `document.body.dataset.state`); st != "idle" {
		t.Fatalf("before a token is entered the page is %q, want idle (nothing run)", st)
	}

	// The token, then Enter: auto-run runs the raster template in the editor.
	runs := tab.wbRuns(t)
	tab.typeOver(t, "#token", editorToken+kb.Enter)
	tab.wbWaitRun(t, runs, "loaded", "the raster template")
	if kind := tab.eval(t, `document.body.dataset.kind`); kind != "raster" {
		t.Fatalf("the template's result is drawn as %q, want raster", kind)
	}
	if prints := tab.text(t, "#log-prints"); !strings.Contains(prints, "scale 1.0") {
		t.Errorf("the log shows %q, want the template's prints (X-UDF-Logs)", prints)
	}
	for _, where := range []string{"localStorage", "sessionStorage"} {
		if n := tab.eval(t, fmt.Sprintf(`String(%s.length)`, where)); n != "0" {
			t.Errorf("%s holds %s items, want none (the token stays in memory)", where, n)
		}
	}
	if c := tab.eval(t, `document.cookie`); c != "" {
		t.Errorf("document.cookie = %q, want none", c)
	}
	// The screenshot of docs/workbench.md, written on every run.
	tab.wbSaveScreenshot(t, filepath.Join("..", "docs", "images", "workbench.png"))

	// A UDF of our own, typed into the editor: one flat colour.
	runs = tab.wbRuns(t)
	tab.wbTypeCode(t, workbenchUDF)
	tab.wbWaitRun(t, runs, "loaded", "the typed UDF")
	tab.wbWaitMapColour(t, [3]int{200, 40, 90}, "the typed UDF's colour")
	if prints := tab.text(t, "#log-prints"); !strings.Contains(prints, "drawing red=200 green=40") {
		t.Errorf("the log shows %q, want the UDF's print", prints)
	}
	for _, name := range []string{"red", "green"} {
		if n := tab.eval(t, fmt.Sprintf(`String(document.querySelectorAll('#param-fields [name=%q]').length)`, name)); n != "1" {
			t.Errorf("the parameter form has %s fields named %s, want 1", n, name)
		}
	}

	// A default changed in the code: red 200 → 20.
	runs = tab.wbRuns(t)
	tab.wbReplace(t, "red: int = 200", "red: int = 20")
	tab.wbWaitRun(t, runs, "loaded", "the UDF with red = 20")
	tab.wbWaitMapColour(t, [3]int{20, 40, 90}, "the colour after red = 20")
	if v := tab.eval(t, `document.getElementById('param-red').value`); v != "20" {
		t.Errorf("the form shows red = %q, want the new default 20", v)
	}

	// A value in the form: green 40 → 200.
	runs = tab.wbRuns(t)
	tab.typeOver(t, "#param-green", "200"+kb.Enter)
	tab.wbWaitRun(t, runs, "loaded", "the UDF with green = 200")
	tab.wbWaitMapColour(t, [3]int{20, 200, 90}, "the colour after green = 200")

	// Save, as "flat".
	tab.typeOver(t, "#udf-name", "flat")
	tab.wbClick(t, "#save")
	tab.waitFor(t, "the save", `document.body.dataset.saved === '1'`)
	status, code := s.call(t, "GET", "/v1/udfs/flat/code", editorToken, "")
	if status != 200 || code != strings.Replace(workbenchUDF, "red: int = 200", "red: int = 20", 1) {
		t.Errorf("GET /v1/udfs/flat/code: %d %q, want the edited code", status, code)
	}

	// Share: a token, its URLs and snippets.
	tab.wbClick(t, "#share")
	tab.wbClick(t, "#share-create")
	tab.waitFor(t, "the share token", `document.getElementById('share-xyz').value.includes('/server/v1/realtime-shared/fsh_')`)
	xyz := tab.eval(t, `document.getElementById('share-xyz').value`)
	for id, want := range map[string]string{"share-maplibre": "type: 'raster'", "share-qgis": "type=xyz&url=", "share-fused": `fused.run("fsh_`} {
		if got := tab.eval(t, fmt.Sprintf(`document.getElementById(%q).value`, id)); !strings.Contains(got, want) {
			t.Errorf("#%s is %q, want it to contain %q", id, got, want)
		}
	}
	if !strings.HasPrefix(xyz, s.base+"/server/v1/realtime-shared/fsh_") || !strings.Contains(xyz, "/run/tiles/{z}/{x}/{y}") || !strings.HasSuffix(xyz, "?green=200") {
		t.Fatalf("the shared XYZ URL is %q, want %s/server/v1/realtime-shared/fsh_…/run/tiles/{z}/{x}/{y}?green=200", xyz, s.base)
	}
	tab.screenshot(t, "workbench-share.png")
	tilejson := tab.eval(t, `document.getElementById('share-tilejson').value`)
	tab.wbClick(t, "#share-dialog [data-close]")

	// The shared TileJSON needs no token, and its tiles are the shared XYZ URL's.
	tjURL, _, _ := strings.Cut(xyz, "/run/tiles/")
	if tilejson != tjURL+"/run/tilejson.json?green=200" {
		t.Fatalf("the shared TileJSON URL is %q, want %s/run/tilejson.json?green=200", tilejson, tjURL)
	}
	resp, err := http.Get(tilejson)
	if err != nil {
		t.Fatal(err)
	}
	var tj struct {
		TileJSON string   `json:"tilejson"`
		Tiles    []string `json:"tiles"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tj)
	resp.Body.Close()
	xyzPath, _, _ := strings.Cut(xyz, "?")
	if resp.StatusCode != 200 || err != nil || tj.TileJSON != "3.0.0" || len(tj.Tiles) != 1 ||
		!strings.HasPrefix(tj.Tiles[0], xyzPath) || !strings.HasSuffix(tj.Tiles[0], "?green=200") {
		t.Fatalf("GET %s without a token: %d %v %+v; want tiles [%s[.png]?green=200]", tilejson, resp.StatusCode, err, tj, xyzPath)
	}

	// The shared URL, and the TileJSON's, need no token.
	for _, u := range []string{xyz, tj.Tiles[0]} {
		tileURL := strings.NewReplacer("{z}", "3", "{x}", "4", "{y}", "2").Replace(u)
		resp, err := http.Get(tileURL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("GET %s without a token: %d %s %.300s", tileURL, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		img, err := png.Decode(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("the shared tile %s is not a PNG: %v", tileURL, err)
		}
		if got := rgbAt(img, 128, 128); dist2(got, [3]int{20, 200, 90}) > 2*2 {
			t.Errorf("the shared tile %s: pixel %v, want (20, 200, 90)", tileURL, got)
		}
	}

	// Auto-run off: an edit runs nothing until Ctrl-Enter, which runs the
	// draft and redraws the map.
	tab.wbClick(t, "#auto-run")
	if on := tab.eval(t, `String(document.getElementById('auto-run').checked)`); on != "false" {
		t.Fatalf("auto-run is %s after a click, want false", on)
	}
	runs = tab.wbRuns(t)
	tab.wbReplace(t, "a[2] = red, green, 90", "a[2] = red, green, 150")
	time.Sleep(1500 * time.Millisecond) // more than the auto-run pause
	if now := tab.wbRuns(t); now != runs {
		t.Fatalf("with auto-run off an edit ran the code (runs %s → %s)", runs, now)
	}
	if err := chromedp.Do(tab.ctx, chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierCtrl))); err != nil {
		t.Fatalf("Ctrl-Enter: %v", err)
	}
	tab.wbWaitRun(t, runs, "loaded", "the run of Ctrl-Enter")
	tab.wbWaitMapColour(t, [3]int{20, 200, 150}, "the colour after blue = 150 and Ctrl-Enter")
	tab.wbClick(t, "#auto-run") // on again (the code ran already: nothing to run)

	// A second save, then v1 restored from the Versions dialog: it becomes v3.
	tab.wbClick(t, "#save")
	tab.waitFor(t, "the second save", `document.body.dataset.saved === '2'`)
	tab.wbClick(t, "#versions")
	tab.waitFor(t, "the versions", `document.querySelectorAll('#versions-list li').length === 2`)
	tab.screenshot(t, "workbench-versions.png")
	tab.wbClick(t, `#versions-list button[data-version="1"]`)
	tab.waitFor(t, "the restore", `document.body.dataset.saved === '3'`)
	if got := tab.eval(t, `window.workbench.editor.state.doc.toString()`); got != strings.Replace(workbenchUDF, "red: int = 200", "red: int = 20", 1) {
		t.Errorf("after restoring v1 the editor holds %q, want v1's code", got)
	}

	// The table and file templates: a table, and HTML in a sandboxed frame.
	runs = tab.wbRuns(t)
	tab.eval(t, `(s => { s.value = 'table'; s.dispatchEvent(new Event('change')); return true; })(document.getElementById('new-template'))`)
	tab.wbWaitRun(t, runs, "loaded", "the table template")
	if kind, rows := tab.eval(t, `document.body.dataset.kind`), tab.eval(t, `String(document.querySelectorAll('#results-body table.records tbody tr').length)`); kind != "table" || rows != "10" {
		t.Errorf("the table template shows kind %q with %s rows, want a table of 10", kind, rows)
	}
	runs = tab.wbRuns(t)
	tab.eval(t, `(s => { s.value = 'file'; s.dispatchEvent(new Event('change')); return true; })(document.getElementById('new-template'))`)
	tab.wbWaitRun(t, runs, "loaded", "the file template")
	if frame := tab.eval(t, `(f => f ? 'sandbox=' + JSON.stringify(f.getAttribute('sandbox')) + ' ' + f.srcdoc.includes('Hello from the Workbench') : 'none')(document.querySelector('#results-body iframe'))`); frame != `sandbox="" true` {
		t.Errorf("the file template's frame: %s, want sandbox=\"\" holding its HTML", frame)
	}

	runs = tab.wbRuns(t)
	tab.eval(t, `(s => { s.value = 'vector'; s.dispatchEvent(new Event('change')); return true; })(document.getElementById('new-template'))`)
	tab.wbWaitRun(t, runs, "loaded", "the vector template")
	if kind := tab.eval(t, `document.body.dataset.kind`); kind != "vector" {
		t.Errorf("the vector template is drawn as %q, want vector (MVT tiles)", kind)
	}
	tab.waitFor(t, "countries drawn from MVT tiles", `window.workbench.map.queryRenderedFeatures().some((f) => f.sourceLayer === 'udf' && f.properties.name)`)
	tab.screenshot(t, "workbench-vector.png")

	// A syntax error: the draft does not load; line 6 is marked, the traceback shown.
	runs = tab.wbRuns(t)
	tab.wbTypeCode(t, workbenchBroken)
	tab.wbWaitRun(t, runs, "error", "the syntax error")
	tab.wbCheckErrorLine(t, 6, "SyntaxError")

	// An exception in a tile: line 7 is marked, and the prints before it shown.
	runs = tab.wbRuns(t)
	tab.wbTypeCode(t, workbenchRaises)
	tab.wbWaitRun(t, runs, "error", "the exception")
	tab.wbCheckErrorLine(t, 7, "ZeroDivisionError")
	if prints := tab.text(t, "#log-prints"); !strings.Contains(prints, "about to fail") {
		t.Errorf("the log's output is %q, want the prints before the exception", prints)
	}
	tab.screenshot(t, "workbench-error.png")

	tab.requireNoScriptErrors(t)
	t.Logf("the Workbench's steps took %v (server and browser start included)", time.Since(start).Round(time.Millisecond))
}

// wbRuns is how many runs the Workbench has settled (body[data-runs]).
func (tb *tab) wbRuns(t *testing.T) string {
	t.Helper()
	return tb.eval(t, `document.body.dataset.runs`)
}

// wbWaitRun waits until a run after the count before has settled, and
// requires it to have settled as want ("loaded" or "error").
func (tb *tab) wbWaitRun(t *testing.T, before, want, what string) {
	t.Helper()
	tb.waitFor(t, what, fmt.Sprintf(`document.body.dataset.runs !== %q && ['loaded', 'error'].includes(document.body.dataset.state)`, before))
	if st := tb.eval(t, `document.body.dataset.state`); st != want {
		t.Fatalf("%s settled as %q, want %q; %s", what, st, want, tb.wbLog(t))
	}
}

// wbLog is the Workbench's log panel, for failure messages.
func (tb *tab) wbLog(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	log, err := chromedp.Run(ctx, chromedp.Evaluate[string](`['run-info', 'log-hint', 'log-headline', 'log-traceback', 'log-prints'].map((id) => id + ': ' + document.getElementById(id).textContent).join('\n')`))
	if err != nil {
		log = "(unreadable: " + err.Error() + ")"
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return fmt.Sprintf("log panel:\n%s\nconsole errors %q", log, tb.problems)
}

func (tb *tab) wbClick(t *testing.T, selector string) {
	t.Helper()
	if err := chromedp.Do(tb.ctx, chromedp.Click(chromedp.CSS(selector), chromedp.NodeVisible)); err != nil {
		t.Fatalf("click %s: %v", selector, err)
	}
}

// wbTypeCode replaces the editor's text as a person would: select all, then
// type (Chromium's insertText, as an input method does, so that the
// editor's auto-indent and bracket closing leave the text as it is).
func (tb *tab) wbTypeCode(t *testing.T, code string) {
	t.Helper()
	err := chromedp.Do(tb.ctx,
		chromedp.Click(chromedp.CSS(".cm-content"), chromedp.NodeVisible),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		insertText(code),
	)
	if err != nil {
		t.Fatalf("type into the editor: %v", err)
	}
	if got := tb.eval(t, `window.workbench.editor.state.doc.toString()`); got != code {
		t.Fatalf("the editor holds %q, want %q", got, code)
	}
}

// insertText types text where the focus is, as an input method does.
func insertText(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		_, err := cdp.Call(ctx, target, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
}

// wbReplace selects old in the editor and types repl over it.
func (tb *tab) wbReplace(t *testing.T, old, repl string) {
	t.Helper()
	ok := tb.eval(t, fmt.Sprintf(`(() => {
		const v = window.workbench.editor;
		const i = v.state.doc.toString().indexOf(%q);
		if (i < 0) return 'missing';
		v.focus();
		v.dispatch({selection: {anchor: i, head: i + %d}});
		return 'ok';
	})()`, old, len(old)))
	if ok != "ok" {
		t.Fatalf("the editor does not hold %q", old)
	}
	if err := chromedp.Do(tb.ctx, insertText(repl)); err != nil {
		t.Fatalf("type %q: %v", repl, err)
	}
}

// wbCheckErrorLine requires the editor to mark line n, and the log to show the
// traceback ending in the exception named want.
func (tb *tab) wbCheckErrorLine(t *testing.T, n int, want string) {
	t.Helper()
	tb.waitFor(t, fmt.Sprintf("line %d marked", n), fmt.Sprintf(`!!document.querySelector('.cm-error-line[data-error-line="%d"]')`, n))
	if marked := tb.eval(t, `String(document.querySelectorAll('.cm-error-line').length)`); marked != "1" {
		t.Errorf("%s lines are marked, want 1", marked)
	}
	log := tb.text(t, "#log-headline") + "\n" + tb.text(t, "#log-traceback")
	if !strings.Contains(log, want) || !strings.Contains(log, fmt.Sprintf("line %d", n)) {
		t.Errorf("the log shows %q, want the %s traceback naming line %d", log, want, n)
	}
}

// wbWaitMapColour takes screenshots until at least 30% of the map's pixels
// have the colour (within a small distance), failing after 15 s.
func (tb *tab) wbWaitMapColour(t *testing.T, want [3]int, what string) {
	t.Helper()
	type rect struct{ X, Y, W, H, Scale float64 }
	r, err := chromedp.Run(tb.ctx, chromedp.Evaluate[rect](`(() => { const b = document.getElementById('map').getBoundingClientRect(); return {X: b.left, Y: b.top, W: b.width, H: b.height, Scale: window.devicePixelRatio}; })()`))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("decode the screenshot: %v", err)
		}
		total, match := 0, 0
		x0, y0 := int(r.X*r.Scale), int(r.Y*r.Scale)
		x1, y1 := int((r.X+r.W)*r.Scale), int((r.Y+r.H)*r.Scale)
		for y := y0; y < y1; y += 2 {
			for x := x0; x < x1; x += 2 {
				total++
				if dist2(rgbAt(img, x, y), want) <= 12*12 {
					match++
				}
			}
		}
		frac := float64(match) / float64(max(total, 1))
		if frac >= 0.3 {
			t.Logf("%s: %.0f%% of the map's pixels are %v", what, 100*frac, want)
			return
		}
		if time.Now().After(deadline) {
			path := filepath.Join(t.TempDir(), "workbench-colour.png")
			_ = os.WriteFile(path, b, 0o644)
			t.Fatalf("%s: only %.1f%% of the map's pixels are %v after 15s (screenshot %s); %s", what, 100*frac, want, path, tb.wbLog(t))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// wbSaveScreenshot writes a screenshot of the page to path (docs/images:
// generated by the test, never committed).
func (tb *tab) wbSaveScreenshot(t *testing.T, path string) {
	t.Helper()
	b, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot written to %s", path)
}
