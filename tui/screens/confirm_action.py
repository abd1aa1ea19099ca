"""Asking before a stop or terminate: type, region, cost so far, and what follows.

An instance dlpick did not launch needs an extra, explicit tick before the
button works; the focus starts on Cancel, so Enter alone never stops anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, Static

from dlpick.remote.fleet import fmt_hours
from dlpick.remote.tags import MANAGED_TAG

if TYPE_CHECKING:
    from dlpick.remote.fleet import Instance


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
