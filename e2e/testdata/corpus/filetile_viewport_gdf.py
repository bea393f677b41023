# Fused docs: tutorials/Geospatial with Fused/filetile.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/filetile), "[Legacy] fused.types.ViewportGDF".
# Data swapped: none.
import fused


@fused.udf
def udf(bbox: fused.types.ViewportGDF=None):
    print(bbox)
    return bbox
