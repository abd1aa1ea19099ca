"""Asking before a stop or terminate: type, region, cost so far, and what follows;
and after a terminate, before deleting what dlpick made for the instance.

An instance dlpick did not launch needs an extra, explicit tick before the
button works; the focus starts on Cancel (or Keep), so Enter alone never stops
or deletes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, Log, Static

from dlpick.remote.fleet.actions import clean_up, cleanup_items, wait_terminated
from dlpick.remote.fleet.scan import fmt_hours
from dlpick.remote.tags import MANAGED_TAG
from dlpick.tui.screens.launch.steps import Progress
from dlpick.tui.worker_errors import WorkerErrors, WorkerFailed

if TYPE_CHECKING:
    from dlpick.remote.fleet.actions import Leftovers
    from dlpick.remote.fleet.scan import Instance
    from dlpick.tui.account import AwsAccess


@dataclass(frozen=True)
class Ask:
    """What the dialog says: a question, what it is about, what follows, the button."""

    title: str
    summary: Text
    consequence: str
    button: str
    foreign: str | None = None  # a warning that needs a tick before the button works
    tick: str = ""


def instance_ask(verb: str, inst: Instance, now: datetime) -> Ask:
    """Stopping or terminating an instance, with its cost so far."""
    cost = inst.cost_so_far(now)
    if inst.billing_hourly:
        spent = "cost so far unknown" if cost is None else f"${cost:,.2f} so far"
        rate = "" if inst.usd_hour is None else f" at ${inst.usd_hour:.4f}/h"
        how = f"{inst.state} for {fmt_hours(inst.uptime_hours(now))}, "
    else:  # stopped: no compute bill, only its volumes
        spent = f"${inst.storage_usd_month:,.2f}/month for its volumes"
        rate = ""
        how = f"{inst.state}, "
    if verb == "stop":
        consequence = (
            "Compute billing stops; its volumes still bill while stopped "
            f"(about ${inst.storage_usd_month:,.2f}/month). Start it again from "
            "the AWS console or CLI."
        )
    else:
        consequence = "Terminating deletes the instance and its root volume. This cannot be undone."
    return Ask(
        title=f"{verb.capitalize()} {inst.instance_type} in {inst.region}?",
        summary=Text.assemble(
            (inst.instance_id, "bold"),
            f" {inst.name}" if inst.name else "",
            f"\n{how}",
            (spent, "bold"),
            rate,
        ),
        consequence=consequence,
        button=verb.capitalize(),
        foreign=None
        if inst.managed
        else (
            f"Not launched by dlpick (no {MANAGED_TAG} tag): it may belong to "
            "someone else or to another tool."
        ),
        tick=f"I know; {verb} it anyway",
    )


class ConfirmAction(ModalScreen[bool]):
    """'Stop g6.xlarge i-… in us-east-1?', with its cost so far; untagged needs a tick.

    `ask` puts any other question (cancelling a Batch job) in the same dialog.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="leave it alone"),
    ]

    def __init__(
        self,
        verb: str = "",
        inst: Instance | None = None,
        now: datetime | None = None,
        *,
        ask: Ask | None = None,
    ) -> None:
        super().__init__()
        if ask is None:
            if inst is None or now is None:
                raise TypeError("ConfirmAction needs an instance and the time, or an ask")
            ask = instance_ask(verb, inst, now)
        self.ask = ask

    def compose(self) -> ComposeResult:
        ask = self.ask
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Label(ask.title, classes="dialog-title")
            yield Static(ask.summary)
            yield Static(ask.consequence, id="confirm-consequence")
            if ask.foreign:
                yield Static(Text(ask.foreign, style="bold yellow"), id="confirm-foreign")
                yield Checkbox(ask.tick, id="confirm-anyway", compact=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button(
                    ask.button,
                    id="confirm-yes",
                    variant="error",
                    compact=True,
                    disabled=bool(ask.foreign),
                )
                yield Button("Cancel", id="confirm-no", compact=True)

    def on_mount(self) -> None:
        # The safe answer has the focus: Enter alone never stops anything.
        self.query_one("#confirm-no", Button).focus()

    @on(Checkbox.Changed, "#confirm-anyway")
    def _anyway(self, event: Checkbox.Changed) -> None:
        self.query_one("#confirm-yes", Button).disabled = not event.value

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def action_cancel(self) -> None:
        self.dismiss(False)


class CleanupDone(Progress):
    """What the clean-up did, one line."""


class ConfirmCleanup(WorkerErrors, ModalScreen[str | None]):
    """After a terminate: delete what dlpick made for the instance and nothing uses now,
    listed first (as `dlpick terminate --cleanup` finds it), then done with progress.
    Dismisses with the one-line result, or None when declined."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Keep", tooltip="keep them (not while deleting)"),
    ]

    def __init__(self, account: AwsAccess, region: str, instance_id: str, left: Leftovers) -> None:
        super().__init__()
        self.account = account
        self.aws_region = region
        self.instance_id = instance_id
        self.left = left
        self.state = "asking"  # asking, cleaning, done
        self._result: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="cleanup-dialog", classes="dialog"):
            yield Label(
                f"Delete what {self.instance_id} leaves in {self.aws_region}?",
                classes="dialog-title",
            )
            yield Static(
                "dlpick made these for it and nothing else uses them now; deleting:",
            )
            yield Static(
                "\n".join(f"• {item}" for item in cleanup_items(self.left)),
                id="cleanup-items",
            )
            yield Log(id="cleanup-progress", max_lines=50)
            yield Static(id="cleanup-result")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Delete", id="cleanup-yes", variant="error", compact=True)
                yield Button("Keep", id="cleanup-no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#cleanup-progress").display = False
        self.query_one("#cleanup-result").display = False
        self.query_one("#cleanup-no", Button).focus()  # Enter alone deletes nothing

    @on(Button.Pressed, "#cleanup-yes")
    def _yes(self) -> None:
        self.state = "cleaning"
        self.query_one("#cleanup-yes", Button).display = False
        self.query_one("#cleanup-no", Button).disabled = True
        self.query_one("#cleanup-progress").display = True
        self.clean(self.account, self.aws_region, self.instance_id, self.left)

    @work(thread=True, exclusive=True, exit_on_error=False, description="cleaning up")
    def clean(self, account: AwsAccess, region: str, instance_id: str, left: Leftovers) -> None:
        aws = account.require()

        def say(text: str) -> None:
            self.post_message(Progress(text))

        if left.security_groups:  # the instance holds its group until it is terminated
            say(f"waiting for {instance_id} to finish terminating")
            wait_terminated(aws, region, [instance_id])
        self.post_message(CleanupDone("; ".join(clean_up(aws, region, left, say))))

    @on(Progress)
    def _step(self, message: Progress) -> None:
        if isinstance(message, CleanupDone):
            return
        self.query_one("#cleanup-progress", Log).write_line(message.text)

    @on(CleanupDone)
    def _done(self, message: CleanupDone) -> None:
        self._finish(Text(message.text, style="green"), message.text)

    @on(WorkerFailed)
    def _failed(self, message: WorkerFailed) -> None:
        self._finish(Text(message.text, style="bold red"), None)

    def _finish(self, shown: Text, result: str | None) -> None:
        self.state = "done"
        self._result = result
        result_area = self.query_one("#cleanup-result", Static)
        result_area.update(shown)
        result_area.display = True
        close = self.query_one("#cleanup-no", Button)
        close.label = "Close"
        close.disabled = False
        close.focus()

    @on(Button.Pressed, "#cleanup-no")
    def action_cancel(self) -> None:
        if self.state == "cleaning":
            self.notify("deleting: wait until it is done", timeout=4)
            return
        self.dismiss(self._result)
