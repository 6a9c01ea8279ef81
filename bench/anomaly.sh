#!/usr/bin/env bash
# Anomaly detectors side by side with scikit-learn on the ODDS cardio data
# (1,831 x 21): fit plus score of every row per detector (goal: ten times
# faster than scikit-learn) and the score of one live event (target under
# 50 us). Ours: the criterion bench benches/anomaly.rs (release build);
# theirs: bench/anomaly_sklearn.py in the test venv (scripts/test installs
# scikit-learn there). One line per detector with both and the ratio.
#
#   bench/anomaly.sh                       (CARGO_TARGET_DIR is honoured)
#   PYTHON=/path/to/python bench/anomaly.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-${WINDFLOW_TEST_PYTHON:-target/venv/bin/python3}}
data=tests/fixtures/anomaly/odds_cardio.csv
"$python" -c 'import sklearn' 2>/dev/null || {
    echo "anomaly.sh: $python lacks scikit-learn; run scripts/test or set PYTHON" >&2
    exit 2
}
ours=$(mktemp)
trap 'rm -f "$ours"' EXIT
cargo bench --quiet --bench anomaly -- --noplot 2>/dev/null | tee /dev/stderr >"$ours"
# Criterion: "anomaly/<group>/<detector>" then "time:   [low mid high]"; keep mid, in us.
mid_us() {
    awk -v name="$1" '
        index($0, name) == 1 { want = 1 }
        want && /time:/ {
            split(substr($0, index($0, "[") + 1), a, " "); v = a[3]; u = a[4]
            if (u == "ns") v /= 1000; else if (u == "ms") v *= 1000; else if (u == "s") v *= 1e6
            printf "%.1f", v; exit
        }' "$ours"
}
printf '\n%-8s %18s %18s %8s   %14s %14s   %s\n' detector "fit+score ours ms" "scikit-learn ms" speedup "1 event ours us" "scikit-learn us" "targets (faster; 10x; event < 50 us)"
"$python" bench/anomaly_sklearn.py "$data" | while IFS=$'\t' read -r d theirs_ms theirs_one; do
    fit=$(mid_us "anomaly/fit+score cardio/$d")
    one=$(mid_us "anomaly/score one event/$d")
    awk -v d="$d" -v f="$fit" -v t="$theirs_ms" -v o="$one" -v t1="$theirs_one" 'BEGIN {
        r = t * 1000 / f
        printf "%-8s %18.2f %18.2f %7.1fx   %14.1f %14.1f   %s; %s; %s\n", d, f / 1000, t, r, o, t1,
            (r >= 1 ? "met" : "MISSED"), (r >= 10 ? "met" : "not yet"), (o < 50 ? "met" : "MISSED")
    }'
done
