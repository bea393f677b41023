"""The worker side of the server: loading UDF files, describing their parameters,
calling them and turning what they return into frames the Go server encodes."""
import contextlib
import hashlib
import importlib.util
import inspect
import json
import os
import sys
import traceback
import typing

from . import types as ftypes
from . import _tiles

CONFIG = {"cache_dir": "/tmp/udftiles-cache", "secrets": {}, "udfs": {}, "server": "", "max_output_mb": 256}
_modules = {}  # path -> (stamp, module, udf)

RESERVED = {"bounds", "bbox", "x", "y", "z"}


class ParamError(ValueError):
    """A parameter value the UDF cannot take: the caller's mistake (400)."""


class OutputTooLarge(ValueError):
    """A result past python.max_output_mb (413)."""


def check_output(nbytes):
    """Refuse a result of nbytes past python.max_output_mb, before it is copied."""
    limit = int(CONFIG.get("max_output_mb") or 256) << 20
    if nbytes > limit:
        raise OutputTooLarge(
            "the UDF's result is %.1f MB: more than %d MB (python.max_output_mb); return less "
            "(a smaller area, fewer bands, a smaller dtype) or raise the limit" % (nbytes / 1e6, limit >> 20))


def configure(header):
    # Go sends null for an unset map or list: keep the defaults then.
    CONFIG.update({k: header[k] for k in CONFIG if header.get(k) is not None})
    os.makedirs(CONFIG["cache_dir"], exist_ok=True)
    mb = header.get("memory_mb") or 0
    if mb > 0:
        import resource
        limit = mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # Imports that every geo UDF pays for are paid once, at start-up.
    for name in header.get("preload") or []:
        try:
            __import__(name)
        except Exception:
            pass


def format_exception(e):
    """The traceback from the UDF's own frames down, not the worker's."""
    tb = traceback.extract_tb(e.__traceback__)
    keep = [f for f in tb if not f.filename.startswith(os.path.dirname(__file__))
            and not f.filename.endswith("runner.py") and not f.filename.startswith("<frozen ")]
    lines = traceback.format_list(keep) if keep else []
    return "Traceback (most recent call last):\n" + "".join(lines) + \
        "".join(traceback.format_exception_only(type(e), e))


# ---- loading ----

def _stamp(path):
    """The state of a UDF: its file and the utils.py and meta.json beside it."""
    h = hashlib.sha256()
    folder = os.path.dirname(os.path.abspath(path))
    for f in (path, os.path.join(folder, "utils.py"), os.path.join(folder, "meta.json")):
        try:
            with open(f, "rb") as fh:
                h.update(f.encode() + b"\0" + fh.read() + b"\0")
        except FileNotFoundError:
            if f == path:
                raise
    return h.hexdigest()


def _exec_file(modname, path):
    """Run a file as a fresh module in which `fused` is already imported, as on Fused."""
    import fused
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    module.fused = fused
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _utils_as(mod):
    """Make `import utils` give mod (None: no utils module) while the block runs."""
    prev = sys.modules.pop("utils", None)
    if mod is not None:
        sys.modules["utils"] = mod
    try:
        yield
    finally:
        sys.modules.pop("utils", None)
        if prev is not None:
            sys.modules["utils"] = prev


def own_utils(udf):
    """While a UDF runs, `from utils import ...` in its body reaches its own utils.py,
    whichever UDF the worker loaded last."""
    mod = udf.__dict__.get("utils")
    return _utils_as(mod) if mod is not None else contextlib.nullcontext()


def load_path(path):
    """Load a UDF file (or a directory in Fused's saved layout) and return its UDF."""
    if os.path.isdir(path):
        name = os.path.basename(os.path.normpath(path))
        main = os.path.join(path, name + ".py")
        if not os.path.exists(main):
            pys = [p for p in sorted(os.listdir(path)) if p.endswith(".py") and p != "utils.py"]
            if not pys:
                raise FileNotFoundError("no UDF file in %s (want %s.py)" % (path, name))
            main = os.path.join(path, pys[0])
        path = main
    stamp = _stamp(path)
    hit = _modules.get(path)
    if hit and hit[0] == stamp:
        return hit[2]
    folder = os.path.dirname(os.path.abspath(path))
    modname = "udf_" + hashlib.sha1(path.encode()).hexdigest()[:12]
    # A saved UDF folder may carry utils.py beside the UDF: importable as `utils`,
    # at the top of the file or in the UDF's body.
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        utils = None
        if os.path.exists(os.path.join(folder, "utils.py")):
            with _utils_as(None):
                utils = _exec_file("utils", os.path.join(folder, "utils.py"))
        with _utils_as(utils):
            module = _exec_file(modname, path)
    finally:
        if added:
            sys.path.remove(folder)
    udf = _find_udf(module, path)
    meta = os.path.join(folder, "meta.json")
    if os.path.exists(meta):
        _apply_meta(udf, meta)
    udf.module = module
    if utils is not None:
        udf.utils = utils
    _modules[path] = (stamp, module, udf)
    return udf


def _find_udf(module, path):
    from . import UDF
    found = [v for v in vars(module).values() if isinstance(v, UDF)]
    named = [u for u in found if u.fn.__name__ == "udf"]
    if named:
        return named[0]
    if found:
        return found[0]
    fn = getattr(module, "udf", None)
    if callable(fn):
        return UDF(fn)
    raise ValueError("%s defines no UDF: decorate a function with @fused.udf" % path)


def _apply_meta(udf, meta):
    try:
        with open(meta) as f:
            m = json.load(f)
    except (OSError, ValueError):
        return
    job = (m.get("job_config") or {}).get("steps", [{}])
    udf_meta = (job[0] or {}).get("udf", {}) if job else {}
    for k in ("cache_max_age",):
        if udf_meta.get(k) and udf.cache_max_age is None:
            udf.cache_max_age = udf_meta[k]


# ---- parameters ----

def _type_name(ann):
    if ann is inspect.Parameter.empty or ann is None:
        return None
    origin = typing.get_origin(ann)
    if origin is typing.Union:
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        return _type_name(args[0]) if len(args) == 1 else "str"
    if origin in (list, tuple) or ann in (list, tuple):
        return "list"
    if origin is dict or ann is dict:
        return "dict"
    if isinstance(ann, type):
        if issubclass(ann, ftypes.Bounds):
            return "bounds"
        if issubclass(ann, ftypes.Tile):
            return "tile"
        if issubclass(ann, ftypes.ViewportGDF):
            return "viewport"
        for t, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
            if issubclass(ann, t):
                return name
        try:
            from shapely.geometry.base import BaseGeometry
            if issubclass(ann, BaseGeometry):
                return "geometry"
        except ImportError:
            pass
    if isinstance(ann, str):  # string annotations: best effort by name
        low = ann.lower()
        for key, name in (("bounds", "bounds"), ("tile", "tile"), ("viewport", "viewport"),
                          ("bbox", "viewport"), ("bool", "bool"), ("int", "int"), ("float", "float"),
                          ("list", "list"), ("dict", "dict"), ("str", "str")):
            if key in low:
                return name
    return "str"


def _jsonable(v):
    try:
        json.dumps(v, allow_nan=False)
        return v
    except (TypeError, ValueError):
        return repr(v)


def inspect_udf(header):
    udf = load_path(header["path"])
    sig = inspect.signature(udf.fn)
    params, kwargs, spatial = [], False, []
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            kwargs = True
            continue
        if p.kind is p.VAR_POSITIONAL:
            continue
        t = _type_name(p.annotation)
        default = udf.default_parameters.get(p.name, p.default)
        if p.name in RESERVED or t in ("tile", "viewport", "bounds"):
            spatial.append({"name": p.name, "type": t or ("int" if p.name in "xyz" else "bounds")})
            continue
        entry = {"name": p.name, "type": t or "str", "required": default is inspect.Parameter.empty}
        if default is not inspect.Parameter.empty and default is not None:
            entry["default"] = _jsonable(default)
        params.append(entry)
    return {"params": params, "kwargs": kwargs, "spatial": spatial,
            "name": udf.name, "cache_max_age": udf.cache_max_age,
            "doc": (inspect.getdoc(udf.fn) or "").strip()}


def _to_geometry(name, v):
    from shapely import wkt
    from shapely.geometry import shape
    if not isinstance(v, str):
        return v
    s = v.strip()
    try:
        if s.startswith("{"):
            g = json.loads(s)
            if g.get("type") == "Feature":
                g = g["geometry"]
            elif g.get("type") == "FeatureCollection":
                g = g["features"][0]["geometry"]
            return shape(g)
        return wkt.loads(s)
    except Exception as e:
        raise ParamError("parameter %s: want a GeoJSON or WKT geometry (%s)" % (name, e))


def _spatial_value(kind, name, bounds, tile):
    if name in ("x", "y", "z") and kind in (None, "int", "str", "float"):
        return None if tile is None else tile[name]
    if kind in ("tile", "viewport"):
        import geopandas as gpd
        from shapely.geometry import box
        if bounds is None:
            return None
        cols = {"geometry": [box(*bounds)]}
        if kind == "tile" and tile is not None:
            cols = {"x": [tile["x"]], "y": [tile["y"]], "z": [tile["z"]], **cols}
        return gpd.GeoDataFrame(cols, crs="EPSG:4326")
    return None if bounds is None else ftypes.Bounds(bounds)


def _to_list(name, ann, v):
    """A list parameter as its annotation has it: list[int] and list[float]
    elements converted (the query's "1,2" arrives as strings), a tuple as a tuple."""
    if typing.get_origin(ann) is typing.Union:
        ann = next((a for a in typing.get_args(ann) if a is not type(None)), ann)
    origin = typing.get_origin(ann) or ann
    args = [a for a in typing.get_args(ann) if a is not Ellipsis]
    elem = args[0] if len(set(args)) == 1 else None
    if elem in (int, float):
        out = []
        for x in v:
            try:
                if isinstance(x, bool) or (elem is int and isinstance(x, float) and not x.is_integer()):
                    raise ValueError(x)
                out.append(elem(x))
            except (TypeError, ValueError):
                raise ParamError("parameter %s: want a list of %s, got %r" % (name, elem.__name__, x))
        v = out
    return tuple(v) if origin is tuple else v


def build_kwargs(udf, header):
    sig = inspect.signature(udf.fn)
    params = dict(udf.default_parameters)
    params.update(header.get("params") or {})
    bounds, tile = header.get("bounds"), header.get("tile")
    kw = {}
    names = set()
    for p in sig.parameters.values():
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        names.add(p.name)
        t = _type_name(p.annotation)
        if p.name in RESERVED or t in ("tile", "viewport", "bounds"):
            v = _spatial_value(t, p.name, bounds, tile)
            if v is not None or p.default is inspect.Parameter.empty:
                kw[p.name] = v
            continue
        if p.name in params:
            v = params[p.name]
            if t == "geometry":
                v = _to_geometry(p.name, v)
            elif t == "float" and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)  # JSON has no float 3.0: the annotation says what it is
            elif t == "list" and isinstance(v, list):
                v = _to_list(p.name, p.annotation, v)
            kw[p.name] = v
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        for k, v in params.items():
            if k not in names:
                kw[k] = v
    return kw


def call_udf(header):
    # How deep in runs and submits started by UDFs this call is (fused.submit
    # and fused.run refuse to go deeper than fused._jobs.MAX_DEPTH).
    CONFIG["depth"] = int(header.get("depth") or 0)
    udf = load_path(header["path"])
    kw = build_kwargs(udf, header)
    result = udf(**kw)
    return serialize(result)


# ---- results ----

def serialize(obj):
    import numpy as np
    mod = type(obj).__module__ or ""
    if isinstance(obj, tuple) and len(obj) == 2 and _is_array(obj[0]):
        reply, blobs = _raster(obj[0])
        b = obj[1]
        if hasattr(b, "total_bounds"):
            b = b.total_bounds
        reply["bounds"] = [float(v) for v in list(b)[:4]]
        return reply, blobs
    if mod.startswith("xarray"):
        return _xarray(obj)
    if _is_array(obj):
        return _raster(obj)
    if mod.startswith("geopandas") or mod.startswith("shapely"):
        return _features(obj)
    if mod.startswith("pandas"):
        import pandas as pd
        if isinstance(obj, pd.Series):
            obj = obj.to_frame()
        return _table(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return {"kind": "bytes", "content_type": "application/octet-stream"}, [bytes(obj)]
    if hasattr(obj, "getvalue") and callable(obj.getvalue):  # BytesIO
        v = obj.getvalue()
        if isinstance(v, (bytes, bytearray)):
            return {"kind": "bytes", "content_type": "application/octet-stream"}, [bytes(v)]
    if isinstance(obj, str):
        return {"kind": "text"}, [obj.encode("utf-8")]
    if obj is None or isinstance(obj, (bool, int, float, dict, list, np.generic)):
        if isinstance(obj, np.generic):
            obj = obj.item()
        try:
            body = json.dumps(obj, allow_nan=False, default=_json_default)
        except ValueError as e:
            raise TypeError("the UDF returned a value JSON cannot hold: %s" % e)
        return {"kind": "json"}, [body.encode("utf-8")]
    raise TypeError("unsupported return type %s.%s: return an array, a (GeoDataFrame, DataFrame, "
                    "xarray) object, a str, bytes, a number, a dict or a list" % (mod, type(obj).__name__))


def _json_default(o):
    import numpy as np
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _is_array(obj):
    import numpy as np
    return isinstance(obj, np.ndarray)


def _raster(arr):
    import numpy as np
    mask = None
    if isinstance(arr, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(arr)
        arr = arr.filled(0)
    if arr.dtype == bool:
        arr = arr.astype("uint8") * 255
    if arr.dtype.kind not in "uif":
        raise TypeError("unsupported array dtype %s: return numbers" % arr.dtype)
    if arr.dtype == np.int64 or arr.dtype == np.uint64:
        arr = arr.astype("float64")
    if arr.dtype == np.float16:
        arr = arr.astype("float32")
    if arr.ndim == 2:
        arr = arr[np.newaxis]
        if mask is not None:
            mask = mask[np.newaxis]
    if arr.ndim == 3 and arr.shape[0] > 4 and arr.shape[2] in (1, 3, 4):
        arr = np.moveaxis(arr, 2, 0)  # (H, W, C) as images are often laid out
        if mask is not None:
            mask = np.moveaxis(mask, 2, 0)
    if arr.ndim != 3:
        raise TypeError("unsupported array shape %s: want (H, W) or (bands, H, W)" % (arr.shape,))
    check_output(arr.nbytes)
    arr = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"), copy=False))
    reply = {"kind": "raster", "dtype": str(arr.dtype.name), "shape": list(arr.shape)}
    blobs = [arr.tobytes()]
    if mask is not None:
        valid = (~mask).all(axis=0) if mask.ndim == 3 else ~mask
        reply["mask"] = True
        blobs.append((valid.astype("uint8") * 255).tobytes())
    return reply, blobs


def _xarray(obj):
    import numpy as np
    da = obj
    if hasattr(obj, "data_vars"):
        names = list(obj.data_vars)
        if not names:
            raise TypeError("the returned xarray Dataset has no variables")
        da = obj[names[0]]
    arr = np.asarray(da.values)
    reply, blobs = _raster(arr.squeeze() if arr.ndim > 3 else arr)
    xs = [d for d in da.dims if d in ("x", "lon", "longitude")]
    ys = [d for d in da.dims if d in ("y", "lat", "latitude")]
    if xs and ys:
        x, y = np.asarray(da[xs[0]].values, float), np.asarray(da[ys[0]].values, float)
        if len(x) > 1 and len(y) > 1:
            dx, dy = abs(x[1] - x[0]), abs(y[1] - y[0])
            reply["bounds"] = [float(x.min() - dx / 2), float(y.min() - dy / 2),
                               float(x.max() + dx / 2), float(y.max() + dy / 2)]
            if y[0] < y[-1]:  # rows run south to north: store north-up
                data = np.frombuffer(blobs[0], dtype=reply["dtype"]).reshape(reply["shape"])
                blobs[0] = np.ascontiguousarray(data[:, ::-1, :]).tobytes()
    return reply, blobs


def _features(obj):
    import geopandas as gpd
    if not isinstance(obj, (gpd.GeoDataFrame, gpd.GeoSeries)):
        obj = gpd.GeoSeries([obj], crs="EPSG:4326")
    if isinstance(obj, gpd.GeoSeries):
        obj = gpd.GeoDataFrame(geometry=obj)
    if obj.crs is not None and obj.crs.to_epsg() != 4326:
        obj = obj.to_crs(4326)
    # GeoJSON readers take numbers as doubles: integers past 2**53 (H3 cells, ids)
    # would lose digits, so they travel as strings, as in tables served as json.
    geom = getattr(obj, "_geometry_column_name", None)
    big = [c for c, dt in obj.dtypes.items() if c != geom and getattr(dt, "kind", "O") in "iu"
           and len(obj) and (obj[c].astype("float64").abs() >= 2.0**53).any()]
    if big:
        obj = obj.copy()
        for c in big:
            obj[c] = obj[c].astype(str)
    body = obj.to_json(na="drop", default=_json_default)
    return {"kind": "features", "rows": int(len(obj))}, [body.encode("utf-8")]


def _table(df):
    import pandas as pd
    df = df.reset_index(drop=not any(df.index.names)) if not isinstance(df.index, pd.RangeIndex) else df
    cols = [str(c) for c in df.columns]
    types = {}
    for c, dt in zip(cols, df.dtypes):
        k = getattr(dt, "kind", "O")
        types[c] = {"b": "bool", "i": "int", "u": "int", "f": "float"}.get(k, "str")
    # Python's json, not DataFrame.to_json: that one rounds floats to a number of
    # decimals (1e-11 became 0). int64 values stay exact integers: the Go side
    # reads them as json.Number.
    import warnings
    import numpy as np
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shapely 1.8 warns about object arrays of geometries
        values = df.astype(object)
        floats = [c for c, dt in zip(df.columns, df.dtypes) if getattr(dt, "kind", "O") == "f"]
        if floats:
            values[floats] = values[floats].where(np.isfinite(df[floats].astype("float64")), None)
        rows = values.where(df.notna(), None).values.tolist()
    body = json.dumps({"data": rows}, allow_nan=False, default=_cell_default)
    return {"kind": "table", "columns": cols, "types": types}, [body.encode("utf-8")]


def _cell_default(o):
    if hasattr(o, "isoformat"):  # Timestamp, datetime, date
        return o.isoformat()
    return _json_default(o)
