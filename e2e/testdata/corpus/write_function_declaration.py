# Fused docs: core-concepts/write.mdx (https://docs.fused.io/core-concepts/write),
#   "Function declaration".
# Data swapped: none.
# Restored: `import pandas as pd` and the DataFrame's {'message': [f'Hello {name}!']}
#   (fused-docs.txt keeps only its tail `!']})`).
import fused


@fused.udf # <- Fused decorator
def udf(name: str = "Fused"): # <- Function declaration
    import pandas as pd

    return pd.DataFrame({'message': [f'Hello {name}!']})
