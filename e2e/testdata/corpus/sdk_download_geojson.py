# Fused docs: python-sdk/top-level-functions.mdx (https://docs.fused.io/python-sdk/top-level-functions),
#   "fused.download" > Examples (geodataframe_from_geojson).
# Data swapped: url "s3://sample_bucket/my_geojson.zip" -> the test's HTTP server on 127.0.0.1
#   (@HTTP@ is replaced by its address), serving a zip of a GeoJSON file.
# Restored: `import geopandas as gpd`.
import fused


@fused.udf
def geodataframe_from_geojson():
    import geopandas as gpd

    url = "@HTTP@/sample_bucket/my_geojson.zip"
    path = fused.core.download(url, "tmp/my_geojson.zip")
    gdf = gpd.read_file(path)
    return gdf
