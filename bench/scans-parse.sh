#!/usr/bin/env bash
# Parse and merge a 50 MB Trivy report: `windflow scan report` (release build)
# against `jq '[.Results[].Vulnerabilities[]?] | length'` on the same file.
#   bench/scans-parse.sh [SIZE_MB]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-50}
file=target/bench-scans/trivy-${size}mb.json
mkdir -p target/bench-scans
[ -f "$file" ] || python3 bench/scans-gen-trivy.py "$file" "$size"
ls -l "$file" | awk '{printf "file: %.1f MB\n", $5/1048576}'
cargo build --release --quiet
best() { # best of 5 wall-clock runs, in ms
    local b=999999
    for _ in 1 2 3 4 5; do
        local s e
        s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N)
        local ms=$(( (e - s) / 1000000 )); [ $ms -lt $b ] && b=$ms
    done
    echo $b
}
echo "vulnerabilities (jq): $(jq '[.Results[].Vulnerabilities[]?] | length' "$file")"
echo "merged findings (windflow): $(target/release/windflow scan report "$file" --json | jq '.findings | length')"
echo "jq count:                    $(best jq '[.Results[].Vulnerabilities[]?] | length' "$file") ms"
echo "windflow parse+merge+gate:   $(best target/release/windflow scan report "$file" --json) ms"
