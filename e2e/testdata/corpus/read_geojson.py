# Fused docs: tutorials/Geospatial with Fused/read-data.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/read-data), "Table Formats (Vector)" > "GeoJSON (.geojson, .json)".
# Data swapped: "s3://fused-sample/demo_data/table/US_states.geojson"
#   -> "data/corpus/countries.geojson" (geopandas' naturalearth_lowres written as GeoJSON by the test).
# Restored: `import geopandas as gpd`.
import fused


@fused.udf
def udf(path: str = "data/corpus/countries.geojson"):
    import geopandas as gpd

    return gpd.read_file(path)
