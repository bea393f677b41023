"""Offline versions of the helpers UDFs reach through Fused's public `common` UDF:

    common = fused.load("https://github.com/fusedio/udfs/tree/<sha>/public/common/")
    utils = fused.load("https://github.com/fusedio/udfs/tree/<sha>/public/common/").utils
    common = fused.utils.common
    tiles = common.get_tiles(bounds, zoom=12)
    zoom = common.estimate_zoom(bounds)
    rgb = common.arr_to_plasma(arr, min_max=(0, 3000))
    arr = common.read_tiff(tiles, "/data/dem.tif", output_shape=(256, 256))
    gdf = common.table_to_tile(bounds, table="/data/buildings.gpkg", use_columns=None)
    gdf = common.geom_stats(gdf, arr)
    arr = common.url_to_arr("https://example.com/image.png")
    da = common.get_da("/data/sif.nc", coarsen_factor=3, xy_cols=["lon", "lat"])
    arr = common.clip_arr(da.values, bounds, common.get_da_bounds(da, xy_cols=["lon", "lat"]))

They also carry mercantile's functions (tile, bounds, xy_bounds, tiles, parent,
children, quadkey, ...), as common.X and as the namespace common.mercantile.
"""
import math
import sys
import types as _types

from . import _tiles
from ._tiles import (Tile, LngLat, LngLatBbox, Bbox, tile, ul, bounds, xy_bounds, xy, lnglat,  # noqa: F401
                     tiles, parent, children, neighbors, quadkey, quadkey_to_tile, bounding_tile,
                     simplify, minmax, truncate_lnglat, feature)

# fused.load(<common URL>).utils is this module too, as in older Fused examples.
utils = sys.modules[__name__]

mercantile = _types.ModuleType("mercantile", "mercantile's API, for UDFs written with `import mercantile`.")
for _name in ("Tile", "LngLat", "LngLatBbox", "Bbox", "tile", "ul", "bounds", "xy_bounds", "xy", "lnglat",
              "tiles", "parent", "children", "neighbors", "quadkey", "quadkey_to_tile", "bounding_tile",
              "simplify", "minmax", "truncate_lnglat", "feature"):
    setattr(mercantile, _name, getattr(_tiles, _name))


def _as_bounds(bounds):
    if hasattr(bounds, "total_bounds"):
        if bounds.crs is not None and bounds.crs.to_epsg() != 4326:
            bounds = bounds.to_crs(4326)
        return [float(v) for v in bounds.total_bounds]
    return [float(v) for v in list(bounds)[:4]]


def estimate_zoom(bounds, target_num_tiles=1):
    """The deepest zoom at which bounds span at most target_num_tiles tiles
    (at least one zoom level, at most 20)."""
    w, s, e, n = _as_bounds(bounds)
    for z in range(20, -1, -1):
        if _tiles.count_covering([w, s, e, n], z) <= max(1, int(target_num_tiles)):
            return z
    return 0


def get_tiles(bounds=None, target_num_tiles=1, zoom=None, max_tile_recursion=6, as_gdf=True, clip=False):
    """The tiles covering bounds as a GeoDataFrame of x, y, z and the tile polygon.

    zoom defaults to estimate_zoom(bounds, target_num_tiles). With clip=True the
    polygons are cut to bounds.
    """
    import geopandas as gpd
    from shapely.geometry import box
    b = _as_bounds(bounds)
    z = estimate_zoom(b, target_num_tiles) if zoom is None else int(zoom)
    rows = _tiles.tiles_covering(b, z)
    geoms = [box(*_tiles.tile_bounds(x, y, z)) for x, y in rows]
    if clip:
        area = box(*b)
        geoms = [g.intersection(area) for g in geoms]
    if not as_gdf:
        return [(x, y, z) for x, y in rows]
    return gpd.GeoDataFrame({"x": [r[0] for r in rows], "y": [r[1] for r in rows], "z": [z] * len(rows)},
                            geometry=geoms, crs="EPSG:4326")


def arr_to_plasma(data, min_max=(0, 255), colormap="", include_opacity=False, reverse=True):
    """Colour a 2-D array with a matplotlib colormap and return uint8 (3, H, W), or
    (4, H, W) with include_opacity (opacity follows the normalised value).

    Values are scaled from min_max (the array's own min and max when None) to 0..1
    and clipped. colormap "" means plasma. reverse=True reverses the colormap, as
    Fused's helper does by default; NaN values are transparent with include_opacity.
    """
    import numpy as np
    from matplotlib import colormaps
    a = np.asarray(data, dtype="float64")
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    lo, hi = (np.nanmin(a), np.nanmax(a)) if min_max is None else min_max
    span = float(hi) - float(lo)
    norm = np.clip((a - float(lo)) / span, 0, 1) if span else np.zeros_like(a)
    cmap = colormaps[colormap or "plasma"]
    if reverse:
        cmap = cmap.reversed()
    rgba = cmap(np.nan_to_num(norm), bytes=True)  # (H, W, 4) uint8
    if include_opacity:
        alpha = np.where(np.isnan(a), 0, np.round(norm * 255)).astype("uint8")
        rgba[..., 3] = alpha
        return np.moveaxis(rgba, 2, 0).copy()
    return np.moveaxis(rgba[..., :3], 2, 0).copy()


def bounds_to_gdf(bounds_list, crs=4326):
    """bounds_list ([xmin, ymin, xmax, ymax] in crs) as a one-row GeoDataFrame."""
    import geopandas as gpd
    from shapely.geometry import box
    return gpd.GeoDataFrame(geometry=[box(*_as_bounds(bounds_list))], crs=crs)


# ---- GeoDataFrames from what UDFs pass around ----

def to_gdf(data, crs=None, cols_lonlat=None, col_geom="geometry", verbose=False, return_wkt=False):
    """data as a GeoDataFrame: a GeoDataFrame or GeoSeries (reprojected to crs if
    given), [xmin, ymin, xmax, ymax] (a box in crs, default EPSG:4326), (x, y, z)
    or a Tile (the tile's outline with x, y, z columns), a shapely geometry, WKT,
    GeoJSON (a string or a dict), or a DataFrame with a geometry column or
    longitude/latitude columns (cols_lonlat, or lon/lat, lng/lat, longitude/latitude)."""
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    from shapely import wkt as _wkt
    from shapely.geometry import box
    from shapely.geometry.base import BaseGeometry

    def out(gdf):
        if return_wkt:
            gdf = gdf.copy()
            gdf["geometry"] = gdf.geometry.to_wkt()
        return gdf

    def reproject(gdf):
        if gdf.crs is None:
            return gdf.set_crs(crs or 4326)
        return gdf.to_crs(crs) if crs is not None else gdf

    if isinstance(data, str):
        text = data.strip()
        if text.startswith("{"):
            import json
            data = json.loads(text)
        else:
            return out(gpd.GeoDataFrame(geometry=[_wkt.loads(text)], crs=crs or 4326))
    if isinstance(data, dict):
        if set(data) == {"x", "y", "z"}:
            data = (int(data["x"]), int(data["y"]), int(data["z"]))
        elif data.get("type") == "FeatureCollection" or "features" in data:
            return out(gpd.GeoDataFrame.from_features(data["features"], crs=crs or 4326))
        elif data.get("type") == "Feature":
            return out(gpd.GeoDataFrame.from_features([data], crs=crs or 4326))
        elif "type" in data and "coordinates" in data:
            from shapely.geometry import shape
            return out(gpd.GeoDataFrame(geometry=[shape(data)], crs=crs or 4326))
    if isinstance(data, gpd.GeoDataFrame):
        return out(reproject(data))
    if isinstance(data, gpd.GeoSeries):
        return out(reproject(gpd.GeoDataFrame(geometry=data)))
    if isinstance(data, BaseGeometry):
        return out(gpd.GeoDataFrame(geometry=[data], crs=crs or 4326))
    if isinstance(data, pd.Series):
        data = pd.DataFrame([data]) if col_geom in data.index else pd.DataFrame(data)
    if isinstance(data, pd.DataFrame):
        if col_geom in data.columns and not cols_lonlat:
            geoms = data[col_geom]
            if len(geoms) and isinstance(geoms.iloc[0], str):
                geoms = gpd.GeoSeries.from_wkt(geoms)
            return out(gpd.GeoDataFrame(data.drop(columns=[col_geom]), geometry=list(geoms), crs=crs or 4326))
        lon, lat = cols_lonlat or _infer_lonlat(data.columns)
        gdf = gpd.GeoDataFrame(data.copy(), geometry=gpd.points_from_xy(data[lon], data[lat]), crs=4326)
        return out(gdf.to_crs(crs) if crs is not None else gdf)
    if isinstance(data, (list, tuple, np.ndarray)):
        vals = list(data)
        if len(vals) == 3:
            x, y, z = (int(v) for v in vals)
            return out(gpd.GeoDataFrame({"x": [x], "y": [y], "z": [z]},
                                        geometry=[box(*_tiles.tile_bounds(x, y, z))], crs=4326))
        if len(vals) == 4:
            return out(gpd.GeoDataFrame(geometry=[box(*[float(v) for v in vals])], crs=crs or 4326))
    raise ValueError("to_gdf: cannot make a GeoDataFrame of %s: pass bounds, a tile (x, y, z), a geometry, "
                     "a DataFrame or a GeoDataFrame" % type(data).__name__)


def _infer_lonlat(columns):
    cols = set(columns)
    for pair in (("longitude", "latitude"), ("lon", "lat"), ("lng", "lat"), ("x", "y")):
        if pair[0] in cols and pair[1] in cols:
            return pair
    raise ValueError("to_gdf: no geometry column and no longitude/latitude columns in %s" % list(columns))


# ---- rasters ----

def _resampling(name):
    from rasterio.warp import Resampling
    return getattr(Resampling, name.lower()) if isinstance(name, str) else name


def read_tiff(bounds, input_tiff_path, filter_list=None, output_shape=(256, 256), overview_level=None,
              return_colormap=False, return_transform=False, return_crs=False, return_bounds=False,
              return_meta=False, cred=None, resampling="nearest"):
    """Read the part of a GeoTIFF (or COG, local, http(s) or s3://) under bounds.

    bounds is what get_tiles returns (a tile GeoDataFrame), a GeoDataFrame,
    [xmin, ymin, xmax, ymax] in lon/lat or a tile (x, y, z). With output_shape
    (H, W) the file is warped onto a Web Mercator grid of that size over bounds,
    as a map tile is (GDAL's warper, as gdalwarp does it), from the overview
    nearest that resolution; with output_shape=None the window is returned at
    the file's own resolution and CRS, grown to whole pixels. The result is a
    masked array, (H, W) for one band and (bands, H, W) for more, masked where
    the file has no data (its nodata value or mask, or outside it); None when
    bounds miss the file. filter_list keeps only those values (others become 0)
    before resampling. overview_level reads that overview (0: the first). With
    any return_* flag the result is (array, metadata): colormap (band 1's, entry
    0 transparent), crs, transform, bounds (of the array, in crs) and meta (the
    file's rasterio profile). cred is accepted for compatibility: credentials
    come from the worker's GDAL/AWS environment.
    """
    import contextlib
    import numpy as np
    import rasterio
    import rasterio.windows
    from rasterio.coords import BoundingBox, disjoint_bounds
    from rasterio.crs import CRS
    from rasterio.transform import Affine, array_bounds
    from rasterio.warp import reproject, transform_bounds

    resampling = _resampling(resampling)
    gdf = to_gdf(bounds)
    opts = {} if overview_level is None else {"OVERVIEW_LEVEL": int(overview_level)}
    path = str(input_tiff_path)
    with contextlib.ExitStack() as stack:
        stack.enter_context(rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"))
        src = stack.enter_context(rasterio.open(path, **opts))
        src_crs = src.crs or CRS.from_epsg(4326)
        want = transform_bounds(gdf.crs, src_crs, *gdf.total_bounds, densify_pts=21)
        if disjoint_bounds(src.bounds, BoundingBox(*want)):
            return None
        win = src.window(*want)
        # whole pixels: the window grows to the pixels bounds touch
        c0, r0 = math.floor(win.col_off + 1e-6), math.floor(win.row_off + 1e-6)
        c1 = math.ceil(win.col_off + win.width - 1e-6)
        r1 = math.ceil(win.row_off + win.height - 1e-6)
        win = rasterio.windows.Window(c0, r0, max(1, c1 - c0), max(1, r1 - r0))
        nodata = src.nodatavals[0]
        meta = dict(src.meta)
        colormap = None
        if return_colormap:
            try:
                colormap = src.colormap(1)
            except ValueError:
                colormap = None
        if output_shape is None:
            result = src.read(window=win, boundless=True, masked=True)
            dst_transform, dst_crs = src.window_transform(win), src_crs
            if filter_list:
                result.data[~np.isin(result.data, list(filter_list))] = 0
        else:
            h, w = int(output_shape[-2]), int(output_shape[-1])
            minx, miny, maxx, maxy = gdf.to_crs(3857).total_bounds
            dst_transform = Affine((maxx - minx) / w, 0.0, minx, 0.0, -(maxy - miny) / h, maxy)
            dst_crs = CRS.from_epsg(3857)
            # the coarsest overview still at least as fine as the output
            factor, level = 1, None
            if overview_level is None:
                for i, f in enumerate(src.overviews(1)):
                    if win.height / f < h:
                        break
                    factor, level = f, i
            if filter_list or win.height * win.width / factor ** 2 > 16 * h * w:
                result = _warp_array(src, src_crs, win, factor, (h, w), dst_transform, dst_crs, nodata,
                                     filter_list, resampling, reproject, Affine)
            else:
                # GDAL's warper reads the blocks it needs, as gdalwarp -dstalpha does: the
                # alpha band is the mask (nodata, the file's mask, outside the file)
                ds = src if level is None else stack.enter_context(rasterio.open(path, OVERVIEW_LEVEL=level))
                n = src.count
                out = np.zeros((n + 1, h, w), dtype=src.dtypes[0])
                reproject(rasterio.band(ds, list(range(1, n + 1))), out, src_crs=src_crs, dst_transform=dst_transform,
                          dst_crs=dst_crs, dst_alpha=n + 1, resampling=resampling)
                mask = np.broadcast_to(out[n] == 0, (n, h, w))
                data = out[:n]
                if nodata is not None:
                    data[mask] = np.array(nodata).astype(data.dtype)
                result = np.ma.masked_array(data, mask.copy())
    if result.shape[0] == 1:
        result = result[0]
    if not (return_colormap or return_transform or return_crs or return_bounds or return_meta):
        return result
    metadata = {}
    if return_colormap and colormap is not None:
        colormap = dict(colormap)
        colormap[0] = (0, 0, 0, 0)
        metadata["colormap"] = colormap
    if return_crs:
        metadata["crs"] = dst_crs
    if return_transform:
        metadata["transform"] = dst_transform
    if return_bounds:
        metadata["bounds"] = array_bounds(result.shape[-2], result.shape[-1], dst_transform)
    if return_meta:
        metadata["meta"] = meta
    return result, metadata


def _warp_array(src, src_crs, win, factor, shape, dst_transform, dst_crs, nodata, filter_list, resampling,
                reproject, Affine):
    """read_tiff's way for values filtered before resampling, or windows too big to
    warp whole: the window read decimated by factor (and to at most four times the
    output's pixels), then warped from memory."""
    import numpy as np
    h, w = shape
    if win.height * win.width / factor ** 2 > 4 * h * w:
        more = min(win.height / (h * 2), win.width / (w * 2))
        factor = max(factor, int(math.ceil(more / factor)) * factor)
    out_shape = (src.count, max(1, int(win.height / factor)), max(1, int(win.width / factor)))
    data = src.read(window=win, out_shape=out_shape, resampling=resampling, boundless=True, masked=True)
    if filter_list:
        data.data[~np.isin(data.data, list(filter_list))] = 0
    wt = src.window_transform(win)
    src_transform = wt * Affine.scale(win.width / data.shape[-1], win.height / data.shape[-2])
    fill = nodata if nodata is not None else 0
    valid_src = (~np.ma.getmaskarray(data)).astype("uint8")
    out = np.full((data.shape[0], h, w), fill, dtype=data.dtype)
    valid = np.zeros((data.shape[0], h, w), dtype="uint8")
    for b in range(data.shape[0]):
        reproject(data.data[b], out[b], src_transform=src_transform, src_crs=src_crs, src_nodata=nodata,
                  dst_transform=dst_transform, dst_crs=dst_crs, dst_nodata=nodata, resampling=resampling)
        reproject(valid_src[b], valid[b], src_transform=src_transform, src_crs=src_crs, src_nodata=0,
                  dst_transform=dst_transform, dst_crs=dst_crs, dst_nodata=0, resampling=_resampling("nearest"))
    mask = valid == 0
    if nodata is not None:
        mask |= out == nodata
    return np.ma.masked_array(out, mask)


def url_to_arr(url, return_colormap=False):
    """An image or raster (PNG, JPEG, GeoTIFF, ... anything GDAL reads) at an
    http(s) URL, file:// URL or local path, as a (bands, H, W) array; with
    return_colormap, (array, band 1's colormap)."""
    import rasterio
    from rasterio.io import MemoryFile
    u = str(url)
    if u.startswith(("http://", "https://")):
        import urllib.request
        with urllib.request.urlopen(u, timeout=120) as r:
            body = r.read()
        with MemoryFile(body) as mem, mem.open() as ds:
            return (ds.read(), ds.colormap(1)) if return_colormap else ds.read()
    if u.startswith("file://"):
        u = u[len("file://"):]
    with rasterio.open(u) as ds:
        return (ds.read(), ds.colormap(1)) if return_colormap else ds.read()


# ---- NetCDF grids: get_da, get_da_bounds, clip_arr ----

def get_da(path, coarsen_factor=1, variable_index=0, xy_cols=["longitude", "latitude"]):
    """The variable_index-th data variable of a NetCDF (or other xarray-readable)
    file as a DataArray; path is a local path or a URL fused.download fetches
    (once). With coarsen_factor > 1, blocks of coarsen_factor x coarsen_factor
    cells along xy_cols are reduced to their maximum (partial blocks dropped)."""
    import hashlib
    import os
    import xarray
    import fused
    p = str(path)
    if not os.path.exists(p):
        p = fused.download(p, "get_da/%s/%s" % (hashlib.sha256(p.encode()).hexdigest()[:16], p.rstrip("/").split("/")[-1]))
    ds = xarray.open_dataset(p)
    names = list(ds.data_vars)
    if not names:
        raise ValueError("get_da(%r): the file has no data variables" % (path,))
    var = names[variable_index]
    if coarsen_factor and int(coarsen_factor) > 1:
        f = int(coarsen_factor)
        return ds.coarsen({xy_cols[0]: f, xy_cols[1]: f}, boundary="trim").max()[var]
    return ds[var]


def get_da_bounds(da, xy_cols=("longitude", "latitude"), pixel_position="center"):
    """The extent (minx, miny, maxx, maxy) of a DataArray's grid from its x and y
    coordinates. With pixel_position="center" the coordinates are cell centres and
    the extent reaches half a cell beyond them. For rows going south to north
    (y ascending) miny and maxy come out swapped, which clip_arr reads as such."""
    xs = da[xy_cols[0]].values
    ys = da[xy_cols[1]].values
    if pixel_position != "center":
        return (xs[0], ys[-1], xs[-1], ys[0])
    w = xs[1] - xs[0] if len(xs) > 1 else 0
    h = ys[1] - ys[0] if len(ys) > 1 else 0
    return (xs[0] - w / 2, ys[-1] + h / 2, xs[-1] + w / 2, ys[0] - h / 2)


def clip_arr(arr, bounds_aoi, bounds_total=(-180, -90, 180, 90)):
    """The part of arr (rows and columns on its last two axes) under bounds_aoi,
    grown to whole cells, arr covering bounds_total (what get_da_bounds gives:
    miny > maxy means rows go south to north; the result is then flipped to
    north-up). Longitudes of bounds_aoi are brought to 0..360 when bounds_total
    uses that range."""
    w, s, e, n = [float(v) for v in list(bounds_aoi)[:4]]
    minx, y_first, maxx, y_edge = [float(v) for v in list(bounds_total)[:4]]
    if maxx > 180 and minx >= 0:
        w, e = (w + 360) % 360, (e + 360) % 360
    rows, cols = arr.shape[-2], arr.shape[-1]
    # y_edge (bounds_total[3]) is the outer edge of row 0, y_first that of the last row.

    def row(lat):
        return (y_edge - lat) / (y_edge - y_first) * rows

    def col(lon):
        return (lon - minx) / (maxx - minx) * cols
    r0, r1 = sorted((row(n), row(s)))
    r0, r1 = max(0, int(math.floor(r0 + 1e-9))), min(rows, int(math.ceil(r1 - 1e-9)))
    c0, c1 = max(0, int(math.floor(col(w) + 1e-9))), min(cols, int(math.ceil(col(e) - 1e-9)))
    out = arr[..., r0:r1, c0:c1]
    if y_first > y_edge:
        out = out[..., ::-1, :]
    return out


def rasterize_geometry(geom, shape, affine, all_touched=False):
    """A boolean (H, W) array, True on the pixels of geom (pixel centres inside it,
    or every pixel it touches with all_touched) on the grid of affine."""
    from rasterio import features
    from rasterio.transform import Affine
    if not isinstance(affine, Affine):
        affine = Affine(*list(affine)[:6])
    if geom is None or geom.is_empty:
        import numpy as np
        return np.zeros(tuple(shape), dtype=bool)
    return features.rasterize([(geom, 1)], out_shape=tuple(shape), transform=affine, fill=0,
                              dtype="uint8", all_touched=all_touched).astype(bool)


def geom_stats(gdf, arr, output_shape=(255, 255), bounds=None):
    """Zonal statistics: gdf with a `stats` column (the mean of arr's pixels within
    each geometry, NaN and masked pixels left out; one value per band for a
    (bands, H, W) array) and a `count` column (how many pixels each geometry covers).

    arr lies on a Web Mercator grid over bounds (what read_tiff(bounds, ...)
    reads; a tile GeoDataFrame, [xmin, ymin, xmax, ymax] in lon/lat or (x, y, z)),
    or, without bounds, over the extent of all of gdf's geometries, as Fused's
    helper assumes. The array's own shape sets its pixel size; output_shape is
    accepted for compatibility.
    """
    import warnings
    import numpy as np
    from rasterio.transform import Affine
    a = np.ma.asarray(arr)
    values = np.ma.filled(a.astype("float64"), np.nan)
    if values.ndim == 3 and values.shape[0] == 1:
        values = values[0]
    h, w = values.shape[-2:]
    src = gdf if gdf.crs is not None else gdf.set_crs(4326)
    web = src.to_crs(3857)
    extent = to_gdf(bounds).to_crs(3857) if bounds is not None else web
    minx, miny, maxx, maxy = extent.total_bounds
    affine = Affine((maxx - minx) / w, 0.0, minx, 0.0, -(maxy - miny) / h, maxy)
    masks = [rasterize_geometry(g, (h, w), affine) for g in web.geometry]
    stats = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        for m in masks:
            if values.ndim == 2:
                stats.append(float(np.nanmean(values[m])) if m.any() else float("nan"))
            else:
                stats.append([float(np.nanmean(band[m])) if m.any() else float("nan") for band in values])
    out = gdf.copy()
    out["stats"] = stats
    out["count"] = [int(m.sum()) for m in masks]
    return out


# ---- tables ----

_VECTOR_EXTS = (".gpkg", ".geojson", ".json", ".shp", ".fgb", ".gml", ".kml", ".zip", ".csv", ".parquet",
                ".geoparquet", ".pq")


def _table_files(table):
    import os
    t = str(table)
    if os.path.isdir(t):
        files = [os.path.join(t, f) for f in sorted(os.listdir(t))
                 if f.lower().endswith(_VECTOR_EXTS) and not f.startswith((".", "_"))]
        if not files:
            raise ValueError("table_to_tile: no vector files in %s" % t)
        return files
    return [t]


def _read_rows(path, area, columns):
    """The rows of a vector file whose envelope meets area (lon/lat box)."""
    import geopandas as gpd
    low = path.lower()
    if low.endswith((".parquet", ".geoparquet", ".pq")):
        try:
            gdf = gpd.read_parquet(path, columns=columns)
        except ImportError:
            raise ValueError("table_to_tile(%r): Parquet needs pyarrow, which this Python runtime does not "
                             "have: convert the table to GeoPackage or FlatGeobuf (ogr2ogr), or run UDFs on "
                             "an interpreter that has it (python.interpreter)" % path)
        return gdf.set_crs(4326) if gdf.crs is None else gdf
    if low.startswith("s3://"):
        path = "/vsis3/" + path[len("s3://"):]
    import fiona
    with fiona.open(path) as src:
        crs = src.crs_wkt or "EPSG:4326"
    from pyproj import CRS as _CRS, Transformer
    file_crs = _CRS.from_user_input(crs)
    bbox = area.bounds
    if not file_crs.equals(_CRS.from_epsg(4326)):
        bbox = Transformer.from_crs(4326, file_crs, always_xy=True).transform_bounds(*bbox, densify_pts=21)
    gdf = gpd.read_file(path, bbox=tuple(bbox))
    if gdf.crs is None:
        gdf = gdf.set_crs(file_crs)
    return gdf


def _file_extent(path, file_id):
    """A row describing a vector file: its id, row count and extent in lon/lat."""
    import fiona
    from pyproj import CRS as _CRS, Transformer
    p = "/vsis3/" + path[len("s3://"):] if path.lower().startswith("s3://") else path
    with fiona.open(p) as src:
        b = src.bounds
        n = len(src)
        file_crs = _CRS.from_user_input(src.crs_wkt) if src.crs_wkt else _CRS.from_epsg(4326)
    if not file_crs.equals(_CRS.from_epsg(4326)):
        b = Transformer.from_crs(file_crs, 4326, always_xy=True).transform_bounds(*b, densify_pts=21)
    return {"file_id": file_id, "chunk_id": 0, "num_rows": n, "bbox_minx": b[0], "bbox_miny": b[1],
            "bbox_maxx": b[2], "bbox_maxy": b[3]}


def table_to_tile(bounds, table="s3://fused-asset/imagery/naip/", min_zoom=12, centorid_zoom_offset=0,
                  use_columns=["geometry"], clip=False, print_xyz=False, centroid_zoom_offset=None):
    """The rows of table within bounds, as a GeoDataFrame in EPSG:4326.

    table is a GeoDataFrame (or a DataFrame with a geometry or lon/lat columns), a
    vector file GDAL reads (GeoPackage, GeoJSON, Shapefile, FlatGeobuf, ...; local
    or s3://) or a folder of them; files are read only where bounds fall. bounds
    is [xmin, ymin, xmax, ymax] in lon/lat, a GeoDataFrame or a tile (x, y, z).

    At zooms of bounds from min_zoom, the rows whose geometry meets bounds, with
    use_columns (plus geometry; None: every column), as centroids for the first
    centorid_zoom_offset zooms, cut to bounds with clip=True. Below min_zoom, as
    Fused does with a table's chunk metadata, one row per file meeting bounds
    (file_id, chunk_id, num_rows, bbox_*, the extent as geometry) instead of the
    rows themselves.
    """
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import box
    offset = centorid_zoom_offset if centroid_zoom_offset is None else centroid_zoom_offset
    area_gdf = to_gdf(bounds)
    if area_gdf.crs is not None and area_gdf.crs.to_epsg() != 4326:
        area_gdf = area_gdf.to_crs(4326)
    area = area_gdf.unary_union
    try:
        z = estimate_zoom(list(area_gdf.total_bounds))
    except Exception:
        z = min_zoom
    if print_xyz:
        print("table_to_tile: zoom", z)
    in_memory = isinstance(table, (gpd.GeoDataFrame, pd.DataFrame))
    files = None if in_memory else _table_files(table)
    if z < min_zoom:
        if in_memory:
            df = to_gdf(table).to_crs(4326)
            b = df.total_bounds
            rows = [{"file_id": 0, "chunk_id": 0, "num_rows": len(df), "bbox_minx": b[0], "bbox_miny": b[1],
                     "bbox_maxx": b[2], "bbox_maxy": b[3]}]
        else:
            rows = [_file_extent(f, i) for i, f in enumerate(files)]
        meta = gpd.GeoDataFrame(rows, geometry=[box(r["bbox_minx"], r["bbox_miny"], r["bbox_maxx"], r["bbox_maxy"])
                                                for r in rows], crs=4326)
        meta = meta[meta.intersects(area)]
        return _clip(meta, area) if clip else meta
    columns = None
    if use_columns:
        columns = [c for c in use_columns if c != "geometry"]
    if in_memory:
        parts = [to_gdf(table)]
    else:
        parts = [_read_rows(f, area, columns) for f in files]
    parts = [p.to_crs(4326) if p.crs is not None and p.crs.to_epsg() != 4326 else p for p in parts]
    parts = [p for p in parts if len(p)]
    if not parts:
        return gpd.GeoDataFrame(geometry=[], crs=4326)
    df = pd.concat(parts) if len(parts) > 1 else parts[0]
    df = gpd.GeoDataFrame(df, geometry=df.geometry.name, crs=4326)
    df = df[df.intersects(area)]
    if columns is not None:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ValueError("table_to_tile: no column %s; the table has %s"
                             % (", ".join(missing), [c for c in df.columns if c != df.geometry.name]))
        df = df[columns + [df.geometry.name]]
    if z < min_zoom + offset:
        import warnings
        df = df.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # centroids in degrees, as Fused's are
            df[df.geometry.name] = df.geometry.centroid
    if clip:
        return _clip(df, area)
    return df


def _clip(df, area):
    """df's geometries cut to area, multi-part results as one row per part
    (GeoDataFrame.clip without needing a spatial index)."""
    cut = df.geometry.intersection(area)
    out = df.copy()
    out[df.geometry.name] = cut
    out = out[cut.notna() & ~cut.is_empty]
    return out.explode(index_parts=False)
