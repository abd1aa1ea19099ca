"""The one table every screen uses: a row-cursor DataTable whose keys move by rows.

DataTable's own Home/End scroll sideways, which a table of rows that never
scrolls sideways turns into keys that do nothing. Here Home/End go to the first
and last row and PageUp/PageDown move the cursor a page, on every table alike.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable

CellType = TypeVar("CellType")


class RowTable(DataTable[CellType]):
    """A DataTable with a row cursor, zebra stripes, and row-wise Home/End/PageUp/PageDown."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "first_row", "First row", show=False),
        Binding("end", "last_row", "Last row", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 (Textual's name)
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    def action_first_row(self) -> None:
        """The cursor on the first row, the table scrolled to its top."""
        self.to_top()

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)

    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, or None when there are no rows."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    def to_top(self) -> None:
        """Cursor on the first row and the view at the top: where a new order starts."""
        if self.row_count:
            self.move_cursor(row=0, animate=False)
        self.scroll_to(y=0, animate=False, immediate=True)
