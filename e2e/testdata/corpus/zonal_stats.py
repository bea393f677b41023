# Fused docs: tutorials/Geospatial with Fused/use-cases/zonal-stats.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/use-cases/zonal-stats),
#   "3. Write a UDF to process the data".
# Data swapped: input_tiff_path f"s3://fused-asset/data/cdls/{year}_30m_cdls.tif"
#   -> f"data/corpus/cdls/{year}_30m_cdls.tif" (a small Cropland-Data-Layer-like uint8 raster the
#   test writes: crop 36 over the west half of one z12 tile in Utah);
#   table 's3://fused-asset/data/tl_2023_49_bg/' -> 'data/corpus/tl_2023_49_bg/' (a folder with a
#   GeoPackage of two block-group polygons, the tile's west and east halves, with the census columns).
# Restored: `import numpy as np` and the f-string's {year}.
import fused


@fused.udf
def udf(
    bounds: fused.types.Bounds = None,
    year: int = 2020,
    crop_id: int = 36
):
    import numpy as np

    # Convert bounds to tile
    common = fused.load("https://github.com/fusedio/udfs/tree/fbf5682/public/common/")
    zoom = common.estimate_zoom(bounds)
    tile = common.get_tiles(bounds, zoom=zoom)

    # Load CDLS data
    arr = common.read_tiff(
      tile,
      input_tiff_path=f"data/corpus/cdls/{year}_30m_cdls.tif"
    )

    # Mask for crop
    arr = np.where(np.isin(arr, [crop_id]), 1, 0)

    # Load polygons
    gdf = common.table_to_tile(
      bounds,
      table='data/corpus/tl_2023_49_bg/',
      min_zoom=5,
      use_columns=['NAMELSAD', 'GEOID', 'MTFCC', 'FUNCSTAT', 'geometry']
    )
    gdf.crs = 4326

    # Calculate zonal stats
    return common.geom_stats(gdf, arr)
