"""The Jobs screen: dlpick's Batch jobs with state and cost, their logs, cancelling one.

The list is read in a thread worker every `refresh_every` seconds (never two at
once). Enter follows the highlighted job's log from CloudWatch Logs in the same
log view as a run's; `c` cancels a job (terminates a started one) after asking.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from dlpick.remote.batch.jobs import ACTIVE, BatchJob
from dlpick.remote.fleet.scan import fmt_hours
from dlpick.tui.account import AwsAccess
from dlpick.tui.screens.confirm_action import Ask, ConfirmAction
from dlpick.tui.widgets.fit import Col, fill_table, fit_cells
from dlpick.tui.widgets.row_table import RowTable
from dlpick.tui.widgets.ticker import TopBar
from dlpick.tui.worker_errors import WorkerErrors, WorkerFailed

if TYPE_CHECKING:
    from dlpick.pricing.catalog import Catalog

STATE_STYLES = {
    "RUNNING": "green",
    "STARTING": "yellow",
    "RUNNABLE": "yellow",
    "PENDING": "yellow",
    "SUBMITTED": "yellow",
    "SUCCEEDED": "",
    "FAILED": "bold red",
}

# At 80 columns: which job, its state, what it ran on, how long and what it cost.
COLUMNS = (
    Col("id", "Job", 100),
    Col("name", "Name", 85, cap=14),
    Col("state", "State", 95),
    Col("queue", "Queue", 20),
    Col("type", "Type", 80),
    Col("started", "Started", 30),
    Col("ran", "Ran", 70, right=True),
    Col("cost", "Cost", 90, right=True),
)


def cells(job: BatchJob, now: datetime) -> dict[str, Text]:
    """One job's cells, by column key."""
    shape = f" x{job.array_size}" if job.array_size else ""
    shape += f" ({job.nodes} nodes)" if job.nodes != 1 else ""
    hours = job.running_hours(now)
    cost = job.cost_so_far(now)
    kind = f"{job.instance_type} {job.market or ''}".strip() if job.instance_type else "?"
    return {
        "id": Text(job.job_id),
        "name": Text(f"{job.name}{shape}"),
        "state": Text(job.status, style=STATE_STYLES.get(job.status, "")),
        "queue": Text(job.queue.removeprefix("dlpick-")),
        "type": Text(kind),
        "started": Text(f"{job.started:%m-%d %H:%M}" if job.started else "-"),
        "ran": Text("-" if hours is None else fmt_hours(hours)),
        # ?: the host or its price is not known (never a made-up $0); -: not started.
        "cost": Text(f"${cost:,.2f}" if cost is not None else "?" if job.started else "-"),
    }


def cancel_ask(job: BatchJob, now: datetime) -> Ask:
    cost = job.cost_so_far(now)
    spent = "cost so far unknown" if cost is None else f"${cost:,.2f} so far"
    started = job.status in ("STARTING", "RUNNING")
    return Ask(
        title=f"Cancel Batch job {job.name}?",
        summary=Text.assemble(
            (job.job_id, "bold"), f"\n{job.status} in {job.queue}, ", (spent, "bold")
        ),
        consequence=(
            "It is terminated: its container is stopped and Batch lets its host go."
            if started
            else "It is cancelled before it starts; nothing of it runs."
        ),
        button="Cancel job",
    )


class JobsDone(Message):
    """A cancel went through: what happened, in words."""

    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


class JobsScreen(WorkerErrors, Screen[None]):
    """dlpick's Batch jobs in one region: state, queue, type, started, running time, cost."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "log", "Log", tooltip="follow the highlighted job's log (or Enter)"),
        Binding("c", "cancel_job", "Cancel job", tooltip="cancel the highlighted job (asks first)"),
        Binding("r", "reload", "Reload", tooltip="read the jobs now"),
        Binding("escape", "back", "Prices", tooltip="back to the price table"),
        Binding("q", "app.quit", "Quit", show=False, tooltip="quit dlpick"),
    ]

    def __init__(
        self, account: AwsAccess, catalog: Catalog, *, region: str, refresh_every: float = 15.0
    ) -> None:
        super().__init__()
        self.account = account
        self.catalog = catalog
        self.aws_region = region
        self.refresh_every = refresh_every
        self.jobs: list[BatchJob] = []
        self.loaded_at: datetime | None = None
        self.failure = ""

    def compose(self) -> ComposeResult:
        yield TopBar()
        yield Static(id="jobs-status")
        yield RowTable[Text](id="jobs")
        yield Footer(compact=True)

    @property
    def table(self) -> RowTable[Text]:
        return self.query_one("#jobs", RowTable)

    def on_mount(self) -> None:
        self.table.focus()
        title = Text.assemble(
            ("dlpick", "bold"), "  ", ("Batch jobs", "bold"), f" · {self.aws_region}"
        )
        self.query_one("#title", Static).update(title)
        self._show_status()
        self.load()
        self.set_interval(self.refresh_every, self.load)

    # -- reading ---------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="jobs",
        exit_on_error=False,
        description="reading Batch jobs",
    )
    def load(self) -> None:
        jobs = self.account.batch_jobs(self.aws_region, self.catalog)
        self.app.call_from_thread(self._loaded, jobs)

    def _loaded(self, jobs: list[BatchJob]) -> None:
        self.jobs = jobs
        self.loaded_at = self.account.now()
        self.failure = ""
        self._rebuild()

    @on(WorkerFailed)
    def _failed(self, message: WorkerFailed) -> None:
        if message.worker.group == "jobs":
            self.failure = message.text
            self._show_status()

    # -- drawing -------------------------------------------------------------------

    def _rebuild(self) -> None:
        now = self.account.now()
        rows = [cells(j, now) for j in self.jobs]
        laid = fit_cells(COLUMNS, rows, self.app.size.width)
        fill_table(self.table, laid, rows, [j.job_id for j in self.jobs])
        self._show_status()

    def _show_status(self) -> None:
        status = self.query_one("#jobs-status", Static)
        if self.loaded_at is None:
            # Never read: no count to show, not even zero.
            if self.failure:
                status.update(Text(f"cannot read the jobs: {self.failure}", style="bold red"))
            else:
                status.update(Text("reading dlpick's Batch jobs…", style="dim"))
            return
        active = sum(1 for j in self.jobs if j.status in ACTIVE)
        parts = [f"{len(self.jobs)} job{'s' * (len(self.jobs) != 1)} this week", f"{active} active"]
        if self.loaded_at is not None:
            parts.append(f"read {self.loaded_at:%H:%M:%S} UTC")
        parts.append("cost ?: host or price unknown")
        line = Text(" · ".join(parts))
        if self.failure:
            line.append(f"\nlast read failed: {self.failure}", style="bold red")
        status.update(line)

    def _highlighted(self) -> BatchJob | None:
        wanted = self.table.cursor_key()
        return next((j for j in self.jobs if j.job_id == wanted), None)

    def on_resize(self, event: Resize) -> None:
        if self.loaded_at is not None:
            self._rebuild()

    # -- actions ---------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        self.load()

    @on(RowTable.RowSelected, "#jobs")
    def action_log(self) -> None:
        from dlpick.tui.screens.logs import LogsScreen

        job = self._highlighted()
        if job is None:
            self.notify("no job highlighted", timeout=4)
            return
        label = f"Batch {job.queue}" + (" (child 0)" if job.array_size else "")
        self.app.push_screen(
            LogsScreen(
                label,
                job.job_id,
                self.aws_region,
                events=self.account.batch_log(self.aws_region, job),
                source="job",
            )
        )

    def action_cancel_job(self) -> None:
        job = self._highlighted()
        if job is None:
            self.notify("no job highlighted", timeout=4)
            return
        if job.status not in ACTIVE:
            self.notify(f"{job.job_id} has already ended ({job.status})", timeout=4)
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(
                    lambda: self.post_message(
                        JobsDone(self.account.cancel_batch_job(self.aws_region, job.job_id))
                    ),
                    thread=True,
                    group="job-cancel",
                    exit_on_error=False,
                    description=f"cancelling {job.job_id}",
                )

        self.app.push_screen(ConfirmAction(ask=cancel_ask(job, self.account.now())), confirmed)

    @on(JobsDone)
    def _cancelled(self, message: JobsDone) -> None:
        self.notify(message.line, timeout=8)
        self.load()
