"""pd.DataFrame and gpd.GeoDataFrame parameters, as Fused builds them from JSON
and GeoJSON; echoes what arrived."""
import geopandas as gpd
import pandas as pd

import fused


@fused.udf
def udf(df: pd.DataFrame = None, gdf: gpd.GeoDataFrame = None, opt: "gpd.GeoDataFrame" = None):
    out = {}
    for name, v in (("df", df), ("gdf", gdf), ("opt", opt)):
        if v is None:
            continue
        geo = isinstance(v, gpd.GeoDataFrame)
        out[name] = {
            "type": type(v).__name__,
            "columns": [str(c) for c in v.columns],
            "rows": pd.DataFrame(v.drop(columns="geometry") if geo else v).to_dict("records"),
            "wkt": [g.wkt if g is not None else None for g in v.geometry] if geo else None,
            "crs": v.crs.to_string() if geo and v.crs is not None else None,
        }
    return out
