# Fused docs: tutorials/Geospatial with Fused/geospatial-data-ingestion/Ingest-your-data.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/geospatial-data-ingestion/ingest-your-data),
#   "Ingest geospatial table data" (reading an ingested table with table_to_tile).
# Data swapped: table "s3://fused-asset/infra/building_msft_us/" -> "data/corpus/cities/", a folder
#   holding the demo's Natural Earth cities as FlatGeobuf (a table folder, as the ingested one is).
import fused


@fused.udf
def udf(
    bounds: fused.types.Bounds = None, 
    table="data/corpus/cities/"
):
    common = fused.load("https://github.com/fusedio/udfs/tree/fbf5682/public/common/")
    return common.table_to_tile(bounds, table)
