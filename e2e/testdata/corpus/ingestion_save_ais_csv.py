# Fused docs: tutorials/Geospatial with Fused/geospatial-data-ingestion/why-ingestion.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/geospatial-data-ingestion/why-ingestion),
#   "Benchmark & Demo" (save_ais_csv_to_fused_udf).
# Data swapped: "https://coast.noaa.gov/htdata/CMSP/AISDataHandler/2024/AIS_2024_01_01.zip" -> the
#   same path on the test's HTTP server on 127.0.0.1 (@HTTP@), serving a zip of the test's AIS CSV;
#   fd:// is a local folder of the server (storage.fd). data.zip and ./data are written in the
#   server's working directory, a temporary one.
# Restored: `import requests`, `import zipfile`, `import pandas as pd` and the DataFrame's
#   {"status": ["done"]}.
import fused


@fused.udf
def save_ais_csv_to_fused_udf():
    """Downloading a single day of data to Fused server"""
    import requests
    import zipfile
    import pandas as pd

    response = requests.get("@HTTP@/htdata/CMSP/AISDataHandler/2024/AIS_2024_01_01.zip")

    with open("data.zip", "wb") as f:
        f.write(response.content)

    with zipfile.ZipFile("data.zip", "r") as zip_ref:
        zip_ref.extractall("./data")

    csv_df = fused.api.upload("./data/AIS_2024_01_01.csv", "fd://demo_reading_ais/AIS_2024_01_01.csv")
    print(f"Saved data to fd://demo_reading_ais/")

    return pd.DataFrame({"status": ["done"]})
