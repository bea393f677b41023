# Fused docs: tutorials/Geospatial with Fused/use-cases/dark-vessel-detection.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/use-cases/dark-vessel-detection),
#   "5. Simple boat detection in Sentinel 1 radar images" (the 2D convolution of the image).
# Data swapped: in get_data, the Microsoft Planetary Computer STAC search and odc.stac.load of
#   "sentinel-1-grd" -> xarray.open_dataset of "data/corpus/sentinel1_grd.nc", a one-time vv image
#   the test writes (three bright boats on dark water), cut to the bounds. The rest is the docs'.
# Restored: `import numpy as np`, `import xarray as xr` and the prints' f-strings.
import fused
import numpy as np


@fused.udf
def udf(
    bounds: fused.types.Bounds,
    bands: list=["vv"],
    resolution: int=10,
    time_of_interest: str="2024-09-03/2024-09-10",
):

    da = get_data(bounds, time_of_interest, resolution, bands)
    image = da.values * 1.0

    convoled_image = quick_convolution(np.array(image), kernel_size=2)

    return convoled_image.astype('uint8')

@fused.cache
def get_data(
    bounds: fused.types.Bounds,
    time_of_interest: str,
    resolution: int,
    bands: list,
    data_name: str="sentinel-1-grd"
):
    """
    Getting Sentinel Data from MPC
    Resolution is defined in meters as we're using EPSG:3857
    """
    import xarray as xr

    # Convert bounds to GeoDataFrame
    common = fused.load("https://github.com/fusedio/udfs/tree/b672adc/public/common/")
    bounds = common.bounds_to_gdf(bounds)

    if resolution < 10:
        print("Resolution shouldn't be lower than Sentinel 1 or 2 native resolution. Bumping to 10m")
        resolution = 10
        print(f"{resolution=}")

    # Data swapped: the STAC search and odc.stac.load -> a local NetCDF, cut to the bounds.
    minx, miny, maxx, maxy = bounds.total_bounds
    ds = xr.open_dataset("data/corpus/sentinel1_grd.nc").sel(x=slice(minx, maxx), y=slice(maxy, miny))
    da = ds[bands[0]].isel(time=0)

    return da

def quick_convolution(input_array, kernel_size):

    shifted_images = []

    # Shifting the image in all combinations of directions (x, y) with padding
    for x in [-kernel_size, 0, kernel_size]:  # Shift left (kernel_size), no shift (0), right (kernel_size)
        for y in [-kernel_size, 0, kernel_size]:  # Shift up (kernel_size), no shift (0), down (kernel_size)
            shifted = pad_and_shift_image(input_array, x, y, pad_value=0, kernel_size=kernel_size)
            shifted_images.append(shifted)

    stacked_image = np.stack(shifted_images)
    return stacked_image.std(axis=0)

def pad_and_shift_image(img, x_shift, y_shift, pad_value=0, kernel_size: int = 3):

    """Pad and shift an image by x_shift and y_shift with specified pad_value."""

    padded_img = np.pad(img, pad_width=kernel_size, mode='constant', constant_values=pad_value)
    shifted_img = np.roll(np.roll(padded_img, y_shift, axis=0), x_shift, axis=1)

    return shifted_img[kernel_size:-kernel_size, kernel_size:-kernel_size]
