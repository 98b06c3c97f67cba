#!/usr/bin/env bash
# Route churn soak (issue 6), as root: a peer announces and withdraws 10,000
# prefixes every second for ten minutes while wgbgpd's RSS, fds, threads and
# tokio tasks are sampled; the kernel must end with exactly the expected
# routes. Not part of CI (tests/soak.rs runs the same code for 30 s).
#   bash scripts/soak.sh                 10 minutes
#   bash scripts/soak.sh --seconds 120   shorter
# Prints a markdown table and JSON; the JSON also goes to
# bench-results/soak.json (override with SOAK_OUT=FILE).
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/common.sh
source scripts/common.sh
prepare_machine

log "building release binaries"
cargo build --release -p wgbgp --bins
cargo build --release -p integration --bin soak
target="${CARGO_TARGET_DIR:-target}"
export WGBGPD_BIN="${WGBGPD_BIN:-$target/release/wgbgpd}"
export WGBGP_BIN="${WGBGP_BIN:-$target/release/wgbgp}"
out="${SOAK_OUT:-bench-results/soak.json}"
mkdir -p "$(dirname "$out")"
log "soak: $* (load: $(cut -d' ' -f1-3 /proc/loadavg))"
"$target/release/soak" --json "$out" "$@"
