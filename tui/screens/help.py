"""The help screen: every key binding, and what the table's columns mean."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from dlpick.tui.formats import MATRIX, NOT_DATASHEET, UNMEASURED
from dlpick.tui.widgets.price_table import BEST_STYLE, CHANGED_STYLE

LEGEND: tuple[tuple[str | Text, str], ...] = (
    ("$/TF·h", "price per hour divided by the instance's TFLOPs: lower is better"),
    ("FP32/BF16 TF", "FP32 non-tensor or BF16 dense TFLOPs of all accelerators"),
    (
        f"75{NOT_DATASHEET}",
        "a TFLOPs figure not straight from a vendor datasheet: derived from vendor numbers "
        "or third-party (the detail pane says which, and its source)",
    ),
    (
        f"47.5{MATRIX}",
        "FP32 of a matrix engine (Trainium, Inferentia2): reached by matrix multiplies only; "
        "its vector FP32 is a tenth or less. Unmarked FP32 is vector (CUDA cores)",
    ),
    (
        f"35.0{UNMEASURED}",
        "in the measured views (m): no measurement of this type (dlpick bench, or B on a "
        "running instance), so its datasheet TFLOPs",
    ),
    ("#", "accelerators per instance; 1/8 is a slice of one GPU"),
    ("—", "not known: no price here, or no published chip figure"),
    (
        "Quota",
        "with AWS access: ✓ one more fits your vCPU quota, short N: N vCPUs missing, ? unknown",
    ),
    (Text("green", style=BEST_STYLE), "the best (lowest) $/TF·h in its column"),
    (Text("yellow", style=CHANGED_STYLE), "a price that just changed"),
)

Groups = Sequence[tuple[str, Sequence[tuple[str, str]]]]


def help_table(groups: Groups) -> Table:
    """Key bindings by group, then the column legend, in one aligned grid."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for title, rows in [*groups, ("Columns", LEGEND)]:
        table.add_row(Text(title, style="bold underline"), "")
        for key, description in rows:
            table.add_row(key, description)
        table.add_row("", "")
    return table


class HelpScreen(ModalScreen[None]):
    """Lists every key binding of the screen below it (and the app's)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", tooltip="back to the table"),
    ]

    def __init__(self, groups: Groups) -> None:
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog", classes="dialog"):
            yield Label("dlpick keys  (esc closes)", classes="dialog-title")
            yield Static(help_table(self.groups), id="help-body")

    def action_close(self) -> None:
        self.dismiss(None)
