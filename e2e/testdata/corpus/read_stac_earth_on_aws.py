# Fused docs: tutorials/Geospatial with Fused/read-data.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/read-data), "STAC Catalog" > "Earth on AWS"
#   (returns an xarray DataArray with its bounds).
# Data swapped: the STAC search of Element 84's catalog (pystac_client) and odc.stac.load of
#   "cop-dem-glo-30" -> rioxarray's open of the demo DEM ("data/demo/elevation.tif"), reprojected to
#   crs="EPSG:3857" at resolution=150 and cut to bbox=bounds, as odc.stac.load(crs=, resolution=, bbox=)
#   does, into a Dataset of one variable "data". pystac_client and odc-stac are not installed.
# Restored: `import rioxarray`.
import fused


@fused.udf
def udf(
    bounds: fused.types.Bounds = [-77.083, 38.804, -76.969, 38.983],
):
    import rioxarray

    # Data swapped: the STAC search and odc.stac.load of the elevation model -> the demo DEM.
    xarray_dataset = (
        rioxarray.open_rasterio("data/demo/elevation.tif", masked=True)
        .squeeze("band", drop=True)
        .rio.reproject("EPSG:3857", resolution=150)
        .rio.clip_box(*bounds, crs="EPSG:4326")
        .to_dataset(name="data")
    ).fillna(0).astype(int)

    return xarray_dataset["data"], bounds
