"""A bare Textual app with a 50-row DataTable: the yardstick for dlpick's first rows.

Run by bench/first_rows.py under a pseudo-terminal, with the Textual dlpick pins.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import DataTable

FIRST_CELL = "bare-row-000"


class BareApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DataTable()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("type", "gpus", "memory", "price", "per tflop-hour")
        for n in range(50):
            table.add_row(f"bare-row-{n:03d}", str(n % 8), f"{n * 4} GiB", f"{n / 3:.3f}", "1.0")


if __name__ == "__main__":
    BareApp().run()
