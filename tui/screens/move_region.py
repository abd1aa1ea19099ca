"""When the planned region has no capacity: the other regions, and the user's choice.

The launch worker waits on this dialog; nothing moves until a region is picked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from textual.app import App

    from dlpick.remote.launch.failover import RegionOption

STAY = "stay"
# The launch error's hint after a declined move, in the dialog's words.
APP_DECLINE_HINT = "pick {region} as the region and launch again"


class MoveRegion(ModalScreen[str | None]):
    """'No capacity in us-east-1: launch in one of these instead?'"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stay", "Launch nothing", tooltip="stay; nothing is launched")
    ]

    def __init__(self, region: str, options: list[RegionOption]) -> None:
        super().__init__()
        self.from_region = region
        self.options = options

    def compose(self) -> ComposeResult:
        choices = [Option(f"Launch in {o.line()}", id=o.region) for o in self.options]
        choices.append(Option("Launch nothing", id=STAY))
        with Vertical(id="move-dialog", classes="dialog"):
            yield Label(f"No capacity in {self.from_region}", classes="dialog-title")
            yield Label(
                "Key pair and security group follow to the region picked; "
                "the launch still starts one instance at most."
            )
            yield OptionList(*choices, id="move-list")

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(None if event.option.id == STAY else event.option.id)

    def action_stay(self) -> None:
        self.dismiss(None)


def ask_from_worker(
    app: App[object], region: str, cancelled: Callable[[], bool]
) -> Callable[[list[RegionOption]], RegionOption | None]:
    """A chooser for `execute` that runs in a thread worker: it shows MoveRegion and
    waits for the answer (or the worker's cancellation, which launches nothing)."""

    def choose(options: list[RegionOption]) -> RegionOption | None:
        answered = threading.Event()
        picked: list[str | None] = []

        def done(region_picked: str | None) -> None:
            picked.append(region_picked)
            answered.set()

        app.call_from_thread(app.push_screen, MoveRegion(region, options), done)
        while not answered.wait(0.2):
            if cancelled():
                return None
        return next((o for o in options if o.region == picked[0]), None)

    return choose
