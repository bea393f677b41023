# Fused docs: blog/2024-09-23-kristin/index.mdx (https://docs.fused.io/blog/2024-09-23-kristin),
#   "Predictor Variable: Navigating the NetCDF": a NetCDF grid cut to the tile with the common
#   UDF's get_da, clip_arr and get_da_bounds, coloured with arr_to_plasma.
# Data swapped: path 's3://fused-asset/misc/kristin/sif_ann_201508b.nc' -> 'data/corpus/sif_ann_201508b.nc',
#   a NetCDF the test writes: a lon/lat grid over Europe at 0.1 degree whose value grows from
#   0.25 at 0E to 0.5 at 10E ((lon + 10) / 40).
import fused


@fused.udf
def udf(bbox: fused.types.TileGDF=None, path: str='data/corpus/sif_ann_201508b.nc'):
    xy_cols=['lon','lat']
    utils = fused.load("https://github.com/fusedio/udfs/tree/057a273/public/common/").utils
    # Get the data array using the constructed path
    da = utils.get_da(path, coarsen_factor=3, variable_index=0, xy_cols=xy_cols)
    # Clip the array based on the bounding box
    arr_aoi = utils.clip_arr(da.values,
                       bounds_aoi=bbox.total_bounds,
                       bounds_total=utils.get_da_bounds(da, xy_cols=xy_cols))
    # Convert the array to an image with the specified colormap
    img = (arr_aoi*255).astype('uint8')
    return utils.arr_to_plasma(arr_aoi, min_max=(0, 1), colormap="rainbow", include_opacity=False, reverse=True)
