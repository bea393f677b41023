# Fused docs: core-concepts/run-udfs/run.mdx (https://docs.fused.io/core-concepts/run-udfs/run-small-udfs),
#   "Calling UDFs without Python SDK": the "Hello World" UDF the docs' curl POSTs as code. Sent
#   here to POST /v1/run (inline code, an admin bearer token) instead of Fused's
#   /server/v1/realtime/basic-tier/api/v1/run/udf.
# Data swapped: none.
# Restored: the DataFrame's {"hello": [name]} (lost in fused-docs.txt).
@fused.udf
def udf(name: str = "world"):
    import pandas as pd

    return pd.DataFrame({"hello": [name]})
