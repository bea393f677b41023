import os
import time

import fused


@fused.udf
def udf(sleep: float = 0.0):
    time.sleep(sleep)
    return os.getpid()
