# NOT from the docs: a stand-in for Fused's catalog UDF "UDF_Hex_Tile_Map_Template", which
# h3_hex_tile_map.py (dynamic-tile-to-h3.mdx) runs with fused.run; the docs do not show its code.
# It returns the HTML page of a map, as the template does, with what it was given.
import fused


@fused.udf
def udf(tile_url_template: str = "", config_json: str = "{}", center_lng: float = 0.0, center_lat: float = 0.0,
        zoom: int = 1, tooltip_columns: list = None):
    import json

    page = {"tile_url_template": tile_url_template, "config": json.loads(config_json),
            "center": [center_lng, center_lat], "zoom": zoom, "tooltip_columns": tooltip_columns}
    return ("<!doctype html>\n<html><head><title>Hex tile map</title></head><body><div id=\"map\"></div>\n"
            "<script type=\"application/json\" id=\"map-config\">" + json.dumps(page) + "</script>\n"
            "</body></html>\n")
