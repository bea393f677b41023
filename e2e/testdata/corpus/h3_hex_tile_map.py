# Fused docs: tutorials/Geospatial with Fused/h3-tiling/dynamic-tile-to-h3.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/h3-tiling/dynamic-tile-to-h3), the UDF
#   that shows the census hex tiles on a map by running the `hex_tile_map_template_with_tooltip_v2`
#   template with fused.run (a UDF running another UDF).
# Data swapped: the tile URL "https://www.fused.io/server/v1/realtime-shared/fsh_3jeg2MDjozUl8kXqSAxFGE/..."
#   -> the corpus server's shared-token route of its `countries` vector layer (@BASE@ is the server's
#   address; the test fetches a tile from it). "UDF_Hex_Tile_Map_Template" is the corpus layer of that
#   name: a stand-in of ours, as the docs do not show the template's code.
# Restored: the URL's {z}/{x}/{y} and config_json's JSON (text inside {} is lost in fused-docs.txt).
import fused


@fused.udf
def udf():
    """
    Visualize the California census block-group hex tiles on a map using the
    `hex_tile_map_template_with_tooltip_v2` template.

    The template is called via its shared token (or name) and is provided with:
      • tile_url_template – points to the vector-tile UDF `census_hex_all_california_bg`
      • config_json – a purple colour scale for the POP attribute (0-10 000)
      • tooltip_columns – columns to show when hovering (POP, GEOID, NAME)
    """
    # URL that serves the vector tiles for the census hex data.
    tile_url_template = (
        "@BASE@/server/v1/realtime-shared/"
        "fsh_corpus_countries/run/tiles/{z}/{x}/{y}?dtype_out_vector=json"
    )

    # Configuration for the H3HexagonLayer – purple colour ramp on POP (0-10 000)
    config_json = r"""{
      "tileLayer": {"@@type": "TileLayer", "minZoom": 0, "maxZoom": 19, "tileSize": 256, "pickable": true},
      "hexLayer": {
        "@@type": "H3HexagonLayer",
        "filled": true,
        "getHexagon": "@@=properties.hex",
        "getFillColor": {"@@function": "colorContinuous", "attr": "POP", "domain": [0, 10000], "colors": "Purp"}
      }
    }"""

    # Columns we want to show in the tooltip when hovering over a hex.
    tooltip_columns = ["POP", "GEOID", "NAME"]

    return fused.run(
        "UDF_Hex_Tile_Map_Template",
        tile_url_template=tile_url_template,
        config_json=config_json,
        center_lng=-119.4179,
        center_lat=36.7783,
        zoom=5,
        tooltip_columns=tooltip_columns,
    )
