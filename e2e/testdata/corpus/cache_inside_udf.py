# Fused docs: core-concepts/cache.mdx (https://docs.fused.io/core-concepts/cache),
#   "Caching any Python function: @fused.cache" > "Inside a UDF".
# Data swapped: none.
# Restored: `import pandas as pd` and the DataFrame's {"i": [i]} (text inside {}
#   is lost in fused-docs.txt; the result shows which calls ran).
import fused


@fused.udf
def udf():
    import pandas as pd

    @fused.cache
    def load_data(i):
        # Do heavy processing here
        return pd.DataFrame({"i": [i]})

    df_first = load_data(i=1)
    df_first_repeat = load_data(i=1)
    df_second = load_data(i=2)

    return pd.concat([df_first, df_first_repeat, df_second])
