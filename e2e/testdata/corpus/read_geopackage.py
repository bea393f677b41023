# Fused docs: tutorials/Geospatial with Fused/read-data.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/read-data), "Table Formats (Vector)" > "GeoPackage (.gpkg)".
# Data swapped: "s3://fused-sample/demo_data/table/US_states_geopackage.gpkg"
#   -> "data/demo/countries.gpkg" (the demo data's Natural Earth countries).
# Restored: `import geopandas as gpd`.
import fused


@fused.udf
def udf(path: str = "data/demo/countries.gpkg"):
    import geopandas as gpd

    return gpd.read_file(path)
