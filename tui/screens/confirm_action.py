"""Asking before a stop or terminate: type, region, cost so far, and what follows.

An instance dlpick did not launch needs an extra, explicit tick before the
button works; the focus starts on Cancel, so Enter alone never stops anything.
"""

from __future__ import annotations

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


class ConfirmAction(ModalScreen[bool]):
    """'Stop g6.xlarge i-… in us-east-1?', with its cost so far; untagged needs a tick."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="leave the instance alone"),
    ]

    def __init__(self, verb: str, inst: Instance, now: datetime) -> None:
        super().__init__()
        self.verb = verb
        self.inst = inst
        self.now = now

    def compose(self) -> ComposeResult:
        inst, verb = self.inst, self.verb
        cost = inst.cost_so_far(self.now)
        if inst.billing_hourly:
            spent = "cost so far unknown" if cost is None else f"${cost:,.2f} so far"
            rate = "" if inst.usd_hour is None else f" at ${inst.usd_hour:.4f}/h"
            how = f"{inst.state} for {fmt_hours(inst.uptime_hours(self.now))}, "
        else:  # stopped: no compute bill, only its volumes
            spent = f"${inst.storage_usd_month:,.2f}/month for its volumes"
            rate = ""
            how = f"{inst.state}, "
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Label(
                f"{verb.capitalize()} {inst.instance_type} in {inst.region}?",
                classes="dialog-title",
            )
            yield Static(
                Text.assemble(
                    (inst.instance_id, "bold"),
                    f" {inst.name}" if inst.name else "",
                    f"\n{how}",
                    (spent, "bold"),
                    rate,
                )
            )
            if verb == "stop":
                consequence = (
                    "Compute billing stops; its volumes still bill while stopped "
                    f"(about ${inst.storage_usd_month:,.2f}/month). Start it again from "
                    "the AWS console or CLI."
                )
            else:
                consequence = (
                    "Terminating deletes the instance and its root volume. This cannot be undone."
                )
            yield Static(consequence, id="confirm-consequence")
            if not inst.managed:
                yield Static(
                    Text(
                        f"Not launched by dlpick (no {MANAGED_TAG} tag): it may belong to "
                        "someone else or to another tool.",
                        style="bold yellow",
                    ),
                    id="confirm-foreign",
                )
                yield Checkbox(f"I know; {verb} it anyway", id="confirm-anyway", compact=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button(
                    verb.capitalize(),
                    id="confirm-yes",
                    variant="error",
                    compact=True,
                    disabled=not inst.managed,
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
