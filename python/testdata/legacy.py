import fused


@fused.udf
def udf(bbox=None, x=None, y=None, z=None):
    """Legacy spellings: bbox gets the bounds, x, y and z the tile."""
    return {"bbox": list(bbox) if bbox is not None else None, "type": type(bbox).__name__, "x": x, "y": y, "z": z}
