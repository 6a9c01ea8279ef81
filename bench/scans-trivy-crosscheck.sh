#!/usr/bin/env bash
# Check by check, which objects `trivy config` (offline) and `windflow scan
# manifests` flag on the same folder, for the checks both have.
#   bench/scans-trivy-crosscheck.sh [FOLDER]   (default: the kube-score fixtures)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-tests/fixtures/scans/k8s/kube-score}
trivy=${WINDFLOW_TRIVY:-target/venv/bin/trivy}
bin=${WINDFLOW_BIN:-target/debug/windflow}
[ -x "$bin" ] || cargo build --quiet
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$trivy" config --format json --quiet "$dir" > "$tmp/trivy.json"
"$bin" scan manifests "$dir" --json > "$tmp/ours.json" || true
python3 - "$tmp/trivy.json" "$tmp/ours.json" <<'PY'
import json, os, re, sys
MAP = {"KSV-0017": "privileged", "KSV-0001": "privilege-escalation", "KSV-0012": "run-as-root",
       "KSV-0014": "read-only-root-fs", "KSV-0022": "dangerous-capabilities", "KSV-0003": "capabilities-not-dropped",
       "KSV-0009": "host-network", "KSV-0010": "host-pid", "KSV-0008": "host-ipc", "KSV-0023": "host-path",
       "KSV-0006": "docker-socket", "KSV-0015": "cpu-requests", "KSV-0011": "cpu-limits",
       "KSV-0016": "memory-requests", "KSV-0018": "memory-limits", "KSV-0013": "image-tag"}
obj = re.compile(r"(?:Pod|Deployment|StatefulSet|DaemonSet|ReplicaSet|Job|CronJob|ReplicationController) '([^']+)'")
trivy = {v: set() for v in MAP.values()}
for r in json.load(open(sys.argv[1])).get("Results") or []:
    f = os.path.basename(r["Target"])
    for m in r.get("Misconfigurations") or []:
        if m.get("Status") == "FAIL" and m["ID"] in MAP:
            o = obj.search(m.get("Message", ""))
            trivy[MAP[m["ID"]]].add((f, o.group(1) if o else "?"))
ours = {v: set() for v in MAP.values()}
for x in json.load(open(sys.argv[2]))["findings"]:
    if x["check"] in ours:
        ours[x["check"]].add((os.path.basename(x["file"]), x["name"]))
print(f"| trivy | ours | trivy flags | we flag | both | only trivy | only ours |")
print("|---|---|---|---|---|---|---|")
for t, c in MAP.items():
    a, b = trivy[c], ours[c]
    print(f"| {t} | {c} | {len(a)} | {len(b)} | {len(a & b)} | {len(a - b)} | {len(b - a)} |")
for t, c in MAP.items():
    for side, s in (("only trivy", trivy[c] - ours[c]), ("only ours", ours[c] - trivy[c])):
        for f, o in sorted(s)[:6]:
            print(f"  {c}: {side}: {f} {o}")
PY
