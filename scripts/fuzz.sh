#!/usr/bin/env bash
# Runs every Go fuzz target (func FuzzXxx in a *_test.go file) of the module,
# one at a time, for FUZZTIME each (default 30s; any -fuzztime value, e.g. 5m
# or 100000x). Stops at the first target that fails and prints where the
# crashing input was saved and how to re-run it. Inputs saved under a
# package's testdata/fuzz/FuzzXxx/ also run in plain `go test`.
# Usage: scripts/fuzz.sh [FuzzName...]   (default: every target)
set -Eeuo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}

# package dir <tab> target, for every fuzz target, sorted.
mapfile -t targets < <(
  grep -rH --include='*_test.go' --exclude-dir=node_modules --exclude-dir=testdata \
    -E '^func Fuzz[A-Za-z0-9_]*\(' . |
    sed -E 's#^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#\1\t\2#' | sort -u
)
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz.sh: no fuzz targets found" >&2
  exit 1
fi

want=" $* "
log=$(mktemp)
trap 'rm -f "$log"' EXIT
ran=0
for t in "${targets[@]}"; do
  pkg=${t%%$'\t'*}
  name=${t##*$'\t'}
  if [ $# -gt 0 ] && [[ $want != *" $name "* ]]; then
    continue
  fi
  ran=$((ran + 1))
  echo "=== $name (./$pkg, $FUZZTIME)"
  if ! "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "./$pkg" 2>&1 | tee "$log"; then
    echo
    echo "FAIL: $name in ./$pkg"
    saved=$(sed -nE 's#.*Failing input written to (testdata/fuzz/[^ ]+).*#\1#p' "$log" | tail -n 1)
    if [ -n "$saved" ]; then
      echo "crasher saved to $pkg/$saved"
      echo "re-run it with: $GO test -run '^${name}/${saved##*/}\$' ./$pkg"
    else
      echo "no crashing input was saved (a build failure, or a failing seed: see above)"
    fi
    exit 1
  fi
done
if [ "$ran" -eq 0 ]; then
  echo "fuzz.sh: no fuzz target named $*" >&2
  exit 1
fi
echo "all $ran fuzz targets passed ($FUZZTIME each)"
