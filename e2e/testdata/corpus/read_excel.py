# Fused docs: tutorials/Geospatial with Fused/read-data.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/read-data), "Table Formats (Vector)" > "Excel (.xlsx)".
# Data swapped: "s3://fused-sample/demo_data/table/subway_stations.xlsx"
#   -> "data/corpus/subway_stations.xlsx" (the same five stations, written with openpyxl by the test).
# Restored: `import pandas as pd` and `import geopandas as gpd`.
import fused


@fused.udf
def udf(path: str = "data/corpus/subway_stations.xlsx"):
    import pandas as pd
    import geopandas as gpd

    from shapely.geometry import Point
    
    # Read Excel file
    df = pd.read_excel(path)
    
    # Convert to GeoDataFrame if coordinates exist
    if 'longitude' in df.columns and 'latitude' in df.columns:
        gdf = gpd.GeoDataFrame(
            df,
            geometry=gpd.points_from_xy(df.longitude, df.latitude),
            crs=4326
        )
        return gdf
    
    return df
