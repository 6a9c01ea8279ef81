#!/usr/bin/env bash
# Side by side with jq and grep on the same 1M-event JSON-lines file that
# `cargo bench --bench audit` writes (target/audit-bench-1m.jsonl).
#
#   bench/audit-jq.sh            # runs the criterion bench first when the file is missing
set -euo pipefail
cd "$(dirname "$0")/.."
file=target/audit-bench-1m.jsonl
[ -f "$file" ] || cargo bench --bench audit -- tail_ingest_1m
lines=$(wc -l <"$file")
echo "file: $file ($lines events, $(du -h "$file" | cut -f1))"
# Output goes to a real file: GNU grep stops at the first match when it writes to /dev/null.
out=$(mktemp)
trap 'rm -f "$out"' EXIT
t() { local s e; s=$(date +%s.%N); "$@" >"$out"; e=$(date +%s.%N); echo "$e - $s" | bc; }
for tool in jq grep; do
    case $tool in
        jq) secs=$(t jq -c 'select(.severity=="critical")' "$file") ;;
        grep) secs=$(t grep -F '"severity":"critical"' "$file") ;;
    esac
    echo "$tool: ${secs}s, $(echo "$lines / $secs" | bc) events/s, $(wc -l <"$out") matches"
done
echo "windflow: see tail_ingest_1m/severity_critical in the criterion output (events/s)"
