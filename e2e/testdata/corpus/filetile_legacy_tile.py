# Fused docs: tutorials/Geospatial with Fused/filetile.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/filetile), "[Legacy] fused.types.Tile".
# Data swapped: none. The UDF prints its bounds and returns nothing.
import fused


@fused.udf
def udf(bounds: fused.types.Tile=None):
    print(bounds)
