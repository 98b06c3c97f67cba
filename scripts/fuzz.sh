#!/usr/bin/env bash
# Fuzzes wgbgp's parsers of untrusted input with cargo-fuzz (libFuzzer):
#   decode_message   BGP messages from a peer (bgp::wire frame/decode/encode)
#   decode_bfd       BFD Control packets (bgp::bfd::packet decode/encode)
#   config_load      the YAML configuration (wgbgp::config::Config::from_str)
#   control_request  control-socket request lines (wgbgp::api::Request)
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Runs each target for SECONDS (default 600) and prints, per target, the
# executions, exec/s, crashes, coverage and corpus size. A crash does not end
# a target's run: it is counted, its input kept under the artifacts directory
# and fuzzing resumes for the time left. Exits non-zero if anything crashed.
# This is a dedicated script, not part of CI or scripts/test.sh.
#
# Environment:
#   FUZZ_JOBS        targets run at once (default 1; each takes one core)
#   FUZZ_SANITIZER   address (default) or none
#   FUZZ_WORK        growing corpora, artifacts and logs (default fuzz/work)
#   CARGO_TARGET_DIR build directory (default fuzz/target)
#
# The seed corpora in fuzz/corpus/ are read, never written: what libFuzzer
# finds goes to $FUZZ_WORK/corpus/<target>, which later runs start from.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/common.sh
source scripts/common.sh

seconds=${1:-600}
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(decode_message decode_bfd config_load control_request)
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || die "SECONDS must be a positive integer, not '$seconds'"

jobs=${FUZZ_JOBS:-1}
sanitizer=${FUZZ_SANITIZER:-address}
work=$(realpath -m "${FUZZ_WORK:-fuzz/work}")
target_dir=$(realpath -m "${CARGO_TARGET_DIR:-fuzz/target}")

ensure_rust
triple=$(rustc -vV | sed -n 's/^host: //p')
if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

# cargo-fuzz passes nightly-only flags (-Zsanitizer, sanitizer coverage
# options). RUSTC_BOOTSTRAP=1 lets the stable compiler accept them, so no
# nightly toolchain is needed; stable ships the ASan runtime for this.
export RUSTC_BOOTSTRAP=1
# -O: optimised, as libFuzzer needs throughput; -a: keep debug assertions
# and overflow checks, so arithmetic overflow is a crash, not a silent wrap.
build_flags=(-O -a -s "$sanitizer" --target-dir "$target_dir")
log "building ${targets[*]} (sanitizer: $sanitizer)"
for t in "${targets[@]}"; do
    [ -f "fuzz/fuzz_targets/$t.rs" ] || die "no fuzz target '$t' (fuzz/fuzz_targets/)"
    cargo fuzz build "${build_flags[@]}" "$t"
done

# One target for `seconds`, restarting after each crash. Writes a one-line
# summary to $work/<target>.summary and the libFuzzer output to .log.
run_target() {
    local t=$1
    local bin="$target_dir/$triple/release/$t"
    local corpus="$work/corpus/$t" artifacts="$work/artifacts/$t"
    local logf="$work/$t.log"
    mkdir -p "$corpus" "$artifacts"
    : > "$logf"
    local start now left execs=0 crashes=0 runs=0 cov=? ft=? corp=? out rc
    local before after
    start=$(date +%s)
    while :; do
        now=$(date +%s)
        left=$((seconds - (now - start)))
        [ "$left" -gt 0 ] || break
        runs=$((runs + 1))
        # The same bug found again and again would only burn the budget.
        [ "$runs" -le 50 ] || break
        before=$(find "$artifacts" -type f | wc -l)
        out="$work/$t.run"
        rc=0
        "$bin" "$corpus" "fuzz/corpus/$t" \
            -max_total_time="$left" -print_final_stats=1 \
            -artifact_prefix="$artifacts/" -timeout=10 -rss_limit_mb=2048 \
            > "$out" 2>&1 || rc=$?
        cat "$out" >> "$logf"
        execs=$((execs + $(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -n1 | grep . || echo 0)))
        # The last status line, e.g. "#2097152 pulse cov: 1877 ft: 4980
        # corp: 527/49Kb ...", carries coverage and corpus size.
        local line
        line=$(grep -E '^#[0-9]+.*cov: ' "$out" | tail -n1 || true)
        if [ -n "$line" ]; then
            cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$line")
            ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$line")
            corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$line")
        fi
        after=$(find "$artifacts" -type f | wc -l)
        if [ "$rc" -ne 0 ]; then
            if [ "$after" -gt "$before" ]; then
                crashes=$((crashes + after - before))
            else
                # Failed without leaving an input: a setup problem, not a find.
                log "$t: libFuzzer exited $rc without an artifact; see $logf"
                crashes=$((crashes + 1))
                break
            fi
        fi
    done
    local elapsed=$(( $(date +%s) - start ))
    [ "$elapsed" -gt 0 ] || elapsed=1
    printf '%-16s execs %-11s exec/s %-7s crashes %-3s cov %-6s ft %-6s corpus %-12s %ss\n' \
        "$t" "$execs" "$((execs / elapsed))" "$crashes" "$cov" "$ft" "$corp" "$elapsed" \
        > "$work/$t.summary"
    rm -f "$work/$t.run"
}

mkdir -p "$work"
log "fuzzing for ${seconds}s each, $jobs at a time; corpora, artifacts and logs in $work"
running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    run_target "$t" &
    running=$((running + 1))
done
wait

total=0
echo "target           results (sanitizer: $sanitizer, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
for t in "${targets[@]}"; do
    cat "$work/$t.summary"
    c=$(sed -n 's/.* crashes \([0-9]*\).*/\1/p' "$work/$t.summary")
    total=$((total + ${c:-1}))
done
if [ "$total" -gt 0 ]; then
    echo "crash inputs are in $work/artifacts/; reproduce with: $target_dir/$triple/release/<target> <file>"
    exit 1
fi
