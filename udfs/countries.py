import fused


@fused.udf
def udf(bounds: fused.types.Bounds = None, min_pop_millions: int = 0):
    """Natural Earth countries (bundled with geopandas) that meet the bounds and have
    at least min_pop_millions inhabitants."""
    import warnings

    import geopandas as gpd
    from shapely.geometry import box

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bundled datasets are deprecated, not gone
        path = gpd.datasets.get_path("naturalearth_lowres")
    gdf = gpd.read_file(path)
    gdf = gdf[gdf["pop_est"] >= min_pop_millions * 1_000_000]
    if bounds is not None:
        gdf = gdf[gdf.intersects(box(*bounds))]
    return gdf[["name", "iso_a3", "continent", "pop_est", "geometry"]]
