# From /work/shared/reference/fused-docs.txt, lines 752-764 ("Caching & `bounds`"),
# unchanged: a Tile UDF that turns its bounds into the covering tile as a GeoDataFrame.
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
