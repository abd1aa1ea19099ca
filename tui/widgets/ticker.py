"""The header ticker: what runs on AWS right now and what it costs, on every screen.

The app owns the fleet (one background scan on a timer); the ticker only watches
the app's `fleet` reactive, so any screen shows it by composing `TopBar()` or
`Ticker()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from dlpick.tui.account import OFFLINE, Fleet

if TYPE_CHECKING:
    from textual.visual import VisualType


def ticker_text(fleet: Fleet) -> Text:
    """'2 running · $3.41/h · $6.82 spent · 1 idle', or why there is nothing to show."""
    if fleet.status == "unavailable":
        if fleet.message == OFFLINE:
            return Text("")  # offline by choice: the sources line already says so
        return Text(fleet.message.split(" (")[0], style="dim")
    if fleet.status == "waiting":
        return Text("")
    if fleet.status == "error" and fleet.at is None:
        # Fail closed: an account that could not be read is unknown, never "nothing running".
        return Text(f"? running: {fleet.message}", style="bold red")

    from dlpick.remote.fleet.scan import ticker  # once there is a fleet: not before the first frame

    t = ticker(fleet.instances, fleet.at, [region for region, _ in fleet.unreadable])
    if t.running == 0 and t.complete:
        text = Text("nothing running", style="dim")
    else:
        count = "≥" if t.unreadable else ""
        money = "" if t.complete else "≥"
        text = Text(
            f"{count}{t.running} running · {money}${t.usd_hour:,.2f}/h · "
            f"{money}${t.spent_usd:,.2f} spent · ",
            style="bold",
        )
        text.append(f"{t.idle} idle", style="bold black on yellow" if t.idle else "bold")
    if t.unreadable:
        names = ", ".join(t.unreadable[:2]) + ("…" if len(t.unreadable) > 2 else "")
        text.append(f" · ? {names} unreadable", style="bold red")
    if fleet.status == "error":
        text.append(" (stale: last scan failed)", style="dim")
    return text


class Ticker(Static):
    """The fleet summary line; hidden while nothing is known yet."""

    def on_mount(self) -> None:
        if hasattr(self.app, "fleet"):
            self.watch(self.app, "fleet", self.show, init=True)
        else:
            self.display = False

    width = 0  # the text's width in cells

    def show(self, fleet: Fleet) -> None:
        text = ticker_text(fleet)
        self.update(text)
        self.width = text.cell_len
        self.display = bool(text.plain)
        if isinstance(self.parent, TopBar):
            self.parent.fit()


class Title(Static):
    """A screen's title, which its screen fills; the bar fits itself to each new text."""

    width = 0  # the text's width in cells

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        super().update(content, layout=layout)
        self.width = content.cell_len if isinstance(content, Text) else cell_len(str(content))
        if isinstance(self.parent, TopBar):
            self.parent.fit()


# Cells of padding around the title and around the ticker (app.tcss).
PADDING = 2


class TopBar(Horizontal):
    """A screen's title (`#title`, filled by the screen) with the ticker at the right.

    When both do not fit on one line (a title with filters, the ticker of a busy account,
    80 columns), the ticker goes under the title, and a title wider than the screen
    wraps: nothing is cut.
    """

    def compose(self) -> ComposeResult:
        yield Title(id="title")
        yield Ticker(id="ticker")

    def on_resize(self) -> None:
        self.fit()

    def fit(self) -> None:
        if not self.size.width:
            return  # not laid out yet: the first resize fits it
        ticker = self.query_one(Ticker)
        needed = self.query_one(Title).width + PADDING
        if ticker.display:
            needed += ticker.width + PADDING
        self.set_class(needed > self.size.width, "-stacked")
