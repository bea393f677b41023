import os

import fused


@fused.udf
def udf(url: str = "", name: str = "file.txt"):
    path = fused.download(url, name)
    with open(path) as f:
        return {"path": path, "text": f.read(), "pid": os.getpid()}
