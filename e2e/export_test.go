package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udftiles/udftiles/export"
	"github.com/udftiles/udftiles/internal/miniotest"
	"github.com/udftiles/udftiles/tiles"
	"gopkg.in/yaml.v3"
)

// exportFixture builds the binary and the demo data, with a config serving the
// DEM; it returns the binary, the folder and the config path.
func exportFixture(t *testing.T) (bin, dir, cfg string) {
	t.Helper()
	bin = buildBinary(t)
	dir = t.TempDir()
	if out, err := exec.Command(bin, "demo-data", "--out", filepath.Join(dir, "demo")).CombinedOutput(); err != nil {
		t.Fatalf("demo-data: %v\n%s", err, out)
	}
	cfg = filepath.Join(dir, "config.yaml")
	yaml := "cache: {memory_mb: 16}\nudfs:\n  - {name: elevation, handler: cog, path: demo/elevation.tif, rescale: [0, 3000], colormap: plasma, maxzoom: 16}\n" +
		"  - {name: countries, handler: vector, path: demo/countries.parquet}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return bin, dir, cfg
}

// readTiles reads every tile of an archive or directory.
func readTiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	if err := export.ReadAll(path, func(tl tiles.Tile, data []byte) error { m[tl.String()] = bytes.Clone(data); return nil }); err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return m
}

func sameTiles(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("%s: %d tiles, want %d", what, len(got), len(want))
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Fatalf("%s: tile %s differs (%d bytes, want %d)", what, k, len(got[k]), len(v))
		}
	}
}

// TestExportKilledAndResumed: an export killed (SIGKILL) at random moments and
// run again until it completes gives exactly the tiles of an uninterrupted run,
// and the destination never exists half-written.
func TestExportKilledAndResumed(t *testing.T) {
	bin, dir, cfg := exportFixture(t)
	args := func(out string) []string {
		return []string{"export", "--config", cfg, "--udf", "elevation", "--minzoom", "6", "--maxzoom", "13", "--concurrency", "2", "--quiet", "--out", out}
	}
	for _, ext := range []string{"mbtiles", "pmtiles", "dir"} {
		whole := filepath.Join(dir, "whole."+ext)
		if out, err := exec.Command(bin, args(whole)...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", ext, err, out)
		}
		want := readTiles(t, whole)
		dest := filepath.Join(dir, "killed."+ext)
		rng := rand.New(rand.NewSource(int64(len(ext))))
		kills := 0
		for attempt := 0; attempt < 30; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			cmd := exec.CommandContext(ctx, bin, args(dest)...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			killed := false
			select {
			case err = <-done:
			// Random moments, later each time, so that the export ends.
			case <-time.After(time.Duration(100+150*attempt+rng.Intn(400)) * time.Millisecond):
				_ = cmd.Process.Kill()
				err = <-done
				killed = true
			}
			cancel()
			if !killed && err != nil {
				t.Fatalf("%s: export failed: %v\n%s", ext, err, out.String())
			}
			if !killed || err == nil {
				break // completed
			}
			kills++
			if ext != "dir" {
				if _, err := os.Stat(dest); err == nil {
					// The kill landed after the final rename: the archive
					// must then be the whole one (checked below).
					t.Logf("%s: killed after the archive was complete", ext)
					break
				} else if !os.IsNotExist(err) {
					t.Fatalf("%s: %v", ext, err)
				}
			}
		}
		if kills == 0 {
			t.Errorf("%s: the export finished before any kill; the test proves nothing", ext)
		}
		t.Logf("%s: %d kills, then complete", ext, kills)
		sameTiles(t, fmt.Sprintf("%s after %d kills", ext, kills), readTiles(t, dest), want)
	}
}

// TestExportShardsToS3: three shard processes writing to MinIO produce exactly
// the tile set of one process; shard archives merge into the same set.
func TestExportShardsToS3(t *testing.T) {
	bin, dir, cfg := exportFixture(t)
	minio := miniotest.Start(t)
	minio.CreateBucket(t, "tiles")
	env := append(os.Environ(), "AWS_ENDPOINT_URL="+minio.Endpoint, "AWS_ACCESS_KEY_ID="+minio.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+minio.SecretKey, "AWS_REGION=us-east-1")
	run := func(out string, extra ...string) *exec.Cmd {
		a := append([]string{"export", "--config", cfg, "--udf", "elevation", "--minzoom", "6", "--maxzoom", "11", "--quiet", "--out", out}, extra...)
		c := exec.Command(bin, a...)
		c.Env = env
		return c
	}
	if out, err := run("s3://tiles/one").CombinedOutput(); err != nil {
		t.Fatalf("one process: %v\n%s", err, out)
	}
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for i := 0; i < 3; i++ {
		c := run("s3://tiles/three", "--shard", fmt.Sprintf("%d/3", i))
		b := &bytes.Buffer{}
		c.Stdout, c.Stderr = b, b
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, c), append(outs, b)
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("shard %d: %v\n%s", i, err, outs[i])
		}
	}
	strip := func(keys []string, prefix string) []string {
		var out []string
		for _, k := range keys {
			if !strings.HasSuffix(k, ".json") {
				out = append(out, strings.TrimPrefix(k, prefix))
			}
		}
		return out
	}
	one, three := strip(minio.Objects(t, "tiles", "one/"), "one/"), strip(minio.Objects(t, "tiles", "three/"), "three/")
	if len(one) < 20 || strings.Join(one, " ") != strings.Join(three, " ") {
		t.Fatalf("one process wrote %d tiles, three shards %d:\n%v\n%v", len(one), len(three), one, three)
	}
	for _, k := range one {
		if !bytes.Equal(minio.Get(t, "tiles", "one/"+k), minio.Get(t, "tiles", "three/"+k)) {
			t.Fatalf("tile %s differs between the runs", k)
		}
	}
	// Shards into archives, then merged.
	var parts []string
	for i := 0; i < 3; i++ {
		p := filepath.Join(dir, fmt.Sprintf("part%d.mbtiles", i))
		if out, err := run(p, "--shard", fmt.Sprintf("%d/3", i)).CombinedOutput(); err != nil {
			t.Fatalf("shard %d: %v\n%s", i, err, out)
		}
		parts = append(parts, p)
	}
	merged := filepath.Join(dir, "merged.pmtiles")
	if out, err := exec.Command(bin, append([]string{"export", "merge", "--out", merged}, parts...)...).CombinedOutput(); err != nil {
		t.Fatalf("merge: %v\n%s", err, out)
	}
	whole := filepath.Join(dir, "whole.pmtiles")
	if out, err := run(whole).CombinedOutput(); err != nil {
		t.Fatalf("whole: %v\n%s", err, out)
	}
	sameTiles(t, "merged shards", readTiles(t, merged), readTiles(t, whole))
}

// TestKubernetesExportJob: the Indexed Job manifest parses, runs the export
// command with flags it has, shards by the completion index, and names a
// config path the Dockerfile's image would mount.
func TestKubernetesExportJob(t *testing.T) {
	b, err := os.ReadFile("../deploy/kubernetes/export-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var job struct {
		Kind string
		Spec struct {
			CompletionMode string `yaml:"completionMode"`
			Completions    int
			Parallelism    int
			Template       struct {
				Spec struct {
					Containers []struct {
						Args []string
						Env  []struct{ Name string }
					}
				}
			}
		}
	}
	if err := yaml.Unmarshal(b, &job); err != nil {
		t.Fatalf("the manifest does not parse: %v", err)
	}
	if job.Kind != "Job" || job.Spec.CompletionMode != "Indexed" || job.Spec.Completions != 3 || len(job.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("manifest %+v", job)
	}
	args := job.Spec.Template.Spec.Containers[0].Args
	if len(args) == 0 || args[0] != "export" {
		t.Fatalf("args %v: want the export command", args)
	}
	help, _ := exec.Command(buildBinary(t), "export", "-h").CombinedOutput()
	for i, a := range args {
		if strings.HasPrefix(a, "--") && !strings.Contains(string(help), "-"+strings.TrimPrefix(a, "--")+" ") {
			t.Errorf("flag %s is not one of export's:\n%s", a, help)
		}
		if a == "--shard" && (i+1 >= len(args) || args[i+1] != fmt.Sprintf("$(JOB_COMPLETION_INDEX)/%d", job.Spec.Completions)) {
			t.Errorf("--shard %v: want $(JOB_COMPLETION_INDEX)/%d", args[i+1:], job.Spec.Completions)
		}
	}
	env := ""
	for _, e := range job.Spec.Template.Spec.Containers[0].Env {
		env += e.Name + " "
	}
	for _, want := range []string{"JOB_COMPLETION_INDEX", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if !strings.Contains(env, want) {
			t.Errorf("env %s lacks %s", env, want)
		}
	}
}

// TestExportDemoLayers: every tile layer of the demo config exports to the four
// destinations, the same tiles in each.
func TestExportDemoLayers(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	if out, err := exec.Command(bin, "demo-data", "--out", filepath.Join(dir, "data", "demo")).CombinedOutput(); err != nil {
		t.Fatalf("demo-data: %v\n%s", err, out)
	}
	if err := os.CopyFS(filepath.Join(dir, "udfs"), os.DirFS("../udfs")); err != nil {
		t.Fatal(err)
	}
	minio := miniotest.Start(t)
	minio.CreateBucket(t, "tiles")
	env := append(os.Environ(), "AWS_ENDPOINT_URL="+minio.Endpoint, "AWS_ACCESS_KEY_ID="+minio.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+minio.SecretKey, "AWS_REGION=us-east-1")
	for _, l := range []struct{ name, zooms, bbox string }{
		{"elevation", "9-10", ""}, {"rgb", "5-6", ""}, {"hillshade", "10-10", ""},
		{"countries", "2-3", "-10,35,30,60"}, {"cities", "2-3", "-10,35,30,60"},
		{"countries_gpkg", "2-2", "-10,35,30,60"}, {"cities_fgb", "2-2", "-10,35,30,60"},
	} {
		lo, hi, _ := strings.Cut(l.zooms, "-")
		counts := map[string]int{}
		for _, dest := range []string{"dir", "x.mbtiles", "x.pmtiles", "s3://tiles/" + l.name} {
			out := dest
			if !strings.HasPrefix(dest, "s3://") {
				out = filepath.Join(dir, "out", l.name, dest)
			}
			args := []string{"export", "--udf", l.name, "--minzoom", lo, "--maxzoom", hi, "--quiet", "--out", out}
			if l.bbox != "" {
				args = append(args, "--bbox", l.bbox)
			}
			cmd := exec.Command(bin, args...)
			cmd.Dir, cmd.Env = dir, env
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s to %s: %v\n%s", l.name, dest, err, b)
			}
			if strings.HasPrefix(dest, "s3://") {
				n := 0
				for _, k := range minio.Objects(t, "tiles", l.name+"/") {
					if !strings.HasSuffix(k, ".json") {
						n++
					}
				}
				counts[dest] = n
			} else {
				counts[dest] = len(readTiles(t, out))
			}
		}
		n := counts["dir"]
		for d, c := range counts {
			if c != n || n == 0 {
				t.Errorf("%s: tiles per destination %v", l.name, counts)
				break
			}
			_ = d
		}
	}
}
