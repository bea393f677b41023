import fused


@fused.udf
def udf():
    import numpy as np
    from shapely.geometry import box

    common = fused.load("https://github.com/fusedio/udfs/tree/abc123/public/common/")
    bounds = [-122.5, 37.7, -122.3, 37.85]
    zoom = common.estimate_zoom(bounds)
    tiles = common.get_tiles(bounds, zoom=12)
    arr = np.linspace(0, 3000, 64 * 64).reshape(64, 64)
    rgb = common.arr_to_plasma(arr, min_max=(0, 3000))
    rgba = common.arr_to_plasma(arr, min_max=(0, 3000), include_opacity=True)
    return {
        "zoom": zoom,
        "world_zoom": common.estimate_zoom([-180, -85, 180, 85]),
        "tile_zoom": common.estimate_zoom(bounds=[-122.431640625, 37.78808138412045, -122.34375, 37.857507156252034]),
        "tiles": [[int(r.x), int(r.y), int(r.z)] for r in tiles.itertuples()],
        "tiles_crs": tiles.crs.to_epsg(),
        "tiles_cover": bool(tiles.unary_union.buffer(1e-9).contains(box(*bounds))),
        "rgb": [str(rgb.dtype), list(rgb.shape)],
        "rgba": [str(rgba.dtype), list(rgba.shape)],
        "alpha_first_last": [int(rgba[3, 0, 0]), int(rgba[3, -1, -1])],
        "colours_differ": bool((rgb[:, 0, 0] != rgb[:, -1, -1]).any()),
    }
