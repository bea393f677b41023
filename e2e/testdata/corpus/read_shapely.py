# Fused docs: tutorials/Geospatial with Fused/read-data.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/read-data), "Python Packages" > "shapely".
# Data swapped: none.
# Restored: `import geopandas as gpd` and the GeoDataFrame's {'name': [...]} (one
#   name per geometry).
import fused


@fused.udf
def udf():
    import geopandas as gpd

    from shapely.geometry import Point, Polygon
    
    # Create geometries with shapely
    points = [Point(-122.4, 37.8), Point(-122.3, 37.7)]
    polygon = Polygon([(-122.5, 37.7), (-122.3, 37.7), (-122.3, 37.9), (-122.5, 37.9)])
    
    gdf = gpd.GeoDataFrame(
        {'name': ['Point A', 'Point B', 'Polygon']},
        geometry=points + [polygon],
        crs=4326
    )
    
    return gdf
