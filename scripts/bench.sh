#!/usr/bin/env bash
# The full-table benchmark (docs/benchmarks.md), as root on Debian 12:
#   bash scripts/bench.sh            100,000 IPv4, then 1,000,000 IPv4 (+ 200,000 IPv6)
#   bash scripts/bench.sh --quick    20,000 IPv4 + 4,000 IPv6 (smoke run, ~1 min)
#   bash scripts/bench.sh --peers    many peers (issue 17): P = 10, 100, 300, 1000 plain
#                                    eBGP peers × 100 routes into wgbgpd and BIRD, 3 runs
#                                    each, idle CPU over 30 s (~25 min); e.g. quicker:
#                                    bash scripts/bench.sh --peers --peers 10,100 --idle 5 --runs 1
# The full run ends with the export side (fullfeed --export): 1,000,000 IPv4
# advertised by wgbgpd and by BIRD to the same BIRD receiver.
# Extra arguments after the mode go to every fullfeed run, e.g.
#   bash scripts/bench.sh --receivers wgbgpd,bird
# Installs what is missing (scripts/common.sh), builds the release binaries,
# runs our sender against wgbgpd, BIRD 2 and FRR one at a time plus the
# `ip -batch` and raw-netlink floors, and writes markdown and JSON per size
# to bench-results/ (override with BENCH_OUT=DIR). BENCH_NICE (default -10)
# runs the measurement at a higher CPU priority than other work on the
# machine; every receiver inherits it, so the comparison stays fair.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/common.sh
source scripts/common.sh

quick=0
peers=0
if [ "${1:-}" = "--quick" ]; then
    quick=1
    shift
elif [ "${1:-}" = "--peers" ]; then
    peers=1
    shift
fi
prepare_machine

log "building release binaries, and wgbgpd as installed (profile dist: fat LTO)"
cargo build --release --workspace --bins
cargo build --profile dist -p wgbgp --bin wgbgpd
target="${CARGO_TARGET_DIR:-target}"
export WGBGPD_BIN="${WGBGPD_BIN:-$target/dist/wgbgpd}"
export WGBGP_BIN="${WGBGP_BIN:-$target/release/wgbgp}"
WGBGP_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! git diff --quiet HEAD -- bgp rib bin 2>/dev/null; then
    WGBGP_COMMIT="$WGBGP_COMMIT+dirty"
fi
export WGBGP_COMMIT

out="${BENCH_OUT:-bench-results}"
mkdir -p "$out"
nice_level="${BENCH_NICE:--10}"

rc=0
run() {
    local name=$1
    shift
    log "fullfeed $name: $* (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    nice -n "$nice_level" "$target/release/fullfeed" "$@" \
        --json "$out/$name.json" --markdown "$out/$name.md" || rc=$?
}

if [ "$quick" -eq 1 ]; then
    run quick --v4 20000 --v6 4000 "$@"
elif [ "$peers" -eq 1 ]; then
    # Later arguments win: `--peers 10,100 --runs 1` after the mode narrows it.
    run peers --peers 10,100,300,1000 --runs 3 "$@"
else
    # Three rounds each: the target ratios are taken between medians.
    run 100k --v4 100000 --runs 3 "$@"
    run 1m --v4 1000000 --runs 3 "$@"
    run 1m-v6 --v4 1000000 --v6 200000 "$@"
    # The export side: wgbgpd and BIRD, holding the table, advertise it to a BIRD receiver.
    run export-1m --export --v4 1000000 "$@"
fi
log "results in $out/ (exit $rc)"
exit "$rc"
