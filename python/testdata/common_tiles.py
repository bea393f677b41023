# mercantile's functions as the common helpers carry them (mercantile itself is not
# installed): the test compares them with the Go tiles package and known values.
@fused.udf
def udf(points: list = [], tiles: list = [], boxes: list = []):
    common = fused.load("https://github.com/fusedio/udfs/blob/main/public/common/")
    utils = fused.load("https://github.com/fusedio/udfs/tree/f928ee1/public/common/").utils
    m = common.mercantile
    same = all(getattr(fused.utils.common, n) is getattr(utils, n) is getattr(m, n)
               for n in ("tile", "bounds", "xy_bounds", "tiles", "parent", "children", "quadkey"))
    return {
        "same_functions": same,
        "tile": [list(common.tile(lon, lat, z)) for lon, lat, z in points],
        "bounds": [list(common.bounds(x, y, z)) for x, y, z in tiles],
        "bounds_of_tile": [list(common.bounds(common.Tile(x, y, z))) for x, y, z in tiles],
        "xy_bounds": [list(common.xy_bounds((x, y, z))) for x, y, z in tiles],
        "parent": [list(common.parent(x, y, z)) if z > 0 else None for x, y, z in tiles],
        "parent_z0": [list(common.parent(x, y, z, zoom=0)) for x, y, z in tiles if z > 0],
        "children": [[list(c) for c in common.children(x, y, z)] for x, y, z in tiles],
        "grandchildren": [len(common.children(x, y, z, zoom=z + 2)) for x, y, z in tiles],
        "quadkey": [common.quadkey(x, y, z) for x, y, z in tiles],
        "quadkey_back": [list(common.quadkey_to_tile(common.quadkey(x, y, z))) for x, y, z in tiles],
        "tiles": [[list(t) for t in common.tiles(w, s, e, n, [z])] for w, s, e, n, z in boxes],
        "bounding_tile": [list(common.bounding_tile(w, s, e, n)) for w, s, e, n, _ in boxes],
        "xy": [list(common.xy(lon, lat)) for lon, lat, _ in points],
        "lnglat": [list(common.lnglat(*common.xy(lon, lat))) for lon, lat, _ in points],
        "ul": [list(common.ul(x, y, z)) for x, y, z in tiles],
        "neighbors_corner": sorted(list(t) for t in common.neighbors(0, 0, 3)),
        "simplify": sorted(list(t) for t in common.simplify(common.children(5, 9, 4) + [common.Tile(0, 0, 4)])),
        "feature_title": common.feature((1, 2, 3))["properties"]["title"],
        "antimeridian": [list(t) for t in common.tiles(179.5, -1, -179.5, 1, 3)],
    }
