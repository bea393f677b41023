#!/usr/bin/env bash
# Batch runs on 127.0.0.1: `tileserver serve` with PYTHON_WORKERS Python workers and a UDF
# that sleeps `pause` seconds; the Python client (clients/python) submits jobs and times
# them: ITEMS items of a 1 s UDF at max_workers=MAX_WORKERS (Fused's docs show 10 × 3 s
# going from 30.9 s with fused.run to 5.3 s with fused.submit), and NOOP items of a no-op
# UDF, uncached and then cached, for the per-item overhead. Every measurement runs
# BENCH_RUNS times and the median is reported. Writes bench/results/jobs.md and prints it.
# That server keeps its jobs in files and runs them in-process (store.url: none); then the
# Go benchmark BenchmarkJobsQueue (e2e/jobs_bench_test.go) compares it with the store's queue
# (River) on SQLite and on PostgreSQL with 1 and 3 replicas: items/s and the queue's overhead
# per item; it writes bench/results/jobs_queue.md and prints it (QUEUE=0 skips it).
#
#   bench/jobs.sh              # or: make bench-jobs
#
# Environment: BENCH_RUNS [3], ITEMS [100], MAX_WORKERS [16], PYTHON_WORKERS [16],
# NOOP [500], TILESERVER [bin/tileserver], QUEUE [1], ITEMS_QUEUE [600], NOOP_QUEUE [600],
# QUEUE_BACKENDS [all: files,sqlite,pg1,pg3].
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
RUNS=${BENCH_RUNS:-3}
ITEMS=${ITEMS:-100}
MAXW=${MAX_WORKERS:-16}
PYW=${PYTHON_WORKERS:-16}
NOOP=${NOOP:-500}
TILESERVER=${TILESERVER:-bin/tileserver}
OUT=$ROOT/bench/results/jobs.md
die() { echo "bench-jobs: FAILED: $*" >&2; exit 1; }
[ -x "$TILESERVER" ] || make build
WORK=$(mktemp -d /tmp/udftiles-bench-jobs.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
cat >"$WORK/sleepy.py" <<'PY'
import time
import pandas as pd

@fused.udf
def udf(i: int = 0, pause: float = 1.0):
    time.sleep(pause)
    return pd.DataFrame({"i": [i]})
PY
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/config.yaml" <<YAML
cache: {memory_mb: 128}
python: {workers: $PYW, preload: [pandas], timeout: 60s}
store: {url: none}
server: {jobs_dir: $WORK/jobs}
udfs:
  - {name: sleepy, handler: python, path: $WORK/sleepy.py}
YAML
"$TILESERVER" serve --config "$WORK/config.yaml" --listen "127.0.0.1:$PORT" 2>"$WORK/server.log" &
PID=$!
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  kill -0 "$PID" 2>/dev/null || die "the server stopped: $(tail -5 "$WORK/server.log")"
  sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || die "the server did not become ready"
PYTHONPATH=$ROOT/clients/python UDFTILES_URL=http://127.0.0.1:$PORT /usr/bin/python3 - "$RUNS" "$ITEMS" "$MAXW" "$NOOP" >"$WORK/times" <<'PY'
import statistics, sys, time
import udftiles
runs, items, maxw, noop = (int(a) for a in sys.argv[1:])
def timed(**kw):
    t = time.time()
    pool = udftiles.submit("sleepy", **kw, collect=False)
    st = pool.wait(progress=False)
    assert st["ok"] == len(kw["arg_list"]), st
    return time.time() - t
sleep, cold, warm = [], [], []
for r in range(runs):
    sleep.append(timed(arg_list=list(range(items)), pause=1.0, max_workers=maxw, cache=False))
    cold.append(timed(arg_list=list(range(noop)), pause=0.0, max_workers=maxw, cache=False))
    warm.append(timed(arg_list=list(range(noop)), pause=0.0, max_workers=maxw))
print("%.2f %.3f %.3f" % (statistics.median(sleep), statistics.median(cold) / noop * 1000, statistics.median(warm) / noop * 1000))
PY
read -r SLEEP COLD WARM <"$WORK/times"
mkdir -p "$(dirname "$OUT")"
{
  echo "# Batch runs: jobs through the Python client"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), \`bench/jobs.sh\`, median of $RUNS runs."
  echo
  echo "**Machine:** $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM; python.workers $PYW"
  echo
  echo "| work | result |"
  echo "| --- | ---: |"
  echo "| $ITEMS items of a UDF sleeping 1 s, max_workers=$MAXW (uncached) | **$SLEEP s** (ideal: $(( (ITEMS + MAXW - 1) / MAXW )) rounds of 1 s) |"
  echo "| $NOOP items of a no-op UDF, uncached: wall time per item | $COLD ms |"
  echo "| the same items again, from the cache: wall time per item | $WARM ms |"
} >"$OUT"
cat "$OUT"
[ "${QUEUE:-1}" = 0 ] && exit 0
echo
echo "bench-jobs: the queue (SQLite; PostgreSQL with 1 and 3 replicas) against the in-process runner"
BENCH_JOBS_OUT=$ROOT/bench/results/jobs_queue.md go test ./e2e/ -run '^$' -bench BenchmarkJobsQueue -benchtime 1x -timeout 20m \
  >"$WORK/queue.log" 2>&1 || die "BenchmarkJobsQueue: $(tail -20 "$WORK/queue.log")"
echo
cat "$ROOT/bench/results/jobs_queue.md"
