# Fused docs: core-concepts/async.mdx (https://docs.fused.io/core-concepts/async), "Call UDFs
#   asynchronously": the UDF saved as `udf_to_run_async` (a layer of this name here), which
#   _notebook.py's parent_fn runs four times at once with sync=False.
# Data swapped: none.
# Restored: `import time`, `import pandas as pd` and the DataFrame's {"date": [date]}.
import fused


@fused.udf
def udf(date: str='2020-01-01'):
    import time
    import pandas as pd

    time.sleep(2)
    return pd.DataFrame({"date": [date]})
