"""A UDF that attacks the worker it runs in, for the isolation tests: mode
picks the attack."""
import ctypes
import json
import os
import struct
import subprocess
import threading
import time

import fused

_pool = None


def _forge(value):
    """Write a well-formed reply frame to every pipe this process can write."""
    body = json.dumps({"secret": value}).encode()
    for pid_field in (os.getpid(),):
        header = json.dumps({"ok": True, "kind": "json", "blobs": [len(body)], "id": "forged",
                             "pid": pid_field}).encode()
        frame = struct.pack(">II", 4 + len(header) + len(body), len(header)) + header + body
    wrote = 0
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd in (0, 1, 2):
            continue
        try:
            if not os.readlink("/proc/self/fd/%d" % fd).startswith("pipe:"):
                continue
            os.write(fd, frame)
            wrote += 1
        except OSError:
            pass
    return wrote


@fused.udf
def udf(mode: str = "echo", value: str = "", n: int = 1):
    global _pool
    if mode == "echo":
        print("echo", value)
        return {"value": value, "pid": os.getpid()}
    if mode == "chatty":
        print(("chatty %s " % value) * (n // (8 + len(value)) + 1))
        return {"value": value}
    if mode == "forge":
        return {"wrote": _forge(value)}
    if mode == "forge_later":
        threading.Thread(target=lambda: (time.sleep(0.05), _forge(value)), daemon=True).start()
        return {"value": "later"}
    if mode == "fork":
        os.fork()  # no _exit: both processes return from here
        return {"value": value, "pid": os.getpid()}
    if mode == "cfork":
        ctypes.CDLL(None).fork()  # past os.register_at_fork
        return {"value": value, "pid": os.getpid()}
    if mode == "spawn":
        p = subprocess.Popen(["sleep", str(1000 + n)], start_new_session=True)
        return {"pid": p.pid}
    if mode == "daemon":
        r, w = os.pipe()
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.write(w, str(os.getpid()).encode())
                os.execvp("sleep", ["sleep", str(1000 + n)])
            os._exit(0)
        os.close(w)
        pid = int(os.read(r, 32))
        return {"pid": pid}
    if mode == "chatter":
        def chat():
            while True:
                print("SECRET-" + value)
                time.sleep(0.001)
        threading.Thread(target=chat, daemon=True).start()
        time.sleep(0.02)
        return {"value": "chatter"}
    if mode == "pool_start":
        import concurrent.futures
        _pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        _pool.submit(print, "pool warm").result()
        return {"value": "pool"}
    if mode == "pool_print":
        _pool.submit(print, "from the pool", value).result()
        return {"value": value}
    if mode == "flood":
        chunk = "x" * (1 << 20)
        for _ in range(n):
            print(chunk)
        return {"value": "printed"}
    if mode == "stderr_then_ok":
        os.write(2, ("EARLIER-" + value + "\n").encode())
        return {"value": "ok"}
    if mode == "stderr_then_die":
        os.write(2, ("NOW-" + value + "\n").encode())
        os._exit(3)
    if mode == "environ":
        try:
            with open("/proc/%d/environ" % os.getppid(), "rb") as f:
                env = f.read()
        except OSError as e:
            return {"readable": False, "error": str(e)}
        return {"readable": True, "found": value.encode() in env, "bytes": len(env)}
    if mode == "big":
        import numpy as np
        return np.zeros((n, n), dtype="uint8")
    if mode == "noise":
        import numpy as np
        return np.random.default_rng(n).integers(0, 256, (n, n), dtype="uint8")
    raise ValueError("unknown mode " + mode)
