"""A Python client for a udftiles server.

    import udftiles
    udftiles.run("elevation", x=550, y=359, z=10, format="npy")   # a numpy array
    udftiles.run("countries_udf", bounds=[5, 45, 15, 55])         # a GeoDataFrame
    df = udftiles.submit("my_udf", ["2024_09_01", "2024_09_02"])  # one DataFrame
    pool = udftiles.submit("my_udf", dates, collect=False)        # a JobPool
    pool.wait(); pool.status(); pool.df(); pool.collect()

The server is UDFTILES_URL (default http://127.0.0.1:8080) and its bearer token
UDFTILES_TOKEN, or url= and token= of Client. Only the standard library is
needed; numpy, pandas and geopandas turn results into arrays and DataFrames
when they are installed.
"""
from ._jobs import Client, JobPool, ServerError, decode

__all__ = ["Client", "JobPool", "ServerError", "run", "submit", "decode"]


def run(udf, *, x=None, y=None, z=None, bounds=None, url=None, token=None, **params):
    """Run a layer once: a tile with x, y, z, else file mode with optional
    bounds [xmin, ymin, xmax, ymax]; other keywords are its parameters
    (format= picks the encoding)."""
    return Client(url, token).run(udf, x=x, y=y, z=z, bounds=bounds, **params)


def submit(udf, arg_list, *, url=None, token=None, **kwargs):
    """Run a layer once per item of arg_list as a job of the server, as
    fused.submit does: arg_list holds values of its first parameter, dicts
    of parameters, or a DataFrame's rows; max_workers, max_retry (2),
    debug_mode, collect (True: wait and return one DataFrame), cache_max_age,
    cache, ignore_exceptions, flatten; other keywords are constant parameters."""
    return Client(url, token).submit(udf, arg_list, **kwargs)
