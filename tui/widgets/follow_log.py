"""A `Log` that keeps up with a fast stream: batched writes, bounded lines, a follow
mode that pauses while the user reads further up, and search.

Lines fed in are held in a bounded buffer and written to the widget on a timer
(about 20 times a second) in one `write_lines` call, so a stream of hundreds of
thousands of lines a second costs the UI a few cheap writes a second.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.strip import Strip
from textual.widgets import Log

DEFAULT_MAX_LINES = 100_000
FLUSH_HZ = 20.0
# A producer that gets this far ahead of the screen waits for the next flush, so
# one flush never has more than this to write: the UI stays responsive and the
# SSH stream is held back (by flow control) instead of piling up in memory.
HIGH_WATER = 10_000


def display_lines(data: bytes) -> list[str]:
    """Complete log lines as a terminal would show them.

    A carriage return (progress bars such as tqdm redraw with it) starts the line
    over, so only the text after the last one is kept.
    """
    text = data.decode("utf-8", "replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline ends the last line; it does not start another
    if "\r" not in text:
        return lines
    out = []
    for line in lines:
        if "\r" in line:
            parts = [p for p in line.split("\r") if p]
            line = parts[-1] if parts else ""
        out.append(line)
    return out


class FollowLog(Log):
    """A bounded log view that follows the end until the user scrolls up."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("end", "follow", "Follow", show=False, tooltip="jump to the end and follow it"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"follow-log--match"}

    class FollowChanged(Message):
        """Following the end started or stopped."""

        def __init__(self, log: FollowLog, following: bool) -> None:
            super().__init__()
            self.log = log
            self.following = following

    class Flushed(Message):
        """Queued lines were written to the screen."""

        def __init__(self, log: FollowLog, written: int) -> None:
            super().__init__()
            self.log = log
            self.written = written

    def __init__(
        self,
        *,
        max_lines: int = DEFAULT_MAX_LINES,
        flush_hz: float = FLUSH_HZ,
        high_water: int = HIGH_WATER,
        id: str | None = None,  # noqa: A002 - Textual's own name for it
        classes: str | None = None,
    ) -> None:
        super().__init__(max_lines=max_lines, auto_scroll=False, id=id, classes=classes)
        self.cap = max_lines
        self.flush_interval = 1.0 / flush_hz
        # Lines waiting for the next flush. Bounded like the widget: lines that
        # would be pruned on arrival are never written at all.
        self._pending: deque[str] = deque(maxlen=max_lines)
        self.lines_received = 0  # every line fed in, ever
        self.flushes = 0
        self._base = 0  # stream position of the widget's first line (lines before it pruned)
        self._following = True
        self.match: int | None = None  # stream position of the highlighted search match
        self.high_water = high_water
        self._room = asyncio.Event()
        self._room.set()

    def on_mount(self) -> None:
        self.set_interval(self.flush_interval, self.flush)

    def on_unmount(self) -> None:
        self._room.set()  # nobody will flush any more: never leave a producer waiting

    @property
    def following(self) -> bool:
        return self._following

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def first_position(self) -> int:
        """Stream position (0-based count of lines before it) of the first line kept."""
        return self._base

    def feed(self, lines: Sequence[str]) -> None:
        """Queue complete lines for the next flush; never touches the screen."""
        self._pending.extend(lines)
        self.lines_received += len(lines)
        if len(self._pending) >= self.high_water and self.is_mounted:
            self._room.clear()

    async def wait_for_room(self) -> None:
        """Return once the queue is below the high-water mark (at the next flush)."""
        await self._room.wait()

    def flush(self) -> int:
        """Write the queued lines in one call; returns how many were written."""
        if not self._pending:
            return 0
        lines = list(self._pending)
        self._pending.clear()
        self._room.set()
        before = self._base
        self.write_lines(lines, scroll_end=False)
        self._base = self.lines_received - len(self._lines)
        pruned = self._base - before
        self.flushes += 1
        if self._following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        elif pruned:
            # Old lines left the top: move up with the text, so what the user is
            # reading stays put under their eyes.
            self.scroll_to(y=max(0, self.scroll_y - pruned), animate=False, immediate=True)
        if len(self._lines) >= self.cap:
            # At the cap the line count and scroll position stop changing, so in
            # Textual 8.2 nothing marks the view dirty and it stops repainting.
            self.refresh()
        self.post_message(self.Flushed(self, len(lines)))
        return len(lines)

    def clear_all(self) -> None:
        """Forget every line, queued or shown (the log started over)."""
        self._pending.clear()
        self.clear()
        self._base = self.lines_received
        self.match = None
        self.refresh()

    def set_following(self, following: bool) -> None:
        if following != self._following:
            self._following = following
            self.post_message(self.FollowChanged(self, following))

    def action_follow(self) -> None:
        """Jump to the end and stay there as lines arrive."""
        self.flush()
        self.set_following(True)
        self.scroll_end(animate=False, immediate=True, x_axis=False)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Scrolling away from the end pauses following; coming back to it resumes.
        self.set_following(round(new_value) >= self.max_scroll_y)

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]
        # Log measures each write's lines in a thread worker of its own; with thousands
        # of lines per flush that thread fights the UI for the GIL. Measuring here is
        # cheaper: an ASCII line without tabs is exactly as wide as it is long.
        if lines:
            process = self._process_line
            width = max(
                len(line) if line.isascii() and "\t" not in line else cell_len(process(line))
                for line in lines
            )
            self._update_maximum_width(updates, width)

    # -- search ---------------------------------------------------------------------

    def find(self, needle: str, *, forward: bool = True) -> int | None:
        """Highlight the next line containing `needle` after the current match (or the
        top of the view) and scroll to it; wraps around. Returns its stream position.

        Lower-case needles match any case; one with a capital letter matches exactly.
        """
        if not needle:
            return None
        self.flush()
        lines = self._lines
        count = len(lines)
        if not count:
            return None
        fold = needle == needle.lower()
        if self.match is not None and self._base <= self.match < self._base + count:
            start = self.match - self._base + (1 if forward else -1)
        else:
            start = round(self.scroll_y) if forward else round(self.scroll_y) + self.size.height
        order = (
            [*range(start, count), *range(0, start)]
            if forward
            else [*range(start, -1, -1), *range(count - 1, start, -1)]
        )
        for index in order:
            if not 0 <= index < count:
                continue
            line = lines[index]
            if needle in (line.lower() if fold else line):
                self.match = self._base + index
                self.set_following(False)
                top = max(0, index - max(1, self.size.height // 3))
                if not (self.scroll_y <= index < self.scroll_y + self.size.height):
                    self.scroll_to(y=top, animate=False, immediate=True)
                # Scrolling might have put the view at the end, which means follow.
                self.set_following(False)
                self.refresh()
                return self.match
        return None

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if self.match is not None and self.scroll_offset.y + y == self.match - self._base:
            # Over the line's own colours (apply_style would put it under them).
            style = self.get_component_rich_style("follow-log--match")
            strip = Strip(Segment.apply_style(strip, post_style=style), strip.cell_length)
        return strip
