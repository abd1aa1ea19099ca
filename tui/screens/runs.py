"""The runs screen: runs on one host, starting a run, and port forwards to it.

Everything here talks to the host through asyncssh in async workers on Textual's
loop. One connection serves the listing, new runs and the port forwards; it is
closed, with the forwards, when the screen closes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from dlpick.core.errors import SshError
from dlpick.remote.ssh.runs import Run, list_runs, start_run
from dlpick.tui.host_access import HostAccess
from dlpick.tui.screens.logs import LogsScreen
from dlpick.tui.screens.run_dialogs import CSS, NewRun, NewRunDialog, TargetDialog
from dlpick.tui.widgets.fit import Col, fit_cells, fitted_row
from dlpick.tui.widgets.row_table import RowTable
from dlpick.tui.worker_errors import WorkerErrors, WorkerFailed

if TYPE_CHECKING:
    import asyncssh


def human_size(n: int) -> str:
    """1536 -> '1.5 KiB'."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


def started_text(when: datetime | None) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S") if when else "?"


# At 80 columns: which run, is it running, and what it runs; when and how much log
# come back when wider.
RUN_COLUMNS = (
    Col("run", "Run", 100),
    Col("state", "State", 90),
    Col("started", "Started", 40),
    Col("log", "Log", 30, right=True),
    Col("command", "Command", 80, cap=24),
)


def run_cells(run: Run) -> dict[str, Text]:
    """One run's cells, by column key."""
    if run.exit_status == 0:
        state = Text(run.state)
    elif run.running:
        state = Text(run.state, style="bold green")
    else:
        state = Text(run.state, style="red")
    return {
        "run": Text(run.run_id),
        "state": state,
        "started": Text(started_text(run.started)),
        "log": Text(human_size(run.log_size), justify="right"),
        "command": Text(run.command),
    }


# -- the screen -------------------------------------------------------------------------


@dataclass
class Forward:
    """A local port forwarded to a port on the host."""

    label: str
    remote_port: int
    local_port: int
    listener: asyncssh.SSHListener

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}/"


class RunsScreen(WorkerErrors, Screen[None]):
    """The runs on one host: state, start time, log size; open, start, forward ports."""

    CSS_PATH = CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "open_logs", "Open log", tooltip="follow the selected run's log (or enter)"),
        Binding("n", "new_run", "New run", tooltip="start a command on the host, detached"),
        Binding("p", "ports", "Ports", tooltip="open or close Jupyter and TensorBoard forwards"),
        Binding("r", "refresh", "Refresh", tooltip="list the runs again now"),
        Binding("B", "bench", "Bench", tooltip="measure this host's TFLOPs (dlpick bench)"),
        Binding("escape,q", "back", "Back", tooltip="close this host (and its forwards)"),
    ]
    # What `p` forwards: the ports Jupyter and TensorBoard listen on by default.
    FORWARDS: ClassVar[tuple[tuple[str, int], ...]] = (("Jupyter", 8888), ("TensorBoard", 6006))

    def __init__(
        self,
        target: str,
        region: str | None,
        *,
        access: HostAccess | None = None,
        forwards: tuple[tuple[str, int], ...] | None = None,
        refresh_every: float = 5.0,
    ) -> None:
        super().__init__()
        self.target = target
        self.aws_region = region  # where an instance-id target is looked up
        self.access = access or HostAccess(target, region)
        self.forward_ports = forwards if forwards is not None else self.FORWARDS
        self.refresh_every = refresh_every
        self.runs: list[Run] = []
        self.forwards: list[Forward] = []
        self.loaded = False
        self._conn: asyncssh.SSHClientConnection | None = None
        self._conn_lock = asyncio.Lock()

    def compose(self) -> ComposeResult:
        yield Static(Text.assemble(("Runs on ", "bold"), (self.target, "bold")), id="runs-title")
        yield RowTable[str | Text](id="runs-table")
        yield Static(id="runs-ports")
        yield Static("connecting…", id="runs-status")
        yield Footer()

    def on_mount(self) -> None:
        self.access.notify = lambda message: self.app.notify(message, timeout=8)
        self.query_one("#runs-table", RowTable).focus()
        self.load_runs()

    async def on_unmount(self) -> None:
        self._close_forwards()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def connection(self) -> asyncssh.SSHClientConnection:
        """The screen's one connection, opened (again) when needed."""
        async with self._conn_lock:
            if self._conn is None or self._conn.is_closed():
                self._conn = await self.access.connect()
            return self._conn

    def _status(self, text: str | Text, *, error: bool = False) -> None:
        line = Text(text, style="red") if isinstance(text, str) and error else text
        self.query_one("#runs-status", Static).update(line)

    @on(WorkerFailed)
    def _worker_failed(self, message: WorkerFailed) -> None:
        if isinstance(message.error, SshError) and self._conn is not None:
            self._conn.close()  # reconnect next time
            self._conn = None
        if message.worker.group == "ports":
            self._close_forwards()
            self._show_forwards()
        self._status(message.line, error=True)

    # -- listing ---------------------------------------------------------------------

    @work(exclusive=True, group="runs", exit_on_error=False, description="listing the runs")
    async def load_runs(self) -> None:
        try:
            self.show_runs(await list_runs(await self.connection()))
        finally:
            # The next look is scheduled only now, so slow hosts never get overlapping lists.
            if self.is_attached:
                self.set_timer(self.refresh_every, self._scheduled_refresh)

    def _scheduled_refresh(self) -> None:
        if self.is_current:
            self.load_runs()

    def on_screen_resume(self) -> None:
        if self.loaded:
            self.load_runs()  # back from a log: its run may have ended meanwhile

    def show_runs(self, runs: list[Run]) -> None:
        """Fill the table, newest first, keeping the selected run selected."""
        self.runs = runs
        self.loaded = True
        self._draw()
        running = sum(r.running for r in runs)
        if runs:
            self._status(
                f"{len(runs)} run{'s' if len(runs) != 1 else ''}, {running} running  │  "
                "enter opens a log, n starts a run, p forwards ports"
            )
        else:
            self._status("no runs on this host yet: n starts one")

    def _draw(self) -> None:
        """The runs, newest first, in the columns that fit; the selected run stays selected."""
        table: RowTable[Text] = self.query_one("#runs-table", RowTable)
        selected = self.selected_run()
        rows = [run_cells(run) for run in reversed(self.runs)]
        laid = fit_cells(RUN_COLUMNS, rows, self.app.size.width)
        table.clear(columns=True)
        for col, width in laid:
            label = Text(col.label, justify="right" if col.right else "left")
            table.add_column(label, width=width, key=col.key)
        for run, row in zip(reversed(self.runs), rows, strict=True):
            table.add_row(*fitted_row(row, laid), key=run.run_id)
        if selected and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected), animate=False)

    def on_resize(self) -> None:
        if self.loaded:
            self._draw()

    def selected_run(self) -> str | None:
        table = self.query_one("#runs-table", RowTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return str(key) if key is not None else None

    def action_refresh(self) -> None:
        self.load_runs()

    # -- opening a log, starting a run ---------------------------------------------------

    @on(DataTable.RowSelected, "#runs-table")
    def _row_selected(self) -> None:
        self.action_open_logs()

    def action_open_logs(self) -> None:
        run_id = self.selected_run()
        if run_id is None:
            self.notify("no run selected: n starts one", severity="warning")
            return
        self.open_logs(run_id)

    def open_logs(self, run_id: str) -> None:
        run = next((r for r in self.runs if r.run_id == run_id), None)
        self.app.push_screen(
            LogsScreen(self.target, run_id, self.aws_region, access=self.access, run=run)
        )

    def action_new_run(self) -> None:
        def started(run: NewRun | None) -> None:
            if run is not None:
                self.start_run(run)

        self.app.push_screen(NewRunDialog(self.target), started)

    @work(group="start", exit_on_error=False, description="starting a run")
    async def start_run(self, run: NewRun) -> None:
        self._status(f"starting {run.command}…")
        conn = await self.connection()
        run_id = await start_run(conn, run.command, name=run.name, workdir=run.workdir)
        self.notify(f"started {run_id}", title="New run")
        self.load_runs()
        # Starting a run is almost always followed by watching it.
        self.open_logs(run_id)

    # -- port forwards -----------------------------------------------------------------

    def action_ports(self) -> None:
        if self.forwards:
            self._close_forwards()
            self._show_forwards()
            self.notify("port forwards closed")
        else:
            self.open_forwards()

    @work(exclusive=True, group="ports", exit_on_error=False, description="forwarding ports")
    async def open_forwards(self) -> None:
        conn = await self.connection()
        for label, port in self.forward_ports:
            try:
                # The same number locally when it is free, so URLs look as expected.
                listener = await conn.forward_local_port("127.0.0.1", port, "localhost", port)
            except OSError:
                listener = await conn.forward_local_port("127.0.0.1", 0, "localhost", port)
            self.forwards.append(Forward(label, port, listener.get_port(), listener))
        self._show_forwards()

    def _close_forwards(self) -> None:
        forwards, self.forwards = self.forwards, []
        for forward in forwards:
            forward.listener.close()

    def _show_forwards(self) -> None:
        box = self.query_one("#runs-ports", Static)
        if not self.forwards:
            box.display = False
            return
        text = Text()
        for forward in self.forwards:
            if text:
                text.append("\n")
            text.append(f"{forward.label:<12}", style="bold")
            text.append(forward.url, style="underline")
            text.append(f"  → port {forward.remote_port} on the host", style="dim")
        text.append("\np closes them", style="dim")
        box.update(text)
        box.display = True

    def action_bench(self) -> None:
        from dlpick.tui.screens.bench import BenchScreen

        self.app.push_screen(BenchScreen(self.access))

    def action_back(self) -> None:
        self.dismiss(None)


def ask_for_runs(app: App[Any], region: str | None) -> None:
    """Ask for a TARGET, then open the runs screen on it (the app's `o`)."""

    def chosen(target: str | None) -> None:
        if target:
            app.push_screen(RunsScreen(target, region))

    app.push_screen(TargetDialog(region), chosen)
