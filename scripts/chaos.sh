#!/usr/bin/env bash
# Runs the fault-injection ("chaos") suite (package e2e) in its long form
# (CHAOS=long: more rounds, longer loads; a few minutes): Python workers
# killed under load, a storm of UDF timeouts, MinIO restarted under load,
# SIGTERM with requests in flight, a full disk under an export, a COG
# truncated while served. The short form of the same tests runs in `make test`.
#
# Usage: scripts/chaos.sh [extra go test flags...]
# The full log is kept in a temporary file whose name is printed at the end,
# after one summary line per scenario.
set -Eeuo pipefail

cd "$(dirname "$0")/.."

# What the tests need, made as the Makefile makes it: the map page's bundle
# (compiled into the binary the tests build) and MinIO in tools/ (which
# internal/miniotest would otherwise build on first use, slowly).
make --no-print-directory web-assets tools/minio

# The tests build the binary themselves (go build of ./cmd/tileserver); building
# it here first stops on a broken tree before any server starts.
go build -o /dev/null ./cmd/tileserver

log=$(mktemp "${TMPDIR:-/tmp}/udftiles-chaos.XXXXXX")
status=0
CHAOS=long go test -count=1 -run '^TestChaos' -v -timeout 20m "$@" ./e2e 2>&1 | tee "$log" || status=$?

echo
echo "chaos summaries:"
grep -E '^\s+chaos_test\.go:[0-9]+: chaos summary: ' "$log" | sed -E 's/^\s+chaos_test\.go:[0-9]+: chaos summary: /  /' || true
grep -E '^--- (PASS|FAIL|SKIP): TestChaos' "$log" || true
echo "full log: $log"
exit "$status"
