"""udftiles Python worker: runs UDFs for the Go server.

The server starts one worker per slot and talks to it over two pipes (fd 3 in,
fd 4 out) with length-prefixed frames: a JSON header followed by binary blobs,
so arrays travel as raw bytes with their dtype and shape. The UDF's own stdout
and stderr are captured per call and returned as its logs.
"""
import io
import json
import os
import struct
import sys
import traceback
import contextlib

IN = os.fdopen(3, "rb", buffering=0)
OUT = os.fdopen(4, "wb", buffering=0)


def read_exact(n):
    buf = bytearray()
    while len(buf) < n:
        chunk = IN.read(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def read_msg():
    (total,) = struct.unpack(">I", read_exact(4))
    frame = read_exact(total)
    (hlen,) = struct.unpack(">I", frame[:4])
    header = json.loads(frame[4:4 + hlen])
    blobs, off = [], 4 + hlen
    for n in header.get("blobs", []):
        blobs.append(frame[off:off + n])
        off += n
    return header, blobs


def write_msg(header, blobs=()):
    blobs = [bytes(b) for b in blobs]
    header["blobs"] = [len(b) for b in blobs]
    h = json.dumps(header, default=str, allow_nan=False).encode()
    body = struct.pack(">I", len(h)) + h + b"".join(blobs)
    OUT.write(struct.pack(">I", len(body)) + body)


def main():
    import fused
    from fused import _host

    header, _ = read_msg()
    _host.configure(header)
    write_msg({"ok": True, "op": "ready", "pid": os.getpid()})
    while True:
        try:
            header, blobs = read_msg()
        except EOFError:
            return
        write_msg(*handle(header, blobs))


def handle(header, blobs):
    from fused import _host

    logs = io.StringIO()
    try:
        with contextlib.redirect_stdout(logs), contextlib.redirect_stderr(logs):
            if header["op"] == "inspect":
                reply, out = _host.inspect_udf(header), []
            elif header["op"] == "call":
                reply, out = _host.call_udf(header)
            else:
                raise ValueError("unknown op %r" % header["op"])
        reply["ok"] = True
    except _host.ParamError as e:
        reply, out = {"ok": False, "status": 400, "error": str(e)}, []
    except MemoryError as e:
        reply, out = {"ok": False, "status": 500,
                      "error": "MemoryError: the UDF ran out of memory (python.memory_mb)\n"
                      + _host.format_exception(e)}, []
    except BaseException as e:  # the UDF's failure, reported to the caller
        if isinstance(e, (KeyboardInterrupt, SystemExit)) and not isinstance(e, SystemExit):
            raise
        reply, out = {"ok": False, "status": 500, "error": _host.format_exception(e)}, []
    reply["logs"] = logs.getvalue()[-65536:]
    return reply, out


if __name__ == "__main__":
    main()
