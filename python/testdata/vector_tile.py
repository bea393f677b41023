"""The countries in the bounds as a GeoDataFrame with a column of each type, for
vector tiles. buffer is the UDF's own parameter, as in UDFs of Fused's docs: it
grows each country by that many degrees."""
import fused


@fused.udf
def udf(bounds: fused.types.Bounds = None, buffer: float = 0.0):
    import geopandas as gpd

    gdf = gpd.read_file(gpd.datasets.get_path("naturalearth_lowres"))
    if bounds is not None:
        xmin, ymin, xmax, ymax = bounds
        gdf = gdf.cx[xmin:xmax, ymin:ymax]
    gdf = gdf.copy()
    gdf["rank"] = range(len(gdf))
    gdf["share"] = gdf["pop_est"] / 1e9
    gdf["big"] = gdf["pop_est"] > 1e8
    gdf["tags"] = [{"iso": iso, "n": [1, 2]} for iso in gdf["iso_a3"]]
    gdf["note"] = None
    if buffer:
        gdf["geometry"] = gdf.buffer(buffer)
    return gdf
