"""The app's start-up: its first rows load only what the price table needs.

Each check runs in a fresh interpreter, as `dlpick` starts, so modules an earlier
test imported cannot hide one the first frame loads.
"""

from __future__ import annotations

import json
import subprocess
import sys

# Started as `dlpick` starts it (app_process.open_app): the collector paused.
FIRST_ROWS = """
import gc, json, sys
gc.disable()
from dlpick.tui.app import build_app
from dlpick.tui.config import Settings

app = build_app(Settings(offline=True), "us-east-1")
seen = {}

def painted() -> None:
    table = app.query_one("#prices")
    if not table.row_count:
        app.call_after_refresh(painted)
        return
    seen["rows"] = table.row_count
    seen["modules"] = sorted(sys.modules)
    app.exit()

app.call_after_refresh(painted)
app.run(headless=True, size=(120, 40))
seen["collecting_after"] = gc.isenabled()
print(json.dumps(seen))
"""

# Screens, dialogs and clients the first frame does not show or use: each loads
# when it is first needed (a key, a worker).
LATER = (
    "dlpick.tui.screens.instances",
    "dlpick.tui.screens.help",
    "dlpick.tui.screens.launch.dialog",
    "dlpick.remote.fleet.scan",
    "dlpick.remote.launch.plan",
    "dlpick.remote.launch.capacity_blocks",
    "dlpick.remote.launch.choices",
    "dlpick.remote.batch.jobs",
    "dlpick.remote.ssh.target",
    "dlpick.pricing.spot_history",
    "dlpick.pricing.placement",
    "urllib.request",
    "boto3",
    "botocore",
    "asyncssh",
    "pandas",
    # The spot history chart: drawn when a history arrives, its plotting library
    # loaded by the worker that reads the history.
    "dlpick.tui.widgets.spot_plot",
    "textual_plotext",
    "plotext",
)


def first_rows() -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", FIRST_ROWS], capture_output=True, text=True, check=True, timeout=60
    )
    seen: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return seen


def test_the_first_rows_load_no_other_screen_and_no_aws_or_ssh_client() -> None:
    seen = first_rows()
    assert isinstance(seen["rows"], int) and seen["rows"] > 5  # the bundled snapshot's prices
    loaded = seen["modules"]
    assert isinstance(loaded, list)
    assert [m for m in LATER if m in loaded] == []
    # The collector paused for start-up runs again once the first frame is drawn.
    assert seen["collecting_after"] is True
