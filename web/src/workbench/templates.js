// The New menu's starting points: one small working UDF for each kind of
// result the map shows (raster tiles, vector tiles, a table, a file), using
// numpy and geopandas only. Pure.

export const TEMPLATES = {
  raster: {
    label: 'Raster tile',
    name: 'gradient',
    code: `import fused


@fused.udf
def udf(bounds: fused.types.Bounds = None, scale: float = 1.0):
    """A colour gradient over each tile: a uint8 RGB array of shape (3, 256, 256)."""
    import numpy as np

    west, south, east, north = bounds if bounds is not None else (-180, -85, 180, 85)
    lon, lat = np.meshgrid(np.linspace(west, east, 256), np.linspace(north, south, 256))
    red = 128 + 100 * np.sin(np.radians(lon) * 2 * scale)
    green = 128 + 90 * np.cos(np.radians(lat) * 3 * scale)
    blue = np.full_like(red, 200)
    print(f"tile {bounds}, scale {scale}")
    return np.stack([red, green, blue]).astype(np.uint8)
`,
  },
  vector: {
    label: 'Vector tile',
    name: 'countries',
    code: `import fused


@fused.udf
def udf(bounds: fused.types.Bounds = None, min_pop_millions: float = 0.0):
    """Natural Earth countries (bundled with geopandas) that meet the tile's bounds:
    the server clips them to the tile when it writes vector tiles."""
    import warnings

    import geopandas as gpd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bundled datasets are deprecated, not gone
        gdf = gpd.read_file(gpd.datasets.get_path("naturalearth_lowres"))
    gdf = gdf[gdf["pop_est"] >= min_pop_millions * 1_000_000]
    if bounds is not None:
        west, south, east, north = bounds
        gdf = gdf.cx[west:east, south:north]
    print(f"{len(gdf)} countries")
    return gdf[["name", "continent", "pop_est", "geometry"]]
`,
  },
  table: {
    label: 'Table',
    name: 'table',
    code: `import fused


@fused.udf
def udf(rows: int = 10, seed: int = 0):
    """A DataFrame: shown as a table (its JSON records)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "id": np.arange(rows),
        "value": rng.normal(size=rows).round(3),
        "label": [f"row {i}" for i in range(rows)],
    })
    print(df.describe())
    return df
`,
  },
  file: {
    label: 'File (HTML)',
    name: 'report',
    code: `import fused


@fused.udf
def udf(title: str = "Hello from the Workbench", n: int = 5):
    """A str of HTML: shown in a sandboxed frame (its scripts never run)."""
    import numpy as np

    squares = np.arange(1, n + 1) ** 2
    rows = "".join(f"<tr><td>{i}</td><td>{s}</td></tr>" for i, s in enumerate(squares, 1))
    return f"""<h1 style="font-family: sans-serif">{title}</h1>
<table border="1" cellpadding="4"><tr><th>n</th><th>n²</th></tr>{rows}</table>"""
`,
  },
};

export const DEFAULT_TEMPLATE = 'raster';
