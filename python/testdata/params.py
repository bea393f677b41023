"""Echoes each parameter with the Python type it arrived as."""
import datetime
from typing import List, Tuple

import fused
from shapely.geometry.base import BaseGeometry


def typed(v):
    return [v, type(v).__name__]


@fused.udf
def udf(
    bounds: fused.types.Bounds = None,
    i: int = 1,
    f: float = 0.5,
    b: bool = False,
    s: str = "text",
    l: list = None,
    d: dict = None,
    li: List[int] = None,
    tf: Tuple[float, float] = None,
    geom: BaseGeometry = None,
    plain="p",
    when=datetime.date(2020, 1, 2),
    **kwargs,
):
    return {
        "bounds": [list(bounds), type(bounds).__name__] if bounds is not None else None,
        "i": typed(i),
        "f": typed(f),
        "b": typed(b),
        "s": typed(s),
        "l": typed(l),
        "d": typed(d),
        "li": [li, [type(v).__name__ for v in li]] if li is not None else None,
        "tf": [list(tf), type(tf).__name__] if tf is not None else None,
        "geom": [geom.wkt, geom.geom_type] if geom is not None else None,
        "plain": typed(plain),
        "when": typed(str(when)) if isinstance(when, datetime.date) else typed(when),
        "when_type": type(when).__name__,
        "kwargs": {k: typed(v) for k, v in kwargs.items()},
    }
