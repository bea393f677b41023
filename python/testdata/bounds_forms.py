"""bounds and bbox as their annotations want them: a fused.types.Bounds list, a
GeoDataFrame; x, y and z as the request gives them."""
import geopandas as gpd

import fused


@fused.udf
def udf(bounds: fused.types.Bounds = None, bbox: gpd.GeoDataFrame = None, x: int = None, y: int = None,
        z: int = None, label: str = ""):
    return {
        "bounds": [list(bounds), type(bounds).__name__] if bounds is not None else None,
        "bbox": {"type": type(bbox).__name__, "wkt": [g.wkt for g in bbox.geometry],
                 "columns": [str(c) for c in bbox.columns], "crs": bbox.crs.to_string()} if bbox is not None else None,
        "x": x, "y": y, "z": z,
        "types": [type(v).__name__ for v in (x, y, z)],
        "label": label,
    }
