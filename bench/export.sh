#!/usr/bin/env bash
# Prerendering, side by side on this machine: `tileserver export --out DIR` against
# `gdal2tiles.py --xyz --processes=2` on the same COG, zooms and tile size (an EPSG:4326 RGB
# COG with nearest, and the UTM RGB COG of bench/rgbutm.py with bilinear), and against
# `ogr2ogr -f MVT` on the same vector data and zooms. Both raster tools leave fully transparent
# tiles out (gdal2tiles -x; tileserver export always does); before any timing is reported the
# script checks that they wrote the same tiles, and that their tiles at the last zoom are the
# same pictures (bench/parity.py; gdal2tiles warps only that zoom from the source and shrinks
# it into the others). That holds for nearest; with bilinear, gdal2tiles warps with nearest
# neighbour (AutoCreateWarpedVRT) and only shrinks its 2x-sized reads bilinearly, so the
# UTM case reports how far its pictures are from udftiles' (gdalwarp's bilinear) without
# failing. Every measurement runs BENCH_RUNS times (interleaved) and the median is
# reported. Writes bench/results/export.md and prints it.
#
#   bench/export.sh                       # or: make bench-export (minutes: gdal2tiles takes most)
#   BENCH_RUNS=1 bench/export.sh          # a quick look
#   BENCH_EXPORT_CASES=utm BENCH_UTM_ZOOMS=8-12 BENCH_RUNS=1 bench/export.sh
#
# Environment: BENCH_EXPORT_CASES [rgb vector utm], BENCH_RUNS [3], BENCH_RASTER_ZOOMS [5-11]
# (rgb), BENCH_UTM_ZOOMS [8-13], BENCH_VECTOR_ZOOMS [0-6], BENCH_CONCURRENCY [2×nproc]
# (udftiles' --concurrency), BENCH_UTM_COG [as bench/run.sh], TILESERVER [bin/tileserver].
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
CASES=" ${BENCH_EXPORT_CASES:-rgb vector utm} "
RUNS=${BENCH_RUNS:-3}
RZ=${BENCH_RASTER_ZOOMS:-5-11}
UZ=${BENCH_UTM_ZOOMS:-8-13}
VZ=${BENCH_VECTOR_ZOOMS:-0-6}
CONC=${BENCH_CONCURRENCY:-$((2 * $(nproc)))}
TILESERVER=${TILESERVER:-bin/tileserver}
OUT=$ROOT/bench/results/export.md
log() { echo "bench-export: $*" >&2; }
die() { echo "bench-export: FAILED: $*" >&2; exit 1; }
has() { [[ $CASES == *" $1 "* ]]; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
for c in $CASES; do [[ $c == rgb || $c == vector || $c == utm ]] || die "BENCH_EXPORT_CASES: unknown case '$c' (want rgb, vector, utm)"; done
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

zmin() { echo "${1%-*}"; }
zmax() { echo "${1#*-}"; }

{
  echo "store: {url: none}"
  echo "cache: {memory_mb: 0}"
  echo "udfs:"
} >"$WORK/config.yaml"
if has rgb; then
  # The raster: the demo RGB image (EPSG:4326, Byte) upsampled 8× to 8192², as a COG.
  gdal_translate -q -outsize 800% 800% -r bilinear data/demo/rgb.tif "$WORK/big.tif"
  gdal_translate -q -of COG -co COMPRESS=DEFLATE "$WORK/big.tif" "$WORK/rgb.tif"
  rm "$WORK/big.tif"
  echo "  - {name: rgb, handler: cog, path: $WORK/rgb.tif, resampling: nearest}" >>"$WORK/config.yaml"
fi
if has utm; then
  # The UTM RGB COG bench/run.sh measures (4096² Byte, EPSG:32633), the same file.
  UTM_COG=${BENCH_UTM_COG:-data/bench/rgbutm-$(sha256sum bench/rgbutm.py | cut -c1-12).tif}
  [[ $UTM_COG == /* ]] || UTM_COG=$ROOT/$UTM_COG
  if [ ! -f "$UTM_COG" ]; then
    log "writing $UTM_COG (bench/rgbutm.py)"
    /usr/bin/python3 bench/rgbutm.py "$UTM_COG" || die "bench/rgbutm.py $UTM_COG failed"
  fi
  echo "  - {name: rgbutm, handler: cog, path: $UTM_COG, resampling: bilinear, maxzoom: $(zmax "$UZ")}" >>"$WORK/config.yaml"
fi
if has vector; then
  echo "  - {name: countries, handler: vector, path: $ROOT/data/demo/countries.gpkg}" >>"$WORK/config.yaml"
fi

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

# same_tiles NAME G2T_DIR UDFTILES_DIR LASTZOOM STRICT: both wrote the same z/x/y tiles (but
# for slivers at the image's edge: tiles one tool wrote and the other left out as empty must
# have under 1% of their pixels drawn), and 30 of the last zoom's (spread over it) are the
# same pictures (STRICT=1; with 0 their difference is only reported); the summaries land in
# SAME_<NAME> and ONLY_<NAME>.
same_tiles() {
  local name=$1 g=$2 u=$3 z=$4 strict=$5 n d pdir out only=""
  diff <(cd "$g" && find . -name '*.png' | sort) <(cd "$u" && find . -name '*.png' | sort) >"$WORK/$name.tiles.diff" || true
  printf -v "ONLY_$name" '%s' "no tile written by one tool only"
  if [ -s "$WORK/$name.tiles.diff" ]; then
    # shellcheck disable=SC2046
    out=$(/usr/bin/python3 bench/parity.py --drawn $(sed -n "s|^< \./|$g/|p; s|^> \./|$u/|p" "$WORK/$name.tiles.diff"))
    only="$(grep -c '^<' "$WORK/$name.tiles.diff") tiles written by gdal2tiles only, $(grep -c '^>' "$WORK/$name.tiles.diff") by tileserver export only (at most $out drawn)"
    awk -v v="${out%%%*}" 'BEGIN { exit !(v < 1) }' ||
      die "$name: gdal2tiles and tileserver export wrote different tiles: $only; e.g. $(grep -m3 '^[<>]' "$WORK/$name.tiles.diff" | tr '\n' ' ')"
    printf -v "ONLY_$name" '%s' "$only"
    log "$name: $only"
  fi
  pdir=$WORK/parity-$name
  mkdir -p "$pdir"
  n=$(cd "$u" && find "./$z" -name '*.png' | wc -l)
  [ "$n" -gt 0 ] || die "$name: no tiles at zoom $z"
  (cd "$u" && find "./$z" -name '*.png' | sort) | awk -v n="$n" 'NR % int((n + 29) / 30) == 0 || n < 30' | head -30 |
    while read -r t; do
      d=$(echo "${t#./}" | sed 's|\.png$||; s|/|_|g')
      cp "$u/$t" "$pdir/$d.udftiles.png"
      cp "$g/$t" "$pdir/$d.gdal2tiles.png"
    done
  if ! out=$(/usr/bin/python3 bench/parity.py "$pdir" gdal2tiles); then
    [ "$strict" = 0 ] || die "$name: gdal2tiles and tileserver export tiles differ: $out"
  fi
  printf -v "SAME_$name" '%s' "$out"
  log "$name: same tiles; pictures: $out"
}

for r in $(seq 1 "$RUNS"); do
  if has rgb; then
    log "round $r/$RUNS: EPSG:4326 RGB, nearest, z$RZ"
    rm -rf "$OUTS/g2t" "$OUTS/ut"
    timed "$WORK/t.gdal2tiles" gdal2tiles.py --xyz --processes=2 -r near -x -w none -q -z "$RZ" "$WORK/rgb.tif" "$OUTS/g2t"
    timed "$WORK/t.uraster" "$TILESERVER" export --config "$WORK/config.yaml" --udf rgb --minzoom "$(zmin "$RZ")" --maxzoom "$(zmax "$RZ")" \
      --format png --concurrency "$CONC" --quiet --out "$OUTS/ut"
    count "$OUTS/g2t" >>"$WORK/n.gdal2tiles"
    count "$OUTS/ut" >>"$WORK/n.uraster"
    [ "$r" -gt 1 ] || same_tiles rgb "$OUTS/g2t" "$OUTS/ut" "$(zmax "$RZ")" 1
  fi
  if has vector; then
    log "round $r/$RUNS: vector z$VZ"
    rm -rf "$OUTS/o2m" "$OUTS/uv"
    # Clipped to Web Mercator's latitudes: GDAL 3.6's MVT writer mis-tiles features reaching -90°.
    timed "$WORK/t.ogr2ogr" ogr2ogr -f MVT "$OUTS/o2m" data/demo/countries.gpkg -clipsrc -180 -85.0511 180 85.0511 \
      -dsco MINZOOM="$(zmin "$VZ")" -dsco MAXZOOM="$(zmax "$VZ")" -dsco FORMAT=DIRECTORY -dsco COMPRESS=NO
    timed "$WORK/t.uvector" "$TILESERVER" export --config "$WORK/config.yaml" --udf countries --minzoom "$(zmin "$VZ")" --maxzoom "$(zmax "$VZ")" \
      --format mvt --concurrency "$CONC" --quiet --bbox=-180,-85.0511,180,85.0511 --out "$OUTS/uv"
    count "$OUTS/o2m" >>"$WORK/n.ogr2ogr"
    count "$OUTS/uv" >>"$WORK/n.uvector"
  fi
  if has utm; then
    log "round $r/$RUNS: UTM RGB, bilinear, z$UZ"
    rm -rf "$OUTS/g2tu" "$OUTS/utu"
    timed "$WORK/t.gdal2tiles_utm" gdal2tiles.py --xyz --processes=2 -r bilinear -x -w none -q -z "$UZ" "$UTM_COG" "$OUTS/g2tu"
    timed "$WORK/t.uutm" "$TILESERVER" export --config "$WORK/config.yaml" --udf rgbutm --minzoom "$(zmin "$UZ")" --maxzoom "$(zmax "$UZ")" \
      --format png --concurrency "$CONC" --quiet --out "$OUTS/utu"
    count "$OUTS/g2tu" >>"$WORK/n.gdal2tiles_utm"
    count "$OUTS/utu" >>"$WORK/n.uutm"
    [ "$r" -gt 1 ] || same_tiles utm "$OUTS/g2tu" "$OUTS/utu" "$(zmax "$UZ")" 0
  fi
done

m() { median <"$WORK/$1"; }
ratio() { printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; }
secs() { printf '%.2f' "$(m "$1")"; }
# rows LABEL PEER_LABEL PEER_KEY OURS_LABEL OURS_KEY: the two lines of one comparison.
rows() {
  local p u
  p=$(secs "t.$3") u=$(secs "t.$5")
  echo "| $1 | $2 | $(m "n.$3") | $p | $(echo "scale=0; $(m "n.$3") / $p" | bc) | 1 |"
  echo "| | $4 | $(m "n.$5") | $u | $(echo "scale=0; $(m "n.$5") / $u" | bc) | **$(ratio "$p" "$u")×** |"
}
{
  echo "# Prerendering: tileserver export vs gdal2tiles.py and ogr2ogr -f MVT"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), \`bench/export.sh\`, median of $RUNS runs (interleaved); tiles written to $( [ "$OUTS" = "$WORK" ] && echo "disk" || echo "tmpfs (/dev/shm)")."
  echo
  echo "**Machine:** $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM; $(gdalinfo --version); load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| work | tool | tiles | seconds | tiles/s | ratio |"
  echo "| --- | --- | ---: | ---: | ---: | ---: |"
  if has rgb; then
    rows "RGB COG 8192² (EPSG:4326), z$RZ, 256 px PNG, nearest" "gdal2tiles.py --xyz --processes=2 -r near -x" gdal2tiles \
      "tileserver export --concurrency $CONC" uraster
  fi
  if has utm; then
    rows "RGB COG 4096² (EPSG:32633, bench/rgbutm.py), z$UZ, 256 px PNG, bilinear" "gdal2tiles.py --xyz --processes=2 -r bilinear -x" gdal2tiles_utm \
      "tileserver export --concurrency $CONC" uutm
  fi
  if has vector; then
    rows "Natural Earth countries, z$VZ, MVT" "ogr2ogr -f MVT (directory)" ogr2ogr "tileserver export --format mvt" uvector
  fi
  echo
  echo "Targets: ≥ 5× gdal2tiles on the EPSG:4326 COG with nearest, ≥ 6× on the UTM COG with bilinear,"
  echo "≥ 2× ogr2ogr. Both raster tools leave fully transparent tiles out and wrote the same tiles (checked;"
  echo "tiles only one wrote must be slivers under 1% drawn)."
  if has rgb; then echo "EPSG:4326: ${ONLY_rgb}; same pictures at z$(zmax "$RZ"): ${SAME_rgb}."; fi
  if has utm; then echo "UTM: ${ONLY_utm}."; fi
  if has utm; then
    echo "Pictures at z$(zmax "$UZ"), UTM: ${SAME_utm}: gdal2tiles -r bilinear warps with nearest neighbour"
    echo "(AutoCreateWarpedVRT) and shrinks 2× reads bilinearly; udftiles gives gdalwarp -r bilinear's pixels."
  fi
  echo "A pixel differs when its transparency differs or a channel differs by more than 16 (bench/parity.py)."
  echo "ogr2ogr and tileserver export both skip tiles without features; their tile counts differ where they"
  echo "decide differently which tiles hold a feature (tileserver export's default buffer is larger)."
} >"$OUT"
cat "$OUT"
