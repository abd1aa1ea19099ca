"""Which columns of a table fit the terminal, the one rule every table in the app keeps.

Nothing is cut while there is room. Short of room, in this order: short labels,
then descriptive text cut to its cap (never an identifier or a number), then the
least useful columns dropped, one at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from dlpick.tui.widgets.row_table import RowTable

# DataTable pads every cell by one column on each side.
CELL_PADDING = 2
# Room the vertical scrollbar takes.
SCROLLBAR = 1
ELLIPSIS = "…"


@dataclass(frozen=True)
class Fit:
    """One column as the fitting rule sees it."""

    key: str
    label: str
    content: int  # its widest cell
    priority: int  # short of room, lower priorities are dropped first
    short: str = ""  # its label when short of room
    cap: int = 0  # descriptive text may be cut to this many cells (0: never cut)
    keep: bool = False  # never dropped (the column the table is sorted by)


@dataclass(frozen=True)
class Placed:
    """A column as laid out: the label it shows and its width."""

    key: str
    label: str
    width: int


def _lay_out(cols: Sequence[Fit], *, short: bool, capped: bool) -> list[Placed]:
    out = []
    for col in cols:
        label = (col.short or col.label) if short else col.label
        content = min(col.content, col.cap) if capped and col.cap else col.content
        out.append(Placed(col.key, label, max(len(label), content)))
    return out


def total_width(placed: Sequence[Placed]) -> int:
    return sum(p.width + CELL_PADDING for p in placed) + SCROLLBAR


def fit_widths(cols: Sequence[Fit], width: int, *, least: int = 2) -> list[Placed]:
    """The columns that fit `width` cells; never fewer than `least` are kept."""
    for short, capped in ((False, False), (True, False)):
        placed = _lay_out(cols, short=short, capped=capped)
        if total_width(placed) <= width:
            return placed
    kept = list(cols)
    placed = _lay_out(kept, short=True, capped=True)
    for victim in sorted(cols, key=lambda c: c.priority):
        if total_width(placed) <= width or len(kept) <= least:
            break
        if victim.keep:
            continue
        kept.remove(victim)
        placed = _lay_out(kept, short=True, capped=True)
    return _give_back(placed, kept, width)


def _give_back(placed: list[Placed], cols: Sequence[Fit], width: int) -> list[Placed]:
    """Room left over goes to the cut columns, so they are cut no more than they must be."""
    spare = width - total_width(placed)
    out = []
    for p, col in zip(placed, cols, strict=True):
        grow = min(max(spare, 0), max(col.content - p.width, 0))
        spare -= grow
        out.append(replace(p, width=p.width + grow))
    return out


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
    return [(by_key[p.key], p.width) for p in fit_widths(fits, width, least=least)]


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


def cut(text: str, width: int) -> str:
    """`text` in `width` cells, its end replaced by '…' when it is longer."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + ELLIPSIS


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
