"""Offline versions of the helpers UDFs reach through Fused's public `common` UDF:

    common = fused.load("https://github.com/fusedio/udfs/tree/<sha>/public/common/")
    tiles = common.get_tiles(bounds, zoom=12)
    zoom = common.estimate_zoom(bounds)
    rgb = common.arr_to_plasma(arr, min_max=(0, 3000))
"""
import math

from . import _tiles


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


def bounds_to_gdf(bounds, crs=4326):
    """bounds as a one-row GeoDataFrame."""
    import geopandas as gpd
    from shapely.geometry import box
    return gpd.GeoDataFrame(geometry=[box(*_as_bounds(bounds))], crs=crs)
