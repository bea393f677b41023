# common.table_to_tile as Fused's docs call it (fused-docs.txt, "Ingested tables can
# easily be read": return common.table_to_tile(bounds, table)), on geopandas' bundled
# naturalearth_lowres, as a file and as a GeoDataFrame.
@fused.udf
def udf(bounds: fused.types.Bounds = None, source: str = "file", min_zoom: int = 0, clip: bool = False,
        columns: str = "name", offset: int = 0):
    import geopandas as gpd
    utils = fused.load("https://github.com/fusedio/udfs/tree/b672adc/public/common/").utils
    path = gpd.datasets.get_path("naturalearth_lowres")
    table = path if source == "file" else gpd.read_file(path)
    use_columns = None if columns == "*" else ([] if columns == "" else columns.split(","))
    kw = {} if columns == "default" else {"use_columns": use_columns}
    df = utils.table_to_tile(bounds, table=table, min_zoom=min_zoom, clip=clip, centorid_zoom_offset=offset, **kw)
    return {
        "n": len(df),
        "names": sorted(df["name"]) if "name" in df.columns else None,
        "columns": list(df.columns),
        "crs": df.crs.to_epsg() if df.crs is not None else None,
        "total_bounds": [float(v) for v in df.total_bounds] if len(df) else None,
        "geom_types": sorted(set(df.geom_type)) if len(df) else [],
        "file_ids": [int(v) for v in df["file_id"]] if "file_id" in df.columns else None,
        "num_rows": [int(v) for v in df["num_rows"]] if "num_rows" in df.columns else None,
        "rows_in_file": len(gpd.read_file(path)),
    }
