# Fused docs: blog/2024-09-05-dl4eo/index.mdx (https://docs.fused.io/blog/2024-09-05-dl4eo),
#   "Creating a UDF": the tile UDF reading a GeoTIFF with a function of the UDF's utils module.
#   The folder is Fused's saved-UDF layout (dl4eo_tile/dl4eo_tile.py beside utils.py).
# Data swapped: geotiff_file 's3://fused-users/dl4eo/my_image.tif' -> 'data/demo/rgb.tif' (the demo's
#   RGB COG). utils.py is a stand-in of ours: the blog does not show read_geotiff_rgb_3857.
import fused


@fused.udf
def udf(
    bbox: fused.types.TileGDF = None,
    chip_len: int = 256):

    from utils import read_geotiff_rgb_3857

    geotiff_file = 'data/demo/rgb.tif'
    return read_geotiff_rgb_3857(bbox, geotiff_file, output_shape=(chip_len, chip_len))
