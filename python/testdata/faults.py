"""Misbehaving UDFs for the fault tests: mode picks the failure."""
import os
import signal
import time

import fused


@fused.udf
def udf(mode: str = "ok", seconds: float = 0):
    print("faults: mode", mode)
    if mode == "raise":
        raise ValueError("boom from the UDF")
    if mode == "loop":
        while True:  # never releases the GIL: only a kill ends it
            pass
    if mode == "sleep":
        time.sleep(seconds)
        return "slept"
    if mode == "exit":
        os._exit(1)
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "type":
        return {1, 2}
    if mode == "memory":
        import numpy as np

        return float(np.ones(10**10).sum())
    if mode == "env":
        return {"secret": os.environ.get("UDFTILES_TEST_SECRET"), "home": os.environ.get("HOME")}
    return "ok"
