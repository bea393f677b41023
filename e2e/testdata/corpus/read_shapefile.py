# Fused docs: tutorials/Geospatial with Fused/read-data.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/read-data), "Table Formats (Vector)" > "Shapefile (.shp + .shx, .dbf, .prj)".
# Data swapped: "s3://fused-sample/demo_data/table/US_states_shapefile.shp"
#   -> geopandas' bundled naturalearth_cities shapefile.
# Restored: `import geopandas as gpd`.
import fused


@fused.udf
def udf(path: str = "/usr/lib/python3/dist-packages/geopandas/datasets/naturalearth_cities/naturalearth_cities.shp"):
    import geopandas as gpd

    return gpd.read_file(path)
