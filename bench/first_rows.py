"""Time to the first table rows in a real terminal: dlpick's app against a bare Textual app.

Each run spawns the program under a pseudo-terminal (120x40, TERM=xterm-256color) and
times from spawn to the first output that shows a known row: the bare app's first cell,
or an instance type name in `dlpick --offline` (isolated HOME and XDG dirs). Runs
alternate bare/dlpick so both see the same machine load. Prints JSON; asserts nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
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
from pathlib import Path
from typing import Any

from bench.bare_app import FIRST_CELL
from bench.common import isolated_env

ROOT = Path(__file__).resolve().parents[1]
ROWS, COLUMNS = 40, 120
# Escape sequences (CSI, OSC, two-byte ESC) are dropped before looking for the row text.
ESCAPES = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
INSTANCE_TYPE = re.compile(rb"\b(g|p|trn|inf|dl)\d[a-z0-9-]*\.\d*x?large\b")
BARE = re.compile(re.escape(FIRST_CELL.encode()))


def cpu_seconds(pid: int) -> float:
    """CPU time the process's threads have run so far (Linux schedstat, in ns)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):  # a thread that just ended
            pass
    return total / 1e9


def seconds_to_rows(
    argv: list[str], env: dict[str, str], row: re.Pattern[bytes]
) -> tuple[float, float]:
    """Wall and CPU seconds from spawning `argv` on a pseudo-terminal to output showing `row`.

    CPU time barely moves with other load on the machine; wall time is what the user sees.
    """
    master, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    start = time.perf_counter()
    process = subprocess.Popen(
        argv, stdin=child, stdout=child, stderr=child, env=env, cwd=ROOT, start_new_session=True
    )
    os.close(child)
    seen = b""
    try:
        deadline = start + 30
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                seen += os.read(master, 1 << 16)
            except OSError:  # the child closed its side: it ended without rows
                break
            if row.search(ESCAPES.sub(b"", seen)):
                return time.perf_counter() - start, cpu_seconds(process.pid)
        tail = ESCAPES.sub(b"", seen)[-400:].decode(errors="replace")
        raise RuntimeError(f"no row within 30 s from {argv}: {tail!r}")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        os.close(master)


def first_rows(runs: int = 7) -> dict[str, Any]:
    """Median seconds to the first rows, bare Textual app and dlpick, and their ratio."""
    dlpick = Path(sys.executable).with_name("dlpick")
    with tempfile.TemporaryDirectory() as tmp:
        env = isolated_env(Path(tmp)) | {"TERM": "xterm-256color"}
        bare = ([sys.executable, "-m", "bench.bare_app"], BARE)
        app = ([str(dlpick), "--offline"], INSTANCE_TYPE)
        wall: dict[str, list[float]] = {"bare": [], "dlpick": []}
        cpu: dict[str, list[float]] = {"bare": [], "dlpick": []}
        for n in range(runs + 1):
            for name, (argv, row) in (("bare", bare), ("dlpick", app)):
                elapsed, used = seconds_to_rows(argv, env, row)
                if n:  # the first round warms the OS file cache and writes the bytecode
                    wall[name].append(elapsed)
                    cpu[name].append(used)
    median = {name: statistics.median(ts) for name, ts in wall.items()}
    median_cpu = {name: statistics.median(ts) for name, ts in cpu.items()}
    return {
        "terminal": f"{COLUMNS}x{ROWS} xterm-256color pty",
        "bare_textual_median_s": round(median["bare"], 4),
        "dlpick_offline_median_s": round(median["dlpick"], 4),
        "ratio": round(median["dlpick"] / median["bare"], 2),
        "bare_cpu_median_s": round(median_cpu["bare"], 4),
        "dlpick_cpu_median_s": round(median_cpu["dlpick"], 4),
        "cpu_ratio": round(median_cpu["dlpick"] / median_cpu["bare"], 2),
        "bare_runs_s": [round(t, 4) for t in wall["bare"]],
        "dlpick_runs_s": [round(t, 4) for t in wall["dlpick"]],
    }


if __name__ == "__main__":
    print(json.dumps({"first_rows": first_rows()}, indent=2))
