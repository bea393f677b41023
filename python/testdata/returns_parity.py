"""Return values as Fused serves them (tuples with bounds, frames without
geometry, dicts of frames and arrays, arrays of many dimensions, PIL images);
kind picks one."""
import fused


def block(value=200):
    import numpy as np

    return np.full((16, 16), value, "uint8")


@fused.udf
def udf(kind: str = "xarray_tuple"):
    import numpy as np
    import pandas as pd

    box = [0.0, 0.0, 90.0, 45.0]
    if kind in ("xarray_tuple", "dataset_tuple"):
        import xarray as xr

        # As odc.stac.load returns it: (time, y, x) in EPSG:3857 metres, rows
        # north first; the bounds given with it place it (lon 0..90, lat 0..45).
        data = np.full((1, 20, 30), 99, "uint8")
        data[:, :10, :] = 50  # the northern half
        da = xr.DataArray(data, dims=("time", "y", "x"),
                          coords={"time": [0], "y": np.linspace(5e6, 0, 20), "x": np.linspace(0, 1e7, 30)})
        if kind == "dataset_tuple":
            return xr.Dataset({"data": da}), box
        return da, box
    if kind == "bounds_list":
        return block(), box
    if kind == "bounds_tuple":
        return block(), tuple(box)
    if kind == "bounds_ndarray":
        return block(), np.array(box)
    if kind == "bounds_fused":
        return block(), fused.types.Bounds(box)
    if kind == "bounds_shapely":
        from shapely.geometry import box as shape_box

        return block(), shape_box(*box)
    if kind == "bounds_gdf":
        import geopandas as gpd
        from shapely.geometry import box as shape_box

        return block(), gpd.GeoDataFrame(geometry=[shape_box(*box)], crs=4326)
    if kind == "bounds_gdf3857":
        import geopandas as gpd
        from shapely.geometry import box as shape_box

        return block(), gpd.GeoDataFrame(geometry=[shape_box(*box)], crs=4326).to_crs(3857)
    if kind == "bounds_short":
        return block(), [0.0, 0.0, 90.0]
    if kind == "gdf_no_geometry":
        import geopandas as gpd

        return gpd.GeoDataFrame({"a": [1, 2], "b": ["x", "y"]})
    if kind == "dict_frames":
        import geopandas as gpd
        from shapely.geometry import Point

        return {
            "df": pd.DataFrame({"n": [1, 2], "v": [0.5, np.nan], "when": pd.to_datetime(["2024-01-02", None])}),
            "series": pd.Series([1.5, 2.5]),
            "counts": pd.Series([3, 1], index=["a", "b"]),
            "arr": np.array([[1.0, np.nan], [3.0, 4.0]]),
            "ints": np.arange(3, dtype="int16"),
            "n": np.int64(7),
            "f": np.float32(1.5),
            "ok": np.bool_(True),
            "gdf": gpd.GeoDataFrame({"name": ["p"]}, geometry=[Point(1, 2)], crs=4326),
            "geom": Point(3, 4),
        }
    if kind == "4d":
        # (time, band, y, x): Fused keeps time 0.
        a = np.zeros((2, 3, 16, 16), "uint8")
        a[0, 0], a[0, 1], a[0, 2] = 10, 20, 30
        a[1] = 250
        return a
    if kind == "5d":
        # Singleton axes around an (H, W) array.
        a = np.full((1, 1, 16, 16, 1), 77, "uint8")
        a[0, 0, :, 8:, 0] = 177
        return a
    if kind == "1d":
        return np.arange(5, dtype="uint8")
    if kind in ("pil_rgb", "pil_tuple", "pil_palette"):
        from PIL import Image

        img = Image.new("RGB", (64, 32), (255, 0, 0))
        img.paste((0, 0, 255), (32, 0, 64, 32))  # the right half blue
        if kind == "pil_tuple":
            return img, box
        if kind == "pil_palette":
            p = Image.new("P", (8, 8), 1)
            p.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
            p.info["transparency"] = 0
            p.paste(0, (0, 0, 4, 8))  # the left half transparent
            return p
        return img
    if kind == "tuple":
        return (1, "two", np.arange(3), {"f": np.float64(2.5)}, pd.DataFrame({"a": [1]}))
    raise ValueError("unknown kind %r" % kind)
