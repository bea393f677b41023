"""Returns one of each kind of value the server converts; kind picks it."""
import io

import fused


@fused.udf
def udf(kind: str = "uint8"):
    import numpy as np
    import pandas as pd

    if kind == "uint8":
        a = np.zeros((256, 256), "uint8")
        a[:, 128:] = 200
        return a
    if kind == "rgb":
        a = np.zeros((3, 256, 256), "uint8")
        a[0], a[1], a[2] = 10, 20, 30
        return a
    if kind == "rgba":
        a = np.zeros((4, 256, 256), "uint8")
        a[0], a[1], a[2], a[3] = 200, 100, 50, 255
        a[3, :, :128] = 0
        return a
    if kind == "hwc":
        a = np.zeros((256, 256, 3), "uint8")
        a[..., 0] = 250
        return a
    if kind == "float":
        # 0 on the left half, 100 on the right half
        a = np.zeros((256, 256), "float32")
        a[:, 128:] = 100.0
        return a
    if kind == "placed":
        # A 16x16 block placed on lon 0..90, lat 0..45: only the tile's north-east part.
        return np.full((16, 16), 200, "uint8"), [0.0, 0.0, 90.0, 45.0]
    if kind == "masked":
        a = np.full((256, 256), 150, "uint8")
        m = np.zeros((256, 256), bool)
        m[:, :128] = True
        return np.ma.masked_array(a, mask=m)
    if kind == "xarray":
        import xarray as xr

        # Rows run south to north, as netCDF grids often do: 99 south of 22.5°N, 50 north of it.
        lon = np.linspace(0.5, 89.5, 90)
        lat = np.linspace(0.5, 44.5, 45)
        data = np.where(lat[:, None] > 22.5, 50, 99).astype("uint8") * np.ones((1, 90), "uint8")
        return xr.DataArray(data, dims=("lat", "lon"), coords={"lat": lat, "lon": lon})
    if kind == "gdf3857":
        import geopandas as gpd
        from shapely.geometry import Point

        return gpd.GeoDataFrame({"name": ["a"], "n": [3], "pop": [83132799]},
                                geometry=[Point(1113194.9079327357, 0.0)], crs=3857)
    if kind == "gdf_bigint":
        import geopandas as gpd
        from shapely.geometry import Point

        return gpd.GeoDataFrame({"hex": np.array([617700169958293503], "int64")}, geometry=[Point(1, 2)], crs=4326)
    if kind == "geoseries":
        import geopandas as gpd
        from shapely.geometry import Point

        return gpd.GeoSeries([Point(1, 2), Point(3, 4)], crs=4326)
    if kind == "shapely":
        from shapely.geometry import Polygon

        return Polygon([(0, 0), (1, 0), (1, 1), (0, 0)])
    if kind == "df":
        return pd.DataFrame({
            "hex": np.array([617700169958293503, 617700169958293504], "int64"),
            "ids": np.array([5, 2**53 + 1], "int64"),  # one big value: the whole column as strings
            "n": np.array([1, 2], "int64"),
            "name": ["a", "b"],
            "value": [0.5, 1.5e-11],
        })
    if kind == "empty_gdf":
        import geopandas as gpd

        return gpd.GeoDataFrame(geometry=[])
    if kind == "empty_df":
        return pd.DataFrame()
    if kind == "str":
        return "<b>hello</b>"
    if kind == "int":
        return 42
    if kind == "float_value":
        return 1.5
    if kind == "bool":
        return True
    if kind == "dict":
        return {"a": 1, "b": [1, 2], "n": np.int64(7)}
    if kind == "list":
        return [1, "two", 3.0]
    if kind == "bytes":
        return b"\x00\x01raw bytes\xff"
    if kind == "bytesio":
        return io.BytesIO(b"from a BytesIO")
    raise ValueError("unknown kind %r" % kind)
