# Fused docs: tutorials/Geospatial with Fused/processing-statistics.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/processing-statistics), "Buffer analysis".
# Data swapped: none.
# Restored: `import random`, `import geopandas as gpd`, and the GeoDataFrames'
#   {'geometry': [linestring_columbus]} and {'geometry': points}.
import fused


@fused.udf
def udf(n_points: int=1000, buffer: float=0.0025):
    import random
    import geopandas as gpd
    from shapely.geometry import Point, Polygon, LineString

    # Create LineString to represent a road
    linestring_columbus = LineString([[-122.4194,37.8065],[-122.4032,37.7954]])
    gdf_road = gpd.GeoDataFrame({'geometry': [linestring_columbus]})

    # Create Points to represent GPS pings
    minx, miny, maxx, maxy = gdf_road.total_bounds
    points = [Point(random.uniform(minx, maxx), random.uniform(miny, maxy)) for _ in range(n_points)]
    gdf_points = gpd.GeoDataFrame({'geometry': points})

    # Create a buffer around the road
    buffered_polygon = gdf_road.buffer(buffer)

    # Color the points that fall within the buffered polygon
    points_within = gdf_points[gdf_points.geometry.within(buffered_polygon.unary_union)]
    gdf_points = gdf_points.loc[points_within.index]

    return gdf_points
