import fused


@fused.udf(cache_max_age="1h")
def udf(bounds: fused.types.Bounds = None, azimuth: float = 315.0, altitude: float = 45.0, z_factor: float = 1.0):
    """Hillshade of the demo DEM, computed per tile with rasterio and numpy."""
    import numpy as np
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.transform import from_bounds
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import transform_bounds

    size = 256
    west, south, east, north = transform_bounds("EPSG:4326", "EPSG:3857", *bounds)
    # One pixel of margin on each side so slopes are defined at the tile's edges.
    px = (east - west) / size
    transform = from_bounds(west - px, south - px, east + px, north + px, size + 2, size + 2)
    with rasterio.open("data/demo/elevation.tif") as src, WarpedVRT(
        src, crs="EPSG:3857", transform=transform, width=size + 2, height=size + 2,
        resampling=Resampling.bilinear,
    ) as vrt:
        dem = vrt.read(1, masked=True).astype("float64")

    dy, dx = np.gradient(dem.filled(np.nan) * z_factor, px, px)
    slope = np.arctan(np.hypot(dx, dy))
    aspect = np.arctan2(-dx, dy)
    az, alt = np.radians(360.0 - azimuth + 90.0), np.radians(altitude)
    shade = np.sin(alt) * np.cos(slope) + np.cos(alt) * np.sin(slope) * np.cos(az - aspect)
    shade = np.clip(shade, 0, 1)[1:-1, 1:-1]
    out = np.ma.masked_invalid(shade * 255).astype("uint8")
    out.mask = np.ma.getmaskarray(dem)[1:-1, 1:-1] | ~np.isfinite(shade)
    return out
