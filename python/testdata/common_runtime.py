# The Python runtime's packages (docs/udfs.md, "Python runtime"): each imports in a
# worker; the result is each one's version, and which documented-absent ones are absent.
@fused.udf
def udf():
    import importlib
    import importlib.metadata

    dists = {"scipy": "scipy", "skimage": "scikit-image", "rioxarray": "rioxarray", "pyproj": "pyproj",
             "fiona": "Fiona", "boto3": "boto3", "fsspec": "fsspec", "dotenv": "python-dotenv",
             "openpyxl": "openpyxl", "netCDF4": "netCDF4", "h5py": "h5py", "zarr": "zarr", "dask": "dask",
             "PIL": "Pillow", "rtree": "Rtree", "requests": "requests", "numpy": "numpy", "pandas": "pandas", "geopandas": "geopandas",
             "shapely": "shapely", "rasterio": "rasterio", "osgeo": "GDAL", "xarray": "xarray", "matplotlib": "matplotlib"}
    versions, errors = {}, {}
    for mod, dist in dists.items():
        try:
            m = importlib.import_module(mod)
        except Exception as e:
            errors[mod] = "%s: %s" % (type(e).__name__, e)
            continue
        v = getattr(m, "__version__", None)
        if not v:
            try:
                v = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                v = "unknown"
        versions[mod] = str(v)
    # what they are for, exercised once each
    import dask.array as da
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    import xarray as xr
    from skimage.filters import sobel
    import numpy as np
    checks = {
        "dask_sum": int(da.ones((100, 100), chunks=10).sum().compute()),
        "rio_accessor": hasattr(xr.DataArray(np.zeros((2, 2)), dims=("y", "x")), "rio"),
        "sobel_shape": list(sobel(np.eye(8)).shape),
    }
    absent = {}
    for mod in ("pyarrow", "duckdb", "h3", "s3fs", "pystac", "mercantile"):
        try:
            importlib.import_module(mod)
            absent[mod] = False
        except ImportError:
            absent[mod] = True
    return {"versions": versions, "errors": errors, "checks": checks, "absent": absent}
