"""What the CLI prints: tables that fit the terminal, CSV and JSON, and the price table.

Every column has a priority. When the width is short, columns first take their short
labels, then the least useful ones are dropped; free text (notes, commands, quota names)
wraps instead of widening the table. A number, a price, an id or a name is never cut.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from dlpick.pricing.catalog import RECORD_FIELDS
from dlpick.pricing.retiring import MARK
from dlpick.tui.fit import Fit, Frame, fit_widths
from dlpick.tui.formats import (
    MARKER_NOTE,
    MATRIX_NOTE,
    UNMEASURED_NOTE,
    advisor_line,
    has_marked,
    has_matrix,
    has_unmeasured,
    provenance,
)

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
    """The columns that fit `width` with `gap` blanks between them, by the one fitting
    rule (tui/fit.py): free text wraps to no less than WRAP_MIN, labels shorten, the
    lowest priorities go. When even the most useful column alone does not fit, it is
    kept whole: a line may then be longer than `width`, never a value cut."""
    content = [max((_len(row[i]) for row in rows), default=0) for i in range(len(columns))]
    fits = [
        Fit(
            str(i),
            col.label,
            content[i],
            col.priority,
            short=col.short,
            cap=WRAP_MIN if col.wrap else 0,
            wraps=col.wrap,
        )
        for i, col in enumerate(columns)
    ]
    placed = fit_widths(fits, width, Frame(gap=gap))
    return Layout(
        tuple(int(p.key) for p in placed),
        tuple(p.label for p in placed),
        tuple(p.width for p in placed),
    )


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


# The column sorted on goes after every other but the instance type.
SORTED = 99


def to_json(records: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(records), indent=2)


def to_csv(records: Sequence[dict[str, Any]], fields: Sequence[str] = RECORD_FIELDS) -> str:
    """A header row, then one row per record; an unknown (None) value is an empty cell."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: ("" if record.get(k) is None else record.get(k)) for k in fields})
    return out.getvalue()


def print_offers(
    records: Sequence[dict[str, Any]],
    *,
    spot: bool,
    show_region: bool,
    title: str,
    file: IO[str] | None = None,
    width: int | None = None,
    sort_field: str = "",
    metric: str = "fp32",
    bands: bool = False,
) -> list[str]:
    """The price table at the output's width; returns the labels of the columns dropped.

    The columns and their priorities are the app's: on a narrow terminal the least
    useful go first (never the one sorted on, `sort_field`), and no price, type or
    accelerator name is ever cut. The best
    $/TFLOP-hour of each price column is highlighted; the price basis not being
    ranked on (spot or on-demand) is dimmed. `metric` is the TFLOPs shown (fp32, bf16);
    `bands` adds where the spot interruption bands came from and when.
    """
    from rich.text import Text

    from dlpick.tui.widgets.price_table import best_values, cell, columns_for

    # One footnote per announced retirement: its date and where that was said.
    retiring = sorted(
        {
            (r["instance_type"].split(".")[0], r["retiring"], r["retiring_source"])
            for r in records
            if r.get("retiring")
        }
    )
    notes = [
        f"{MARK} {family}: retiring {'(announced)' if date == 'announced' else date} ({source})"
        for family, date, source in retiring
    ]
    columns = columns_for(metric, spot, show_region)
    best = best_values(records, columns)
    rows = [
        [
            # The whole accelerator name: the app's cap is for its fixed-width grid.
            Text(str(r["gpu_model"])) if c.key == "accel" else cell(c, r, spot=spot, best=best)
            for c in columns
        ]
        for r in records
    ]
    layout = print_table(
        [
            Col(c.label, SORTED if c.field == sort_field else c.priority, c.numeric, short=c.short)
            for c in columns
        ],
        rows,
        title=title,
        caption="\n".join(
            provenance(records)
            + ([line] if bands and (line := advisor_line(records)) else [])
            + ([MARKER_NOTE] if has_marked(records, metric) else [])
            + ([MATRIX_NOTE] if has_matrix(records, metric) else [])
            + ([UNMEASURED_NOTE] if has_unmeasured(records, metric) else [])
            + notes
        ),
        gap=1,
        width=width,
        file=file,
    )
    return [columns[i].label for i in range(len(columns)) if i not in layout.kept]
