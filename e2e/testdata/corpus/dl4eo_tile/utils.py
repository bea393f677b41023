# NOT from the docs: a stand-in for the utils module of blog/2024-09-05-dl4eo's UDF (the blog
# does not show it). As the blog describes it: the tile's bounding box to Web Mercator, the part of
# the GeoTIFF under it projected onto a grid of output_shape, here with the common UDF's read_tiff.
import fused


def read_geotiff_rgb_3857(bbox, geotiff_file, output_shape=(256, 256)):
    common = fused.load("https://github.com/fusedio/udfs/tree/main/public/common/")
    arr = common.read_tiff(bbox, geotiff_file, output_shape=output_shape)
    return arr.filled(0).astype("uint8")
