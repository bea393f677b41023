package e2e

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clientUDFs are the layers of TestPythonClientPackage.
var clientUDFs = map[string]string{
	"fetch.py": `import time
import pandas as pd

@fused.udf
def udf(datestr: str = "2024_09_01", pause: float = 0.0):
    time.sleep(pause)
    if datestr == "boom":
        raise ValueError("no data for boom")
    return pd.DataFrame({"datestr": [datestr], "n": [len(datestr)]})
`,
	"grid.py": `import numpy as np

@fused.udf
def udf(bounds: fused.types.Bounds = None, v: int = 7):
    return np.full((256, 256), v, dtype=np.uint8)
`,
	// The saved UDF of Fused's docs' async example.
	"udf_to_run_async.py": `import time
import pandas as pd

@fused.udf
def udf(date: str = "2020-01-01"):
    time.sleep(0.5)
    return pd.DataFrame({"date": [date]})
`,
}

// clientAPIScript runs the client's API against the server: runs by name and
// by shared token, sync=False, local UDF objects, local and server submits
// with every JobPool method, and @udftiles.cache.
const clientAPIScript = `import asyncio
import contextlib
import io
import os
import time
import warnings

import pandas as pd
import udftiles
import udftiles as fused

# --- run by name: file mode, tile mode, positional, parameters=, cache flags
out = udftiles.run("fetch", datestr="x")
assert isinstance(out, pd.DataFrame) and out["datestr"][0] == "x", out
out = udftiles.run("fetch", "positional")
assert out["datestr"][0] == "positional", out
out = udftiles.run("fetch", parameters={"datestr": "p"}, cache=False, cache_max_age="1h", cache_reset=True)
assert out["datestr"][0] == "p", out
arr = udftiles.run("grid", x=2, y=1, z=2, format="npy", v=9)
assert arr.shape[-2:] == (256, 256) and int(arr.max()) == 9, arr.shape
try:
    udftiles.run("fetch", datestr="boom")
    raise SystemExit("a failing run did not raise")
except udftiles.ServerError as e:
    assert e.status == 500 and "no data for boom" in str(e), e

# --- options: base_url is the server
assert fused.options.base_url == os.environ["UDFTILES_URL"], fused.options.base_url
fused.options.base_url = "http://127.0.0.1:9"  # nothing listens there
try:
    udftiles.run("fetch", datestr="x")
    raise SystemExit("a run went to the server after options.base_url named another")
except OSError:
    pass
fused.options.base_url = os.environ["UDFTILES_URL"] + "/server/v1"  # Fused's spelling of the API endpoint
assert udftiles.run("fetch", datestr="back")["datestr"][0] == "back"

# --- run by shared token
shared = udftiles.load("fsh_client_fetch")
assert shared(datestr="loaded")["datestr"][0] == "loaded"
assert udftiles.run(shared, datestr="loaded2")["datestr"][0] == "loaded2"
assert "shared by token" in repr(shared), repr(shared)
arr = udftiles.run("fsh_client_grid", x=2, y=1, z=2, format="npy", v=5)
assert int(arr.max()) == 5, arr.max()
out = udftiles.run("fsh_client_fetch", datestr="shared")
assert out["datestr"][0] == "shared", out
try:
    udftiles.run("fsh_nope", datestr="x")
    raise SystemExit("an unknown token did not raise")
except udftiles.ServerError as e:
    assert e.status == 404, e

# --- engine and instance_type: accepted, a warning says what is ignored
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    out = udftiles.run("fetch", datestr="w", engine="local", instance_type="large")
assert out["datestr"][0] == "w"
said = " ".join(str(w.message) for w in caught)
assert "instance_type" in said and "engine='local'" in said, said

# --- sync=False: an awaitable; the runs overlap
async def both():
    return await asyncio.gather(udftiles.run("fetch", datestr="a", pause=1.0, sync=False, cache=False),
                                udftiles.run("fetch", datestr="b", pause=1.0, sync=False, cache=False))
start = time.time()
a, b = asyncio.run(both())
assert a["datestr"][0] == "a" and b["datestr"][0] == "b", (a, b)
assert time.time() - start < 1.9, "two runs of 1 s took %.2f s: not concurrent" % (time.time() - start)

# --- UDF objects run in this process (engine="local")
calls = []

@udftiles.udf
def local_udf(bounds: fused.types.Bounds = None, n: int = 1):
    calls.append(n)
    return pd.DataFrame({"n": [n], "west": [bounds[0] if bounds else None]})

r = udftiles.run(local_udf, n=2, x=1, y=0, z=1)
assert r["n"][0] == 2 and r["west"][0] == 0.0, r
assert calls == [2], calls
r = udftiles.run(local_udf, n=2, x=1, y=0, z=1)  # cached on disk, as Fused's local engine
assert calls == [2] and r["n"][0] == 2, calls
udftiles.run(local_udf, n=2, x=1, y=0, z=1, cache=False)
assert calls == [2, 2], calls
r = udftiles.run(local_udf, n=3, cache=False)  # file mode without bounds
assert r["n"][0] == 3 and r["west"][0] is None, r
r = udftiles.run(local_udf, [10, 20, 30, 40], 6, cache=False)  # positional: the first parameters
assert r["n"][0] == 6 and r["west"][0] == 10, r
assert asyncio.run(udftiles.run(local_udf, n=4, sync=False, cache=False))["n"][0] == 4
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    udftiles.run(local_udf, n=5, engine="remote", format="png", cache=False)
assert "engine='remote'" in " ".join(str(w.message) for w in caught)
try:
    udftiles.run(local_udf, nope=1)
    raise SystemExit("an unknown parameter did not raise")
except TypeError as e:
    assert "nope" in str(e), e

# --- local submit: threads, every JobPool method
@udftiles.udf
def slow(i: int, pause: float = 0.3):
    time.sleep(pause)
    if i == 3:
        raise ValueError("no data for 3")
    return pd.DataFrame({"i": [i], "sq": [i * i]})

df = udftiles.submit(slow, [0, 1, 2], max_workers=3)
assert list(df["sq"]) == [0, 1, 4], df

def while_running(pool):
    """running() and pending() once an item runs, before the pool ends."""
    deadline = time.time() + 20
    while not pool.running():
        assert time.time() < deadline and not pool.done(), "no item was seen running"
        time.sleep(0.02)
    return pool.running(), pool.pending()

pool = udftiles.submit(slow, [0, 1, 2], max_workers=1, collect=False, cache=False, pause=1.0)
running, pending = while_running(pool)
assert running == {0: {"i": 0}} and pending == {1: {"i": 1}, 2: {"i": 2}}, (running, pending)
pool.wait()
assert udftiles.submit(slow, [{"i": 5, "pause": 0}], debug_mode=True)["sq"][0] == 25
pool = udftiles.submit(slow, list(range(6)), max_workers=2, collect=False, max_retry=0, cache=False)
assert len(pool.pending()) >= 2, pool.pending()
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    pool.tail()
lines = buf.getvalue().splitlines()
assert len(lines) == 6 and any("[3] error" in l and "no data for 3" in l for l in lines), lines
assert sorted(pool.success()) == [0, 1, 2, 4, 5] and pool.success()[2]["sq"][0] == 4
now = pool.results_now(return_exceptions=True)
assert sorted(now) == list(range(6)) and isinstance(now[3], ValueError), now
try:
    pool.results_now()
    raise SystemExit("results_now did not raise for the failed item")
except ValueError:
    pass
assert pool.pending() == {} and pool.running() == {} and pool.cancelled() == {}
st = pool.get_status_df()
assert list(st["status"]) == ["ok"] * 3 + ["error"] + ["ok"] * 2 and "i" in st.columns and "result" not in st.columns, st
assert pool.status()["ok"] == 5 and pool.any_failed() and len(pool.times()) == 6
assert len(pool.collect(ignore_exceptions=True)) == 5
pool = udftiles.submit(slow, list(range(6)), max_workers=1, collect=False, cache=False)
pool.cancel()
pool.wait()
assert len(pool.cancelled()) >= 4 and all("i" in a for a in pool.cancelled().values()), pool.cancelled()

# --- a server job: the same methods; arguments come back as given
items = [{"datestr": "r0", "pause": 1}, {"datestr": "r1", "pause": 1}]
pool = udftiles.submit("fetch", items, max_workers=1, collect=False, cache=False)
running, pending = while_running(pool)
assert len(running) == 1 and all(a == items[i] for i, a in running.items()), running  # the int as given
assert len(pending) <= 1 and all(a == items[i] for i, a in pending.items()), pending
pool.wait()
pool = udftiles.submit("fetch", ["d%d" % i for i in range(5)] + ["boom"], pause=0.5, max_workers=2,
                       collect=False, max_retry=0, cache=False)
assert len(pool.pending()) >= 1, pool.pending()
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    pool.tail()
lines = buf.getvalue().splitlines()
assert len(lines) == 6 and any("[5] error" in l and "no data for boom" in l for l in lines), lines
assert sorted(pool.success()) == [0, 1, 2, 3, 4] and pool.success()[4]["datestr"][0] == "d4"
now = pool.results_now(return_exceptions=True)
assert sorted(now) == list(range(6)) and isinstance(now[5], udftiles.ServerError), now
assert pool.pending() == {} and pool.running() == {} and pool.cancelled() == {}
st = pool.get_status_df()
assert list(st["status"]) == ["ok"] * 5 + ["error"] and list(st["datestr"])[:2] == ["d0", "d1"], st
pool = udftiles.submit("fetch", ["c%d" % i for i in range(6)], pause=0.5, max_workers=1, collect=False, cache=False)
pool.cancel(wait=True)
assert len(pool.cancelled()) >= 3 and pool.cancelled()[5] == {"datestr": "c5"}, pool.cancelled()
# a shared token's items run from this process's threads
df = udftiles.submit("fsh_client_fetch", [{"datestr": "t%d" % i} for i in range(3)])
assert list(df["datestr"]) == ["t0", "t1", "t2"], df

# --- @udftiles.cache: on disk, keyed by code and arguments
cache_calls = []

@udftiles.cache
def load_data(i):
    cache_calls.append(i)
    return pd.DataFrame({"i": [i]})

assert load_data(1)["i"][0] == 1 and load_data(i=1)["i"][0] == 1
assert cache_calls == [1], cache_calls
load_data(2)
load_data(1, cache_reset=True)
assert cache_calls == [1, 2, 1], cache_calls
load_data(1, cache_max_age="0s")
assert cache_calls == [1, 2, 1, 1], cache_calls

# --- options.run_timeout bounds a run (last: the server's worker still sleeps)
fused.options.run_timeout = 0.5
start = time.time()
try:
    udftiles.run("fetch", datestr="slow", pause=3.0, cache=False)
    raise SystemExit("a run of 3 s finished under options.run_timeout=0.5")
except TimeoutError as e:
    assert "0.5" in str(e) and time.time() - start < 2.5, (e, time.time() - start)
fused.options.run_timeout = 130
print("client ok")
`

// clientCacheScript is run twice: the second process reads the first one's
// result from the disk cache instead of computing it (COUNT_FILE counts).
const clientCacheScript = `import os
import udftiles

@udftiles.cache(cache_max_age="1h")
def expensive(n):
    with open(os.environ["COUNT_FILE"], "a") as f:
        f.write("x")
    return n * 2

assert expensive(21) == 42
print("cache ok")
`

// clientNotebookScript is Fused's docs' notebook examples with only the
// import changed; each cites its page and section.
const clientNotebookScript = `import asyncio
import time

import pandas as pd
import udftiles as fused

# core-concepts/async.mdx, "Call UDFs asynchronously": the saved UDF
# udf_to_run_async is a layer of the server here.
async def parent_fn():

    # Parameter to loop through
    dates = ['2020-01-01', '2021-01-01', '2022-01-01', '2023-01-01']

    # Invoke the UDF as coroutines
    promises_dfs = []
    for date in dates:
        df = fused.run("udf_to_run_async", date=date, engine='remote', sync=False)
        promises_dfs.append(df)

    # Run concurrently and collect the results
    dfs = await asyncio.gather(*promises_dfs)
    return pd.concat(dfs)

df = asyncio.run(parent_fn())
assert list(df["date"]) == ['2020-01-01', '2021-01-01', '2022-01-01', '2023-01-01'], df

# core-concepts/cache.mdx, "Caching any Python function: @fused.cache", Locally.
from datetime import datetime

@fused.cache(cache_max_age='30s')
def telling_time():
    current_time = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    return current_time

first = telling_time()
time.sleep(1.1)
assert telling_time() == first
assert telling_time(cache_max_age="0s") != first  # Overwrite cache duration to be 0s, i.e. no caching

# core-concepts/cache.mdx, "Resetting cache: cache_reset": a UDF object runs
# here, and its result is cached as Fused's are.
@fused.udf
def udf():
    from datetime import datetime
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")

first = fused.run(udf)
time.sleep(1.1)
assert fused.run(udf) == first  # a cached result
assert fused.run(udf, cache_reset=True) != first

# core-concepts/best-practices/udf-best-practices.mdx: fetch_single_data over
# many inputs with fused.submit(..., engine='local'), debug_mode first ("Test
# out your UDFs before running them in parallel"); the sleep is 0.3 s, not 3.
@fused.udf
def fetch_single_data(single_input: int):

    # Considering this as our API call, sleeping to simulate the time it takes to get the data
    time.sleep(0.3)

    # This is a small dataframe, but we could also save to a file and return the file path
    return pd.DataFrame({"value": [f"processed_{single_input}"]})

input_data = [0, 1, 2, 3, 4, 5, 7, 8, 9]
job = fused.submit(fetch_single_data, input_data, debug_mode=True)
assert list(job["value"]) == ["processed_0"], job
results = fused.submit(
    fetch_single_data,
    input_data,
    engine='local', # This ensures the UDF is run in our local server rather than spinning up new instances.
    collect=False,
)
fetched_data = results.collect_df()
assert list(fetched_data["value"]) == ["processed_%d" % i for i in input_data], fetched_data

# core-concepts/run-udfs/run.mdx, "Wall time vs CPU time".
wall = round(results.total_time().seconds + results.total_time().microseconds / 10e6, 2)
cpu = round(sum([t.seconds for t in results.times()]) + sum([t.microseconds for t in results.times()]) / 10e6, 2)
assert cpu >= wall, (cpu, wall)

# The same with a layer of the server, and fused.types.
results = fused.submit("udf_to_run_async", [{"date": d} for d in ["2024-01-01", "2024-01-02"]], collect=False)
results.wait()
assert results.all_succeeded() and len(results.results()) == 2
assert fused.types.Bounds([0, 0, 1, 1]) == [0, 0, 1, 1]

# core-concepts/onprem.mdx, "3. Configure Fused on the Docker container": the
# server's URL and (kept, unused here) credentials, saved for later imports.
import os
import subprocess
import sys
server = os.environ["UDFTILES_URL"]

fused.options.base_url = server
fused.options.auth.client_id = "***"
fused.options.auth.client_secret = "***"
fused.options.auth.audience = "***"
fused.options.auth.oauth_token_url = "***"
fused.options.auth.authorize_url = "***"

fused.options.save()

env = {k: v for k, v in os.environ.items() if k != "UDFTILES_URL"}
out = subprocess.run([sys.executable, "-c", "import udftiles as fused; print(fused.options.base_url); "
                      "print(fused.run('udf_to_run_async', date='saved')['date'][0])"],
                     env=env, capture_output=True, text=True, timeout=60)
assert out.returncode == 0 and out.stdout.split() == [server, "saved"], (out.stdout, out.stderr)
print("notebook ok")
`

// TestPythonClientPackage pip-installs clients/python, offline, into a venv
// with the system's site packages (numpy, pandas and geopandas from Debian),
// checks that the shared _jobs.py is a real file of the installed package,
// and runs the installed client against the real server: its API, a disk
// cache shared by two processes, and Fused's notebook examples under
// `import udftiles as fused`.
func TestPythonClientPackage(t *testing.T) {
	dir := t.TempDir()
	var layers strings.Builder
	for file, code := range clientUDFs {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		layers.WriteString("  - {name: " + strings.TrimSuffix(file, ".py") + ", handler: python, path: " + file + "}\n")
	}
	s := startServer(t, dir, `cache: {memory_mb: 32}
python: {workers: 2, preload: [pandas], timeout: 60s}
server: {jobs_dir: jobs}
auth: {anonymous_job_control: true}
tokens:
  - {token: fsh_client_grid, udf: grid}
  - {token: fsh_client_fetch, udf: fetch}
udfs:
`+layers.String())

	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the package's source, outside the work tree (pip builds in
	// place); its symlinks point where the originals do.
	src := filepath.Join(dir, "src")
	copyClientSource(t, filepath.Join(repo, "clients", "python"), src)
	env := clientEnv(dir, s.base)
	if err := os.MkdirAll(filepath.Join(dir, "home"), 0o755); err != nil {
		t.Fatal(err)
	}
	venv := filepath.Join(dir, "venv")
	runClient(t, env, dir, 3*time.Minute, "", "/usr/bin/python3", "-m", "venv", "--system-site-packages", venv)
	py := filepath.Join(venv, "bin", "python")
	runClient(t, env, dir, 3*time.Minute, "Successfully installed udftiles", py, "-m", "pip", "install",
		"--no-build-isolation", "--no-deps", "--no-index", "--no-cache-dir", src)

	// The installed package is the venv's, with _jobs.py a real file equal to the shared one.
	out := runClient(t, env, dir, time.Minute, "", py, "-c", "import udftiles._jobs as j; print(j.__file__)")
	installed := strings.TrimSpace(out)
	if !strings.HasPrefix(installed, venv) {
		t.Fatalf("udftiles is imported from %s, not from the venv", installed)
	}
	if fi, err := os.Lstat(installed); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("installed _jobs.py: %v, mode %v: want a regular file", err, fi.Mode())
	}
	got, _ := os.ReadFile(installed)
	want, _ := os.ReadFile(filepath.Join(repo, "python", "pyruntime", "fused", "_jobs.py"))
	if string(got) != string(want) {
		t.Errorf("installed _jobs.py differs from python/pyruntime/fused/_jobs.py")
	}

	for name, code := range map[string]string{"api.py": clientAPIScript, "cached.py": clientCacheScript, "notebook.py": clientNotebookScript} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runClient(t, env, dir, 3*time.Minute, "client ok", py, "api.py")
	for range 2 {
		runClient(t, env, dir, time.Minute, "cache ok", py, "cached.py")
	}
	if n, _ := os.ReadFile(filepath.Join(dir, "count")); string(n) != "x" {
		t.Errorf("a cached function computed %d times in two processes, want 1", len(n))
	}
	runClient(t, env, dir, 2*time.Minute, "notebook ok", py, "notebook.py")
}

// copyClientSource copies the package source from into to, leaving out
// build output; a symlink is copied as a link to its resolved target.
func copyClientSource(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		name := d.Name()
		if d.IsDir() {
			if name == "build" || name == "__pycache__" || strings.HasSuffix(name, ".egg-info") {
				return filepath.SkipDir
			}
			return os.MkdirAll(dst, 0o755)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := filepath.EvalSymlinks(path)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// clientEnv is the environment of the client's processes: the server's URL,
// a cache folder and a home of their own, no PYTHONPATH, no index for pip,
// no proxy for the loopback address.
func clientEnv(dir, base string) []string {
	drop := map[string]bool{"PYTHONPATH": true, "UDFTILES_URL": true, "UDFTILES_TOKEN": true, "UDFTILES_CACHE_DIR": true,
		"HOME": true, "NO_PROXY": true, "no_proxy": true, "PIP_INDEX_URL": true, "PIP_EXTRA_INDEX_URL": true}
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			env = append(env, kv)
		}
	}
	return append(env, "UDFTILES_URL="+base, "UDFTILES_CACHE_DIR="+filepath.Join(dir, "udftiles-cache"),
		"HOME="+filepath.Join(dir, "home"), "COUNT_FILE="+filepath.Join(dir, "count"),
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
		"PIP_NO_INDEX=1", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PYTHONDONTWRITEBYTECODE=1")
}

// runClient runs a command in dir within timeout and fails the test unless it
// succeeds and its output contains want; it returns the output.
func runClient(t *testing.T, env []string, dir string, timeout time.Duration, want string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir, cmd.Env, cmd.WaitDelay = dir, env, 5*time.Second
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), want) {
		t.Fatalf("%s: %v (want %q in the output)\n%s", strings.Join(args, " "), err, want, out)
	}
	return string(out)
}
