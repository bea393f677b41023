#!/usr/bin/env bash
# Reliability under load, on 127.0.0.1: `tileserver serve` with the default config.yaml
# (cache.memory_mb and python.workers set, paths made absolute) takes DURATION of mixed
# traffic at CONNECTIONS connections from four wrk processes, one per class of tile:
#
#   cached  a warmed set of tiles of every kind (COG, vector, Python), answered from memory
#   cog     COG tiles of elevation and rgb: half with cache=false, half with a parameter
#           value never requested before (rendered, then stored in the memory tier)
#   vector  MVT tiles of countries (GeoParquet), countries_gpkg and cities_fgb with
#           cache=false, and countries tiles with default caching over a large tile list
#   python  hillshade and countries_udf: warmed tiles, cache=false tiles and hillshade
#           tiles with a parameter value never requested before
#   hostile one connection of UDFs that attack the server they run in (python/testdata/
#           hostile.py): 10000² arrays as 100 MB PNGs, 20000² arrays (413), 100 MB of prints
#           (500), forged reply frames (502), forks, background threads printing, processes
#           left in new sessions
#
# The connections are split evenly between the first four (the remainder goes to cached,
# which also gives hostile its one). A short warm-up load of
# the same mix fills the server's bounded pools (dataset handles, workers) first; then
# go_goroutines, process_open_fds and process_resident_memory_bytes are read from /metrics
# after a settle with no requests, before and after the measured run, and the server's
# RSS (VmRSS) is sampled every second during it. The script fails (exit 1) when:
#   - any answer is not 2xx, except 503s of the python and hostile classes saying the UDF's
#     queue is full ("too many calls waiting"), 503s saying the server's render queue is full
#     ("rendering as much as it can", load shedding), and the hostile class's 413, 500 and
#     502 (what its attacks earn); or a socket error or timeout occurs;
#   - goroutines after > before + LOAD_GOROUTINE_SLACK, or fds after > before + LOAD_FD_SLACK;
#   - the server's peak RSS (sampled, and the kernel's VmHWM) exceeds cache.memory_mb +
#     LOAD_RSS_ALLOWANCE_MB: the server's own budget beyond the cache (Go's heap is held to
#     memory_mb + 384 MiB, GDAL's block cache to 256 MiB, and the binary and C code take
#     about 128 MiB);
#     the Python workers are separate processes with their own limit and are not counted;
#   - the server dies or stops answering /healthz.
# Writes bench/results/load.md and prints it.
#
#   bench/load.sh                               # 60 s at 64 connections
#   DURATION=10s CONNECTIONS=16 bench/load.sh   # a quick look
#
# Environment (defaults in brackets):
#   DURATION [60s]                 measured run (s or m suffix, or plain seconds)
#   CONNECTIONS [64]               total connections, at least 4
#   TILESERVER [bin/tileserver]    built with `make build` when missing
#   LOAD_WARMUP [10s]              the warm-up load before the "before" reading (0 = none)
#   LOAD_SETTLE [5]                seconds without requests before each /metrics reading
#   LOAD_MEMORY_MB [256]           cache.memory_mb of the served config
#   LOAD_PYTHON_WORKERS [2]        python.workers of the served config
#   LOAD_RSS_ALLOWANCE_MB [768]    RSS allowed beyond cache.memory_mb
#   LOAD_GOROUTINE_SLACK [20], LOAD_FD_SLACK [10]
#   LOAD_TIMEOUT                   hard limit for the whole script in seconds [computed]
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

TILESERVER=${TILESERVER:-bin/tileserver}
CONNECTIONS=${CONNECTIONS:-64}
MEMORY_MB=${LOAD_MEMORY_MB:-256}
PY_WORKERS=${LOAD_PYTHON_WORKERS:-2}
SETTLE=${LOAD_SETTLE:-5}
ALLOWANCE_MB=${LOAD_RSS_ALLOWANCE_MB:-768}
G_SLACK=${LOAD_GOROUTINE_SLACK:-20}
FD_SLACK=${LOAD_FD_SLACK:-10}
OUT=$ROOT/bench/results/load.md
CLASSES=(cached cog vector python hostile)

log() { echo "bench-load: $*" >&2; }
die() { echo "bench-load: FAILED: $*" >&2; exit 1; }

# seconds DURATION: 60, 60s, 2m or 1h as whole seconds.
seconds() {
  case $1 in
    *h) echo $((${1%h} * 3600)) ;;
    *m) echo $((${1%m} * 60)) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}
DUR_S=$(seconds "${DURATION:-60s}")
WARM_S=$(seconds "${LOAD_WARMUP:-10s}")
for v in DUR_S WARM_S CONNECTIONS MEMORY_MB PY_WORKERS SETTLE ALLOWANCE_MB G_SLACK FD_SLACK; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number (DURATION and LOAD_WARMUP like 60s or 2m), got '${!v}'"
done
[ "$DUR_S" -gt 0 ] || die "DURATION must be positive"
[ "$CONNECTIONS" -ge $((${#CLASSES[@]} + 3)) ] || die "CONNECTIONS must be at least $((${#CLASSES[@]} + 3))"
[ "$MEMORY_MB" -gt 0 ] || die "LOAD_MEMORY_MB must be positive: the cached class needs the memory tier"
[ "$PY_WORKERS" -gt 0 ] || die "LOAD_PYTHON_WORKERS must be positive"
RSS_BOUND_MB=$((MEMORY_MB + ALLOWANCE_MB))
# Environment variables the server inherits that change its memory use or speed, when set.
ENVSET=""
for v in GOGC GOMEMLIMIT GOMAXPROCS GDAL_CACHEMAX; do [ -z "${!v:-}" ] || ENVSET+=" \`$v=${!v}\`"; done

# Connections per class: an even split of the first four, the remainder to cached, one of
# cached's to hostile (large outputs one at a time).
declare -A CONNS
for c in cached cog vector python; do CONNS[$c]=$((CONNECTIONS / 4)); done
CONNS[cached]=$((CONNS[cached] + CONNECTIONS % 4 - 1))
CONNS[hostile]=1

scripts/deps.sh wrk procps
for tool in wrk curl awk timeout; do command -v "$tool" >/dev/null || die "$tool not found"; done
if [ ! -x "$TILESERVER" ]; then
  log "building $TILESERVER"
  make build
fi
[ -x "$TILESERVER" ] || die "$TILESERVER is not executable"
if ! { [ -f data/demo/elevation.tif ] && [ -f data/demo/rgb.tif ] && [ -f data/demo/countries.parquet ] &&
  [ -f data/demo/countries.gpkg ] && [ -f data/demo/cities.fgb ]; }; then
  log "writing the demo data"
  "$TILESERVER" demo-data --out data/demo >/dev/null
fi

TIMEOUT=${LOAD_TIMEOUT:-$((DUR_S + WARM_S + 4 * SETTLE + 420))}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/udftiles-bench-load.XXXXXX")
SERVER_PID=""
SAMPLER_PID=""
WATCHDOG=""
WRK_PIDS=()

# children PID: the direct children of PID (the Python workers of the server).
children() { pgrep -P "$1" || true; }

stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 250); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? pid kids=""
  trap - EXIT INT TERM ERR
  [ -z "$WATCHDOG" ] || kill "$WATCHDOG" 2>/dev/null || true
  [ -z "$SAMPLER_PID" ] || kill "$SAMPLER_PID" 2>/dev/null || true
  for pid in "${WRK_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "$SERVER_PID" ]; then
    kids=$(children "$SERVER_PID" || true)
    stop_pid "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    for pid in $kids; do stop_pid "$pid"; done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR
trap 'log "interrupted"; exit 130' INT
trap 'log "stopped (time limit ${TIMEOUT}s or signal)"; exit 124' TERM

# The watchdog stops the whole script after TIMEOUT seconds; cleanup stops the watchdog.
(
  trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
  sleep "$TIMEOUT" &
  sleeper=$!
  wait "$sleeper" && kill -TERM $$
) 2>/dev/null &
WATCHDOG=$!

free_port() {
  local port i
  for i in $(seq 200); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  die "no free port found"
}

server_alive() {
  kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited; the end of its log:"$'\n'"$(tail -30 "$WORK/server.log")"
}

# ---------------------------------------------------------------------------------------
# The server: config.yaml with the cache size, the worker count, the listener and absolute
# data paths set; started in the repository so that UDFs' relative paths resolve.

PORT=$(free_port)
U=http://127.0.0.1:$PORT
# An admin token of this run only, for Go's goroutine profile under /debug/pprof/.
ADMIN=load-$RANDOM$RANDOM$RANDOM
awk -v root="$ROOT" -v port="$PORT" -v mem="$MEMORY_MB" -v pyw="$PY_WORKERS" -v admin="$ADMIN" '
  /^[A-Za-z_]+:/ { section = $1; sub(/:.*/, "", section) }
  section == "server" && /^[ ]+listen:/ { sub(/listen:.*/, "listen: \"127.0.0.1:" port "\""); nl++ }
  section == "cache" && /^[ ]+memory_mb:[ ]*[0-9]+/ { sub(/memory_mb:[ ]*[0-9]+/, "memory_mb: " mem); nm++ }
  section == "python" && /^[ ]+workers:[ ]*[0-9]+/ { sub(/workers:[ ]*[0-9]+/, "workers: " pyw); nw++ }
  /^[ ]+(- )?path:[ ]*[^ \/"#$]/ { sub(/path:[ ]*/, "path: " root "/") }
  /^admin_token:/ { $0 = "admin_token: " admin; na++ }
  /^udfs:[ ]*$/ { print; print "  - {name: hostile, handler: python, path: " root "/python/testdata/hostile.py, cache_max_age: 0s}"; next }
  { print }
  END { if (!na) print "admin_token: " admin; if (nl != 1 || nm != 1 || nw != 1) exit 3 }' config.yaml >"$WORK/config.yaml" ||
  die "config.yaml no longer has one server.listen, cache.memory_mb and python.workers line to set"

"$TILESERVER" serve --config "$WORK/config.yaml" --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 600); do
  server_alive
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$U/readyz" 2>/dev/null)" = 200 ] && break
  [ "$i" -eq 600 ] && die "/readyz did not answer 200 within 60 s"
  sleep 0.1
done
VERSION=$(curl -fsS --max-time 10 "$U/healthz" | sed -n 's/.*"version":"\([^"]*\)".*/\1/p')
log "server pid $SERVER_PID on $U (cache.memory_mb $MEMORY_MB, python.workers $PY_WORKERS)"

# layer NAME: the layer's description; it must be in service.
declare -A BOUNDS MINZ MAXZ
for name in elevation rgb countries countries_gpkg cities_fgb hillshade countries_udf; do
  d=$(curl -fsS --max-time 30 "$U/v1/udfs/$name") || die "GET /v1/udfs/$name failed"
  [[ $d == *'"status":"ok"'* ]] || die "layer $name is not in service: $(head -c 400 <<<"$d")"
  BOUNDS[$name]=$(sed -n 's/.*"bounds":\[\([^]]*\)\].*/\1/p' <<<"$d")
  MINZ[$name]=$(sed -n 's/.*"minzoom":\([0-9]*\).*/\1/p' <<<"$d")
  MAXZ[$name]=$(sed -n 's/.*"maxzoom":\([0-9]*\).*/\1/p' <<<"$d")
  if [ -z "${BOUNDS[$name]}" ] || [ -z "${MINZ[$name]}" ] || [ -z "${MAXZ[$name]}" ]; then die "no bounds or zooms in /v1/udfs/$name"; fi
done

# tiles BOUNDS ZMIN ZMAX SEED: z/x/y of every tile meeting the lon/lat bounds (shrunk by a
# hair, so that tiles merely touching an edge are left out), shuffled with SEED.
tiles() {
  awk -v b="$1" -v z0="$2" -v z1="$3" -v seed="$4" '
    function clamp(v, n) { return v < 0 ? 0 : (v >= n ? n - 1 : v) }
    function tx(lon, n) { return clamp(int((lon + 180) / 360 * n), n) }
    function ty(lat, n,   r) {
      if (lat > 85.0511287798) lat = 85.0511287798
      if (lat < -85.0511287798) lat = -85.0511287798
      r = lat * pi / 180
      return clamp(int((1 - log(sin(r) / cos(r) + 1 / cos(r)) / pi) / 2 * n), n)
    }
    BEGIN {
      pi = atan2(0, -1); e = 1e-7
      split(b, v, ",")
      for (z = z0; z <= z1; z++) {
        n = 2 ^ z
        for (y = ty(v[4] - e, n); y <= ty(v[2] + e, n); y++)
          for (x = tx(v[1] + e, n); x <= tx(v[3] - e, n); x++) t[++k] = z "/" x "/" y
      }
      srand(seed)
      for (i = k; i > 1; i--) { j = int(rand() * i) + 1; s = t[i]; t[i] = t[j]; t[j] = s }
      for (i = 1; i <= k; i++) print t[i]
    }'
}
EUROPE=-10,35,30,60
tiles "${BOUNDS[elevation]}" "${MINZ[elevation]}" "${MAXZ[elevation]}" 1 >"$WORK/t.elevation"
tiles "${BOUNDS[rgb]}" "${MINZ[rgb]}" "${MAXZ[rgb]}" 2 >"$WORK/t.rgb"
tiles "$EUROPE" 2 10 3 >"$WORK/t.vector"
tiles "${BOUNDS[hillshade]}" "${MINZ[hillshade]}" "${MAXZ[hillshade]}" 4 >"$WORK/t.hillshade"
tiles "$EUROPE" 3 8 5 >"$WORK/t.countries_udf"
for f in elevation rgb vector hillshade countries_udf; do
  [ -s "$WORK/t.$f" ] || die "empty tile list for $f"
done

# The cached class: tiles of every kind, requested twice before the load (the second
# answer must come from memory).
{
  tiles "${BOUNDS[elevation]}" 9 11 11 | awk 'NR <= 12' | sed 's|.*|/v1/udfs/elevation/tiles/&.png|'
  tiles "${BOUNDS[rgb]}" 4 6 12 | awk 'NR <= 8' | sed 's|.*|/v1/udfs/rgb/tiles/&.png|'
  tiles "$EUROPE" 2 4 13 | awk 'NR <= 8' | sed 's|.*|/v1/udfs/countries/tiles/&.mvt|'
  tiles "$EUROPE" 2 4 14 | awk 'NR <= 4' | sed 's|.*|/v1/udfs/countries_gpkg/tiles/&.mvt|'
  tiles "$EUROPE" 2 4 15 | awk 'NR <= 4' | sed 's|.*|/v1/udfs/cities_fgb/tiles/&.mvt|'
  tiles "${BOUNDS[hillshade]}" 10 11 16 | awk 'NR <= 8' | sed 's|.*|/v1/udfs/hillshade/tiles/&.png|'
  tiles "$EUROPE" 3 3 17 | awk 'NR <= 4' | sed 's|.*|/v1/udfs/countries_udf/tiles/&.mvt|'
} >"$WORK/cached.paths"
grep '/hillshade/\|/countries_udf/' "$WORK/cached.paths" >"$WORK/cached-python.paths"

# fetch PATH: "status x-cache" of one GET.
fetch() { curl -s -o /dev/null --max-time 60 -w '%{http_code} %header{x-cache}' "$U$1" || echo "000 -"; }
log "warming $(wc -l <"$WORK/cached.paths") tiles"
while read -r p; do
  r=$(fetch "$p")
  [[ $r == 2* ]] || die "warming $p: HTTP ${r% *}"
done <"$WORK/cached.paths"
while read -r p; do
  r=$(fetch "$p")
  [ "$r" = "200 memory" ] || die "$p is not answered from memory after warming: $r"
done <"$WORK/cached.paths"

# The other classes' path lists: kinds of request in turn, each kind walking its tile list.
# {n} stands for a number that the wrk script makes unique per request.
# interleave KIND...: KIND is "TILEFILE|PREFIX|SUFFIX"; one line per kind in turn, until
# the longest tile list is used up (shorter ones wrap around).
interleave() {
  local IFS=$'\n'
  awk -v specs="$*" '
    BEGIN {
      nk = split(specs, K, "\n")
      for (k = 1; k <= nk; k++) {
        split(K[k], f, "|"); P[k] = f[2]; S[k] = f[3]; n[k] = 0
        while ((getline line < f[1]) > 0) T[k, ++n[k]] = line
        close(f[1])
        if (n[k] == 0) { print "interleave: no lines in " f[1] > "/dev/stderr"; exit 1 }
        if (n[k] > max) max = n[k]
      }
      for (i = 0; i < max; i++)
        for (k = 1; k <= nk; k++) print P[k] T[k, i % n[k] + 1] S[k]
    }'
}
interleave \
  "$WORK/t.elevation|/v1/udfs/elevation/tiles/|.png?cache=false" \
  "$WORK/t.rgb|/v1/udfs/rgb/tiles/|.png?cache=false" \
  "$WORK/t.elevation|/v1/udfs/elevation/tiles/|.png?rescale=0,3000.{n}" \
  "$WORK/t.rgb|/v1/udfs/rgb/tiles/|.png?rescale=0,255.{n}" >"$WORK/cog.paths"
interleave \
  "$WORK/t.vector|/v1/udfs/countries/tiles/|.mvt?cache=false" \
  "$WORK/t.vector|/v1/udfs/countries_gpkg/tiles/|.mvt?cache=false" \
  "$WORK/t.vector|/v1/udfs/cities_fgb/tiles/|.mvt?cache=false" \
  "$WORK/t.vector|/v1/udfs/countries/tiles/|.mvt" >"$WORK/vector.paths"
interleave \
  "$WORK/cached-python.paths||" \
  "$WORK/t.hillshade|/v1/udfs/hillshade/tiles/|.png?cache=false" \
  "$WORK/t.countries_udf|/v1/udfs/countries_udf/tiles/|.mvt?cache=false" \
  "$WORK/t.hillshade|/v1/udfs/hillshade/tiles/|.png?azimuth=315.{n}" >"$WORK/python.paths"
cat >"$WORK/hostile.paths" <<'PATHS'
/v1/udfs/hostile/run?mode=noise&n=10000&format=png
/v1/udfs/hostile/run?mode=chatter&value=SECRET
/v1/udfs/hostile/run?mode=noise&n=20000&format=npy
/v1/udfs/hostile/run?mode=forge&value=SECRET
/v1/udfs/hostile/run?mode=flood&n=100
/v1/udfs/hostile/run?mode=fork&value=forked
/v1/udfs/hostile/run?mode=noise&n=10000&format=tif
/v1/udfs/hostile/run?mode=spawn&n=3333
/v1/udfs/hostile/run?mode=cfork&value=forked
/v1/udfs/hostile/run?mode=daemon&n=3333
PATHS

# Every kind of request answers 2xx once before the load.
for c in cog vector python; do
  while read -r p; do
    r=$(fetch "$p")
    [[ $r == 2* ]] || die "$p: HTTP ${r% *}"
  done < <(awk 'NR <= 4' "$WORK/$c.paths" | sed 's/{n}/00000000/')
done
r=$(fetch "/v1/udfs/hostile/run?mode=echo&value=ready")
[[ $r == 2* ]] || die "the hostile layer: HTTP ${r% *}"

# ---------------------------------------------------------------------------------------
# wrk: one process per class, each walking its list and counting answers by status.

cat >"$WORK/mix.lua" <<'LUA'
-- Walks a list of request paths (each thread from its own offset, wrapping around) and
-- counts the answers by status. Arguments after `--`: the path list and the first number
-- substituted for {n} (then one more per request, unique across threads).
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  if #paths == 0 then error("mix.lua: no paths in " .. args[1]) end
  base = tonumber(args[2] or "0")
  pos = (id * 7919) % #paths
  seq = 0
  codes = {}
  queue_full = 0
  shed = 0
end

function request()
  local p = paths[pos + 1]
  pos = (pos + 1) % #paths
  if p:find("{n}", 1, true) then
    p = p:gsub("{n}", string.format("%08d", base + seq * 64 + id))
    seq = seq + 1
  end
  return wrk.format("GET", p)
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
  if status == 503 and body ~= nil then
    if body:find("too many calls waiting", 1, true) then
      queue_full = queue_full + 1
    elseif body:find("rendering as much as it can", 1, true) then
      shed = shed + 1
    end
  end
end

function done(summary, latency, requests)
  local total, qf, sh = {}, 0, 0
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("codes")) do total[code] = (total[code] or 0) + n end
    qf = qf + t:get("queue_full")
    sh = sh + t:get("shed")
  end
  local e = summary.errors
  io.write(string.format("LOAD requests %d\n", summary.requests))
  io.write(string.format("LOAD duration_us %d\n", summary.duration))
  io.write(string.format("LOAD socket_errors %d %d %d %d %d\n", e.connect, e.read, e.write, e.timeout, e.status))
  for code, n in pairs(total) do io.write(string.format("LOAD status %d %d\n", code, n)) end
  io.write(string.format("LOAD queue_full %d\n", qf))
  io.write(string.format("LOAD shed %d\n", sh))
  for _, p in ipairs({50, 90, 99}) do
    io.write(string.format("LOAD p%d_us %d\n", p, latency:percentile(p)))
  end
  io.write(string.format("LOAD max_us %d\n", latency.max))
end
LUA

# load PHASE SECONDS BASE: runs every class at once for SECONDS into $WORK/PHASE-CLASS.txt.
load() {
  local phase=$1 secs=$2 base=$3 c pid rc=0
  WRK_PIDS=()
  for c in "${CLASSES[@]}"; do
    timeout $((secs + 60)) wrk -t1 -c"${CONNS[$c]}" -d"${secs}s" --timeout 30s -s "$WORK/mix.lua" \
      "$U" -- "$WORK/$c.paths" "$base" >"$WORK/$phase-$c.txt" 2>&1 &
    WRK_PIDS+=($!)
  done
  for pid in "${WRK_PIDS[@]}"; do wait "$pid" || rc=$?; done
  WRK_PIDS=()
  [ "$rc" -eq 0 ] || die "wrk failed in the $phase phase (exit $rc): $(cat "$WORK/$phase"-*.txt | tail -20)"
  for c in "${CLASSES[@]}"; do
    grep -q '^LOAD requests' "$WORK/$phase-$c.txt" || die "wrk ($phase, $c) printed no summary: $(cat "$WORK/$phase-$c.txt")"
  done
}

# metric NAME FILE: a sample's value from a /metrics text, as an integer (sums labelled series).
metric() { awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2; f = 1 } END { if (!f) exit 1; printf "%.0f", s }' "$2"; }
# read_metrics TAG: /metrics after SETTLE seconds without requests, into $WORK/metrics.TAG.
read_metrics() {
  sleep "$SETTLE"
  server_alive
  curl -fsS --max-time 10 "$U/metrics" >"$WORK/metrics.$1" || die "GET /metrics failed"
  for m in go_goroutines process_open_fds process_resident_memory_bytes go_threads; do
    metric "$m" "$WORK/metrics.$1" >/dev/null || die "/metrics has no $m"
  done
  grep -E '^(VmRSS|RssAnon|RssFile|RssShmem):' "/proc/$SERVER_PID/status" >"$WORK/status.$1" || true
  curl -fsS --max-time 10 -H "Authorization: Bearer $ADMIN" "$U/debug/pprof/goroutine?debug=1" >"$WORK/goroutines.$1" 2>/dev/null ||
    : >"$WORK/goroutines.$1"
}
# goroutines_by_entry TAG: "count function" of the goroutines by the function each started
# in (the last frame of its stack), from the profile read with /metrics.
goroutines_by_entry() {
  awk '/^[0-9]+ @/ { if (n) c[f] += n; n = $1; f = "runtime.goexit" } /^#\t0x/ { f = $3; sub(/\+0x[0-9a-f]+$/, "", f) } END { if (n) c[f] += n; for (k in c) print c[k], k }' \
    "$WORK/goroutines.$1" | sort -k2
}
# http_codes FILE: "code count" of udftiles_http_requests_total, summed over routes.
http_codes() {
  awk '/^udftiles_http_requests_total\{/ { if (match($1, /code="[0-9]+"/)) { c = substr($1, RSTART + 6, RLENGTH - 7); n[c] += $2 } }
    END { for (c in n) printf "%s %.0f\n", c, n[c] }' "$1" | sort -n
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
python_rss_kb() {
  local s=0 k
  for k in $(children "$SERVER_PID"); do s=$((s + $(rss_kb "$k"))); done
  echo "$s"
}

read_metrics start
if [ "$WARM_S" -gt 0 ]; then
  log "warm-up load: ${WARM_S}s"
  load warmup "$WARM_S" 0
  server_alive
fi
read_metrics before
LOG_AT_BEFORE=$(wc -l <"$WORK/server.log")
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# RSS of the server (and, for information, of its Python workers) every second.
(
  while kill -0 "$SERVER_PID" 2>/dev/null; do
    echo "$(date +%s) $(rss_kb "$SERVER_PID") $(python_rss_kb)"
    sleep 1
  done
) >"$WORK/rss.log" 2>/dev/null &
SAMPLER_PID=$!

log "load: ${DUR_S}s, $CONNECTIONS connections ($(for c in "${CLASSES[@]}"; do printf '%s %s, ' "$c" "${CONNS[$c]}"; done | sed 's/, $//'))"
load run "$DUR_S" 50000000
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""
server_alive
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
read_metrics after
HWM_KB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SERVER_PID/status")
curl -fsS -o /dev/null --max-time 10 "$U/healthz" || die "/healthz does not answer after the load"
still=0
while read -r p; do
  if [ "$(fetch "$p")" = "200 memory" ]; then still=$((still + 1)); fi
done <"$WORK/cached.paths"

# ---------------------------------------------------------------------------------------
# Verdict and report.

FAILS=()
ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }
val() { awk -v k="$1" '$1 == "LOAD" && $2 == k { print $3; exit }' "$2"; }
declare -A ROW
for c in "${CLASSES[@]}"; do
  f=$WORK/run-$c.txt
  n=$(val requests "$f")
  dur=$(val duration_us "$f")
  qf=$(val queue_full "$f")
  read -r e_conn e_read e_write e_timeout _ < <(awk '$1 == "LOAD" && $2 == "socket_errors" { print $3, $4, $5, $6, $7 }' "$f")
  codes=$(awk '$1 == "LOAD" && $2 == "status" { print $3, $4 }' "$f" | sort -n)
  shed=$(val shed "$f")
  # Intended 503s: a Python UDF's queue full (python class only) and the server's render
  # queue full (load shedding, any class).
  ok503=$shed
  [ "$c" != python ] && [ "$c" != hostile ] || ok503=$((ok503 + qf))
  statuses=$(while read -r code cnt; do
    [ -n "$code" ] || continue
    if [ "$code" = 503 ]; then
      printf '%s: %s (%s queue full, %s render queue full), ' "$code" "$cnt" "$([ "$c" = python ] || [ "$c" = hostile ] && echo "$qf" || echo 0)" "$shed"
    else
      printf '%s: %s, ' "$code" "$cnt"
    fi
  done <<<"$codes" | sed 's/, $//')
  while read -r code cnt; do
    [ -n "$code" ] || continue
    [[ $code == 2?? ]] && continue
    if [ "$c" = hostile ] && { [ "$code" = 413 ] || [ "$code" = 500 ] || [ "$code" = 502 ]; }; then
      continue # what the attacks earn
    fi
    if [ "$code" = 503 ]; then
      [ "$cnt" -eq "$ok503" ] || FAILS+=("$c: $((cnt - ok503)) answers 503 for another reason than a full Python queue or render queue")
      continue
    fi
    FAILS+=("$c: $cnt answers $code")
  done <<<"$codes"
  socket=$((e_conn + e_read + e_write + e_timeout))
  [ "$socket" -eq 0 ] || FAILS+=("$c: socket errors: connect $e_conn, read $e_read, write $e_write, timeout $e_timeout")
  [ "${n:-0}" -gt 0 ] || FAILS+=("$c: no request answered")
  rps=$(awk -v n="$n" -v d="$dur" 'BEGIN { printf "%.0f", (d > 0 ? n / (d / 1e6) : 0) }')
  ROW[$c]="| $c | ${CONNS[$c]} | $n | $rps | $statuses | $socket | $(ms "$(val p50_us "$f")") | $(ms "$(val p99_us "$f")") | $(ms "$(val max_us "$f")") |"
done
TOTAL_N=$(for c in "${CLASSES[@]}"; do val requests "$WORK/run-$c.txt"; done | awk '{ s += $1 } END { print s }')
TOTAL_RPS=$(for c in "${CLASSES[@]}"; do f=$WORK/run-$c.txt; echo "$(val requests "$f") $(val duration_us "$f")"; done |
  awk '{ s += $1; d = ($2 > d ? $2 : d) } END { printf "%.0f", s / (d / 1e6) }')

m() { metric "$1" "$WORK/metrics.$2"; }
G0=$(m go_goroutines start) G1=$(m go_goroutines before) G2=$(m go_goroutines after)
F0=$(m process_open_fds start) F1=$(m process_open_fds before) F2=$(m process_open_fds after)
T0=$(m go_threads start) T1=$(m go_threads before) T2=$(m go_threads after)
R0=$(($(m process_resident_memory_bytes start) >> 20)) R1=$(($(m process_resident_memory_bytes before) >> 20))
R2=$(($(m process_resident_memory_bytes after) >> 20))
st() { awk -v k="$1:" '$1 == k { print int($2 / 1024) }' "$WORK/status.$2"; }
outside() {
  local anon sys rel
  anon=$(awk '$1 == "RssAnon:" { print $2 * 1024 }' "$WORK/status.$1")
  sys=$(m go_memstats_sys_bytes "$1" 2>/dev/null) rel=$(m go_memstats_heap_released_bytes "$1" 2>/dev/null) || { echo "n/a"; return; }
  echo $(((anon - sys + rel) >> 20))
}
mib() { local v; v=$(m "$1" "$2" 2>/dev/null) && echo $((v >> 20)) || echo "n/a"; }
GC_PERCENT=$(m go_gc_gogc_percent after 2>/dev/null || echo "n/a")
MEM_LIMIT=$(m go_gc_gomemlimit_bytes after 2>/dev/null || echo 0)
if [ "${#MEM_LIMIT}" -ge 18 ]; then MEM_LIMIT=none; else MEM_LIMIT="$((MEM_LIMIT >> 20)) MiB"; fi
# Goroutines that are more numerous after the run than before, by the function they started in.
GROWN=$(join -1 2 -2 2 -a1 -a2 -e0 -o 0,1.1,2.1 <(goroutines_by_entry before) <(goroutines_by_entry after) |
  awk '$3 > $2 { printf "%s +%d, ", $1, $3 - $2 }' | sed 's/, $//')
RESTARTS=$(($(m udftiles_python_worker_restarts_total after 2>/dev/null || echo 0) - $(m udftiles_python_worker_restarts_total before 2>/dev/null || echo 0)))
[ "$G2" -le $((G1 + G_SLACK)) ] || FAILS+=("goroutines grew from $G1 to $G2 (slack $G_SLACK)")
[ "$F2" -le $((F1 + FD_SLACK)) ] || FAILS+=("open file descriptors grew from $F1 to $F2 (slack $FD_SLACK)")

PEAK_KB=$(awk '$2 > p { p = $2 } END { print p + 0 }' "$WORK/rss.log")
PY_PEAK_KB=$(awk '$3 > p { p = $3 } END { print p + 0 }' "$WORK/rss.log")
SAMPLES=$(wc -l <"$WORK/rss.log")
TREND=$(awk 'NR % 10 == 1 { printf "%s%d", (NR > 1 ? ", " : ""), $2 / 1024 } END { if (NR % 10 != 1) printf ", %d", $2 / 1024 }' "$WORK/rss.log")
PEAK_MB=$((PEAK_KB >> 10)) HWM_MB=$((HWM_KB >> 10)) PY_PEAK_MB=$((PY_PEAK_KB >> 10))
[ "$SAMPLES" -gt 0 ] || FAILS+=("no RSS sample was taken")
[ "$PEAK_MB" -le "$RSS_BOUND_MB" ] || FAILS+=("peak RSS during the run ${PEAK_MB} MiB exceeds the bound ${RSS_BOUND_MB} MiB")
[ "$HWM_MB" -le "$RSS_BOUND_MB" ] || FAILS+=("RSS high-water mark (VmHWM) ${HWM_MB} MiB exceeds the bound ${RSS_BOUND_MB} MiB")

# Server-side count of answers by status over the measured run (includes /metrics reads).
join -a1 -a2 -e0 -o 0,1.2,2.2 <(http_codes "$WORK/metrics.before") <(http_codes "$WORK/metrics.after") |
  awk '$3 - $2 > 0 { printf "%s: %d, ", $1, $3 - $2 }' | sed 's/, $//' >"$WORK/server-codes"
tail -n +"$((LOG_AT_BEFORE + 1))" "$WORK/server.log" >"$WORK/server-run.log"
PANICS=$(grep -c '"panic serving request"\|"panic rendering a tile"' "$WORK/server.log" || true)
ERRLOGS=$(grep -c '"level":"ERROR"' "$WORK/server-run.log" || true)
[ "$PANICS" -eq 0 ] || FAILS+=("the server logged $PANICS panics")

MEM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
COMMIT=$(git describe --always --dirty 2>/dev/null || echo unknown)
WRKV=$({ wrk -v 2>&1 || true; } | sed -n 's/^wrk \([^ ]*\).*/\1/p')
if [ ${#FAILS[@]} -eq 0 ]; then VERDICT="**PASS**"; else VERDICT="**FAIL**"; fi
PYQ=$(awk '/^[A-Za-z_]+:/ { s = $1 } s == "python:" && $1 == "queue:" { print $2 }' "$WORK/config.yaml")
if [ "${PYQ:-0}" = 0 ]; then PYQ="default (4 waiting calls per worker, per UDF: $((4 * PY_WORKERS)))"; fi

mkdir -p "$(dirname "$OUT")"
{
  echo "# Load test: mixed tiles at $CONNECTIONS connections"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), \`$TILESERVER\` version \`${VERSION:-unknown}\` (repository at \`$COMMIT\`), \`bench/load.sh\`: $VERDICT"
  echo
  echo "**Machine:** $(nproc) CPUs (${CPU_MODEL:-unknown CPU}), $MEM RAM, Linux $(uname -r); wrk $WRKV on the same"
  echo "machine, over 127.0.0.1. The machine may be shared: load average before/after the run"
  echo "$LOAD_BEFORE / $LOAD_AFTER."
  echo
  echo "**Run:** ${DUR_S} s measured after a ${WARM_S} s warm-up load of the same mix; $CONNECTIONS connections"
  echo "over four wrk processes (1 thread each, one per class). Server: the default config.yaml with"
  echo "\`cache.memory_mb: $MEMORY_MB\`, \`python.workers: $PY_WORKERS\`, python.queue $PYQ.${ENVSET:+ Inherited by the server:$ENVSET.}"
  echo
  echo "| class | conns | requests | req/s | status counts | socket errors | p50 ms | p99 ms | max ms |"
  echo "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"
  for c in "${CLASSES[@]}"; do echo "${ROW[$c]}"; done
  echo "| all | $CONNECTIONS | $TOTAL_N | $TOTAL_RPS | | | | | |"
  echo
  echo "Classes: **cached** $(wc -l <"$WORK/cached.paths") warmed tiles (elevation, rgb, countries, countries_gpkg,"
  echo "cities_fgb, hillshade, countries_udf), $still of them still answered from memory after the run;"
  echo "**cog** elevation/rgb PNG, half \`cache=false\`, half with a \`rescale\` never requested before;"
  echo "**vector** MVT of countries (GeoParquet), countries_gpkg, cities_fgb with \`cache=false\` and"
  echo "countries with caching, z2–10 over Europe; **python** the warmed hillshade/countries_udf tiles,"
  echo "hillshade and countries_udf (MVT) with \`cache=false\`, hillshade with an \`azimuth\` never requested"
  echo "before; **hostile** one connection of UDFs attacking the server (100 MB PNG and GeoTIFF results of"
  echo "10000² arrays, 20000² arrays refused with 413, 100 MB of prints failing with 500, forged reply frames"
  echo "answered 502, forks, printing threads, processes left behind). Intended 503s: a full Python UDF"
  echo "queue (\"too many calls waiting\", python and hostile classes) and a full render queue (\"rendering as"
  echo "much as it can\", load shedding of servers with render slots)."
  echo "Server-side answers during the run (\`udftiles_http_requests_total\`): $(cat "$WORK/server-codes")."
  echo
  echo "| /metrics (after ${SETTLE} s without requests) | at start | before the run | after the run | allowed after |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  echo "| go_goroutines | $G0 | $G1 | $G2 | $((G1 + G_SLACK)) |"
  echo "| process_open_fds | $F0 | $F1 | $F2 | $((F1 + FD_SLACK)) |"
  echo "| go_threads | $T0 | $T1 | $T2 | |"
  echo "| process_resident_memory_bytes (MiB) | $R0 | $R1 | $R2 | |"
  for g in heap_alloc heap_inuse heap_sys heap_released next_gc sys; do
    echo "| go_memstats_${g}_bytes (MiB) | $(mib "go_memstats_${g}_bytes" start) | $(mib "go_memstats_${g}_bytes" before) | $(mib "go_memstats_${g}_bytes" after) | |"
  done
  for k in RssAnon RssFile; do
    echo "| $k from /proc/PID/status (MiB) | $(st "$k" start) | $(st "$k" before) | $(st "$k" after) | |"
  done
  echo "| RssAnon − (Go sys − heap released): memory outside Go's runtime, mostly GDAL/C (MiB) | $(outside start) | $(outside before) | $(outside after) | |"
  echo
  echo "Go's garbage collector: GOGC $GC_PERCENT, memory limit $MEM_LIMIT."
  if [ -n "$GROWN" ]; then
    echo "Goroutines more numerous after than before, by the function they started in: $GROWN."
  fi
  echo
  echo "\"At start\" is after warming the cached tiles, before any load; the warm-up load fills the"
  echo "server's bounded pools (up to 8 dataset handles per layer, the Python workers) before \"before\"."
  echo
  echo "**RSS** of the server over the run (MiB, every 10th one-second sample): $TREND."
  echo
  echo "**RSS** of the server: peak ${PEAK_MB} MiB sampled every second during the run ($SAMPLES samples in"
  echo "${DUR_S} s; far fewer means the machine was starved of CPU),"
  echo "high-water mark (VmHWM, whole life) ${HWM_MB} MiB; **bound ${RSS_BOUND_MB} MiB** = cache.memory_mb $MEMORY_MB"
  echo "+ $ALLOWANCE_MB MiB for the Go heap beyond the cache (held to memory_mb + 384 MiB), GDAL's block cache (256 MiB), the binary and C code. The Python"
  echo "workers are separate processes (limited by python.memory_mb each) and are not counted:"
  echo "their peak RSS together was ${PY_PEAK_MB} MiB."
  echo
  echo "Python worker restarts from \"before\" to \"after\": $RESTARTS. An uncached Python call whose client"
  echo "goes away is stopped by killing its worker (a fresh one is started), so the \`cache=false\` calls"
  echo "still running when wrk stops cost up to one restart per worker."
  echo "Server log: $PANICS panics (whole life), $ERRLOGS error lines from \"before\" to \"after\"."
  echo
  if [ ${#FAILS[@]} -eq 0 ]; then
    echo "Verdict: $VERDICT — only 2xx answers (and intended 503s), no goroutine or descriptor growth, RSS within the bound."
  else
    echo "Verdict: $VERDICT"
    echo
    for f in "${FAILS[@]}"; do echo "- $f"; done
  fi
  if [ "$ERRLOGS" -gt 0 ]; then
    echo
    echo "Last error lines of the server log from \"before\" to \"after\":"
    echo
    echo '```'
    grep '"level":"ERROR"' "$WORK/server-run.log" | tail -6 | cut -c1-400
    echo '```'
  fi
} >"$OUT"
cat "$OUT"
[ ${#FAILS[@]} -eq 0 ] || die "${#FAILS[@]} check(s) failed (see $OUT)"
