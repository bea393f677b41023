# From /work/shared/reference/fused-docs.txt, lines 4572-4579, unchanged: the
# viewport as a GeoDataFrame through the common helper bounds_to_gdf.
@fused.udf
def udf(
    bounds: fused.types.Bounds,
):
    common = fused.load("https://github.com/fusedio/udfs/tree/fbf5682/public/common/")
    # Convert bounds to GeoDataFrame using Fused common function
    bounds = common.bounds_to_gdf(bounds)
    return bounds
