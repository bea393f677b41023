"""UDFs defined in a script or notebook (@udftiles.udf) and run in this process,
as Fused's engine="local": one run, and a pool of runs in threads."""
import concurrent.futures
import datetime
import functools
import inspect
import math
import os
import sys
import time

from . import _cache
from . import _jobs
from . import types

# Local runs are cached as Fused's local engine caches them (its
# options.local_engine_cache): for the run's cache_max_age, else the UDF's,
# else this.
DEFAULT_UDF_MAX_AGE = "90d"


class UDF:
    """A function decorated with @udftiles.udf, run in this process."""

    def __init__(self, fn, name=None, cache_max_age=None, default_parameters=None):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name = name or fn.__name__
        self.cache_max_age = cache_max_age
        self.default_parameters = dict(default_parameters or {})
        self.metadata = {}
        self.path = None  # the file it was loaded from (udftiles.load)
        self.version = None  # once saved on a server (to_fused): its version there
        self._code = None  # the file's code, when loaded from one or from code text
        self._catalog = None  # once saved: (its name there, the Client)

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __repr__(self):
        return "<UDF %s (local)>" % self.name

    @property
    def code(self):
        """The code to_fused saves: `import fused`, the notebook's modules the
        function uses, and its source with its decorator as @fused.udf(...)
        (or the whole file it was loaded from)."""
        from . import _catalog
        return _catalog.udf_code(self)

    def to_fused(self, name=None, overwrite=True, *, description=None, public=None, cache_max_age=None,
                 parameters=None, bounds=None, min_zoom=None, max_zoom=None, client=None, url=None, token=None):
        """Save this UDF's code on the server as the next version of UDF name
        (default: its own name), as Fused's to_fused: an editor's or admin's
        token (UDFTILES_TOKEN or token=). overwrite=False refuses a name
        already taken. description, public (False by default: runs need a
        bearer token or a share token), cache_max_age, parameters (defaults),
        bounds, min_zoom and max_zoom are the saved metadata; those not given
        stay as the saved UDF has them. Returns this UDF, with .version;
        code that does not load is a ServerError 400 with its traceback in
        .logs."""
        from . import _catalog
        return _catalog.to_fused(self, name, overwrite, description=description, public=public,
                                 cache_max_age=cache_max_age, parameters=parameters, bounds=bounds,
                                 min_zoom=min_zoom, max_zoom=max_zoom, client=client, url=url, token=token)

    def _remote(self, what):
        from . import _catalog
        return _catalog._saved_of(self, what)

    def create_access_token(self, **options):
        """A share token of the UDF saved with to_fused (see RemoteUDF.create_access_token)."""
        return self._remote("create_access_token").create_access_token(**options)

    def get_access_tokens(self):
        """The share tokens of the UDF saved with to_fused."""
        return self._remote("get_access_tokens").get_access_tokens()

    def versions(self):
        """The saved versions of the UDF saved with to_fused, newest first."""
        return self._remote("versions").versions()

    def delete(self):
        """Delete the UDF saved with to_fused from the server (this object stays)."""
        done = self._remote("delete").delete()
        self._catalog, self.version = None, None
        return done

    def delete_saved(self, inplace=True):
        """Fused's name for delete()."""
        return self.delete()


def udf(fn=None, *, name=None, cache_max_age=None, default_parameters=None, **_ignored):
    """Mark a function as a UDF: `@udftiles.udf` or `@udftiles.udf(cache_max_age="1h")`.

    udftiles.run and udftiles.submit run it in this process. Options Fused
    takes for its cloud (instance_type, engine, headers, ...) are accepted and
    ignored.
    """
    def wrap(f):
        return UDF(f, name=name, cache_max_age=cache_max_age, default_parameters=default_parameters)
    return wrap(fn) if fn is not None else wrap


def as_udf(obj):
    """A UDF object for a UDF or a plain function."""
    return obj if isinstance(obj, UDF) else UDF(obj)


def tile_bounds(x, y, z):
    """[west, south, east, north] of tile z/x/y in degrees."""
    n = 2.0 ** z

    def lat(yy):
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * yy / n))))
    return [x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)]


RESERVED = {"bounds", "bbox", "x", "y", "z"}


def _kind(annotation):
    """What a spatial annotation asks for: "bounds", "tile", "viewport" or ""."""
    import typing
    if typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _kind(args[0]) if len(args) == 1 else ""
    if isinstance(annotation, str):
        name = annotation.rsplit(".", 1)[-1]
    else:
        name = getattr(annotation, "__name__", "")
    if name == "Bounds":
        return "bounds"
    if name in ("Tile", "TileGDF", "TileXYZ"):
        return "tile"
    if name in ("ViewportGDF", "Bbox"):
        return "viewport"
    return ""


def _spatial(kind, name, bounds, tile):
    if name in ("x", "y", "z") and kind == "":
        return None if tile is None else tile["xyz".index(name)]
    if kind in ("tile", "viewport"):
        if bounds is None:
            return None
        import geopandas as gpd
        from shapely.geometry import box
        cols = {"geometry": [box(*bounds)]}
        if kind == "tile" and tile is not None:
            cols = dict(x=[tile[0]], y=[tile[1]], z=[tile[2]], **cols)
        return gpd.GeoDataFrame(cols, crs="EPSG:4326")
    return None if bounds is None else types.Bounds(bounds)


def call_kwargs(target, args, params, bounds, tile):
    """The keyword arguments of one local run, as the server builds them: the
    UDF's default_parameters and params by name; bounds, bbox and parameters
    annotated fused.types.Bounds (or Tile, ViewportGDF) from bounds or the
    tile, x, y, z from the tile."""
    sig = inspect.signature(target.fn)
    values = dict(target.default_parameters)
    values.update(params)
    taken = set()
    positional = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values()):
        if len(args) > len(positional):
            raise TypeError("%s takes %d positional parameters, %d given" % (target.name, len(positional), len(args)))
        taken = {p.name for p in positional[:len(args)]}
    kw = {}
    names = set()
    for p in sig.parameters.values():
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        names.add(p.name)
        if p.name in taken:
            continue
        kind = _kind(p.annotation)
        if p.name in RESERVED or kind:
            v = _spatial(kind, p.name, bounds, tile)
            if v is not None or p.default is inspect.Parameter.empty:
                kw[p.name] = v
        elif p.name in values:
            kw[p.name] = values[p.name]
    extra = [k for k in values if k not in names or k in RESERVED]
    if extra:
        if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()) and not RESERVED.intersection(extra):
            kw.update({k: values[k] for k in extra})
        else:
            raise TypeError("%s: unknown parameter%s %s; it takes %s (bounds, bbox, x, y and z are run()'s own)" % (
                target.name, "s" if len(extra) > 1 else "", ", ".join(sorted(extra)),
                ", ".join(sorted(names - RESERVED)) or "none"))
    return kw


def run_local(target, args=(), params=None, x=None, y=None, z=None, bounds=None, cache_max_age=None,
              cache=True, cache_reset=False, use_cache=True):
    """Run a UDF object in this process. Its result is cached on disk for
    cache_max_age, else the UDF's, else 90 days, keyed by its code and
    arguments, unless cache=False or a max age of 0."""
    tile = None
    if x is not None and y is not None and z is not None:
        tile = (int(x), int(y), int(z))
        if bounds is None:
            bounds = tile_bounds(*tile)
    if bounds is not None:
        if hasattr(bounds, "total_bounds"):
            bounds = bounds.total_bounds
        bounds = [float(v) for v in list(bounds)[:4]]
    kw = call_kwargs(target, args, params or {}, bounds, tile)
    age = cache_max_age if cache_max_age is not None else (target.cache_max_age or DEFAULT_UDF_MAX_AGE)
    max_age = _cache.seconds(age)
    if not use_cache or not cache or (max_age is not None and max_age <= 0):
        return target.fn(*args, **kw)
    folder = os.path.join(_cache.cache_dir(), "udfs", "%s-%s" % (target.name, _cache.code_hash(target.fn)))
    key = _cache.args_key((list(args), sorted(kw.items())))
    return _cache.cached_call(folder, key, max_age, cache_reset, lambda: target.fn(*args, **kw),
                              what="UDF %s result" % target.name)


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


class LocalJobPool(_jobs.JobPool):
    """A JobPool whose items run in this process's threads: each item is
    call(**its parameters). It has every method of a server job's pool."""

    def __init__(self, call, items, max_workers=16, max_retry=2, ignore_exceptions=False, flatten=True, name=""):
        super().__init__(None, "local", ignore_exceptions=ignore_exceptions, flatten=flatten)
        self.name = name
        self._call, self._items, self._max_retry = call, items, max(0, int(max_retry or 0))
        self._rows = [dict(index=i, status="pending", seconds=0.0, attempts=0, error="", logs="", result=None, **it)
                      for i, it in enumerate(items)]
        self._argnames = set().union(*[it.keys() for it in items]) if items else set()
        self._created, self._finished = _now(), None
        self._final = True
        self._workers = max(1, int(max_workers))
        self._ex = self._executor()
        self._futures = {i: self._ex.submit(self._one, i) for i in range(len(items))}

    def _executor(self):
        return concurrent.futures.ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="udftiles-submit")

    def __repr__(self):
        s = self._status()
        return "<JobPool local %s: %s, %d/%d done>" % (self.name, s["state"], s["ok"] + s["error"] + s["cancelled"], s["total"])

    def _one(self, i):
        row = self._rows[i]
        row["status"] = "running"
        start = time.time()
        for attempt in range(1 + self._max_retry):
            row["attempts"] = attempt + 1
            try:
                value = self._call(**self._items[i])
            except Exception as e:  # reported per item, never blocking the others
                row["_exc"], row["error"] = e, "%s: %s" % (type(e).__name__, e)
                if isinstance(e, _jobs.ServerError) and 400 <= e.status < 500:
                    break  # the same request fails the same way
                continue
            row["result"], row["error"] = value, ""
            row.pop("_exc", None)
            row["seconds"] = time.time() - start
            row["status"] = "ok"
            return
        row["seconds"] = time.time() - start
        row["status"] = "error"

    def _status(self):
        counts = {"pending": 0, "running": 0, "ok": 0, "error": 0, "cancelled": 0}
        for r in self._rows:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        running = any(not f.done() for f in self._futures.values())
        if running:
            self._finished = None
        elif self._finished is None:
            self._finished = _now()
            if self._ex is not None:
                self._ex.shutdown(wait=False)  # its threads end; retry() makes another
                self._ex = None
        total = len(self._rows)
        ended = counts["ok"] + counts["error"] + counts["cancelled"]
        state = "running" if running else ("cancelled" if counts["cancelled"] else "done")
        return dict(counts, id="local", udf=self.name, state=state, total=total,
                    progress=ended / total if total else 1.0, created=self._created.isoformat(),
                    finished=self._finished.isoformat() if self._finished else None)

    def wait(self, timeout=None, progress=None):
        """Block until every item has ended; a progress line on a terminal."""
        start = time.time()
        if progress is None:
            progress = sys.stderr.isatty()
        while True:
            pending = [f for f in self._futures.values() if not f.done()]
            s = self._status()
            if progress:
                n = s["ok"] + s["error"] + s["cancelled"]
                sys.stderr.write("\rlocal: %d/%d done, %d running, %d failed" % (n, s["total"], s["running"], s["error"]))
                sys.stderr.flush()
            if not pending:
                if progress:
                    sys.stderr.write("\n")
                return s
            left = None if timeout is None else timeout - (time.time() - start)
            if left is not None and left <= 0:
                raise TimeoutError("the pool is still running after %ss" % timeout)
            concurrent.futures.wait(pending, timeout=0.2 if left is None else min(0.2, left),
                                    return_when=concurrent.futures.FIRST_COMPLETED)

    def _fetch(self):
        return self._rows

    def _value(self, row):
        if row["status"] != "ok":
            return row.get("_exc") or _jobs.ServerError(row["status"], row.get("error") or row["status"])
        return row["result"]

    def _args(self, row):
        return {k: v for k, v in row.items() if k in self._argnames}

    def cancel(self, wait=False):
        """Cancel the items not started yet; those running finish."""
        for i, f in self._futures.items():
            if f.cancel():
                self._rows[i]["status"], self._rows[i]["error"] = "cancelled", "cancelled"
        if wait:
            self.wait(progress=False)

    def retry(self):
        """Run the failed and cancelled items again, in this pool."""
        if not self.done():
            raise RuntimeError("the pool is still running: wait() first")
        if self._ex is None:
            self._ex = self._executor()
        for r in self._rows:
            if r["status"] in ("error", "cancelled"):
                i = r["index"]
                r.update(status="pending", error="", seconds=0.0, attempts=0, result=None)
                r.pop("_exc", None)
                self._futures[i] = self._ex.submit(self._one, i)
