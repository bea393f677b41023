"""WebMercatorQuad arithmetic for the Python side (mirrors the Go `tiles` package)."""
import math

ORIGIN = math.pi * 6378137.0
MAX_LAT = 85.0511287798066


def tile_bounds(x, y, z):
    """[west, south, east, north] of tile z/x/y in degrees."""
    n = 2.0 ** z

    def lat(yy):
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * yy / n))))

    return [x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)]


def lonlat_to_tile(lon, lat, z):
    n = 2 ** z
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    x = int((lon + 180.0) / 360.0 * n)
    r = math.radians(lat)
    y = int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def tiles_covering(bounds, z):
    """Every (x, y) of zoom z that intersects bounds."""
    w, s, e, n = bounds
    x0, y0 = lonlat_to_tile(w, n, z)
    x1, y1 = lonlat_to_tile(e, s, z)
    return [(x, y) for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)]
