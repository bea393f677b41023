#!/usr/bin/env bash
# Benchmarks udftiles against a bare Go file server (one cached tile) and MapServer 8 behind
# lighttpd/FastCGI (uncached tiles of the same COG, tile list and pixels), with wrk, on
# 127.0.0.1. Two uncached cases: the demo DEM (Int16, nearest, plasma colormap) and a 4096²
# RGB COG in EPSG:32633 with bilinear resampling (bench/rgbutm.py). Before measuring, both
# servers' tiles are compared pixel by pixel (bench/parity.py). Every measurement runs
# BENCH_RUNS times, interleaved with its peer, and the medians of req/s, p50, p90 and p99 are
# reported. Writes bench/results/latest.md (raw wrk output under bench/results/raw/), prints it.
#
#   bench/run.sh                      # (make bench runs it) about 6 minutes with the defaults
#   BENCH_DURATION=4s BENCH_WARMUP=1s BENCH_RUNS=1 bench/run.sh   # a quick look (about 2 minutes)
#   BENCH_CASES=cached bench/run.sh   # one case
#
# Environment (defaults in brackets):
#   BENCH_CASES [cached dem utm]  which cases to measure: cached (udftiles' memory cache against
#                          bare net/http), dem and utm (uncached tiles against MapServer)
#   BENCH_DURATION [10s]   length of each measured wrk run
#   BENCH_WARMUP [2s]      unmeasured wrk run before each series
#   BENCH_RUNS [3]         runs per measurement; the median is reported
#   BENCH_THREADS [2], BENCH_CONNECTIONS [8]   wrk concurrency of the uncached cases (each is
#                          also measured at 1 thread, 1 connection)
#   BENCH_CACHED_THREADS [2], BENCH_CACHED_CONNECTIONS [64]   wrk concurrency of the cached case
#   BENCH_MINZOOM [10], BENCH_MAXZOOM [16]   zooms of the DEM's tile list
#   BENCH_UTM_MINZOOM [8], BENCH_UTM_MAXZOOM [13]   zooms of the UTM RGB COG's tile list
#   BENCH_SEED [1]         shuffle of the tile lists
#   BENCH_CACHED_ZOOM [12] zoom of the cached tile (the one at the DEM's centre)
#   BENCH_UTM_COG [data/bench/rgbutm-<hash of bench/rgbutm.py>.tif]   the UTM RGB COG, written by
#                          bench/rgbutm.py when missing (data/bench/ is git-ignored)
#   BENCH_STORE [sqlite]   udftiles' store: sqlite (a file of its own, with the catalog and the
#                          job queue a default deployment runs) or none (store.url: none)
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
CASES=" ${BENCH_CASES:-cached dem utm} "
CACHED_THREADS=${BENCH_CACHED_THREADS:-2}
CACHED_CONNS=${BENCH_CACHED_CONNECTIONS:-64}
MINZOOM=${BENCH_MINZOOM:-10}
MAXZOOM=${BENCH_MAXZOOM:-16}
UTM_MINZOOM=${BENCH_UTM_MINZOOM:-8}
UTM_MAXZOOM=${BENCH_UTM_MAXZOOM:-13}
SEED=${BENCH_SEED:-1}
CACHED_ZOOM=${BENCH_CACHED_ZOOM:-12}
UTM_COG=${BENCH_UTM_COG:-}
STORE=${BENCH_STORE:-sqlite}
STRICT=${BENCH_STRICT:-0}
TILESERVER=${TILESERVER:-bin/tileserver}
MAPSERV=/usr/lib/cgi-bin/mapserv
NPROC=$(nproc)
MS_PROCS=${BENCH_MAPSERV_PROCS:-$((NPROC < 2 ? 2 : (NPROC > 4 ? 4 : NPROC)))}

RESULTS=$ROOT/bench/results
OUT=$RESULTS/latest.md
RAW=$RESULTS/raw

log() { echo "bench: [${SECONDS}s] $*" >&2; }
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
has() { [[ $CASES == *" $1 "* ]]; }
SERIES=0
for c in $CASES; do
  case $c in
    cached) SERIES=$((SERIES + 1)) ;;
    dem | utm) SERIES=$((SERIES + 2)) ;;
    *) die "BENCH_CASES: unknown case '$c' (want cached, dem, utm)" ;;
  esac
done
[ "$SERIES" -gt 0 ] || die "BENCH_CASES names no case"
[[ $STORE == sqlite || $STORE == none ]] || die "BENCH_STORE: want sqlite or none, got '$STORE'"

# Series of two servers each: two measured runs per round and two warm-ups, plus setup.
EXPECTED=$((2 * SERIES * (RUNS * DUR_S + WARM_S)))
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
    read -r stat 2>/dev/null <"$p/stat" || continue # a builtin: no process per entry
    stat=${stat##*) } # drop "pid (comm) ": then the fields are state, ppid, ...
    read -r -a fields <<<"$stat"
    if [ "${fields[1]:-}" = "$parent" ]; then echo "${p#/proc/}"; fi
  done
}

# cpu_ticks PID...: user + system CPU ticks used so far by the PIDs and their children.
cpu_ticks() {
  local pid total=0 stat fields
  for pid in "$@" $(for pid in "$@"; do children_of "$pid"; done); do
    read -r stat 2>/dev/null <"/proc/$pid/stat" || continue
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
# (LISTFILE "" = one URL); fails on any socket error or non-2xx answer; sets RPS, P50, P90,
# P99 and CPU (server CPU milliseconds per request, counted over PIDS and their children).
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
  P90=$(to_ms "$(awk '$1 == "90%" { print $2 }' "$file")")
  P99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$file")")
  n=$(awk '$2 == "requests" && $3 == "in" { print $1 }' "$file")
  [ -n "$RPS" ] && [ -n "$P50" ] && [ -n "$P90" ] && [ -n "$P99" ] && [ "${n:-0}" -gt 0 ] || die "wrk $name: cannot read its output ($file)"
  CPU=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$n" 'BEGIN { printf "%.3f", t * 1000 / hz / n }')
  log "$(printf '%-22s %9s req/s  p50 %7s  p90 %7s  p99 %7s ms  cpu %6s ms/req' "$name" "$RPS" "$P50" "$P90" "$P99" "$CPU")"
}

# series THREADS CONNS KEY URL LIST PID [KEY URL LIST PID]...: warms the targets up, then
# takes turns between them for RUNS runs each; the medians land in R_<key>_{rps,p50,p90,p99,cpu}
# and each run's req/s in R_<key>_runs.
series() {
  local t=$1 c=$2 i k
  shift 2
  local -A url list pids
  local keys=()
  while [ $# -ge 4 ]; do
    keys+=("$1")
    url[$1]=$2 list[$1]=$3 pids[$1]=$4
    shift 4
  done
  declare -gA ALL
  for k in "${keys[@]}"; do ALL[${k}_rps]="" ALL[${k}_p50]="" ALL[${k}_p90]="" ALL[${k}_p99]="" ALL[${k}_cpu]=""; done
  if [ "$WARM_S" -gt 0 ]; then
    for k in "${keys[@]}"; do
      wrk_run "$k-warmup" "$t" "$c" "$WARMUP" "${url[$k]}" "${list[$k]}" "${pids[$k]}"
    done
  fi
  for i in $(seq "$RUNS"); do
    for k in "${keys[@]}"; do
      wrk_run "$k-$i" "$t" "$c" "$DURATION" "${url[$k]}" "${list[$k]}" "${pids[$k]}"
      ALL[${k}_rps]+=" $RPS" ALL[${k}_p50]+=" $P50" ALL[${k}_p90]+=" $P90" ALL[${k}_p99]+=" $P99" ALL[${k}_cpu]+=" $CPU"
    done
  done
  for k in "${keys[@]}"; do
    # shellcheck disable=SC2086
    {
      printf -v "R_${k}_rps" '%s' "$(median 0 ${ALL[${k}_rps]})"
      printf -v "R_${k}_p50" '%s' "$(median 2 ${ALL[${k}_p50]})"
      printf -v "R_${k}_p90" '%s' "$(median 2 ${ALL[${k}_p90]})"
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

mkdir -p "$RAW" "$WORK/ms"
rm -f "$RAW"/*.txt
log "work directory $WORK; cases: $(echo $CASES); each run ${DURATION}, ${RUNS} runs, about $((EXPECTED / 60 + 1)) min"

go build -o "$WORK/tilelist" ./bench/tilelist
go build -o "$WORK/baseline" ./bench/baseline

DATA=$WORK/data
"$TILESERVER" demo-data --out "$DATA" >"$WORK/demo-data.log" 2>&1 || die "demo-data: $(cat "$WORK/demo-data.log")"
COG=$DATA/elevation.tif
[ -f "$COG" ] || die "demo-data wrote no $COG"
if has utm; then
  # The file's name carries the generator's hash: a changed picture is written anew.
  if [ -z "${BENCH_UTM_COG:-}" ]; then
    UTM_COG=data/bench/rgbutm-$(sha256sum bench/rgbutm.py | cut -c1-12).tif
  fi
  [[ $UTM_COG == /* ]] || UTM_COG=$ROOT/$UTM_COG
  if [ ! -f "$UTM_COG" ]; then
    log "writing $UTM_COG (bench/rgbutm.py)"
    /usr/bin/python3 bench/rgbutm.py "$UTM_COG" || die "bench/rgbutm.py $UTM_COG failed"
  fi
fi

# udftiles, with a store of its own (the catalog and job queue a default deployment has).
U_PORT=$(free_port)
U=http://127.0.0.1:$U_PORT
STORE_URL=none
if [ "$STORE" = sqlite ]; then STORE_URL=sqlite://$WORK/store.db; fi
{
  cat <<EOF
server: {listen: "127.0.0.1:$U_PORT"}
store: {url: "$STORE_URL"}
cache: {memory_mb: 512, default_max_age: 90d}
udfs:
  - {name: elevation, handler: cog, path: "$COG", rescale: [0, 3000], colormap: plasma, resampling: nearest, maxzoom: 16}
  - {name: elevation_nocache, handler: cog, path: "$COG", rescale: [0, 3000], colormap: plasma, resampling: nearest, maxzoom: 16, cache_max_age: 0s}
EOF
  if has utm; then
    echo "  - {name: rgbutm_nocache, handler: cog, path: \"$UTM_COG\", resampling: bilinear, maxzoom: 16, cache_max_age: 0s}"
  fi
} >"$WORK/udftiles.yaml"
"$TILESERVER" serve --config "$WORK/udftiles.yaml" --listen "127.0.0.1:$U_PORT" >"$WORK/udftiles.log" 2>&1 &
U_PID=$!
PIDS+=("$U_PID")
wait_http "$U/healthz" "$U_PID" udftiles
log "udftiles on $U"

# layer_bounds NAME: BOUNDS and CENTER (lon/lat) from the layer's description.
layer_bounds() {
  local desc
  desc=$(curl -fsS --max-time 10 "$U/v1/udfs/$1") || die "GET /v1/udfs/$1 failed"
  BOUNDS=$(sed -n 's/.*"bounds":\[\([^]]*\)\].*/\1/p' <<<"$desc")
  CENTER=$(sed -n 's/.*"center":\[\([^],]*,[^],]*\).*/\1/p' <<<"$desc")
  [ -n "$BOUNDS" ] && [ -n "$CENTER" ] || die "no bounds/center in /v1/udfs/$1: $desc"
}

# tile_list NAME BOUNDS MINZOOM MAXZOOM LAYER MAP: $WORK/NAME-tiles.txt (z/x/y, shuffled) and
# the paths of those tiles on udftiles (LAYER) and on MapServer (map=MAP); sets NTILES.
tile_list() {
  local name=$1 bounds=$2 minz=$3 maxz=$4 layer=$5 map=$6
  "$WORK/tilelist" -bounds "$bounds" -minzoom "$minz" -maxzoom "$maxz" -seed "$SEED" >"$WORK/$name-tiles.txt"
  NTILES=$(wc -l <"$WORK/$name-tiles.txt")
  [ "$NTILES" -gt 0 ] || die "empty tile list for bounds $bounds"
  awk -v l="$layer" '{ print "/v1/udfs/" l "/tiles/" $0 ".png" }' "$WORK/$name-tiles.txt" >"$WORK/$name-udftiles-paths.txt"
  awk -F/ -v m="$map" '{ printf "/mapserv?map=%s&mode=tile&tilemode=gmap&tile=%s+%s+%s&layers=all\n", m, $2, $3, $1 }' \
    "$WORK/$name-tiles.txt" >"$WORK/$name-mapserver-paths.txt"
}

layer_bounds elevation
DEM_BOUNDS=$BOUNDS
tile_list dem "$DEM_BOUNDS" "$MINZOOM" "$MAXZOOM" elevation_nocache ELEVATION
DEM_NTILES=$NTILES
CACHED_TILE=$("$WORK/tilelist" -bounds "$CENTER,$CENTER" -minzoom "$CACHED_ZOOM" -maxzoom "$CACHED_ZOOM" -seed 0)
log "DEM tile list: $DEM_NTILES tiles at zooms $MINZOOM..$MAXZOOM; cached tile $CACHED_TILE"
if has utm; then
  layer_bounds rgbutm_nocache
  UTM_BOUNDS=$BOUNDS
  tile_list utm "$UTM_BOUNDS" "$UTM_MINZOOM" "$UTM_MAXZOOM" rgbutm_nocache RGBUTM
  UTM_NTILES=$NTILES
  log "UTM RGB tile list: $UTM_NTILES tiles at zooms $UTM_MINZOOM..$UTM_MAXZOOM"
fi

if has cached; then
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
  # The same, writing each response in one write to the socket as udftiles does (-gather).
  G_PORT=$(free_port)
  G=http://127.0.0.1:$G_PORT
  "$WORK/baseline" -gather -listen "127.0.0.1:$G_PORT" -file "$WORK/cached.png" >"$WORK/baseline-gather.log" 2>&1 &
  G_PID=$!
  PIDS+=("$G_PID")
  wait_http "$G/" "$G_PID" "baseline -gather"
  cmp -s "$WORK/cached.png" <(curl -fsS --max-time 10 "$G/$CACHED_TILE.png") || die "baseline -gather serves other bytes"
fi

if has dem || has utm; then
  # MapServer 8 under lighttpd with FastCGI: one mapfile per case.
  M_PORT=$(free_port)
  M=http://127.0.0.1:$M_PORT
  MSDIR=$WORK/ms
  sed "s|@DATA@|$COG|" bench/mapserver/elevation.map.in >"$MSDIR/elevation.map"
  sed "s|@DATA@|${UTM_COG:-}|" bench/mapserver/rgbutm.map.in >"$MSDIR/rgbutm.map"
  sed -e "s|@MAPFILE@|$MSDIR/elevation.map|" -e "s|@RGBUTMMAPFILE@|$MSDIR/rgbutm.map|" \
    -e "s|@ERRORLOG@|$MSDIR/mapserver-error.log|" bench/mapserver/mapserver.conf.in >"$MSDIR/mapserver.conf"
  sed -e "s|@PORT@|$M_PORT|" -e "s|@DIR@|$MSDIR|g" -e "s|@MAPSERV@|$MAPSERV|" \
    -e "s|@PROCS@|$MS_PROCS|" -e "s|@MSCONFIG@|$MSDIR/mapserver.conf|" \
    bench/mapserver/lighttpd.conf.in >"$MSDIR/lighttpd.conf"
  lighttpd -tt -f "$MSDIR/lighttpd.conf" >"$WORK/lighttpd.log" 2>&1 || die "lighttpd.conf: $(cat "$WORK/lighttpd.log")"
  lighttpd -D -f "$MSDIR/lighttpd.conf" >>"$WORK/lighttpd.log" 2>&1 &
  M_PID=$!
  PIDS+=("$M_PID")
  ms_tile_url() { echo "$M/mapserv?map=$1&mode=tile&tilemode=gmap&tile=$3+$4+$2&layers=all"; }
  IFS=/ read -r cz cx cy <<<"$CACHED_TILE"
  for i in $(seq 300); do
    kill -0 "$M_PID" 2>/dev/null || die "lighttpd exited: $(cat "$WORK/lighttpd.log" "$MSDIR/lighttpd-error.log" 2>/dev/null)"
    curl -fsS -o /dev/null --max-time 5 "$(ms_tile_url ELEVATION "$cz" "$cx" "$cy")" 2>/dev/null && break
    [ "$i" -eq 300 ] && die "MapServer did not answer within 30 s: $(cat "$MSDIR/lighttpd-error.log" 2>/dev/null)"
    sleep 0.1
  done
  log "MapServer ($MS_PROCS mapserv FastCGI processes) on $M"
fi

# parity NAME LAYER MAP TILES...: both servers draw the same pictures of TILES (z/x/y); sets
# PARITY_<NAME> to bench/parity.py's summary, or fails.
parity() {
  local name=$1 layer=$2 map=$3 dir=$WORK/parity-$1 z x y out
  shift 3
  mkdir -p "$dir"
  for t in "$@"; do
    IFS=/ read -r z x y <<<"$t"
    fetch_png "$U/v1/udfs/$layer/tiles/$z/$x/$y.png" "$dir/${z}_${x}_$y.udftiles.png" "udftiles tile $layer $z/$x/$y"
    fetch_png "$(ms_tile_url "$map" "$z" "$x" "$y")" "$dir/${z}_${x}_$y.mapserver.png" "MapServer tile $map $z/$x/$y"
  done
  rm -f "$dir"/*.headers
  out=$(/usr/bin/python3 bench/parity.py "$dir") || die "$name: udftiles and MapServer tiles differ: $out"
  printf -v "PARITY_$name" '%s' "$out"
  log "parity $name: $out"
}

# Same pictures? The cached tile and the first 30 tiles of each list, from both servers,
# before anything is measured.
if has dem; then
  # shellcheck disable=SC2046
  parity dem elevation_nocache ELEVATION "$CACHED_TILE" $(head -30 "$WORK/dem-tiles.txt")
fi
if has utm; then
  # shellcheck disable=SC2046
  parity utm rgbutm_nocache RGBUTM $(head -31 "$WORK/utm-tiles.txt")
fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------
# Measurements.

if has cached; then
  log "cached tile: udftiles memory cache vs bare net/http, ${CACHED_THREADS} threads ${CACHED_CONNS} connections"
  series "$CACHED_THREADS" "$CACHED_CONNS" \
    cached "$U/v1/udfs/elevation/tiles/$CACHED_TILE.png" "" "$U_PID" \
    baseline "$B/v1/udfs/elevation/tiles/$CACHED_TILE.png" "" "$B_PID" \
    gathered "$G/v1/udfs/elevation/tiles/$CACHED_TILE.png" "" "$G_PID"
  fetch_png "$U/v1/udfs/elevation/tiles/$CACHED_TILE.png" "$WORK/after.png" "udftiles tile $CACHED_TILE"
  grep -qi '^x-cache: memory' "$WORK/after.png.headers" || die "the cached tile left udftiles' memory cache during the run"
fi

# uncached NAME: the case's tiles on udftiles against MapServer, at THREADS/CONNS and at 1/1.
uncached() {
  local n=$1
  log "$n uncached tiles: udftiles vs MapServer, ${THREADS} threads ${CONNS} connections"
  series "$THREADS" "$CONNS" \
    "$n" "$U" "$WORK/$n-udftiles-paths.txt" "$U_PID" \
    "${n}_mapserver" "$M" "$WORK/$n-mapserver-paths.txt" "$M_PID"
  log "$n uncached tiles: 1 thread 1 connection"
  series 1 1 \
    "${n}_c1" "$U" "$WORK/$n-udftiles-paths.txt" "$U_PID" \
    "${n}_mapserver_c1" "$M" "$WORK/$n-mapserver-paths.txt" "$M_PID"
}
if has dem; then uncached dem; fi
if has utm; then uncached utm; fi

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
if has dem || has utm; then
  [ ! -s "$MSDIR/mapserver-error.log" ] || die "MapServer logged errors: $(head -20 "$MSDIR/mapserver-error.log")"
fi

# ---------------------------------------------------------------------------------------
# Report.

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
MSNAME="MapServer $MSV, lighttpd FastCGI x$MS_PROCS"

# row KEY MEASUREMENT SERVER T/C: one line of the table from R_KEY_*.
row() {
  local k=$1 rps p50 p90 p99 cpu runs
  rps=R_${k}_rps p50=R_${k}_p50 p90=R_${k}_p90 p99=R_${k}_p99 cpu=R_${k}_cpu runs=R_${k}_runs
  echo "| $2 | $3 | $4 | ${!rps} | ${!p50} | ${!p90} | ${!p99} | ${!cpu} | ${!runs} |"
}

# targets NAME LABEL: the uncached case's targets: >= 3x MapServer's req/s at both
# concurrencies, and a p99 at or below MapServer's at THREADS/CONNS.
targets() {
  local n=$1 label=$2 r r1 p pm
  r=$(ratio "$(eval echo "\$R_${n}_rps")" "$(eval echo "\$R_${n}_mapserver_rps")")
  r1=$(ratio "$(eval echo "\$R_${n}_c1_rps")" "$(eval echo "\$R_${n}_mapserver_c1_rps")")
  p=$(eval echo "\$R_${n}_p99") pm=$(eval echo "\$R_${n}_mapserver_p99")
  echo "| $label: req/s at $CONC, udftiles / MapServer | $r | >= 3 | $(meets "$r" ">=" 3) |"
  echo "| $label: p99 at $CONC, udftiles against MapServer's | $p ms / $pm ms | <= MapServer's | $(meets "$p" "<=" "$pm") |"
  echo "| $label: req/s at 1t/1c, udftiles / MapServer | $r1 | >= 3 | $(meets "$r1" ">=" 3) |"
}

{
  cat <<EOF
# udftiles benchmark

$(date -u '+%Y-%m-%d %H:%M UTC'), udftiles \`$COMMIT\`, \`bench/run.sh\`, cases: $(echo $CASES), store: $STORE

**Machine:** $MACHINE; MapServer $MSV, lighttpd $LTV, wrk $WRKV

Median of $RUNS runs of $DURATION each (runs of the two servers compared alternate), wrk with
\`--latency\`; t/c = wrk threads/connections; p50/p90/p99 in ms, each the median of the runs'.
EOF
  if has cached; then
    echo "Cached: tile $CACHED_TILE of \`elevation\` (X-Cache: memory) against a bare Go net/http handler"
    echo "holding the same bytes (\`bench/baseline\`), and the same server writing each response in one"
    echo "write to the socket as udftiles does (\`bench/baseline -gather\`)."
  fi
  if has dem; then
    echo "DEM: $DEM_NTILES uncached tiles (every tile over the demo DEM, 2048² Int16 in EPSG:32633, at"
    echo "zooms $MINZOOM..$MAXZOOM, shuffled with seed $SEED), each request the next tile; 256 px PNG, 0..3000 m"
    echo "plasma, nearest."
  fi
  if has utm; then
    echo "UTM RGB: $UTM_NTILES uncached tiles (every tile over \`$(basename "$UTM_COG")\`, 4096² Byte RGB in"
    echo "EPSG:32633 at 30 m from \`bench/rgbutm.py\`, at zooms $UTM_MINZOOM..$UTM_MAXZOOM, shuffled); 256 px PNG, bilinear."
  fi
  echo "Same COG, tile list and concurrency for both servers of a case."
  echo
  echo "| measurement | server | t/c | req/s | p50 | p90 | p99 | server CPU ms/req | req/s of each run |"
  echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"
  if has cached; then
    row cached "cached tile" "udftiles (memory cache)" "${CACHED_THREADS}t/${CACHED_CONNS}c"
    row baseline "cached tile" "bare Go net/http, same bytes" "${CACHED_THREADS}t/${CACHED_CONNS}c"
    row gathered "cached tile" "the same, one write a response (-gather)" "${CACHED_THREADS}t/${CACHED_CONNS}c"
  fi
  if has dem; then
    row dem "DEM, nearest + plasma" "udftiles" "$CONC"
    row dem_mapserver "DEM, nearest + plasma" "$MSNAME" "$CONC"
    row dem_c1 "DEM, nearest + plasma" "udftiles" "1t/1c"
    row dem_mapserver_c1 "DEM, nearest + plasma" "$MSNAME" "1t/1c"
  fi
  if has utm; then
    row utm "UTM RGB, bilinear" "udftiles" "$CONC"
    row utm_mapserver "UTM RGB, bilinear" "$MSNAME" "$CONC"
    row utm_c1 "UTM RGB, bilinear" "udftiles" "1t/1c"
    row utm_mapserver_c1 "UTM RGB, bilinear" "$MSNAME" "1t/1c"
  fi
  echo
  echo "| target | result | goal | met |"
  echo "| --- | ---: | ---: | --- |"
  if has cached; then
    r=$(ratio "$R_cached_rps" "$R_baseline_rps")
    echo "| cached req/s at ${CACHED_THREADS}t/${CACHED_CONNS}c, udftiles / bare net/http | $r | >= 0.95 | $(meets "$r" ">=" 0.95) |"
    r=$(ratio "$R_cached_rps" "$R_gathered_rps")
    echo "| (for reference) udftiles / bare net/http writing once (-gather) | $r | | |"
  fi
  if has dem; then targets dem "DEM"; fi
  if has utm; then targets utm "UTM RGB"; fi
  echo
  if has dem; then
    echo "Same pictures, DEM: $PARITY_dem; a pixel differs when its transparency differs or a colour"
    echo "channel differs by more than 16 (MapServer's ramp is a 16-segment linear approximation of plasma)."
  fi
  if has utm; then
    echo "Same pictures, UTM RGB: $PARITY_utm; same rule."
  fi
  cat <<EOF
Server CPU ms/req: user + system CPU time of the server processes (udftiles; lighttpd and its
mapserv processes) during a run, divided by the requests served. wrk runs on the same CPUs.
Load average before/after: $LOAD_BEFORE / $LOAD_AFTER. Raw wrk output: \`bench/results/raw/\`.
EOF
} >"$OUT"

cat "$OUT"

if [ "$STRICT" = 1 ]; then
  missed=$(grep -c '\*\*no\*\*' "$OUT" || true)
  [ "$missed" -eq 0 ] || die "$missed target(s) missed (BENCH_STRICT=1)"
fi
