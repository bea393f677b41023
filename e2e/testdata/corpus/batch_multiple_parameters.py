# Fused docs: core-concepts/run-udfs/large_jobs.mdx (https://docs.fused.io/core-concepts/run-udfs/run_large),
#   "Passing UDF parameters with arg_list" > "Multiple Parameters".
# Data swapped: "/mnt/cache/demo_multiple_arg_list_run/" -> "mnt/cache/demo_multiple_arg_list_run/"
#   (a folder in the server's working directory that the test creates).
# Restored: `import pandas as pd`, the default {"val1": 1, "val2": 2}, the DataFrame's
#   {"output": [output_value]} and the file name's {output_value}. The docs run it with
#   job.run_batch(); here the test runs it over HTTP and as a fused.submit job.
import fused


@fused.udf
def udf(variables: dict = {"val1": 1, "val2": 2}):
    import pandas as pd

    # Retrieving each variables from the dictionary
    val1 = variables['val1']
    val2 = variables['val2']

    # Some simple boilerplate logic
    output_value = int(val1)*int(val2)
    df = pd.DataFrame(data={"output": [output_value]})

    # Saving output to shared file location to access results later
    # `/mnt/cache` is the shared file location for all UDF runs & jobs
    df.to_csv(f"mnt/cache/demo_multiple_arg_list_run/output_{output_value}.csv")

    return df
