"""udftiles.run and udftiles.submit: Fused's fused.run and fused.submit for a
udftiles server, and for UDF objects run in this process (engine="local")."""
import concurrent.futures
import threading
import urllib.parse
import warnings

from . import _jobs, _options
from ._catalog import AccessToken, RemoteUDF
from ._local import UDF, LocalJobPool, as_udf, run_local

_executor = None
_executor_lock = threading.Lock()


def _pool():
    """The threads of runs with sync=False: options.max_workers of them (as
    the setting was at the first such run)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, int(_options.options.max_workers)),
                                                              thread_name_prefix="udftiles-run")
        return _executor


async def _await(future):
    import asyncio
    return await asyncio.wrap_future(future)


def _is_local(udf):
    return isinstance(udf, UDF) or (callable(udf) and not isinstance(udf, (str, bytes, RemoteUDF)))


def _server_target(udf, url, token):
    """A UDF of the server (udftiles.load) or a share token object as what
    the server runs: its name or token, and its server unless url= or
    token= say otherwise."""
    if isinstance(udf, AccessToken):
        if not udf.token:
            raise ValueError("token %s: its plain token is only shown when it is made" % udf.id)
        target, client = udf.token, udf.client
    elif isinstance(udf, RemoteUDF):
        target, client = (udf.token or udf.name), udf.client
    else:
        return udf, url, token
    if url is None and token is None:
        url, token = client.url, client.token
    return target, url, token


def _warn_ignored(what, ignored):
    if ignored:
        warnings.warn("%s: %s" % (what, "; ".join(ignored)), stacklevel=3)


def run(udf, *args, sync=True, engine=None, instance_type=None, type=None, max_retry=0, cache_max_age=None,
        cache=True, cache_reset=None, parameters=None, x=None, y=None, z=None, bounds=None, bbox=None,
        url=None, token=None, **params):
    """Run a UDF once and return its result, as fused.run does.

    udf is a layer name of the server, a shared token ("fsh_..."; the server's
    realtime-shared routes, or the object create_access_token returns), a
    UDF of the server from udftiles.load, or a UDF object (@udftiles.udf or
    a plain function), which runs in this process as engine="local". With x, y, z it
    runs in tile mode, else in file mode (with bounds= [xmin, ymin, xmax, ymax]
    or a GeoDataFrame). Parameters come from parameters= and keywords (format=
    picks the server's encoding); positional arguments fill the UDF's first
    parameters. cache_max_age=, cache=False and cache_reset=True set the
    freshness; a server error of 5xx is retried max_retry times. sync=False
    starts the run in a thread and returns an awaitable (a coroutine). engine
    is "remote" or "local"; where it cannot apply, and for instance_type, a
    warning says so. url= and token= name the server (else UDFTILES_URL and
    UDFTILES_TOKEN).
    """
    if engine not in (None, "remote", "local"):
        raise ValueError("engine: want 'remote' or 'local', got %r" % (engine,))
    udf, url, token = _server_target(udf, url, token)
    if bounds is None:
        bounds = bbox
    kw = dict(parameters or {})
    kw.update(params)
    ignored = []
    if instance_type is not None:
        ignored.append("instance_type=%r is ignored: runs go to the server's workers or this process" % (instance_type,))
    if type is not None and type not in ("tile", "file"):
        raise ValueError("type: want 'tile' or 'file', got %r" % (type,))
    if type == "file" and x is not None:
        raise ValueError("type='file' with x, y, z: pass bounds= for a file run")
    if _is_local(udf):
        target = as_udf(udf)
        if engine == "remote":
            ignored.append("engine='remote' is ignored: a UDF object runs in this process; a server runs the "
                           "UDFs of its config (run it by its name there)")
        for k in ("format", "dtype_out_raster", "dtype_out_vector"):
            if k in kw:
                ignored.append("%s=%r is ignored: a local run returns the UDF's value itself" % (k, kw.pop(k)))
        if max_retry:
            ignored.append("max_retry is ignored for a local run")
        _warn_ignored("udftiles.run(%s)" % target.name, ignored)

        def call():
            return run_local(target, args, kw, x=x, y=y, z=z, bounds=bounds, cache_max_age=cache_max_age,
                             cache=cache, cache_reset=bool(cache_reset))
    elif isinstance(udf, str):
        if engine == "local":
            ignored.append("engine='local' is ignored: %r runs on the server, which has its code" % udf)
        _warn_ignored("udftiles.run(%r)" % udf, ignored)
        client = _options.client(url, token)

        def call():
            return _run_remote(client, udf, args, kw, x, y, z, bounds, cache_max_age, cache, cache_reset, max_retry)
    else:
        raise TypeError("udftiles.run: want a layer name, a shared token or a UDF object, got %r" % (udf,))
    if not sync:
        return _await(_pool().submit(call))
    return call()


def _run_remote(client, name, args, kw, x, y, z, bounds, cache_max_age, cache, cache_reset, max_retry):
    if args:
        if name.startswith("fsh_"):
            raise TypeError("udftiles.run(%r): a shared token's parameters are not known here: pass them by name" % name)
        meta = client.json("GET", "/v1/udfs/%s" % urllib.parse.quote(name, safe=""))
        names = [p["name"] for p in (meta.get("parameters") or [])]
        if len(args) > len(names):
            raise TypeError("%s takes %d parameters (%s), %d given" % (name, len(names), ", ".join(names), len(args)))
        kw = dict(kw, **dict(zip(names, args)))
    if cache_max_age is not None:
        kw["cache_max_age"] = cache_max_age
    if not cache:
        kw["cache"] = "false"
    if cache_reset:
        kw["cache_reset"] = "true"
    attempt = 0
    while True:
        try:
            return client.run(name, x=x, y=y, z=z, bounds=bounds, **kw)
        except _jobs.ServerError as e:
            attempt += 1
            if e.status < 500 or attempt > int(max_retry or 0):
                raise


def _local_items(arg_list, first):
    """arg_list as one dict of parameters per item: a DataFrame's rows, dicts,
    or values of the first parameter (first() names it)."""
    if hasattr(arg_list, "to_dict") and hasattr(arg_list, "columns"):
        return [dict(r) for r in arg_list.to_dict("records")]
    items = list(arg_list)
    if all(isinstance(v, dict) for v in items):
        return [dict(v) for v in items]
    name = first()
    return [dict(v) if isinstance(v, dict) else {name: v} for v in items]


def _first_param(target):
    import inspect
    for p in inspect.signature(target.fn).parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            return p.name
    raise ValueError("udftiles.submit: %s takes no parameters for arg_list values" % target.name)


def submit(udf, arg_list, /, *, engine=None, instance_type=None, max_workers=None, n_processes_per_worker=None,
           max_retry=2, debug_mode=False, collect=True, execution_type="thread_pool", cache_max_age=None,
           cache=True, ignore_exceptions=False, flatten=True, url=None, token=None, **kwargs):
    """Run a UDF once per item of arg_list, in parallel, as fused.submit does.

    arg_list holds values of the UDF's first parameter, dicts of parameters,
    or a DataFrame (one item per row); other keywords are constant parameters.
    A layer name runs as a job of the server (each item through its cache); a
    UDF object runs in this process's threads (engine="local"); a shared
    token's items run from this process's threads through its routes.
    max_workers (the server's default 16, locally options.max_workers), max_retry (2),
    cache_max_age and cache=False, ignore_exceptions and flatten (for
    collect) as Fused. debug_mode=True runs the first item only, now, and
    returns its result. collect=True waits and returns one DataFrame;
    collect=False returns the JobPool at once.
    """
    if engine not in (None, "remote", "local"):
        raise ValueError("engine: want 'remote' or 'local', got %r" % (engine,))
    udf, url, token = _server_target(udf, url, token)
    ignored = []
    if instance_type is not None:
        ignored.append("instance_type=%r is ignored" % (instance_type,))
    if n_processes_per_worker is not None:
        ignored.append("n_processes_per_worker is ignored")
    if execution_type not in (None, "thread_pool"):
        ignored.append("execution_type=%r is ignored: items run in a pool of threads or as a server job" % (execution_type,))
    run_opts = dict(cache_max_age=cache_max_age, cache=cache, url=url, token=token)
    if _is_local(udf) or (isinstance(udf, str) and udf.startswith("fsh_")):
        if _is_local(udf):
            target = as_udf(udf)
            if engine == "remote":
                ignored.append("engine='remote' is ignored: a UDF object runs in this process's threads")
            first = lambda: _first_param(target)  # noqa: E731
            what = target.name
        else:
            target = udf
            if engine == "local":
                ignored.append("engine='local' is ignored: a shared token runs on the server")

            def first():
                raise ValueError("udftiles.submit(%r): a shared token's parameters are not known here: "
                                 "pass arg_list as dicts or a DataFrame" % udf)
            what = repr(udf)
        _warn_ignored("udftiles.submit(%s)" % what, ignored)
        items = _local_items(arg_list, first)
        if debug_mode:
            return run(target, **dict(run_opts, parameters=dict(kwargs, **(items[0] if items else {}))))

        def call(**item):
            return run(target, **dict(run_opts, parameters=dict(kwargs, **item)))
        pool = LocalJobPool(call, items, max_workers=max_workers or _options.options.max_workers, max_retry=max_retry,
                            ignore_exceptions=ignore_exceptions, flatten=flatten, name=what.strip("'"))
    elif isinstance(udf, str):
        if engine == "local":
            ignored.append("engine='local' is ignored: %r runs as a job of the server, which has its code" % udf)
        _warn_ignored("udftiles.submit(%r)" % udf, ignored)
        return _options.client(url, token).submit(udf, arg_list, max_workers=max_workers, max_retry=max_retry,
                                               debug_mode=debug_mode, collect=collect, cache_max_age=cache_max_age,
                                               cache=cache, ignore_exceptions=ignore_exceptions, flatten=flatten,
                                               **kwargs)
    else:
        raise TypeError("udftiles.submit: want a layer name, a shared token or a UDF object, got %r" % (udf,))
    if collect:
        pool.wait()
        return pool.collect()
    return pool
