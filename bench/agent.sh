#!/usr/bin/env bash
# The agent: latency from a critical event recorded by the CLI to the webhook
# receiving its alert, with the agent running; then the agent's idle cost.
#
#   bench/agent.sh [BINARY]          (default: target/release/windflow)
#   EVENTS=1000 IDLE=30 bench/agent.sh
#
# A loopback HTTP receiver (Python's http.server) notes when each alert
# arrives; latency is that moment minus the event's own timestamp, taken by
# the `windflow audit log` process when it records the event. EVENTS events
# (default 1000), each of its own user so that none folds into another.
# Then IDLE s (default 30) of an idle agent: CPU time (utime+stime) and VmRSS.
# Targets: p50 < 100 ms, p99 < 1 s; idle < 1 % CPU and < 30 MB RSS.
# Exits 1 when a target is missed, 2 when the binary is missing.
set -euo pipefail

bin=${1:-target/release/windflow}
events=${EVENTS:-1000}
idle=${IDLE:-30}
if [ ! -x "$bin" ]; then
    echo "agent.sh: $bin is not an executable file; build it first: cargo build --release" >&2
    exit 2
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

port_file=$tmp/port
python3 - "$tmp/received" "$port_file" <<'PY' &
import json, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
out = open(sys.argv[1], "a", buffering=1)
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        now = time.time()
        ev = json.loads(body)["event"]
        out.write(json.dumps({"at": now, "ts": ev["timestamp"], "id": ev["id"]}) + "\n")
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[2], "w").write(str(s.server_port))
s.serve_forever()
PY
pids+=($!)
for _ in $(seq 100); do [ -s "$port_file" ] && break; sleep 0.05; done
port=$(cat "$port_file")

export WINDFLOW_ALERT_WEBHOOK_URL="http://127.0.0.1:$port/hook"
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/config XDG_STATE_HOME=$tmp/state
data=$tmp/data
# `audit log` records as an operator: the first one (an admin) will do here.
"$bin" --data-dir "$data" operators add bench --json >/dev/null
"$bin" --data-dir "$data" agent 2>"$tmp/agent.log" &
agent=$!
pids+=($agent)
for _ in $(seq 100); do
    "$bin" --data-dir "$data" agent status --json 2>/dev/null | grep -q '"leader": true' && break
    sleep 0.1
done

for i in $(seq "$events"); do
    "$bin" --data-dir "$data" --operator bench audit log --type session_hijack_attempt \
        --severity critical --user "user$i" >/dev/null
done
for _ in $(seq 200); do
    [ "$(wc -l <"$tmp/received")" -ge "$events" ] && break
    sleep 0.05
done

python3 - "$tmp/received" "$events" <<'PY' || status=1
import json, sys
from datetime import datetime
rows = [json.loads(l) for l in open(sys.argv[1])]
want = int(sys.argv[2])
lat = sorted(r["at"] * 1000 - datetime.fromisoformat(r["ts"].replace("Z", "+00:00")).timestamp() * 1000 for r in rows)
ids = {r["id"] for r in rows}
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"alerts received: {len(rows)} of {want} ({len(ids)} distinct)")
print(f"latency ms: p50 {q(0.50):.1f}  p90 {q(0.90):.1f}  p99 {q(0.99):.1f}  max {lat[-1]:.1f}")
ok = len(ids) == want and q(0.50) < 100 and q(0.99) < 1000
print("targets (p50 < 100 ms, p99 < 1 s, none lost):", "met" if ok else "MISSED")
sys.exit(0 if ok else 1)
PY
status=${status:-0}

# Idle: nothing recorded; the agent polls and beats its heart.
sleep 2
hz=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$agent/stat"; }
c0=$(cpu); t0=$(date +%s.%N)
sleep "$idle"
c1=$(cpu); t1=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$agent/status")
python3 - "$c0" "$c1" "$t0" "$t1" "$hz" "$rss" <<'PY' || status=1
import sys
c0, c1, t0, t1, hz, rss = (float(x) for x in sys.argv[1:])
pct = (c1 - c0) / hz / (t1 - t0) * 100
print(f"idle: {pct:.2f} % CPU over {t1 - t0:.0f} s, RSS {rss / 1024:.1f} MB")
ok = pct < 1 and rss / 1024 < 30
print("targets (< 1 % CPU, < 30 MB):", "met" if ok else "MISSED")
sys.exit(0 if ok else 1)
PY
exit "$status"
