"""Answers the detail pane keeps per (instance type, region), each for a while."""

from __future__ import annotations

import time
from typing import Generic, TypeVar

T = TypeVar("T")
Key = tuple[str, str]  # (instance type, region)
# A question still unanswered after this long is asked again when the row is shown.
ASKING_SECONDS = 30.0


class Kept(Generic[T]):
    """What AWS answered for a type in a region, good for `seconds`; at most `most`
    kept (all forgotten at once past that: the pane asks again, nothing grows)."""

    def __init__(self, seconds: float, most: int) -> None:
        self.seconds = seconds
        self.most = most
        self._answers: dict[Key, tuple[float, T]] = {}
        self._asking: dict[Key, float] = {}  # questions on their way, since when

    def get(self, key: Key) -> T | None:
        found = self._answers.get(key)
        if found is None or time.monotonic() - found[0] >= self.seconds:
            return None
        return found[1]

    def asking(self, key: Key) -> bool:
        """Whether a question about `key` is on its way: the same row shown again (the
        table redrawn when prices arrive) waits for it instead of asking twice."""
        since = self._asking.get(key)
        return since is not None and time.monotonic() - since < ASKING_SECONDS

    def asked(self, key: Key) -> None:
        self._asking[key] = time.monotonic()

    def put(self, key: Key, answer: T | None) -> None:
        """The answer to `key`'s question; None: none to keep (a failure, asked again)."""
        self._asking.pop(key, None)
        if answer is None:
            return
        if len(self._answers) >= self.most:
            self._answers.clear()
        self._answers[key] = (time.monotonic(), answer)
