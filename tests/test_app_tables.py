"""Every table in the app, driven with Pilot: keys, sorting, and what fits the terminal."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Label, OptionList, Static
from textual.widgets._toast import Toast

from dlpick.pricing.catalog import Catalog
from dlpick.pricing.retiring import MARK
from dlpick.remote.fleet.scan import FleetScan
from dlpick.tui.app import DlpickApp
from dlpick.tui.host_access import HostAccess
from dlpick.tui.screens.dialogs import RegionPicker
from dlpick.tui.screens.instances import InstancesScreen
from dlpick.tui.screens.run_dialogs import NewRunDialog, TargetDialog
from dlpick.tui.screens.runs import RunsScreen
from dlpick.tui.widgets.row_table import RowTable
from tests.log_replay import HostApp
from tests.notices import Notices
from tests.peers.sshd import SSH_ALIAS, Sshd, TcpCutter, free_port
from tests.screenshots import (
    FIXED_NOW,
    ON_DEMAND,
    FixedAccess,
    _spec,
    fixed_snapshot,
    make_app,
    offline_catalog,
)
from tests.test_app import _plain, rows, table_of
from tests.ui import on_screen, settled_click, until

ROOT = Path(__file__).resolve().parents[1]
# Short enough that the fixed ten types do not all fit: the table scrolls.
SHORT = (100, 12)
WIDTHS = (80, 120, 150, 200)


@pytest.fixture(autouse=True)
def steady_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


def cursor_and_scroll(table: DataTable[Any]) -> tuple[int, float]:
    return table.cursor_row, table.scroll_y


# -- one kind of table everywhere ----------------------------------------------------


def test_every_table_in_the_app_is_a_row_table() -> None:
    """No screen builds a bare DataTable: the keys below hold on every table."""
    bare = []
    for path in sorted((ROOT / "tui").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.value if isinstance(func, ast.Subscript) else func
                if isinstance(name, ast.Name) and name.id == "DataTable":
                    bare.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert bare == []


async def press_and_check_rows(pilot: Pilot[None], table: DataTable[Any]) -> None:
    """Home/End/PageUp/PageDown move the cursor by rows, scrolling to keep it in view."""
    table.focus()
    last = table.row_count - 1

    def where() -> tuple[int, float, float]:
        return table.cursor_row, table.scroll_y, table.max_scroll_y

    await pilot.press("end")
    await until(pilot, lambda: table.cursor_row == last, what="end: the last row", seen=where)
    await until(
        pilot, lambda: table.scroll_y == table.max_scroll_y > 0, what="end: in view", seen=where
    )
    await pilot.press("home")
    await until(pilot, lambda: cursor_and_scroll(table) == (0, 0), what="home", seen=where)
    await pilot.press("pagedown")
    await until(pilot, lambda: table.cursor_row > 0, what="pagedown", seen=where)
    page = table.cursor_row
    assert 0 < page < last
    await until(pilot, lambda: table.scroll_y > 0, what="pagedown: in view", seen=where)
    await pilot.press("pagedown", "pagedown", "pagedown")
    await until(pilot, lambda: table.cursor_row == last, what="pagedown x3", seen=where)
    await pilot.press("pageup")
    await until(pilot, lambda: table.cursor_row == last - page, what="pageup", seen=where)
    await pilot.press("pageup", "pageup", "pageup")
    await until(pilot, lambda: cursor_and_scroll(table) == (0, 0), what="pageup x3", seen=where)


async def test_home_end_and_page_keys_on_the_price_table(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SHORT) as pilot:
        await pilot.pause()
        await press_and_check_rows(pilot, table_of(app))


class ManyInstances(FixedAccess):
    """The fixed account with a dozen more instances, one with a long name."""

    def fleet(self, regions: list[str], catalog: Catalog) -> FleetScan:
        scan = super().fleet(regions, catalog)
        first = scan.instances[0]
        more = tuple(
            dataclasses.replace(first, instance_id=f"i-0a1b2c3d4e5f7{n:04d}", name=f"sweep-{n}")
            for n in range(12)
        )
        named = dataclasses.replace(first, name="dlpick-g6e.xlarge-llama-finetune")
        return FleetScan((named, *scan.instances[1:], *more), scan.regions, scan.unreadable)


def many_instances_app(tmp_path: Path) -> DlpickApp:
    return DlpickApp(
        offline_catalog(tmp_path),
        region="us-east-1",
        live=None,
        clock=lambda: FIXED_NOW,
        account=ManyInstances(),
    )


async def open_instances(app: DlpickApp, pilot: Pilot[None]) -> DataTable[Any]:
    await pilot.press("i")
    await until(pilot, lambda: isinstance(app.screen, InstancesScreen))
    table = app.screen.query_one("#instances", DataTable)
    await until(pilot, lambda: table.row_count > 3)
    return table


async def test_home_end_and_page_keys_on_the_instances_table(tmp_path: Path) -> None:
    app = many_instances_app(tmp_path)
    async with app.run_test(size=SHORT) as pilot:
        await pilot.pause()
        table = await open_instances(app, pilot)
        await press_and_check_rows(pilot, table)


async def test_home_end_and_page_keys_in_the_region_picker(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 16)) as pilot:
        await pilot.pause()
        await pilot.press("g")
        options = (await on_screen(pilot, RegionPicker)).query_one(OptionList)

        def highlighted() -> int | None:
            return options.highlighted

        await pilot.press("end")
        await until(
            pilot, lambda: highlighted() == options.option_count - 1, what="end", seen=highlighted
        )
        await pilot.press("home")
        await until(pilot, lambda: highlighted() == 0, what="home", seen=highlighted)
        await pilot.press("pagedown")
        await until(pilot, lambda: (highlighted() or 0) > 1, what="pagedown", seen=highlighted)
        await pilot.press("pageup")
        await until(pilot, lambda: highlighted() == 0, what="pageup", seen=highlighted)


async def start_runs(commands: list[str]) -> None:
    from dlpick.remote.ssh.runs import start_run

    conn = await HostAccess(SSH_ALIAS).connect()
    try:
        for command in commands:
            await start_run(conn, command)
    finally:
        conn.close()


LONG_COMMAND = "python train.py --model llama-3-8b --lr 3e-4 --epochs 12 --batch-size 64 --bf16"


async def test_home_end_and_page_keys_on_the_runs_table(sshd: Sshd) -> None:
    await start_runs([f"echo run {n}" for n in range(14)])
    screen = RunsScreen(SSH_ALIAS, None)
    app = HostApp(screen)
    async with app.run_test(size=SHORT) as pilot:
        await until(pilot, lambda: screen.loaded, timeout=15)
        await press_and_check_rows(pilot, screen.query_one("#runs-table", DataTable))


# -- sorting shows the top of the new order ---------------------------------------------


async def test_sorting_puts_the_cursor_on_the_first_row_scrolled_to_the_top(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SHORT) as pilot:
        await pilot.pause()
        table = table_of(app)
        for key in ("s", "r", "s"):
            await pilot.press("end")
            await until(pilot, lambda: table.scroll_y > 0, what="end: scrolled down")
            await pilot.press(key)
            await until(pilot, lambda: cursor_and_scroll(table) == (0, 0), what=f"the top ({key})")
            assert (
                table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
                == (rows(app)[0])
            )
        # A header click sorts too, and starts from the top just the same.
        await pilot.press("end")
        await until(pilot, lambda: table.scroll_y > 0, what="end: scrolled down")
        await settled_click(pilot, "#prices", offset=(2, 0))
        await until(pilot, lambda: app.prices.view.sort_key == "type", what="sorted by type")
        await until(pilot, lambda: cursor_and_scroll(table) == (0, 0), what="the top (click)")


def test_snapshot_of_the_table_right_after_a_sort(
    snap_compare: Callable[..., bool], tmp_path: Path
) -> None:
    async def end_then_sort(pilot: Pilot[None]) -> None:
        await pilot.press("end", "s")

    app = make_app(tmp_path)
    assert snap_compare(app, terminal_size=SHORT, run_before=end_then_sort)


# -- nothing cut with room to spare -------------------------------------------------------


def radeon_app(tmp_path: Path) -> DlpickApp:
    """The fixed prices with one AMD type, whose model name is long."""
    snapshot = fixed_snapshot()
    radeon = _spec("g4ad.16xlarge", 64, 256, "Radeon Pro V520", 4, 32)
    snapshot.specs["g4ad.16xlarge"] = dataclasses.replace(radeon, accelerator_vendor="AMD")
    snapshot.regions["us-east-1"].on_demand["g4ad.16xlarge"] = 3.468
    snapshot.regions["us-east-1"].offered.add("g4ad.16xlarge")
    return DlpickApp(
        offline_catalog(tmp_path, snapshot),
        region="us-east-1",
        live=None,
        clock=lambda: FIXED_NOW,
    )


def cells_of(table: DataTable[Any]) -> dict[str, list[str]]:
    """Every shown cell's text, by column key."""
    out: dict[str, list[str]] = {}
    for key in table.columns:
        out[str(key.value)] = [
            c.plain if isinstance(c, Text) else str(c) for c in table.get_column(key)
        ]
    return out


def assert_fits(table: DataTable[Any]) -> None:
    """No sideways scrolling: every shown column is in view."""
    assert table.virtual_size.width <= table.scrollable_content_region.width


@pytest.mark.parametrize("width", WIDTHS)
async def test_price_table_cuts_nothing_with_room_to_spare(tmp_path: Path, width: int) -> None:
    app = radeon_app(tmp_path)
    async with app.run_test(size=(width, 30)) as pilot:
        await pilot.pause()
        table = table_of(app)
        assert_fits(table)
        shown = cells_of(table)
        types = [t.removesuffix(f" {MARK}") for t in shown["type"]]  # g4ad is retiring
        assert sorted(types) == sorted([*ON_DEMAND["us-east-1"], "g4ad.16xlarge"])
        for key, texts in shown.items():
            if key != "accel":  # identifiers and numbers are never cut
                assert not any("…" in t for t in texts), key
        if width >= 120:
            assert "Radeon Pro V520" in shown["accel"]
        # Wider never shows fewer columns.
        assert len(shown) >= {80: 6, 120: 11, 150: 11, 200: 11}[width]


@pytest.mark.parametrize("width", WIDTHS)
async def test_instances_table_cuts_nothing_with_room_to_spare(tmp_path: Path, width: int) -> None:
    app = many_instances_app(tmp_path)
    async with app.run_test(size=(width, 30)) as pilot:
        await pilot.pause()
        table = await open_instances(app, pilot)
        await pilot.press("a")
        await until(pilot, lambda: table.row_count == 4 + 12, what="every region's instances")
        assert_fits(table)
        shown = cells_of(table)
        assert len(shown["id"]) == 4 + 12
        for key, texts in shown.items():
            if key != "guard":  # a guard's description may be cut; nothing else is
                assert not any("…" in t for t in texts), key
        if width >= 150:
            assert "dlpick-g6e.xlarge-llama-finetune" in shown["name"]
        assert {"id", "type", "state", "cost"} <= set(shown)


@pytest.mark.parametrize("width", WIDTHS)
async def test_runs_table_cuts_nothing_with_room_to_spare(sshd: Sshd, width: int) -> None:
    await start_runs(["echo short", LONG_COMMAND])
    screen = RunsScreen(SSH_ALIAS, None)
    app = HostApp(screen)
    async with app.run_test(size=(width, 20)) as pilot:
        await until(pilot, lambda: screen.loaded, timeout=15)
        table = screen.query_one("#runs-table", RowTable)
        assert_fits(table)
        shown = cells_of(table)
        assert {"run", "state", "command"} <= set(shown)
        assert not any("…" in t for k, t2 in shown.items() if k != "command" for t in t2)
        if width >= 150:
            assert LONG_COMMAND in shown["command"]
            assert {"started", "log"} <= set(shown)
        else:
            assert any(c.startswith("python train.py") for c in shown["command"])


# -- the detail pane's estimate ---------------------------------------------------------


def detail_cost(app: DlpickApp) -> str:
    return _plain(app.query_one("#detail-cost", Static))


def costed(app: DlpickApp, text: str) -> bool:
    return text in detail_cost(app)


async def test_hours_beyond_a_year_are_refused_with_the_range(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        pane = app.query_one("#detail")
        await pilot.press("d")
        await until(pilot, lambda: pane.display, what="the detail pane open")
        table = table_of(app)
        table.move_cursor(row=table.get_row_index("p5.48xlarge"))
        hours = app.query_one("#hours", Input)
        for typed in ("1e308", "inf", "-1", "lots"):
            hours.value = typed
            # Each refusal names what was typed: the one for this value, not the last.
            await until(pilot, partial(costed, app, f"not '{typed}'"), what=f"{typed} refused")
            cost = detail_cost(app)
            assert "hours must be" in cost, typed
            assert max(len(word) for word in cost.split()) < 40  # no 300-digit price
        hours.value = "1e308"
        await until(pilot, partial(costed, app, "not '1e308'"), what="1e308 refused")
        assert "at most 8760" in detail_cost(app)
        hours.value = "8760"  # a year of p5.48xlarge on demand
        await until(pilot, partial(costed, app, "$482,150.40"), what="a year costed")


def test_large_money_is_readable() -> None:
    from dlpick.tui.widgets.detail import fmt_money

    assert fmt_money(482150.4) == "$482,150.40"
    assert fmt_money(1_234_567.0) == "$1.23 million"
    assert fmt_money(5.2e12) == "$5.20 trillion"
    assert fmt_money(None) == "—"


# -- dialogs: labels wrap, toasts leave the buttons in view -------------------------------

DIALOG_SIZES = [(80, 24), (120, 40)]
TOASTS = (
    "cannot connect to gpu-box: Connect call failed ('10.0.0.7', 22)",
    "listing instances in ap-south-1: permission denied (UnauthorizedOperation)",
    "fetching live prices: AWS could not be reached",
)


async def new_run_with_toasts(pilot: Pilot[None]) -> None:
    """The new-run dialog while errors from the background are on screen."""
    await pilot.app.push_screen(NewRunDialog("gpu-box"))
    for text in TOASTS:
        pilot.app.notify(text, title="Listing the runs", severity="error", timeout=60)

    def toasts_shown() -> bool:
        shown = [toast for toast in pilot.app.screen.query(Toast) if toast.region.area]
        return len(shown) == len(TOASTS)

    await until(pilot, toasts_shown, what="the toasts on screen")


@pytest.mark.parametrize("size", DIALOG_SIZES, ids=["80x24", "120x40"])
async def test_toasts_never_cover_the_dialog_buttons(tmp_path: Path, size: tuple[int, int]) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=size, notifications=True) as pilot:
        await pilot.pause()
        await new_run_with_toasts(pilot)
        toasts = [t.region for t in app.screen.query(Toast)]
        assert len(toasts) == len(TOASTS)
        for button in app.screen.query(Button):
            assert button.region.area > 0
            assert not any(button.region.overlaps(t) for t in toasts), button.id


@pytest.mark.parametrize("width", (60, 80, 120, 200))
async def test_the_runs_dialog_label_wraps_instead_of_being_cut(tmp_path: Path, width: int) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(width, 24)) as pilot:
        await pilot.pause()
        await pilot.press("o")
        target = await on_screen(pilot, TargetDialog)
        box = target.query_one(".dialog")
        prompt = next(
            label
            for label in target.query(Label)
            if "(~/.ssh/config applies)" in str(label.render())
        )
        await until(
            pilot, lambda: box.content_region.area and prompt.size.area, what="the dialog laid out"
        )
        dialog = box.content_region
        assert prompt.region.x >= dialog.x and prompt.region.right <= dialog.right
        # Every character has a cell: wrapped over as many lines as it needs.
        text = str(prompt.render())
        assert prompt.size.width * prompt.size.height >= len(text)
        assert prompt.size.height == (1 if len(text) <= dialog.width else 2)


@pytest.mark.parametrize("size", DIALOG_SIZES, ids=["80x24", "120x40"])
def test_snapshot_of_the_new_run_dialog_under_toasts(
    snap_compare: Callable[..., bool], tmp_path: Path, size: tuple[int, int]
) -> None:
    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=new_run_with_toasts)


def test_snapshot_of_the_runs_dialog_at_80_columns(
    snap_compare: Callable[..., bool], tmp_path: Path
) -> None:
    assert snap_compare(make_app(tmp_path), terminal_size=(80, 24), press=["o"])


# -- one toast per distinct error ---------------------------------------------------------

CUT_ALIAS = "dlpick-cut"


async def test_a_failing_host_is_one_toast_until_its_error_changes_or_clears(
    sshd: Sshd, isolated_home: Path
) -> None:
    """Every refresh tick fails the same way: one toast. A success in between, or a
    different error, makes the next failure news again."""
    from textual.message import Message
    from textual.worker import Worker, WorkerState

    from dlpick.tui.worker_errors import WorkerFailed

    closed = free_port()
    proxy = TcpCutter(closed)  # accepts, then finds nothing behind it
    known = isolated_home / ".ssh" / "known_hosts"
    with known.open("a") as f:
        f.write(sshd.known_hosts_line(proxy.port))
    with (isolated_home / ".ssh" / "config").open("a") as f:
        f.write(sshd.client_config(CUT_ALIAS, port=proxy.port, known_hosts=known))

    failures: list[str] = []
    successes: list[Worker[Any]] = []
    notices = Notices()

    def seen(message: Message) -> None:
        notices.hook(message)
        if isinstance(message, WorkerFailed):
            failures.append(message.text)
        elif isinstance(message, Worker.StateChanged) and message.state == WorkerState.SUCCESS:
            successes.append(message.worker)

    def toasts() -> list[str]:
        return notices.messages(severity="error")

    def told(since: int, shown: int = 0, *, news: bool = True) -> bool:
        """Every way of failing since failure `since` has its toast after toast `shown`
        (but those toasted before when they are no news): a toast is posted by the
        failure's handler, so it comes in a moment after the failure is seen."""
        old = set() if news else set(toasts()[:shown])
        return set(failures[since:]) - old <= set(toasts()[shown:])

    screen = RunsScreen(CUT_ALIAS, None, refresh_every=0.05)
    app = HostApp(screen)
    try:
        async with app.run_test(size=(100, 30), notifications=True, message_hook=seen) as pilot:
            await until(pilot, lambda: len(failures) >= 6 and told(0), timeout=15)

            proxy.upstream_port = sshd.port  # the host answers: the errors cleared
            await until(pilot, lambda: screen.loaded and len(successes) >= 2, timeout=15)
            # The toast of a failure seen just before the host answered may land after.
            await until(pilot, lambda: told(0), what="every way it failed toasted")
            # However often it failed, each way it failed is one toast; answering is none.
            assert sorted(toasts()) == sorted(set(failures)) and len(set(failures)) <= 3
            shown = len(toasts())

            proxy.upstream_port = closed  # down again: the same errors are news again
            proxy.cut()
            before = len(failures)
            await until(
                pilot, lambda: len(failures) >= before + 6 and told(before, shown), timeout=15
            )
            again = toasts()[shown:]
            assert sorted(again) == sorted(set(failures[before:]))
            # An error seen before the host answered is news again (which ways it fails
            # in each round depends on timing: only the ones seen twice are checked).
            assert set(failures[before:]) & set(failures[:before]) <= set(again)
            shown = len(toasts())
            # A way first seen at the end of that round may have its toast land after
            # `shown`: the round after is checked from the start of that one.
            down = before

            proxy.listener.close()  # nothing listens now: another error, one more toast
            before = len(failures)
            await until(
                pilot,
                lambda: len(failures) >= before + 4 and told(down, shown, news=False),
                timeout=15,
            )
            refused = failures[-1]
            assert "cannot connect" in refused and refused not in toasts()[:shown]
            # A connection caught mid-way by the close may fail another way first
            # ("Connection lost"): each new way is one toast, the ways seen are not again.
            new = set(failures[down:]) - set(toasts()[:shown])
            assert refused in new and sorted(toasts()[shown:]) == sorted(new)
    finally:
        proxy.close()
