"""Writes the local data the corpus UDFs read instead of Fused's S3 and HTTP
sources, under data/corpus/ of the working directory (the server's), and
data/corpus/expected.json with what the test checks that depends on it.

Run by TestCorpus with /usr/bin/python3 in the server's working directory,
where data/demo is the demo data (`tileserver demo-data`)."""
import json
import math
import os
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import xarray as xr
from rasterio.transform import from_bounds
from shapely.geometry import Point, box

OUT = "data/corpus"
os.makedirs(OUT, exist_ok=True)
expected = {}


def tile_of(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y, z


def tile_bounds(x, y, z):
    n = 2 ** z

    def lat(yy):
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * yy / n))))
    return [x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)]


# --- AIS points (NOAA's columns): core-concepts/cache.mdx, why-ingestion.mdx
rng = np.random.RandomState(7)
n_in, n_out = 400, 1600
west, south, east, north = -81.47717632893792, 30.46235012285108, -81.33723531132267, 30.58447317149745
lon = np.concatenate([rng.uniform(west, east, n_in), rng.uniform(-100, -70, n_out)])
lat = np.concatenate([rng.uniform(south, north, n_in), rng.uniform(20, 45, n_out)])
ais = pd.DataFrame({
    "MMSI": rng.randint(200000000, 799999999, n_in + n_out),
    "BaseDateTime": pd.date_range("2024-01-01", periods=n_in + n_out, freq="43s").strftime("%Y-%m-%dT%H:%M:%S"),
    "LAT": lat.round(5),
    "LON": lon.round(5),
    "SOG": rng.uniform(0, 20, n_in + n_out).round(1),
    "VesselName": ["VESSEL %d" % i for i in range(n_in + n_out)],
    "Length": rng.randint(5, 300, n_in + n_out),
})
ais.to_csv(os.path.join(OUT, "AIS_2024_01_01_100k_points.csv"), index=False)

# --- a table folder: ingest-your-data.mdx reads one with table_to_tile
os.makedirs(os.path.join(OUT, "cities"), exist_ok=True)
shutil.copyfile("data/demo/cities.fgb", os.path.join(OUT, "cities", "cities.fgb"))

# --- five subway stations: read-data.mdx (GeoJSON, CSV, Excel)
stations = pd.DataFrame({
    "name": ["Times Sq-42 St", "Grand Central-42 St", "Union Sq-14 St", "Atlantic Av-Barclays Ctr", "Fulton St"],
    "line": ["1-2-3", "4-5-6", "L", "B-Q", "A-C"],
    "longitude": [-73.9870, -73.9768, -73.9903, -73.9777, -74.0078],
    "latitude": [40.7553, 40.7527, 40.7356, 40.6843, 40.7102],
})
stations.to_csv(os.path.join(OUT, "subway_stations.csv"), index=False)
stations.to_excel(os.path.join(OUT, "subway_stations.xlsx"), index=False)
gpd.GeoDataFrame(stations, geometry=gpd.points_from_xy(stations.longitude, stations.latitude), crs=4326).to_file(
    os.path.join(OUT, "subway_stations.geojson"), driver="GeoJSON")

# --- countries as GeoJSON: read-data.mdx's US_states.geojson
gpd.read_file(gpd.datasets.get_path("naturalearth_lowres")).to_file(os.path.join(OUT, "countries.geojson"), driver="GeoJSON")

# --- NetCDF: read-data.mdx (ERA5 surface, climate data)
era5 = xr.Dataset(
    {"t2m": (("time", "latitude", "longitude"), np.arange(24, dtype="float32").reshape(2, 3, 4) + 270),
     "sp": (("time", "latitude", "longitude"), np.full((2, 3, 4), 101325.0, dtype="float32"))},
    coords={"time": pd.to_datetime(["2025-01-01T00:00", "2025-01-01T12:00"]),
            "latitude": [50.0, 49.75, 49.5], "longitude": [10.0, 10.25, 10.5, 10.75]})
era5.to_netcdf(os.path.join(OUT, "2025_01_01_ERA5_surface.nc"))
climate = xr.Dataset(
    {"temperature": (("time", "lat", "lon"), np.arange(2000, dtype="float64").reshape(20, 10, 10) / 10)},
    coords={"time": pd.date_range("2000-01-01", periods=20, freq="MS"), "lat": np.arange(10) * 1.0,
            "lon": np.arange(10) * 1.0})
climate.to_netcdf(os.path.join(OUT, "climate_data.nc"))

# --- zonal-stats.mdx: a CDL-like raster (crop 36 west of the tile's middle) and two
# block groups, the tile's west and east halves.
x, y, z = tile_of(-111.89, 40.76, 12)
w, s, e, n = tile_bounds(x, y, z)
mid = (w + e) / 2
pad = (e - w) * 0.25
gw, gs, ge, gn = w - pad, s - pad, e + pad, n + pad
width = height = 600
lons = gw + (np.arange(width) + 0.5) * (ge - gw) / width
cdl = np.where(lons[None, :] < mid, 36, 1).repeat(height, axis=0).astype("uint8")
os.makedirs(os.path.join(OUT, "cdls"), exist_ok=True)
with rasterio.open(os.path.join(OUT, "cdls", "2020_30m_cdls.tif"), "w", driver="GTiff", width=width, height=height,
                   count=1, dtype="uint8", crs="EPSG:4326", transform=from_bounds(gw, gs, ge, gn, width, height),
                   nodata=0, tiled=True, blockxsize=256, blockysize=256) as dst:
    dst.write(cdl, 1)
os.makedirs(os.path.join(OUT, "tl_2023_49_bg"), exist_ok=True)
gpd.GeoDataFrame({
    "NAMELSAD": ["Block Group 1", "Block Group 2"], "GEOID": ["490351001001", "490351001002"],
    "MTFCC": ["G5030", "G5030"], "FUNCSTAT": ["S", "S"], "ALAND": [1000, 2000],
}, geometry=[box(w, s, mid, n), box(mid, s, e, n)], crs=4326).to_file(
    os.path.join(OUT, "tl_2023_49_bg", "tl_2023_49_bg.gpkg"), driver="GPKG")
expected["cdls_tile"] = [z, x, y]

# --- dark-vessel-detection.mdx: AIS points ingested by month, two files in prod_2024_09/
x, y, z = tile_of(-93.80, 29.65, 14)
w, s, e, n = tile_bounds(x, y, z)
times_in = ["2024-09-04T00:15:00", "2024-09-04T00:19:09", "2024-09-04T00:25:00"]
times_out = ["2024-09-03T23:00:00", "2024-09-04T00:10:00", "2024-09-04T00:30:00", "2024-09-04T01:00:00"]
inside = [Point(w + (e - w) * f, s + (n - s) * g) for f, g in
          [(0.2, 0.3), (0.5, 0.5), (0.7, 0.2), (0.3, 0.8), (0.9, 0.9), (0.1, 0.6), (0.6, 0.4)]]
outside = [Point(-93.7, 29.7), Point(-93.9, 29.6), Point(-80.0, 30.0), Point(-94.5, 29.0), Point(-93.85, 29.70)]
rows = [{"MMSI": "3670%05d" % i, "BaseDateTime": t, "geometry": p}
        for i, (t, p) in enumerate(zip(times_in + times_out, inside))]
rows += [{"MMSI": "3671%05d" % i, "BaseDateTime": "2024-09-04T00:19:00", "geometry": p} for i, p in enumerate(outside)]
table = os.path.join(OUT, "AIS_2024_ingester", "prod_2024_09")
os.makedirs(table, exist_ok=True)
points = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)
points.iloc[::2].to_file(os.path.join(table, "part_0.gpkg"), driver="GPKG")
points.iloc[1::2].to_file(os.path.join(table, "part_1.gpkg"), driver="GPKG")
expected["ais_tile"] = [z, x, y]
expected["ais_in_time"] = sorted(r["MMSI"] for r in rows[:len(times_in)])
expected["ais_in_tile"] = len(inside)

# --- dark-vessel-detection.mdx's Sentinel 1 GRD image: a NetCDF with one time and a
# vv band: three bright boats (480) on dark water (0).
x, y, z = tile_of(-93.80, 29.65, 12)
w, s, e, n = tile_bounds(x, y, z)
res = 0.0005
xs = np.arange(w - 0.05, e + 0.05, res) + res / 2
ys = np.arange(n + 0.05, s - 0.05, -res) - res / 2
vv = np.zeros((1, len(ys), len(xs)), dtype="float32")
boats = [(w + (e - w) * f, s + (n - s) * g) for f, g in [(0.25, 0.25), (0.5, 0.7), (0.8, 0.4)]]
for bx, by in boats:
    col = int(np.argmin(abs(xs - bx)))
    row = int(np.argmin(abs(ys - by)))
    vv[0, row - 4:row + 5, col - 4:col + 5] = 480
xr.Dataset({"vv": (("time", "y", "x"), vv)},
           coords={"time": [np.datetime64("2024-09-04T00:19:09")], "y": ys, "x": xs}).to_netcdf(
    os.path.join(OUT, "sentinel1_grd.nc"))
expected["s1_tile"] = [z, x, y]

# --- blog/2024-09-23-kristin: a NetCDF grid (lat ascending, as many are): (lon + 10) / 40
# north of 45N, 0.9 south of it.
lons = np.arange(-10, 30, 0.1) + 0.05
lats = np.arange(30, 60, 0.1) + 0.05
sif = np.where(lats[:, None] >= 45, (lons[None, :] + 10) / 40, 0.9).astype("float32")
xr.Dataset({"sif_ann": (("lat", "lon"), sif)}, coords={"lat": lats, "lon": lons}).to_netcdf(
    os.path.join(OUT, "sif_ann_201508b.nc"))

with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(expected, f)
print("data ok")
