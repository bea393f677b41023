package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/udftiles/udftiles/config"
	"gopkg.in/yaml.v3"
)

// TestDeployManifests: the Kubernetes manifests and docker-compose.yaml parse,
// run commands with flags the binary has, probe routes the server serves, and
// mount a config that validates and names files the image holds.
func TestDeployManifests(t *testing.T) {
	bin := buildBinary(t)
	help := map[string]string{}
	for _, cmd := range []string{"serve", "export"} {
		out, _ := exec.Command(bin, cmd, "-h").CombinedOutput()
		help[cmd] = string(out)
	}
	checkArgs := func(where string, args []string) {
		t.Helper()
		if len(args) == 0 || help[args[0]] == "" {
			t.Errorf("%s: args %v: want serve or export", where, args)
			return
		}
		for _, a := range args[1:] {
			if strings.HasPrefix(a, "--") && !strings.Contains(help[args[0]], "-"+strings.TrimPrefix(a, "--")+" ") {
				t.Errorf("%s: %s has no flag %s", where, args[0], a)
			}
		}
	}
	// The demo files the image writes (tileserver demo-data in the Dockerfile).
	demo := t.TempDir()
	if out, err := exec.Command(bin, "demo-data", "--out", demo).CombinedOutput(); err != nil {
		t.Fatalf("demo-data: %v\n%s", err, out)
	}
	imageHas := func(p string) bool {
		switch {
		case strings.HasPrefix(p, "/app/data/demo/"):
			_, err := os.Stat(filepath.Join(demo, strings.TrimPrefix(p, "/app/data/demo/")))
			return err == nil
		case strings.HasPrefix(p, "/app/udfs/"):
			_, err := os.Stat(filepath.Join("../udfs", strings.TrimPrefix(p, "/app/udfs/")))
			return err == nil
		}
		return false
	}
	t.Setenv("S3_ACCESS_KEY", "k")
	t.Setenv("S3_SECRET_KEY", "s")
	t.Setenv("UDFTILES_STORE_URL", "postgres://udftiles:pw@postgres:5432/udftiles?sslmode=disable")
	checkConfig := func(where, text string) {
		t.Helper()
		c, err := config.Parse([]byte(text), "")
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		if c.Cache.S3.Bucket == "" {
			t.Errorf("%s: no S3 tier", where)
		}
		if !strings.HasPrefix(c.Store.URL, "postgres://") {
			t.Errorf("%s: store.url %q: replicas share a PostgreSQL store", where, c.Store.URL)
		}
		for _, u := range c.UDFs {
			if !imageHas(u.Path) {
				t.Errorf("%s: udf %s: %s is not in the image", where, u.Name, u.Path)
			}
		}
	}

	files, _ := filepath.Glob("../deploy/kubernetes/*.yaml")
	kinds := map[string]bool{}
	var configText string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		kind, _ := doc["kind"].(string)
		kinds[kind] = true
		var m struct {
			Data map[string]string
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct{ Args []string }
					}
				}
			}
		}
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		switch kind {
		case "ConfigMap":
			configText = m.Data["config.yaml"]
			checkConfig(f, configText)
		case "Deployment", "Job":
			for _, c := range m.Spec.Template.Spec.Containers {
				checkArgs(f, c.Args)
			}
		}
		if kind == "Deployment" {
			s := string(b)
			for _, p := range []string{"path: /readyz", "path: /healthz", "name: UDFTILES_STORE_URL", "secretKeyRef: {name: udftiles-store, key: url}"} {
				if !strings.Contains(s, p) {
					t.Errorf("%s: no probe with %s", f, p)
				}
			}
		}
	}
	for _, k := range []string{"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "Job", "StatefulSet"} {
		if !kinds[k] {
			t.Errorf("deploy/kubernetes has no %s", k)
		}
	}

	b, err := os.ReadFile("../docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Command []string
			Configs []struct{ Source, Target string }
		}
		Configs map[string]struct{ File string }
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	u, ok := compose.Services["udftiles"]
	if !ok || compose.Services["minio"].Command == nil {
		t.Fatalf("docker-compose.yaml: services %v", compose.Services)
	}
	checkArgs("docker-compose.yaml", u.Command)
	cfgFile := compose.Configs["udftiles-config"].File
	cb, err := os.ReadFile(filepath.Join("..", cfgFile))
	if err != nil {
		t.Fatalf("docker-compose.yaml's config %s: %v", cfgFile, err)
	}
	checkConfig(cfgFile, string(cb))
	if body := strings.SplitN(string(cb), "\n", 2)[1]; body != configText {
		t.Errorf("%s differs from the ConfigMap's config.yaml", cfgFile)
	}
}
