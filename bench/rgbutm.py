#!/usr/bin/python3
"""Writes the benchmarks' UTM colour image: a 4096 x 4096 Byte RGB COG in EPSG:32633.

Usage: rgbutm.py OUT.tif

30 m pixels over 450,000..572,880 E, 5,030,000..5,152,880 N (about 14.4-15.9 E,
45.4-46.5 N), every pixel valid. The picture is deterministic: smooth colour fields
with a texture of 6-20 px periods on top, so that two servers' resampling is
compared on detail (nearest against bilinear, or a half-pixel shift, differ by more
than the benchmarks' tolerance) rather than on flat colour. DEFLATE, 256 px blocks,
averaged overviews, as `tileserver demo-data` writes its rasters. Runs with Debian's
/usr/bin/python3 (numpy and GDAL from apt).
"""
import os
import sys

import numpy as np
from osgeo import gdal, osr

SIZE = 4096
PIXEL = 30.0
WEST, NORTH = 450000.0, 5152880.0
EPSG = 32633
ROWS = 256  # written in strips of this many rows

gdal.UseExceptions()


def strip(y0, rows):
    """The 3 x rows x SIZE uint8 pixels of rows y0..y0+rows."""
    y, x = np.mgrid[y0:y0 + rows, 0:SIZE].astype(np.float64)
    u, v = x / SIZE, y / SIZE
    tau = 2 * np.pi
    r = 125 + 55 * np.sin(tau * (3 * u + 0.5 * v)) + 60 * np.sin(tau * x / 6.0 + 1.3 * np.sin(tau * y / 157))
    g = 125 + 50 * np.cos(tau * (2.5 * v - u)) + 40 * np.sin(tau * (x + y) / 13.0)
    b = 110 + 45 * np.sin(tau * 4 * u * v) + 45 * np.cos(tau * y / 7.0) * np.sin(tau * x / 20.0)
    return np.clip(np.rint(np.stack([r, g, b])), 0, 255).astype(np.uint8)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    src = out + ".src.tif"
    ds = gdal.GetDriverByName("GTiff").Create(src, SIZE, SIZE, 3, gdal.GDT_Byte,
                                              ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "PHOTOMETRIC=RGB"])
    ds.SetGeoTransform((WEST, PIXEL, 0, NORTH, 0, -PIXEL))
    sr = osr.SpatialReference()
    sr.ImportFromEPSG(EPSG)
    ds.SetProjection(sr.ExportToWkt())
    for y0 in range(0, SIZE, ROWS):
        a = strip(y0, ROWS)
        for i in range(3):
            ds.GetRasterBand(i + 1).WriteArray(a[i], 0, y0)
    ds.BuildOverviews("AVERAGE", [2, 4, 8, 16])
    tmp = out + ".tmp"
    gdal.Translate(tmp, ds, format="COG",
                   creationOptions=["COMPRESS=DEFLATE", "BLOCKSIZE=256", "OVERVIEWS=FORCE_USE_EXISTING"])
    ds = None
    os.remove(src)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
