# Fused docs: core-concepts/cache.mdx (https://docs.fused.io/core-concepts/cache),
#   "Resetting cache: cache_reset" (the UDF that returns the current time).
# Data swapped: none.
import fused


@fused.udf
def udf():
    from datetime import datetime
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")
