#!/usr/bin/env bash
# Mosaic tiles: the Go benchmark BenchmarkMosaicTile (cog/mosaic_bench_test.go) reads 256 px
# tiles of zoom 12 over a mosaic of 500 small COGs in two CRSs (EPSG:4326 and UTM 33N, each
# place in about four files; at most 64 files open at once), with pixel_selection first and
# mean, and the same tiles of one COG covering the same area at the same resolution. It reports
# p50 and p99 of single tiles (the read and the combination; no encoding, no HTTP) and writes
# bench/results/mosaic.md with the ratio to the one-file tile (also given in UTM 33N). The 500 files are written once
# under the system's temp folder (udftiles-bench-mosaic-25x20/) and reused.
#
#   bench/mosaic.sh                 # BENCH_TILES tiles a case [2000]
#   BENCH_TILES=300 bench/mosaic.sh # a quick look
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
N=${BENCH_TILES:-2000}
OUT=$ROOT/bench/results/mosaic.md
GO=${GO:-go}
RAW=$(mktemp /tmp/udftiles-bench-mosaic.XXXXXX)
trap 'rm -f "$RAW"' EXIT
"$GO" test ./cog/ -run '^$' -bench '^BenchmarkMosaicTile$' -benchtime "${N}x" -timeout 60m | tee "$RAW"
# A line: BenchmarkMosaicTile/<case>-<cpus> N ns/op [v files/tile] v p50-ms v p99-ms v tiles/walk
metric() { awk -v c="^BenchmarkMosaicTile/$1-[0-9]+\$" -v m="$2" '$1 ~ c { for (i = 2; i < NF; i++) if ($(i+1) == m) print $i }' "$RAW"; }
P50_ONE=$(metric onefile p50-ms)
[ -n "$P50_ONE" ] || { echo "bench-mosaic: FAILED: no result for the one-file tile" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
{
  echo "# Mosaic tiles: 500 COGs against one"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), \`go test ./cog/ -bench BenchmarkMosaicTile -benchtime ${N}x\` (bench/mosaic.sh), $(nproc) CPUs."
  echo
  echo "256 px tiles of zoom 12 walked in turn over 500 COGs of 256 px in EPSG:4326 and UTM 33N (0.1° each on a 0.05° grid: most places lie in four files; at most 64 files open at once), read and combined, no encoding. One file: the same tiles of one COG covering the area at the same resolution, in EPSG:4326 (read by the direct path) and warped to UTM 33N (read through a warp); the ratio is to the first."
  echo
  echo "| case | p50 | p99 | files read a tile | p50 / one file |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  for c in mosaic500/first mosaic500/mean onefile onefile-utm; do
    p50=$(metric "$c" p50-ms); p99=$(metric "$c" p99-ms); files=$(metric "$c" files/tile)
    ratio=$(awk -v a="$p50" -v b="$P50_ONE" 'BEGIN { printf "%.1f×", a / b }')
    echo "| $c | $p50 ms | $p99 ms | ${files:-1} | $ratio |"
  done
} >"$OUT"
cat "$OUT"
