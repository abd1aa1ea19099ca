"""Benchmarking a host from the app (`B` on the instances and runs screens).

The phase the benchmark is in and a bar over its time budget while it runs; then
the figures, kept in the measurements file like `dlpick bench`'s. A host with an
active run asks first, in the confirm dialog; going ahead is `--force`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Label, ProgressBar, Static

from dlpick.core.errors import DataError
from dlpick.pricing import measurements
from dlpick.remote.ssh.bench import DEFAULT_SECONDS, GRACE_SECONDS, BenchResult, BusyHost
from dlpick.tui.screens.confirm_action import Ask, ConfirmAction
from dlpick.tui.worker_errors import WorkerErrors, WorkerFailed

if TYPE_CHECKING:
    from dlpick.tui.host_access import HostAccess

# Runs one benchmark (forced or not) and keeps it: the result, and the file it is in.
Measure = Callable[[bool], Awaitable[tuple[BenchResult, str]]]


class BenchDone(Message):
    def __init__(self, result: BenchResult, kept: str) -> None:
        super().__init__()
        self.result = result
        self.kept = kept  # "kept in FILE", or why it could not be kept


class HostBusy(Message):
    def __init__(self, error: BusyHost) -> None:
        super().__init__()
        self.error = error


def result_table(result: BenchResult) -> Table:
    """The figures: all devices at once, then each alone when there are several."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for label in ("Device", "FP32 TF", "BF16 TF", "FP16 TF"):
        table.add_column(label, justify="left" if label == "Device" else "right")
    for row in result.rows():
        table.add_row(*row)
    return table


def result_notes(result: BenchResult, kept: str) -> Text:
    m = result.measurement
    lines = [
        f"{m.backend} · {m.device} · {result.library} · {result.elapsed_s:.1f} s",
        kept,
    ]
    if m.unused_because:
        lines.append(m.unused_because)
    return Text("\n".join(lines), style="dim")


class BenchScreen(WorkerErrors, ModalScreen[None]):
    """'Benchmarking HOST': phase, a bar over the time budget, then the figures."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", tooltip="close (a running benchmark is stopped)"),
    ]
    seconds: float = DEFAULT_SECONDS  # the budget on the host

    def __init__(
        self,
        access: HostAccess,
        *,
        instance_type: str | None = None,
        region: str | None = None,
        measure: Measure | None = None,
    ) -> None:
        super().__init__()
        self.access = access
        self.instance_type = instance_type
        self.aws_region = region
        # How a benchmark is run and kept; a picture of the screen puts a fixed one here.
        self.measure = measure or self.measure_host
        self._began = 0.0

    def compose(self) -> ComposeResult:
        with Vertical(id="bench-dialog", classes="dialog"):
            yield Label(f"Benchmarking {self.access.label}", classes="dialog-title")
            yield Static("connecting…", id="bench-phase")
            yield ProgressBar(total=self.seconds, show_eta=False, id="bench-progress")
            yield Static("", id="bench-result")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="bench-close", compact=True)

    def on_mount(self) -> None:
        self._ticker = self.set_interval(0.25, self._tick)
        self.start(force=False)

    def start(self, *, force: bool) -> None:
        self._began = time.monotonic()
        self._ticker.resume()
        self.run_bench(force)

    def _tick(self) -> None:
        elapsed = min(time.monotonic() - self._began, self.seconds)
        self.query_one("#bench-progress", ProgressBar).update(progress=elapsed)

    def phase(self, text: str | Text) -> None:
        self.query_one("#bench-phase", Static).update(text)

    @work(exclusive=True, exit_on_error=False, group="bench", description="benchmarking")
    async def run_bench(self, force: bool) -> None:
        try:
            result, path = await self.measure(force)
        except BusyHost as busy:
            self.post_message(HostBusy(busy))
            return
        self.post_message(BenchDone(result, path))

    async def measure_host(self, force: bool) -> tuple[BenchResult, str]:
        """Benchmark the host over SSH and keep the result: (it, where it is kept). A
        store that cannot be written still shows the figures, and says why."""
        from importlib.metadata import version

        from dlpick.remote.ssh.bench import run_bench

        target, _options = await self.access.resolve()
        conn = await self.access.connect()
        try:
            result = await run_bench(
                conn,
                source=self.access.label,
                seconds=self.seconds,
                force=force,
                instance_type=self.instance_type or target.instance_type,
                region=self.aws_region or target.region,
                progress=self.phase,
                version=version("dlpick"),
            )
        finally:
            conn.close()
        try:
            path = await asyncio.to_thread(measurements.append, result.measurement)
        except DataError as exc:
            return result, f"not kept: {exc}"
        return result, f"kept in {path}"

    @on(BenchDone)
    def _done(self, message: BenchDone) -> None:
        self._ticker.pause()
        self.query_one("#bench-progress", ProgressBar).update(progress=self.seconds)
        self.phase("done")
        table = result_table(message.result)
        notes = result_notes(message.result, message.kept)
        from rich.console import Group

        self.query_one("#bench-result", Static).update(Group(table, notes))

    @on(HostBusy)
    def _busy(self, message: HostBusy) -> None:
        self._ticker.pause()
        self.phase(str(message.error))

        def answered(go: bool | None) -> None:
            if go:
                self.start(force=True)
            else:
                self.dismiss(None)

        ask = Ask(
            title=f"Benchmark {self.access.label} during a run?",
            summary=Text(str(message.error)),
            consequence=f"Both share the host for up to {self.seconds + GRACE_SECONDS:.0f} s: "
            "the run slows down and the figures come out low.",
            button="Benchmark",
        )
        self.app.push_screen(ConfirmAction(ask=ask), answered)

    @on(WorkerFailed)
    def _failed(self, message: WorkerFailed) -> None:
        self._ticker.pause()
        self.phase(Text(message.line, style="bold red"))

    @on(Button.Pressed, "#bench-close")
    def _close_pressed(self) -> None:
        self.action_close()

    def action_close(self) -> None:
        self.workers.cancel_group(self, "bench")
        self.dismiss(None)
