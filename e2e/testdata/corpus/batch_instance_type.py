# Fused docs: core-concepts/run-udfs/large_jobs.mdx (https://docs.fused.io/core-concepts/run-udfs/run_large),
#   "Running a job from workbench" (@fused.udf(instance_type='small')).
# Data swapped: none. instance_type is accepted and ignored: everything runs on the server.
# Restored: `import pandas as pd`, the DataFrame's {"name": [name]} and the f-string's {name}.
import fused


@fused.udf(instance_type='small')
def udf(name: str = "world"):
    import pandas as pd

    df = pd.DataFrame({"name": [name]})
    print(f"Hello {name}")
    return "Done"
