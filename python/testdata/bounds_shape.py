"""bounds annotated as a shapely geometry: the geometry given, or the bounds' box."""
from shapely.geometry.base import BaseGeometry

import fused


@fused.udf
def udf(bounds: BaseGeometry = None):
    return {"type": bounds.geom_type, "wkt": bounds.wkt} if bounds is not None else None
