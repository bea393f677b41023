#!/usr/bin/env bash
# Computed raster tiles against plain ones and against GDAL: the Go benchmark
# BenchmarkProcessTiles (cog/process_bench_test.go) times warm 256 px tiles of the demo
# files one by one, the kinds interleaved in each round: the RGB image plain and as
# expression=(b3-b1)/(b3+b1) (read with nearest neighbour, encoded as png, and read with
# bilinear), the DEM plain and as algorithm=hillshade, and as peers for the hillshade
# (MapServer has no hillshade) GDAL in-process (the tile and its border warped into memory,
# then DEMProcessing's hillshade) and the gdalwarp and gdaldem programs run per tile. It
# reports each kind's median and p90 and the ratios of medians: an expression over a plain
# tile (issue 20: at most 1.3), a hillshade over GDAL's. Writes bench/results/raster.md and
# prints it.
#
#   bench/raster.sh                  # also run by make bench
#   BENCH_ROUNDS=5 bench/raster.sh   # a quick look
#
# Environment (defaults in brackets): BENCH_ROUNDS [30] rounds of 16 tiles of each kind (4
# for the programs).
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
ROUNDS=${BENCH_ROUNDS:-30}
OUT=$ROOT/bench/results/raster.md
mkdir -p "$ROOT/bench/results"
command -v gdaldem >/dev/null || { echo "bench-raster: gdaldem is not installed (gdal-bin)" >&2; exit 1; }
TMP=$(mktemp /tmp/udftiles-bench-raster.XXXXXX)
trap 'rm -f "$TMP"' EXIT
BENCH_RASTER_OUT=$TMP go test ./cog/ -run '^$' -bench '^BenchmarkProcessTiles$' -benchtime "${ROUNDS}x" -timeout 30m >"$TMP.log" 2>&1 ||
  { cat "$TMP.log" >&2; rm -f "$TMP.log"; exit 1; }
{
  echo "# Computed raster tiles"
  echo
  echo "BenchmarkProcessTiles, $ROUNDS rounds, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(gdalinfo --version)."
  echo
  cat "$TMP"
} >"$OUT"
rm -f "$TMP.log"
cat "$OUT"
