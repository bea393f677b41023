"""WebMercatorQuad arithmetic for the Python side (mirrors the Go `tiles` package)."""
import math

EARTH_RADIUS = 6378137.0
ORIGIN = math.pi * EARTH_RADIUS
MAX_LAT = 85.0511287798066
# How close (metres) a box edge must be to a tile edge to lie on it, as in Go's
# tiles.Cover: a box made of a tile's own bounds covers that tile, not its neighbours.
EDGE_TOLERANCE = 1e-6


def tile_bounds(x, y, z):
    """[west, south, east, north] of tile z/x/y in degrees."""
    n = 2.0 ** z

    def lat(yy):
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * yy / n))))

    return [x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)]


def lonlat_to_mercator(lon, lat):
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    return lon * ORIGIN / 180.0, math.log(math.tan((90.0 + lat) * math.pi / 360.0)) * EARTH_RADIUS


def lonlat_to_tile(lon, lat, z):
    """The tile of zoom z that contains the point."""
    n = 2 ** z
    x, y = lonlat_to_mercator(lon, lat)
    size = 2 * ORIGIN / n
    tx, ty = int(math.floor((x + ORIGIN) / size)), int(math.floor((ORIGIN - y) / size))
    return min(max(tx, 0), n - 1), min(max(ty, 0), n - 1)


def tile_range(bounds, z):
    """(minx, miny, maxx, maxy), inclusive, of the tiles of zoom z that bounds
    intersect; a box that only touches a tile's edge does not include that tile."""
    w, s, e, n = bounds
    count = 2 ** z
    size = 2 * ORIGIN / count

    def grid(d):
        f = d / size
        r = round(f)
        return r if abs(f - r) * size < EDGE_TOLERANCE else f

    x0, y0 = lonlat_to_mercator(w, s)
    x1, y1 = lonlat_to_mercator(e, n)
    minx, maxx = math.floor(grid(x0 + ORIGIN)), math.ceil(grid(x1 + ORIGIN)) - 1
    miny, maxy = math.floor(grid(ORIGIN - y1)), math.ceil(grid(ORIGIN - y0)) - 1
    maxx, maxy = max(maxx, minx), max(maxy, miny)

    def clamp(v):
        return min(max(int(v), 0), count - 1)

    return clamp(minx), clamp(miny), clamp(maxx), clamp(maxy)


def count_covering(bounds, z):
    """How many tiles of zoom z bounds intersect, without listing them."""
    x0, y0, x1, y1 = tile_range(bounds, z)
    return (x1 - x0 + 1) * (y1 - y0 + 1)


def tiles_covering(bounds, z):
    """Every (x, y) of zoom z that intersects bounds, row by row."""
    x0, y0, x1, y1 = tile_range(bounds, z)
    return [(x, y) for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)]
