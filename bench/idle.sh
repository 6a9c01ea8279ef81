#!/usr/bin/env bash
# Idle cost of the console: redraws, CPU and memory while nobody types.
#
#   bench/idle.sh [BINARY [ARGS...]]        (default: target/release/windflow)
#   bench/idle.sh target/release/windflow --demo
#
# Starts the binary in a 120x40 pty, waits for the marker (MARKER, default
# WindFlow), lets it settle for SETTLE s (default 2), then over WINDOW s
# (default 10) counts the bytes written to the pty (0 = no redraws) and their
# bursts, CPU time (utime+stime from /proc/<pid>/stat) and VmRSS/VmHWM from
# /proc/<pid>/status. Targets: no redraws, < 1 % CPU, RSS < 30 MB; exits 1
# when one is missed, 2 when the binary is missing, 3 when the marker never
# appears or the program exits during the measurement.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${1:-target/release/windflow}
[ $# -gt 0 ] && shift
if [ ! -x "$bin" ]; then
    echo "idle.sh: $bin is not an executable file; build it first: cargo build --release" >&2
    exit 2
fi
exec python3 "$here/ptyrun.py" idle \
    --marker "${MARKER:-WindFlow}" \
    --cols "${COLS:-120}" --rows "${ROWS:-40}" \
    --settle "${SETTLE:-2}" --window "${WINDOW:-10}" \
    -- "$bin" "$@"
