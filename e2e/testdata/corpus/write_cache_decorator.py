# Fused docs: core-concepts/write.mdx (https://docs.fused.io/core-concepts/write),
#   "@fused.cache decorator".
# Data swapped: none.
# Restored: `import pandas as pd` and the DataFrame's {'message': [f'Hello {name}!']}.
import fused


@fused.udf # <- Fused decorator
def udf(bounds: fused.types.Bounds = None, name: str = "Fused"):
    import pandas as pd

    @fused.cache # <- Cache decorator
    def structure_output(name):
        return pd.DataFrame({'message': [f'Hello {name}!']})

    df = structure_output(name)
    return df
