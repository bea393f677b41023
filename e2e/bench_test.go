package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/udftiles/udftiles/internal/miniotest"
)

// BenchmarkCacheTiers compares, through HTTP on one connection, a hillshade
// tile of the Python UDF served from the S3 tier (MinIO on 127.0.0.1; a server
// without a memory tier), rendered anew (cache=false), and from memory.
func BenchmarkCacheTiers(b *testing.B) {
	bin := benchBinary(b)
	dir := b.TempDir()
	if out, err := exec.Command(bin, "demo-data", "--out", filepath.Join(dir, "data", "demo")).CombinedOutput(); err != nil {
		b.Fatalf("demo-data: %v\n%s", err, out)
	}
	if err := os.CopyFS(filepath.Join(dir, "udfs"), os.DirFS("../udfs")); err != nil {
		b.Fatal(err)
	}
	minio := miniotest.Start(b)
	minio.CreateBucket(b, "tiles")
	s3 := fmt.Sprintf("{bucket: tiles, prefix: bench, endpoint: %q, access_key: %q, secret_key: %q}", minio.Endpoint, minio.AccessKey, minio.SecretKey)
	udfs := "udfs:\n  - {name: hillshade, handler: python, path: udfs/hillshade.py}\n"
	s3only := benchServer(b, bin, dir, "cache: {memory_mb: 0, s3: "+s3+"}\n"+udfs)
	withMemory := benchServer(b, bin, dir, "cache: {memory_mb: 64, s3: "+s3+"}\n"+udfs)

	var paths []string
	for dy := 0; dy < 4; dy++ {
		for dx := 0; dx < 4; dx++ {
			paths = append(paths, fmt.Sprintf("/v1/udfs/hillshade/tiles/11/%d/%d.png", 1099+dx, 717+dy))
		}
	}
	for _, p := range paths { // render each once; S3 holds them after the writes land
		benchGet(b, s3only+p, "")
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(minio.Objects(b, "tiles", "bench/hillshade/")) < len(paths) {
		if time.Now().After(deadline) {
			b.Fatalf("the S3 writes did not land: %v", minio.Objects(b, "tiles", "bench/"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range []struct{ name, base, query, want string }{
		{"s3-hit", s3only, "", "s3"},
		{"python-render", s3only, "?cache=false", "miss"},
		{"memory-hit", withMemory, "", "memory"},
	} {
		for _, p := range paths { // warm (memory-hit fills the second server's memory)
			benchGet(b, c.base+p+c.query, "")
		}
		b.Run(c.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				benchGet(b, c.base+paths[i%len(paths)]+c.query, c.want)
			}
		})
	}
}

// benchGet fetches url and checks its X-Cache (want "" = any).
func benchGet(b *testing.B, url, want string) {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || want != "" && resp.Header.Get("X-Cache") != want {
		b.Fatalf("GET %s: %d X-Cache %q, want %q; %.200s", url, resp.StatusCode, resp.Header.Get("X-Cache"), want, body)
	}
}

func benchBinary(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "tileserver")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/tileserver").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// benchServer starts the binary in dir with a config and returns its base URL
// once it is ready; it is stopped when the benchmark ends.
func benchServer(b *testing.B, bin, dir, yaml string) string {
	cfg := filepath.Join(dir, fmt.Sprintf("bench-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	l := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--config", cfg, "--listen", l)
	cmd.Dir = dir
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	base := "http://" + l
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("not ready after 60s: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
