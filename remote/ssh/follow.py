"""Follow a log on a remote host over SSH without losing or repeating a line.

One small POSIX sh loop runs on the host and sends the log in framed chunks:

    D <offset> <n>\\n<n bytes>K <end>\\n  n bytes of the log from <offset> (end = offset + n)
    D <offset> <n>\\n<n bytes>B <end>\\n  the file changed under the read: discard the bytes
    R <reason> <inode>\\n               the log was truncated or replaced: start again at 0
    H\\n                                heartbeat while idle (both ends notice a dead link)
    X <status>\\n                       the run ended (status, or '-' if it was killed) and
                                       everything was sent
    E\\n                                end of the log (when not following)

If the file shrinks in the middle of a read the chunk comes short and the next
verdict line does not match its expected end: the client then starts a fresh
reader at the same offset, on the same connection.

The client keeps the byte offset just after the last complete line it has
handed out. When the connection drops it reconnects with exponential backoff
and asks the loop to start again at that offset, so the line that was in flight
is sent again whole and nothing is sent twice. Reads are bounded (`chunk_bytes`),
so memory stays flat however long the log grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dlpick.core.errors import SshError
from dlpick.core.retry import Backoff
from dlpick.remote.ssh.connection import Connect
from dlpick.remote.ssh.runs import run_path, script_command, shell_path

if TYPE_CHECKING:
    import asyncssh


class FollowError(SshError):
    """Following cannot go on (gave up reconnecting, or the host cannot run the reader)."""


@dataclass(frozen=True)
class LogChunk:
    """Complete lines of the log (bytes as written), starting at byte `offset`."""

    data: bytes
    offset: int

    def lines(self) -> list[str]:
        """The lines as text, without line endings (invalid UTF-8 replaced)."""
        return self.data.decode("utf-8", "replace").splitlines()


@dataclass(frozen=True)
class LogReset:
    """The log was truncated or replaced; what follows is from its new start."""

    reason: str  # "truncated" or "rotated"


@dataclass(frozen=True)
class ConnectionChange:
    """The connection's state: connecting, connected, reconnecting, or failed."""

    state: str
    attempt: int = 0
    delay: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class RunEnded:
    """The run ended and its log is drained; `exit_status` is None if it was killed."""

    exit_status: int | None


@dataclass(frozen=True)
class LogEnd:
    """The end of the log as it is now (when not following)."""

    offset: int


FollowEvent = LogChunk | LogReset | ConnectionChange | RunEnded | LogEnd


CHUNK_BYTES = 4 * 1024 * 1024
# A line longer than this is handed out in pieces, so a progress bar that never
# prints a newline cannot grow memory without bound.
MAX_PARTIAL = 1024 * 1024

READER = r"""f=@FILE@; s=@STATUS@; p=@PID@; off=@OFFSET@; ino=@INODE@; once=@ONCE@; budget=@BUDGET@
idle=0
# GNU dd reads the range straight to stdout (one copy fewer than tail | head).
dd=
if dd if=/dev/null iflag=skip_bytes,count_bytes status=none 2>/dev/null; then dd=1; fi
fresh=
while :; do
  if [ -z "$fresh" ]; then
    # Status first, size second: a run that has ended has written all its log.
    ended=
    if [ -n "$s" ] && [ -f "$s" ]; then ended=1; fi
    set -- $(stat -L -c '%i %s' -- "$f" 2>/dev/null) 0 0
    i=$1; sz=$2
  fi
  fresh=
  if [ "$off" -gt 0 ]; then
    if [ -n "$ino" ] && [ "$i" != "$ino" ]; then echo "R rotated $i"; off=0
    elif [ "$sz" -lt "$off" ]; then echo "R truncated $i"; off=0; fi
  fi
  ino=$i
  if [ "$sz" -gt "$off" ]; then
    n=$((sz - off)); [ "$n" -gt "$budget" ] && n=$budget
    echo "D $off $n"
    if [ -n "$dd" ]; then
      dd if="$f" iflag=skip_bytes,count_bytes skip="$off" count="$n" bs=1M status=none 2>/dev/null
    else
      tail -c +$((off + 1)) -- "$f" 2>/dev/null | head -c "$n"
    fi
    # The file may have shrunk during the read: say whether those bytes are the log's.
    set -- $(stat -L -c '%i %s' -- "$f" 2>/dev/null) 0 0
    if [ "$1" = "$ino" ] && [ "$2" -ge $((off + n)) ]; then
      off=$((off + n)); echo "K $off"
      # More is waiting: this look serves the next read too (one fork fewer per chunk).
      if [ "$2" -gt "$off" ]; then i=$1; sz=$2; fresh=1; fi
    else
      echo "B $((off + n))"
    fi
    idle=0
    continue
  fi
  if [ -n "$ended" ]; then echo "X $(cat "$s")"; exit 0; fi
  if [ "$once" = 1 ]; then echo E; exit 0; fi
  if [ -n "$p" ] && [ -f "$p" ] && ! kill -0 "$(cat "$p")" 2>/dev/null && [ ! -f "$s" ]; then
    sleep @POLL@
    # The run may have written its status while we looked; only a missing one means lost.
    [ -f "$s" ] && continue
    echo "X -"; exit 0
  fi
  idle=$((idle + 1))
  if [ "$idle" -ge @HEARTBEAT_TICKS@ ]; then echo H; idle=0; fi
  sleep @POLL@
done
"""


class _Lost(Exception):
    """This connection is gone (or stalled); reconnect."""


class _Resync(Exception):
    """The reader's frames lost alignment; restart it on the same connection."""


class LogFollower:
    """Streams a remote log from a byte offset, across reconnects, as events.

    Use `events()` as an async iterator, or `run(on_event)` which returns the
    run's exit status once the run has ended and the log is drained.
    """

    def __init__(
        self,
        connect: Connect,
        path: str,
        *,
        status_path: str | None = None,
        pid_path: str | None = None,
        offset: int = 0,
        inode: str | None = None,
        follow: bool = True,
        connection: asyncssh.SSHClientConnection | None = None,
        chunk_bytes: int = CHUNK_BYTES,
        poll_interval: float = 0.2,
        heartbeat_interval: float = 5.0,
        stall_timeout: float = 30.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        give_up_after: float | None = 600.0,
    ) -> None:
        self._connect = connect
        self.path = path
        self.status_path = status_path
        self.pid_path = pid_path
        self.offset = offset  # just after the last byte handed out
        self.inode = inode
        self.follow = follow
        self._conn = connection
        self._owns_conn = connection is None
        self.chunk_bytes = chunk_bytes
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.stall_timeout = stall_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.give_up_after = give_up_after
        self.exit_status: int | None = None
        self.reconnects = 0
        self.resets = 0
        self._partial = b""

    @classmethod
    def for_run(cls, connect: Connect, run_id: str, **kwargs: Any) -> LogFollower:
        """Follow a run's log until the run ends (see dlpick.remote.ssh.runs)."""
        return cls(
            connect,
            run_path(run_id, "log"),
            status_path=run_path(run_id, "status"),
            pid_path=run_path(run_id, "pid"),
            **kwargs,
        )

    def _script(self) -> str:
        ticks = max(1, round(self.heartbeat_interval / self.poll_interval))
        values = {
            "FILE": shell_path(self.path),
            "STATUS": shell_path(self.status_path) if self.status_path else "''",
            "PID": shell_path(self.pid_path) if self.pid_path else "''",
            "OFFSET": str(int(self.offset)),
            "INODE": shlex.quote(self.inode or ""),
            "ONCE": "0" if self.follow else "1",
            "BUDGET": str(int(self.chunk_bytes)),
            "POLL": f"{self.poll_interval:g}",
            "HEARTBEAT_TICKS": str(ticks),
        }
        script = READER
        for key, value in values.items():
            script = script.replace(f"@{key}@", value)
        return script

    async def run(self, on_event: Callable[[FollowEvent], object] | None = None) -> int | None:
        """Follow to the end, passing every event to `on_event`; returns the exit status."""
        async for event in self.events():
            if on_event is not None:
                on_event(event)
        return self.exit_status

    async def events(self) -> AsyncIterator[FollowEvent]:
        """Log chunks, resets and connection changes, until the run ends (or the log
        ends when not following). Raises FollowError when it gives up."""
        import asyncssh

        backoff = Backoff(self.backoff_initial, self.backoff_max, self.give_up_after)
        try:
            while True:
                try:
                    if self._conn is None:
                        yield ConnectionChange("connecting", backoff.attempt)
                        self._conn = await self._connect()
                        self._owns_conn = True
                    yield ConnectionChange("connected", backoff.attempt)
                    resyncs = 0
                    while True:
                        try:
                            async for event in self._stream(self._conn):
                                if backoff.failing:
                                    # This connection works: later drops start the backoff afresh.
                                    backoff.succeeded()
                                if isinstance(event, LogChunk):
                                    resyncs = 0
                                yield event
                            return
                        except _Resync:
                            resyncs += 1
                            if resyncs > 20:
                                raise FollowError(
                                    "the log keeps shrinking under the reader"
                                ) from None
                            self._partial = b""  # re-read whole from self.offset
                except (_Lost, SshError, OSError, asyncssh.Error, TimeoutError) as exc:
                    if isinstance(exc, SshError) and not exc.transient:
                        raise
                    await self._drop()
                    delay = backoff.failed()
                    if delay is None:
                        yield ConnectionChange("failed", backoff.attempt, error=_describe(exc))
                        raise FollowError(
                            f"gave up reconnecting after {self.give_up_after:g} s: {_describe(exc)}"
                        ) from None
                    self.reconnects += 1
                    yield ConnectionChange("reconnecting", backoff.attempt, delay, _describe(exc))
                    await asyncio.sleep(delay)
        finally:
            await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._partial = b""  # resent whole from self.offset on the next connection
        if conn is not None and self._owns_conn:
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 2)

    async def _stream(self, conn: asyncssh.SSHClientConnection) -> AsyncIterator[FollowEvent]:
        import asyncssh

        try:
            process = await conn.create_process(script_command(self._script()), encoding=None)
        except asyncssh.ChannelOpenError as exc:
            raise _Lost(f"could not open a channel: {exc.reason}") from None
        stdout = process.stdout
        timeout = self.stall_timeout
        try:
            while True:
                header = await asyncio.wait_for(stdout.readline(), timeout)
                if not header.endswith(b"\n"):
                    await self._check_reader(process)
                    raise _Lost("connection closed")
                kind = header[:1]
                if kind == b"D":
                    _, start, size = header.split()
                    start_at, n = int(start), int(size)
                    data = await asyncio.wait_for(stdout.readexactly(n), timeout)
                    verdict = await asyncio.wait_for(stdout.readline(), timeout)
                    end = b"%d\n" % (start_at + n)
                    if verdict == b"K " + end:
                        chunk = self._take(data, start_at)
                        if chunk is not None:
                            yield chunk
                    elif verdict != b"B " + end:
                        if not verdict.endswith(b"\n"):
                            raise _Lost("connection closed mid-chunk")
                        # The file shrank mid-read, so the chunk came short and the frames
                        # after it are misaligned: start a fresh reader at the same offset.
                        raise _Resync()
                elif kind == b"R":
                    parts = header.split()
                    self.offset, self._partial = 0, b""
                    self.inode = parts[2].decode() if len(parts) > 2 else None
                    self.resets += 1
                    yield LogReset(parts[1].decode() if len(parts) > 1 else "truncated")
                elif kind == b"X":
                    tail = self._flush()
                    if tail is not None:
                        yield tail
                    value = header[1:].strip()
                    self.exit_status = int(value) if value.lstrip(b"-").isdigit() else None
                    yield RunEnded(self.exit_status)
                    return
                elif kind == b"E":
                    tail = self._flush()
                    if tail is not None:
                        yield tail
                    yield LogEnd(self.offset)
                    return
                # H (heartbeat) needs nothing: reading it reset the stall timer.
        except asyncio.IncompleteReadError:
            raise _Lost("connection closed mid-chunk") from None
        except TimeoutError:
            raise _Lost(f"no data or heartbeat for {timeout:g} s") from None
        finally:
            process.close()

    def _take(self, data: bytes, start_at: int) -> LogChunk | None:
        """Hand out the complete lines; keep the last partial line for later."""
        expected = self.offset + len(self._partial)
        if start_at != expected:
            # The reader starts where we asked; anything else is a bug worth stopping for.
            raise FollowError(f"log reader sent offset {start_at}, expected {expected}")
        buffer = self._partial + data if self._partial else data
        cut = buffer.rfind(b"\n") + 1
        if cut == 0 and len(buffer) > MAX_PARTIAL:
            cut = len(buffer)
        self._partial = buffer[cut:]
        if not cut:
            return None
        chunk = LogChunk(buffer[:cut], self.offset)
        self.offset += cut
        return chunk

    def _flush(self) -> LogChunk | None:
        """At the end of a run the last line may lack a newline; it is complete now."""
        if not self._partial:
            return None
        chunk = LogChunk(self._partial, self.offset)
        self.offset += len(self._partial)
        self._partial = b""
        return chunk

    async def _check_reader(self, process: asyncssh.SSHClientProcess[bytes]) -> None:
        """Tell a reader that failed on the host (permanent) from a dropped link (retry)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait_closed(), 2)
        status = process.exit_status
        if status not in (None, -1, 0) and process.exit_signal is None:
            error = b""
            with contextlib.suppress(Exception):
                error = await asyncio.wait_for(process.stderr.read(), 1)
            message = error.decode("utf-8", "replace").strip().splitlines()
            raise FollowError(
                "the log reader failed on the host: "
                + (message[-1] if message else f"exit status {status}")
            )


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc or type(exc).__name__)
