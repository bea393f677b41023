"""The `fused` module as udftiles provides it to UDFs.

It mirrors the parts of Fused's Python SDK that UDFs use at run time:
@fused.udf, fused.types, @fused.cache, fused.load, fused.run (also with
sync=False), fused.submit, fused.download, fused.secrets, and the helpers of
Fused's `common` UDF (get_tiles, estimate_zoom, arr_to_plasma), which work
offline.
"""
import functools
import hashlib
import inspect
import os
import pickle
import re
import threading
import time
import urllib.parse
import urllib.request

from . import types
from . import _host
from . import _jobs

__all__ = ["udf", "cache", "load", "run", "submit", "download", "secrets", "types", "UDF"]


class UDF:
    """A user-defined function with its serving options."""

    def __init__(self, fn, name=None, cache_max_age=None, default_parameters=None):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name = name or fn.__name__
        self.cache_max_age = cache_max_age
        self.default_parameters = dict(default_parameters or {})
        self.module = None

    def __call__(self, *args, **kwargs):
        with _host.own_utils(self):
            return self.fn(*args, **kwargs)

    def __getattr__(self, attr):
        # fused.load(...) of a saved UDF exposes its module's helpers: common.get_tiles(...)
        module = self.__dict__.get("module")
        if module is not None and hasattr(module, attr):
            return getattr(module, attr)
        raise AttributeError(attr)

    def __repr__(self):
        return "<UDF %s>" % self.name


def udf(fn=None, *, name=None, cache_max_age=None, default_parameters=None, **_ignored):
    """Mark a function as a UDF: `@fused.udf` or `@fused.udf(cache_max_age="1h")`.

    Options Fused accepts for its cloud (instance_type, engine, ...) are accepted
    and ignored: everything runs here.
    """
    def wrap(f):
        return UDF(f, name=name, cache_max_age=cache_max_age, default_parameters=default_parameters)
    return wrap(fn) if fn is not None else wrap


# ---- @fused.cache ----

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(age):
    if age is None:
        return None
    if isinstance(age, (int, float)):
        return float(age)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(age))
    if not m:
        raise ValueError("cache_max_age: want a number with a unit s, m, h or d, got %r" % (age,))
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def cache(fn=None, *, cache_max_age="12h", path="tmp", reset=False, storage=None, cache_reset=None,
          **_ignored):
    """Cache a function's results on disk, keyed by its code and arguments.

    Concurrent identical calls (in any worker) compute once: the first takes a
    file lock, the others wait for it and read its result. Callers may pass
    cache_max_age= or cache_reset=True to one call.
    """
    default_reset = bool(reset or cache_reset)

    def wrap(f):
        try:
            code = inspect.getsource(f)
        except (OSError, TypeError):
            code = f.__qualname__
        folder = os.path.join(_host.CONFIG["cache_dir"], "fused-cache", str(path),
                              hashlib.sha256(code.encode()).hexdigest()[:16])

        @functools.wraps(f)
        def cached(*args, **kwargs):
            import fcntl
            max_age = _seconds(kwargs.pop("cache_max_age", cache_max_age))
            do_reset = bool(kwargs.pop("cache_reset", default_reset))
            if max_age is not None and max_age <= 0:
                return f(*args, **kwargs)
            try:
                key = hashlib.sha256(pickle.dumps((args, sorted(kwargs.items())), protocol=4)).hexdigest()
            except Exception:
                key = hashlib.sha256(repr((args, sorted(kwargs.items()))).encode()).hexdigest()
            os.makedirs(folder, exist_ok=True)
            data = os.path.join(folder, key + ".pkl")
            with open(os.path.join(folder, key + ".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    fresh = os.path.exists(data) and (
                        max_age is None or time.time() - os.path.getmtime(data) < max_age)
                    if fresh and not do_reset:
                        try:
                            with open(data, "rb") as fh:
                                return pickle.load(fh)
                        except Exception:
                            pass  # unreadable entry: compute again
                    value = f(*args, **kwargs)
                    tmp = data + ".%d.tmp" % os.getpid()
                    with open(tmp, "wb") as fh:
                        pickle.dump(value, fh, protocol=4)
                    os.replace(tmp, data)
                    return value
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        return cached
    return wrap(fn) if fn is not None else wrap


# ---- fused.load / fused.run ----

def load(path, *, cache_key=None, **_ignored):
    """Load a UDF: a .py file, a saved UDF folder (Name/Name.py, meta.json, utils.py),
    the name of a UDF this server serves, or Fused's public `common` UDF (built in,
    offline)."""
    if isinstance(path, UDF):
        return path
    p = str(path)
    if re.search(r"/public/common/?$", p) or p in ("common", "fused://common"):
        from . import common
        return common
    if p.startswith(("http://", "https://", "s3://", "gs://")):
        raise ValueError("fused.load(%r): this server loads UDFs from local files and its own "
                         "UDFs only; copy the UDF beside your code" % p)
    entry = _host.CONFIG["udfs"].get(p)
    if entry is not None:
        if entry.get("kind") != "python":
            return _RemoteUDF(p)
        return _host.load_path(entry["path"])
    if os.path.exists(p):
        return _host.load_path(p)
    raise ValueError("fused.load(%r): no such file and no UDF of that name on this server" % p)


class _RemoteUDF:
    """A non-Python layer of this server (a COG, a vector file), called over HTTP."""

    def __init__(self, name):
        self.name = name


def run(udf, *args, x=None, y=None, z=None, bounds=None, bbox=None, cache_max_age=None,
        engine=None, sync=True, **params):
    """Run a UDF of this server (or a loaded UDF object) and return what it returns.

    With x, y, z it runs in tile mode; with bounds in file mode. Python UDFs run in
    this worker; other layers are fetched from the server as NumPy arrays.
    """
    if not sync:
        return _run_async(udf, args, dict(x=x, y=y, z=z, bounds=bounds, bbox=bbox, cache_max_age=cache_max_age, **params))
    target = load(udf) if not isinstance(udf, UDF) else udf
    if bounds is None:
        bounds = bbox
    if hasattr(bounds, "total_bounds"):
        bounds = list(bounds.total_bounds)
    tile = None
    if x is not None and y is not None and z is not None:
        tile = {"x": int(x), "y": int(y), "z": int(z)}
        if bounds is None:
            bounds = _host._tiles.tile_bounds(tile["x"], tile["y"], tile["z"])
    if isinstance(target, _RemoteUDF):
        return _run_remote(target.name, tile, bounds, params)
    header = {"params": params, "bounds": list(bounds) if bounds is not None else None, "tile": tile}
    return target(*args, **_host.build_kwargs(target, header))


def _run_remote(name, tile, bounds, params):
    import io
    import numpy as np
    server = _host.CONFIG.get("server")
    if not server:
        raise RuntimeError("fused.run(%r): the server URL is not known to this worker" % name)
    if tile is None:
        raise ValueError("fused.run(%r): this layer serves tiles: pass x, y and z" % name)
    q = urllib.parse.urlencode(params)
    url = "%s/v1/udfs/%s/tiles/%d/%d/%d.npy%s" % (server, urllib.parse.quote(name), tile["z"],
                                                 tile["x"], tile["y"], "?" + q if q else "")
    with urllib.request.urlopen(url, timeout=60) as r:
        return np.load(io.BytesIO(r.read()))


# ---- fused.run(sync=False) and fused.submit ----

_nesting = threading.local()


def _depth():
    """How deep in runs and submits started by UDFs this call is."""
    return getattr(_nesting, "depth", 0) + int(_host.CONFIG.get("depth") or 0)


class _Nested:
    def __enter__(self):
        if _depth() + 1 > _jobs.MAX_DEPTH:
            raise RecursionError("fused.run/fused.submit nested more than %d deep" % _jobs.MAX_DEPTH)
        _nesting.depth = getattr(_nesting, "depth", 0) + 1

    def __exit__(self, *exc):
        _nesting.depth -= 1


async def _run_async(udf, args, kw):
    import asyncio
    depth = _depth()

    def call():
        _nesting.depth = depth  # the worker thread's own count starts from the caller's
        return run(udf, *args, **kw)
    return await asyncio.get_running_loop().run_in_executor(None, call)


def _server_client():
    server = _host.CONFIG.get("server")
    if not server:
        raise RuntimeError("fused.submit: the server URL is not known to this worker")
    return _jobs.Client(server, token="", depth=_depth() + 1)


def submit(udf, arg_list, /, *, engine=None, max_workers=None, max_retry=2, debug_mode=False, collect=True,
           cache_max_age=None, cache=True, ignore_exceptions=False, flatten=True, **kwargs):
    """Run a UDF once per item of arg_list (values of its first parameter, dicts
    of parameters, or a DataFrame's rows), in parallel.

    A layer of this server named by a string runs as a job of the server, each
    item through its cache; a UDF object (a function of this file, fused.load)
    runs in this worker's threads (max_workers, default 8), as engine="local".
    collect=True waits and returns one DataFrame; collect=False returns the
    JobPool (wait(), status(), df(), collect(), results(), times(), ...).
    """
    with _Nested():
        if isinstance(udf, str) and udf in (_host.CONFIG.get("udfs") or {}):
            return _server_client().submit(udf, arg_list, max_workers=max_workers, max_retry=max_retry,
                                           debug_mode=debug_mode, collect=collect, cache_max_age=cache_max_age,
                                           cache=cache, ignore_exceptions=ignore_exceptions, flatten=flatten, **kwargs)
        target = load(udf) if not isinstance(udf, UDF) else udf
        items = _jobs._arg_items(arg_list)
        first = _first_param(target)
        items = [it if isinstance(it, dict) else {first: it} for it in items]
        if debug_mode:
            return run(target, **dict(kwargs, **(items[0] if items else {})))
        pool = _LocalPool(target, items, kwargs, max_workers or 8, max_retry, ignore_exceptions, flatten)
        if collect:
            pool.wait()
            return pool.collect()
        return pool


def _first_param(u):
    fn = getattr(u, "fn", u)
    names = [p for p in inspect.signature(fn).parameters]
    if not names:
        raise ValueError("fused.submit: %s takes no parameters" % getattr(u, "name", u))
    return names[0]


class _LocalPool(_jobs.JobPool):
    """A JobPool whose items run in this worker's threads."""

    def __init__(self, target, items, kwargs, workers, max_retry, ignore_exceptions, flatten):
        import concurrent.futures
        super().__init__(None, "local", ignore_exceptions=ignore_exceptions, flatten=flatten)
        self._rows = [dict(index=i, status="pending", seconds=0.0, error="", logs="", result=None, **it)
                      for i, it in enumerate(items)]
        self._argnames = set().union(*[it.keys() for it in items]) if items else set()
        self._created = _now()
        self._finished = None
        depth = _depth()

        def one(i):
            _nesting.depth = depth
            row = self._rows[i]
            row["status"] = "running"
            start = time.time()
            for attempt in range(1 + max(0, max_retry)):
                try:
                    row["result"] = run(target, **dict(kwargs, **items[i]))
                    row["status"], row["error"] = "ok", ""
                    break
                except Exception as e:  # reported per item, never blocking the rest
                    row["status"], row["error"] = "error", "%s: %s" % (type(e).__name__, e)
                    row["_exc"] = e
            row["seconds"] = time.time() - start
        self._ex = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, int(workers)))
        self._futures = [self._ex.submit(one, i) for i in range(len(items))]

    def _status(self):
        counts = {"pending": 0, "running": 0, "ok": 0, "error": 0, "cancelled": 0}
        for r in self._rows:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        running = any(not f.done() for f in self._futures)
        if not running and self._finished is None:
            self._finished = _now()
        return dict(counts, id="local", total=len(self._rows), state="running" if running else "done",
                    created=self._created.isoformat(), finished=self._finished.isoformat() if self._finished else None)

    def wait(self, timeout=None, progress=False):
        import concurrent.futures
        concurrent.futures.wait(self._futures, timeout=timeout)
        return self._status()

    def _fetch(self):
        return self._rows

    def _value(self, row):
        if row["status"] != "ok":
            return row.get("_exc") or _jobs.ServerError(row["status"], row.get("error", ""))
        return row["result"]

    def _args(self, row):
        return {k: v for k, v in row.items() if k in self._argnames}

    def cancel(self, wait=False):
        for f in self._futures:
            f.cancel()
        for r in self._rows:
            if r["status"] == "pending":
                r["status"] = "cancelled"

    def retry(self):
        raise NotImplementedError("a local pool is not retried: submit again")


def _now():
    import datetime
    return datetime.datetime.now(datetime.timezone.utc)


# ---- fused.download ----

def download(url, file_path, **_ignored):
    """Download url once into the server's cache folder and return the local path.

    A lock makes concurrent calls download once; http(s), file:// and local paths
    are supported.
    """
    import fcntl
    import shutil
    dest = os.path.join(_host.CONFIG["cache_dir"], "downloads", str(file_path).lstrip("/"))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if os.path.exists(dest):
                return dest
            tmp = dest + ".%d.part" % os.getpid()
            u = str(url)
            if u.startswith(("http://", "https://")):
                with urllib.request.urlopen(u, timeout=300) as r, open(tmp, "wb") as out:
                    shutil.copyfileobj(r, out)
            else:
                src = u[len("file://"):] if u.startswith("file://") else u
                shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
            return dest
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# ---- fused.secrets ----

class _Secrets:
    """Read-only secrets from the server's config: fused.secrets["NAME"]."""

    def __getitem__(self, key):
        s = _host.CONFIG.get("secrets") or {}
        if key not in s:
            raise KeyError("secret %r is not configured (config.yaml: secrets)" % key)
        return s[key]

    def get(self, key, default=None):
        return (_host.CONFIG.get("secrets") or {}).get(key, default)

    def __contains__(self, key):
        return key in (_host.CONFIG.get("secrets") or {})

    def keys(self):
        return list((_host.CONFIG.get("secrets") or {}).keys())


secrets = _Secrets()
