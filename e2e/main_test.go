package e2e

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles the command once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tileserver")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/tileserver").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServeEndToEnd runs the real binary: demo-data, serve, a tile, shutdown on SIGTERM.
func TestServeEndToEnd(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	if out, err := exec.Command(bin, "demo-data", "--out", filepath.Join(dir, "demo")).CombinedOutput(); err != nil {
		t.Fatalf("demo-data: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "config.yaml")
	yaml := `
cache: {memory_mb: 16}
udfs:
  - {name: elevation, handler: cog, path: demo/elevation.tif, rescale: [0, 3000], colormap: plasma}
  - {name: missing, handler: cog, path: demo/nope.tif}
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	cmd := exec.Command(bin, "serve", "--config", cfg, "--listen", addr)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			logs <- s.Text()
		}
		close(logs)
	}()
	defer cmd.Process.Kill()

	base := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not become healthy: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range []struct {
		path   string
		status int
		ctype  string
	}{
		{"/v1/udfs/elevation/tiles/10/550/359.png", 200, "image/png"},
		{"/v1/udfs/missing/tiles/10/550/359.png", 503, "application/json"},
		{"/v1/udfs/elevation/tilejson.json", 200, "application/json"},
	} {
		resp, err := http.Get(base + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) {
			t.Errorf("GET %s: %d %s, want %d %s; %s", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.status, c.ctype, body)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	var all []string
	for l := range logs {
		all = append(all, l)
	}
	if !strings.Contains(strings.Join(all, "\n"), `"udf":"missing"`) {
		t.Errorf("startup log does not name the unavailable layer:\n%s", strings.Join(all, "\n"))
	}
}

func TestCommandErrors(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("udfs:\n  - {name: a, handler: cog, path: x.tif, colormap: nope}\n"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{nil, 2, "Usage:"},
		{[]string{"serve", "--config", bad}, 1, "udfs[0].colormap"},
		{[]string{"serve", "--config", filepath.Join(dir, "absent.yaml")}, 1, "no such file"},
		{[]string{"version"}, 0, "tileserver "},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, bin, c.args...).CombinedOutput()
		cancel()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || !strings.Contains(string(out), c.want) {
			t.Errorf("tileserver %v: exit %d output %q, want exit %d containing %q", c.args, code, out, c.code, c.want)
		}
	}
}

// TestDockerfileReferences checks what can be checked without a Docker engine: every
// COPY source exists and every tileserver invocation uses a real command and flag.
func TestDockerfileReferences(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	copyRe := regexp.MustCompile(`(?m)^COPY\s+(?:--from=\S+\s+)?(.+)\s+\S+$`)
	for _, m := range copyRe.FindAllStringSubmatch(src, -1) {
		if strings.Contains(m[0], "--from=") {
			continue
		}
		for _, p := range strings.Fields(m[1]) {
			if _, err := os.Stat(filepath.Join("..", p)); err != nil {
				t.Errorf("Dockerfile copies %s, which does not exist", p)
			}
		}
	}
	for _, want := range []string{"tileserver demo-data --out", `CMD ["serve"]`, "USER udftiles", "./cmd/tileserver", "FROM debian:bookworm"} {
		if !strings.Contains(src, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	// The flags the image uses must be accepted by the commands.
	bin := buildBinary(t)
	for _, args := range [][]string{{"demo-data", "-h"}, {"serve", "-h"}} {
		out, _ := exec.Command(bin, args...).CombinedOutput()
		for _, flag := range map[string][]string{"demo-data": {"-out"}, "serve": {"-config", "-listen"}}[args[0]] {
			if !strings.Contains(string(out), flag) {
				t.Errorf("tileserver %s does not document %s:\n%s", args[0], flag, out)
			}
		}
	}
}

// serveDefault runs `tileserver serve` with the embedded config over fresh
// demo data, as `make run` does, until the test ends; it returns its URL
// and the folder it runs in.
func serveDefault(t *testing.T) (string, string) {
	t.Helper()
	bin := buildBinary(t)
	dir := t.TempDir()
	if out, err := exec.Command(bin, "demo-data", "--out", filepath.Join(dir, "data", "demo")).CombinedOutput(); err != nil {
		t.Fatalf("demo-data: %v\n%s", err, out)
	}
	if err := os.CopyFS(filepath.Join(dir, "udfs"), os.DirFS("../udfs")); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	cmd := exec.Command(bin, "serve", "--listen", addr)
	cmd.Dir = dir
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 60s: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return base, dir
}

// TestDefaultConfigServesEveryExample runs `tileserver serve` with the embedded
// config, as `make run` does: every demo layer, COG, vector and Python, answers.
func TestDefaultConfigServesEveryExample(t *testing.T) {
	base, _ := serveDefault(t)
	for _, c := range []struct{ path, ctype, contains string }{
		{"/v1/udfs/elevation/tiles/11/1101/719.png", "image/png", ""},
		{"/v1/udfs/rgb/tiles/6/34/22.png", "image/png", ""},
		{"/v1/udfs/elevation_tiles/tiles/11/1101/719.png", "image/png", ""},
		{"/v1/udfs/hillshade/tiles/11/1101/719", "image/png", ""},
		{"/v1/udfs/countries/tiles/2/2/1?format=geojson", "application/geo+json", `"pop_est"`},
		{"/v1/udfs/countries/tiles/3/4/2.geojson?filter=pop_est>50000000&columns=name", "application/geo+json", `"Germany"`},
		{"/v1/udfs/cities/run?bounds=-10,35,30,60&format=csv", "text/csv", "Paris"},
		{"/v1/udfs/countries_udf/tiles/3/4/2?min_pop_millions=50", "application/geo+json", `"Germany"`},
		{"/v1/udfs/cities_table/run?bounds=-10,35,30,60&limit=3", "application/json", `"lat"`},
		{"/server/v1/realtime-shared/fsh_demo_countries/run/tiles/3/4/2?min_pop_millions=50", "application/geo+json", `"Germany"`},
		{"/v1/udfs/bounds_echo/tiles/3/4/2", "application/json", `"z": 3`},
		{"/v1/udfs/daily/run?datestr=2024_09_02", "application/json", `"weekday":"Monday"`},
		{"/server/v1/realtime-shared/fsh_demo_elevation/run/tiles/11/1101/719?dtype_out_raster=tiff", "image/tiff", ""},
		{"/", "text/html", "maplibre"},
		{"/metrics", "text/plain", `udftiles_python_workers{state="idle"} 2`},
	} {
		resp, err := http.Get(base + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) || !strings.Contains(string(body), c.contains) {
			t.Errorf("GET %s: %d %s, want 200 %s containing %q; body %.300s", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.ctype, c.contains, body)
		}
	}
}
