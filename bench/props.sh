#!/usr/bin/env bash
# The property tests of tests/it/props.rs at scale: each target (envelopes,
# scanner reports, manifests, the config file, the display boundary) with
# CASES generated inputs (default 1,000,000) in a release build, one after the
# other; prints the inputs, the time and the inputs/s of each, and for the
# parsers how many inputs they accepted. Exits 1 if a property fails (the
# smallest failing input is printed). FILTER keeps the targets whose name
# holds it (`bench/props.sh 1000000 display`: the display boundary only, the
# fuzzing of issue 19, as cargo-fuzz needs a nightly build of its own).
#   bench/props.sh [CASES] [FILTER]
# The build goes to CARGO_TARGET_DIR (default target/); PROPTEST_RNG_SEED
# replays a run.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-1000000}
filter=${2:-}
bin=$(cargo test --release --test it --no-run 2>&1 |
    sed -n 's/.*Executable tests\/it\/main.rs (\(.*\))$/\1/p')
if [ ! -x "$bin" ]; then
    echo "props.sh: the release test binary did not build" >&2
    exit 2
fi
targets=$("$bin" props:: --list 2>/dev/null | sed -n 's/: test$//p' | grep -v '::regression_' |
    grep -F -- "$filter" || true)
if [ -z "$targets" ]; then
    echo "props.sh: no property target matches \"$filter\"" >&2
    exit 2
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=0
printf '%-78s %9s %8s %10s  %s\n' target inputs seconds inputs/s accepted
for t in $targets; do
    s=$(date +%s%N)
    if PROPTEST_CASES=$cases "$bin" "$t" --exact --nocapture --test-threads 1 >"$log" 2>&1; then
        e=$(date +%s%N)
        ms=$(((e - s) / 1000000))
        accepted=$(sed -n 's/.*props: accepted \([0-9]*\) of .*/\1/p' "$log")
        printf '%-78s %9d %8s %10d  %s\n' "$t" "$cases" \
            "$(awk -v ms="$ms" 'BEGIN { printf "%.1f", ms / 1000 }')" \
            $((cases * 1000 / (ms > 0 ? ms : 1))) "${accepted:--}"
    else
        failed=1
        echo "$t FAILED:"
        grep -v '^thread .* panicked' "$log" | sed -n '/Test failed/,$p' | head -40
    fi
done
exit $failed
