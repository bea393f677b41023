# Fused docs: tutorials/Geospatial with Fused/read-data.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/read-data), "Python Packages" > "geopandas".
# Data swapped: path "s3://fused-sample/demo_data/subway_stations.geojson"
#   -> "data/corpus/subway_stations.geojson" (five NYC stations the test writes).
# Restored: `import geopandas as gpd`.
import fused


@fused.udf
def udf(path: str = "data/corpus/subway_stations.geojson"):
    import geopandas as gpd

    return gpd.read_file(path)
