"""fused.options within a call: what a call sets stays with it, and
max_workers bounds the threads of fused.submit of a UDF object."""
import os
import threading
import time

import fused


@fused.udf
def item(i: int):
    time.sleep(0.05)
    return threading.get_ident()


@fused.udf
def udf(mode: str = "read", workers: int = 0):
    o = fused.options
    if mode == "set":
        o.request_timeout = 0.001
        o.run_timeout = 0.002
        o.max_workers = 1
        o.base_url = "http://elsewhere.invalid"
        o.auth.client_id = "someone"
        o.save()
    if mode == "threads":
        if workers:
            o.max_workers = workers
        df = fused.submit(item, list(range(8)))
        return {"threads": len(set(int(v) for v in df["result"]))}
    return {"pid": os.getpid(), "request_timeout": o.request_timeout, "run_timeout": o.run_timeout,
            "max_workers": o.max_workers, "base_url": o.base_url, "client_id": o.auth.client_id,
            "dtypes": [o.default_dtype_out_vector, o.default_dtype_out_raster]}
