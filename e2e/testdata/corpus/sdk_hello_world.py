# Fused docs: python-sdk/index.mdx (https://docs.fused.io/python-sdk),
#   "Basic API usage" > "Hello World UDF".
# Data swapped: none.
# Restored: the f-string's {x + 1} (the docs print "Hello world 2" for x=1).
import fused


@fused.udf
def udf(x: int = 1):
    return f"Hello world {x + 1}"
