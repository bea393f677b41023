# Fused docs: core-concepts/cache.mdx (https://docs.fused.io/core-concepts/cache), "Caching a UDF"
#   (slow_caching_udf: run twice, the second run is the cached result).
# Data swapped: none.
# Restored: `import time` and `import pandas as pd`.
import fused


@fused.udf
def slow_caching_udf():
    import time
    import pandas as pd

    time.sleep(5)
    
    return pd.DataFrame()
