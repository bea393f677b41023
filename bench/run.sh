#!/usr/bin/env bash
# Benchmarks udftiles against a bare Go file server (cached tiles) and MapServer 8 behind
# lighttpd/FastCGI (uncached tiles from the same COG and tile list), with wrk, on 127.0.0.1.
# Every measurement runs BENCH_RUNS times (interleaved between the servers compared) and the
# median is reported. Writes bench/results/latest.md (and raw wrk output next to it), prints it.
#
#   bench/run.sh                      # or: make bench
#   BENCH_DURATION=5s BENCH_RUNS=1 bench/run.sh   # a quick look
#
# Environment (defaults in brackets):
#   BENCH_DURATION [10s]   length of each measured wrk run
#   BENCH_WARMUP [2s]      unmeasured wrk run before each series
#   BENCH_RUNS [3]         runs per measurement; the median is reported
#   BENCH_THREADS [2], BENCH_CONNECTIONS [8]   wrk concurrency (c=1 runs use 1 and 1)
#   BENCH_MINZOOM [10], BENCH_MAXZOOM [16], BENCH_SEED [1]   the uncached tile list
#   BENCH_CACHED_ZOOM [12] zoom of the cached tile (the one at the DEM's centre)
#   BENCH_MAPSERV_PROCS    mapserv FastCGI processes [nproc, clamped to 2..4]
#   BENCH_STRICT [0]       1: also exit non-zero when a target is missed
#   BENCH_TIMEOUT          hard limit for the whole script in seconds [computed]
#   TILESERVER [bin/tileserver]
set -Eeuo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
RUNS=${BENCH_RUNS:-3}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-8}
MINZOOM=${BENCH_MINZOOM:-10}
MAXZOOM=${BENCH_MAXZOOM:-16}
SEED=${BENCH_SEED:-1}
CACHED_ZOOM=${BENCH_CACHED_ZOOM:-12}
STRICT=${BENCH_STRICT:-0}
TILESERVER=${TILESERVER:-bin/tileserver}
MAPSERV=/usr/lib/cgi-bin/mapserv
NPROC=$(nproc)
MS_PROCS=${BENCH_MAPSERV_PROCS:-$((NPROC < 2 ? 2 : (NPROC > 4 ? 4 : NPROC)))}

RESULTS=$ROOT/bench/results
OUT=$RESULTS/latest.md
RAW=$RESULTS/raw

log() { echo "bench: $*" >&2; }
die() { echo "bench: FAILED: $*" >&2; exit 1; }

# seconds <duration>: wrk durations (10s, 2m, 500ms is not supported) to whole seconds.
seconds() {
  local d=$1
  case $d in
    *h) echo $((${d%h} * 3600)) ;;
    *m) echo $((${d%m} * 60)) ;;
    *s) echo "${d%s}" ;;
    *) echo "$d" ;;
  esac
}
DUR_S=$(seconds "$DURATION")
WARM_S=$(seconds "$WARMUP")
[[ $DUR_S =~ ^[0-9]+$ && $DUR_S -gt 0 && $WARM_S =~ ^[0-9]+$ && $RUNS =~ ^[0-9]+$ && $RUNS -gt 0 ]] ||
  die "BENCH_DURATION/BENCH_WARMUP must be like 10s or 1m, BENCH_RUNS a positive integer"
[[ $MS_PROCS =~ ^[1-9][0-9]*$ ]] || die "BENCH_MAPSERV_PROCS must be a positive integer"

# Three series of two servers: six measured runs per round and six warm-ups, plus setup.
EXPECTED=$((6 * RUNS * DUR_S + 6 * WARM_S))
TIMEOUT=${BENCH_TIMEOUT:-$((2 * EXPECTED + 300))}

# ---------------------------------------------------------------------------------------
# Tools, processes and cleanup.

scripts/deps.sh wrk cgi-mapserver mapserver-bin lighttpd
for tool in wrk lighttpd curl go timeout od; do
  command -v "$tool" >/dev/null || die "$tool not found"
done
[ -x "$MAPSERV" ] || die "$MAPSERV not found (Debian package cgi-mapserver)"
[ -x /usr/bin/python3 ] || die "/usr/bin/python3 not found"
if [ ! -x "$TILESERVER" ]; then
  log "building $TILESERVER"
  make build
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/udftiles-bench.XXXXXX")
PIDS=()
WATCHDOG=""

# children_of PID: the ids of PID's direct children (lighttpd's mapserv processes).
children_of() {
  local parent=$1 p stat fields
  for p in /proc/[0-9]*; do
    stat=$(cat "$p/stat" 2>/dev/null) || continue
    stat=${stat##*) } # drop "pid (comm) ": then the fields are state, ppid, ...
    read -r -a fields <<<"$stat"
    if [ "${fields[1]:-}" = "$parent" ]; then echo "${p#/proc/}"; fi
  done
}

# cpu_ticks PID...: user + system CPU ticks used so far by the PIDs and their children.
cpu_ticks() {
  local pid total=0 stat fields
  for pid in "$@" $(for pid in "$@"; do children_of "$pid"; done); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    read -r -a fields <<<"$stat"
    total=$((total + fields[11] + fields[12]))
  done
  echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)

stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? pid kids
  trap - EXIT INT TERM ERR
  if [ -n "$WATCHDOG" ]; then kill "$WATCHDOG" 2>/dev/null || true; fi
  for pid in "${PIDS[@]}"; do
    kids=$(children_of "$pid" || true)
    stop_pid "$pid"
    for k in $kids; do stop_pid "$k"; done
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "FAILED (exit $?) at line $LINENO: $BASH_COMMAND"' ERR
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

# free_port: a TCP port nobody listens on at 127.0.0.1 (and not handed out before).
USED_PORTS=" "
free_port() {
  local port i
  for i in $(seq 200); do
    port=$((20000 + RANDOM % 40000))
    [[ $USED_PORTS == *" $port "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      USED_PORTS+="$port "
      echo "$port"
      return 0
    fi
  done
  die "no free port found"
}

# wait_http URL PID NAME: waits up to 30 s for URL to answer 200 while PID lives.
wait_http() {
  local url=$1 pid=$2 name=$3 i
  for i in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || die "$name exited during startup (see its log below)"$'\n'"$(tail -20 "$WORK/$name.log" 2>/dev/null)"
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  die "$name did not answer $url within 30 s"
}

# check_png FILE WHAT: FILE is a PNG of 256 x 256 pixels.
check_png() {
  local hex
  hex=$(od -An -tx1 -N24 "$1" | tr -d ' \n')
  [ "${hex:0:16}" = 89504e470d0a1a0a ] || die "$2 is not a PNG ($(head -c 200 "$1" | tr -c '[:print:]' ' '))"
  [ "${hex:24:8}" = 49484452 ] || die "$2: PNG without IHDR"
  [ $((16#${hex:32:8})) -eq 256 ] && [ $((16#${hex:40:8})) -eq 256 ] ||
    die "$2 is $((16#${hex:32:8}))x$((16#${hex:40:8})), not 256x256"
}

# fetch_png URL FILE WHAT: GET into FILE (headers into FILE.headers); 200 with Content-Type image/png and a 256 px PNG.
fetch_png() {
  local url=$1 file=$2 what=$3 meta code ctype
  meta=$(curl -sS --max-time 30 -o "$file" -D "$file.headers" -w '%{http_code} %{content_type}' "$url") ||
    die "$what: request failed: $url"
  code=${meta%% *}
  ctype=${meta#* }
  [ "$code" = 200 ] || die "$what: HTTP $code for $url: $(head -c 300 "$file")"
  [[ $ctype == image/png* ]] || die "$what: Content-Type '$ctype' for $url: $(head -c 300 "$file")"
  check_png "$file" "$what"
}

# ---------------------------------------------------------------------------------------
# wrk runs and their numbers.

# to_ms VALUE: wrk latency (850.00us, 12.3ms, 1.20s, 2.0m) in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) printf "%.2f", substr(v, 1, length(v) - 2) / 1000
    else if (v ~ /ms$/) printf "%.2f", substr(v, 1, length(v) - 2)
    else if (v ~ /m$/) printf "%.2f", substr(v, 1, length(v) - 1) * 60000
    else if (v ~ /s$/) printf "%.2f", substr(v, 1, length(v) - 1) * 1000
    else exit 1 }'
}

# median DECIMALS VALUES...: the median (the mean of the middle two for an even count).
median() {
  local decimals=$1
  shift
  printf '%s\n' "$@" | sort -g | awk -v f="%.${decimals}f" '{ v[NR] = $1 } END {
    if (NR == 0) exit 1
    printf f, (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# wrk_run NAME THREADS CONNS DURATION URL LISTFILE PIDS: one wrk run into $RAW/NAME.txt
# (LISTFILE "" = one URL); fails on any socket error or non-2xx answer; sets RPS, P50, P99
# and CPU (server CPU milliseconds per request, counted over PIDS and their children).
wrk_run() {
  local name=$1 t=$2 c=$3 d=$4 url=$5 list=$6 pids=$7 file=$RAW/$1.txt args ticks n
  args=(-t"$t" -c"$c" -d"$d" --timeout 10s --latency)
  if [ -n "$list" ]; then
    args+=(-s "$ROOT/bench/walk.lua" "$url" -- "$list" "$t")
  else
    args+=("$url")
  fi
  # shellcheck disable=SC2086
  ticks=$(cpu_ticks $pids)
  timeout $(($(seconds "$d") + 60)) wrk "${args[@]}" >"$file" 2>&1 || die "wrk $name failed: $(cat "$file")"
  # shellcheck disable=SC2086
  ticks=$(($(cpu_ticks $pids) - ticks))
  ! grep -q 'Non-2xx or 3xx responses' "$file" || die "wrk $name: $(grep 'Non-2xx' "$file") (see $file)"
  ! grep -q 'Socket errors' "$file" || die "wrk $name: $(grep 'Socket errors' "$file") (see $file)"
  RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$file")
  P50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$file")")
  P99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$file")")
  n=$(awk '$2 == "requests" && $3 == "in" { print $1 }' "$file")
  [ -n "$RPS" ] && [ -n "$P50" ] && [ -n "$P99" ] && [ "${n:-0}" -gt 0 ] || die "wrk $name: cannot read its output ($file)"
  CPU=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$n" 'BEGIN { printf "%.3f", t * 1000 / hz / n }')
  log "$(printf '%-22s %9s req/s  p50 %7s ms  p99 %7s ms  cpu %6s ms/req' "$name" "$RPS" "$P50" "$P99" "$CPU")"
}

# series THREADS CONNS KEY_A URL_A LIST_A PIDS_A KEY_B URL_B LIST_B PIDS_B: warms both targets
# up, then alternates A and B for RUNS runs each; the medians land in R_<key>_{rps,p50,p99,cpu}
# and each run's req/s in R_<key>_runs.
series() {
  local t=$1 c=$2 i k
  local -A url list pids
  local keys=("$3" "$7")
  url[$3]=$4 list[$3]=$5 pids[$3]=$6
  url[$7]=$8 list[$7]=$9 pids[$7]=${10}
  declare -gA ALL
  for k in "${keys[@]}"; do ALL[${k}_rps]="" ALL[${k}_p50]="" ALL[${k}_p99]="" ALL[${k}_cpu]=""; done
  if [ "$WARM_S" -gt 0 ]; then
    for k in "${keys[@]}"; do
      wrk_run "$k-warmup" "$t" "$c" "$WARMUP" "${url[$k]}" "${list[$k]}" "${pids[$k]}"
    done
  fi
  for i in $(seq "$RUNS"); do
    for k in "${keys[@]}"; do
      wrk_run "$k-$i" "$t" "$c" "$DURATION" "${url[$k]}" "${list[$k]}" "${pids[$k]}"
      ALL[${k}_rps]+=" $RPS" ALL[${k}_p50]+=" $P50" ALL[${k}_p99]+=" $P99" ALL[${k}_cpu]+=" $CPU"
    done
  done
  for k in "${keys[@]}"; do
    # shellcheck disable=SC2086
    {
      printf -v "R_${k}_rps" '%s' "$(median 0 ${ALL[${k}_rps]})"
      printf -v "R_${k}_p50" '%s' "$(median 2 ${ALL[${k}_p50]})"
      printf -v "R_${k}_p99" '%s' "$(median 2 ${ALL[${k}_p99]})"
      printf -v "R_${k}_cpu" '%s' "$(median 3 ${ALL[${k}_cpu]})"
      printf -v "R_${k}_runs" '%s' "$(printf '%.0f\n' ${ALL[${k}_rps]} | paste -sd, | sed 's/,/, /g')"
    }
  done
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
# meets VALUE OP GOAL: "yes" or "**no**".
meets() { awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN {
  ok = (op == ">=" ? v >= g : v <= g); print (ok ? "yes" : "**no**") }'; }

# ---------------------------------------------------------------------------------------
# Setup: helpers, data, servers.

mkdir -p "$RAW" "$WORK/ms" "$WORK/parity"
rm -f "$RAW"/*.txt
log "work directory $WORK; each run ${DURATION}, ${RUNS} runs, about $((EXPECTED / 60 + 1)) min"

go build -o "$WORK/tilelist" ./bench/tilelist
go build -o "$WORK/baseline" ./bench/baseline

DATA=$WORK/data
"$TILESERVER" demo-data --out "$DATA" >"$WORK/demo-data.log" 2>&1 || die "demo-data: $(cat "$WORK/demo-data.log")"
COG=$DATA/elevation.tif
[ -f "$COG" ] || die "demo-data wrote no $COG"

# udftiles
U_PORT=$(free_port)
U=http://127.0.0.1:$U_PORT
cat >"$WORK/udftiles.yaml" <<EOF
server: {listen: "127.0.0.1:$U_PORT"}
cache: {memory_mb: 512, default_max_age: 90d}
udfs:
  - {name: elevation, handler: cog, path: "$COG", rescale: [0, 3000], colormap: plasma, resampling: nearest, maxzoom: 16}
  - {name: elevation_nocache, handler: cog, path: "$COG", rescale: [0, 3000], colormap: plasma, resampling: nearest, maxzoom: 16, cache_max_age: 0s}
EOF
"$TILESERVER" serve --config "$WORK/udftiles.yaml" --listen "127.0.0.1:$U_PORT" >"$WORK/udftiles.log" 2>&1 &
U_PID=$!
PIDS+=("$U_PID")
wait_http "$U/healthz" "$U_PID" udftiles
log "udftiles on $U"

# The DEM's bounds and centre from the layer description.
layer=$(curl -fsS --max-time 10 "$U/v1/udfs/elevation") || die "GET /v1/udfs/elevation failed"
BOUNDS=$(sed -n 's/.*"bounds":\[\([^]]*\)\].*/\1/p' <<<"$layer")
CENTER=$(sed -n 's/.*"center":\[\([^],]*,[^],]*\).*/\1/p' <<<"$layer")
[ -n "$BOUNDS" ] && [ -n "$CENTER" ] || die "no bounds/center in /v1/udfs/elevation: $layer"

"$WORK/tilelist" -bounds "$BOUNDS" -minzoom "$MINZOOM" -maxzoom "$MAXZOOM" -seed "$SEED" >"$WORK/tiles.txt"
NTILES=$(wc -l <"$WORK/tiles.txt")
[ "$NTILES" -gt 0 ] || die "empty tile list for bounds $BOUNDS"
awk '{ print "/v1/udfs/elevation_nocache/tiles/" $0 ".png" }' "$WORK/tiles.txt" >"$WORK/udftiles-paths.txt"
awk -F/ '{ printf "/mapserv?map=ELEVATION&mode=tile&tilemode=gmap&tile=%s+%s+%s&layers=all\n", $2, $3, $1 }' \
  "$WORK/tiles.txt" >"$WORK/mapserver-paths.txt"
CACHED_TILE=$("$WORK/tilelist" -bounds "$CENTER,$CENTER" -minzoom "$CACHED_ZOOM" -maxzoom "$CACHED_ZOOM" -seed 0)
log "tile list: $NTILES tiles at zooms $MINZOOM..$MAXZOOM; cached tile $CACHED_TILE"

# The cached tile: render it once, then it must come from memory.
fetch_png "$U/v1/udfs/elevation/tiles/$CACHED_TILE.png" "$WORK/cached.png" "udftiles tile $CACHED_TILE"
fetch_png "$U/v1/udfs/elevation/tiles/$CACHED_TILE.png" "$WORK/cached.png" "udftiles tile $CACHED_TILE"
grep -qi '^x-cache: memory' "$WORK/cached.png.headers" ||
  die "udftiles tile $CACHED_TILE is not served from memory on the second request: $(tr -d '\r' <"$WORK/cached.png.headers" | grep -i x-cache)"

# The bare Go server with the very same bytes.
B_PORT=$(free_port)
B=http://127.0.0.1:$B_PORT
"$WORK/baseline" -listen "127.0.0.1:$B_PORT" -file "$WORK/cached.png" >"$WORK/baseline.log" 2>&1 &
B_PID=$!
PIDS+=("$B_PID")
wait_http "$B/" "$B_PID" baseline
cmp -s "$WORK/cached.png" <(curl -fsS --max-time 10 "$B/$CACHED_TILE.png") || die "baseline serves other bytes"

# MapServer 8 under lighttpd with FastCGI.
M_PORT=$(free_port)
M=http://127.0.0.1:$M_PORT
MSDIR=$WORK/ms
sed "s|@DATA@|$COG|" bench/mapserver/elevation.map.in >"$MSDIR/elevation.map"
sed -e "s|@MAPFILE@|$MSDIR/elevation.map|" -e "s|@ERRORLOG@|$MSDIR/mapserver-error.log|" \
  bench/mapserver/mapserver.conf.in >"$MSDIR/mapserver.conf"
sed -e "s|@PORT@|$M_PORT|" -e "s|@DIR@|$MSDIR|g" -e "s|@MAPSERV@|$MAPSERV|" \
  -e "s|@PROCS@|$MS_PROCS|" -e "s|@MSCONFIG@|$MSDIR/mapserver.conf|" \
  bench/mapserver/lighttpd.conf.in >"$MSDIR/lighttpd.conf"
lighttpd -tt -f "$MSDIR/lighttpd.conf" >"$WORK/lighttpd.log" 2>&1 || die "lighttpd.conf: $(cat "$WORK/lighttpd.log")"
lighttpd -D -f "$MSDIR/lighttpd.conf" >>"$WORK/lighttpd.log" 2>&1 &
M_PID=$!
PIDS+=("$M_PID")
ms_tile_url() { echo "$M/mapserv?map=ELEVATION&mode=tile&tilemode=gmap&tile=$2+$3+$1&layers=all"; }
IFS=/ read -r cz cx cy <<<"$CACHED_TILE"
for i in $(seq 300); do
  kill -0 "$M_PID" 2>/dev/null || die "lighttpd exited: $(cat "$WORK/lighttpd.log" "$MSDIR/lighttpd-error.log" 2>/dev/null)"
  curl -fsS -o /dev/null --max-time 5 "$(ms_tile_url "$cz" "$cx" "$cy")" 2>/dev/null && break
  [ "$i" -eq 300 ] && die "MapServer did not answer within 30 s: $(cat "$MSDIR/lighttpd-error.log" 2>/dev/null)"
  sleep 0.1
done
log "MapServer ($MS_PROCS mapserv FastCGI processes) on $M"

# Same pictures? The cached tile and the first 30 tiles of the list, from both servers.
{ echo "$CACHED_TILE"; head -30 "$WORK/tiles.txt"; } | while IFS=/ read -r z x y; do
  fetch_png "$U/v1/udfs/elevation_nocache/tiles/$z/$x/$y.png" "$WORK/parity/${z}_${x}_$y.udftiles.png" "udftiles tile $z/$x/$y"
  fetch_png "$(ms_tile_url "$z" "$x" "$y")" "$WORK/parity/${z}_${x}_$y.mapserver.png" "MapServer tile $z/$x/$y"
done
rm -f "$WORK"/parity/*.headers
PARITY=$(/usr/bin/python3 bench/parity.py "$WORK/parity") || die "udftiles and MapServer tiles differ: $PARITY"
log "parity: $PARITY"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------
# Measurements.

log "1/3 cached tile: udftiles memory cache vs bare net/http"
series "$THREADS" "$CONNS" \
  cached "$U/v1/udfs/elevation/tiles/$CACHED_TILE.png" "" "$U_PID" \
  baseline "$B/v1/udfs/elevation/tiles/$CACHED_TILE.png" "" "$B_PID"
fetch_png "$U/v1/udfs/elevation/tiles/$CACHED_TILE.png" "$WORK/after.png" "udftiles tile $CACHED_TILE"
grep -qi '^x-cache: memory' "$WORK/after.png.headers" || die "the cached tile left udftiles' memory cache during the run"

log "2/3 uncached tiles ($NTILES-tile list): udftiles vs MapServer, ${THREADS} threads ${CONNS} connections"
series "$THREADS" "$CONNS" \
  nocache "$U" "$WORK/udftiles-paths.txt" "$U_PID" \
  mapserver "$M" "$WORK/mapserver-paths.txt" "$M_PID"

log "3/3 uncached tiles, 1 thread 1 connection"
series 1 1 \
  nocache_c1 "$U" "$WORK/udftiles-paths.txt" "$U_PID" \
  mapserver_c1 "$M" "$WORK/mapserver-paths.txt" "$M_PID"

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
[ ! -s "$MSDIR/mapserver-error.log" ] || die "MapServer logged errors: $(head -20 "$MSDIR/mapserver-error.log")"

# ---------------------------------------------------------------------------------------
# Report.

CACHED_RATIO=$(ratio "$R_cached_rps" "$R_baseline_rps")
MS_RATIO=$(ratio "$R_nocache_rps" "$R_mapserver_rps")
MS_RATIO_C1=$(ratio "$R_nocache_c1_rps" "$R_mapserver_c1_rps")
MEM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
GDALV=$(gdal-config --version 2>/dev/null || gdalinfo --version | sed 's/^GDAL \([^,]*\).*/\1/')
GOV=$(go env GOVERSION)
MSV=$("$MAPSERV" -v | sed -n 's/^MapServer version \([^ ]*\).*/\1/p')
LTV=$(lighttpd -v | sed -n 's|^lighttpd/\([^ ]*\).*|\1|p')
WRKV=$({ wrk -v 2>&1 || true; } | sed -n 's/^wrk \([^ ]*\).*/\1/p') # wrk -v exits 1
COMMIT=$(git describe --always --dirty 2>/dev/null || echo unknown)
MACHINE="${NPROC} CPUs (${CPU_MODEL:-unknown CPU}), ${MEM} RAM, Linux $(uname -r), GDAL ${GDALV}, ${GOV}"
CONC="${THREADS}t/${CONNS}c"

cat >"$OUT" <<EOF
# udftiles benchmark

$(date -u '+%Y-%m-%d %H:%M UTC'), udftiles \`$COMMIT\`, \`bench/run.sh\`

**Machine:** $MACHINE; MapServer $MSV, lighttpd $LTV, wrk $WRKV

Median of $RUNS runs of $DURATION each (runs of the two servers compared alternate), wrk
with \`--latency\`; t/c = wrk threads/connections. Uncached: $NTILES tiles (every tile over the
DEM at zooms $MINZOOM..$MAXZOOM, shuffled with seed $SEED), each request the next tile; same COG
(2048x2048 Int16, EPSG:32633), same list and concurrency for both servers; 256 px PNG, 0..3000 m
plasma, nearest. Cached: tile $CACHED_TILE of \`elevation\` (X-Cache: memory).

| measurement | server | t/c | req/s | p50 ms | p99 ms | server CPU ms/req | req/s of each run |
| --- | --- | --- | ---: | ---: | ---: | ---: | --- |
| cached tile | udftiles (memory cache) | $CONC | $R_cached_rps | $R_cached_p50 | $R_cached_p99 | $R_cached_cpu | $R_cached_runs |
| cached tile | bare Go net/http, same bytes | $CONC | $R_baseline_rps | $R_baseline_p50 | $R_baseline_p99 | $R_baseline_cpu | $R_baseline_runs |
| uncached tiles | udftiles \`elevation_nocache\` | $CONC | $R_nocache_rps | $R_nocache_p50 | $R_nocache_p99 | $R_nocache_cpu | $R_nocache_runs |
| uncached tiles | MapServer $MSV, lighttpd FastCGI x$MS_PROCS | $CONC | $R_mapserver_rps | $R_mapserver_p50 | $R_mapserver_p99 | $R_mapserver_cpu | $R_mapserver_runs |
| uncached tiles | udftiles \`elevation_nocache\` | 1t/1c | $R_nocache_c1_rps | $R_nocache_c1_p50 | $R_nocache_c1_p99 | $R_nocache_c1_cpu | $R_nocache_c1_runs |
| uncached tiles | MapServer $MSV, lighttpd FastCGI x$MS_PROCS | 1t/1c | $R_mapserver_c1_rps | $R_mapserver_c1_p50 | $R_mapserver_c1_p99 | $R_mapserver_c1_cpu | $R_mapserver_c1_runs |

| target | result | goal | met |
| --- | ---: | ---: | --- |
| cached req/s, udftiles / bare net/http | $CACHED_RATIO | >= 0.8 | $(meets "$CACHED_RATIO" ">=" 0.8) |
| uncached p50 at c=1, udftiles | $R_nocache_c1_p50 ms | <= 5 ms | $(meets "$R_nocache_c1_p50" "<=" 5) |
| uncached req/s at $CONC, udftiles / MapServer | $MS_RATIO | >= 2 | $(meets "$MS_RATIO" ">=" 2) |
| uncached req/s at 1t/1c, udftiles / MapServer (for information) | $MS_RATIO_C1 | | |

Same pictures: $PARITY;
a pixel differs when its transparency differs or a colour channel differs by more than 16
(MapServer's ramp is a 16-segment linear approximation of plasma).
Server CPU ms/req: user + system CPU time of the server processes (udftiles; lighttpd and its
mapserv processes) during a run, divided by the requests served. wrk runs on the same CPUs.
Load average before/after: $LOAD_BEFORE / $LOAD_AFTER. Raw wrk output: \`bench/results/raw/\`.
EOF

cat "$OUT"

if [ "$STRICT" = 1 ]; then
  missed=$(grep -c '\*\*no\*\*' "$OUT" || true)
  [ "$missed" -eq 0 ] || die "$missed target(s) missed (BENCH_STRICT=1)"
fi
