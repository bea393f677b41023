# Fused docs: tutorials/Geospatial with Fused/use-cases/dark-vessel-detection.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/use-cases/dark-vessel-detection),
#   "4. Retrieving Sentinel 1 images": the basic UDF returning the area of interest.
# Data swapped: none.
import fused


@fused.udf
def udf(
    bounds: fused.types.Bounds,
):
    common = fused.load("https://github.com/fusedio/udfs/tree/fbf5682/public/common/")
    # Convert bounds to GeoDataFrame using Fused common function
    bounds = common.bounds_to_gdf(bounds)
    return bounds
