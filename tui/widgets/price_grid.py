"""The price table widget: rows keyed by instance type, updated in place.

New prices change only the cells that differ, marked for a moment, so the rows
and the cursor stay where the user left them.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from rich.text import Text

from dlpick.tui.widgets.price_table import Shown, best_values, cell
from dlpick.tui.widgets.row_table import RowTable

# How long a changed price stays marked.
MARK_SECONDS = 2.0


class PriceGrid(RowTable[Text]):
    """A DataTable of price records; `records` and `shown` are what it draws now."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 (Textual's name)
        super().__init__(id=id)
        self.records: dict[str, dict[str, Any]] = {}  # by instance type, in display order
        self.shown: list[Shown] = []
        self._cells: dict[tuple[str, str], Text] = {}
        self._marks: dict[tuple[str, str], int] = {}
        self._mark_generation = 0

    def highlighted_type(self) -> str | None:
        """The instance type under the cursor."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    def redraw(self, records: list[dict[str, Any]], shown: list[Shown], *, spot: bool) -> None:
        """Draw every row again, keeping the cursor on the same instance type."""
        keep = self.highlighted_type()
        best = best_values(records, [s.column for s in shown])
        self.clear(columns=True)
        for s in shown:
            label = Text(s.label, justify="right" if s.column.numeric else "left")
            self.add_column(label, width=s.width, key=s.column.key)
        self._cells = {}
        self._marks = {}
        for record in records:
            itype = record["instance_type"]
            cells = []
            for s in shown:
                text = cell(s.column, record, spot=spot, best=best, width=s.width)
                self._cells[itype, s.column.key] = text
                cells.append(text)
            self.add_row(*cells, key=itype)
        self.records = {r["instance_type"]: r for r in records}
        self.shown = shown
        if keep in self.records:
            self.move_cursor(row=self.get_row_index(keep), animate=False)

    def update_prices(
        self, records: list[dict[str, Any]], shown: list[Shown], *, spot: bool
    ) -> None:
        """Apply new prices to the cells that changed, marking them; rows stay put.

        Other columns or other rows than those drawn: everything is drawn again.
        """
        old = self.records
        same_layout = [(s.column.key, s.width) for s in shown] == [
            (s.column.key, s.width) for s in self.shown
        ]
        if not same_layout or {r["instance_type"] for r in records} != set(old):
            self.redraw(records, shown, spot=spot)
            return
        best = best_values(records, [s.column for s in shown])
        self._mark_generation += 1
        marked = []
        for record in records:
            itype = record["instance_type"]
            before = old[itype]
            for s in shown:
                key = s.column.key
                changed = s.column.numeric and before.get(s.column.field) != record.get(
                    s.column.field
                )
                text = cell(s.column, record, spot=spot, best=best, changed=changed, width=s.width)
                if changed:
                    self._marks[itype, key] = self._mark_generation
                    marked.append((itype, key))
                elif (itype, key) in self._marks:
                    continue  # still marked from a moment ago; its timer restores it
                if text != self._cells.get((itype, key)):
                    self._cells[itype, key] = text
                    self.update_cell(itype, key, text)
        self.records = {r["instance_type"]: r for r in records}
        if marked:
            unmark = partial(self._unmark, marked, self._mark_generation, spot)
            self.set_timer(MARK_SECONDS, unmark)

    def _unmark(self, keys: list[tuple[str, str]], generation: int, spot: bool) -> None:
        best = best_values(list(self.records.values()), [s.column for s in self.shown])
        columns = {s.column.key: s for s in self.shown}
        for itype, key in keys:
            if self._marks.get((itype, key)) != generation:
                continue  # redrawn or marked again since
            del self._marks[itype, key]
            shown = columns[key]
            text = cell(shown.column, self.records[itype], spot=spot, best=best, width=shown.width)
            self._cells[itype, key] = text
            self.update_cell(itype, key, text)
