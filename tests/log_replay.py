"""A fixed training log replayed into the logs screen, for snapshots and screenshots.

No SSH: the screen takes the follower's events from here, so pictures never change
with the host, the network or the clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen

from dlpick.remote.ssh.follow import ConnectionChange, FollowEvent, LogChunk, RunEnded
from dlpick.remote.ssh.runs import Run
from dlpick.tui.screens.logs import LogsScreen
from tests.ui import until

FIXED_RUN_ID = "20261122-090000-train-a1b2"
TRAINING = [
    "Loading dataset imagenet-subset (12,800 images)",
    "Model: resnet50, parameters 25.6M, AMP on, batch 256",
    *(
        f"epoch {e:>2}/12  step {s:>4}/50  loss {2.31 - e * 0.15 - s * 0.002:.4f}  "
        f"lr 3.0e-04  {1870 + (e * 7 + s) % 40} img/s"
        for e in range(1, 4)
        for s in range(5, 55, 5)
    ),
    "epoch  3/12  validation  top-1 41.82%  top-5 69.10%",
    "saved checkpoint checkpoints/epoch-03.pt (97.8 MiB)",
]


class HostApp(App[None]):
    """A bare app that opens one screen, as the dlpick app's `o` does."""

    def __init__(self, first: Screen[None]) -> None:
        super().__init__()
        self.first = first

    def on_mount(self) -> None:
        self.push_screen(self.first)


def replay_run() -> Run:
    return Run(
        run_id=FIXED_RUN_ID,
        name="train",
        started=None,
        pid=4242,
        running=True,
        exit_status=None,
        log_size=4096,
        command="python train.py --epochs 12",
    )


async def replay(lines: list[str], *, end: int | None) -> AsyncIterator[FollowEvent]:
    """The follower's events for `lines`; the run ends with `end`, or stays running."""
    yield ConnectionChange("connected")
    yield LogChunk("".join(f"{line}\n" for line in lines).encode(), 0)
    if end is not None:
        yield RunEnded(end)
    else:
        await asyncio.Event().wait()  # still running: nothing more yet


def replay_screen(*, end: int | None) -> LogsScreen:
    return LogsScreen(
        "dlpick-test", FIXED_RUN_ID, None, run=replay_run(), events=replay(TRAINING, end=end)
    )


def replay_app(*, end: int | None) -> HostApp:
    return HostApp(replay_screen(end=end))


async def settled(pilot: Pilot[None]) -> None:
    """Wait until the replay is on screen, without toasts over the status line."""

    def replay_shown() -> bool:
        screen = pilot.app.screen
        if not (isinstance(screen, LogsScreen) and screen.is_mounted):
            return False
        log = screen.log_view
        return log.line_count == len(TRAINING) and not log.pending and bool(screen.connection)

    await until(pilot, replay_shown, timeout=10, what="the replay on the logs screen")
    await pilot.pause()
    pilot.app.clear_notifications()
    await pilot.pause()


async def ended_and_searched(pilot: Pilot[None]) -> None:
    """The replay of a finished run, with a search match highlighted."""

    def ended() -> bool:
        screen = pilot.app.screen
        return isinstance(screen, LogsScreen) and screen.ended

    await until(pilot, ended, timeout=10, what="the replayed run ended")
    await settled(pilot)
    logs = pilot.app.screen
    assert isinstance(logs, LogsScreen)
    log = logs.log_view
    await pilot.press("slash", *"validation", "enter")

    def found() -> bool:
        return log.match is not None and "validation" in log.lines[log.match - log.first_position]

    await until(pilot, found, what="the search for 'validation' highlighted")
