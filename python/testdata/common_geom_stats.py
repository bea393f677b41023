# common.geom_stats (zonal statistics, fused-docs.txt "return common.geom_stats(gdf, arr)")
# on polygons drawn in pixel space over a Web Mercator grid; the test recomputes each
# mean from the returned pixels.
@fused.udf
def udf(bands: int = 1):
    import geopandas as gpd
    import numpy as np
    from shapely.geometry import Polygon, box

    common = fused.utils.common
    h, w, res = 40, 50, 100.0
    minx, maxy = 1_000_000.0, 6_000_000.0
    data = ((np.arange(h * w).reshape(h, w) * 37) % 101).astype("float64")
    data[5, 7] = np.nan
    if bands > 1:
        data = np.stack([data + 1000 * b for b in range(bands)])

    def to_map(ring):  # pixel (col, row) to metres
        return [(minx + c * res, maxy - r * res) for c, r in ring]

    rings = [
        [(0, 0), (w, 0), (w, h), (0, h)],                  # the whole grid
        [(2, 3), (12, 3), (12, 9), (2, 9)],               # a box holding the NaN pixel
        [(20.2, 10.1), (44.7, 12.3), (30.4, 37.9)],      # a triangle off the pixel grid
        [(60, 50), (70, 50), (70, 60), (60, 60)],         # outside the grid
    ]
    gdf = gpd.GeoDataFrame({"id": list(range(len(rings)))}, geometry=[Polygon(to_map(r)) for r in rings], crs=3857)
    extent = gpd.GeoDataFrame(geometry=[box(minx, maxy - h * res, minx + w * res, maxy)], crs=3857).to_crs(4326)
    by_extent = common.geom_stats(gdf[gdf.id < 3], data, bounds=extent)  # arr over the given bounds
    by_gdf = common.geom_stats(gdf[gdf.id < 3], data)                     # arr over the gdf's extent, as Fused
    with_outside = common.geom_stats(gdf, data, bounds=extent)
    masked = np.ma.masked_array(data, mask=(np.nan_to_num(data) % 10) == 3)
    by_mask = common.geom_stats(gdf[gdf.id < 3], masked, bounds=extent)

    def clean(v):
        if isinstance(v, list):
            return [clean(x) for x in v]
        return None if v != v else float(v)

    return {
        "rings": rings,
        "data": [[None if v != v else float(v) for v in row] for row in (data if bands == 1 else data[0])],
        "stats": clean(list(by_extent["stats"])),
        "stats_by_gdf": clean(list(by_gdf["stats"])),
        "stats_outside": clean(list(with_outside["stats"])),
        "counts": [int(c) for c in with_outside["count"]],
        "stats_masked": clean(list(by_mask["stats"])),
        "kept_columns": list(by_extent.columns),
        "input_untouched": "stats" not in gdf.columns,
    }
