"""fused.run of a local UDF with bounds given as a GeoDataFrame, a shapely
geometry or GeoJSON: the UDF gets them as its annotations want them."""
import os

import fused


@fused.udf
def udf(kind: str = "gdf"):
    import geopandas as gpd
    from shapely.geometry import Polygon

    forms = fused.load(os.path.join(os.path.dirname(__file__), "bounds_forms.py"))
    shape = fused.load(os.path.join(os.path.dirname(__file__), "bounds_shape.py"))
    tri = Polygon([(0, 0), (10, 0), (10, 5)])
    if kind == "gdf":
        given = gpd.GeoDataFrame({"id": [1]}, geometry=[tri], crs=4326)
    elif kind == "shapely":
        given = tri
    else:
        given = {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 5], [0, 0]]]}
    return {"forms": fused.run(forms, bounds=given), "shape": fused.run(shape, bounds=given)}
