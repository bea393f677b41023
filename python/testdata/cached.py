"""@fused.cache: compute() appends a line to counter each time it really runs."""
import os
import time

import fused


@fused.udf
def udf(counter: str = "", key: str = "k", reset: bool = False, sleep: float = 0.0):
    @fused.cache
    def compute(key, counter, sleep):
        time.sleep(sleep)
        with open(counter, "a") as f:
            f.write(key + "\n")
        return time.time()

    return {"value": compute(key, counter, sleep, cache_reset=reset), "pid": os.getpid()}
