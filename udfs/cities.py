import fused


@fused.udf
def udf(bounds: fused.types.Bounds = None, limit: int = 50):
    """A table (no geometry): Natural Earth cities inside the bounds, as lon/lat columns."""
    import warnings

    import geopandas as gpd
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = gpd.datasets.get_path("naturalearth_cities")
    gdf = gpd.read_file(path)
    if bounds is not None:
        gdf = gdf.cx[bounds[0]:bounds[2], bounds[1]:bounds[3]]
    df = pd.DataFrame({"name": gdf["name"], "lon": gdf.geometry.x.round(5), "lat": gdf.geometry.y.round(5)})
    return df.sort_values("name").head(limit).reset_index(drop=True)
