# Fused docs: core-concepts/cache.mdx (https://docs.fused.io/core-concepts/cache),
#   "Benchmark: With / without @fused.cache" (with_cache_loading_udf).
# Data swapped: ais_path "s3://fused-users/fused/file_format_demo/AIS_2024_01_01_100k_points.csv"
#   -> "data/corpus/AIS_2024_01_01_100k_points.csv", a CSV with NOAA's AIS columns
#   the test writes (relative to the server's working directory).
# Restored: `import pandas as pd`.
import fused


@fused.udf
def with_cache_loading_udf(
    ship_length_meters: int = 100,
    ais_path: str = "data/corpus/AIS_2024_01_01_100k_points.csv"
):
    import pandas as pd

    @fused.cache
    def load_ais_data(ais_path: str):

        return pd.read_csv(ais_path)

    ais = load_ais_data(ais_path)

    return ais[ais.Length > ship_length_meters]
