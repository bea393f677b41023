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


# ---- mercantile's API (mercantile itself is not installed) ----
#
# The same names, arguments and results as mercantile 1.2, so UDFs written with
# `import mercantile` run with `mercantile = fused.utils.common.mercantile` (or
# the functions of `common`) instead.

import collections
import collections.abc

Tile = collections.namedtuple("Tile", ["x", "y", "z"])
LngLat = collections.namedtuple("LngLat", ["lng", "lat"])
LngLatBbox = collections.namedtuple("LngLatBbox", ["west", "south", "east", "north"])
Bbox = collections.namedtuple("Bbox", ["left", "bottom", "right", "top"])

CE = 2 * math.pi * EARTH_RADIUS
EPSILON = 1e-14
LL_EPSILON = 1e-11


class MercantileError(ValueError):
    """A tile, zoom, latitude or quadkey the tile helpers cannot take."""


def _parse_tile_arg(*args):
    """A Tile from tile(x, y, z), tile((x, y, z)) or tile(Tile)."""
    if len(args) == 1:
        args = args[0]
    if len(args) != 3:
        raise MercantileError("the tile must be x, y, z: got %r" % (args,))
    return Tile(*args)


def truncate_lnglat(lng, lat):
    """lng and lat clamped to [-180, 180] and [-90, 90]."""
    return min(max(lng, -180.0), 180.0), min(max(lat, -90.0), 90.0)


def _xy(lng, lat, truncate=False):
    """A point as fractions (0..1) of the world's width and height from the top left."""
    if truncate:
        lng, lat = truncate_lnglat(lng, lat)
    x = lng / 360.0 + 0.5
    sinlat = math.sin(math.radians(lat))
    try:
        y = 0.5 - 0.25 * math.log((1.0 + sinlat) / (1.0 - sinlat)) / math.pi
    except (ValueError, ZeroDivisionError):
        raise MercantileError("y cannot be computed at lat=%r" % (lat,))
    return x, y


def tile(lng, lat, zoom, truncate=False):
    """The Tile of zoom that contains the point lng, lat."""
    x, y = _xy(lng, lat, truncate=truncate)
    z2 = 2.0 ** zoom
    xt = 0 if x <= 0 else int(z2 - 1) if x >= 1 else int(math.floor((x + EPSILON) * z2))
    yt = 0 if y <= 0 else int(z2 - 1) if y >= 1 else int(math.floor((y + EPSILON) * z2))
    return Tile(xt, yt, zoom)


def ul(*t):
    """The upper left corner of a tile, a LngLat."""
    x, y, z = _parse_tile_arg(*t)
    n = 2.0 ** z
    return LngLat(x / n * 360.0 - 180.0, math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n)))))


def bounds(*t):
    """A tile's LngLatBbox(west, south, east, north) in degrees."""
    x, y, z = _parse_tile_arg(*t)
    a, b = ul(x, y, z), ul(x + 1, y + 1, z)
    return LngLatBbox(a.lng, b.lat, b.lng, a.lat)


def xy_bounds(*t):
    """A tile's Bbox(left, bottom, right, top) in Web Mercator metres (EPSG:3857)."""
    x, y, z = _parse_tile_arg(*t)
    size = CE / 2.0 ** z
    left = x * size - CE / 2
    top = CE / 2 - y * size
    return Bbox(left, top - size, left + size, top)


def xy(lng, lat, truncate=False):
    """lng, lat in Web Mercator metres; +-inf at the poles."""
    if truncate:
        lng, lat = truncate_lnglat(lng, lat)
    x = EARTH_RADIUS * math.radians(lng)
    if lat <= -90:
        return x, float("-inf")
    if lat >= 90:
        return x, float("inf")
    return x, EARTH_RADIUS * math.log(math.tan(math.pi * 0.25 + 0.5 * math.radians(lat)))


def lnglat(x, y, truncate=False):
    """Web Mercator metres as a LngLat."""
    lng = math.degrees(x / EARTH_RADIUS)
    lat = math.degrees(math.pi * 0.5 - 2.0 * math.atan(math.exp(-y / EARTH_RADIUS)))
    if truncate:
        lng, lat = truncate_lnglat(lng, lat)
    return LngLat(lng, lat)


def minmax(zoom):
    """The least and greatest x (and y) of zoom."""
    return 0, 2 ** int(zoom) - 1


def tiles(west, south, east, north, zooms, truncate=False):
    """Every Tile of zooms (one zoom or a list) that the box intersects, x then y.

    A box with west > east crosses the antimeridian. A box that only touches a
    tile's east or south edge does not include that tile.
    """
    if truncate:
        west, south = truncate_lnglat(west, south)
        east, north = truncate_lnglat(east, north)
    boxes = [(-180.0, south, east, north), (west, south, 180.0, north)] if west > east else [(west, south, east, north)]
    if not isinstance(zooms, collections.abc.Sequence):
        zooms = [zooms]
    for w, s, e, n in boxes:
        w, s, e, n = max(-180.0, w), max(-85.051129, s), min(180.0, e), min(85.051129, n)
        for z in zooms:
            a = tile(w, n, z)
            b = tile(e - LL_EPSILON, s + LL_EPSILON, z)
            for i in range(a.x, b.x + 1):
                for j in range(a.y, b.y + 1):
                    yield Tile(i, j, z)


def parent(*t, zoom=None):
    """The tile one zoom up (or at zoom) that contains t; None for the zoom-0 tile."""
    x, y, z = _parse_tile_arg(*t)
    if zoom is not None and (z < zoom or zoom != int(zoom)):
        raise MercantileError("zoom must be an integer no deeper than the tile's")
    if x != int(x) or y != int(y) or z != int(z):
        raise MercantileError("the parent of a non-integer tile is undefined")
    target = z - 1 if zoom is None else int(zoom)
    if target < 0:
        return None
    shift = int(z) - target
    return Tile(int(x) >> shift, int(y) >> shift, target)


def children(*t, zoom=None):
    """The tiles one zoom down (or at zoom) within t: top left, top right, bottom
    right, bottom left, as mercantile lists them."""
    tl = _parse_tile_arg(*t)
    if zoom is not None and (tl.z > zoom or zoom != int(zoom)):
        raise MercantileError("zoom must be an integer no shallower than the tile's")
    target = tl.z + 1 if zoom is None else int(zoom)
    out = [tl]
    while out[0].z < target:
        x, y, z = out.pop(0)
        out += [Tile(2 * x, 2 * y, z + 1), Tile(2 * x + 1, 2 * y, z + 1),
                Tile(2 * x + 1, 2 * y + 1, z + 1), Tile(2 * x, 2 * y + 1, z + 1)]
    return out


def neighbors(*t):
    """The up to eight tiles around t at its zoom (fewer at the edges of the world)."""
    x, y, z = _parse_tile_arg(*t)
    top = 2 ** z - 1
    return [Tile(i, j, z) for i in (x - 1, x, x + 1) for j in (y - 1, y, y + 1)
            if (i, j) != (x, y) and 0 <= i <= top and 0 <= j <= top]


def quadkey(*t):
    """A tile's Bing Maps quadkey: one digit (0-3) per zoom."""
    x, y, z = _parse_tile_arg(*t)
    digits = []
    for level in range(z, 0, -1):
        mask = 1 << (level - 1)
        digits.append(str((1 if x & mask else 0) + (2 if y & mask else 0)))
    return "".join(digits)


def quadkey_to_tile(qk):
    """The Tile of a quadkey ("" is the zoom-0 tile)."""
    x = y = 0
    for i, digit in enumerate(reversed(str(qk))):
        if digit not in "0123":
            raise MercantileError("unexpected quadkey digit %r in %r" % (digit, qk))
        d = int(digit)
        x |= (d & 1) << i
        y |= (d >> 1) << i
    return Tile(x, y, len(str(qk)))


def bounding_tile(*bbox, truncate=False):
    """The smallest tile that contains the box (or the point: lng, lat)."""
    bbox = list(bbox[0]) if len(bbox) == 1 else list(bbox)
    if len(bbox) == 2:
        bbox += bbox
    w, s, e, n = bbox
    if truncate:
        w, s = truncate_lnglat(w, s)
        e, n = truncate_lnglat(e, n)
    e, s = e - LL_EPSILON, s + LL_EPSILON
    try:
        tmin, tmax = tile(w, n, 32), tile(e, s, 32)
    except MercantileError:
        return Tile(0, 0, 0)
    cell = (tmin.x, tmin.y, tmax.x, tmax.y)
    z = 28
    for level in range(28):
        mask = 1 << (32 - (level + 1))
        if (cell[0] & mask) != (cell[2] & mask) or (cell[1] & mask) != (cell[3] & mask):
            z = level
            break
    if z == 0:
        return Tile(0, 0, 0)
    return Tile(cell[0] >> (32 - z), cell[1] >> (32 - z), z)


def simplify(*tile_list):
    """The tiles (simplify(t1, t2, ...) or simplify([t1, t2, ...])) with every
    complete set of four siblings merged into their parent, repeatedly; tiles
    inside another listed tile are dropped."""
    if len(tile_list) == 1 and len(tile_list[0]) and not isinstance(tile_list[0][0], (int, float)):
        tile_list = tile_list[0]
    ts = sorted({_parse_tile_arg(t) for t in tile_list}, key=lambda t: t.z)
    kept = set()
    for t in ts:  # drop tiles already covered by a shallower one
        if not any(parent(t, zoom=z) in kept for z in range(t.z)):
            kept.add(t)
    merged = True
    while merged:
        merged = False
        for t in sorted(kept, key=lambda t: -t.z):
            if t not in kept or t.z == 0:
                continue
            p = parent(t)
            kids = children(p)
            if all(k in kept for k in kids):
                kept.difference_update(kids)
                kept.add(p)
                merged = True
    return sorted(kept, key=lambda t: (t.z, t.y, t.x))


def feature(t, fid=None, props=None, projected="geographic", buffer=None, precision=None):
    """A tile as a GeoJSON Feature of its outline (in metres with projected="mercator")."""
    t = _parse_tile_arg(t)
    x, y, z = t
    w, s, e, n = xy_bounds(t) if projected == "mercator" else bounds(t)
    if buffer:
        w, s, e, n = w - buffer, s - buffer, e + buffer, n + buffer
    if precision is not None and precision >= 0:
        w, s, e, n = (round(v, precision) for v in (w, s, e, n))
    f = {"type": "Feature", "bbox": [w, s, e, n], "id": str(t) if fid is None else fid,
         "geometry": {"type": "Polygon", "coordinates": [[[w, s], [w, n], [e, n], [e, s], [w, s]]]},
         "properties": {"title": "XYZ tile %s" % (t,)}}
    if props:
        f["properties"].update(props)
    return f
