"""One row per day: what a UDF over a list of dates returns, for fused.submit.

    import udftiles as fused
    df = fused.submit("daily", ["2024_09_01", "2024_09_02", "2024_09_03"])
"""
import datetime

import pandas as pd


@fused.udf
def udf(datestr: str = "2024_09_01"):
    day = datetime.datetime.strptime(datestr, "%Y_%m_%d").date()
    return pd.DataFrame({
        "datestr": [datestr],
        "weekday": [day.strftime("%A")],
        "day_of_year": [day.timetuple().tm_yday],
    })
