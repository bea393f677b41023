# Fused docs: core-concepts/run-udfs/run.mdx (https://docs.fused.io/core-concepts/run-udfs/run-small-udfs),
#   "HTTPS requests" > "Passing parameters" (udf(lat, lon), called with &lat=37.7749&lon=-121.4194).
# Data swapped: none.
# Restored: `import pandas as pd` and the DataFrame's {"lat": [lat], "lon": [lon]}.
import fused


@fused.udf
def udf(lat, lon):
    import pandas as pd
    return pd.DataFrame({"lat": [lat], "lon": [lon]})
