"""Which columns of a table fit the width: the one rule the CLI's tables and the app's keep.

Nothing is narrowed while everything fits. Short of room, in this order:

1. free text that wraps (the CLI's notes and commands) narrows to its least width:
   nothing is lost, it only takes more lines;
2. labels become their short forms;
3. descriptive text that is cut (the app's long names) narrows to its cap;
4. the least useful columns are dropped, one at a time, lowest priority first, never
   the one kept (the column sorted on) and never below the fewest columns asked for.

Room left over then goes back to the narrowed columns, so they are narrowed no more than
they must be. A number, an id or a price never narrows: when even the most useful
columns do not fit, they stay whole and the line is longer than the width.

Plain arithmetic on widths, no terminal and no Textual: the CLI measures its cells with
rich, the app measures its `Text` cells; both hand the widths here with their frame
(the CLI's gap between columns, the app's cell padding and scrollbar).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ELLIPSIS = "…"


@dataclass(frozen=True)
class Fit:
    """One column as the rule sees it."""

    key: str
    label: str
    content: int  # its widest cell
    priority: int  # short of room, lower priorities are dropped first
    short: str = ""  # its label when short of room
    cap: int = 0  # it may narrow to this many cells (0: never)
    wraps: bool = False  # narrowing wraps its text (nothing lost) rather than cutting it
    keep: bool = False  # never dropped (the column the table is sorted by)


@dataclass(frozen=True)
class Frame:
    """What a table spends besides its columns' widths."""

    padding: int = 0  # around every column
    gap: int = 0  # between two columns
    edge: int = 0  # once per table (a scrollbar)

    def total(self, widths: Sequence[int]) -> int:
        return (
            sum(w + self.padding for w in widths) + self.gap * max(len(widths) - 1, 0) + self.edge
        )


@dataclass(frozen=True)
class Placed:
    """A column as laid out: the label it shows and its width."""

    key: str
    label: str
    width: int


def _natural(col: Fit, label: str) -> int:
    return max(len(label), col.content)


def _lay_out(cols: Sequence[Fit], *, short: bool, wrapped: bool, cut: bool) -> list[Placed]:
    out = []
    for col in cols:
        label = (col.short or col.label) if short else col.label
        narrow = col.cap and ((wrapped and col.wraps) or (cut and not col.wraps))
        content = min(col.content, col.cap) if narrow else col.content
        out.append(Placed(col.key, label, max(len(label), content)))
    return out


def fit_widths(cols: Sequence[Fit], width: int, frame: Frame, *, least: int = 1) -> list[Placed]:
    """The columns that fit `width` cells, with their labels and widths, in their order;
    never fewer than `least` of them are kept."""
    steps = (
        dict(short=False, wrapped=False, cut=False),
        dict(short=False, wrapped=True, cut=False),
        dict(short=True, wrapped=True, cut=False),
    )
    for step in steps:
        placed = _lay_out(cols, **step)
        if frame.total([p.width for p in placed]) <= width:
            return _give_back(placed, cols, width, frame)
    kept = list(cols)
    placed = _lay_out(kept, short=True, wrapped=True, cut=True)
    for victim in sorted(cols, key=lambda c: c.priority):
        if frame.total([p.width for p in placed]) <= width or len(kept) <= least:
            break
        if victim.keep:
            continue
        kept.remove(victim)
        placed = _lay_out(kept, short=True, wrapped=True, cut=True)
    return _give_back(placed, kept, width, frame)


def _give_back(
    placed: Sequence[Placed], cols: Sequence[Fit], width: int, frame: Frame
) -> list[Placed]:
    """Room left over goes to the narrowed columns, in their order, up to their natural
    width."""
    spare = width - frame.total([p.width for p in placed])
    out = []
    for p, col in zip(placed, cols, strict=True):
        grow = min(max(spare, 0), max(_natural(col, p.label) - p.width, 0))
        spare -= grow
        out.append(Placed(p.key, p.label, p.width + grow))
    return out


def cut(text: str, width: int) -> str:
    """`text` in `width` cells, its end replaced by '…' when it is longer."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + ELLIPSIS
