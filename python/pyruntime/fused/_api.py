"""What UDFs ask of the server during a call: nested runs of its layers
(fused.run), storage (fused.api, fused.download of s3:// and fd:// paths)
read and written by the server with its own credentials, the shared mount
(fused.file_path), per-call environment, and fused.options.

Workers hold no credentials: every storage request goes to the server over
the worker's pipe, which checks it against storage.allow."""
import contextlib
import io
import json
import os
import threading

from . import _host


# ---- asking the server ----

def ask(op, args=None, blob=None, timeout=None, option="request_timeout"):
    """One request to the server; (result, blob). The answer is awaited up to
    timeout seconds (default: the fused.options setting option names, none
    when option is None), past which the server gives up on it and
    TimeoutError is raised.
    Outside a call of a worker (a notebook importing the package) there is
    no server to ask."""
    host = getattr(_host, "HOST", None)
    if host is None:
        raise RuntimeError("fused.%s needs the udftiles server: it runs inside a UDF" % op)
    what = "timeout=" if timeout is not None else "fused.options.%s" % option
    if timeout is None and option:
        timeout = getattr(options, option)
    timeout = seconds(timeout)
    try:
        return host(op, args or {}, blob, timeout=timeout)
    except Exception as e:
        if getattr(e, "kind", "") == "timeout" and timeout is not None:
            raise TimeoutError("fused.%s: no answer from the server within %gs (%s)"
                               % (op if op != "storage" else "api", timeout, what)) from None
        raise


def seconds(timeout):
    """A timeout as fused.options holds it (seconds, a (connect, read) pair,
    or None) as one number of seconds, or None for no bound."""
    if timeout is None:
        return None
    if isinstance(timeout, (tuple, list)):
        parts = [float(t) for t in timeout if t is not None]
        return sum(parts) if parts else None
    t = float(timeout)
    if t <= 0:
        raise ValueError("fused.options: a timeout must be positive or None, got %r" % (timeout,))
    return t


@contextlib.contextmanager
def waiting():
    """The UDF waits for the server by other means (an HTTP request, a job):
    while it does, its worker counts as idle, and the server may start
    another for the calls this one waits on."""
    host = getattr(_host, "HOST", None)
    if host is None:
        yield
        return
    host("park", {})
    try:
        yield
    finally:
        host("unpark", {})


# ---- nested runs ----

def run_layer(name=None, token=None, tile=None, bounds=None, params=None, format=None,
              cache_max_age=None, cache=None, cache_reset=False):
    """Run a layer of this server through its tile service (the same cache
    keys and freshness as an HTTP request) and decode what it returns."""
    args = {"udf": name or "", "token": token or "", "params": params or {}}
    if tile is not None:
        args["tile"] = [int(tile["z"]), int(tile["x"]), int(tile["y"])]
    if bounds is not None:
        args["bounds"] = [float(v) for v in list(bounds)[:4]]
    if format:
        args["format"] = format
    if cache_max_age is not None:
        args["cache_max_age"] = str(cache_max_age) if not isinstance(cache_max_age, (int, float)) else "%gs" % cache_max_age
    if cache is not None:
        args["cache"] = bool(cache)
    if cache_reset:
        args["cache_reset"] = True
    meta, body = ask("run", args, option="run_timeout")
    if meta.get("logs"):
        print(meta["logs"], end="" if meta["logs"].endswith("\n") else "\n")
    return decode(body or b"", meta.get("content_type") or "")


def decode(body, content_type):
    """A result's bytes back into the Python object it was: arrays from npy,
    GeoDataFrames from GeoJSON, DataFrames from JSON records, text, JSON
    values; other bytes as they are."""
    ct = content_type.split(";")[0].strip().lower()
    if ct == "application/x-npy":
        import numpy as np
        arr = np.load(io.BytesIO(body))
        return arr[0] if arr.ndim == 3 and arr.shape[0] == 1 else arr
    if ct == "application/geo+json":
        import geopandas as gpd
        doc = json.loads(body)
        feats = doc.get("features") or []
        if not feats:
            return gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
        return gpd.GeoDataFrame.from_features(feats, crs="EPSG:4326")
    if ct == "application/json":
        v = json.loads(body)
        if isinstance(v, list) and v and all(isinstance(r, dict) for r in v):
            import pandas as pd
            return pd.DataFrame.from_records(v)
        return v
    if ct == "text/csv":
        import pandas as pd
        return pd.read_csv(io.BytesIO(body))
    if ct.startswith("text/"):
        return body.decode("utf-8", "replace")
    return body


# ---- storage: fused.api ----

def _path(p):
    p = os.fspath(p)
    if p.startswith("fd://"):
        root = (_host.CONFIG.get("storage_fd") or "").rstrip("/")
        if not root:
            raise PermissionError("fd:// paths need storage.fd in the server's config")
        return root + "/" + p[len("fd://"):].lstrip("/")
    return p


def _storage(action, path, blob=None, timeout=None, option="request_timeout", **extra):
    args = dict(extra, action=action, path=_path(path))
    try:
        return ask("storage", args, blob, timeout=timeout, option=option)
    except Exception as e:
        kind = getattr(e, "kind", "")
        if kind == "forbidden":
            raise PermissionError(str(e)) from None
        if kind == "not_found":
            raise FileNotFoundError(str(e)) from None
        if kind == "bad_request":
            raise ValueError(str(e)) from None
        raise


class _Api:
    """fused.api: files in the storage the server allows (storage.allow),
    read and written by the server."""

    def list(self, path, *, details=False):
        paths, _ = _storage("list", path)
        paths = paths or []
        if details:
            return [{"url": p} for p in paths]
        return paths

    def get(self, path):
        # A file's transfer takes what it takes: request_timeout bounds
        # the requests that move no file.
        _, blob = _storage("get", path, option=None)
        return blob or b""

    def download(self, path, local_path):
        data = self.get(path)
        d = os.path.dirname(os.fspath(local_path))
        if d:
            os.makedirs(d, exist_ok=True)
        with open(local_path, "wb") as f:
            f.write(data)

    def upload(self, local_path, remote_path, timeout=None):
        if isinstance(local_path, (bytes, bytearray, memoryview)):
            data = bytes(local_path)
        elif hasattr(local_path, "read"):
            data = local_path.read()
        elif type(local_path).__module__.split(".")[0] in ("pandas", "geopandas"):
            raise TypeError("fused.api.upload of a DataFrame writes Parquet, which needs pyarrow "
                            "(not installed here): upload df.to_csv().encode() or a file instead")
        else:
            with open(local_path, "rb") as f:
                data = f.read()
        _storage("upload", remote_path, data, timeout=timeout)

    def delete(self, path, max_deletion_depth=3):
        res, _ = _storage("delete", path)
        return bool(res)

    def sign_url(self, path):
        url, _ = _storage("sign_url", path)
        return url

    def sign_url_prefix(self, path):
        urls, _ = _storage("sign_url_prefix", path)
        return urls or {}

    def whoami(self):
        return {"handle": _host.CONFIG.get("owner") or "udftiles", "name": _host.CONFIG.get("owner") or "udftiles"}


api = _Api()


def download_object(url, dest):
    """fused.download of an s3:// or fd:// URL: the server reads it."""
    api.download(url, dest)


# ---- fused.file_path ----

def file_path(path, mkdir=True, storage="auto"):
    """A path in the owner's folder of the shared mount (python.mount_dir,
    Fused's /mount); with mkdir the folders it needs are made."""
    base = _host.CONFIG.get("mount_dir") or os.path.join(_host.CONFIG["cache_dir"], "mount")
    if storage == "local":
        base = os.path.join(_host.CONFIG["cache_dir"], "local")
    owner = _host.CONFIG.get("owner") or "shared"
    rel = str(path).lstrip("/")
    if rel.startswith("mount/"):
        rel = rel[len("mount/"):]  # Fused's "/mount/..." spelling
    if ".." in rel.replace("\\", "/").split("/"):
        raise ValueError("fused.file_path(%r): '..' may not leave the owner's folder" % (path,))
    out = os.path.join(base, owner, rel)
    if mkdir:
        os.makedirs(out if str(path).endswith("/") else os.path.dirname(out), exist_ok=True)
    return out


# ---- the environment of one call ----

_env_lock = threading.Lock()


@contextlib.contextmanager
def call_env(header):
    """Set the call's environment for the time of the call: fused.options at
    their defaults (what an earlier call set stays with it), the owner's
    .env in the shared mount, then the layer's env: from the config."""
    options._reset()
    _host.CONFIG["owner"] = header.get("owner") or ""
    _host.CONFIG["layer"] = header.get("layer") or ""
    env = {}
    dotenv = os.path.join(_host.CONFIG.get("mount_dir") or os.path.join(_host.CONFIG["cache_dir"], "mount"),
                          _host.CONFIG["owner"] or "shared", ".env")
    if os.path.exists(dotenv):
        try:
            from dotenv import dotenv_values
            env.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
        except ImportError:
            pass
    env.update(header.get("env") or {})
    if not env:
        yield
        return
    with _env_lock:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
    try:
        yield
    finally:
        with _env_lock:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


# ---- fused.options ----

class _Settings:
    """A group of settings (fused.options.auth, fused.options.show): any
    attribute may be set, and is kept."""

    def __init__(self, **defaults):
        self.__dict__.update(defaults)

    def __repr__(self):
        return "(%s)" % ", ".join("%s=%r" % kv for kv in sorted(vars(self).items()))


class _Options:
    """fused.options: Fused's library settings. Those that mean something
    here take effect for the rest of the call that sets them (each call
    starts from the defaults): request_timeout bounds each request to the
    server (fused.api, fused.load of a layer, the HTTP requests of
    fused.submit), run_timeout a nested fused.run, max_workers the threads
    of fused.submit of a UDF object. The others are kept and ignored."""

    _DEFAULTS = dict(
        base_url="",
        request_timeout=5,
        run_timeout=130,
        max_workers=16,
        request_max_retries=5,
        request_retry_base_delay=1.0,
        max_recursion_factor=5,
        default_udf_run_engine=None,
        default_dtype_out_vector="parquet",
        default_dtype_out_raster="npy,tiff",
        cache_directory=None,
        temp_directory="/tmp",
        verbose_udf_runs=True,
        never_import=False,
    )

    def __init__(self):
        self._reset()

    def _reset(self):
        """Every setting back to its default."""
        self.__dict__.clear()
        self.__dict__.update(self._DEFAULTS)
        self.auth = _Settings(client_id=None, client_secret=None, audience=None, oauth_token_url=None,
                              authorize_url=None)
        self.show = _Settings(enable_tqdm=True)

    def __repr__(self):
        return "fused.options(%s)" % ", ".join("%s=%r" % kv for kv in sorted(vars(self).items()))

    def __dir__(self):
        return sorted(vars(self))

    def save(self):
        """Fused writes its settings to ~/.fused/settings.toml; a worker keeps
        nothing between calls, so this does nothing here."""


options = _Options()
