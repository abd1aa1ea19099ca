"""Runs: commands started on a host detached from SSH, with their log and exit status.

Each run lives in `~/dlpick-runs/RUNID/` on the host:

    command   the command line, run by the user's login shell (as `ssh HOST CMD` would)
    run.sh    the wrapper: runs `command`, then records its exit status
    log       stdout and stderr, appended (so a truncated log keeps working)
    pid       the wrapper's process id
    started   start time, seconds since the epoch (the host's clock)
    status    the exit status, written (atomically) only when the command has ended
    name, workdir

The wrapper runs under `nohup setsid`, so it survives the SSH session ending,
the user logging out, and the network dropping.
"""

from __future__ import annotations

import re
import secrets
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from dlpick.core.errors import DlpickError
from dlpick.remote.ssh.connection import run_remote

if TYPE_CHECKING:
    import asyncssh

RUNS_DIR = "dlpick-runs"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

# The wrapper finds its run directory from its own path, so no path is quoted into it.
WRAPPER = r"""d=$(cd "$(dirname "$0")" && pwd)
cd "$(cat "$d/workdir")" && "${SHELL:-/bin/sh}" "$d/command" < /dev/null
status=$?
echo "$status" > "$d/status.tmp" && mv "$d/status.tmp" "$d/status"
"""

LIST_SCRIPT = r"""cd "$HOME/dlpick-runs" 2>/dev/null || exit 0
for d in *; do
  [ -f "$d/started" ] || continue
  pid=$(cat "$d/pid" 2>/dev/null)
  status=$(cat "$d/status" 2>/dev/null)
  alive=0
  if [ -z "$status" ] && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then alive=1; fi
  # The wrapper writes status just before it exits: look again before calling it lost.
  [ -z "$status" ] && [ "$alive" = 0 ] && status=$(cat "$d/status" 2>/dev/null)
  size=$(wc -c < "$d/log" 2>/dev/null || echo 0)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$d" "$(cat "$d/started")" "$pid" "$status" \
    "$alive" "$size" "$(cat "$d/name" 2>/dev/null)" "$(head -c 200 "$d/command" | tr '\t\n' '  ')"
done
"""


class RunError(DlpickError):
    """A run that cannot be started or found; worded for the user."""


# The fields of `Run.to_record`, in order (`dlpick runs` JSON records and CSV columns).
RUN_FIELDS = (
    "run_id",
    "name",
    "state",
    "running",
    "exit_status",
    "started",
    "pid",
    "log_bytes",
    "log_path",
    "command",
)


@dataclass(frozen=True)
class Run:
    """One run on a host, as last seen."""

    run_id: str
    name: str
    started: datetime | None
    pid: int | None
    running: bool
    exit_status: int | None
    log_size: int
    command: str

    @property
    def state(self) -> str:
        """'running', 'exited N', or 'lost' (ended without recording a status)."""
        if self.exit_status is not None:
            return f"exited {self.exit_status}"
        return "running" if self.running else "lost"

    @property
    def log_path(self) -> str:
        return run_path(self.run_id, "log")

    def to_record(self) -> dict[str, Any]:
        """The run as `dlpick runs` prints it in JSON and CSV (RUN_FIELDS); times in UTC."""
        started = (
            self.started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if self.started else None
        )
        return {
            "run_id": self.run_id,
            "name": self.name or None,
            "state": self.state,
            "running": self.running,
            "exit_status": self.exit_status,
            "started": started,
            "pid": self.pid,
            "log_bytes": self.log_size,
            "log_path": self.log_path,
            "command": self.command,
        }


def run_path(run_id: str, leaf: str = "") -> str:
    """A run's file as a path relative to the remote home (`dlpick-runs/RUNID/leaf`)."""
    if not RUN_ID.match(run_id):
        raise RunError(f"not a run id: {run_id!r}")
    return f"{RUNS_DIR}/{run_id}/{leaf}" if leaf else f"{RUNS_DIR}/{run_id}"


def shell_path(path: str) -> str:
    """A remote path as a shell word: relative paths and `~/...` are under $HOME."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        path = path[2:]
    if path.startswith("/"):
        return shlex.quote(path)
    return '"$HOME"/' + shlex.quote(path)


def command_line(command: str | Sequence[str]) -> str:
    """One argument is a shell command line as typed; several are quoted word by word."""
    if isinstance(command, str):
        return command
    words = list(command)
    if not words:
        raise RunError("no command given: put it after --, e.g. dlpick run HOST -- python train.py")
    return words[0] if len(words) == 1 else shlex.join(words)


def new_run_id(command: str, name: str | None = None, now: float | None = None) -> str:
    """A sortable, readable, unique id: UTC start time, name (or program), random suffix."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    if name:
        slug = name
    else:
        words = shlex.split(command, posix=True) if command.strip() else ["run"]
        # The program's name says more than an interpreter (python train.py -> train).
        pick = next(
            (w for w in words if "." in w and not w.startswith("-")),
            words[0] if words else "run",
        )
        slug = pick.rsplit("/", 1)[-1].split(".")[0]
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", slug).strip("-")[:32] or "run"
    return f"{stamp}-{slug}-{secrets.token_hex(2)}"


async def start_run(
    conn: asyncssh.SSHClientConnection,
    command: str | Sequence[str],
    name: str | None = None,
    workdir: str | None = None,
) -> str:
    """Start COMMAND detached on the host behind `conn` and return its run id at once."""
    line = command_line(command)
    if not line.strip():
        raise RunError("the command is empty")
    if name is not None and not NAME.match(name):
        raise RunError(
            f"run name {name!r}: use letters, digits, '.', '_' or '-' (up to 64, no spaces)"
        )
    try:
        words = shlex.split(line)
    except ValueError:
        words = [line]
    run_id = new_run_id(" ".join(words) if words else line, name)
    marker = f"DLPICK_{secrets.token_hex(8).upper()}"
    directory = shell_path(workdir or "~")
    # Everything goes in one exec so a run is either fully set up or not started.
    script = f"""set -e
cd -- {directory} 2>/dev/null || {{
  printf 'no such directory on the host: %s\n' {shlex.quote(workdir or "~")} >&2; exit 3; }}
w=$(pwd)
d="$HOME/{RUNS_DIR}/{run_id}"
mkdir -p "$d"
printf '%s\\n' "$w" > "$d/workdir"
printf '%s\\n' {shlex.quote(name or "")} > "$d/name"
cat > "$d/command" <<'{marker}'
{line}
{marker}
cat > "$d/run.sh" <<'{marker}'
{WRAPPER}{marker}
date +%s > "$d/started"
nohup setsid sh "$d/run.sh" >> "$d/log" 2>&1 < /dev/null &
echo $! > "$d/pid"
"""
    result = await run_remote(conn, script_command(script), check=False)
    if result.exit_status != 0:
        detail = str(result.stderr or "").strip().splitlines()
        raise RunError(
            detail[-1] if detail else f"could not start the run (status {result.exit_status})"
        )
    return run_id


def script_command(script: str) -> str:
    """Run a POSIX sh script whatever the login shell is."""
    return "sh -c " + shlex.quote(script)


def _parse_run(line: str) -> Run | None:
    parts = line.split("\t")
    if len(parts) < 8:
        return None
    run_id, started, pid, status, alive, size, name, command = parts[:8]
    try:
        when = datetime.fromtimestamp(int(started), UTC) if started.strip() else None
    except ValueError:
        when = None
    return Run(
        run_id=run_id,
        name=name,
        started=when,
        pid=int(pid) if pid.strip().isdigit() else None,
        running=alive == "1",
        exit_status=int(status) if status.strip().lstrip("-").isdigit() else None,
        log_size=int(size) if size.strip().isdigit() else 0,
        command=command.strip(),
    )


async def list_runs(conn: asyncssh.SSHClientConnection) -> list[Run]:
    """Every run on the host, oldest first."""
    result = await run_remote(conn, script_command(LIST_SCRIPT), check=False)
    if result.exit_status != 0:
        raise RunError(f"could not list runs: {str(result.stderr or '').strip()}")
    runs = [r for line in str(result.stdout).splitlines() if (r := _parse_run(line))]
    runs.sort(key=lambda r: (r.started or datetime.min.replace(tzinfo=UTC), r.run_id))
    return runs


async def find_run(conn: asyncssh.SSHClientConnection, run: str | None = None) -> Run:
    """The given run (by id, unique id prefix, or name), or the latest one."""
    runs = await list_runs(conn)
    if not runs:
        raise RunError("no runs on this host yet; start one with: dlpick run TARGET -- COMMAND")
    if run is None:
        return runs[-1]
    exact = [r for r in runs if r.run_id == run]
    if exact:
        return exact[0]
    # A name picks its latest run; an id prefix must be unambiguous.
    named = [r for r in runs if r.name == run]
    if named:
        return named[-1]
    prefixed = [r for r in runs if r.run_id.startswith(run)]
    if len(prefixed) == 1:
        return prefixed[0]
    if prefixed:
        raise RunError(f"{run!r} matches {len(prefixed)} runs; give more of the id")
    raise RunError(f"no run {run!r} on this host (see: dlpick runs TARGET)")


async def tail_start(
    connection: asyncssh.SSHClientConnection, path: str, lines: int
) -> tuple[int, str | None]:
    """Byte offset where the last `lines` lines of a remote file begin, and its inode."""
    probe = await run_remote(
        connection, script_command(f"stat -L -c '%i %s' -- {shell_path(path)}"), check=False
    )
    fields = str(probe.stdout).split()
    if probe.exit_status != 0 or len(fields) < 2:
        return 0, None
    inode, size = fields[0], int(fields[1])
    if lines <= 0:
        return size, inode
    window = 64 * 1024
    while True:
        start = max(0, size - window)
        result = await run_remote(
            connection,
            script_command(f"tail -c +{start + 1} -- {shell_path(path)} | head -c {size - start}"),
            encoding=None,
            check=False,
        )
        # encoding=None gives bytes; asyncssh types the output as bytes or str.
        data = cast("bytes", result.stdout or b"")
        # Ignore the final newline: it ends the last line, it does not start one.
        end = len(data) - 1 if data.endswith(b"\n") else len(data)
        cut = end
        for _ in range(lines):
            cut = data.rfind(b"\n", 0, cut)
            if cut < 0:
                break
        if cut >= 0:
            return start + cut + 1, inode
        if start == 0:
            return 0, inode
        window *= 4
