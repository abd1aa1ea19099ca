"""The logs screen: one run's log, live, with its state and the connection's.

The log arrives as `LogFollower` events in an async worker on Textual's loop
(asyncssh is asyncio-native); lines go to a `FollowLog`, which writes them in
batches on a timer and keeps at most `max_lines` of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from dlpick.remote.ssh.follow import (
    ConnectionChange,
    FollowEvent,
    LogChunk,
    LogEnd,
    LogReset,
    RunEnded,
)
from dlpick.remote.ssh.runs import Run, find_run, tail_start
from dlpick.tui.host_access import HostAccess
from dlpick.tui.widgets.follow_log import DEFAULT_MAX_LINES, FollowLog, display_lines
from dlpick.tui.worker_errors import WorkerErrors, WorkerFailed

# Logs bigger than this open at their last `max_lines` lines instead of reading
# (and then discarding) everything from the start.
TAIL_FROM_BYTES = 16 * 1024 * 1024
SEPARATOR = " │ "


class LogsScreen(WorkerErrors, Screen[None]):
    """Follows a run's log; `events`, when given, replaces the SSH follower: a replay, or
    a Batch job's log from CloudWatch Logs (`source="job"`, `target` says where)."""

    CSS_PATH = "../remote.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", tooltip="close the search, or go back"),
        Binding("f", "follow", "Follow", tooltip="jump to the end and follow new lines (or end)"),
        Binding("slash", "search", "Search", key_display="/", tooltip="find a line"),
        Binding("n", "next_match", "Next", tooltip="the next line that matches the search"),
        Binding(
            "N", "previous_match", "Previous", show=False, tooltip="the previous matching line"
        ),
    ]

    run_state: reactive[str] = reactive("starting")
    connection: reactive[str] = reactive("connecting")
    note: reactive[str] = reactive("")

    def __init__(
        self,
        target: str,
        run_id: str,
        region: str | None,
        *,
        access: HostAccess | None = None,
        run: Run | None = None,
        events: AsyncIterable[FollowEvent] | None = None,
        max_lines: int = DEFAULT_MAX_LINES,
        source: str = "run",
    ) -> None:
        """`run` is the run as last listed (shown until the host answers)."""
        super().__init__()
        self.target = target
        self.run_id = run_id
        self.aws_region = region  # where an instance-id target is looked up
        self.access = access or HostAccess(target, region)
        self._events = events
        self.max_lines = max_lines
        self.source = source
        self.exit_status: int | None = None
        self.ended = False
        self.needle = ""
        self.search_note = ""
        self.command = run.command if run else ""
        if run is not None:
            self.run_state = run.state

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="logs-title")
        yield FollowLog(max_lines=self.max_lines, id="log")
        yield Input(
            placeholder="search: text, then enter (n next, N previous)",
            id="log-search",
            compact=True,
        )
        yield Static(id="logs-status")
        yield Footer()

    @property
    def log_view(self) -> FollowLog:
        return self.query_one("#log", FollowLog)

    def on_mount(self) -> None:
        # Host-key messages (pinned, trusted on first use) belong in front of the user.
        self.access.notify = lambda message: self.app.notify(message, timeout=8)
        self.log_view.focus()
        self._show_status()
        self.follow()

    def _title(self) -> Text:
        title = Text.assemble(("Log ", "bold"), (self.run_id, "bold"), f"  on {self.target}")
        if self.command:
            title.append(f"  $ {self.command}", style="dim")
        return title

    # -- following -------------------------------------------------------------------

    @work(exclusive=True, group="follow", exit_on_error=False, description="following the log")
    async def follow(self) -> None:
        if self._events is not None:
            await self.consume(self._events)
            return
        conn = await self.access.connect()
        try:
            self.connection = "connected"
            run = await find_run(conn, self.run_id)
            self.run_state = run.state
            self.command = run.command
            self.query_one("#logs-title", Static).update(self._title())
            offset, inode = 0, None
            if run.log_size > TAIL_FROM_BYTES:
                offset, inode = await tail_start(conn, run.log_path, self.max_lines)
                self.note = f"opened at the last {self.max_lines:,} lines"
            from dlpick.remote.ssh.follow import LogFollower

            follower = LogFollower.for_run(
                self.access.connector(),
                run.run_id,
                connection=conn,
                offset=offset,
                inode=inode,
            )
            await self.consume(follower.events())
        finally:
            conn.close()

    async def consume(self, events: AsyncIterable[FollowEvent]) -> None:
        """Show follower events until they end: lines, resets, connection and run state."""
        log = self.log_view
        async for event in events:
            if isinstance(event, LogChunk):
                log.feed(display_lines(event.data))
                # Let timers and keys run between chunks, and wait for the screen when
                # the stream is faster than it (the follower then reads no further).
                await asyncio.sleep(0)
                await log.wait_for_room()
            elif isinstance(event, ConnectionChange):
                self.connection = _connection_text(event)
            elif isinstance(event, LogReset):
                self.note = f"log {event.reason} on the host; showing it from its new start"
                self.notify(self.note, severity="warning")
            elif isinstance(event, RunEnded):
                self.ended = True
                self.exit_status = event.exit_status
                if self.source == "job":
                    self.run_state = "succeeded" if event.exit_status == 0 else "failed"
                elif event.exit_status is None:
                    self.run_state = "ended without an exit status (killed?)"
                else:
                    self.run_state = f"exited {event.exit_status}"
                self.connection = self._complete()
                self.notify(
                    f"{self.source} {self.run_id} {self.run_state}",
                    severity="information" if event.exit_status == 0 else "error",
                )
            elif isinstance(event, LogEnd):
                self.connection = self._complete()

    def _complete(self) -> str:
        """The connection's last word: a Batch job that wrote nothing has no log at all
        (CloudWatch makes its stream with the first line), which is not a complete one."""
        if self.source == "job" and self.log_view.lines_received == 0:
            return "no log: the job wrote none"
        return "log complete"

    @on(WorkerFailed)
    def _follow_failed(self, message: WorkerFailed) -> None:
        self.connection = "failed"
        self.note = message.text

    # -- status ----------------------------------------------------------------------

    def watch_run_state(self) -> None:
        self._show_status()

    def watch_connection(self) -> None:
        self._show_status()

    def watch_note(self) -> None:
        self._show_status()

    @on(FollowLog.FollowChanged)
    @on(FollowLog.Flushed)
    def _refresh_status(self) -> None:
        self._show_status()

    def status_text(self) -> Text:
        """The status line: run state, connection state, follow state, line count."""
        if not self.is_mounted:
            return Text()
        log = self.log_view
        state = self.run_state
        if state == "running":
            state_style = "bold green"
        elif self.ended and self.exit_status == 0:
            state_style = "bold"
        elif self.ended or state == "lost":
            state_style = "bold red"
        else:
            state_style = "bold"
        text = Text.assemble((state, state_style))
        connection_style = "yellow" if self.connection.startswith("reconnecting") else ""
        if self.connection.startswith("failed"):
            connection_style = "red"
        text.append(SEPARATOR, style="dim")
        text.append(self.connection, style=connection_style)
        text.append(SEPARATOR, style="dim")
        if log.following:
            text.append("following", style="green")
        else:
            text.append("paused (f follows)", style="yellow")
        text.append(SEPARATOR, style="dim")
        received = log.lines_received
        text.append(f"{received:,} line{'s' if received != 1 else ''}")
        if log.first_position:
            text.append(f" (last {log.line_count:,} kept)", style="dim")
        if self.search_note:
            text.append(SEPARATOR, style="dim")
            text.append(self.search_note, style="cyan")
        if self.note:
            text.append(SEPARATOR, style="dim")
            text.append(self.note, style="yellow")
        return text

    def _show_status(self) -> None:
        if self.is_mounted:
            self.query_one("#logs-status", Static).update(self.status_text())

    # -- keys ------------------------------------------------------------------------

    def action_follow(self) -> None:
        self.log_view.action_follow()

    def action_back(self) -> None:
        search = self.query_one("#log-search", Input)
        if search.display:
            search.display = False
            self.log_view.focus()
            return
        self.dismiss(None)

    def action_search(self) -> None:
        search = self.query_one("#log-search", Input)
        search.display = True
        search.value = self.needle
        search.focus()

    @on(Input.Submitted, "#log-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.input.display = False
        self.log_view.focus()
        self.needle = event.value
        self._find(forward=True)

    def action_next_match(self) -> None:
        self._find(forward=True)

    def action_previous_match(self) -> None:
        self._find(forward=False)

    def _find(self, *, forward: bool) -> None:
        if not self.needle:
            self.action_search()
            return
        found = self.log_view.find(self.needle, forward=forward)
        if found is None:
            self.search_note = f"no line contains {self.needle!r}"
            self.notify(self.search_note, severity="warning", timeout=3)
        else:
            self.search_note = f"/{self.needle}"
        self._show_status()


def _connection_text(event: ConnectionChange) -> str:
    if event.state == "reconnecting":
        return f"reconnecting (attempt {event.attempt}, {event.error or 'connection lost'})"
    if event.state == "failed":
        return f"failed: {event.error}" if event.error else "failed"
    return event.state
