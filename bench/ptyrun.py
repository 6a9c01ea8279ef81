#!/usr/bin/env python3
"""Run a terminal program in a pseudo-terminal and measure it.

Standard library only. Used by bench/startup.sh and bench/idle.sh.

  ptyrun.py startup [options] -- PROGRAM [ARGS...]
      Start PROGRAM RUNS times; time from spawn to the first output that
      contains MARKER (escape sequences stripped); print min/median/p95.
  ptyrun.py once [options] -- PROGRAM [ARGS...]
      One start: exit 0 as soon as MARKER is seen (for hyperfine).
  ptyrun.py idle [options] -- PROGRAM [ARGS...]
      Start PROGRAM, wait for MARKER, let it settle, then measure over a
      window: bytes written (redraws), CPU time, resident memory.

The program gets a clean environment like the test harness: PATH,
TERM=xterm-256color, COLORTERM=truecolor, HOME and XDG_{CONFIG,DATA,STATE}_HOME
in a temporary directory, plus any WINDFLOW_* and RUST_LOG variables from the
caller. Exit status: 0 all targets met, 1 a target missed, 3 no measurement
(the marker never appeared, or the program exited). The emulated terminal answers cursor-position, status and
device-attribute queries so that a program probing the terminal does not wait
for a reply that never comes.
"""

import argparse
import fcntl
import os
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time

# CSI, OSC, DCS/SOS/PM/APC strings, two-byte escapes, other C0 controls.
ESCAPES = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]"
    rb"|\x1b[\]PX^_].*?(?:\x07|\x1b\\)"
    rb"|\x1b[ -/]*[0-~]"
    rb"|[\x00-\x08\x0b-\x1f\x7f]",
    re.DOTALL,
)

# Terminal queries and the answers of a plain xterm-like terminal.
QUERIES = [
    (b"\x1b[6n", b"\x1b[1;1R"),  # cursor position
    (b"\x1b[5n", b"\x1b[0n"),  # device status
    (b"\x1b[c", b"\x1b[?62;22c"),  # primary device attributes
    (b"\x1b[0c", b"\x1b[?62;22c"),
    (b"\x1b]10;?\x07", b"\x1b]10;rgb:ffff/ffff/ffff\x1b\\"),  # foreground
    (b"\x1b]10;?\x1b\\", b"\x1b]10;rgb:ffff/ffff/ffff\x1b\\"),
    (b"\x1b]11;?\x07", b"\x1b]11;rgb:0000/0000/0000\x1b\\"),  # background
    (b"\x1b]11;?\x1b\\", b"\x1b]11;rgb:0000/0000/0000\x1b\\"),
]
LONGEST_QUERY = max(len(q) for q, _ in QUERIES)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def plain_text(data: bytes) -> str:
    """What a terminal would show, roughly: the bytes without escapes."""
    return ESCAPES.sub(b"", data).decode("utf-8", "replace")


class PtyProcess:
    """A program on a fresh pseudo-terminal of the given size."""

    def __init__(self, argv, cols, rows, home):
        # The program runs in the temporary HOME: resolve a relative path now.
        if os.sep in argv[0]:
            argv = [os.path.abspath(argv[0]), *argv[1:]]
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "TERM": "xterm-256color",
            "COLORTERM": "truecolor",
            "HOME": os.path.join(home, "home"),
            "XDG_CONFIG_HOME": os.path.join(home, "config"),
            "XDG_DATA_HOME": os.path.join(home, "data"),
            "XDG_STATE_HOME": os.path.join(home, "state"),
        }
        for key, value in os.environ.items():
            if key.startswith("WINDFLOW_") or key == "RUST_LOG":
                env[key] = value
        for key in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
            os.makedirs(env[key], exist_ok=True)

        def controlling_tty():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=env["HOME"],
            start_new_session=True,
            preexec_fn=controlling_tty,
        )
        os.close(slave)
        self.output = bytearray()
        self.closed = False
        self._scan_from = 0

    @property
    def pid(self):
        return self.proc.pid

    def read(self, timeout):
        """Reads what is there within `timeout` seconds; b"" if nothing."""
        if self.closed:
            time.sleep(timeout)
            return b""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the program side is closed
            data = b""
        if not data:
            self.closed = True
            return b""
        self.output += data
        self._answer_queries()
        return data

    def _answer_queries(self):
        # Look at the new bytes plus enough old ones to catch a query that
        # was split across reads; answer only queries that end in new bytes.
        start = max(0, self._scan_from - (LONGEST_QUERY - 1))
        window = bytes(self.output[start:])
        old = self._scan_from - start
        answers = []
        for query, answer in QUERIES:
            pos = window.find(query)
            while pos != -1:
                if pos + len(query) > old:
                    answers.append((pos, answer))
                pos = window.find(query, pos + 1)
        self._scan_from = len(self.output)
        for _, answer in sorted(answers):
            self.write(answer)

    def write(self, data):
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def wait_for(self, marker, timeout):
        """Seconds from spawn until `marker` is in the output, or None."""
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            if self.read(min(left, 0.05)) and marker in plain_text(bytes(self.output)):
                return time.perf_counter() - self.started
            if self.closed:
                return None

    def cpu_seconds(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # Fields 14 and 15 of stat(5): utime, stime; fields[0] is field 3.
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def memory_kb(self):
        values = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0])
        return values

    def quit(self, keys=b"q", grace=1.0):
        """Presses `keys`, waits up to `grace` s, then kills the session."""
        self.write(keys)
        deadline = time.perf_counter() + grace
        while self.proc.poll() is None and time.perf_counter() < deadline:
            self.read(0.01)
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        os.close(self.master)

    def screen_tail(self, limit=600):
        text = plain_text(bytes(self.output))
        return text[-limit:] if text else "(no output)"


def percentile(sorted_values, p):
    """Nearest-rank percentile."""
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


def cmd_startup(args):
    times = []
    with tempfile.TemporaryDirectory(prefix="windflow-bench-") as home:
        # One unmeasured run first: page cache, first-run set-up.
        for run in range(args.runs + 1):
            proc = PtyProcess(args.argv, args.cols, args.rows, home)
            seconds = proc.wait_for(args.marker, args.timeout)
            tail = proc.screen_tail()
            proc.quit()
            if seconds is None:
                print(
                    f"startup: {args.marker!r} not seen within {args.timeout} s "
                    f"(run {run}); last output:\n{tail}",
                    file=sys.stderr,
                )
                return 3
            if run > 0:
                times.append(seconds * 1000)
                if args.verbose:
                    print(f"  run {run:>2}: {seconds * 1000:7.2f} ms")
    times.sort()
    median = statistics.median(times)
    verdict = "PASS" if median < args.target_ms else "FAIL"
    print(
        f"startup to first frame with {args.marker!r} ({args.runs} runs, "
        f"{args.cols}x{args.rows}): min {times[0]:.1f} ms, median {median:.1f} ms, "
        f"p95 {percentile(times, 95):.1f} ms, max {times[-1]:.1f} ms"
    )
    print(f"  target: median < {args.target_ms:g} ms ... {verdict}")
    return 0 if verdict == "PASS" else 1


def cmd_once(args):
    with tempfile.TemporaryDirectory(prefix="windflow-bench-") as home:
        proc = PtyProcess(args.argv, args.cols, args.rows, home)
        seconds = proc.wait_for(args.marker, args.timeout)
        proc.quit(grace=0.0)
    return 0 if seconds is not None else 1


def bursts_of(chunks, gap):
    """Counts groups of (time, size) chunks separated by more than `gap` s."""
    bursts = 0
    last = None
    for at, _ in chunks:
        if last is None or at - last > gap:
            bursts += 1
        last = at
    return bursts


def cmd_idle(args):
    with tempfile.TemporaryDirectory(prefix="windflow-bench-") as home:
        proc = PtyProcess(args.argv, args.cols, args.rows, home)
        try:
            return idle(proc, args)
        finally:
            proc.quit()


def idle(proc, args):
    shown = proc.wait_for(args.marker, args.timeout)
    if shown is None:
        print(
            f"idle: {args.marker!r} not seen within {args.timeout} s; last output:\n"
            f"{proc.screen_tail()}",
            file=sys.stderr,
        )
        return 3
    settle_end = time.perf_counter() + args.settle
    while time.perf_counter() < settle_end:
        proc.read(settle_end - time.perf_counter())

    chunks = []
    cpu_before = proc.cpu_seconds()
    started = time.perf_counter()
    end = started + args.window
    while (left := end - time.perf_counter()) > 0:
        data = proc.read(min(left, 0.5))
        if data:
            chunks.append((time.perf_counter(), len(data)))
        if proc.closed or proc.proc.poll() is not None:
            print(f"idle: the program exited during the window; last output:\n"
                  f"{proc.screen_tail()}", file=sys.stderr)
            return 3
    elapsed = time.perf_counter() - started
    cpu = proc.cpu_seconds() - cpu_before
    memory = proc.memory_kb()

    written = sum(size for _, size in chunks)
    bursts = bursts_of(chunks, 0.02)
    cpu_pct = 100 * cpu / elapsed
    rss_mb = memory.get("VmRSS", 0) / 1024
    hwm_mb = memory.get("VmHWM", 0) / 1024
    checks = [
        (
            f"redraws: {written} bytes in {bursts} write bursts over {elapsed:.1f} s",
            "no redraws (0 bytes)",
            written == 0,
        ),
        (
            f"cpu:     {cpu_pct:.2f} % ({cpu * 1000:.0f} ms user+sys in {elapsed:.1f} s)",
            f"< {args.cpu_target:g} %",
            cpu_pct < args.cpu_target,
        ),
        (
            f"memory:  VmRSS {rss_mb:.1f} MB, VmHWM {hwm_mb:.1f} MB",
            f"RSS < {args.rss_target_mb:g} MB",
            rss_mb < args.rss_target_mb,
        ),
    ]
    print(
        f"idle: {' '.join(args.argv)} at {args.cols}x{args.rows}, first frame after "
        f"{shown * 1000:.0f} ms, settled {args.settle:g} s, measured {args.window:g} s"
    )
    for figure, target, ok in checks:
        print(f"  {figure:<62} target: {target:<22} {'PASS' if ok else 'FAIL'}")
    return 0 if all(ok for _, _, ok in checks) else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("startup", "once", "idle"):
        p = sub.add_parser(name)
        p.add_argument("--marker", default=os.environ.get("MARKER", "WindFlow"))
        p.add_argument("--timeout", type=float, default=10.0,
                       help="seconds to wait for the marker")
        p.add_argument("--cols", type=int, default=120)
        p.add_argument("--rows", type=int, default=40)
        if name == "idle":
            p.add_argument("--settle", type=float, default=2.0)
            p.add_argument("--window", type=float, default=10.0)
            p.add_argument("--cpu-target", type=float, default=1.0, help="percent")
            p.add_argument("--rss-target-mb", type=float, default=30.0)
        if name == "startup":
            p.add_argument("--runs", type=int, default=20)
            p.add_argument("--target-ms", type=float, default=50.0)
            p.add_argument("--verbose", action="store_true")
        p.add_argument("argv", nargs="+", metavar="PROGRAM [ARGS...]")
    args = parser.parse_args()
    handler = {"startup": cmd_startup, "once": cmd_once, "idle": cmd_idle}[args.command]
    sys.exit(handler(args))


if __name__ == "__main__":
    main()
