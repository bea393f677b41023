import fused


@fused.udf
def udf(bbox: fused.types.TileGDF = None):
    """A legacy Tile UDF: bbox is a GeoDataFrame with x, y, z and the tile's polygon."""
    return bbox
