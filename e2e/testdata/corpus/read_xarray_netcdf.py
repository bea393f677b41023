# Fused docs: tutorials/Geospatial with Fused/read-data.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/read-data), "Python Packages" > "xarray".
# Data swapped: 's3://fused-sample/demo_data/2025_01_01_ERA5_surface.nc'
#   -> 'data/corpus/2025_01_01_ERA5_surface.nc', a small ERA5-like NetCDF the test writes
#   (fused.download copies a local path into the cache folder as it does a URL).
# Restored: `import xarray as xr`.
import fused


@fused.udf
def udf():
    import xarray as xr

    # Download NetCDF data to mount disk for proper reading
    path = fused.download('data/corpus/2025_01_01_ERA5_surface.nc','2025_01_01_ERA5_surface.nc')
    ds = xr.open_dataset(path)
    
    # Convert to DataFrame
    df = ds.to_dataframe().reset_index()
    
    return df.head(1000)
