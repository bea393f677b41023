# Fused docs: core-concepts/best-practices/udf-best-practices.mdx
#   (https://docs.fused.io/core-concepts/best-practices/udf-best-practices), the UDF timing its
#   steps with prints ("Would give us: process_time_1=5.0, process_time_2=0.2").
# Data swapped: none.
# Restored: `import time` and the prints' f-strings {process_time_1=} and {process_time_2=}.
import fused


@fused.udf
def udf():
    import time

    beginning_time = time.time()

    # long processing step #1
    time.sleep(5)
    end_process_1 = time.time()
    process_time_1 = round(
        end_process_1 - beginning_time, 2
    )
    print(f"{process_time_1=}")

    # short processing step
    time.sleep(0.2)
    process_time_2 = round(
        time.time() - end_process_1, 2
    )
    print(f"{process_time_2=}")

    return
