# Fused docs: tutorials/Geospatial with Fused/geospatial-data-ingestion/why-ingestion.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/geospatial-data-ingestion/why-ingestion),
#   "1. Reading directly from CSV" (from_csv_df_udf).
# Data swapped: path "s3://your-bucket/your-dir/demo_reading_ais/AIS_2024_01_01.csv"
#   -> "data/corpus/AIS_2024_01_01_100k_points.csv" (written by the test).
# Restored: `import pandas as pd` and `import geopandas as gpd`.
import fused


@fused.udf
def from_csv_df_udf(
    bounds: fused.types.Bounds,
    path: str = "data/corpus/AIS_2024_01_01_100k_points.csv"
):
    import pandas as pd
    import geopandas as gpd

    common = fused.load("https://github.com/fusedio/udfs/tree/b672adc/public/common/")
    bounds = common.bounds_to_gdf(bounds)
    df = pd.read_csv(path)
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.LON, df.LAT))
    bounds_ais = gdf[gdf.geometry.within(bounds.iloc[0].geometry)]
    return bounds_ais
