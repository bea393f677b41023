# Fused docs: tutorials/Geospatial with Fused/read-data.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/read-data), "Array Formats (Raster)" > "GeoTIFF (.tif, .tiff)".
# Data swapped: 's3://fused-sample/demo_data/satellite_imagery/wildfires.tiff'
#   -> 'data/demo/rgb.tif' (the demo's RGB GeoTIFF in EPSG:4326, so src.bounds are lon/lat).
# Restored: `import rasterio`.
import fused


@fused.udf
def udf(
    path: str = 'data/demo/rgb.tif'
):
    import rasterio

    with rasterio.open(path) as src:
        data = src.read()
        bounds = src.bounds

    return data, bounds
