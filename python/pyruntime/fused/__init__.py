"""The `fused` module as udftiles provides it to UDFs.

It mirrors the parts of Fused's Python SDK that UDFs use at run time:
@fused.udf (with headers=), fused.types, @fused.cache, fused.load (names,
tokens, files, saved folders and zips, configured git checkouts), fused.run
(also with sync=False), fused.submit, fused.download, fused.api (storage
through the server), fused.file_path, fused.options, fused.secrets, and the
helpers of Fused's `common` UDF (fused.utils.common: tiles, read_tiff,
table_to_tile, geom_stats, url_to_arr, ...), which work offline. The table
of every call is docs/fused.md.
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
from . import utils  # fused.utils.common
from . import _api
from . import _saved
from ._api import api, file_path, options

__all__ = ["udf", "cache", "load", "run", "submit", "download", "secrets", "types", "UDF", "api", "file_path",
           "options", "upload", "delete", "core", "__version__"]


class UDF:
    """A user-defined function with its serving options (Fused's Udf)."""

    def __init__(self, fn, name=None, cache_max_age=None, default_parameters=None, headers=None):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name = name or fn.__name__
        self.cache_max_age = cache_max_age
        self.default_parameters = dict(default_parameters or {})
        self.metadata = {}
        self.headers = dict(headers or {})  # module name -> module, from headers=[...]
        self.path = None  # the file it was loaded from
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

    @property
    def code(self):
        """The UDF's source: its whole file when it has one."""
        src = self.path or getattr(self.fn.__code__, "co_filename", "")
        if src and os.path.isfile(src):
            with open(src) as f:
                return f.read()
        import textwrap
        return textwrap.dedent(inspect.getsource(self.fn))

    def to_directory(self, where=None, *, overwrite=False):
        """Write the UDF as a folder in Fused's saved layout (Name.py, meta.json, utils.py, README.md)."""
        return _saved.to_directory(self, where, overwrite)

    def to_file(self, where, *, overwrite=False):
        """Write the UDF as a .zip of its saved folder, to a path or a binary file object."""
        return _saved.to_file(self, where, overwrite)

    def delete_cache(self):
        """Forget this UDF's cached results: its @fused.cache entries and, when
        it is a layer of this server, the layer's cached tiles and files."""
        removed = _drop_cache_folders([self.fn.__module__] + [m.__name__ for m in self.headers.values()])
        layer = _layer_of(self.path)
        if layer and getattr(_host, "HOST", None) is not None:
            _api.ask("delete_cache", {"udf": layer})
        return removed

    def to_fused(self, *args, **kwargs):
        raise NotImplementedError("to_fused: this server has no UDF store; save with to_directory() "
                                  "and add the folder to the config's udfs")


def _layer_of(path):
    """The name of this server's layer served from path, if any."""
    if not path:
        return None
    real = os.path.realpath(path)
    for name, entry in (_host.CONFIG.get("udfs") or {}).items():
        p = entry.get("path") or ""
        if p and (os.path.realpath(p) == real or os.path.realpath(p) == os.path.dirname(real)):
            return name
    return None


# Options of Fused's cloud: accepted, and a line says they do nothing here.
_CLOUD_OPTIONS = ("instance_type", "engine", "disk_size_gb", "region", "max_retry", "schema", "cache_storage")


def udf(fn=None, *, name=None, cache_max_age=None, default_parameters=None, headers=None, **options):
    """Mark a function as a UDF: `@fused.udf` or `@fused.udf(cache_max_age="1h")`.

    headers=["my_module.py"] imports files beside the UDF's as modules the UDF
    uses by name. Options of Fused's cloud (instance_type, engine, ...) are
    accepted with a line in the log saying they are ignored; any other option
    is an error naming it.
    """
    unknown = sorted(k for k in options if k not in _CLOUD_OPTIONS)
    if unknown:
        raise TypeError("@fused.udf: unknown option%s %s; this server knows name, cache_max_age, "
                        "default_parameters and headers, and ignores %s"
                        % ("s" if len(unknown) > 1 else "", ", ".join(unknown), ", ".join(_CLOUD_OPTIONS)))

    def wrap(f):
        if options:
            print("@fused.udf(%s): %s ignored: everything runs on this server" % (f.__name__, ", ".join(sorted(options))))
        mods = _saved.load_headers(headers, f) if headers else {}
        f.__globals__.update(mods)  # the UDF's body names them: my_header.my_function()
        return UDF(f, name=name, cache_max_age=cache_max_age, default_parameters=default_parameters, headers=mods)
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


_cache_folders = {}  # module name -> folders of its @fused.cache functions
_cache_lock = threading.Lock()


def _drop_cache_folders(modules):
    """Remove the @fused.cache entries of functions defined in modules; how many folders."""
    import shutil
    n = 0
    with _cache_lock:
        for m in modules:
            for folder in _cache_folders.get(m, ()):
                if os.path.isdir(folder):
                    shutil.rmtree(folder, ignore_errors=True)
                    n += 1
    return n


def cache(fn=None, *, cache_max_age="12h", cache_folder_path=None, path=None, concurrent_lock_timeout=120,
          cache_reset=None, reset=False, cache_storage=None, storage=None, cache_key_exclude=None,
          cache_verbose=None, **options):
    """Cache a function's results on disk, keyed by its code and arguments.

    Concurrent identical calls (in any worker) compute once: the first takes a
    file lock, the others wait for it (up to concurrent_lock_timeout seconds,
    then compute themselves) and read its result. Callers may pass
    cache_max_age= or cache_reset=True to one call. cache_key_exclude names
    arguments left out of the key; cache_verbose prints when a result comes
    from the cache. cache_storage="mount" keeps entries in the owner's
    fused.file_path folder; "local" and "auto" in python.cache_dir.
    """
    if options:
        raise TypeError("@fused.cache: unknown option%s %s" % ("s" if len(options) > 1 else "", ", ".join(sorted(options))))
    default_reset = bool(reset or cache_reset)
    sub = str(cache_folder_path or path or "tmp").strip("/") or "tmp"
    where = cache_storage or storage or "auto"
    if where not in ("auto", "local", "mount"):
        raise ValueError("@fused.cache: cache_storage: want auto, local or mount, got %r" % (where,))
    exclude = set(cache_key_exclude or ())
    lock_timeout = _seconds(concurrent_lock_timeout) or 0

    def wrap(f):
        try:
            code = inspect.getsource(f)
        except (OSError, TypeError):
            code = f.__qualname__
        digest = hashlib.sha256(code.encode()).hexdigest()[:16]
        try:
            sig = inspect.signature(f)
        except (TypeError, ValueError):
            sig = None

        def folder():
            root = file_path("fused-cache") if where == "mount" else os.path.join(_host.CONFIG["cache_dir"], "fused-cache")
            d = os.path.join(root, sub, digest)
            with _cache_lock:
                _cache_folders.setdefault(f.__module__, set()).add(d)
            return d

        def key_of(args, kwargs):
            items = None
            if exclude and sig is not None:
                try:
                    bound = sig.bind_partial(*args, **kwargs)
                    items = sorted((k, v) for k, v in bound.arguments.items() if k not in exclude)
                except TypeError:
                    items = None
            parts = items if items is not None else (args, sorted(kwargs.items()))
            try:
                return hashlib.sha256(pickle.dumps(parts, protocol=4)).hexdigest()
            except Exception:
                return hashlib.sha256(repr(parts).encode()).hexdigest()

        @functools.wraps(f)
        def cached(*args, **kwargs):
            import fcntl
            max_age = _seconds(kwargs.pop("cache_max_age", cache_max_age))
            do_reset = bool(kwargs.pop("cache_reset", default_reset))
            verbose = kwargs.pop("cache_verbose", cache_verbose)
            if max_age is not None and max_age <= 0:
                return f(*args, **kwargs)
            d = folder()
            os.makedirs(d, exist_ok=True)
            key = key_of(args, kwargs)
            data = os.path.join(d, key + ".pkl")
            with open(os.path.join(d, key + ".lock"), "w") as lock:
                deadline = time.monotonic() + lock_timeout
                locked = False
                while True:
                    try:
                        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        locked = True
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            print("@fused.cache(%s): waited %gs for another call's result; computing" % (f.__name__, lock_timeout))
                            break
                        time.sleep(0.05)
                try:
                    fresh = os.path.exists(data) and (
                        max_age is None or time.time() - os.path.getmtime(data) < max_age)
                    if fresh and not do_reset:
                        try:
                            with open(data, "rb") as fh:
                                value = pickle.load(fh)
                            if verbose:
                                print("@fused.cache(%s): cached result from %s" % (f.__name__, time.strftime(
                                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.path.getmtime(data)))))
                            return value
                        except Exception:
                            pass  # unreadable entry: compute again
                    value = f(*args, **kwargs)
                    tmp = data + ".%d.%d.tmp" % (os.getpid(), threading.get_ident())
                    with open(tmp, "wb") as fh:
                        pickle.dump(value, fh, protocol=4)
                    os.replace(tmp, data)
                    return value
                finally:
                    if locked:
                        fcntl.flock(lock, fcntl.LOCK_UN)
        return cached
    return wrap(fn) if fn is not None else wrap


# ---- fused.load / fused.run ----

def load(url_or_udf, /, *, cache_key=None, import_globals=True):
    """Load a UDF, as Fused's fused.load does, from:

    - a .py file, a saved UDF folder (Name/Name.py, meta.json, utils.py) or its .zip;
    - the name of a layer of this server ("owner/name" and "email/name" too), or
      a shared token "fsh_...";
    - a GitHub URL (https://github.com/owner/repo/tree/<ref>/<path>), read from
      the local checkout python.repos names for that repository, at that ref;
    - Fused's public `common` UDF (built in, offline);
    - the UDF's code itself.
    """
    if isinstance(url_or_udf, (UDF, _RemoteUDF)):
        return url_or_udf
    p = os.fspath(url_or_udf) if isinstance(url_or_udf, os.PathLike) else str(url_or_udf)
    if re.search(r"/public/common(?:/|/common\.py|/utils\.py)?$", p) or p in ("common", "fused://common"):
        from . import common
        return common
    if "\n" in p and ("@fused.udf" in p or "def udf" in p):
        return _host.load_path(_saved.from_code(p))
    if _saved.is_git_url(p):
        return _host.load_path(_saved.from_git(p))
    if p.startswith(("http://", "https://", "s3://", "gs://")):
        raise ValueError("fused.load(%r): this server loads UDFs from local files, its own layers, and "
                         "GitHub URLs of repositories it has checked out (python.repos)" % p)
    if p.startswith("fsh_"):
        return _RemoteUDF(None, token=p)
    name = p if _server_entry(p) else (p.rsplit("/", 1)[-1] if "/" in p and not os.path.exists(p) else None)
    entry = _server_entry(name) if name and not os.path.exists(p) else None
    if entry is not None:
        if entry.get("kind") != "python":
            return _RemoteUDF(name)
        loaded = _host.load_path(entry["path"])
        if isinstance(loaded, UDF):
            loaded.name = name  # the layer's name, as Fused names a saved UDF
        return loaded
    if os.path.isfile(p) and p.lower().endswith(".zip"):
        return _host.load_path(_saved.from_zip(p))
    if os.path.exists(p):
        return _host.load_path(p)
    raise ValueError("fused.load(%r): no such file, folder or .zip, and no UDF of that name on this server" % p)


def _server_entry(name):
    """What this server serves under name: {"kind", "path"} from its config,
    else from its catalog (UDFs saved at run time, asked of the server), else None."""
    udfs = _host.CONFIG.get("udfs") or {}
    if name in udfs:
        return udfs[name]
    if not name or "/" in name or "\n" in name or getattr(_host, "HOST", None) is None:
        return None
    try:
        got, _ = _api.ask("lookup", {"udf": name})
    except Exception:
        return None
    return got if isinstance(got, dict) and got.get("kind") else None


class _RemoteUDF:
    """A layer of this server run through its tile service (a COG, a vector
    file, or a shared token's layer)."""

    def __init__(self, name, token=None):
        self.name = name or "shared"
        self._layer = name
        self.token = token
        self.metadata = {}

    def __call__(self, *args, **kwargs):
        return run(self, *args, **kwargs)

    def __repr__(self):
        return "<UDF %s (a layer of this server)>" % (self._layer or "shared by token")

    def delete_cache(self):
        """Forget the layer's cached tiles and files (a UDF may do so for its own layer)."""
        if not self._layer:
            raise PermissionError("delete_cache: a shared token's layer cannot be purged by a UDF")
        _api.ask("delete_cache", {"udf": self._layer})
        return 0


_IGNORED_RUN_OPTIONS = ("instance_type", "max_retry", "disk_size_gb", "region", "_return_response",
                        "_ignore_unknown_arguments", "_cancel_callback")


def run(udf, *args, x=None, y=None, z=None, bounds=None, bbox=None, cache_max_age=None,
        engine=None, sync=True, parameters=None, cache=None, cache_reset=False, format=None,
        **params):
    """Run a UDF and return what it returns, as Fused's fused.run does.

    A layer of this server (by name, or a shared token "fsh_...") runs through
    the server's tile service, as an HTTP request would: its cache, freshness
    (cache_max_age, cache=False, cache_reset=True) and keys. A UDF object (a
    function of this file, fused.load of a file) runs in this worker, as does
    a Python layer with engine="local". With x, y, z it runs in tile mode;
    with bounds (or bbox) in file mode.
    """
    if parameters:
        params = dict(parameters, **params)
    ignored = [k for k in _IGNORED_RUN_OPTIONS if params.pop(k, None) is not None]
    if params.get("type") in ("tile", "file"):
        params.pop("type")  # x, y, z (or their absence) already say which
    if engine not in (None, "local", "remote", "realtime", "batch"):
        ignored.append("engine=%r" % engine)
    if ignored:
        print("fused.run: %s ignored: everything runs on this server" % ", ".join(ignored))
    if not sync:
        return _run_async(udf, args, dict(x=x, y=y, z=z, bounds=bounds, bbox=bbox, cache_max_age=cache_max_age,
                                          engine=engine, cache=cache, cache_reset=cache_reset, format=format, **params))
    if bounds is None:
        bounds = bbox
    bounds, area = _host.run_bounds(bounds)  # a geometry: its envelope, and itself for local UDFs
    tile = None
    if x is not None and y is not None and z is not None:
        tile = {"x": int(x), "y": int(y), "z": int(z)}
    target = udf
    if isinstance(udf, str) and udf.startswith("fsh_"):
        target = _RemoteUDF(None, token=udf)
    elif isinstance(udf, str) and engine != "local" and not os.path.exists(udf) and _server_entry(udf):
        target = _RemoteUDF(udf)
    elif not isinstance(udf, (UDF, _RemoteUDF)):
        target = load(udf)
    if isinstance(target, _RemoteUDF):
        try:
            with _Nested():
                return _api.run_layer(target._layer, target.token, tile, bounds, params, format=format,
                                      cache_max_age=cache_max_age, cache=cache, cache_reset=cache_reset)
        except getattr(_host, "HostError", ()) as e:
            entry = (_host.CONFIG.get("udfs") or {}).get(target._layer or "")
            if e.kind != "no_host" or not entry or entry.get("kind") != "python":
                raise
            target = _host.load_path(entry["path"])  # no server to ask: run the file here
    if tile is not None and bounds is None:
        bounds = _host._tiles.tile_bounds(tile["x"], tile["y"], tile["z"])
    header = {"params": params, "bounds": list(bounds) if bounds is not None else None, "tile": tile,
              "area": area if tile is None else None}
    kw = _host.build_kwargs(target, header)
    with _host.own_utils(target):
        return _host.resolve(target(*args, **kw))  # an async UDF: awaited


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
    server = options.base_url or _host.CONFIG.get("server")  # options.base_url: another server's jobs
    if not server:
        raise RuntimeError("fused.submit: the server URL is not known to this worker")
    return _jobs.Client(server, token="", depth=_depth() + 1, timeout=_api.seconds(options.request_timeout),
                        run_timeout=_api.seconds(options.run_timeout))


def submit(udf, arg_list, /, *, engine=None, max_workers=None, max_retry=2, debug_mode=False, collect=True,
           cache_max_age=None, cache=True, ignore_exceptions=False, flatten=True, **kwargs):
    """Run a UDF once per item of arg_list (values of its first parameter, dicts
    of parameters, or a DataFrame's rows), in parallel.

    A layer of this server named by a string runs as a job of the server, each
    item through its cache; a UDF object (a function of this file, fused.load)
    runs in this worker's threads (max_workers, default fused.options.max_workers),
    as engine="local".
    collect=True waits and returns one DataFrame; collect=False returns the
    JobPool (wait(), status(), df(), collect(), results(), times(), ...).
    """
    with _Nested():
        if isinstance(udf, str) and udf in (_host.CONFIG.get("udfs") or {}):
            # Its items need workers while this call waits for them: from
            # now on this worker counts as waiting, and the server may run
            # another for them (a pool of one worker does not deadlock).
            if getattr(_host, "HOST", None) is not None:
                _api.ask("park")
            return _server_client().submit(udf, arg_list, max_workers=max_workers, max_retry=max_retry,
                                           debug_mode=debug_mode, collect=collect, cache_max_age=cache_max_age,
                                           cache=cache, ignore_exceptions=ignore_exceptions, flatten=flatten, **kwargs)
        target = load(udf) if not isinstance(udf, UDF) else udf
        items = _jobs._arg_items(arg_list)
        first = _first_param(target)
        items = [it if isinstance(it, dict) else {first: it} for it in items]
        if debug_mode:
            return run(target, **dict(kwargs, **(items[0] if items else {})))
        pool = _LocalPool(target, items, kwargs, max_workers or options.max_workers, max_retry, ignore_exceptions,
                          flatten)
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
            if u.startswith(("s3://", "fd://")):
                _api.download_object(u, tmp)
            elif u.startswith(("http://", "https://")):
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


# ---- the SDK's other top-level names ----

__version__ = "1.0.0+udftiles"  # what fused.__version__ reports: the API level this module mirrors


def upload(local_path, remote_path, timeout=None):
    """fused.upload: fused.api.upload (bytes, a local file or a DataFrame) within storage.allow."""
    return api.upload(local_path, remote_path, timeout=timeout)


def delete(path, max_deletion_depth=3):
    """fused.delete: fused.api.delete within storage.allow."""
    return api.delete(path, max_deletion_depth=max_deletion_depth)


class _Core:
    """fused.core: the older home of download (fused.core.download(url, file_path))."""
    download = staticmethod(download)


core = _Core()
