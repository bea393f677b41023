# Fused docs: tutorials/Geospatial with Fused/geo-faq.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/geo-faq): the tiles within a geometry
#   with mercantile, `tile_list = list(mercantile.tiles(*bounds,zooms=[15]))`.
# Data swapped: none. The docs run the two lines in a notebook; here they are the body of a UDF
#   (returning the count and the first tile). mercantile is not installed: `import mercantile`
#   is replaced by the built-in `mercantile = fused.utils.common.mercantile`, as docs/udfs.md says.
import fused


@fused.udf
def udf():
    mercantile = fused.utils.common.mercantile

    bounds = [32.4203, -14.0933, 34.6186, -12.42826]

    tile_list = list(mercantile.tiles(*bounds,zooms=[15]))
    return {"count": len(tile_list), "first": list(tile_list[0]), "last": list(tile_list[-1])}
