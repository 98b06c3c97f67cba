#!/usr/bin/env bash
# The whole test suite, as the README gives it: on a fresh Debian 12 machine,
# as root, `bash scripts/test.sh`. Installs what is missing, builds the
# release binaries (the namespace tests run them), then runs every test of
# the workspace, namespace tests included (they fail, never skip, when they
# cannot run). Exits non-zero on any failure and ends with one summary line.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/common.sh
source scripts/common.sh

start=$(date +%s)
prepare_machine

log "building release binaries"
cargo build --release --workspace --bins
# The package test (integration/tests/package.rs) installs this .deb.
BUILD=0 bash scripts/deb.sh

out=$(mktemp /tmp/wgbgp-test.XXXXXX)
trap 'rm -f "$out"' EXIT
log "running the tests"
rc=0
# Namespace tests use machine-unique names, so they can run in parallel.
cargo test --release --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-2}" 2>&1 | tee "$out" || rc=$?

passed=0 failed=0 ignored=0
while read -r p f i; do
    passed=$((passed + p)) failed=$((failed + f)) ignored=$((ignored + i))
done < <(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' "$out")

elapsed=$(( $(date +%s) - start ))
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    # A build error or a crashed test binary: no "failed" count to show it.
    failed=1
fi
log "finished in ${elapsed}s (cargo test exit $rc)"
if [ "$ignored" -gt 0 ]; then
    echo "summary: $passed passed, $failed failed, $ignored skipped"
else
    echo "summary: $passed passed, $failed failed"
fi
exit "$rc"
