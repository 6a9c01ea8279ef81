#!/usr/bin/env bash
# Time from spawn to the first frame that shows the marker text, in a pty.
#
#   bench/startup.sh [BINARY [ARGS...]]     (default: target/release/windflow)
#
# Environment: RUNS (default 20), MARKER (default WindFlow), COLS/ROWS
# (default 120x40), VERBOSE=1 to print every run.
# Prints min/median/p95 in ms; exits 1 when the median misses the 50 ms target,
# 2 when the binary is missing, 3 when the marker never appears.
# With hyperfine installed, also prints hyperfine's figure for a whole
# start -> first frame -> quit cycle (includes the Python helper's own start).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${1:-target/release/windflow}
[ $# -gt 0 ] && shift
if [ ! -x "$bin" ]; then
    echo "startup.sh: $bin is not an executable file; build it first: cargo build --release" >&2
    exit 2
fi
runs=${RUNS:-20}
marker=${MARKER:-WindFlow}
size=(--cols "${COLS:-120}" --rows "${ROWS:-40}")
verbose=()
[ -n "${VERBOSE:-}" ] && verbose=(--verbose)

status=0
python3 "$here/ptyrun.py" startup --runs "$runs" --marker "$marker" "${size[@]}" "${verbose[@]}" \
    -- "$bin" "$@" || status=$?

if [ "$status" -ne 0 ] && [ "$status" -ne 1 ]; then
    exit "$status"
elif command -v hyperfine >/dev/null 2>&1; then
    echo
    echo "hyperfine: spawn -> first frame with '$marker' -> kill, through the pty helper;"
    echo "the baseline is the helper running 'echo $marker' (subtract it)"
    py=$(python3 -c 'import sys; print(sys.executable)')
    once=("$py" "$here/ptyrun.py" once --marker "$marker" "${size[@]}" --)
    hyperfine --style basic --warmup 2 --runs "$runs" \
        --command-name "helper baseline" "$(printf '%q ' "${once[@]}" echo "$marker")" \
        --command-name startup "$(printf '%q ' "${once[@]}" "$bin" "$@")" || status=$?
else
    echo "(install hyperfine, e.g. apt-get install hyperfine, for a second figure)"
fi
exit "$status"
