"""App start-up: process start to a painted `#prices` table with rows, headless.

Each run is a fresh interpreter. The parent passes its `time.perf_counter()` taken
just before starting the child; on Linux that clock is system-wide (CLOCK_MONOTONIC),
so the child can report the time since its own process was started.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import isolated_env

# Runs in the child: the app as `dlpick` builds it, exiting on the first frame with rows.
CHILD = """
import sys, time
started = float(sys.argv[1])
from dlpick.pricing.aws import DEFAULT_REGION
from dlpick.tui.app import build_app
from dlpick.tui.config import load_settings

app = build_app(load_settings(), DEFAULT_REGION)

def painted() -> None:
    table = app.query_one("#prices")
    if table.row_count:
        print(time.perf_counter() - started)
        app.exit()
    else:
        app.call_after_refresh(painted)

app.call_after_refresh(painted)
app.run(headless=True, size=(120, 36))
"""


def app_start_seconds(runs: int = 5) -> dict[str, Any]:
    """Median seconds from process start to a painted price table (no AWS credentials)."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        env = isolated_env(Path(tmp))

        def once() -> float:
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", CHILD, repr(start)],
                env=env,
                check=True,
                capture_output=True,
                text=True,
                timeout=60,
            )
            return float(done.stdout.strip().splitlines()[-1])

        once()  # warm the OS file cache and the bytecode
        times = [once() for _ in range(runs)]
    return {"median_s": round(statistics.median(times), 4), "runs_s": [round(t, 4) for t in times]}


if __name__ == "__main__":
    print(json.dumps({"app_start": app_start_seconds()}, indent=2))
