"""Retrying a lost connection: exponential backoff with jitter, then giving up.

One rule for every follower that must outlast a dropped network (a log over SSH, a
Batch job's log in CloudWatch): wait `initial` seconds after the first failure, twice
as long after each next one up to `maximum`, each wait spread by ±20% so that many
followers do not retry in step, and give up once failures have gone on for
`give_up_after` seconds. A success starts the count afresh.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

JITTER = 0.2


@dataclass
class Backoff:
    """The state of one retry loop: how many tries have failed, and since when."""

    initial: float
    maximum: float
    give_up_after: float | None
    clock: Callable[[], float] = time.monotonic
    attempt: int = 0
    failing_since: float | None = None

    @property
    def failing(self) -> bool:
        return self.failing_since is not None

    def succeeded(self) -> None:
        """A try worked: the next failure starts from the first delay again."""
        self.attempt, self.failing_since = 0, None

    def failed(self) -> float | None:
        """A try failed: the seconds to wait before the next, or None to give up."""
        now = self.clock()
        if self.failing_since is None:
            self.failing_since = now
        if self.give_up_after is not None and now - self.failing_since > self.give_up_after:
            return None
        self.attempt += 1
        delay = min(self.maximum, self.initial * 2 ** (self.attempt - 1))
        return delay * random.uniform(1 - JITTER, 1 + JITTER)
