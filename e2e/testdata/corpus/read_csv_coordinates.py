# Fused docs: tutorials/Geospatial with Fused/read-data.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/read-data), "Table Formats (Vector)" > "CSV with coordinates (.csv)".
# Data swapped: "s3://fused-sample/demo_data/table/subway_stations.csv"
#   -> "data/corpus/subway_stations.csv" (five NYC stations the test writes).
# Restored: `import pandas as pd` and `import geopandas as gpd`.
import fused


@fused.udf
def udf(path: str = "data/corpus/subway_stations.csv"):
    import pandas as pd
    import geopandas as gpd

    from shapely.geometry import Point
    
    # Read CSV
    df = pd.read_csv(path)
    
    # Convert to GeoDataFrame
    gdf = gpd.GeoDataFrame(
        df, 
        geometry=gpd.points_from_xy(df.longitude, df.latitude),
        crs=4326
    )
    
    return gdf
