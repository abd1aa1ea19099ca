"""What `dlpick bench` costs beyond its time budget: connecting, checking for runs,
uploading the script, starting python and reading its answer.

Runs `dlpick bench HOST --seconds 1` against the tests' sshd peer, the host's
python3 being this venv's (numpy on the CPU), and prints JSON: the wall time of the
command, the time the host script itself reported, and the difference.
Nothing here asserts a timing. Run: python -m bench.bench_overhead
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

from bench.common import isolated_env, reach_sshd

ALIAS = "bench"
RUNS = 3
SECONDS = 1


def main() -> dict[str, Any]:
    from tests.peers.sshd import Sshd

    sshd = Sshd().start()
    try:
        with tempfile.TemporaryDirectory(prefix="dlpick-bench-") as tmp:
            home = Path(tmp)
            reach_sshd(sshd, home, ALIAS)
            env = isolated_env(home)
            sshd.remote_bin.mkdir(exist_ok=True)
            wrapper = sshd.remote_bin / "python3"
            wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
            wrapper.chmod(0o755)
            dlpick = str(Path(sys.executable).with_name("dlpick"))
            argv = [dlpick, "bench", ALIAS, "--seconds", str(SECONDS), "--format", "json"]
            walls, hosts = [], []
            for _ in range(RUNS):
                start = time.perf_counter()
                out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True)
                walls.append(time.perf_counter() - start)
                hosts.append(float(json.loads(out.stdout)[0]["elapsed_s"]))
    finally:
        sshd.stop()
    wall, host = statistics.median(walls), statistics.median(hosts)
    return {
        "budget_s": SECONDS,
        "command_median_s": round(wall, 3),
        "host_script_median_s": round(host, 3),
        "overhead_median_s": round(wall - host, 3),
        "runs": RUNS,
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
