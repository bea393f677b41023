#!/usr/bin/env bash
# Prerendering, side by side on 127.0.0.1's machine: `tileserver export --out DIR` against
# `gdal2tiles.py --xyz --processes=2` on the same COG, zooms and tile size, and against
# `ogr2ogr -f MVT` on the same vector data and zooms. Every measurement runs BENCH_RUNS times
# (interleaved) and the median is reported. Writes bench/results/export.md and prints it.
#
#   bench/export.sh                       # or: make bench-export
#   BENCH_RUNS=1 bench/export.sh          # a quick look
#
# Environment: BENCH_RUNS [3], BENCH_RASTER_ZOOMS [5-11], BENCH_VECTOR_ZOOMS [0-6],
# BENCH_CONCURRENCY [2×nproc] (udftiles' --concurrency), TILESERVER [bin/tileserver].
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
RUNS=${BENCH_RUNS:-3}
RZ=${BENCH_RASTER_ZOOMS:-5-11}
VZ=${BENCH_VECTOR_ZOOMS:-0-6}
CONC=${BENCH_CONCURRENCY:-$((2 * $(nproc)))}
TILESERVER=${TILESERVER:-bin/tileserver}
OUT=$ROOT/bench/results/export.md
log() { echo "bench-export: $*" >&2; }
die() { echo "bench-export: FAILED: $*" >&2; exit 1; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
scripts/deps.sh bc procps
for tool in gdal2tiles.py ogr2ogr gdal_translate bc; do command -v "$tool" >/dev/null || die "$tool not found (apt-get install gdal-bin)"; done
[ -x "$TILESERVER" ] || make build
[ -f data/demo/rgb.tif ] && [ -f data/demo/countries.gpkg ] || "$TILESERVER" demo-data --out data/demo
WORK=$(mktemp -d /tmp/udftiles-bench-export.XXXXXX)
# Both tools write their tiles to memory (tmpfs) when the machine has one: on
# disk, thousands of files created right after thousands were deleted make the
# file system's inode allocator the slowest part of either run, and its cost
# varies from run to run.
OUTS=$WORK
if [ -d /dev/shm ] && [ -w /dev/shm ]; then OUTS=$(mktemp -d /dev/shm/udftiles-bench-export.XXXXXX); fi
trap 'rm -rf "$WORK" "$OUTS"' EXIT
mkdir -p "$(dirname "$OUT")"

# The raster: the demo RGB image (EPSG:4326, Byte) upsampled 8× to 8192², as a COG.
gdal_translate -q -outsize 800% 800% -r bilinear data/demo/rgb.tif "$WORK/big.tif"
gdal_translate -q -of COG -co COMPRESS=DEFLATE "$WORK/big.tif" "$WORK/rgb.tif"
rm "$WORK/big.tif"
cat >"$WORK/config.yaml" <<YAML
cache: {memory_mb: 0}
udfs:
  - {name: rgb, handler: cog, path: $WORK/rgb.tif, resampling: nearest}
  - {name: countries, handler: vector, path: $ROOT/data/demo/countries.gpkg}
YAML

zmin() { echo "${1%-*}"; }
zmax() { echo "${1#*-}"; }
count() { find "$1" -type f \( -name '*.png' -o -name '*.pbf' -o -name '*.mvt' \) | wc -l; }
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
timed() { # timed FILE cmd...: wall seconds appended to FILE
  local f=$1; shift
  local s e
  s=$(date +%s.%N)
  "$@" >"$WORK/last.log" 2>&1 || { cat "$WORK/last.log" >&2; die "$*"; }
  e=$(date +%s.%N)
  echo "$e - $s" | bc >>"$f"
}

for r in $(seq 1 "$RUNS"); do
  log "round $r/$RUNS: raster z$RZ"
  rm -rf "$OUTS/g2t" "$OUTS/ut"
  timed "$WORK/t.gdal2tiles" gdal2tiles.py --xyz --processes=2 -r near -w none -q -z "$RZ" "$WORK/rgb.tif" "$OUTS/g2t"
  timed "$WORK/t.uraster" "$TILESERVER" export --config "$WORK/config.yaml" --udf rgb --minzoom "$(zmin "$RZ")" --maxzoom "$(zmax "$RZ")" \
    --format png --concurrency "$CONC" --quiet --out "$OUTS/ut"
  echo "$(count "$OUTS/g2t")" >>"$WORK/n.gdal2tiles"
  echo "$(count "$OUTS/ut")" >>"$WORK/n.uraster"
  log "round $r/$RUNS: vector z$VZ"
  rm -rf "$OUTS/o2m" "$OUTS/uv"
  # Clipped to Web Mercator's latitudes: GDAL 3.6's MVT writer mis-tiles features reaching -90°.
  timed "$WORK/t.ogr2ogr" ogr2ogr -f MVT "$OUTS/o2m" data/demo/countries.gpkg -clipsrc -180 -85.0511 180 85.0511 \
    -dsco MINZOOM="$(zmin "$VZ")" -dsco MAXZOOM="$(zmax "$VZ")" -dsco FORMAT=DIRECTORY -dsco COMPRESS=NO
  timed "$WORK/t.uvector" "$TILESERVER" export --config "$WORK/config.yaml" --udf countries --minzoom "$(zmin "$VZ")" --maxzoom "$(zmax "$VZ")" \
    --format mvt --concurrency "$CONC" --quiet --bbox=-180,-85.0511,180,85.0511 --out "$OUTS/uv"
  echo "$(count "$OUTS/o2m")" >>"$WORK/n.ogr2ogr"
  echo "$(count "$OUTS/uv")" >>"$WORK/n.uvector"
done

m() { median <"$WORK/$1"; }
ratio() { printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; }
G=$(printf '%.2f' "$(m t.gdal2tiles)") U=$(printf '%.2f' "$(m t.uraster)") O=$(printf '%.2f' "$(m t.ogr2ogr)") V=$(printf '%.2f' "$(m t.uvector)")
{
  echo "# Prerendering: tileserver export vs gdal2tiles.py and ogr2ogr -f MVT"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), \`bench/export.sh\`, median of $RUNS runs (interleaved); tiles written to $( [ "$OUTS" = "$WORK" ] && echo "disk" || echo "tmpfs (/dev/shm)")."
  echo
  echo "**Machine:** $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM; $(gdalinfo --version)"
  echo
  echo "| work | tool | tiles | seconds | tiles/s | ratio |"
  echo "| --- | --- | ---: | ---: | ---: | ---: |"
  echo "| RGB COG 8192², z$RZ, 256 px PNG | gdal2tiles.py --xyz --processes=2 -r near | $(m n.gdal2tiles) | $G | $(echo "scale=0; $(m n.gdal2tiles) / $G" | bc) | 1 |"
  echo "| | tileserver export --concurrency $CONC | $(m n.uraster) | $U | $(echo "scale=0; $(m n.uraster) / $U" | bc) | **$(ratio "$G" "$U")×** |"
  echo "| Natural Earth countries, z$VZ, MVT | ogr2ogr -f MVT (directory) | $(m n.ogr2ogr) | $O | $(echo "scale=0; $(m n.ogr2ogr) / $O" | bc) | 1 |"
  echo "| | tileserver export --format mvt | $(m n.uvector) | $V | $(echo "scale=0; $(m n.uvector) / $V" | bc) | **$(ratio "$O" "$V")×** |"
  echo
  echo "Targets: ≥ 3× gdal2tiles, ≥ 2× ogr2ogr. Tile counts differ where the tools decide differently"
  echo "which tiles exist: gdal2tiles writes every tile the image touches (transparent edges included),"
  echo "tileserver export skips empty tiles; ogr2ogr and tileserver export both skip tiles without features."
} >"$OUT"
cat "$OUT"
