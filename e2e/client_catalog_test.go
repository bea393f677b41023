package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// clientCatalogScript saves, runs, versions, shares and deletes a UDF of
// the catalog with the Python client, as Fused's SDK does: udf.to_fused,
// fused.load, create_access_token, get_access_tokens, fused.delete. Calls
// without token= use alice's (UDFTILES_TOKEN).
const clientCatalogScript = `import json
import os
import time
import urllib.error
import urllib.request

import udftiles
import udftiles as fused

ALICE, BOB, READER = os.environ["ALICE_TOKEN"], os.environ["BOB_TOKEN"], os.environ["READER_TOKEN"]
URL = os.environ["UDFTILES_URL"]
assert os.environ["UDFTILES_TOKEN"] == ALICE  # calls without token= are alice's


def refused(status, call, *words):
    """call() raises a ServerError of status whose message or logs hold words."""
    try:
        call()
    except fused.ServerError as e:
        assert e.status == status, (status, e.status, e.message, e.logs)
        text = e.message + "\n" + (e.logs or "")
        for w in words:
            assert w in text, (w, text)
        return e
    raise AssertionError("no ServerError %d" % status)


def get(url):
    """GET with no bearer token: (status, body)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@fused.udf
def udf(n: int = 2):
    return {"n": n, "sq": n * n}


# Saved: version 1 of squares, run on the server by name.
assert udf.to_fused("squares") is udf and udf.version == 1 and udf.owner == "alice", (udf.version, udf.owner)
assert fused.run("squares", n=3) == {"n": 3, "sq": 9}, fused.run("squares", n=3)
assert fused.run("squares") == {"n": 2, "sq": 4}
refused(409, lambda: udf.to_fused("squares", overwrite=False), "squares exists")


# Edited and saved again: version 2, whose code load() fetches.
@fused.udf
def udf(n: int = 2):
    return {"n": n, "sq": n * n, "edited": True}


assert fused.save(udf, "squares") is udf and udf.version == 2, udf.version
assert fused.run("squares", n=3) == {"n": 3, "sq": 9, "edited": True}
saved = fused.load("squares")
assert (saved.name, saved.version, saved.source, saved.owner) == ("squares", 2, "catalog", "alice"), saved.metadata
assert saved.code.startswith("import fused\n"), saved.code
assert '@fused.udf\ndef udf(n: int = 2):\n    return {"n": n, "sq": n * n, "edited": True}' in saved.code, saved.code
assert [v["version"] for v in saved.versions()] == [2, 1], saved.versions()
assert [v["author"] for v in saved.versions()] == ["alice", "alice"], saved.versions()
assert saved(n=5) == {"n": 5, "sq": 25, "edited": True}
assert fused.load("alice/squares").version == 2

# Version 1 restored: version 3, with version 1's code.
assert saved.restore(1) is saved and saved.version == 3, saved.version
assert "edited" not in saved.code and 'return {"n": n, "sq": n * n}' in saved.code, saved.code
assert saved.code == saved.get_code(version=1) != saved.get_code(version=2)
assert [v["version"] for v in saved.versions()] == [3, 2, 1], saved.versions()
assert fused.run(saved, n=3) == {"n": 3, "sq": 9}

# A share token runs it with no bearer token: fused.run, a tokenless Client, a plain GET.
tok = fused.load("squares").create_access_token()
assert tok.token.startswith("fsh_") and tok.udf == "squares" and tok.enabled and tok.cache, tok.to_dict()
assert tok.urls["file"] == URL + "/server/v1/realtime-shared/" + tok.token + "/run/file", tok.urls
refused(401, lambda: fused.run("squares", n=3, token=""), "private")
assert fused.run(tok.token, n=4, token="") == {"n": 4, "sq": 16}
assert fused.run(tok, n=4, token="") == {"n": 4, "sq": 16}
assert fused.Client(URL, token="").run(tok.token, n=6) == {"n": 6, "sq": 36}
status, body = get(tok.urls["file"] + "?n=5")
assert status == 200 and json.loads(body) == {"n": 5, "sq": 25}, (status, body)
status, body = get(tok.get_file_url(n=7))
assert status == 200 and json.loads(body) == {"n": 7, "sq": 49}, (status, body)

# Listed without the token itself; the local UDF saved as squares sees the same.
listed = saved.get_access_tokens()
assert [t.id for t in listed] == [tok.id] and listed[0].token is None, [t.to_dict() for t in listed]
assert tok.token.startswith(listed[0].prefix) and listed[0].revoked_at is None, listed[0].to_dict()
assert [t.id for t in udf.get_access_tokens()] == [tok.id]

# Revoked: its URL answers 404 within a second.
listed[0].delete()
start = time.time()
while True:
    status, body = get(tok.urls["file"] + "?n=5")
    if status == 404:
        break
    assert status == 200 and time.time() - start < 1, ("the revoked token still runs", status, body, time.time() - start)
    time.sleep(0.02)
refused(404, lambda: fused.run(tok.token, n=4, token=""))
assert saved.get_access_tokens()[0].revoked_at, saved.get_access_tokens()[0].to_dict()

# Bob may not change alice's UDF: save over it, share it, delete it.
refused(403, lambda: udf.to_fused("squares", token=BOB), "belongs to alice")
refused(403, lambda: fused.load("squares", token=BOB).create_access_token(), "belongs to alice")
refused(403, lambda: fused.delete("squares", token=BOB), "belongs to alice")

# Code that does not load: a 400 naming the SyntaxError, its traceback in logs; nothing saved.
broken = "import fused\n\n\n@fused.udf\ndef udf(n: int = 1)\n    return n\n"
e = refused(400, lambda: fused.save(broken, "squares"), "SyntaxError")
assert "SyntaxError" in e.message and "SyntaxError" in e.logs and "line 5" in e.logs, (e.message, e.logs)
assert fused.load("squares").version == 3

# The config's layer is read-only; a reader and an anonymous caller may not save.
refused(409, lambda: udf.to_fused("fixed"), "read-only")
assert fused.run("fixed", n=2) == {"fixed": 2}
assert fused.load("fixed").source == "config" and fused.load("fixed").code is None
refused(403, lambda: udf.to_fused("readers", token=READER), "reader")
refused(401, lambda: udf.to_fused("anonymous", token=""))


# Another alias of the decorator, with arguments, and a module of the notebook.
import math as m


@udftiles.udf(cache_max_age="1h")
def hyp(a: float = 3, b: float = 4):
    return {"h": m.hypot(a, b)}


hyp.to_fused(public=True, description="hypotenuse")
code = fused.load("hyp").code
assert '@fused.udf(cache_max_age="1h")\ndef hyp(' in code and "import math as m\n" in code, code
assert "udftiles" not in code, code
assert fused.run("hyp", token="") == {"h": 5.0}

# A UDF from a file, run here and on the server; a copy keeps its metadata.
with open("cube.py", "w") as f:
    f.write("import fused\n\n\n@fused.udf\ndef udf(n: int = 2):\n    return {'cube': n ** 3}\n")
cube = fused.load("cube.py")
assert cube.name == "cube" and cube(n=2) == {"cube": 8} and fused.run(cube, n=3) == {"cube": 27}
cube.to_fused(public=True, description="cubes")
assert fused.run("cube", n=2, token="") == {"cube": 8}
fused.load("cube").to_fused("cube2")
assert fused.load("cube2").metadata["description"] == "cubes" and fused.run("cube2", n=2, token="") == {"cube": 8}
cube.to_fused()  # public and description stay as saved
assert cube.version == 2 and fused.load("cube").metadata["description"] == "cubes"
assert fused.run("cube", n=2, token="") == {"cube": 8}

# Deleted: its runs and load answer 404.
assert fused.delete("squares") is True
refused(404, lambda: fused.run("squares", n=3), "squares")
refused(404, lambda: fused.load("squares"))
assert cube.delete() and fused.delete("cube2") and fused.delete("hyp")
refused(404, lambda: fused.run("cube", n=2))
print("catalog ok")
`

// TestClientCatalog pip-installs the Python client into a venv (as
// TestPythonClientPackage does) and runs clientCatalogScript against a
// server with a store, two editors (alice, bob), a reader and a config
// layer (fixed): saving from a notebook function and from a file, versions
// and restore, share tokens run with no bearer token and revoked within a
// second, the owner's rights, a save of code that does not load (400 with
// its traceback), the config's names read-only (409), and deletion.
func TestClientCatalog(t *testing.T) {
	bin, _ := sharedBinary(t)
	dir := t.TempDir()
	tokens := map[string]string{"alice": "alice-catalog-token", "bob": "bob-catalog-token", "reader": "reader-catalog-token"}
	fixed := "import fused\n\n\n@fused.udf\ndef udf(n: int = 1):\n    return {\"fixed\": n}\n"
	if err := os.WriteFile(filepath.Join(dir, "fixed.py"), []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, dir, fmt.Sprintf(`store: {url: "sqlite://%s"}
auth:
  bearer:
    - {name: alice, sha256: %s, role: editor}
    - {name: bob, sha256: %s, role: editor}
    - {name: reader, sha256: %s}
udfs:
  - {name: fixed, handler: python, path: fixed.py}
`, filepath.Join(dir, "udftiles.db"), hashOf(t, bin, tokens["alice"]), hashOf(t, bin, tokens["bob"]), hashOf(t, bin, tokens["reader"])))

	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "src")
	copyClientSource(t, filepath.Join(repo, "clients", "python"), src)
	env := append(clientEnv(dir, s.base), "UDFTILES_TOKEN="+tokens["alice"], "ALICE_TOKEN="+tokens["alice"],
		"BOB_TOKEN="+tokens["bob"], "READER_TOKEN="+tokens["reader"])
	if err := os.MkdirAll(filepath.Join(dir, "home"), 0o755); err != nil {
		t.Fatal(err)
	}
	venv := filepath.Join(dir, "venv")
	runClient(t, env, dir, 2*time.Minute, "", "/usr/bin/python3", "-m", "venv", "--system-site-packages", venv)
	py := filepath.Join(venv, "bin", "python")
	runClient(t, env, dir, 2*time.Minute, "Successfully installed udftiles", py, "-m", "pip", "install",
		"--no-build-isolation", "--no-deps", "--no-index", "--no-cache-dir", src)
	if err := os.WriteFile(filepath.Join(dir, "catalog.py"), []byte(clientCatalogScript), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	runClient(t, env, dir, time.Minute, "catalog ok", py, "catalog.py")
	t.Logf("the catalog script ran in %s", time.Since(start).Round(time.Millisecond))
}
