"""A Python client for a udftiles server, with Fused's client calls.

    import udftiles
    udftiles.run("elevation", x=550, y=359, z=10, format="npy")   # a numpy array
    udftiles.run("countries_udf", bounds=[5, 45, 15, 55])         # a GeoDataFrame
    udftiles.run("fsh_demo_countries", x=4, y=2, z=3)             # by shared token
    df = udftiles.submit("my_udf", ["2024_09_01", "2024_09_02"])  # one DataFrame
    pool = udftiles.submit("my_udf", dates, collect=False)        # a JobPool
    pool.wait(); pool.status(); pool.df(); pool.collect()

`import udftiles as fused` runs Fused's notebook examples: @fused.udf
functions run in this process (fused.run, fused.submit with engine="local"),
@fused.cache caches any function on disk, fused.run(..., sync=False) is
awaitable. udf.to_fused("name") saves a UDF's code in the server's catalog
(an editor's token); fused.load("name") is a saved UDF (its code, versions,
restore, create_access_token, get_access_tokens, delete); fused.delete("name")
deletes one.

The server is UDFTILES_URL (default http://127.0.0.1:8080; or
udftiles.options.base_url, which options.save() keeps) and its bearer token
UDFTILES_TOKEN, or url= and token=. Only the standard library is needed;
numpy, pandas and geopandas turn results into arrays and DataFrames when they
are installed.
"""
from . import types
from ._cache import cache
from ._jobs import Client, JobPool, ServerError, decode
from ._catalog import AccessToken, RemoteUDF, delete, load, save
from ._local import UDF, LocalJobPool, udf
from ._options import options
from ._run import run, submit

__all__ = ["AccessToken", "Client", "JobPool", "LocalJobPool", "RemoteUDF", "ServerError", "UDF", "cache", "decode",
           "delete", "load", "options", "run", "save", "submit", "types", "udf"]
