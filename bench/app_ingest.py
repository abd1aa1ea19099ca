"""The app's log ingestion rate with the UI responsive: `python -m bench.app_ingest`.

A headless app shows a LogsScreen whose follower events come from a fast local
producer (1,000,000 lines in 256 KiB chunks, as the SSH follower hands them
over) instead of SSH: the screen's own path (decode, split, bounded buffer,
20 Hz batched `write_lines`, repaint) does the work. Measured:

- lines/s from the first chunk to the last line written into the widget;
- responsiveness while that runs: the worst lateness of a 20 Hz timer, and the
  worst delay between a key press and its action running.

Prints JSON. Nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from dlpick.remote.ssh.follow import ConnectionChange, FollowEvent, LogChunk, RunEnded
from dlpick.tui.screens.logs import LogsScreen

LINES = 1_000_000
CHUNK_BYTES = 256 * 1024
PROBE_EVERY = 0.05  # the timer whose lateness is measured, like the 20 Hz flush
KEY_EVERY = 0.1


def training_lines(count: int) -> AsyncIterator[FollowEvent]:
    """`count` numbered, training-log-like lines (~70 bytes) in LogChunks."""

    async def produce() -> AsyncIterator[FollowEvent]:
        yield ConnectionChange("connected")
        offset = 0
        batch: list[bytes] = []
        size = 0
        for n in range(1, count + 1):
            # Cheap to make, so the producer's own cost stays small next to the app's.
            line = b"step %07d  loss 1.2345  lr 3.0e-04  1872 img/s  gpu 97%% mem 21.3 GiB\n" % n
            batch.append(line)
            size += len(line)
            if size >= CHUNK_BYTES or n == count:
                data = b"".join(batch)
                yield LogChunk(data, offset)
                offset += len(data)
                batch, size = [], 0
        yield RunEnded(0)

    return produce()


class IngestApp(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("x", "ping", "Ping")]

    def __init__(self, lines: int) -> None:
        super().__init__()
        self.lines = lines
        self.screen_under_test = LogsScreen(
            "bench-host", "20260101-000000-bench-0000", None, events=training_lines(lines)
        )
        self.pressed_at = 0.0
        self.key_delays: list[float] = []
        self.timer_lateness: list[float] = []
        self._last_tick = 0.0

    def on_mount(self) -> None:
        self.push_screen(self.screen_under_test)
        self._last_tick = time.perf_counter()
        self.set_interval(PROBE_EVERY, self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.timer_lateness.append(max(0.0, now - self._last_tick - PROBE_EVERY))
        self._last_tick = now

    def action_ping(self) -> None:
        self.key_delays.append(time.perf_counter() - self.pressed_at)


async def measure(lines: int = LINES, size: tuple[int, int] = (120, 36)) -> dict[str, Any]:
    app = IngestApp(lines)
    async with app.run_test(size=size) as pilot:
        screen = app.screen_under_test
        while not screen.is_mounted:
            await pilot.pause(0.01)
        log = screen.log_view
        start = time.perf_counter()
        app.timer_lateness.clear()
        next_key = start + KEY_EVERY
        while log.lines_received < lines or log.pending:
            if time.perf_counter() >= next_key:
                app.pressed_at = time.perf_counter()
                await pilot.press("x")
                next_key = app.pressed_at + KEY_EVERY
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - start
        await pilot.pause()
        kept = log.line_count
        last = log.lines[-1] if log.lines else ""
        flushes = log.flushes
    return {
        "lines": lines,
        "seconds": round(elapsed, 3),
        "lines_per_s": round(lines / elapsed),
        "goal_lines_per_s": 50_000,
        "flushes": flushes,
        "lines_kept_in_view": kept,
        "last_line_shown": last,
        "max_timer_lateness_ms": round(1000 * max(app.timer_lateness, default=0.0), 1),
        "key_presses": len(app.key_delays),
        "max_key_delay_ms": round(1000 * max(app.key_delays, default=0.0), 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=LINES)
    args = parser.parse_args(argv)
    return asyncio.run(measure(args.lines))


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
