# Fused docs: tutorials/Geospatial with Fused/read-data.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/read-data), "Array Formats (Raster)" > "NetCDF (.nc)".
# Data swapped: 's3://fused-sample/demo_data/climate_data.nc' -> 'data/corpus/climate_data.nc'
#   (a NetCDF of 2000 values the test writes: head(1000) cuts it).
# Restored: `import xarray as xr`.
import fused


@fused.udf
def udf():
    import xarray as xr

    # Download to mount disk for proper NetCDF reading
    path = fused.download('data/corpus/climate_data.nc', 'climate_data.nc')
    
    # Open NetCDF dataset
    ds = xr.open_dataset(path)
    
    return ds.to_dataframe().reset_index().head(1000)
