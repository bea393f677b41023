# Fused docs: core-concepts/run-udfs/run.mdx (https://docs.fused.io/core-concepts/run-udfs/run-small-udfs),
#   the UDF with `time.sleep(1)` that fused.submit runs "all at once"; _notebook.py runs it by
#   name with fused.run and fused.submit (a server job) and times the job.
# Data swapped: none.
# Restored: `import time`, `import pandas as pd` and the DataFrame's {"val": [val]}.
import fused


@fused.udf
def udf(val):
    import time
    import pandas as pd

    time.sleep(1)
    return pd.DataFrame({"val": [val]})
