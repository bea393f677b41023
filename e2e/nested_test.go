package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udftiles/udftiles/internal/miniotest"
)

// nestedUDFs are the UDFs of TestNestedRunsAndStorage: inner counts its
// renders in a file, outer runs it (and other layers) with fused.run and
// fused.submit, store uses fused.api and the mount.
var nestedUDFs = map[string]string{
	"inner.py": `import fused


@fused.udf
def udf(n: int = 1, counter: str = "", purge: bool = False, pause: float = 0):
    import os
    import time
    time.sleep(pause)
    if purge:
        fused.load("inner").delete_cache()  # its own layer's cache
        try:
            fused.load("outer").delete_cache()  # another layer's: refused
        except Exception as e:
            return {"other": str(e)}
        return {"other": ""}
    if counter:
        with open(counter, "a") as f:
            f.write("x")
    return {"n": n, "double": 2 * n}
`,
	"outer.py": `import fused


@fused.udf
def udf(mode: str = "run", counter: str = "", n: int = 3):
    import numpy as np
    if mode == "run":
        a = fused.run("inner", n=n, counter=counter)
        b = fused.run("inner", parameters={"n": n, "counter": counter})   # cached: same key
        c = fused.run("inner", n=n, counter=counter, cache=False)          # rendered again
        d = fused.run("inner", n=n, counter=counter, cache_reset=True)     # rendered again, and kept
        e = fused.run("inner", n=n, counter=counter, cache_max_age="1h")   # cached: young enough
        f = fused.run("inner", n=n, counter=counter, cache_max_age="0s")   # rendered again
        g = fused.run("inner", n=n, counter=counter, engine="remote")      # cached: the server's run
        h = fused.run("inner", n=n, counter=counter, engine="local")       # rendered in this worker
        return {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "g": g, "h": h}
    if mode == "token":
        return fused.run("fsh_inner_token", n=n, counter=counter)
    if mode == "load_token":
        shared = fused.load("fsh_inner_token")
        return {"called": shared(n=n, counter=counter), "run": fused.run(shared, n=n + 1, counter=counter),
                "repr": repr(shared)}
    if mode == "run_timeout":
        import time
        fused.options.run_timeout = 0.5
        start = time.monotonic()
        try:
            fused.run("inner", n=n, pause=4, cache=False)
            error = ""
        except TimeoutError as e:
            error = str(e)
        return {"error": error, "seconds": time.monotonic() - start}
    if mode == "request_timeout":
        fused.options.request_timeout = 0.001
        try:
            fused.submit("inner", [1, 2])
            return {"error": ""}
        except TimeoutError as e:
            return {"error": str(e)}
    if mode == "cog":
        arr = fused.run("dem", x=1100, y=718, z=11)
        return {"shape": list(arr.shape), "dtype": str(arr.dtype), "max": float(np.nanmax(arr))}
    if mode == "vector":
        gdf = fused.run("countries", bounds=[5, 45, 15, 55])
        return {"rows": len(gdf), "crs": str(gdf.crs), "has_germany": bool((gdf["name"] == "Germany").any())}
    if mode == "submit":
        df = fused.submit("inner", [1, 2, 3, 4])
        return sorted(int(r["double"]) for r in df["result"] if r)
    if mode == "ignored":
        return fused.run("inner", n=n, counter=counter, instance_type="large", max_retry=3)
    raise ValueError(mode)
`,
	"store.py": `import fused


@fused.udf
def udf(mode: str = "s3", prefix: str = ""):
    import os
    if mode == "s3" or mode == "local":
        fused.api.upload(b"hello storage", prefix + "dir/a.txt")
        fused.api.upload(b"second", prefix + "dir/b.txt")
        listed = fused.api.list(prefix + "dir/")
        got = fused.api.get(prefix + "dir/a.txt").decode()
        local = fused.download(prefix + "dir/b.txt", "nested/b.txt")
        with open(local) as f:
            downloaded = f.read()
        out = {"listed": listed, "got": got, "downloaded": downloaded}
        if mode == "s3":
            import urllib.request
            out["signed"] = fused.api.sign_url(prefix + "dir/a.txt").startswith("http")
            signed = fused.api.sign_url_prefix(prefix + "dir/")
            out["prefix_keys"] = sorted(signed)
            with urllib.request.urlopen(signed[prefix + "dir/b.txt"], timeout=30) as r:
                out["prefix_fetched"] = r.read().decode()
        else:
            try:
                fused.api.sign_url(prefix + "dir/a.txt")
                out["sign_local"] = ""
            except ValueError as e:
                out["sign_local"] = str(e)
        fused.options.request_timeout = 0.000001
        try:
            fused.api.list(prefix + "dir/")
            out["timeout"] = ""
        except TimeoutError as e:
            out["timeout"] = str(e)
        fused.options.request_timeout = 5
        fused.api.delete(prefix + "dir/a.txt")
        out["after_delete"] = fused.api.list(prefix + "dir/")
        return out
    if mode == "outside":
        try:
            fused.api.get(prefix)
        except (PermissionError, ValueError) as e:
            return {"refused": str(e)}
        return {"refused": ""}
    if mode == "mount":
        p = fused.file_path("results/x.txt")
        with open(p, "w") as f:
            f.write("kept")
        return {"path": p, "env": os.environ.get("FROM_CONFIG"), "dotenv": os.environ.get("FROM_DOTENV")}
    raise ValueError(mode)
`,
}

// TestNestedRunsAndStorage: fused.run inside a UDF runs a layer as an HTTP
// request does (the same cache: a repeated run renders once, cache=False
// renders again; shared tokens; COG and vector layers), a nested
// fused.submit completes on a pool of one worker, and fused.api reaches
// storage only through the server, within storage.allow.
func TestNestedRunsAndStorage(t *testing.T) {
	bin, demo := sharedBinary(t)
	srv := miniotest.Start(t)
	srv.CreateBucket(t, "udfdata")
	dir := t.TempDir()
	local := filepath.Join(dir, "shared")
	mount := filepath.Join(dir, "mount")
	if err := os.MkdirAll(filepath.Join(mount, "shared"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mount, "shared", ".env"), []byte("FROM_DOTENV=yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"config.yaml": fmt.Sprintf(`cache: {memory_mb: 32}
python: {workers: 1, cache_dir: pycache, timeout: 60s, mount_dir: %s}
storage:
  allow: [s3://udfdata/ok/, %s/]
  s3: {endpoint: %s, access_key: %s, secret_key: %s}
udfs:
  - {name: inner, handler: python, path: inner.py}
  - {name: outer, handler: python, path: outer.py, cache_max_age: 0s}
  - {name: store, handler: python, path: store.py, cache_max_age: 0s, env: {FROM_CONFIG: set}}
  - {name: dem, handler: cog, path: %s/elevation.tif}
  - {name: countries, handler: vector, path: %s/countries.gpkg}
tokens:
  - {token: fsh_inner_token, udf: inner}
`, mount, local, srv.Endpoint, srv.AccessKey, srv.SecretKey, demo, demo)}
	for k, v := range nestedUDFs {
		files[k] = v
	}
	chaosWriteFiles(t, dir, files)
	_ = bin
	s := chaosLaunch(t, "server", filepath.Join(dir, "config.yaml"))
	s.waitReady()
	counter := filepath.Join(dir, "renders")
	runs := func() int { b, _ := os.ReadFile(counter); return len(b) }
	get := func(path string) map[string]any {
		t.Helper()
		status, body := s.call(t, "GET", path, "", "")
		if status != 200 {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
		return v
	}

	t.Run("run, cached as over HTTP", func(t *testing.T) {
		v := get("/v1/udfs/outer/run?mode=run&n=3&counter=" + counter)
		for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
			if r, _ := v[k].(map[string]any); r["double"] != 6.0 {
				t.Errorf("%s = %v, want the inner UDF's result", k, v[k])
			}
		}
		if n := runs(); n != 5 {
			t.Errorf("inner rendered %d times, want 5: once, then a cached answer, then cache=False, "+
				"cache_reset=True, cache_max_age=0s and engine=local (not cache_max_age=1h nor engine=remote)", n)
		}
		// The same key as an HTTP request: this one is answered from the cache.
		status, body := s.call(t, "GET", "/v1/udfs/inner/run?n=3&counter="+counter, "", "")
		if status != 200 || runs() != 5 {
			t.Errorf("HTTP after the nested runs: %d %s, %d renders", status, body, runs())
		}
	})
	t.Run("delete_cache", func(t *testing.T) {
		before := runs()
		get("/v1/udfs/inner/run?n=3&counter=" + counter) // cached by the subtest above
		if runs() != before {
			t.Fatalf("the cached result rendered again")
		}
		v := get("/v1/udfs/inner/run?purge=true")
		if !strings.Contains(fmt.Sprint(v["other"]), "only its own layer") {
			t.Errorf("purging another layer: %v, want it refused", v)
		}
		get("/v1/udfs/inner/run?n=3&counter=" + counter)
		if runs() != before+1 {
			t.Errorf("after delete_cache the result rendered %d times, want once", runs()-before)
		}
	})
	t.Run("shared token", func(t *testing.T) {
		if v := get("/v1/udfs/outer/run?mode=token&n=5&counter=" + counter); v["double"] != 10.0 {
			t.Errorf("run of a shared token: %v", v)
		}
		v := get("/v1/udfs/outer/run?mode=load_token&n=7&counter=" + counter)
		called, _ := v["called"].(map[string]any)
		run, _ := v["run"].(map[string]any)
		if called["double"] != 14.0 || run["double"] != 16.0 || !strings.Contains(fmt.Sprint(v["repr"]), "shared by token") {
			t.Errorf("fused.load of a shared token: %v", v)
		}
	})
	t.Run("cog and vector layers", func(t *testing.T) {
		v := get("/v1/udfs/outer/run?mode=cog")
		if v["dtype"] != "int16" || fmt.Sprint(v["shape"]) != "[256 256]" {
			t.Errorf("a COG tile: %v", v)
		}
		v = get("/v1/udfs/outer/run?mode=vector")
		if v["has_germany"] != true || !strings.Contains(fmt.Sprint(v["crs"]), "4326") {
			t.Errorf("a vector layer in file mode: %v", v)
		}
		// Over HTTP, bbox= crops a vector layer in file mode; a UDF without
		// bounds refuses it, naming it.
		if status, body := s.call(t, "GET", "/v1/udfs/countries/run?bbox=5,45,15,55&format=geojson", "", ""); status != 200 ||
			!strings.Contains(body, "Germany") || strings.Contains(body, "Brazil") {
			t.Errorf("a vector layer with bbox=: %d %.300s", status, body)
		}
		if status, body := s.call(t, "GET", "/v1/udfs/inner/run?bbox=0,0,1,1", "", ""); status != 400 || !strings.Contains(body, "parameter bbox") {
			t.Errorf("bbox= to a UDF without bounds: %d %s", status, body)
		}
	})
	t.Run("nested submit, one worker", func(t *testing.T) {
		start := time.Now()
		status, body := s.call(t, "GET", "/v1/udfs/outer/run?mode=submit", "", "")
		if status != 200 || strings.TrimSpace(body) != "[2, 4, 6, 8]" {
			t.Fatalf("nested submit: %d %s", status, body)
		}
		t.Logf("a nested submit of 4 items on a pool of 1 worker took %s", time.Since(start).Round(time.Millisecond))
	})
	t.Run("options Fused's cloud takes are said to be ignored", func(t *testing.T) {
		r := s.do("GET", "/v1/udfs/outer/run?debug=true&mode=ignored&n=2&counter="+counter, nil, 60*time.Second)
		logs := r.header.Get("X-UDF-Logs")
		if r.status != 200 || !strings.Contains(logs, "instance_type") || !strings.Contains(logs, "ignored") {
			t.Errorf("%d, logs %s", r.status, logs)
		}
	})
	t.Run("storage", func(t *testing.T) {
		v := get("/v1/udfs/store/run?mode=s3&prefix=s3://udfdata/ok/")
		if v["got"] != "hello storage" || v["downloaded"] != "second" || v["signed"] != true ||
			fmt.Sprint(v["prefix_keys"]) != "[s3://udfdata/ok/dir/a.txt s3://udfdata/ok/dir/b.txt]" || v["prefix_fetched"] != "second" ||
			!strings.Contains(fmt.Sprint(v["timeout"]), "request_timeout") ||
			fmt.Sprint(v["listed"]) != "[s3://udfdata/ok/dir/a.txt s3://udfdata/ok/dir/b.txt]" ||
			fmt.Sprint(v["after_delete"]) != "[s3://udfdata/ok/dir/b.txt]" {
			t.Errorf("s3 storage: %v", v)
		}
		if got := srv.Get(t, "udfdata", "ok/dir/b.txt"); string(got) != "second" {
			t.Errorf("the object in MinIO: %q", got)
		}
		v = get("/v1/udfs/store/run?mode=local&prefix=" + local + "/")
		if v["got"] != "hello storage" || v["downloaded"] != "second" ||
			!strings.Contains(fmt.Sprint(v["sign_local"]), "only s3:// objects have signed URLs") ||
			!strings.Contains(fmt.Sprint(v["timeout"]), "request_timeout") {
			t.Errorf("local storage: %v", v)
		}
		for _, p := range []string{"s3://udfdata/secret/x", "/etc/passwd", local + "/../x"} {
			if v := get("/v1/udfs/store/run?mode=outside&prefix=" + p); !strings.Contains(fmt.Sprint(v["refused"]), "storage") {
				t.Errorf("%s: %v, want a PermissionError", p, v)
			}
		}
	})
	t.Run("options bound the requests to the server", func(t *testing.T) {
		// run_timeout: a nested run of 4 s, given 0.5 s, fails then.
		v := get("/v1/udfs/outer/run?mode=run_timeout&n=11")
		if !strings.Contains(fmt.Sprint(v["error"]), "run_timeout") || v["seconds"].(float64) > 3 {
			t.Errorf("a slow nested run under options.run_timeout=0.5: %v", v)
		}
		// request_timeout: the HTTP requests of a nested fused.submit.
		v = get("/v1/udfs/outer/run?mode=request_timeout")
		if !strings.Contains(fmt.Sprint(v["error"]), "within") {
			t.Errorf("a nested submit under options.request_timeout=0.001: %v", v)
		}
	})
	t.Run("mount, env", func(t *testing.T) {
		v := get("/v1/udfs/store/run?mode=mount")
		if v["env"] != "set" || v["dotenv"] != "yes" {
			t.Errorf("%v", v)
		}
		if b, err := os.ReadFile(filepath.Join(mount, "shared", "results", "x.txt")); err != nil || string(b) != "kept" {
			t.Errorf("file_path wrote %q (%v), want it in the mount", b, err)
		}
	})
}
