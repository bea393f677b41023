"""Parameter types of Fused UDFs, as the server's `fused` module has them.

`Bounds` is the one to use: [xmin, ymin, xmax, ymax] in lon/lat. The others are
legacy types older UDFs still annotate with; a local run fills each of them
from x, y, z or bounds.
"""


class Bounds(list):
    """[xmin, ymin, xmax, ymax] in EPSG:4326 degrees."""


class Tile:
    """Legacy: a GeoDataFrame with one row: x, y, z and the tile's polygon."""


class TileGDF(Tile):
    """Legacy: the same as Tile."""


class TileXYZ(Tile):
    """Legacy: the same as Tile."""


class ViewportGDF:
    """Legacy: a GeoDataFrame with the polygon of the requested bounds."""


class Bbox(ViewportGDF):
    """Legacy: the same as ViewportGDF."""
