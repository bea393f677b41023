"""Saved UDFs: the sources fused.load reads (folders, .zip files, code,
GitHub URLs read from local git checkouts), the files Udf.to_directory and
Udf.to_file write, and the modules @fused.udf(headers=[...]) imports.

A saved UDF is Fused's layout:

    Name/
      Name.py     the UDF's code
      meta.json   its name, entry point, parameters, metadata and headers
      utils.py    its `utils` module (optional)
      README.md
"""
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import types as pytypes
import zipfile

from . import _host

META_VERSION = "0.0.3"


def _load_root(*parts):
    root = os.path.join(_host.CONFIG["cache_dir"], "fused-load", *parts)
    os.makedirs(os.path.dirname(root), exist_ok=True)
    return root


def _publish(dest, fill):
    """Fill a new folder with fill(tmp) and move it to dest in one step, so
    that concurrent workers never see half of it."""
    if os.path.isdir(dest):
        return dest
    tmp = tempfile.mkdtemp(dir=os.path.dirname(dest), prefix=".tmp-")
    try:
        fill(tmp)
        try:
            os.rename(tmp, dest)
        except OSError:
            if not os.path.isdir(dest):  # not a race lost to another worker
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _udf_folder(root):
    """The folder holding the UDF in an unpacked archive: the root, or its only folder."""
    entries = [e for e in os.listdir(root) if not e.startswith((".", "__MACOSX"))]
    if any(e.endswith(".py") for e in entries):
        return root
    dirs = [e for e in entries if os.path.isdir(os.path.join(root, e))]
    if len(dirs) == 1:
        return _udf_folder(os.path.join(root, dirs[0]))
    raise ValueError("no UDF in the archive: want Name/Name.py (or Name.py at its top)")


# ---- sources ----

def from_zip(path):
    """Unpack a saved UDF's .zip (once per content) and return its folder."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    dest = _load_root("zip", h.hexdigest()[:20])

    def fill(tmp):
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                name = info.filename
                parts = name.replace("\\", "/").split("/")
                if name.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", name):
                    raise ValueError("%s: member %r is outside the archive" % (path, name))
                if info.file_size > 256 << 20:
                    raise ValueError("%s: member %r is larger than 256 MB" % (path, name))
            z.extractall(tmp)
    try:
        return _udf_folder(_publish(dest, fill))
    except zipfile.BadZipFile as e:
        raise ValueError("fused.load(%r): not a zip file (%s)" % (path, e)) from None


def from_code(code):
    """Write raw UDF code to a file (once per content) and return its path."""
    digest = hashlib.sha256(code.encode()).hexdigest()[:20]
    folder = _load_root("code", digest)

    def fill(tmp):
        with open(os.path.join(tmp, "udf.py"), "w") as f:
            f.write(code)
    return os.path.join(_publish(folder, fill), "udf.py")


_GITHUB = re.compile(r"^https?://(github\.com)/([^/]+)/([^/]+)/(tree|blob)/([^/]+)(?:/(.*?))?/?$")


def is_git_url(s):
    return bool(_GITHUB.match(s))


def _git(checkout, *args):
    r = subprocess.run(["git", "-c", "safe.directory=*", "-C", checkout] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if r.returncode != 0:
        raise ValueError(r.stderr.decode(errors="replace").strip() or "git %s failed" % args[0])
    return r.stdout


def from_git(url):
    """A GitHub URL of a UDF, read from the configured local checkout of its
    repository at the URL's commit, tag or branch: a folder or a .py path."""
    m = _GITHUB.match(url)
    host, owner, repo, kind, ref, sub = m.groups()
    key = "%s/%s/%s" % (host, owner, repo[:-4] if repo.endswith(".git") else repo)
    repos = {k.lower(): v for k, v in (_host.CONFIG.get("repos") or {}).items()}
    checkout = repos.get(key.lower())
    if not checkout:
        raise ValueError("fused.load(%r): this server reads GitHub UDFs from local git checkouts, and "
                         "%s has none; add it to the config: python.repos: {%s: /path/to/checkout}"
                         % (url, key, key))
    commit = None
    for candidate in (ref, "origin/" + ref):
        try:
            commit = _git(checkout, "rev-parse", "--verify", "--quiet", candidate + "^{commit}").decode().strip()
            break
        except ValueError:
            continue
    if not commit:
        raise ValueError("fused.load(%r): %s has no commit, tag or branch %r (fetch it into %s)"
                         % (url, key, ref, checkout))
    sub = (sub or "").strip("/")
    folder_sub = os.path.dirname(sub) if kind == "blob" or sub.endswith(".py") else sub
    dest = _load_root("git", commit, hashlib.sha256(folder_sub.encode()).hexdigest()[:12])

    def fill(tmp):
        try:
            tar = _git(checkout, "archive", "--format=tar", commit, "--", folder_sub or ".")
        except ValueError as e:
            raise ValueError("fused.load(%r): %s has no %r at %s: %s" % (url, key, folder_sub, commit[:12], e)) from None
        with tarfile.open(fileobj=io.BytesIO(tar)) as t:
            members = [mi for mi in t.getmembers() if mi.isfile() or mi.isdir()]  # no links
            for mi in members:
                if mi.name.startswith("/") or ".." in mi.name.split("/"):
                    raise ValueError("fused.load(%r): %r is outside the checkout" % (url, mi.name))
            t.extractall(tmp, members=members)
    root = _publish(dest, fill)
    return os.path.join(root, sub) if sub else root


# ---- meta.json ----

def read_meta(folder):
    """The UDF step of a saved UDF's meta.json ({} without one)."""
    try:
        with open(os.path.join(folder, "meta.json")) as f:
            m = json.load(f)
    except (OSError, ValueError):
        return {}
    steps = (m.get("job_config") or {}).get("steps") or [{}]
    return (steps[0] or {}).get("udf") or {}


def _meta(udf, headers):
    step = {"type": "geopandas_v2", "name": udf.name, "entrypoint": udf.fn.__name__,
            "parameters": udf.default_parameters, "metadata": udf.metadata, "source": udf.name + ".py",
            "headers": [{"module_name": n, "source_file": n + ".py"} for n in headers]}
    if udf.cache_max_age is not None:
        step["cache_max_age"] = udf.cache_max_age
    return {"version": META_VERSION, "job_config": {"version": META_VERSION, "name": udf.name,
                                                     "steps": [{"type": "udf", "udf": step}]}}


# ---- writing ----

def files_of(udf):
    """The files of a saved UDF, name -> text."""
    headers = {}
    utils = udf.__dict__.get("utils")
    if utils is not None:
        headers["utils"] = module_source(utils)
    for name, mod in (udf.__dict__.get("headers") or {}).items():
        headers[name] = module_source(mod)
    desc = (udf.metadata or {}).get("fused:description") or ""
    files = {udf.name + ".py": udf.code,
             "meta.json": json.dumps(_meta(udf, headers), indent=2, default=str) + "\n",
             "README.md": "# %s\n\n%s\n" % (udf.name, desc) if desc else "# %s\n" % udf.name}
    for name, text in headers.items():
        files[name + ".py"] = text
    return files


def module_source(mod):
    text = getattr(mod, "__udftiles_source__", None)
    if text is not None:
        return text
    with open(mod.__file__) as f:
        return f.read()


def to_directory(udf, where=None, overwrite=False):
    where = os.fspath(where) if where is not None else udf.name
    if os.path.exists(where) and not overwrite:
        raise FileExistsError("%s exists; pass overwrite=True to replace it" % where)
    os.makedirs(where, exist_ok=True)
    for name, text in files_of(udf).items():
        with open(os.path.join(where, name), "w") as f:
            f.write(text)
    return where


def to_file(udf, where, overwrite=False):
    files = files_of(udf)

    def write(fh):
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as z:
            for name, text in files.items():
                z.writestr("%s/%s" % (udf.name, name), text)
    if hasattr(where, "write"):
        write(where)
        return where
    where = os.fspath(where)
    if os.path.exists(where) and not overwrite:
        raise FileExistsError("%s exists; pass overwrite=True to replace it" % where)
    with open(where, "wb") as fh:
        write(fh)
    return where


# ---- headers= ----

def load_headers(specs, fn):
    """Import the modules of @fused.udf(headers=[...]): file names (beside the
    UDF's file), or {module_name, source_code | source_file} entries. A
    missing file or a bad entry fails here, at load, naming it."""
    code_file = getattr(getattr(fn, "__code__", None), "co_filename", "")
    base = os.path.dirname(os.path.abspath(code_file)) if os.path.exists(code_file) else os.getcwd()
    out = {}
    for h in specs or []:
        if isinstance(h, (str, os.PathLike)):
            name, path, source = None, os.fspath(h), None
        elif isinstance(h, dict) or hasattr(h, "module_name"):
            get = h.get if isinstance(h, dict) else (lambda k, _h=h: getattr(_h, k, None))
            name, path, source = get("module_name"), get("source_file"), get("source_code")
        else:
            raise TypeError("@fused.udf(headers=...): want file names or {module_name, source_code} "
                            "entries, got %r" % (h,))
        if source is None:
            if not path:
                raise ValueError("@fused.udf(headers=...): entry %r has neither source_code nor source_file" % (h,))
            full = path if os.path.isabs(path) else os.path.join(base, path)
            if not os.path.isfile(full):
                raise FileNotFoundError("@fused.udf(headers=...): %s: no such file beside the UDF (%s)" % (path, base))
            with open(full) as f:
                source = f.read()
            path = full
        name = name or os.path.splitext(os.path.basename(path))[0]
        if not name.isidentifier():
            raise ValueError("@fused.udf(headers=...): %r is not a module name" % name)
        out[name] = make_module(name, source, path or "<header %s>" % name)
    return out


def make_module(name, source, filename):
    import fused
    mod = pytypes.ModuleType(name)
    mod.__file__ = filename
    mod.__udftiles_source__ = source
    mod.fused = fused
    exec(compile(source, filename, "exec"), mod.__dict__)
    return mod
