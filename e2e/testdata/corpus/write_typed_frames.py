# Fused docs: core-concepts/write.mdx (https://docs.fused.io/core-concepts/write),
#   "Typed parameters" > "pd.DataFrame as JSON".
# Data swapped: none.
# The docs show only the signature (with the module-level imports the
# annotations need); the one-line body returning what arrived is ours.
import fused
import geopandas as gpd
import pandas as pd


@fused.udf
def udf(
    gdf: gpd.GeoDataFrame = None,
    df: pd.DataFrame = None
):
    return {"gdf": [type(gdf).__name__, len(gdf), gdf.geometry.iloc[0].geom_type, str(gdf.crs)],
            "df": [type(df).__name__, list(df.columns), int(df["n"].sum())]}
