"""The app's tables laid out by the one fitting rule (tui/fit.py): cells drawn as
`Text`, descriptive text cut to its width with '…', the cursor kept on its row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text

from dlpick.tui.fit import Fit, Frame, cut, fit_widths

if TYPE_CHECKING:
    from dlpick.tui.widgets.row_table import RowTable

# DataTable pads every cell by one column on each side; the vertical scrollbar takes one.
TABLE = Frame(padding=2, edge=1)


@dataclass(frozen=True)
class Col:
    """A column of a table whose cells are drawn as `Text`, keyed by `key`."""

    key: str
    label: str
    priority: int  # short of room, lower priorities go first
    right: bool = False
    cap: int = 0  # descriptive text may be cut to this many cells (0: never cut)


def fit_cells(
    cols: Sequence[Col], rows: Sequence[Mapping[str, Text]], width: int, *, least: int = 3
) -> list[tuple[Col, int]]:
    """The columns of `rows` that fit `width`, with their widths."""
    by_key = {c.key: c for c in cols}
    fits = [
        Fit(
            c.key,
            c.label,
            max((len(r[c.key].plain) for r in rows), default=0),
            c.priority,
            cap=c.cap,
        )
        for c in cols
    ]
    return [(by_key[p.key], p.width) for p in fit_widths(fits, width, TABLE, least=least)]


def fitted_row(row: Mapping[str, Text], laid: Sequence[tuple[Col, int]]) -> list[Text]:
    """One row's cells in the laid-out columns: aligned, descriptive text cut to its width."""
    out = []
    for col, width in laid:
        text = row[col.key]
        if col.cap and len(text.plain) > width:
            text = Text(cut(text.plain, width), style=text.style)
        text.justify = "right" if col.right else "left"
        out.append(text)
    return out


def fill_table(
    table: RowTable[Text],
    laid: Sequence[tuple[Col, int]],
    rows: Sequence[Mapping[str, Text]],
    keys: Sequence[str],
) -> None:
    """Draw the laid-out columns and rows again, the cursor kept on the same key."""
    keep = table.cursor_key()
    table.clear(columns=True)
    for col, width in laid:
        table.add_column(
            Text(col.label, justify="right" if col.right else "left"), width=width, key=col.key
        )
    for key, row in zip(keys, rows, strict=True):
        table.add_row(*fitted_row(row, laid), key=key)
    if keep is not None and keep in keys:
        table.move_cursor(row=list(keys).index(keep), animate=False)
