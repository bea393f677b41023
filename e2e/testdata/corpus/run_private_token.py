# Fused docs: core-concepts/run-udfs/run.mdx (https://docs.fused.io/core-concepts/run-udfs/run-small-udfs),
#   "Token" (my_super_duper_private_udf, shared through a token).
# Data swapped: none. The layer is private (public: false) and reached through its
#   shared token, as the docs' to_fused() + token does.
# Restored: `import pandas as pd` and the DataFrame's {"input": [my_udf_input]}.
import fused


@fused.udf()
def my_super_duper_private_udf(my_udf_input):
    import pandas as pd

    # This code is so private I don't want anyone to be able to read it
    return pd.DataFrame({"input": [my_udf_input]})
