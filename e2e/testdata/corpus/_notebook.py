"""Fused's notebook snippets, run by TestCorpus with the Python client
(clients/python on PYTHONPATH, UDFTILES_URL the corpus server) under
`import udftiles as fused`: the docs' `import fused` is the one line changed
everywhere. Each snippet cites its page and section, says what was swapped
(layer names of Fused's catalog -> layers of the corpus server) and what was
restored (import lines and text inside {} are lost in fused-docs.txt). Each
one checks what it got and prints "ok <name>"; the test wants them all."""
import asyncio
import os
import time

import geopandas as gpd
import pandas as pd
import udftiles as fused

done = []


def ok(name):
    done.append(name)
    print("ok", name, flush=True)


# --- python-sdk/index.mdx, "Basic API usage" > "Hello World UDF".
# Restored: the f-string's {x + 1}.
@fused.udf
def udf(x: int = 1):
    return f"Hello world {x + 1}"

out = fused.run(udf)
assert out == "Hello world 2", out
ok("sdk_hello_world")


# --- python-sdk/index.mdx, "Basic API usage" > "Simple data UDF".
# Restored: the DataFrame's {"x": range(x)}.
@fused.udf
def udf(x: int = 3):

    return pd.DataFrame({"x": range(x)})

out = fused.run(udf)
assert list(out["x"]) == [0, 1, 2], out
ok("sdk_simple_data")


# --- core-concepts/run-udfs/large_jobs.mdx, "A Simple UDF to demonstrate": run it once
# with fused.run(udf, val=1). Restored: the DataFrame's {"val": [val]}.
@fused.udf
def udf(val):

    return pd.DataFrame({"val": [val]})

# Run this locally in notebook - not in Workbench (no need to do fused.run() in Workbench)
out = fused.run(udf, val=1)
assert out.to_dict("records") == [{"val": 1}], out
ok("large_jobs_run")


# --- core-concepts/best-practices/udf-best-practices.mdx, "Test out your UDFs before running
# them in parallel": debug_mode runs fused.run(udf, inputs[0]). `udf` is the one above;
# `inputs` is ours (the docs leave it to the reader).
inputs = [7, 8, 9]
job = fused.submit(udf, inputs, debug_mode=True)
assert job.to_dict("records") == [{"val": 7}], job
ok("debug_mode")


# --- tutorials/Geospatial with Fused/filetile.mdx, "Single HTTPS Call": fused.run("single_udf").
# Swapped: "single_udf" -> the corpus layer filetile_single_bounds (the docs' Single (Parameter)
# UDF), whose default bounds are then the answer.
out = fused.run("filetile_single_bounds")
assert out == [-74.38, 40.32, -73.31, 41.29], out
ok("filetile_run_single")


# --- filetile.mdx, "Tile HTTPS Call": fused.run("tile_udf", bounds=bounds) and
# fused.run("tile_udf", x=1, y=2, z=3). Swapped: "tile_udf" -> the corpus layer
# cache_bounds_tile (cache.mdx's UDF returning the tile of its bounds); bounds is ours.
bounds = [-122.52, 37.70, -122.35, 37.83]  # San Francisco
# With bounds parameter
out = fused.run("cache_bounds_tile", bounds=bounds)
assert isinstance(out, gpd.GeoDataFrame) and len(out) == 1, out
# With x, y, z parameters
out = fused.run("cache_bounds_tile", x=1, y=2, z=3)
assert (int(out["x"][0]), int(out["y"][0]), int(out["z"][0])) == (1, 2, 3), out
west, south, east, north = out.total_bounds
assert abs(west - -135.0) < 1e-6 and abs(east - -90.0) < 1e-6, out.total_bounds
ok("filetile_run_tile")


# --- core-concepts/write.mdx, "Reserved parameters": x, y, z; a GeoDataFrame; a bounding box
# list. Swapped: "UDF_Overture_Maps_Example" -> the corpus layer filetile_viewport_gdf
# (which returns the bounds it got as a GeoDataFrame). Restored: the FeatureCollection given
# to from_features (a polygon with "id": 1; its braces are lost in fused-docs.txt).
out = fused.run("filetile_viewport_gdf", x=5241, y=12662, z=15)
west, south, east, north = out.total_bounds
assert abs(west - -122.420654296875) < 1e-6 and abs(east - -122.40966796875) < 1e-6, out.total_bounds

bounds = gpd.GeoDataFrame.from_features({"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [
        [[-122.349, 37.781], [-122.341, 37.781], [-122.341, 37.818], [-122.349, 37.818], [-122.349, 37.781]]]},
     "id": 1}]})
out = fused.run("filetile_viewport_gdf", bounds=bounds)
assert [round(v, 3) for v in out.total_bounds] == [-122.349, 37.781, -122.341, 37.818], out.total_bounds

out = fused.run('filetile_viewport_gdf', bounds=[-122.349, 37.781, -122.341, 37.818])
assert [round(v, 3) for v in out.total_bounds] == [-122.349, 37.781, -122.341, 37.818], out.total_bounds
ok("write_reserved_parameters")


# --- core-concepts/cache.mdx, "Defining your cache lifetime": fused.run(udf) and
# fused.run(udf, cache_max_age="12h") of the @fused.udf(cache_max_age="24h") UDF, here the corpus
# layer cache_max_age_read_file (run by name; its path is ours: the test's GeoJSON).
path = os.path.abspath("data/corpus/subway_stations.geojson")
first = fused.run("cache_max_age_read_file", path=path)
again = fused.run("cache_max_age_read_file", path=path, cache_max_age="12h")
assert len(first) == 5 and list(again["name"]) == list(first["name"]), (first, again)
ok("cache_max_age_run")


# --- core-concepts/async.mdx, "Call UDFs asynchronously": parent_fn, as the docs write it;
# udf_to_run_async is a layer of the server (it sleeps 2 s).
async def parent_fn():

    # Parameter to loop through
    dates = ['2020-01-01', '2021-01-01', '2022-01-01', '2023-01-01']

    # Invoke the UDF as coroutines
    promises_dfs = []
    for date in dates:
        df = fused.run("udf_to_run_async", date=date, engine='remote', sync=False)
        promises_dfs.append(df)

    # Run concurrently and collect the results
    dfs = await asyncio.gather(*promises_dfs)
    return pd.concat(dfs)

start = time.time()
df = asyncio.run(parent_fn())
took = time.time() - start
assert list(df["date"]) == ['2020-01-01', '2021-01-01', '2022-01-01', '2023-01-01'], df
assert took < 7.9, "four runs of 2 s took %.1f s: not concurrent" % took
ok("async_parent_fn")


# --- core-concepts/run-udfs/run.mdx, fused.run of the UDF with time.sleep(1), then
# fused.submit over many inputs, then "Wall time vs CPU time". The UDF is the corpus layer
# run_sleep_val (a server job); 6 inputs instead of the docs' 50.
out = fused.run("run_sleep_val", val=1)
assert out.to_dict("records") == [{"val": "1"}], out  # unannotated: a string, as over HTTPS
results = fused.submit("run_sleep_val", list(range(10, 16)), collect=False)  # not val=1: that one is cached
results.wait()
assert results.all_succeeded(), results.status()
assert sorted(int(v) for v in results.collect()["val"]) == list(range(10, 16))
wall = round(results.total_time().seconds + results.total_time().microseconds / 10e6, 2)
cpu = round(sum([t.seconds for t in results.times()]) + sum([t.microseconds for t in results.times()]) / 10e6, 2)
assert cpu >= 5.9 and wall < cpu, (wall, cpu)
ok("run_submit_wall_cpu_time")


# --- core-concepts/run-udfs/large_jobs.mdx, "Multiple Parameters": the docs' job =
# udf(arg_list=[{...}, {...}]); job.run_batch() is a server job here:
# fused.submit("batch_multiple_parameters", arg_list). Restored: the two dicts of arg_list.
arg_list = [{"variables": {"val1": 2, "val2": 3}}, {"variables": {"val1": 4, "val2": 5}}]
job = fused.submit("batch_multiple_parameters", arg_list, collect=False)
job.wait()
assert job.all_succeeded(), job.status()
assert sorted(int(v) for v in job.collect()["output"]) == [6, 20], job.collect()
ok("batch_arg_list_submit")

print("notebook ok:", len(done))
