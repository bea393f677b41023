"""udftiles Python worker: runs UDFs for the Go server.

The server starts one worker per slot and talks to it over two pipes (fd 3 in,
fd 4 out) with length-prefixed frames: a JSON header followed by binary blobs,
so arrays travel as raw bytes with their dtype and shape.

One worker serves many callers in turn, so nothing of one call may reach
another:

- every request carries an id, and every reply echoes it with this process's
  pid: the server refuses (and replaces the worker on) any other frame;
- the pipes are moved to private descriptors, closed on exec and in forked
  children, and a forked child that returns into this loop exits instead of
  answering;
- prints are captured per call by the thread that makes them: threads a call
  starts write to that call, and once it has ended their output is dropped,
  never given to the next caller; a call's logs are bounded;
- processes a call started (in any session or process group) are killed when
  it ends.
"""
import ctypes
import fcntl
import json
import os
import signal
import select
import struct
import sys
import threading
import time
import zlib

# The pipes, moved away from the descriptors UDF code may expect, close-on-exec.
_IN_FD = fcntl.fcntl(3, fcntl.F_DUPFD_CLOEXEC, 100)
_OUT_FD = fcntl.fcntl(4, fcntl.F_DUPFD_CLOEXEC, 100)
os.close(3)
os.close(4)
PID = os.getpid()

# Bounds on one call's prints: what is kept for the reply, and what a call may
# print at all before it fails (python.max_log_mb).
LOG_HEAD = 16 << 10
LOG_TAIL = 48 << 10
LOG_LIMIT = 64 << 20


def _in_child():
    # A forked child must never read requests nor write replies: only this
    # process answers the server.
    for fd in (_IN_FD, _OUT_FD):
        try:
            os.close(fd)
        except OSError:
            pass


os.register_at_fork(after_in_child=_in_child)


def read_exact(n):
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(_IN_FD, min(n - len(buf), 1 << 20))
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
    if os.getpid() != PID:
        os._exit(0)  # a child forked without the hooks (ctypes, os.syscall)
    blobs = [memoryview(b).cast("B") for b in blobs]
    header["blobs"] = [len(b) for b in blobs]
    # Each blob's CRC-32: bytes another writer of the pipe (a UDF's thread or
    # child) put between this frame's parts make the server refuse the frame
    # rather than take them for the reply.
    header["crc"] = [zlib.crc32(b) for b in blobs]
    h = json.dumps(header, default=str, allow_nan=False).encode()
    h += b" " * (-(4 + len(h)) % 8)  # blobs start 8-byte aligned in the server's buffer
    total = 4 + len(h) + sum(len(b) for b in blobs)
    head = struct.pack(">II", total, len(h)) + h
    if 4 + total <= select.PIPE_BUF:
        # One write up to PIPE_BUF bytes is atomic on a pipe: nothing lands inside it.
        _write_all(b"".join([head] + [bytes(b) for b in blobs]))
        return
    _write_all(head)
    for b in blobs:
        _write_all(b)


def _write_all(b):
    b = memoryview(b)
    while len(b):
        n = os.write(_OUT_FD, b[:1 << 20])
        b = b[n:]


# ---- per-call output ----

class LogLimitError(OSError):
    """Raised by a print past python.max_log_mb: the call fails (500)."""


class CallLog:
    """What one call printed: the first LOG_HEAD and last LOG_TAIL characters
    kept, the rest counted."""

    def __init__(self):
        self.head = []
        self.head_len = 0
        self.tail = []
        self.tail_len = 0
        self.total = 0
        self.over = False
        self.lock = threading.Lock()

    def write(self, s):
        with self.lock:
            self.total += len(s)
            if self.total > LOG_LIMIT:
                if self.over:
                    return
                self.over = True
                raise LogLimitError("the UDF printed more than %d MB (python.max_log_mb)" % (LOG_LIMIT >> 20))
            if self.head_len < LOG_HEAD:
                part = s[:LOG_HEAD - self.head_len]
                self.head.append(part)
                self.head_len += len(part)
                s = s[len(part):]
            if s:
                self.tail.append(s)
                self.tail_len += len(s)
                if self.tail_len > 2 * LOG_TAIL:
                    joined = "".join(self.tail)[-LOG_TAIL:]
                    self.tail, self.tail_len = [joined], len(joined)

    def value(self):
        with self.lock:
            head = "".join(self.head)
            tail = "".join(self.tail)
            kept = len(head) + min(len(tail), LOG_TAIL)
            if kept < self.total:
                return head + "\n[... %d characters not kept ...]\n" % (self.total - kept) + tail[-LOG_TAIL:]
            return head + tail


_active = None  # the CallLog of the call running now, or None between calls


def _call_of_thread():
    return getattr(threading.current_thread(), "_udftiles_log", None)


class CallStream:
    """sys.stdout and sys.stderr: text goes to the log of the call whose thread
    writes it, while that call runs; anything else is dropped."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, name):
        self.name = name

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        log = _call_of_thread()
        if log is not None and log is _active:
            log.write(s)
        return len(s)

    def writelines(self, lines):
        for s in lines:
            self.write(s)

    def flush(self):
        pass

    def isatty(self):
        return False

    def writable(self):
        return True

    def readable(self):
        return False

    def fileno(self):
        raise OSError("the UDF's %s is captured per call and has no descriptor" % self.name)

    @property
    def closed(self):
        return False


def _tag_threads():
    """Threads belong to the call that started them; work handed to a pool
    belongs to the call that handed it."""
    init = threading.Thread.__init__

    def __init__(self, *a, **kw):
        init(self, *a, **kw)
        self._udftiles_log = _call_of_thread()
    threading.Thread.__init__ = __init__

    import concurrent.futures.thread as cft
    submit = cft.ThreadPoolExecutor.submit

    def pool_submit(self, fn, /, *args, **kwargs):
        log = _call_of_thread()

        def run(*a, **kw):
            t = threading.current_thread()
            prev = getattr(t, "_udftiles_log", None)
            t._udftiles_log = log
            try:
                return fn(*a, **kw)
            finally:
                t._udftiles_log = prev
        return submit(self, run, *args, **kwargs)
    cft.ThreadPoolExecutor.submit = pool_submit


# ---- processes a call leaves behind ----

def _become_subreaper():
    # Orphans of a call's processes (double forks, new sessions) are given to
    # this process rather than to init, where the sweep finds them.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def _last_pid():
    try:
        with open("/proc/loadavg") as f:
            return int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        return -1


def _ppid(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
        return int(stat[stat.rindex(b")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _descendants(candidates):
    """The pids among candidates whose parent chain reaches this process."""
    parents = {}
    for pid in candidates:
        if pid != PID:
            p = _ppid(pid)
            if p is not None:
                parents[pid] = p
    found = set()
    for pid in list(parents):
        chain, p = [], pid
        for _ in range(64):
            chain.append(p)
            q = parents.get(p)
            if q is None:
                q = _ppid(p)
                if q is None:
                    break
                parents[p] = q
            if q == PID or q in found:
                found.update(chain)
                break
            if q <= 1:
                break
            p = q
    return found


def _all_pids():
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def sweep(since):
    """Kill every process started since the pid counter read `since` that
    descends from this worker, then reap them. Free when the call started
    nothing (the system's last pid is unchanged); else one listing of /proc
    and a look at the processes newer than the call."""
    killed = 0
    for _ in range(8):
        now = _last_pid()
        if now == since:
            break
        pids = _all_pids()
        if 0 <= since < now:
            pids = [p for p in pids if since < p <= now]
        found = _descendants(pids)
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        since = -1  # a killed process may have forked meanwhile: look everywhere
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
    return killed


# ---- asking the server during a call ----

class HostError(Exception):
    """The server refused a request of the UDF (kind: its error kind, e.g. "forbidden")."""

    def __init__(self, msg, kind=""):
        super().__init__(msg)
        self.kind = kind


_call_id = None          # the id of the call running now
_host_write = threading.Lock()
_host_read = threading.Lock()
_host_cond = threading.Condition()
_host_answers = {}       # hid -> (header, blobs), read by another thread
_host_seq = [0]


# How long past a request's timeout its answer is still awaited: the server
# answers at the timeout itself; this covers the answer's way back.
HOST_GRACE = 2.0


def host_call(op, args=None, blob=None, timeout=None):
    """Ask the server for op (nested runs, storage, ...) during a call, and
    wait for its answer: (result, blob). Any thread of the call may ask; the
    requests carry their own numbers, so answers may come in any order.
    With a timeout (seconds) the server gives up on the request after it
    and answers with an error of kind "timeout"."""
    cid = _call_id
    if cid is None or os.getpid() != PID:
        raise RuntimeError("the server is asked only during a call of this worker")
    req = {"op": "host", "id": cid, "pid": PID, "host": op, "args": args or {}}
    deadline = None
    if timeout is not None and op not in ("park", "unpark"):
        req["timeout"] = float(timeout)
        deadline = time.monotonic() + float(timeout) + HOST_GRACE
    with _host_write:
        _host_seq[0] += 1
        hid = _host_seq[0]
        req["hid"] = hid
        write_msg(req, [blob] if blob is not None else [])
    while True:
        with _host_cond:
            if hid in _host_answers:
                header, blobs = _host_answers.pop(hid)
                break
        if deadline is not None and time.monotonic() > deadline:
            raise HostError("the server did not answer %s within %gs" % (op, timeout), "timeout")
        if _host_read.acquire(timeout=0.05):
            try:
                with _host_cond:
                    if hid in _host_answers:
                        continue
                header, blobs = read_msg()
            finally:
                _host_read.release()
            if header.get("op") != "host_reply" or header.get("id") != cid:
                raise RuntimeError("the server answered out of turn")
            if header.get("hid") != hid:
                with _host_cond:
                    _host_answers[header.get("hid")] = (header, blobs)
                    _host_cond.notify_all()
                continue
            break
        with _host_cond:
            _host_cond.wait(0.05)
    if not header.get("ok"):
        raise HostError(header.get("error") or "the server refused %s" % op, header.get("kind") or "")
    return header.get("result"), (blobs[0] if blobs else None)


# ---- the loop ----

def main():
    global _active
    import fused  # noqa: F401  (loads the package UDFs import)
    from fused import _host

    header, _ = read_msg()
    _configure_limits(header)
    _host.configure(header)
    _host.HOST = host_call
    _host.HostError = HostError
    _become_subreaper()
    _tag_threads()
    sys.stdout, sys.stderr = CallStream("stdout"), CallStream("stderr")
    write_msg({"ok": True, "op": "ready", "pid": PID, "id": header.get("id")})
    global _call_id
    while True:
        try:
            header, blobs = read_msg()
        except EOFError:
            return
        if header.get("op") == "host_reply":
            continue  # the answer to a thread of a call that has ended
        _call_id = header.get("id")
        since = _last_pid()
        log = CallLog()
        me = threading.current_thread()
        me._udftiles_log, _active = log, log
        try:
            reply, out = handle(header, blobs, log)
        finally:
            _active, me._udftiles_log, _call_id = None, None, None
            _host_answers.clear()
        if os.getpid() != PID:
            os._exit(0)  # a forked child came back here: it never answers
        try:
            killed = sweep(since)
        except Exception:
            killed = 0
        if killed:
            reply["swept"] = killed
        reply["logs"] = log.value()
        reply["id"], reply["pid"] = header.get("id"), PID
        write_msg(reply, out)


def _configure_limits(header):
    global LOG_LIMIT
    if header.get("max_log_mb"):
        LOG_LIMIT = int(header["max_log_mb"]) << 20


def handle(header, blobs, log):
    from fused import _host

    try:
        if header["op"] == "inspect":
            reply, out = _host.inspect_udf(header), []
        elif header["op"] == "call":
            from fused import _api
            with _api.call_env(header):
                reply, out = _host.call_udf(header)
        else:
            raise ValueError("unknown op %r" % header["op"])
        _host.check_output(sum(len(memoryview(b).cast("B")) for b in out))
        if log.over:
            raise LogLimitError("the UDF printed more than %d MB (python.max_log_mb)" % (LOG_LIMIT >> 20))
        reply["ok"] = True
    except _host.ParamError as e:
        reply, out = {"ok": False, "status": 400, "error": str(e)}, []
    except _host.OutputTooLarge as e:
        reply, out = {"ok": False, "status": 413, "error": str(e)}, []
    except MemoryError as e:
        reply, out = {"ok": False, "status": 500,
                      "error": "MemoryError: the UDF ran out of memory (python.memory_mb)\n"
                      + _host.format_exception(e)}, []
    except BaseException as e:  # the UDF's failure, reported to the caller
        if isinstance(e, KeyboardInterrupt):
            raise
        if os.getpid() != PID:
            os._exit(0)
        if log.over:
            e = LogLimitError("the UDF printed more than %d MB (python.max_log_mb); its logs were cut"
                              % (LOG_LIMIT >> 20))
        reply, out = {"ok": False, "status": 500, "error": _host.format_exception(e)}, []
    return reply, out


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        import traceback
        os.write(2, traceback.format_exc().encode("utf-8", "replace"))
        raise SystemExit(1)
