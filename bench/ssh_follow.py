"""Following a 1,000,000-line log over SSH: dlpick against plain `ssh HOST cat LOG`.

Runs a real OpenSSH sshd on 127.0.0.1 (the tests' peer) and prints JSON:
lines/s of `ssh HOST cat LOG`, of `dlpick logs HOST RUN --follow --from-start`
and of the library's LogFollower over the same sshd and the same log, and the
peak memory (RSS high-water of the process) of a 1,000,000-line follow.
Nothing here asserts a timing. Run: python -m bench.ssh_follow
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import reach_sshd

LINES = 1_000_000
ALIAS = "bench"
RUNS = 3

FOLLOW_CHILD = """
import asyncio, resource, sys, time
from dlpick.remote.ssh.follow import LogFollower
from dlpick.remote.ssh.follow import LogChunk
from dlpick.remote.ssh.connection import connector
from dlpick.remote.ssh.target import Target

async def main():
    start = time.perf_counter()
    size = 0
    follower = LogFollower.for_run(connector(Target(host=sys.argv[1])), sys.argv[2])
    async for event in follower.events():
        if isinstance(event, LogChunk):
            size += len(event.data)
    print(time.perf_counter() - start, size, follower.exit_status)

asyncio.run(main())
"""


IMPORTS_ONLY = (
    "import resource, asyncssh, dlpick.remote.ssh.follow; "
    "print(round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))"
)


def _measure(argv: list[str], env: dict[str, str]) -> tuple[float, int, bytes]:
    """Wall seconds and peak RSS (KiB) of one child process; stdout is discarded."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = b""
    assert proc.stdout is not None
    # Read and count, so the pipe never limits the child and nothing is kept.
    size = 0
    while chunk := proc.stdout.read(1 << 20):
        size += len(chunk)
        out = chunk[-200:]
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0,):
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}")
    return elapsed, usage.ru_maxrss, out + f"\n{size}".encode()


def _training_log(path: Path) -> int:
    """A log shaped like a training run's: about 60 bytes a line."""
    with path.open("w") as f:
        for step in range(LINES):
            f.write(
                f"step {step:7d} | loss {2.5 / (1 + step / 5e4):.5f} | lr 3.00e-04 | "
                f"{118000 + step % 997} tok/s\n"
            )
    return path.stat().st_size


def main() -> dict[str, Any]:
    from tests.peers.sshd import Sshd

    sshd = Sshd().start()
    try:
        with tempfile.TemporaryDirectory(prefix="dlpick-bench-") as tmp:
            home = Path(tmp)
            config = reach_sshd(sshd, home, ALIAS)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DLPICK_"))}
            env.update(
                HOME=str(home),
                XDG_CONFIG_HOME=str(home / ".config"),
                XDG_CACHE_HOME=str(home / ".cache"),
                XDG_DATA_HOME=str(home / ".local" / "share"),
            )

            source = sshd.remote_home / "source.log"
            size = _training_log(source)
            # A finished run whose log is the 1,000,000 lines, made by dlpick itself.
            dlpick = str(Path(sys.executable).with_name("dlpick"))
            run_id = subprocess.run(
                [dlpick, "run", ALIAS, "--name", "bench", "--", f"cat {source}"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            log = sshd.remote_home / "dlpick-runs" / run_id / "log"
            status = log.with_name("status")
            deadline = time.monotonic() + 60
            while not status.exists() and time.monotonic() < deadline:
                time.sleep(0.05)

            ssh = ["ssh", "-F", str(config), ALIAS, "cat", str(log)]
            cli = [dlpick, "logs", ALIAS, run_id, "--follow", "--from-start"]
            library = [sys.executable, "-c", FOLLOW_CHILD, ALIAS, run_id]
            results: dict[str, list[tuple[float, int]]] = {"ssh": [], "cli": [], "library": []}
            for _ in range(RUNS):
                for name, argv in (("ssh", ssh), ("cli", cli), ("library", library)):
                    elapsed, rss, _ = _measure(argv, env)
                    results[name].append((elapsed, rss))

            def summary(name: str) -> dict[str, Any]:
                seconds = statistics.median(t for t, _ in results[name])
                return {
                    "median_s": round(seconds, 3),
                    "lines_per_s": round(LINES / seconds),
                    "peak_rss_mib": round(max(r for _, r in results[name]) / 1024, 1),
                }

            figures: dict[str, Any] = {
                "log": {"lines": LINES, "bytes": size, "complete": log.stat().st_size == size},
                "plain_ssh_cat": summary("ssh"),
                "dlpick_logs_follow": summary("cli"),
                "library_follow": summary("library"),
            }
            baseline = figures["plain_ssh_cat"]["lines_per_s"]
            figures["dlpick_logs_follow"]["vs_plain_ssh"] = round(
                figures["dlpick_logs_follow"]["lines_per_s"] / baseline, 2
            )
            figures["library_follow"]["vs_plain_ssh"] = round(
                figures["library_follow"]["lines_per_s"] / baseline, 2
            )
            idle = subprocess.run(
                [sys.executable, "-c", IMPORTS_ONLY], env=env, capture_output=True, text=True
            )
            figures["python_with_asyncssh_rss_mib"] = float(idle.stdout.strip() or "nan")
            figures["note"] = (
                "wall time from process start to exit, connection set-up included; "
                "peak_rss is the process's RSS high-water (wait4)"
            )
            return figures
    finally:
        sshd.stop()


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
