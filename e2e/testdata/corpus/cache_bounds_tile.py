# Fused docs: core-concepts/cache.mdx (https://docs.fused.io/core-concepts/cache),
#   "Advanced" > "Caching & bounds".
# Data swapped: none (fused.load of the public common UDF is served offline).
import fused


@fused.udf
def udf(bounds: fused.types.Bounds=None):

    @fused.cache
    def fn(bounds):
        # convert bounds to tile
        common = fused.load("https://github.com/fusedio/udfs/tree/b672adc/public/common/")
        zoom = common.estimate_zoom(bounds)
        tile = common.get_tiles(bounds, zoom=zoom)
        return tile

    return fn(bounds)
