#!/usr/bin/python3
"""Checks that udftiles and a peer drew the same pictures before their speed is compared.

Usage: parity.py DIR [PEER]   (DIR holds pairs NAME.udftiles.png / NAME.PEER.png; PEER
                               defaults to mapserver: bench/run.sh; bench/export.sh passes
                               gdal2tiles)
       parity.py --drawn PNG...  prints the largest share of drawn (not transparent) pixels
                               among the files: tiles only one tool wrote are to be slivers

A pixel counts as different when one side is transparent and the other is not, or when both
are opaque and a colour channel differs by more than TOLERANCE (MapServer's colour ramp is a
16-segment approximation of plasma). Prints one summary line; exits 1 when more than
MAX_DIFFERENT of all pixels differ, i.e. when the two servers did not render the same thing.
Tiles named z_x_y are also summed by zoom, and the summary gives each zoom's share.
Runs with Debian's /usr/bin/python3 (numpy and GDAL from apt).
"""
import glob
import os
import sys

import numpy as np
from osgeo import gdal

TOLERANCE = 16
MAX_DIFFERENT = 0.05

gdal.UseExceptions()


def rgba(path):
    """Reads a PNG as a 4 x H x W uint8 RGBA array, whatever its colour type."""
    ds = gdal.Open(path)
    band1 = ds.GetRasterBand(1)
    ct = band1.GetColorTable()
    if ct is not None:
        idx = band1.ReadAsArray()
        lut = np.zeros((256, 4), dtype=np.uint8)
        for i in range(ct.GetCount()):
            lut[i] = ct.GetColorEntry(i)[:4]
        return np.moveaxis(lut[idx], -1, 0)
    a = ds.ReadAsArray()
    if a.ndim == 2:
        a = a[None]
    if a.shape[0] in (1, 2):  # grey, grey + alpha
        grey, alpha = a[0], (a[1] if a.shape[0] == 2 else np.full_like(a[0], 255))
        a = np.stack([grey, grey, grey, alpha])
    elif a.shape[0] == 3:
        a = np.concatenate([a, np.full_like(a[:1], 255)])
    return a.astype(np.uint8)


def drawn(paths):
    """Prints the largest share of drawn pixels among paths, and which file has it."""
    worst, name = 0.0, ""
    for p in paths:
        share = (rgba(p)[3] > 0).mean()
        if share >= worst:
            worst, name = share, p
    print(f"{100 * worst:.2f}% (tile {'/'.join(name.removesuffix('.png').split('/')[-3:])})")


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--drawn":
        drawn(sys.argv[2:])
        return
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    peer = sys.argv[2] if len(sys.argv) == 3 else "mapserver"
    pairs = sorted(glob.glob(os.path.join(sys.argv[1], "*.udftiles.png")))
    if not pairs:
        sys.exit("parity: no tile pairs in " + sys.argv[1])
    total = different = 0
    worst_name, worst = "", 0.0
    by_zoom = {}  # zoom: [different, total]
    for u_path in pairs:
        m_path = u_path.replace(".udftiles.png", "." + peer + ".png")
        u, m = rgba(u_path).astype(int), rgba(m_path).astype(int)
        if u.shape != m.shape:
            sys.exit(f"parity: {os.path.basename(u_path)}: shapes differ {u.shape} vs {m.shape}")
        u_on, m_on = u[3] > 0, m[3] > 0
        colour = np.abs(u[:3] - m[:3]).max(axis=0) > TOLERANCE
        diff = (u_on != m_on) | (u_on & m_on & colour)
        total += diff.size
        different += int(diff.sum())
        zoom = os.path.basename(u_path).split("_")[0]
        if zoom.isdigit():
            z = by_zoom.setdefault(int(zoom), [0, 0])
            z[0] += int(diff.sum())
            z[1] += diff.size
        frac = diff.mean()
        if frac >= worst:
            worst_name, worst = os.path.basename(u_path).split(".")[0], frac
    share = different / total
    zooms = ", ".join(f"z{z} {100 * d / n:.2f}%" for z, (d, n) in sorted(by_zoom.items()))
    print(f"{len(pairs)} tiles, {100 * share:.2f}% of pixels differ "
          f"(worst tile {worst_name.replace('_', '/')}: {100 * worst:.2f}%"
          + (f"; by zoom: {zooms}" if zooms else "") + ")")
    sys.exit(1 if share > MAX_DIFFERENT else 0)


if __name__ == "__main__":
    main()
