# Fused docs: tutorials/Geospatial with Fused/filetile.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/filetile), "Single (Viewport)"
#   and "Single (Parameter)" (the same code).
# Data swapped: none.
import fused


@fused.udf
def udf(bounds: fused.types.Bounds = [-74.38,40.32,-73.31,41.29]):
    print(bounds) # This will be the `bounds` parameter, regardless of the current MAP VIEWPORT bounds
    return bounds
