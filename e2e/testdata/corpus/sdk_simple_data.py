# Fused docs: python-sdk/index.mdx (https://docs.fused.io/python-sdk),
#   "Basic API usage" > "Simple data UDF".
# Data swapped: none.
# Restored: `import pandas as pd` (import lines are stripped from fused-docs.txt)
#   and the DataFrame's {"x": range(x)} (the docs show rows x = 0, 1, 2).
import fused


@fused.udf
def udf(x: int = 3):
    import pandas as pd

    return pd.DataFrame({"x": range(x)})
