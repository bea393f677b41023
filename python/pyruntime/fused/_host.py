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

CONFIG = {"cache_dir": "/tmp/udftiles-cache", "secrets": {}, "udfs": {}, "server": "", "max_output_mb": 256,
          "mount_dir": "", "storage_fd": "", "repos": {}}
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

def _stamp(path, extra=()):
    """The state of a UDF: its file, the utils.py and meta.json beside it, and
    the files its headers= named."""
    h = hashlib.sha256()
    folder = os.path.dirname(os.path.abspath(path))
    for f in (path, os.path.join(folder, "utils.py"), os.path.join(folder, "meta.json")) + tuple(extra):
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
def _modules_as(mods):
    """Make `import name` give mods[name] (None: no such module) while the block runs."""
    prev = {name: sys.modules.pop(name, None) for name in mods}
    for name, mod in mods.items():
        if mod is not None:
            sys.modules[name] = mod
    try:
        yield
    finally:
        for name, mod in prev.items():
            sys.modules.pop(name, None)
            if mod is not None:
                sys.modules[name] = mod


def _utils_as(mod):
    """Make `import utils` give mod (None: no utils module) while the block runs."""
    return _modules_as({"utils": mod})


def own_utils(udf):
    """While a UDF runs, `from utils import ...` (and `import` of its headers)
    in its body reach its own modules, whichever UDF the worker loaded last."""
    mods = dict(udf.__dict__.get("headers") or {})
    if udf.__dict__.get("utils") is not None:
        mods["utils"] = udf.__dict__["utils"]
    return _modules_as(mods) if mods else contextlib.nullcontext()


def load_path(path):
    """Load a UDF file (or a directory in Fused's saved layout) and return its UDF."""
    from . import _saved
    meta = {}
    if os.path.isdir(path):
        name = os.path.basename(os.path.normpath(path))
        meta = _saved.read_meta(path)
        main = os.path.join(path, meta.get("source") or name + ".py")
        if not os.path.exists(main):
            main = os.path.join(path, name + ".py")
        if not os.path.exists(main):
            pys = [p for p in sorted(os.listdir(path)) if p.endswith(".py") and p != "utils.py"]
            if not pys:
                raise FileNotFoundError("no UDF file in %s (want %s.py)" % (path, name))
            main = os.path.join(path, pys[0])
        path = main
    hit = _modules.get(path)
    if hit and hit[0] == _stamp(path, hit[3]):
        return hit[2]
    stamp = _stamp(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not meta:
        meta = _saved.read_meta(folder)
    modname = "udf_" + hashlib.sha1(path.encode()).hexdigest()[:12]
    # A saved UDF folder may carry utils.py beside the UDF: importable as `utils`,
    # at the top of the file or in the UDF's body; meta.json may name more such
    # modules (headers).
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        utils = None
        if os.path.exists(os.path.join(folder, "utils.py")):
            with _utils_as(None):
                utils = _exec_file("utils", os.path.join(folder, "utils.py"))
        extra = {}
        for h in meta.get("headers") or []:
            mname, src = (h or {}).get("module_name"), (h or {}).get("source_file")
            if mname and mname != "utils" and src and os.path.isfile(os.path.join(folder, src)):
                with open(os.path.join(folder, src)) as f:
                    extra[mname] = _saved.make_module(mname, f.read(), os.path.join(folder, src))
        with _modules_as(dict(extra, utils=utils)):
            module = _exec_file(modname, path)
    finally:
        if added:
            sys.path.remove(folder)
    for mname, mod in extra.items():
        vars(module).setdefault(mname, mod)
    udf = _find_udf(module, path, meta.get("entrypoint"))
    _apply_meta(udf, meta)
    udf.module = module
    udf.path = path
    if utils is not None:
        udf.utils = utils
    for mname, mod in extra.items():
        udf.headers.setdefault(mname, mod)
    files = tuple(m.__file__ for m in udf.headers.values() if os.path.isfile(getattr(m, "__file__", "") or ""))
    _modules[path] = (_stamp(path, files) if files else stamp, module, udf, files)
    return udf


def _find_udf(module, path, entrypoint=None):
    from . import UDF
    found = [v for v in vars(module).values() if isinstance(v, UDF)]
    named = [u for u in found if u.fn.__name__ == (entrypoint or "udf")] or [u for u in found if u.fn.__name__ == "udf"]
    if named:
        return named[0]
    if found:
        return found[0]
    fn = getattr(module, "udf", None)
    if callable(fn):
        return UDF(fn)
    raise ValueError("%s defines no UDF: decorate a function with @fused.udf" % path)


def _apply_meta(udf, step):
    """What a saved UDF's meta.json says: its name, metadata, default
    parameters and cache_max_age (the decorator's own win)."""
    if not step:
        return
    if isinstance(step.get("metadata"), dict):
        udf.metadata = dict(step["metadata"], **udf.metadata)
    if isinstance(step.get("parameters"), dict):
        udf.default_parameters = dict(step["parameters"], **udf.default_parameters)
    if step.get("cache_max_age") and udf.cache_max_age is None:
        udf.cache_max_age = step["cache_max_age"]
    if step.get("name") and udf.name == udf.fn.__name__:
        udf.name = step["name"]


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
        frame = _frame_type(ann)
        if frame:
            return frame
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
                          ("bbox", "viewport"), ("geodataframe", "geodataframe"), ("dataframe", "dataframe"),
                          ("bool", "bool"), ("int", "int"), ("float", "float"),
                          ("list", "list"), ("dict", "dict"), ("str", "str")):
            if key in low:
                return name
    return "str"


def _frame_type(ann):
    """"geodataframe" or "dataframe" for those classes and their subclasses, else
    None. A UDF annotating with them has imported them already."""
    gpd = sys.modules.get("geopandas")
    if gpd is not None and issubclass(ann, gpd.GeoDataFrame):
        return "geodataframe"
    pd = sys.modules.get("pandas")
    if pd is not None and issubclass(ann, pd.DataFrame):
        return "dataframe"
    return None


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
                # The whole collection: one feature's geometry, or the union of them all.
                geoms = [shape(f["geometry"]) for f in g["features"] if f.get("geometry")]
                if not geoms:
                    raise ValueError("the FeatureCollection has no geometry")
                if len(geoms) == 1:
                    return geoms[0]
                from shapely.ops import unary_union
                return unary_union(geoms)
            return shape(g)
        return wkt.loads(s)
    except Exception as e:
        raise ParamError("parameter %s: want a GeoJSON or WKT geometry (%s)" % (name, e))


_GEOJSON_GEOMETRIES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
                       "GeometryCollection"}


def _to_frame(name, v, geo):
    """A pd.DataFrame (geo: gpd.GeoDataFrame) parameter from JSON records (a list
    of objects), a JSON object of columns, GeoJSON (a FeatureCollection, a Feature
    or a geometry: a GeoDataFrame in EPSG:4326) or, for a GeoDataFrame, WKT.
    Records of a GeoDataFrame carry their geometry in a "geometry" field (GeoJSON
    or WKT)."""
    import pandas as pd
    import geopandas as gpd
    if isinstance(v, pd.DataFrame):  # fused.run(udf, df=frame) passes frames as they are
        if geo and not isinstance(v, gpd.GeoDataFrame):
            v = v.to_dict("records")
        else:
            return v
    want = ("GeoJSON, WKT or JSON records with a geometry field" if geo
            else "JSON records (a list of objects), a JSON object of columns or GeoJSON")
    try:
        if isinstance(v, (bytes, bytearray)):
            v = v.decode("utf-8")
        if isinstance(v, str):
            s = v.strip()
            if s[:1] in ("[", "{"):
                v = json.loads(s)
            elif geo and s:
                from shapely import wkt
                return gpd.GeoDataFrame(geometry=[wkt.loads(s)], crs="EPSG:4326")
            else:
                raise ValueError("not JSON")
        if isinstance(v, dict) and (v.get("type") in ("FeatureCollection", "Feature")
                                    or v.get("type") in _GEOJSON_GEOMETRIES):
            return _geojson_frame(v)
        if isinstance(v, dict):
            if all(isinstance(c, (list, dict)) for c in v.values()):
                df = pd.DataFrame(v)  # columns
            else:
                df = pd.DataFrame([v])  # one record
        elif isinstance(v, list):
            if not all(isinstance(r, dict) for r in v):
                raise ValueError("each record must be a JSON object")
            df = pd.DataFrame(v)
        else:
            raise ValueError("got a JSON %s" % type(v).__name__)
    except ParamError:
        raise
    except Exception as e:
        raise ParamError("parameter %s: want %s (%s)" % (name, want, e))
    if not geo:
        return df
    if "geometry" not in df.columns:
        if len(df) == 0:
            return gpd.GeoDataFrame(df, geometry=[], crs="EPSG:4326")
        raise ParamError("parameter %s: want %s; the records have no geometry field" % (name, want))
    geoms = gpd.GeoSeries([_record_geometry(name, g) for g in df["geometry"]], index=df.index, crs="EPSG:4326")
    return gpd.GeoDataFrame(df.drop(columns="geometry"), geometry=geoms)


def _record_geometry(name, g):
    if g is None or (isinstance(g, float) and g != g):  # null, or missing from a record
        return None
    if isinstance(g, dict):
        from shapely.geometry import shape
        try:
            return shape(g)
        except Exception as e:
            raise ParamError("parameter %s: a record's geometry is not GeoJSON (%s)" % (name, e))
    return _to_geometry(name, g)


def _geojson_frame(g):
    """A GeoDataFrame (EPSG:4326) of a GeoJSON FeatureCollection, Feature or geometry."""
    import geopandas as gpd
    from shapely.geometry import shape
    if g["type"] == "Feature":
        features = [g]
    elif g["type"] == "FeatureCollection":
        features = list(g.get("features") or [])
    else:
        return gpd.GeoDataFrame(geometry=[shape(g)], crs="EPSG:4326")
    if not features:
        return gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    rows = [dict(f.get("properties") or {}, geometry=shape(f["geometry"]) if f.get("geometry") else None)
            for f in features]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def run_bounds(b):
    """fused.run's bounds: ([xmin, ymin, xmax, ymax] in lon/lat or None, the
    geometry given or None). A GeoDataFrame or GeoSeries, a shapely geometry, or
    GeoJSON (text or a dict) or WKT give their envelope and themselves."""
    if b is None:
        return None, None
    if hasattr(b, "total_bounds"):
        crs = getattr(b, "crs", None)
        frame = b.to_crs(4326) if crs is not None and crs.to_epsg() != 4326 else b
        return [float(v) for v in frame.total_bounds], frame
    if isinstance(b, dict):
        b = json.dumps(b)
    if isinstance(b, str):
        s = b.strip()
        if s[:1] == "{" or s[:1].isalpha():
            g = _to_geometry("bounds", s)
            return [float(v) for v in g.bounds], s
        b = json.loads(s) if s.startswith("[") else s.split(",")
    if (type(b).__module__ or "").startswith("shapely"):
        return [float(v) for v in b.bounds], b.wkt
    return [float(v) for v in b], None


def _tile_number(name, v):
    """x, y or z given to a file-mode call: an integer."""
    try:
        if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
            raise ValueError(v)
        return int(v)
    except (TypeError, ValueError):
        raise ParamError("parameter %s: want an integer, got %r" % (name, v))


def _spatial_value(kind, name, bounds, tile, area=None):
    """What a reserved parameter (bounds, bbox, x, y, z, or one annotated with a
    spatial type) receives: the tile's numbers, or the bounds as the annotation
    wants them. area is the geometry a file-mode call gave as bounds (GeoJSON or
    WKT text), bounds then being its envelope."""
    if name in ("x", "y", "z") and kind in (None, "int", "str", "float"):
        return None if tile is None else tile[name]
    if kind in ("tile", "viewport", "geodataframe", "dataframe"):
        import geopandas as gpd
        from shapely.geometry import box
        if area is not None:
            return _to_frame(name, area, True)
        if bounds is None:
            return None
        cols = {"geometry": [box(*bounds)]}
        if kind == "tile" and tile is not None:
            cols = {"x": [tile["x"]], "y": [tile["y"]], "z": [tile["z"]], **cols}
        return gpd.GeoDataFrame(cols, crs="EPSG:4326")
    if kind == "geometry":
        if hasattr(area, "unary_union"):  # fused.run(udf, bounds=gdf)
            return area.unary_union
        if area is not None:
            return _to_geometry(name, area)
        if bounds is None:
            return None
        from shapely.geometry import box
        return box(*bounds)
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
    bounds, tile, area = header.get("bounds"), header.get("tile"), header.get("area")
    kw = {}
    names = set()
    for p in sig.parameters.values():
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        names.add(p.name)
        t = _type_name(p.annotation)
        if p.name in RESERVED or t in ("tile", "viewport", "bounds"):
            if (p.name in ("x", "y", "z") and tile is None and params.get(p.name) is not None
                    and t in (None, "int", "str", "float")):
                v = _tile_number(p.name, params[p.name])  # file mode: ?x=&y=&z= as given
            else:
                v = _spatial_value(t, p.name, bounds, tile, area)
            if v is not None or p.default is inspect.Parameter.empty:
                kw[p.name] = v
            continue
        if p.name in params:
            v = params[p.name]
            if t == "geometry":
                v = _to_geometry(p.name, v)
            elif t in ("dataframe", "geodataframe") and v is not None:
                v = _to_frame(p.name, v, t == "geodataframe")
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
    with own_utils(udf):
        result = resolve(udf(**kw))
    return serialize(result)


def resolve(value):
    """What a UDF returned, awaited if it is awaitable (an `async def udf`): in a
    fresh event loop, so that nothing of one call's loop outlives it; from a
    thread running a loop (an async UDF calling fused.run), in a thread of its
    own."""
    if not inspect.isawaitable(value):
        return value
    import asyncio

    async def wait():
        return await value
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        return ex.submit(asyncio.run, wait()).result()


# ---- results ----

def serialize(obj):
    import numpy as np
    mod = type(obj).__module__ or ""
    if isinstance(obj, tuple):
        # (array, bounds), as Fused's raster UDFs return: an ndarray, an xarray
        # DataArray or Dataset or a PIL image, placed by lon/lat bounds. Other
        # tuples are JSON lists.
        if len(obj) == 2 and _is_raster(obj[0]) and _is_bounds(obj[1]):
            return _any_raster(obj[0], _bounds_of(obj[1]))
        return _json(list(obj))
    if mod.startswith("xarray"):
        return _xarray(obj)
    if _is_array(obj):
        return _raster(obj)
    if _is_image(obj):
        return _raster(_image_array(obj))
    if mod.startswith("geopandas") or mod.startswith("shapely"):
        if not _has_geometry(obj):  # a GeoDataFrame without an active geometry column
            import pandas as pd
            return _table(pd.DataFrame(obj))
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
        return _json(obj)
    raise TypeError("unsupported return type %s.%s: return an array, a (GeoDataFrame, DataFrame, "
                    "xarray) object, a str, bytes, a number, a dict or a list" % (mod, type(obj).__name__))


def _json(obj):
    """A JSON reply of obj: see _plain for what its values become."""
    try:
        body = json.dumps(_plain(obj), allow_nan=False)
    except ValueError as e:
        raise TypeError("the UDF returned a value JSON cannot hold: %s" % e)
    return {"kind": "json"}, [body.encode("utf-8")]


def _json_default(o):
    return _plain(o)


def _plain(o):
    """o as JSON holds it: DataFrames as lists of records, Series and arrays as
    lists (a Series with an index of its own as an object by label), GeoDataFrames
    and GeoSeries as FeatureCollections and shapely geometries as GeoJSON
    geometries (in EPSG:4326), NumPy scalars as numbers, dates as ISO text; NaN,
    infinities and missing values as null; anything else as its text."""
    import math
    if o is None or isinstance(o, (str, bool, int)):
        return o
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {_plain_key(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, set, frozenset)):
        return [_plain(v) for v in o]
    import numpy as np
    if isinstance(o, np.ndarray):
        return _plain_array(o)
    if isinstance(o, (np.datetime64, np.timedelta64)):
        return None if np.isnat(o) else str(o)
    if isinstance(o, np.generic):
        return _plain(o.item())
    mod = type(o).__module__ or ""
    if mod.startswith("geopandas") or mod.startswith("shapely"):
        if not _has_geometry(o):
            import pandas as pd
            return _records(pd.DataFrame(o))
        if mod.startswith("shapely"):
            from shapely.geometry import mapping
            return _plain(mapping(o))
        return json.loads(_features(o)[1][0])
    if mod.startswith("pandas"):
        import pandas as pd
        if isinstance(o, pd.DataFrame):
            return _records(o)
        if isinstance(o, pd.Series):
            if isinstance(o.index, pd.RangeIndex):
                return _plain_array(o.to_numpy())
            return {_plain_key(k): _plain(v) for k, v in o.items()}
        if isinstance(o, pd.Index):
            return _plain_array(o.to_numpy())
        if o is pd.NaT or o is pd.NA:
            return None
    if mod.startswith("xarray"):
        if hasattr(o, "data_vars"):
            return {str(k): _plain_array(np.asarray(v.values)) for k, v in o.data_vars.items()}
        return _plain_array(np.asarray(o.values))
    if hasattr(o, "isoformat"):  # datetime, date, time, Timestamp
        return o.isoformat()
    if isinstance(o, (bytes, bytearray, memoryview)):
        return bytes(o).decode("utf-8", "replace")
    return str(o)


def _plain_key(k):
    import numpy as np
    if isinstance(k, np.generic):
        k = k.item()
    if k is None or isinstance(k, (str, int, bool)):
        return k
    if isinstance(k, float):
        return k if k == k else "NaN"
    if hasattr(k, "isoformat"):
        return k.isoformat()
    return str(k)


def _plain_array(a):
    import numpy as np
    if isinstance(a, np.ma.MaskedArray):
        return _plain(a.tolist())  # masked values are None
    if a.dtype.kind in "biu":
        return a.tolist()
    if a.dtype.kind == "f" and np.isfinite(a).all():
        return a.tolist()
    if a.dtype.kind in "mM":
        return _plain(list(a.reshape(-1))) if a.ndim == 1 else [_plain_array(x) for x in a]
    return _plain(a.tolist())


def _records(df):
    """A DataFrame as a list of records, its index (unless a plain count) as columns."""
    import pandas as pd
    if not isinstance(df.index, pd.RangeIndex):
        df = df.reset_index(drop=not any(df.index.names))
    cols = [_plain_key(c) for c in df.columns]
    return [{c: _plain(v) for c, v in zip(cols, row)} for row in df.itertuples(index=False, name=None)]


def _has_geometry(obj):
    """False for a GeoDataFrame without an active geometry column (geopandas
    raises on its .geometry)."""
    import geopandas as gpd
    if isinstance(obj, gpd.GeoDataFrame):
        try:
            obj.geometry
        except AttributeError:
            return False
    return True


def _is_array(obj):
    import numpy as np
    return isinstance(obj, np.ndarray)


def _is_image(obj):
    """A PIL image (without importing PIL for UDFs that never do)."""
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(obj, pil.Image)


def _image_array(img):
    """A PIL image as (bands, H, W): grey, RGB or RGBA uint8 (palettes and other
    modes converted), or the numbers of 16-bit, 32-bit and float images."""
    import numpy as np
    mode = img.mode
    if mode == "1":
        img = img.convert("L")
    elif mode in ("L", "RGB", "RGBA", "I", "F") or mode.startswith("I;16"):
        pass
    elif "A" in mode or (mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
    else:
        img = img.convert("RGB")
    arr = np.asarray(img)
    if arr.ndim == 3:
        arr = np.moveaxis(arr, 2, 0)
    return arr


def _is_raster(obj):
    mod = type(obj).__module__ or ""
    return _is_array(obj) or _is_image(obj) or (mod.startswith("xarray") and hasattr(obj, "dims"))


def _is_bounds(b):
    """Something (array, b) may give as bounds: a list, a tuple, an ndarray, a
    shapely geometry, a GeoDataFrame or GeoSeries."""
    mod = type(b).__module__ or ""
    return (isinstance(b, (list, tuple)) or _is_array(b) or hasattr(b, "total_bounds")
            or (mod.startswith("shapely") and hasattr(b, "bounds")))


def _bounds_of(b):
    """[xmin, ymin, xmax, ymax] in lon/lat of bounds given as 4 numbers, a shapely
    geometry (its bounds) or a GeoDataFrame/GeoSeries (its total_bounds, in EPSG:4326)."""
    import math
    given = b
    if hasattr(b, "total_bounds"):
        crs = getattr(b, "crs", None)
        if crs is not None and crs.to_epsg() != 4326:
            b = b.to_crs(4326)
        b = b.total_bounds
    elif (type(b).__module__ or "").startswith("shapely"):
        b = b.bounds
    try:
        vals = [float(v) for v in list(b)]
    except (TypeError, ValueError):
        vals = []
    if len(vals) != 4 or not all(math.isfinite(v) for v in vals) or vals[0] > vals[2] or vals[1] > vals[3]:
        text = repr(given)
        raise TypeError("(array, bounds): want bounds as [xmin, ymin, xmax, ymax] in lon/lat, a shapely "
                        "geometry or a GeoDataFrame, got %s" % (text[:200] + "..." if len(text) > 200 else text))
    return vals


def _any_raster(obj, bounds):
    """An ndarray, xarray object or PIL image placed by lon/lat bounds."""
    if _is_image(obj):
        obj = _image_array(obj)
    if _is_array(obj):
        reply, blobs = _raster(obj)
        reply["bounds"] = bounds
        return reply, blobs
    return _xarray(obj, bounds)


def _raster(arr):
    import numpy as np
    mask = None
    shape = arr.shape
    if isinstance(arr, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(arr)
        arr = arr.filled(0)
    if arr.ndim > 3:
        arr, mask = _to_3d(arr), (None if mask is None else _to_3d(mask))
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
    if arr.ndim != 3 or 0 in arr.shape:
        raise TypeError("unsupported array shape %s: want (H, W), (bands, H, W) or (H, W, bands), "
                        "at least one pixel" % (shape,))
    check_output(arr.nbytes)
    arr = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"), copy=False))
    reply = {"kind": "raster", "dtype": str(arr.dtype.name), "shape": list(arr.shape)}
    blobs = [arr.tobytes()]
    if mask is not None:
        valid = (~mask).all(axis=0) if mask.ndim == 3 else ~mask
        reply["mask"] = True
        blobs.append((valid.astype("uint8") * 255).tobytes())
    return reply, blobs


def _to_3d(arr):
    """An array of more than 3 dimensions truncated to 3, as Fused does: trailing
    axes of length 1 dropped, then the first element of each leading axis kept
    ((time, band, y, x) shows time 0)."""
    while arr.ndim > 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    while arr.ndim > 3:
        arr = arr[0]
    return arr


def _xarray(obj, bounds=None):
    """An xarray DataArray (a Dataset: its first variable) placed by bounds, else
    by its x/y (lon/lat) coordinates."""
    import numpy as np
    da = obj
    if hasattr(obj, "data_vars"):
        names = list(obj.data_vars)
        if not names:
            raise TypeError("the returned xarray Dataset has no variables")
        da = obj[names[0]]
    arr = np.asarray(da.values)
    reply, blobs = _raster(arr)
    xs = [d for d in da.dims if d in ("x", "lon", "longitude")]
    ys = [d for d in da.dims if d in ("y", "lat", "latitude")]
    if bounds is not None:
        reply["bounds"] = [float(v) for v in bounds]
    if xs and ys:
        x, y = np.asarray(da[xs[0]].values, float), np.asarray(da[ys[0]].values, float)
        if len(x) > 1 and len(y) > 1:
            dx, dy = abs(x[1] - x[0]), abs(y[1] - y[0])
            if bounds is None:
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
    if (type(o).__module__ or "").startswith("shapely") and hasattr(o, "wkt"):
        return o.wkt  # a geometry column of a frame without an active one
    return _json_default(o)
