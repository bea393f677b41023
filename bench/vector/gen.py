#!/usr/bin/python3
"""Writes the vector benchmark's polygons as CSV with a WKT column (plus a .csvt of types).

N axis-aligned rectangles over Europe (lon -10..30, lat 35..60), in EPSG:4326, each side
log-uniform in [0.0005, 0.05] degrees, deterministic for a seed. Columns: WKT, id (Integer),
value (Real, uniform 0..1000), name (String, one of eight land-cover classes).

    /usr/bin/python3 bench/vector/gen.py OUT.csv [N] [SEED]
"""
import sys

import numpy as np

CLASSES = np.array(["forest", "water", "urban", "farmland", "meadow", "wetland", "rock", "ice"])
BOX = (-10.0, 35.0, 30.0, 60.0)
MIN_SIDE, MAX_SIDE = 0.0005, 0.05
CHUNK = 100_000


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    rng = np.random.default_rng(seed)
    x = rng.uniform(BOX[0], BOX[2], n)
    y = rng.uniform(BOX[1], BOX[3], n)
    lo, hi = np.log(MIN_SIDE), np.log(MAX_SIDE)
    w = np.exp(rng.uniform(lo, hi, n))
    h = np.exp(rng.uniform(lo, hi, n))
    # keep every rectangle inside the box
    x = np.minimum(x, BOX[2] - w)
    y = np.minimum(y, BOX[3] - h)
    value = rng.uniform(0, 1000, n)
    cls = rng.integers(0, len(CLASSES), n)
    with open(out, "w", encoding="ascii") as f:
        f.write("WKT,id,value,name\n")
        for s in range(0, n, CHUNK):
            e = min(n, s + CHUNK)
            x0 = np.char.mod("%.7f", x[s:e])
            y0 = np.char.mod("%.7f", y[s:e])
            x1 = np.char.mod("%.7f", x[s:e] + w[s:e])
            y1 = np.char.mod("%.7f", y[s:e] + h[s:e])
            v = np.char.mod("%.3f", value[s:e])
            names = CLASSES[cls[s:e]]
            f.writelines(
                f'"POLYGON (({a} {b},{c} {b},{c} {d},{a} {d},{a} {b}))",{i},{val},{nm}\n'
                for a, b, c, d, i, val, nm in zip(x0, y0, x1, y1, range(s, e), v, names)
            )
    with open(out[: -len(".csv")] + ".csvt", "w", encoding="ascii") as f:
        f.write("WKT,Integer,Real,String\n")


if __name__ == "__main__":
    main()
