"""@udftiles.cache: Fused's @fused.cache on this machine's disk.

Results are pickled under the cache folder (UDFTILES_CACHE_DIR, else
$XDG_CACHE_HOME/udftiles, else ~/.cache/udftiles), one folder per function and
version of its code, one file per set of arguments.
"""
import functools
import hashlib
import inspect
import marshal
import os
import pickle
import re
import sys
import time
import warnings

try:
    import fcntl
except ImportError:  # no file locks: concurrent identical calls may both compute
    fcntl = None

DEFAULT_MAX_AGE = "12h"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def cache_dir():
    """The folder of the client's caches."""
    d = os.environ.get("UDFTILES_CACHE_DIR")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "udftiles")
    return d


def seconds(age):
    """cache_max_age in seconds: a number, or "30s", "10m", "24h", "90d"; None is no limit."""
    if age is None:
        return None
    if isinstance(age, (int, float)) and not isinstance(age, bool):
        return float(age)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(age))
    if not m:
        raise ValueError("cache_max_age: want a number with a unit s, m, h or d, got %r" % (age,))
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def code_hash(fn):
    """A hash of a function's code: its source when Python can read it, else its bytecode."""
    try:
        code = inspect.getsource(fn).encode()
    except (OSError, TypeError):
        try:
            code = marshal.dumps(fn.__code__)
        except Exception:
            code = repr(fn).encode()
    name = "%s.%s" % (getattr(fn, "__module__", ""), getattr(fn, "__qualname__", getattr(fn, "__name__", "")))
    return hashlib.sha256(name.encode() + b"\0" + code).hexdigest()[:16]


def args_key(value):
    """A key for arguments: the hash of their pickle, else of their repr."""
    try:
        raw = pickle.dumps(value, protocol=4)
    except Exception:
        raw = repr(value).encode()
    return hashlib.sha256(raw).hexdigest()


def cached_call(folder, key, max_age, reset, compute, lock_timeout=120, verbose=False, what="result"):
    """compute() once per key within max_age seconds (None: no limit): the first
    call writes folder/key.pkl under a file lock, the others read it."""
    os.makedirs(folder, exist_ok=True)
    data = os.path.join(folder, key + ".pkl")
    with open(os.path.join(folder, key + ".lock"), "a") as lock:
        locked = _lock(lock, lock_timeout)
        try:
            fresh = os.path.exists(data) and (max_age is None or time.time() - os.path.getmtime(data) < max_age)
            if fresh and not reset:
                try:
                    with open(data, "rb") as fh:
                        value = pickle.load(fh)
                    if verbose:
                        print("Cached %s returned." % what, file=sys.stderr)
                    return value
                except Exception:
                    pass  # an unreadable entry: compute again
            value = compute()
            tmp = "%s.%d.%d.tmp" % (data, os.getpid(), id(value))
            try:
                with open(tmp, "wb") as fh:
                    pickle.dump(value, fh, protocol=4)
                os.replace(tmp, data)
            except Exception as e:
                if os.path.exists(tmp):
                    os.remove(tmp)
                warnings.warn("not cached: %s cannot be pickled (%s)" % (type(value).__name__, e), stacklevel=3)
            return value
        finally:
            if locked:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _lock(fh, timeout):
    if fcntl is None:
        return False
    deadline = time.time() + float(seconds(timeout) or 0)
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            if time.time() >= deadline:
                return False  # the other call is too slow: compute without it
            time.sleep(0.02)


def cache(func=None, *, cache_max_age=DEFAULT_MAX_AGE, cache_folder_path="tmp", concurrent_lock_timeout=120,
          cache_reset=None, cache_storage=None, cache_key_exclude=None, cache_verbose=None, path=None,
          reset=False, storage=None, **_ignored):
    """Cache a function's return values on disk, as fused.cache does.

    The key is the function's code and its arguments (by name, with defaults
    filled in, less cache_key_exclude): change either and it computes again.
    A value is fresh for cache_max_age ("30s", "10m", "12h", "2d"; default 12h).
    cache_reset=True (or reset=True) computes anew and overwrites. Each call may
    pass cache_max_age= and cache_reset= too. Concurrent identical calls, in
    threads or processes, compute once: the others wait for it (at most
    concurrent_lock_timeout seconds). cache_storage is accepted and ignored:
    the cache is this machine's disk.
    """
    default_reset = bool(reset or cache_reset)
    folder_name = str(path if path is not None else cache_folder_path).strip("/") or "tmp"
    exclude = set(cache_key_exclude or ())

    def wrap(f):
        try:
            sig = inspect.signature(f)
        except (TypeError, ValueError):
            sig = None
        version = code_hash(f)

        @functools.wraps(f)
        def cached(*args, **kwargs):
            max_age = seconds(kwargs.pop("cache_max_age", cache_max_age))
            do_reset = bool(kwargs.pop("cache_reset", default_reset))
            if max_age is not None and max_age <= 0:
                return f(*args, **kwargs)
            if sig is not None:
                try:
                    bound = sig.bind(*args, **kwargs)
                except TypeError:
                    return f(*args, **kwargs)  # the call's own error
                bound.apply_defaults()
                key_args = sorted((k, v) for k, v in bound.arguments.items() if k not in exclude)
            else:
                key_args = (args, sorted(kwargs.items()))
            folder = os.path.join(cache_dir(), folder_name, "%s-%s" % (getattr(f, "__name__", "fn"), version))
            return cached_call(folder, args_key(key_args), max_age, do_reset, lambda: f(*args, **kwargs),
                               lock_timeout=concurrent_lock_timeout, verbose=bool(cache_verbose),
                               what="%s result" % getattr(f, "__name__", "function"))
        cached.__wrapped__ = f
        return cached
    return wrap(func) if func is not None else wrap
