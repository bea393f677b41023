package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// jobsUDFs are the layers of TestBatchRuns.
var jobsUDFs = map[string]string{
	// Fused's docs example: one date in, a DataFrame out, some seconds each.
	"fetch.py": `import time
import pandas as pd

@fused.udf
def udf(datestr: str = "2024_09_01", pause: float = 0.3):
    time.sleep(pause)
    if datestr == "boom":
        raise ValueError("no data for boom")
    return pd.DataFrame({"datestr": [datestr], "n": [len(datestr)]})
`,
	// fused.submit of a function of the same file, in the worker's threads.
	"fanout.py": `import time
import pandas as pd

@fused.udf
def fetch_single_data(single_input: int):
    time.sleep(0.3)
    return pd.DataFrame({"value": [f"processed_{single_input}"]})

@fused.udf
def udf(n: int = 6):
    results = fused.submit(fetch_single_data, list(range(n)), engine="local", collect=False)
    return results.collect_df()
`,
	// fused.submit of a layer of the server, from inside a UDF.
	"remote.py": `@fused.udf
def udf(k: int = 3):
    df = fused.submit("fetch", ["d%d" % i for i in range(k)], pause=0.0)
    return df
`,
	// A UDF that submits itself, deeper and deeper.
	"deep.py": `@fused.udf
def udf(level: int = 0):
    return fused.submit(udf, [level + 1], engine="local")
`,
	// fused.run(sync=False) is awaitable.
	"async.py": `import asyncio

@fused.udf
def inner(v: int = 1):
    return v * 10

@fused.udf
def udf():
    async def both():
        return await asyncio.gather(fused.run(inner, v=1, sync=False), fused.run(inner, v=2, sync=False))
    return str(asyncio.run(both()))
`,
	"grid.py": `import numpy as np

@fused.udf
def udf(bounds: fused.types.Bounds = None, v: int = 7):
    return np.full((256, 256), v, dtype=np.uint8)
`,
}

// clientScript runs the Fused docs' submit example through the Python client,
// with only the import changed, and the client's other calls.
const clientScript = `
import sys
import pandas as pd
import udftiles as fused

dates = ["2024_09_%02d" % d for d in range(1, 9)]
date_ranges = pd.DataFrame({"datestr": dates})

first = fused.submit("fetch", date_ranges, debug_mode=True)
assert list(first["datestr"]) == ["2024_09_01"], first

df = fused.submit("fetch", date_ranges)
assert list(df["datestr"]) == dates, df
assert list(df["n"]) == [10] * 8

pool = fused.submit("fetch", dates + ["boom"], collect=False, max_workers=4)
pool.wait()
st = pool.status()
assert st["ok"] == 8 and st["error"] == 1, st
assert pool.any_failed() and not pool.all_succeeded()
assert "no data for boom" in str(pool.first_error()), pool.first_error()
table = pool.df()
assert list(table["status"]) == ["ok"] * 8 + ["error"], table
try:
    pool.collect()
    raise SystemExit("collect did not raise for the failed item")
except fused.ServerError:
    pass
assert len(pool.collect(ignore_exceptions=True)) == 8
assert len(pool.times()) == 9 and pool.total_time().total_seconds() > 0

arr = fused.run("grid", x=2, y=1, z=2, format="npy", v=9)
assert arr.shape[-2:] == (256, 256) and int(arr.max()) == 9, arr.shape
out = fused.run("fetch", datestr="x", pause=0)
assert isinstance(out, pd.DataFrame) and out["datestr"][0] == "x", out
print("client ok")
`

// TestBatchRuns runs the server with Python layers and checks submit from the
// Python client (the Fused docs' example), fused.submit inside UDFs (local
// threads and server jobs), fused.run(sync=False), the recursion guard, and
// tileserver run and submit.
func TestBatchRuns(t *testing.T) {
	bin, _ := sharedBinary(t)
	dir := t.TempDir()
	var layers strings.Builder
	for file, code := range jobsUDFs {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		layers.WriteString("  - {name: " + strings.TrimSuffix(file, ".py") + ", handler: python, path: " + file + "}\n")
	}
	s := startServer(t, dir, "cache: {memory_mb: 32}\npython: {workers: 4, preload: [pandas], timeout: 60s}\nserver: {jobs_dir: jobs}\nudfs:\n"+layers.String())

	repo, _ := filepath.Abs("..")
	cmd := exec.Command("/usr/bin/python3", "-c", clientScript)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(repo, "clients", "python"), "UDFTILES_URL="+s.base)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "client ok") {
		t.Errorf("the Python client: %v\n%s", err, out)
	}

	for _, c := range []struct {
		path, want string
	}{
		{"/v1/udfs/fanout/run?n=5", `"value":"processed_4"`},
		{"/v1/udfs/remote/run?k=3", `"datestr":"d2"`},
		{"/v1/udfs/async/run", `[10, 20]`},
	} {
		if status, body := s.call(t, "GET", c.path, "", ""); status != 200 || !strings.Contains(body, c.want) {
			t.Errorf("GET %s: %d %.300s, want %s", c.path, status, body, c.want)
		}
	}
	if status, body := s.call(t, "GET", "/v1/udfs/deep/run", "", ""); status != 500 || !strings.Contains(body, "nested more than 5") {
		t.Errorf("a UDF submitting itself: %d %.400s, want the recursion guard", status, body)
	}

	args := filepath.Join(dir, "dates.csv")
	os.WriteFile(args, []byte("datestr\n2024_01_01\n2024_01_02\n"), 0o644)
	out, err := exec.Command(bin, "submit", "fetch", "--url", s.base, "--args", args, "--param", "pause=0", "--quiet", "--out", filepath.Join(dir, "res.csv")).CombinedOutput()
	res, _ := os.ReadFile(filepath.Join(dir, "res.csv"))
	if err != nil || !strings.Contains(string(out), "2 ok, 0 failed") || !strings.Contains(string(res), "2024_01_02,ok") {
		t.Errorf("tileserver submit: %v\n%s\n%s", err, out, res)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`["boom", "x"]`), 0o644)
	if out, err := exec.Command(bin, "submit", "fetch", "--url", s.base, "--args", bad, "--param", "pause=0", "--quiet").CombinedOutput(); err == nil || !strings.Contains(string(out), "1 items failed") {
		t.Errorf("tileserver submit with a failing item: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "run", "fetch", "--url", s.base, "--param", "datestr=cli", "--param", "pause=0").CombinedOutput(); err != nil || !strings.Contains(string(out), `"datestr":"cli"`) {
		t.Errorf("tileserver run: %v\n%s", err, out)
	}
}
