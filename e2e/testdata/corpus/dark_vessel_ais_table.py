# Fused docs: tutorials/Geospatial with Fused/use-cases/dark-vessel-detection.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/use-cases/dark-vessel-detection),
#   "6. Retrieving AIS data for our time of Interest" (reading the ingested AIS table with table_to_tile).
# Data swapped: ais_table_path "s3://fused-users/fused/demo_user/AIS_2024_ingester/prod_2024_09"
#   -> "data/corpus/AIS_2024_ingester/", whose prod_2024_09/ folder holds AIS points as
#   GeoPackage files the test writes (the month's folder is what monthly_ais_table names).
# Restored: `import pandas as pd`, monthly_ais_table = f"{ais_table_path}prod_{month_date}/" and
#   the f-strings of the prints.
import fused


@fused.udf
def udf(
    bounds: fused.types.Bounds = None,
    s1_acquisition_month_day_hour_min:str = '2024-09-04T00:19:09.175874',
    time_delta_in_hours: float = 0.1, # by default 6min (60min * 0.1)
    min_zoom_to_load_data: int = 14,
    ais_table_path: str = "data/corpus/AIS_2024_ingester/", # This is the location where we had ingested our geo-partitioned AIS data
    ):
    """Reading AIS data from Fused partitioned AIS data from NOAA (data only available in US)"""
    import pandas as pd

    from datetime import datetime, timedelta

    # Load the utils module
    common = fused.load("https://github.com/fusedio/udfs/tree/b672adc/public/common/")
    zoom = common.estimate_zoom(bounds)

    sentinel1_time = pd.to_datetime(s1_acquisition_month_day_hour_min)
    time_delta_in_hours = timedelta(hours=time_delta_in_hours)

    month_date = sentinel1_time.strftime('%Y_%m')
    monthly_ais_table = f"{ais_table_path}prod_{month_date}/"
    print(f"{monthly_ais_table=}")

    @fused.cache
    def getting_ais_from_s3(bounds, monthly_table):
        return common.table_to_tile(
            bounds,
            table=monthly_ais_table,
            use_columns=None,
            min_zoom=min_zoom_to_load_data
        )

    ais_df = getting_ais_from_s3(bounds, monthly_ais_table)

    if ais_df.shape[0] == 0:
        print("No AIS data within this bounds & timeframe. Change bounds or timeframe")
        return ais_df

    if zoom > min_zoom_to_load_data:
        print(f"Zoom is {zoom} | Only showing bounds")
        return ais_df

    print(f"{ais_df.shape=}")
    ais_df['datetime'] = pd.to_datetime(ais_df['BaseDateTime'])
    mask = (ais_df['datetime'] >= sentinel1_time - time_delta_in_hours) & (ais_df['datetime'] <= sentinel1_time + time_delta_in_hours)
    filtered_ais_df = ais_df[mask]
    print(f'{filtered_ais_df.shape=}')
    return filtered_ais_df
