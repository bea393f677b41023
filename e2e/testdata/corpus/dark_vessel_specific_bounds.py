# Fused docs: tutorials/Geospatial with Fused/use-cases/dark-vessel-detection.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/use-cases/dark-vessel-detection),
#   "4. Retrieving Sentinel 1 images": the UDF overwriting bounds with the area of interest.
# Data swapped: none.
import fused


@fused.udf
def udf(
    bounds: fused.types.Bounds,
):
    # Define our specific bounds
    specific_bounds = [-93.90425364, 29.61879782, -93.72767384, 29.7114987]
    common = fused.load("https://github.com/fusedio/udfs/tree/b672adc/public/common/")
    bounds = common.bounds_to_gdf(specific_bounds)
    return bounds
