# Fused docs: core-concepts/cache.mdx (https://docs.fused.io/core-concepts/cache),
#   "Defining your cache lifetime: cache_max_age" (@fused.udf(cache_max_age="24h")).
# Data swapped: none in the code: the test passes path= a GeoJSON it writes.
# Restored: `import geopandas as gpd`.
import fused


@fused.udf(cache_max_age="24h") # This UDF will be cached for 24h after its initial run
def udf(path):
    import geopandas as gpd

    gdf = gpd.read_file(path)

    return gdf
