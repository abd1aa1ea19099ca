"""The terminal app, driven headless with Pilot: what a user sees and does."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import DataTable, Input, OptionList, Static
from textual.widgets.data_table import ColumnKey

from dlpick.core.aws import AwsError
from dlpick.core.cache import PriceCache
from dlpick.pricing.catalog import Catalog, Offer
from dlpick.tui.app import DlpickApp, live_catalogs
from dlpick.tui.screens.dialogs import FilterDialog, RegionPicker
from dlpick.tui.screens.help import HelpScreen
from dlpick.tui.screens.prices import PricesScreen
from dlpick.tui.widgets.detail import DetailPane
from dlpick.tui.widgets.live_prices import PriceSource
from dlpick.tui.widgets.price_table import BEST_STYLE, CHANGED_STYLE
from tests.conftest import AwsPeers
from tests.notices import Notices
from tests.screenshots import FIXED_NOW, ON_DEMAND, SPOT, fixed_snapshot, make_app
from tests.test_prices_cli import seed
from tests.ui import on_screen, settled_click, until, workers_done

SIZE = (120, 36)


@pytest.fixture(autouse=True)
def steady_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blinking text cursor would make screenshots differ run to run."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


def table_of(app: DlpickApp) -> DataTable[Any]:
    return app.query_one("#prices", DataTable)


def column(app: DlpickApp, key: str) -> dict[str, str]:
    """Plain text of one column, by instance type, in display order ({} while it is not shown:
    the quota column, for one, appears only when the quotas arrive)."""
    table = table_of(app)
    if key not in table.columns:
        return {}
    out = {}
    for row in table.ordered_rows:
        value = table.get_cell(row.key, key)
        out[str(row.key.value)] = value.plain if isinstance(value, Text) else str(value)
    return out


def palette_has_results(app: DlpickApp) -> bool:
    """The command palette is open and its search has listed something to run."""
    return any(
        option_list.option_count > 0 and option_list.highlighted is not None
        for option_list in app.screen.query(OptionList)
    )


def rows(app: DlpickApp) -> list[str]:
    return [str(row.key.value) for row in table_of(app).ordered_rows]


def title(app: DlpickApp) -> str:
    return str(app.query_one("#title", Static).render())


def sources(app: DlpickApp) -> str:
    return str(app.query_one("#sources", Static).render())


def per_tflop(region: str, itype: str, tflops: float) -> float:
    return ON_DEMAND[region][itype] / tflops


# -- first frame, sorting ------------------------------------------------------


async def test_first_frame_shows_offline_prices_best_value_first(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        shown = rows(app)
        assert len(shown) == len(ON_DEMAND["us-east-1"])
        values = [float(v) for v in column(app, "od_tf").values() if v != "—"]
        assert values == sorted(values)
        # Ranked by the A10G datasheet's 35 FP32 TFLOPs, not left unknown.
        assert column(app, "od_tf")["g5.xlarge"] == f"{per_tflop('us-east-1', 'g5.xlarge', 35):.4f}"
        assert column(app, "od")["g6.xlarge"] == "0.8048"
        assert column(app, "spot")["g6.xlarge"] == "0.3470"  # cheapest AZ
        best = table_of(app).get_cell(shown[0], "od_tf")
        assert BEST_STYLE in str(best.spans[0].style)
        assert "us-east-1" in title(app) and "10 types" in title(app)
        assert "on-demand: snapshot, 2026-08-26 (6 days ago)" in sources(app)
        assert "offline" in sources(app)


async def test_sort_by_key_reverse_and_header_click(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("s")  # the next column after on-demand $/TF·h: spot $/TF·h
        await until(pilot, lambda: "Spot $/TF·h ▲" in title(app), what="sorted by spot $/TF·h")
        spot_tf = [float(v) for v in column(app, "spot_tf").values() if v != "—"]
        assert spot_tf == sorted(spot_tf) and rows(app)[0] == "g6e.2xlarge"
        await pilot.press("r")
        await until(pilot, lambda: "Spot $/TF·h ▼" in title(app), what="the order reversed")
        assert rows(app)[0] == "p5.48xlarge"  # the worst known spot value first
        # Click the "$/h" header.
        table = table_of(app)
        x = 0
        for key, col in table.columns.items():
            if key.value == "od":
                break
            x += col.get_render_width(table)
        await settled_click(pilot, "#prices", offset=(x + 2, 0))
        await until(pilot, lambda: app.prices.view.sort_key == "od", what="sorted by $/h")
        prices = [float(v.replace(",", "")) for v in column(app, "od").values()]
        assert prices == sorted(prices) and rows(app)[0] == "g6f.large"
        await settled_click(pilot, "#prices", offset=(x + 2, 0))  # again: reversed
        await until(pilot, lambda: rows(app)[0] == "p5.48xlarge", what="$/h the other way")


def sorted_on_another_than(screen: PricesScreen, key: str) -> bool:
    return screen.view.sort_key != key


async def test_sorting_bigger_is_better_columns_puts_the_biggest_first(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.prices
        while (before := screen.view.sort_key) != "tflops":
            await pilot.press("s")
            await until(pilot, partial(sorted_on_another_than, screen, before), what="next sort")
        assert rows(app)[0] == "p5.48xlarge"
        assert "FP32 TF ▼" in title(app)


# -- filter, metric, view, region ------------------------------------------------


async def test_filter_dialog(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f")
        dialog = await on_screen(pilot, FilterDialog)
        error = dialog.query_one("#filter-error", Static)
        await pilot.press(*"Z9000", "enter")
        await until(
            pilot,
            lambda: "unknown accelerator model 'Z9000'" in str(error.render()),
            what="the refusal's reason shown",
        )
        # Enter has been handled, and refused: the dialog stays, nothing is filtered.
        assert app.screen is dialog  # refused, with the reason shown
        assert len(rows(app)) == 10
        dialog.query_one("#filter-gpu", Input).value = "L4,A10G"
        dialog.query_one("#filter-min-memory", Input).value = "20"
        await settled_click(pilot, "#filter-apply")
        await until(pilot, lambda: "filter: L4,A10G" in title(app), what="the filter applied")
        assert isinstance(app.screen, PricesScreen)
        assert sorted(rows(app)) == ["g5.12xlarge", "g5.xlarge", "g6.12xlarge", "g6.xlarge"]
        assert "filter: L4,A10G · ≥20 GiB" in title(app) and "4 of 10 types" in title(app)
        await pilot.press("f")
        dialog = await on_screen(pilot, FilterDialog)
        dialog.query_one("#filter-max-price", Input).value = "1"
        await pilot.press("enter")
        await until(pilot, lambda: "1 of 10 types" in title(app), what="the price limit applied")
        assert sorted(rows(app)) == ["g6.xlarge"]
        await pilot.press("f")
        await on_screen(pilot, FilterDialog)
        await settled_click(pilot, "#filter-clear")
        await until(pilot, lambda: "filter:" not in title(app), what="the filter cleared")
        assert isinstance(app.screen, PricesScreen) and len(rows(app)) == 10
        await pilot.press("f")
        await on_screen(pilot, FilterDialog)
        await pilot.press("escape")
        await on_screen(pilot, PricesScreen)
        await workers_done(pilot, app.prices)  # what the dialog's answer would start, done
        assert len(rows(app)) == 10 and "filter:" not in title(app)


async def test_metric_switch_to_bf16(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        fp32 = column(app, "tflops")["p5.48xlarge"]
        table = table_of(app)
        await pilot.press("m")
        await until(
            pilot,
            lambda: table.columns[ColumnKey("tflops")].label.plain == "BF16 TF",
            what="the BF16 column",
            seen=lambda: table.columns[ColumnKey("tflops")].label,
        )
        bf16 = column(app, "tflops")["p5.48xlarge"]
        assert float(bf16.replace(",", "")) > float(fp32.replace(",", ""))
        per_tf = float(column(app, "od_tf")["p5.48xlarge"])
        assert per_tf == pytest.approx(55.04 / float(bf16.replace(",", "")), abs=1e-4)
        assert "BF16" in title(app)
        await pilot.press("m")  # measured FP32: nothing measured, the datasheet figure marked
        await until(pilot, lambda: "measured FP32" in title(app), what="measured FP32")
        assert column(app, "tflops")["p5.48xlarge"] == fp32.rstrip() + "*"
        await pilot.press("m", "m")
        await until(pilot, lambda: "measured" not in title(app), what="back on datasheet FP32")
        assert "BF16" not in title(app)
        assert column(app, "tflops")["p5.48xlarge"] == fp32


async def test_spot_view_ranks_by_spot_and_dims_on_demand(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("v")
        await until(pilot, lambda: "Spot $/TF·h ▲" in title(app), what="ranked by spot $/TF·h")
        assert "spot" in title(app)
        known = [r for r, v in column(app, "spot_tf").items() if v != "—"]
        assert rows(app)[: len(known)] == known
        assert known[0] == "g6e.2xlarge"
        od_cell = table_of(app).get_cell("g6.xlarge", "od")
        assert "dim" in str(od_cell.spans[0].style)


async def test_region_switch_and_all_regions(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("g")
        options = (await on_screen(pilot, RegionPicker)).query_one(OptionList)
        assert options.get_option_at_index(0).id == "all"
        options.highlighted = options.get_option_index("eu-west-1")
        await pilot.press("enter")
        await until(pilot, lambda: "eu-west-1" in title(app), what="eu-west-1's prices")
        assert sorted(rows(app)) == sorted(ON_DEMAND["eu-west-1"])
        assert column(app, "od")["p4d.24xlarge"] == "19.500"
        await pilot.press("g")
        options = (await on_screen(pilot, RegionPicker)).query_one(OptionList)
        options.highlighted = 0
        await pilot.press("enter")
        await until(pilot, lambda: "all regions" in title(app), what="every region's prices")
        regions = column(app, "region")
        assert regions["g6.xlarge"] == "ap-south-1"  # 0.7010 beats 0.8048 and 0.8970
        assert regions["p4d.24xlarge"] == "eu-west-1"
        assert regions["g6e.2xlarge"] == "us-east-1"
        await pilot.press("v")  # spot: the cheapest spot region instead
        await until(pilot, lambda: app.prices.view.spot, what="the spot view")
        assert column(app, "region")["g6.xlarge"] == "eu-west-1"


# -- detail pane, help, palette --------------------------------------------------


async def test_detail_pane_spot_per_az_and_estimator(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        pane = app.query_one(DetailPane)
        assert not pane.display
        await pilot.press("d")
        await until(pilot, lambda: pane.display, what="the detail pane open")
        table = table_of(app)
        table.move_cursor(row=table.get_row_index("g6.xlarge"))
        await until(pilot, lambda: showing(pane, "g6.xlarge"), what="g6.xlarge in the pane")
        spot_text = _plain(pane.query_one("#detail-spot", Static))
        azs = [line.split()[0] for line in spot_text.splitlines() if line.strip()]
        assert azs == ["us-east-1b", "us-east-1c", "us-east-1a", "us-east-1d"]
        cost = _plain(pane.query_one("#detail-cost", Static))
        assert "$19.32" in cost  # 24 h on demand = per day: 0.8048 x 24
        assert "$8.33" in cost  # 24 h spot at 0.3470
        assert "spot interruption: >20% a month, saves 49%" in cost  # the bundled advisor band
        hours = pane.query_one("#hours", Input)
        hours.value = "100"
        await until(
            pilot,
            lambda: "$80.48" in _plain(pane.query_one("#detail-cost", Static)),
            what="100 hours costed",
        )
        cost = _plain(pane.query_one("#detail-cost", Static))
        assert "$80.48" in cost and "$34.70" in cost and "$19.32" in cost
        await pilot.press("up")  # the pane follows the cursor
        await until(pilot, lambda: not showing(pane, "g6.xlarge"), what="the pane moved on")
        assert pane.offer is not None
        await pilot.press("d")
        await until(pilot, lambda: not pane.display, what="the detail pane closed")


def showing(pane: DetailPane, instance_type: str) -> bool:
    return pane.offer is not None and pane.offer.instance_type == instance_type


def _plain(widget: Static) -> str:
    from rich.console import Console

    console = Console(width=100, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


async def test_help_lists_every_binding(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        help_screen = await on_screen(pilot, HelpScreen)
        text = _plain(help_screen.query_one("#help-body", Static))
        for binding in PricesScreen.BINDINGS:
            assert binding.description in text  # type: ignore[union-attr]
        assert "Help" in text and "$/TF·h" in text
        await pilot.press("escape")
        await on_screen(pilot, PricesScreen)


async def test_command_palette_runs_table_actions(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p", *"Region")
        await until(pilot, lambda: palette_has_results(app))
        await pilot.press("enter")
        await on_screen(pilot, RegionPicker)


# -- live prices -------------------------------------------------------------------


class ScriptedSource:
    """A live price source that answers from a list of catalogs, one per refresh."""

    def __init__(self, tmp_path: Path, steps: list[Callable[[], list[Offer]]]) -> None:
        self.steps = steps
        self.calls = 0

    @property
    def live(self) -> bool:
        return True

    def offers(self, region: str, *, refresh: bool = False) -> list[Offer]:
        step = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        return step()

    def all_offers(self, *, refresh: bool = False) -> list[Offer]:
        return self.offers("all")


def catalog_offers(tmp_path: Path, name: str, spot_g6: dict[str, float]) -> list[Offer]:
    snap = fixed_snapshot()
    snap.regions["us-east-1"].spot["g6.xlarge"] = spot_g6
    cache = PriceCache(tmp_path / f"{name}.sqlite")
    return Catalog(cache=cache, aws=None, snapshot=snap).offers("us-east-1")


async def test_spot_refresh_updates_cells_in_place_and_marks_them(tmp_path: Path) -> None:
    first = dict(SPOT["us-east-1"]["g6.xlarge"])
    cheaper = {**first, "us-east-1b": 0.3001}
    source = ScriptedSource(
        tmp_path,
        [
            lambda: catalog_offers(tmp_path, "a", first),
            lambda: catalog_offers(tmp_path, "b", cheaper),
        ],
    )

    def live(_warn: Callable[[str], None]) -> PriceSource:
        return source

    app = make_app(tmp_path, live=live, refresh_every=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = table_of(app)
        table.move_cursor(row=3)
        under_cursor = rows(app)[3]
        order = rows(app)
        await until(
            pilot, lambda: source.calls >= 2 and column(app, "spot")["g6.xlarge"] == "0.3001"
        )
        assert rows(app) == order  # rows stay where they were
        assert table.cursor_row == 3 and rows(app)[3] == under_cursor
        changed = table.get_cell("g6.xlarge", "spot")
        assert CHANGED_STYLE in str(changed.spans[0].style)
        untouched = table.get_cell("g4dn.xlarge", "spot")
        assert not untouched.spans or CHANGED_STYLE not in str(untouched.spans[0].style)
        assert "spot: snapshot" in sources(app)


def failing(error: Exception) -> Callable[[], list[Offer]]:
    def fail() -> list[Offer]:
        raise error

    return fail


async def test_refresh_errors_keep_the_prices_and_are_shown_once_until_they_change(
    tmp_path: Path,
) -> None:
    timed_out = "us-east-1: fetching spot prices: cannot reach AWS (timed out)"
    denied = "us-east-1: fetching spot prices: access denied"
    steps = [failing(AwsError(timed_out))] * 3
    steps += [lambda: catalog_offers(tmp_path, "a", dict(SPOT["us-east-1"]["g6.xlarge"]))]
    steps += [failing(AwsError(timed_out)), failing(AwsError(denied))]  # the last repeats
    source = ScriptedSource(tmp_path, steps)
    app = make_app(tmp_path, live=lambda _warn: source, refresh_every=0.05)
    notices = Notices()
    async with app.run_test(size=SIZE, notifications=True, message_hook=notices.hook) as pilot:
        await pilot.pause()
        before = column(app, "od")
        # Nine refreshes, each a thread worker building a catalog: a count of rounds of
        # background work, given the time such work gets elsewhere (20 s), not 5.
        await until(pilot, lambda: source.calls >= 9, timeout=20, what="nine refreshes")
        await pilot.pause()
        # Three timeouts in a row: one toast. After a success, the same error is news.
        title = "Fetching live prices"
        shown = notices.titled(severity="error")
        assert shown == [(title, timed_out), (title, timed_out), (title, denied)]
        assert column(app, "od") == before
        await pilot.press("q")
    assert app.return_code == 0


async def test_a_bug_in_a_worker_is_logged_shown_in_one_line_and_fails_the_exit(
    tmp_path: Path,
) -> None:
    from dlpick.core.errors import EXIT_BUG
    from dlpick.core.locations import bug_log_file

    source = ScriptedSource(tmp_path, [failing(KeyError("spot_price"))])
    app = make_app(tmp_path, live=lambda _warn: source, refresh_every=0.05)
    notices = Notices()
    async with app.run_test(size=SIZE, notifications=True, message_hook=notices.hook) as pilot:
        await until(pilot, lambda: source.calls >= 3, timeout=20, what="three refreshes")
        await pilot.pause()
        [(title, line)] = notices.titled(severity="error")  # not shown again for the same bug
        assert title == "Fetching live prices"
        assert line == (f"bug in dlpick: KeyError: 'spot_price'; traceback in {bug_log_file()}")
        log = bug_log_file().read_text()
        assert log.count("Traceback") == 1 and "KeyError: 'spot_price'" in log
        assert rows(app)  # the app goes on
        await pilot.press("q")
    assert app.return_code == EXIT_BUG


async def test_no_credentials_says_so_once_and_keeps_browsing(tmp_path: Path) -> None:
    cache = PriceCache(tmp_path / "prices.sqlite")
    app = DlpickApp(
        Catalog(cache=cache, aws=None, snapshot=fixed_snapshot()),
        region="us-east-1",
        live=live_catalogs(None, cache),
        clock=lambda: FIXED_NOW,
    )
    notices = Notices()
    async with app.run_test(size=SIZE, notifications=True, message_hook=notices.hook) as pilot:
        await until(pilot, lambda: "no AWS credentials" in sources(app), timeout=20)
        await pilot.press("g")
        (await on_screen(pilot, RegionPicker)).query_one(OptionList).highlighted = 1
        await pilot.press("enter")
        await until(pilot, lambda: "us-east-1" not in title(app), what="another region shown")
        # The new region's prices fetched (or not, without credentials): the notes are all in.
        await workers_done(pilot, timeout=20)
        messages = notices.messages()
        assert sum("no AWS credentials" in m for m in messages) == 1, messages
        assert "offline: no AWS credentials" in sources(app)
        assert rows(app)


async def test_a_missing_profile_is_named_as_aws_names_it(tmp_path: Path) -> None:
    cache = PriceCache(tmp_path / "prices.sqlite")
    app = DlpickApp(
        Catalog(cache=cache, aws=None, snapshot=fixed_snapshot()),
        region="us-east-1",
        live=live_catalogs("nope", cache),
        clock=lambda: FIXED_NOW,
    )
    missing = "The config profile (nope) could not be found"
    notices = Notices()
    async with app.run_test(size=SIZE, notifications=True, message_hook=notices.hook) as pilot:
        await until(pilot, lambda: missing in sources(app), timeout=20)
        assert f"offline: {missing}" in sources(app)
        assert notices.messages() == [f"showing cached or bundled snapshot prices: {missing}"]
        assert rows(app)


async def test_live_prices_arrive_from_the_aws_peers(aws: AwsPeers, tmp_path: Path) -> None:
    seed(
        aws,
        "us-east-1",
        {"g6.xlarge": 0.7777, "p5.48xlarge": 50.00},
        {"g6.xlarge": {"us-east-1a": 0.2900, "us-east-1c": 0.2500}},
    )
    cache = PriceCache(tmp_path / "prices.sqlite")
    live = live_catalogs(None, cache)
    # Held until the first frame is checked, so the assertion cannot race the worker.
    gate = threading.Event()

    def gated(warn: Callable[[str], None]) -> PriceSource:
        gate.wait(10)
        return live(warn)

    app = DlpickApp(
        Catalog(cache=cache, aws=None, snapshot=fixed_snapshot()),
        region="us-east-1",
        live=gated,
    )
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        assert column(app, "od")["g6.xlarge"] == "0.8048"  # first frame: the snapshot
        assert app.query_one("#spinner").display  # a refresh is under way
        gate.set()
        await until(pilot, lambda: column(app, "od").get("g6.xlarge") == "0.7777", timeout=30)
        assert column(app, "spot")["g6.xlarge"] == "0.2500"
        assert column(app, "od")["p5.48xlarge"] == "50.000"
        assert "on-demand: live" in sources(app) and "offline" not in sources(app)
        await app.workers.wait_for_complete()


# -- pictures ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
@pytest.mark.parametrize("screen", ["main", "detail", "filter", "help", "spot"])
def test_snapshots(
    snap_compare: Callable[..., bool], tmp_path: Path, screen: str, size: tuple[int, int]
) -> None:
    from tests.screenshots import SCREENS

    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=SCREENS[screen])


def test_screens_fit_80_columns(tmp_path: Path) -> None:
    async def widths() -> tuple[int, int]:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            table = table_of(app)
            return table.virtual_size.width, table.scrollable_content_region.width

    content, visible = asyncio.run(widths())
    assert content <= visible  # no horizontal scrolling at 80 columns


def screen_lines(app: DlpickApp) -> list[str]:
    """The screen as it is drawn, line by line."""
    return [strip.text.rstrip() for strip in app.screen._compositor.render_strips()]


@pytest.mark.parametrize("width", [80, 120])
async def test_the_header_is_never_cut(tmp_path: Path, width: int) -> None:
    """The title and the fleet ticker share a line when they fit; at 80 columns the
    ticker goes under the title, and each is whole."""
    from dlpick.tui.widgets.ticker import Ticker

    app = make_app(tmp_path, fixed_aws=True)
    async with app.run_test(size=(width, 24)) as pilot:
        ticker = app.screen.query_one(Ticker)
        await until(pilot, lambda: "running" in str(ticker.render()))
        title = "dlpick  us-east-1 · 10 types · on-demand · FP32 · by $/TF·h ▲"
        fleet = "3 running · $12.85/h · $527.12 spent · 1 idle"

        def drawn() -> bool:
            top = screen_lines(app)[:2]
            if width == 80:
                return [line.strip() for line in top] == [title, fleet]
            return top[0].startswith(f" {title}") and top[0].endswith(fleet)

        await until(pilot, drawn, what="title and ticker drawn whole")
        assert "…" not in "".join(screen_lines(app)[:2])


def test_the_app_module_imports_no_heavy_libraries() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dlpick.tui.app, dlpick.tui.cli.main; "
        "print(sorted(m for m in ('boto3', 'botocore', 'pandas', 'asyncssh') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_an_unusable_price_cache_is_a_note_and_prices_still_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dlpick.tui.app import build_app
    from dlpick.tui.config import Settings

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")  # the cache dir would have to be inside a file
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    app = build_app(Settings(offline=True), "us-east-1")
    notices = Notices()
    async with app.run_test(size=SIZE, notifications=True, message_hook=notices.hook) as pilot:
        await pilot.pause()
        assert len(rows(app)) > 5  # the bundled snapshot's prices
        notes = notices.messages(severity="warning")
        assert any(
            n.startswith("price cache unavailable (") and n.endswith("working without it")
            for n in notes
        ), notes


async def test_a_failing_scan_keeps_the_last_instances_marked_stale_and_says_so_once(
    tmp_path: Path,
) -> None:
    from dlpick.remote.fleet.scan import FleetScan
    from dlpick.tui.screens.instances import InstancesScreen
    from tests.screenshots import FixedAccess, offline_catalog

    timed_out = "us-east-1: listing instances: cannot reach AWS (timed out)"

    class FlakyAccess(FixedAccess):
        scans = 0

        def fleet(self, regions: list[str], catalog: Any) -> FleetScan:
            self.scans += 1
            if self.scans > 1:
                raise AwsError(timed_out)
            return super().fleet(regions, catalog)

    account = FlakyAccess()
    app = DlpickApp(
        offline_catalog(tmp_path),
        region="us-east-1",
        clock=lambda: FIXED_NOW,
        account=account,
        fleet_every=0.05,
    )
    seen: list[Any] = []
    notices = Notices()
    async with app.run_test(size=SIZE, notifications=True, message_hook=notices.hook) as pilot:
        app.watch(app, "fleet", lambda fleet: seen.append(fleet), init=False)
        await until(pilot, lambda: len(seen) >= 4, timeout=20, what="four scans")
        await pilot.pause()
        [first, *then] = seen
        assert first.status == "ok" and first.instances
        assert all(f.status == "error" and f.instances == first.instances for f in then)
        assert notices.titled(severity="error") == [("Scanning your instances", timed_out)]
        await pilot.press("i")
        instances = await on_screen(pilot, InstancesScreen)
        status = instances.query_one("#instances-status", Static)
        await until(
            pilot,
            lambda: f"last scan failed: {timed_out}" in str(status.render()),
            what="the failed scan on the instances screen",
            seen=status.render,
        )


async def test_a_retiring_type_is_marked_in_the_table_and_the_detail_pane(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from tests import screenshots

    snap = fixed_snapshot()
    spec = dataclasses.replace(snap.specs["g6.xlarge"], instance_type="p3.2xlarge")
    snap.specs["p3.2xlarge"] = spec
    snap.regions["us-east-1"].on_demand["p3.2xlarge"] = 3.06
    snap.regions["us-east-1"].offered.add("p3.2xlarge")
    monkeypatch.setattr(screenshots, "fixed_snapshot", lambda: snap)
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        types = column(app, "type")
        assert types["p3.2xlarge"] == "p3.2xlarge †" and types["g6.xlarge"] == "g6.xlarge"
        pane = app.query_one(DetailPane)
        await pilot.press("d")
        await until(pilot, lambda: pane.display, what="the detail pane open")
        table = table_of(app)
        table.move_cursor(row=table.get_row_index("p3.2xlarge"))
        await until(pilot, lambda: showing(pane, "p3.2xlarge"), what="p3.2xlarge in the pane")
        line = _plain(pane.query_one("#detail-retiring", Static))
        assert "retiring 2025-12-20" in line and "kubernetes-on-aws/pull/8685" in line
        table.move_cursor(row=table.get_row_index("g6.xlarge"))
        await until(pilot, lambda: showing(pane, "g6.xlarge"), what="g6.xlarge in the pane")
        assert not pane.query_one("#detail-retiring", Static).display


async def test_detail_pane_dates_the_interruption_band_and_flags_it_old(tmp_path: Path) -> None:
    """The bundled advisor copy is of no later than 2025-06-28; the app's clock says
    2026-09-01, so the band is at least 430 days old."""
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "bands:" not in sources(app)  # the on-demand view shows no band
        pane = app.query_one(DetailPane)
        await pilot.press("d")
        await until(pilot, lambda: pane.display, what="the detail pane open")
        table = table_of(app)
        table.move_cursor(row=table.get_row_index("g6.xlarge"))
        await until(pilot, lambda: showing(pane, "g6.xlarge"), what="g6.xlarge in the pane")
        cost = " ".join(_plain(pane.query_one("#detail-cost", Static)).split())
        assert "spot interruption: >20% a month, saves 49% (Spot Instance Advisor)" in cost
        dated = "bands: snapshot, no later than 2025-06-28 (at least 430 days ago)"
        assert f"{dated}, older than 90 days" in cost
        await pilot.press("v")  # the spot view shows bands in the table: dated there too
        await until(
            pilot,
            lambda: f"{dated}, older than 90 days" in " ".join(sources(app).split()),
            what="the spot view's dated bands",
        )


async def test_detail_pane_marks_matrix_fp32_and_says_what_a_figure_needs(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert column(app, "tflops")["trn1.2xlarge"] == "47.5^"
        assert column(app, "tflops")["g6f.large"] == "3.8~"
        assert column(app, "tflops")["g6.xlarge"] == "30.3 "
        pane = app.query_one(DetailPane)
        await pilot.press("d")
        await until(pilot, lambda: pane.display, what="the detail pane open")
        table = table_of(app)
        notes = pane.query_one("#detail-notes", Static)

        async def show(itype: str) -> tuple[str, str]:
            table.move_cursor(row=table.get_row_index(itype))
            await until(pilot, lambda: showing(pane, itype), what=f"{itype} in the pane")
            title = _plain(pane.query_one("#detail-title", Static))
            return title, " ".join(_plain(notes).split()) if notes.display else ""

        title, said = await show("trn1.2xlarge")
        assert "FP32 47.5 TF (datasheet, matrix engine ^)" in title
        assert "vector FP32 is 2 x 2.3 = 4.6 TF (NeuronCore-v2 VectorEngine)" in said
        title, said = await show("g6f.large")
        assert "per L4: FP32 30.3 TF (datasheet)" in title
        assert "g6f.large: FP32 3.8 TF, BF16 15.1 TF (derived: 1/8 × L4)" in said
        title, said = await show("g5.xlarge")
        assert "FP32: as quoted from NVIDIA's A10G datasheet by third parties" in said
        title, said = await show("p5.48xlarge")
        assert "matrix" not in title and said == ""  # nothing to add: no notes line
