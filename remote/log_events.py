"""What following a remote log reports: its chunks of lines, resets, connection
changes and the end of the run. The app's log view and `dlpick logs` read these."""

from __future__ import annotations

from dataclasses import dataclass

from dlpick.pricing.errors import SshError


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
