#!/usr/bin/env bash
# Vector-tile (MVT) benchmark: 1,000,000 generated polygons served by udftiles' vector handler
# from GeoParquet and from FlatGeobuf, side by side with Tegola (GeoPackage provider, no cache)
# and `ogr2ogr -f MVT` (batch) on the same data and the same tiles, at zooms 0, 6, 10 and 14.
# Live servers: p50 latency and tiles/s at 1 connection, tiles/s at 2 threads/8 connections,
# with wrk on 127.0.0.1; each measurement runs BENCH_RUNS times, interleaved between the
# servers (and ogr2ogr), and the median is reported. Writes bench/results/vector.md (raw
# output in bench/results/vector-raw/) and prints it. The data is generated once into
# bench/results/vector-data/ (bench/vector/gen.py, then ogr2ogr; GeoParquet by `tileserver
# ingest`), Tegola built once into tools/tegola; both are reused while their inputs are unchanged.
#
#   bench/vector.sh                                  # or: make bench-vector
#   BENCH_DURATION=3s BENCH_RUNS=1 bench/vector.sh   # a quick look
#
# Tiles: z0 is the single tile; z6, z10 and z14 the 8x8 tiles around lon 10, lat 47.5 (as in
# vector/bench_test.go), less those outside the data's extent. Every tile of a set is fetched
# from every server once before measuring: an answer other than 200 with a vector tile fails the
# script, and so do tile sets without a feature at z > 0. A server answering a zoom's tiles in
# more than 1/20 of BENCH_DURATION is measured by bench/mvtprobe (requests started during
# BENCH_DURATION, then the ones under way awaited) instead of wrk. A request with no answer
# within BENCH_TILE_TIMEOUT is reported as such (that server is restarted) and not measured.
#
# Environment (defaults in brackets):
#   BENCH_DURATION [5s]        length of each measured run
#   BENCH_WARMUP [2s]          unmeasured wrk run before each server's series at a zoom
#   BENCH_RUNS [3]             runs per measurement; the median is reported
#   BENCH_THREADS [2], BENCH_CONNECTIONS [8]   concurrency of the throughput runs
#   BENCH_VECTOR_FORMATS ["parquet fgb"]       udftiles layers to serve (parquet needs
#                              `tileserver ingest`; without it that layer is skipped)
#   BENCH_VECTOR_ZOOMS ["0 6 10 14"]
#   BENCH_VECTOR_FEATURES [1000000], BENCH_VECTOR_SEED [1]   the generated data
#   BENCH_TILE_TIMEOUT [60s]   time limit of one tile request
#   BENCH_CHECK_BUDGET [20s]   the check pass starts no request after this (per server and zoom)
#   BENCH_OGR_SOURCE [fgb]     ogr2ogr's input: fgb or gpkg
#   BENCH_OGR_TIMEOUT [600s]   time limit of one ogr2ogr run
#   BENCH_TEGOLA [1]           0: leave Tegola out
#   BENCH_UDFTILES_QUERY []    query string for udftiles' tiles, e.g. buffer=4 (Tegola's buffer)
#   BENCH_TIMEOUT              hard limit for the whole script in seconds [computed]
#   TILESERVER [bin/tileserver]
set -Eeuo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

DURATION=${BENCH_DURATION:-5s}
WARMUP=${BENCH_WARMUP:-2s}
RUNS=${BENCH_RUNS:-3}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-8}
FORMATS=${BENCH_VECTOR_FORMATS:-parquet fgb}
ZOOMS=${BENCH_VECTOR_ZOOMS:-0 6 10 14}
NFEAT=${BENCH_VECTOR_FEATURES:-1000000}
SEED=${BENCH_VECTOR_SEED:-1}
TILE_TIMEOUT=${BENCH_TILE_TIMEOUT:-60s}
CHECK_BUDGET=${BENCH_CHECK_BUDGET:-20s}
OGR_SOURCE=${BENCH_OGR_SOURCE:-fgb}
OGR_TIMEOUT=${BENCH_OGR_TIMEOUT:-600s}
WITH_TEGOLA=${BENCH_TEGOLA:-1}
UQUERY=${BENCH_UDFTILES_QUERY:-}
TILESERVER=${TILESERVER:-bin/tileserver}
TEGOLA_VERSION=v0.21.2
TEGOLA=$ROOT/tools/tegola
NPROC=$(nproc)

RESULTS=$ROOT/bench/results
OUT=$RESULTS/vector.md
RAW=$RESULTS/vector-raw
DATAROOT=$RESULTS/vector-data

log() { echo "bench-vector: $*" >&2; }
die() {
  echo "bench-vector: FAILED: $*" >&2
  exit 1
}

# seconds <duration>: 10s, 2m, 1h or a plain number of seconds, in whole seconds.
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
TILE_S=$(seconds "$TILE_TIMEOUT")
CHECK_S=$(seconds "$CHECK_BUDGET")
OGR_S=$(seconds "$OGR_TIMEOUT")
for v in DUR_S WARM_S TILE_S CHECK_S OGR_S RUNS THREADS CONNS NFEAT SEED; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "BENCH_DURATION, BENCH_WARMUP, BENCH_TILE_TIMEOUT, BENCH_CHECK_BUDGET and BENCH_OGR_TIMEOUT must be like 10s or 1m; BENCH_RUNS, BENCH_THREADS, BENCH_CONNECTIONS, BENCH_VECTOR_FEATURES and BENCH_VECTOR_SEED integers"
done
[ "$DUR_S" -gt 0 ] && [ "$RUNS" -gt 0 ] && [ "$TILE_S" -gt 0 ] && [ "$OGR_S" -gt 0 ] && [ "$NFEAT" -gt 0 ] ||
  die "BENCH_DURATION, BENCH_RUNS, BENCH_TILE_TIMEOUT, BENCH_OGR_TIMEOUT and BENCH_VECTOR_FEATURES must be positive"
[ "$THREADS" -gt 0 ] && [ "$CONNS" -ge "$THREADS" ] || die "need 0 < BENCH_THREADS <= BENCH_CONNECTIONS"
for f in $FORMATS; do [[ $f == parquet || $f == fgb || $f == gpkg ]] || die "BENCH_VECTOR_FORMATS: parquet, fgb or gpkg, not $f"; done
for z in $ZOOMS; do [[ $z =~ ^[0-9]+$ && $z -le 20 ]] || die "BENCH_VECTOR_ZOOMS: zooms 0..20, not $z"; done
[[ $OGR_SOURCE == fgb || $OGR_SOURCE == gpkg ]] || die "BENCH_OGR_SOURCE: fgb or gpkg"
# shellcheck disable=SC2206
ZLIST=($ZOOMS)
NZ=${#ZLIST[@]}
# A server slower than this per tile (check pass p50) is measured with mvtprobe, not wrk.
SLOW_MS=$((DUR_S * 1000 / 20))

# Per zoom and round: 3 servers x 2 runs, ogr2ogr (~45 s at z6), plus warm-ups and checks;
# plus generating the data (~30 s) and building Tegola (~70 s) the first time.
EXPECTED=$((NZ * (RUNS * (6 * DUR_S + 3 * TILE_S / 2 + 30) + 6 * WARM_S + 3 * CHECK_S + 2 * TILE_S) + 120))
TIMEOUT=${BENCH_TIMEOUT:-$((2 * EXPECTED + 900))}

# ---------------------------------------------------------------------------------------
# Tools, processes and cleanup.

scripts/deps.sh wrk
for tool in wrk curl go timeout ogr2ogr ogrinfo sha256sum; do
  command -v "$tool" >/dev/null || die "$tool not found"
done
[ -x /usr/bin/python3 ] || die "/usr/bin/python3 not found"
[ -x /usr/bin/time ] || die "/usr/bin/time not found (Debian package time)"
if [ ! -x "$TILESERVER" ]; then
  log "building $TILESERVER"
  make build
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/udftiles-bench-vector.XXXXXX")
PIDS=()
WATCHDOG=""

# children_of PID: the ids of PID's direct children.
children_of() {
  local parent=$1 p stat fields
  for p in /proc/[0-9]*; do
    stat=$(cat "$p/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    read -r -a fields <<<"$stat"
    if [ "${fields[1]:-}" = "$parent" ]; then echo "${p#/proc/}"; fi
  done
}

# cpu_ticks PID...: user + system CPU ticks used so far by the PIDs.
cpu_ticks() {
  local pid total=0 stat fields
  for pid in "$@"; do
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
  local rc=$? pid kids k
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

# descendants PID: the ids of PID's children, theirs, and so on.
descendants() {
  local c
  for c in $(children_of "$1"); do
    echo "$c"
    descendants "$c"
  done
}

# The watchdog stops the whole script after TIMEOUT seconds: it signals the script, then every
# process the script started (a command the script waits for would delay its trap); cleanup
# stops the watchdog otherwise.
(
  trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
  sleep "$TIMEOUT" &
  sleeper=$!
  if wait "$sleeper"; then
    trap '' TERM
    procs=$(descendants $$)
    kill -TERM $$
    for p in $procs; do [ "$p" = "$BASHPID" ] || kill -TERM "$p"; done
  fi
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
    kill -0 "$pid" 2>/dev/null || die "$name exited during startup:"$'\n'"$(tail -20 "$WORK/$name.log" 2>/dev/null)"
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  die "$name did not answer $url within 30 s"
}

# kv KEY LINE: the value of KEY in a line of key=value pairs.
kv() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

# median DECIMALS VALUES...: the median (the mean of the middle two for an even count).
median() {
  local decimals=$1
  shift
  printf '%s\n' "$@" | sort -g | awk -v f="%.${decimals}f" '{ v[NR] = $1 } END {
    if (NR == 0) exit 1
    printf f, (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# to_ms VALUE: wrk latency (850.00us, 12.3ms, 1.20s, 2.0m) in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) printf "%.3f", substr(v, 1, length(v) - 2) / 1000
    else if (v ~ /ms$/) printf "%.3f", substr(v, 1, length(v) - 2)
    else if (v ~ /m$/) printf "%.3f", substr(v, 1, length(v) - 1) * 60000
    else if (v ~ /s$/) printf "%.3f", substr(v, 1, length(v) - 1) * 1000
    else exit 1 }'
}

calc() { awk "BEGIN { printf $1 }"; }

# ---------------------------------------------------------------------------------------
# Tegola, built once into tools/ (a tools module: `go install` of it is refused by the proxy).

TEGOLA_BUILD="cached in tools/tegola"
if [ "$WITH_TEGOLA" = 1 ]; then
  if [ ! -x "$TEGOLA" ] || ! grep -qs "go-spatial/tegola $TEGOLA_VERSION" tools/tegola-src/go.mod; then
    log "building Tegola $TEGOLA_VERSION into $TEGOLA"
    rm -rf tools/tegola-src
    mkdir -p tools/tegola-src
    t0=$(date +%s.%N)
    (
      cd tools/tegola-src
      export GOWORK=off GOFLAGS=-buildvcs=false
      timeout 1200 go mod init tools
      timeout 1200 go get -tool "github.com/go-spatial/tegola/cmd/tegola@$TEGOLA_VERSION"
      timeout 1200 go build -o ../tegola github.com/go-spatial/tegola/cmd/tegola
    ) >"$WORK/tegola-build.log" 2>&1 || die "building Tegola: $(tail -20 "$WORK/tegola-build.log")"
    TEGOLA_BUILD="built in $(calc "\"%.1f\", $(date +%s.%N) - $t0") s by this run"
    log "Tegola $TEGOLA_BUILD"
  fi
fi

# ---------------------------------------------------------------------------------------
# Data: generated once per generator, size and seed, kept in bench/results/vector-data/.

mkdir -p "$RAW" "$WORK/ogr"
rm -rf "${RAW:?}"/*
log "work directory $WORK; runs of ${DURATION}, ${RUNS} per measurement; time limit ${TIMEOUT}s"

go build -o "$WORK/mvtprobe" ./bench/mvtprobe
PROBE=$WORK/mvtprobe

DATA_KEY=$({
  cat bench/vector/gen.py
  echo "$NFEAT $SEED"
  ogr2ogr --version
} | sha256sum | cut -c1-16)
DATA=$DATAROOT/$DATA_KEY
GEN_NOTE="cached"
if [ ! -f "$DATA/done" ]; then
  rm -rf "$DATAROOT"
  mkdir -p "$DATA"
  log "generating $NFEAT polygons (seed $SEED) into $DATA"
  t0=$(date +%s.%N)
  timeout 900 /usr/bin/python3 bench/vector/gen.py "$DATA/poly.csv" "$NFEAT" "$SEED" ||
    die "bench/vector/gen.py failed"
  csv_oo=(-oo GEOM_POSSIBLE_NAMES=WKT -oo KEEP_GEOM_COLUMNS=NO)
  timeout 900 ogr2ogr -f FlatGeobuf "$DATA/poly.fgb" "$DATA/poly.csv" "${csv_oo[@]}" \
    -nln poly -nlt POLYGON -a_srs EPSG:4326 -lco SPATIAL_INDEX=YES ||
    die "ogr2ogr to FlatGeobuf failed"
  timeout 900 ogr2ogr -f GPKG "$DATA/poly.gpkg" "$DATA/poly.csv" "${csv_oo[@]}" \
    -nln poly -nlt POLYGON -a_srs EPSG:4326 -lco SPATIAL_INDEX=YES -gt 65536 ||
    die "ogr2ogr to GeoPackage failed"
  rm -f "$DATA/poly.csv" "$DATA/poly.csvt"
  touch "$DATA/done"
  GEN_NOTE="generated in $(calc "\"%.1f\", $(date +%s.%N) - $t0") s by this run"
  log "data $GEN_NOTE"
fi
INFO=$(ogrinfo -ro -so "$DATA/poly.fgb" poly)
COUNT=$(sed -n 's/^Feature Count: //p' <<<"$INFO")
[ "$COUNT" = "$NFEAT" ] || die "$DATA/poly.fgb holds $COUNT features, not $NFEAT"
EXTENT=$(sed -n 's/^Extent: (\([^,]*\), \([^)]*\)) - (\([^,]*\), \([^)]*\))$/\1,\2,\3,\4/p' <<<"$INFO")
[ -n "$EXTENT" ] || die "no extent from ogrinfo: $INFO"
log "data: $COUNT polygons, extent $EXTENT"

# GeoParquet through `tileserver ingest`, redone when the binary changes.
SERVE_FORMATS=()
PARQUET_NOTE=""
for f in $FORMATS; do
  if [ "$f" != parquet ]; then
    SERVE_FORMATS+=("$f")
    continue
  fi
  # `ingest --help` exits 2 whether or not the command exists: tell them apart by the message.
  help=$("$TILESERVER" ingest --help 2>&1 || true)
  if grep -q 'unknown command' <<<"$help"; then
    PARQUET_NOTE="not measured: this \`tileserver\` has no \`ingest\` command"
    log "SKIPPING the GeoParquet layer: $TILESERVER has no ingest command ($(head -1 <<<"$help"))"
    continue
  fi
  stamp=$(sha256sum <"$TILESERVER" | cut -c1-16)
  if [ ! -f "$DATA/poly.parquet" ] || [ "$(cat "$DATA/parquet.stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -f "$DATA/poly.parquet" "$DATA/parquet.stamp"
    log "ingest: $DATA/poly.fgb -> $DATA/poly.parquet"
    t0=$(date +%s.%N)
    timeout 900 "$TILESERVER" ingest "$DATA/poly.fgb" "$DATA/poly.parquet" >"$WORK/ingest.log" 2>&1 ||
      die "tileserver ingest failed: $(tail -20 "$WORK/ingest.log")"
    [ -s "$DATA/poly.parquet" ] || die "tileserver ingest wrote no $DATA/poly.parquet"
    PARQUET_NOTE="ingested from the FlatGeobuf in $(calc "\"%.1f\", $(date +%s.%N) - $t0") s"
    echo "$stamp" >"$DATA/parquet.stamp"
    echo "$PARQUET_NOTE" >"$DATA/parquet.note"
  else
    PARQUET_NOTE="$(cat "$DATA/parquet.note" 2>/dev/null || true) (cached)"
  fi
  SERVE_FORMATS+=(parquet)
done
[ ${#SERVE_FORMATS[@]} -gt 0 ] || die "no udftiles layer to serve (BENCH_VECTOR_FORMATS=$FORMATS)"
# parquet first, as in the report
mapfile -t SERVE_FORMATS < <(printf '%s\n' "${SERVE_FORMATS[@]}" | sort -u | awk '{ print ($1 == "parquet" ? 0 : 1), $1 }' | sort | cut -d' ' -f2)

# ---------------------------------------------------------------------------------------
# Servers.

declare -A LABEL BASE PRE SUF PIDOF
SERVERS=()

U_PORT=$(free_port)
U=http://127.0.0.1:$U_PORT
{
  sed "s|@PORT@|$U_PORT|" bench/vector/udftiles.yaml.in
  for f in "${SERVE_FORMATS[@]}"; do
    echo "  - {name: poly_$f, handler: vector, path: \"$DATA/poly.$f\", cache_max_age: 0s, max_features: 20000}"
  done
} >"$WORK/udftiles.yaml"
"$TILESERVER" serve --config "$WORK/udftiles.yaml" --listen "127.0.0.1:$U_PORT" >"$WORK/udftiles.log" 2>&1 &
U_PID=$!
PIDS+=("$U_PID")
wait_http "$U/healthz" "$U_PID" udftiles
for f in "${SERVE_FORMATS[@]}"; do
  desc=$(curl -fsS --max-time 10 "$U/v1/udfs/poly_$f") || die "GET /v1/udfs/poly_$f failed"
  status=$(sed -n 's/.*"status":"\([^"]*\)".*/\1/p' <<<"$desc")
  [ "$status" = ok ] || die "udftiles layer poly_$f is not ok: $desc"
  s=u_$f
  SERVERS+=("$s")
  case $f in
    parquet) LABEL[$s]="udftiles (GeoParquet)" ;;
    fgb) LABEL[$s]="udftiles (FlatGeobuf)" ;;
    gpkg) LABEL[$s]="udftiles (GeoPackage)" ;;
  esac
  BASE[$s]=$U
  PRE[$s]="/v1/udfs/poly_$f/tiles/"
  SUF[$s]=".mvt${UQUERY:+?$UQUERY}"
  PIDOF[$s]=$U_PID
done
log "udftiles on $U: ${SERVE_FORMATS[*]}"

T_PID=""
if [ "$WITH_TEGOLA" = 1 ]; then
  T_PORT=$(free_port)
  T=http://127.0.0.1:$T_PORT
  sed -e "s|@PORT@|$T_PORT|" -e "s|@GPKG@|$DATA/poly.gpkg|" bench/vector/tegola.toml.in >"$WORK/tegola.toml"
  SERVERS+=(tegola)
  LABEL[tegola]="Tegola $TEGOLA_VERSION (GeoPackage)"
  BASE[tegola]=$T
  PRE[tegola]="/maps/bench/"
  SUF[tegola]=".pbf"
fi

# start_tegola: (re)starts Tegola on its port; a request it gave up on may keep it busy.
start_tegola() {
  local keep=() p
  if [ -n "$T_PID" ]; then
    stop_pid "$T_PID"
    wait "$T_PID" 2>/dev/null || true
    for p in "${PIDS[@]}"; do [ "$p" = "$T_PID" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
  fi
  "$TEGOLA" serve --config "$WORK/tegola.toml" >>"$WORK/tegola.log" 2>&1 &
  T_PID=$!
  PIDS+=("$T_PID")
  PIDOF[tegola]=$T_PID
  wait_http "$T/capabilities" "$T_PID" tegola
}
if [ "$WITH_TEGOLA" = 1 ]; then
  start_tegola
  log "Tegola on $T"
fi

# Tile sets and paths.
declare -A SETSIZE SPAT
for z in "${ZLIST[@]}"; do
  "$PROBE" tiles -z "$z" -clip "$EXTENT" >"$WORK/tiles-$z.txt" || die "no tile set at z$z"
  SETSIZE[$z]=$(wc -l <"$WORK/tiles-$z.txt")
  SPAT[$z]=$("$PROBE" tiles -z "$z" -clip "$EXTENT" -bounds)
  for s in "${SERVERS[@]}"; do
    awk -v pre="${PRE[$s]}" -v suf="${SUF[$s]}" '{ print pre $0 suf }' "$WORK/tiles-$z.txt" >"$WORK/paths-$s-$z.txt"
  done
done
cp "$WORK"/tiles-*.txt "$RAW/"

# udftiles must not answer from its cache.
z=${ZLIST[$((NZ - 1))]}
t=$(head -1 "$WORK/tiles-$z.txt")
for f in "${SERVE_FORMATS[@]}"; do
  for i in 1 2; do
    curl -sS -o /dev/null -D "$WORK/h.txt" --max-time "$TILE_S" "$U${PRE[u_$f]}$t${SUF[u_$f]}" || die "udftiles poly_$f $t: request failed"
  done
  ! grep -qi '^x-cache: *memory' "$WORK/h.txt" || die "udftiles poly_$f serves $t from its memory cache: not an uncached measurement"
done

# ---------------------------------------------------------------------------------------
# Measurements.

declare -A MODE FAIL V CHK OGR

# add KEY VALUE: appends a run's value.
add() { V[$1]="${V[$1]:-} $2"; }

# check SERVER Z: fetches the zoom's tiles once (bounded by BENCH_CHECK_BUDGET) and decodes
# them; one tile with GDAL too. Sets MODE[SERVER,Z] to wrk, probe or fail.
check() {
  local s=$1 z=$2 line rc=0 first file=$RAW/tile-$1-z$2.pbf ogrn n p50
  line=$(timeout $((CHECK_S + TILE_S + 30)) "$PROBE" check -base "${BASE[$s]}" -paths "$WORK/paths-$s-$z.txt" \
    -timeout "${TILE_S}s" -budget "${CHECK_S}s" -save "$file" 2>"$WORK/check.err") || rc=$?
  if [ "$rc" = 3 ] || [ "$rc" = 124 ]; then
    FAIL[$s,$z]="no tile within ${TILE_S} s"
    MODE[$s,$z]=fail
    log "$(printf '%-32s z%-2s no tile within %s s' "${LABEL[$s]}" "$z" "$TILE_S")"
    if [ "$s" = tegola ]; then start_tegola; fi
    return 0
  fi
  [ "$rc" = 0 ] || die "${LABEL[$s]} z$z: $(cat "$WORK/check.err")"
  CHK[$s,$z]=$line
  echo "$line" >"$RAW/check-$s-z$z.txt"
  n=$(kv features "$line")
  if [ "$z" -gt 0 ] && [ "$n" -eq 0 ]; then
    die "${LABEL[$s]} z$z: every tile checked is empty ($line)"
  fi
  # The first tile with features, decoded by GDAL's MVT driver as well.
  first=$(sed -n 's/^saved //p' "$WORK/check.err" | tail -1)
  if [ -s "$file" ]; then
    ogrn=$(ogrinfo -ro -so -al "$file" 2>&1 | awk '/^Feature Count:/ { n += $3 } END { print n + 0 }')
    [ "$ogrn" -eq "$(kv features "$("$PROBE" files "$file")")" ] ||
      die "${LABEL[$s]} $first: GDAL reads $ogrn features, mvtprobe another count"
    [ "$z" -eq 0 ] || [ "$ogrn" -gt 0 ] || die "${LABEL[$s]} $first: GDAL reads no feature"
    CHK[$s,$z]+=" gdal=$ogrn@$first"
  fi
  p50=$(kv p50_ms "$line")
  MODE[$s,$z]=wrk
  if awk -v a="$p50" -v b="$SLOW_MS" 'BEGIN { exit !(a > b) }'; then MODE[$s,$z]=probe; fi
  log "$(printf '%-32s z%-2s check %s (%s)' "${LABEL[$s]}" "$z" "$line" "${MODE[$s,$z]}")"
}

# wrk_run NAME THREADS CONNS DURATION URL LIST PID: one wrk run into $RAW/NAME.txt; fails on
# any socket error or non-2xx answer; sets RPS, P50 and CPU (server CPU ms per request).
wrk_run() {
  local name=$1 t=$2 c=$3 d=$4 url=$5 list=$6 pid=$7 file=$RAW/$1.txt ticks n
  ticks=$(cpu_ticks "$pid")
  timeout $(($(seconds "$d") + TILE_S + 30)) wrk -t"$t" -c"$c" -d"$d" --timeout "${TILE_S}s" --latency \
    -s "$ROOT/bench/walk.lua" "$url" -- "$list" "$t" >"$file" 2>&1 || die "wrk $name failed: $(cat "$file")"
  ticks=$(($(cpu_ticks "$pid") - ticks))
  ! grep -q 'Non-2xx or 3xx responses' "$file" || die "wrk $name: $(grep 'Non-2xx' "$file") (see $file)"
  ! grep -q 'Socket errors' "$file" || die "wrk $name: $(grep 'Socket errors' "$file") (see $file)"
  RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$file")
  P50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$file")")
  n=$(awk '$2 == "requests" && $3 == "in" { print $1 }' "$file")
  [ -n "$RPS" ] && [ -n "$P50" ] && [ "${n:-0}" -gt 0 ] || die "wrk $name: cannot read its output ($file)"
  CPU=$(calc "\"%.3f\", $ticks * 1000 / $CLK_TCK / $n")
}

# probe_run NAME CONNS URL LIST PID: the same with mvtprobe load; returns 3 when a request
# got no answer within BENCH_TILE_TIMEOUT.
probe_run() {
  local name=$1 c=$2 url=$3 list=$4 pid=$5 file=$RAW/$1.txt ticks n rc=0
  ticks=$(cpu_ticks "$pid")
  timeout $((DUR_S + 2 * TILE_S + 30)) "$PROBE" load -base "$url" -paths "$list" -c "$c" \
    -duration "${DUR_S}s" -timeout "${TILE_S}s" >"$file" 2>&1 || rc=$?
  if [ "$rc" = 3 ] || [ "$rc" = 124 ]; then return 3; fi
  [ "$rc" = 0 ] || die "mvtprobe $name failed: $(cat "$file")"
  ticks=$(($(cpu_ticks "$pid") - ticks))
  RPS=$(kv rps "$(cat "$file")")
  P50=$(kv p50_ms "$(cat "$file")")
  n=$(kv requests "$(cat "$file")")
  CPU=$(calc "\"%.3f\", $ticks * 1000 / $CLK_TCK / $n")
}

# measure SERVER Z KIND RUN: one run, KIND c1 (1 thread, 1 connection) or cN.
measure() {
  local s=$1 z=$2 kind=$3 i=$4 t c name
  [ "${MODE[$s,$z]}" != fail ] || return 0
  [ -z "${FAIL[$s,$z,$kind]:-}" ] || return 0
  if [ "$kind" = c1 ]; then t=1 c=1; else t=$THREADS c=$CONNS; fi
  name=$s-z$z-$kind-$i
  if [ "${MODE[$s,$z]}" = wrk ]; then
    wrk_run "$name" "$t" "$c" "$DURATION" "${BASE[$s]}" "$WORK/paths-$s-$z.txt" "${PIDOF[$s]}"
  elif ! probe_run "$name" "$c" "${BASE[$s]}" "$WORK/paths-$s-$z.txt" "${PIDOF[$s]}"; then
    FAIL[$s,$z,$kind]="no tile within ${TILE_S} s at $c connection(s)"
    log "$(printf '%-32s z%-2s %s: no tile within %s s' "${LABEL[$s]}" "$z" "$kind" "$TILE_S")"
    if [ "$s" = tegola ]; then start_tegola; fi
    return 0
  fi
  add "$s,$z,$kind,rps" "$RPS"
  add "$s,$z,$kind,p50" "$P50"
  add "$s,$z,$kind,cpu" "$CPU"
  log "$(printf '%-32s z%-2s %-3s run %s: %9s tiles/s  p50 %9s ms  cpu %8s ms/tile' "${LABEL[$s]}" "$z" "$kind" "$i" "$RPS" "$P50" "$CPU")"
}

# ogr_run Z RUN: ogr2ogr -f MVT of the zoom's tile set, timed.
OGR_SRC=$DATA/poly.$OGR_SOURCE
ogr_run() {
  local z=$1 i=$2 dir=$WORK/ogr/z$1 spat=() rc=0 t0 wall user sys n files=() t
  [ -z "${FAIL[ogr,$z]:-}" ] || return 0
  rm -rf "$dir"
  [ "$z" -eq 0 ] || read -r -a spat <<<"-spat ${SPAT[$z]}"
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%U %S' -o "$WORK/ogr.time" timeout "$OGR_S" ogr2ogr -f MVT "$dir" "$OGR_SRC" \
    -dsco MINZOOM="$z" -dsco MAXZOOM="$z" -dsco FORMAT=DIRECTORY -dsco COMPRESS=NO "${spat[@]}" \
    >"$RAW/ogr2ogr-z$z-$i.log" 2>&1 || rc=$?
  wall=$(calc "\"%.3f\", $EPOCHREALTIME - $t0")
  if [ "$rc" = 124 ]; then
    FAIL[ogr,$z]="no result within ${OGR_S} s"
    log "ogr2ogr z$z: no result within ${OGR_S} s"
    return 0
  fi
  [ "$rc" = 0 ] || die "ogr2ogr -f MVT z$z failed: $(tail -5 "$RAW/ogr2ogr-z$z-$i.log")"
  read -r user sys <"$WORK/ogr.time"
  n=$(find "$dir" -name '*.pbf' | wc -l)
  [ "$n" -gt 0 ] || die "ogr2ogr -f MVT z$z wrote no tile"
  add "ogr,$z,wall" "$wall"
  add "ogr,$z,cpu" "$(calc "\"%.3f\", $user + $sys")"
  OGR[$z,written]=$n
  while read -r t; do [ -f "$dir/$t.pbf" ] && files+=("$dir/$t.pbf"); done <"$WORK/tiles-$z.txt"
  OGR[$z,inset]=${#files[@]}
  if [ ${#files[@]} -gt 0 ]; then
    OGR[$z,files]=$("$PROBE" files "${files[@]}") || die "ogr2ogr z$z: a tile does not decode"
  else
    OGR[$z,files]="tiles=0 empty=0 features=0 bytes=0"
  fi
  [ "$z" -eq 0 ] || [ "$(kv features "${OGR[$z,files]}")" -gt 0 ] || die "ogr2ogr z$z: no feature in the tile set"
  log "$(printf '%-32s z%-2s run %s: %s tiles in %s s (cpu %s s); %s of the set: %s' "ogr2ogr -f MVT" "$z" "$i" "$n" "$wall" "$(calc "\"%.2f\", $user + $sys")" "${OGR[$z,inset]}" "${OGR[$z,files]}")"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)
for z in "${ZLIST[@]}"; do
  log "z$z: ${SETSIZE[$z]} tiles"
  for s in "${SERVERS[@]}"; do check "$s" "$z"; done
  if [ "$WARM_S" -gt 0 ]; then
    for s in "${SERVERS[@]}"; do
      [ "${MODE[$s,$z]}" = wrk ] || continue
      wrk_run "$s-z$z-warmup" "$THREADS" "$CONNS" "$WARMUP" "${BASE[$s]}" "$WORK/paths-$s-$z.txt" "${PIDOF[$s]}"
    done
  fi
  for i in $(seq "$RUNS"); do
    for s in "${SERVERS[@]}"; do measure "$s" "$z" c1 "$i"; done
    for s in "${SERVERS[@]}"; do measure "$s" "$z" cN "$i"; done
    ogr_run "$z" "$i"
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - T_START))
cp "$WORK/udftiles.log" "$RAW/udftiles.log"
[ "$WITH_TEGOLA" != 1 ] || cp "$WORK/tegola.log" "$RAW/tegola.log"

# ---------------------------------------------------------------------------------------
# Report.

# med KEY DECIMALS: the median of a measurement's runs, or empty.
med() {
  # shellcheck disable=SC2086
  [ -n "${V[$1]:-}" ] && median "$2" ${V[$1]} || true
}
fmt_ms() { [ -n "$1" ] && calc "\"%.${2:-2}f\", $1" || echo "—"; }
# fmt_rps VALUE: tiles/s, with two decimals under 10.
fmt_rps() { [ -n "$1" ] && awk -v v="$1" 'BEGIN { printf (v < 10 ? "%.2f" : "%.1f"), v }' || echo "—"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { r = (b > 0 ? a / b : 0); printf (r >= 100 ? "%.0f" : "%.2f"), r }'; }
meets() { awk -v v="$1" 'BEGIN { print (v >= 2 ? "yes" : "**no**") }'; }
# verdict RATIO: meets, unless $comparable is 0.
verdict() { if [ "$comparable" = 1 ]; then meets "$1"; else echo "not comparable"; fi; }
# per_tile LINE N FIELD: FIELD of a key=value line per tile (over N tiles).
per_tile() { awk -v a="$(kv "$3" "$1")" -v n="$2" 'BEGIN { printf "%.1f", (n > 0 ? a / n : 0) }'; }

MEM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
GDALV=$(gdal-config --version 2>/dev/null || ogrinfo --version | sed 's/^GDAL \([^,]*\).*/\1/')
GOV=$(go env GOVERSION)
WRKV=$({ wrk -v 2>&1 || true; } | sed -n 's/^wrk \([^ ]*\).*/\1/p')
COMMIT=$(git describe --always --dirty 2>/dev/null || echo unknown)
CONC="${THREADS}t/${CONNS}c"
SUMMARY=""

{
  echo "# udftiles vector-tile benchmark"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), udftiles \`$COMMIT\`, \`bench/vector.sh\`"
  echo
  echo "**Machine:** $NPROC CPUs (${CPU_MODEL:-unknown CPU}), $MEM RAM, Linux $(uname -r); GDAL $GDALV, $GOV, wrk $WRKV, Tegola $TEGOLA_VERSION ($TEGOLA_BUILD)"
  echo
  echo "**Data:** $COUNT rectangles over lon/lat $EXTENT (EPSG:4326), sides log-uniform 0.0005°–0.05°,"
  echo "properties id (integer), value (real), name (text, 8 classes); seed $SEED, \`bench/vector/gen.py\`"
  echo "($GEN_NOTE). FlatGeobuf and GeoPackage with spatial index by ogr2ogr; GeoParquet by"
  echo "\`tileserver ingest\` from the FlatGeobuf (${PARQUET_NOTE:-not asked for})."
  echo
  echo "**Servers:** udftiles' \`vector\` handler, one layer per file, \`cache_max_age: 0s\`"
  echo "(every request reads and encodes its tile; checked: no \`X-Cache: memory\`), \`max_features: 20000\`,"
  if [ -n "$UQUERY" ]; then
    echo "tiles requested with \`?$UQUERY\`;"
  else
    echo "its defaults (a buffer of 64 px of 256, i.e. 1024 of the 4096 extent units);"
  fi
  echo "Tegola's GeoPackage provider, one map with the layer, no cache; \`ogr2ogr -f MVT\` from the"
  echo "$( [ "$OGR_SOURCE" = fgb ] && echo FlatGeobuf || echo GeoPackage) with \`-dsco MINZOOM=z -dsco MAXZOOM=z -dsco FORMAT=DIRECTORY -dsco COMPRESS=NO\` and \`-spat\`"
  echo "the tile set's bounds (GDAL's other defaults), one run per zoom and round."
  echo
  echo "**Method:** per zoom, the tile set is z0's single tile or the 8×8 tiles around lon 10, lat 47.5 that"
  echo "overlap the data. Median of $RUNS runs of $DURATION; in each round every server runs once at 1t/1c,"
  echo "then once at $CONC, then ogr2ogr runs once. Each request asks for the next tile of the set"
  echo "(\`bench/walk.lua\`); wrk, or \`bench/mvtprobe load\` for a server slower than ${SLOW_MS} ms a tile"
  echo "(marked ‡: requests are started for $DURATION, then the ones under way are awaited). Every tile of"
  echo "the set was fetched once from each server first (at most ${CHECK_S} s' worth; answers must be 200 and"
  echo "decode as MVT; one tile also through GDAL's MVT driver): features and bytes per tile are from that pass."
  echo "ogr2ogr: *ms per tile* = wall time / tiles written (tiles written also counts the tiles next to the set"
  echo "that features reaching over its edge fill), *tiles/s* = tiles written / wall time; it is a batch job"
  echo "with GDAL's own threads, so its tiles/s is put next to the servers' $CONC throughput and its ms per"
  echo "tile next to their 1-connection p50. CPU ms/tile: user + system time of the server process during"
  echo "the $CONC runs (ogr2ogr: of the whole run) per tile; the load generator runs on the same CPUs."
  echo
  for z in "${ZLIST[@]}"; do
    n=${SETSIZE[$z]}
    echo "## z$z ($n tile$([ "$n" = 1 ] || echo s))"
    echo
    echo "| server | p50 ms, 1t/1c | tiles/s, 1t/1c | tiles/s, $CONC | CPU ms/tile, $CONC | features/tile | KB/tile | empty tiles | note |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    best_p50="" best_p50_who="" best_rps="" best_who="" peer_p50="" peer_rps="" peer_p50_who="" peer_rps_who=""
    u_feat=0 peer_feat=0
    for s in "${SERVERS[@]}"; do
      note="" mark=""
      if [ "${MODE[$s,$z]}" = fail ]; then
        echo "| ${LABEL[$s]} | — | — | — | — | — | — | — | **${FAIL[$s,$z]}** |"
        continue
      fi
      [ "${MODE[$s,$z]}" = probe ] && mark=" ‡"
      line=${CHK[$s,$z]}
      nt=$(kv tiles "$line")
      p50=$(med "$s,$z,c1,p50" 3)
      r1=$(med "$s,$z,c1,rps" 2)
      rN=$(med "$s,$z,cN,rps" 2)
      cpu=$(med "$s,$z,cN,cpu" 3)
      [ -z "${FAIL[$s,$z,c1]:-}" ] || note+="1t/1c: ${FAIL[$s,$z,c1]}. "
      [ -z "${FAIL[$s,$z,cN]:-}" ] || note+="$CONC: ${FAIL[$s,$z,cN]}. "
      [ "$nt" = "$(kv of "$line")" ] || note+="features and bytes from the first $nt tiles (check budget). "
      [ "$(kv features "$line")" != 0 ] || note+="empty tile(s). "
      note+="check p50 $(kv p50_ms "$line") ms"
      echo "| ${LABEL[$s]}$mark | $(fmt_ms "$p50" 2) | $(fmt_rps "$r1") | $(fmt_rps "$rN") | $(fmt_ms "$cpu" 2) | $(per_tile "$line" "$nt" features) | $(awk -v b="$(kv bytes "$line")" -v n="$nt" 'BEGIN { printf "%.1f", b / n / 1024 }') | $(kv empty "$line")/$nt | $note |"
      if [[ $s == u_* ]]; then
        u_feat=$((u_feat + $(kv features "$line")))
        if [ -n "$p50" ] && { [ -z "$best_p50" ] || awk -v a="$p50" -v b="$best_p50" 'BEGIN { exit !(a < b) }'; }; then best_p50=$p50 best_p50_who=${LABEL[$s]}; fi
        if [ -n "$rN" ] && { [ -z "$best_rps" ] || awk -v a="$rN" -v b="$best_rps" 'BEGIN { exit !(a > b) }'; }; then best_rps=$rN best_who=${LABEL[$s]}; fi
      else
        peer_feat=$((peer_feat + $(kv features "$line")))
        [ -n "$p50" ] && peer_p50=$p50 peer_p50_who=${LABEL[$s]}
        [ -n "$rN" ] && peer_rps=$rN peer_rps_who=${LABEL[$s]}
      fi
    done
    if [ -n "${FAIL[ogr,$z]:-}" ]; then
      echo "| ogr2ogr -f MVT | — | — | — | — | — | — | — | **${FAIL[ogr,$z]}** |"
    else
      wall=$(med "ogr,$z,wall" 3)
      ocpu=$(med "ogr,$z,cpu" 2)
      w=${OGR[$z,written]}
      oms=$(calc "\"%.3f\", $wall * 1000 / $w")
      orps=$(calc "\"%.3f\", $w / $wall")
      ofiles=${OGR[$z,files]}
      peer_feat=$((peer_feat + $(kv features "$ofiles")))
      echo "| ogr2ogr -f MVT (batch) | $(fmt_ms "$oms" 2) per tile | — | $(fmt_rps "$orps") | $(calc "\"%.2f\", $ocpu * 1000 / $w") | $(per_tile "$ofiles" "$n" features) | $(awk -v b="$(kv bytes "$ofiles")" -v n="$n" 'BEGIN { printf "%.1f", b / n / 1024 }') | $((n - ${OGR[$z,inset]} + $(kv empty "$ofiles")))/$n | $w tile(s) written in $wall s (median), ${OGR[$z,inset]} of them in the set; CPU $ocpu s |"
      if [ -z "$peer_p50" ] || awk -v a="$oms" -v b="$peer_p50" 'BEGIN { exit !(a < b) }'; then peer_p50=$oms peer_p50_who="ogr2ogr"; fi
      if [ -z "$peer_rps" ] || awk -v a="$orps" -v b="$peer_rps" 'BEGIN { exit !(a > b) }'; then peer_rps=$orps peer_rps_who="ogr2ogr"; fi
    fi
    echo
    # Empty udftiles tiles against a peer's full ones are not the same work: no verdict.
    comparable=1
    [ "$u_feat" -gt 0 ] || [ "$peer_feat" -eq 0 ] || comparable=0
    rl="—" rt="—" gl="—" gt="—"
    if [ -n "$best_p50" ] && [ -n "$peer_p50" ]; then
      rl=$(ratio "$peer_p50" "$best_p50")
      gl=$(verdict "$rl")
      echo "- per-tile time: faster peer $peer_p50_who $(fmt_ms "$peer_p50" 2) ms / $best_p50_who $(fmt_ms "$best_p50" 2) ms = **${rl}×** (goal ≥ 2: $gl)"
    fi
    if [ -n "$best_rps" ] && [ -n "$peer_rps" ]; then
      rt=$(ratio "$best_rps" "$peer_rps")
      gt=$(verdict "$rt")
      echo "- tiles/s: $best_who $(fmt_rps "$best_rps") / faster peer $peer_rps_who $(fmt_rps "$peer_rps") = **${rt}×** (goal ≥ 2: $gt)"
    fi
    if [ "$comparable" = 0 ]; then
      echo "- not comparable: udftiles' tiles here are empty (every polygon is under half a pixel), the peers' are not."
    fi
    echo
    SUMMARY+="| z$z | $rl | ${peer_p50_who:-—} | $gl | $rt | ${peer_rps_who:-—} | $gt |"$'\n'
  done
  echo "## Ratios: udftiles' best vs the faster peer"
  echo
  echo "| zoom | per-tile time, peer / udftiles | faster peer (time) | ≥ 2 | tiles/s, udftiles / peer | faster peer (tiles/s) | ≥ 2 |"
  echo "| --- | ---: | --- | --- | ---: | --- | --- |"
  printf '%s' "$SUMMARY"
  echo
  echo "Goal: ≥ 2 on every line. The tiles differ between the servers: udftiles leaves out polygons"
  echo "smaller than half a pixel of the tile (at z0 every polygon is, so its z0 tile is empty) and keeps"
  echo "at most 20,000 per tile; Tegola and ogr2ogr drop what their simplification collapses, and ogr2ogr"
  echo "caps tiles at its MAX_SIZE/MAX_FEATURES defaults. Buffers around the tile: udftiles"
  echo "$( [ -n "$UQUERY" ] && echo "as asked (\`$UQUERY\`)" || echo "1024 extent units (64 px of 256)"), Tegola 64, ogr2ogr 80, so at z10 and z14 udftiles' default tiles hold"
  echo "features from a larger area (\`BENCH_UDFTILES_QUERY=buffer=4\` asks for Tegola's buffer)."
  echo
  echo "Measured in ${ELAPSED} s; load average before/after: $LOAD_BEFORE / $LOAD_AFTER."
  echo "Raw output: \`bench/results/vector-raw/\`."
} >"$OUT"

cat "$OUT"
