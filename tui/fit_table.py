"""CLI tables that fit the terminal without cutting a number or a name.

Every column has a priority. When the width is short, columns first take their short
labels, then the least useful ones are dropped; free text (notes, commands, quota names)
wraps instead of widening the table. A number, a price, an id or a name is never cut.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

    Cell = str | Text

# The narrowest a free-text column wraps to while there is room for it.
WRAP_MIN = 16


@dataclass(frozen=True)
class Col:
    """A column: its label, and how much it is worth when the width is short."""

    label: str
    priority: int  # on a narrow terminal the lowest priorities go first
    right: bool = False  # numbers: right-aligned
    wrap: bool = False  # free text: wraps rather than widening the table
    short: str = ""  # its label when the width is short


@dataclass(frozen=True)
class Layout:
    """The columns kept (their indices into the columns given), labels and widths."""

    kept: tuple[int, ...]
    labels: tuple[str, ...]
    widths: tuple[int, ...]

    def dropped(self, columns: Sequence[Col]) -> list[str]:
        return [c.label for i, c in enumerate(columns) if i not in self.kept]


def out_width(stream: IO[str] | None = None) -> int:
    """The width to fit: the terminal's when output goes to one, else $COLUMNS, else 80."""
    stream = stream or sys.stdout
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):  # a stream without a file descriptor
        pass
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else 80


def _len(cell: Cell) -> int:
    from rich.cells import cell_len

    plain = cell if isinstance(cell, str) else cell.plain
    return max((cell_len(line) for line in plain.splitlines()), default=0)


def fit(columns: Sequence[Col], rows: Sequence[Sequence[Cell]], width: int, gap: int = 2) -> Layout:
    """The columns that fit `width` with `gap` blanks between them.

    Full labels when everything fits; otherwise short labels, and the lowest priorities
    dropped until the rest fits. When even the most useful column alone does not fit,
    it is kept whole: a line may then be longer than `width`, never a value cut.
    """
    from rich.cells import cell_len

    content = [max((_len(row[i]) for row in rows), default=0) for i in range(len(columns))]

    def widths(kept: Sequence[int], short: bool) -> tuple[list[str], list[int], list[int]]:
        labels, natural, least = [], [], []
        for i in kept:
            col = columns[i]
            label = (col.short or col.label) if short else col.label
            labels.append(label)
            full = max(cell_len(label), content[i])
            natural.append(full)
            least.append(min(full, max(WRAP_MIN, cell_len(label))) if col.wrap else full)
        return labels, natural, least

    def room(least: Sequence[int]) -> int:
        return sum(least) + gap * (len(least) - 1)

    kept = list(range(len(columns)))
    labels, natural, least = widths(kept, short=False)
    if room(least) > width:
        labels, natural, least = widths(kept, short=True)
        for victim in sorted(kept, key=lambda i: columns[i].priority):
            if room(least) <= width or len(kept) == 1:
                break
            kept.remove(victim)
            labels, natural, least = widths(kept, short=True)
    # Free-text columns share what is left, up to their natural width.
    spare = max(0, width - room(least))
    final = list(least)
    for n, i in enumerate(kept):
        if columns[i].wrap:
            extra = min(natural[n] - least[n], spare)
            final[n] += extra
            spare -= extra
    return Layout(tuple(kept), tuple(labels), tuple(final))


def print_table(
    columns: Sequence[Col],
    rows: Sequence[Sequence[Cell]],
    *,
    title: str = "",
    caption: str = "",
    gap: int = 2,
    width: int | None = None,
    file: IO[str] | None = None,
) -> Layout:
    """Print the rows under the columns that fit the width; returns the layout used."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    width = width or out_width(file)
    layout = fit(columns, rows, width, gap)
    used = sum(layout.widths) + gap * (len(layout.widths) - 1)
    # A table that cannot fit is printed whole, wider than the width, never cut.
    console = Console(file=file, highlight=False, width=max(width, used))
    table = Table(
        title=title or None,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 0, 0, gap - 1),
    )
    for i, label, w in zip(layout.kept, layout.labels, layout.widths, strict=True):
        col = columns[i]
        table.add_column(
            label,
            justify="right" if col.right else "left",
            width=w,
            no_wrap=not col.wrap,
            overflow="fold",
        )
    for row in rows:
        table.add_row(*(row[i] for i in layout.kept))
    console.print(table)
    if caption:
        # Notes under the table wrap at the width, not the table's.
        Console(file=file, highlight=False, width=width).print(Text(caption))
    return layout
