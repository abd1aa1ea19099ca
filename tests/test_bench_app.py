"""The app's side of measured TFLOPs: `m`'s measured views, the detail pane, and `B`."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import boto3
import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, ProgressBar, Static
from textual.widgets.data_table import ColumnKey

from dlpick.pricing import measurements
from dlpick.remote.ssh.bench import active_runs
from dlpick.remote.ssh.connection import connect
from dlpick.remote.ssh.runs import start_run
from dlpick.remote.ssh.target import Target
from dlpick.tui.account import AwsAccess, connect_with
from dlpick.tui.app import DlpickApp
from dlpick.tui.config import load_settings
from dlpick.tui.screens.bench import BenchScreen
from dlpick.tui.screens.confirm_action import ConfirmAction
from dlpick.tui.screens.prices import PricesScreen
from dlpick.tui.screens.runs import RunsScreen
from dlpick.tui.widgets.detail import DetailPane
from tests.conftest import AwsPeers
from tests.launch_fixtures import REGION, only_regions
from tests.log_replay import HostApp
from tests.peers.sshd import SSH_ALIAS, Sshd
from tests.screenshots import make_app, offline_catalog
from tests.test_app import SIZE, column, showing, title
from tests.test_bench import NUMPY_PYTHON, gpu, host_python
from tests.test_fleet import start
from tests.test_ssh_runs import map_instance_to_sshd
from tests.ui import on_screen, until


@pytest.fixture
def measured_p5() -> None:
    """The user's store: one H100 measurement of p5.48xlarge, one CPU figure of g6.xlarge."""
    measurements.write(
        measurements.store_file(),
        [
            gpu("p5.48xlarge", "2026-11-20T10:00:00Z", 400.0, 5000.0, chip="NVIDIA H100"),
            gpu("g6.xlarge", "2026-11-21T10:00:00Z", 0.3, None, backend="torch-cpu"),
        ],
    )


def metric_changed(screen: PricesScreen, before: tuple[str, bool]) -> bool:
    return (screen.view.metric, screen.view.measured) != before


async def test_m_cycles_through_the_measured_views(tmp_path: Path, measured_p5: None) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        datasheet = column(app, "tflops")
        labels = []
        screen = app.prices
        table = app.query_one("#prices", DataTable)
        for _ in range(4):
            before = (screen.view.metric, screen.view.measured)
            await pilot.press("m")
            await until(pilot, partial(metric_changed, screen, before), what="the next metric")
            labels.append(str(table.columns[ColumnKey("tflops")].label))
            if "measured FP32" in title(app):
                fp32 = column(app, "tflops")
                per_tf = column(app, "od_tf")["p5.48xlarge"]
        assert labels == ["BF16 TF", "FP32 TF", "BF16 TF", "FP32 TF"]
        # Measured FP32: 400 TF for p5.48xlarge at $55.04/h; the CPU figure of
        # g6.xlarge does not count, so it keeps its datasheet figure, marked.
        assert fp32["p5.48xlarge"].strip() == "400"
        assert float(per_tf) == pytest.approx(55.04 / 400, abs=1e-4)
        assert fp32["g6.xlarge"] == datasheet["g6.xlarge"].rstrip() + "*"
        assert "* datasheet, not measured" not in title(app)  # back on datasheet FP32
        assert column(app, "tflops") == datasheet


async def test_detail_pane_shows_datasheet_vs_measured(tmp_path: Path, measured_p5: None) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one("#prices", DataTable)
        pane = app.query_one(DetailPane)
        await pilot.press("d")
        await until(pilot, lambda: pane.display, what="the detail pane open")
        table.move_cursor(row=table.get_row_index("p5.48xlarge"))
        await until(pilot, lambda: showing(pane, "p5.48xlarge"), what="p5.48xlarge in the pane")
        text = static_text(app.query_one("#detail-title", Static))
        # 8 H100s at 67 TF FP32 each on the datasheet: 536; measured 400 is 75%.
        assert "measured: FP32 400 TF of 536 datasheet (75%)" in text
        assert "2026-11-20, torch-cuda, driver 550.54.15, on i-0abc" in text
        table.move_cursor(row=table.get_row_index("g6.xlarge"))
        await until(pilot, lambda: showing(pane, "g6.xlarge"), what="g6.xlarge in the pane")
        text = static_text(app.query_one("#detail-title", Static))
        assert "measured: not yet" in text


async def _detail_p5(pilot: Pilot[None]) -> None:
    table = pilot.app.query_one("#prices", DataTable)
    pane = pilot.app.query_one(DetailPane)
    await pilot.press("d")
    await until(pilot, lambda: pane.display, what="the detail pane open")
    table.move_cursor(row=table.get_row_index("p5.48xlarge"))
    await until(pilot, lambda: showing(pane, "p5.48xlarge"), what="p5.48xlarge in the pane")


def test_detail_snapshot_with_a_measurement(
    snap_compare: Callable[..., bool], tmp_path: Path, measured_p5: None
) -> None:
    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, run_before=_detail_p5)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
def test_bench_screen_snapshot(
    snap_compare: Callable[..., bool], tmp_path: Path, size: tuple[int, int]
) -> None:
    from tests.screenshots import SCREENS

    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=SCREENS["bench"])


@pytest.fixture
def numpy_host(sshd: Sshd, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sshd]:
    host_python(sshd, NUMPY_PYTHON)
    monkeypatch.setattr(BenchScreen, "seconds", 2.0)
    yield sshd
    (sshd.remote_bin / "python3").unlink()


def static_text(static: Static) -> str:
    """The plain text of a Static holding Rich renderables (a Group of Texts and tables)."""
    from rich.console import Console

    console = Console(width=200, record=True, file=open(os.devnull, "w"))
    console.print(static.content)
    return console.export_text()


def result_text(app: App[None]) -> str:
    return static_text(app.screen.query_one("#bench-result", Static))


async def press_b_on_the_runs_screen(app: HostApp, pilot: Pilot[None]) -> None:
    runs = app.screen
    assert isinstance(runs, RunsScreen)
    await until(pilot, lambda: runs.loaded, timeout=15)
    await pilot.press("B")


async def test_b_on_the_runs_screen_benchmarks_the_host(numpy_host: Sshd) -> None:
    app = HostApp(RunsScreen(SSH_ALIAS, None))
    async with app.run_test(size=SIZE) as pilot:
        await press_b_on_the_runs_screen(app, pilot)
        bar = (await on_screen(pilot, BenchScreen)).query_one(ProgressBar)
        await until(pilot, lambda: (bar.progress or 0) > 0.5, timeout=15)
        await until(pilot, lambda: "all at once" in result_text(app), timeout=20)
        assert "numpy-cpu" in result_text(app) and "kept in" in result_text(app)
        assert bar.progress == bar.total == 2.0
        (kept,) = measurements.read(measurements.store_file())
        assert kept.backend == "numpy-cpu" and kept.source == SSH_ALIAS
        await pilot.press("escape")
        await on_screen(pilot, RunsScreen)


async def test_a_store_that_cannot_be_read_still_shows_the_figures(numpy_host: Sshd) -> None:
    store = measurements.store_file()
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text("not,a,measurements,file\n")
    app = HostApp(RunsScreen(SSH_ALIAS, None))
    async with app.run_test(size=SIZE) as pilot:
        await press_b_on_the_runs_screen(app, pilot)
        await until(pilot, lambda: "all at once" in result_text(app), timeout=20)
        shown = " ".join(result_text(app).split())
        assert f"not kept: {store} is not a dlpick measurements file" in shown
    assert store.read_text() == "not,a,measurements,file\n"


async def test_b_during_a_run_asks_then_goes_ahead(numpy_host: Sshd) -> None:
    # It ends when told, or when the test host's home is gone: nothing outlives the test.
    hold = 'while [ -d "$HOME" ] && [ ! -f "$HOME/go-on" ]; do sleep 0.2; done'
    conn = await connect(Target(host=SSH_ALIAS))
    await start_run(conn, [hold])
    for _ in range(100):  # until the host says it runs (its pid file written)
        if await active_runs(conn):
            break
        await asyncio.sleep(0.05)
    conn.close()
    try:
        app = HostApp(RunsScreen(SSH_ALIAS, None))
        async with app.run_test(size=SIZE) as pilot:
            await press_b_on_the_runs_screen(app, pilot)
            confirm = await on_screen(pilot, ConfirmAction, timeout=15)
            assert not measurements.store_file().exists()
            confirm.query_one("#confirm-yes", Button).press()
            await on_screen(pilot, BenchScreen)
            await until(pilot, lambda: "all at once" in result_text(app), timeout=20)
            assert len(measurements.read(measurements.store_file())) == 1
    finally:
        (numpy_host.remote_home / "go-on").touch()


async def test_b_on_the_instances_screen_labels_the_result_with_its_type(
    aws: AwsPeers,
    numpy_host: Sshd,
    isolated_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    only_regions(monkeypatch, REGION)
    iid = start(REGION)["InstanceId"]  # a g6.xlarge dlpick manages
    ec2 = boto3.client("ec2", region_name=REGION)
    (instance,) = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"]
    map_instance_to_sshd(numpy_host, isolated_home, instance["PublicIpAddress"])
    account = AwsAccess(connect_with(None), settings=load_settings())
    app = DlpickApp(offline_catalog(tmp_path), region=REGION, account=account, fleet_every=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("i")
        await until(
            pilot, lambda: app.screen.query_one("#instances", DataTable).row_count > 0, timeout=20
        )
        await pilot.press("B")
        await until(pilot, lambda: isinstance(app.screen, BenchScreen))
        await until(pilot, lambda: "all at once" in result_text(app), timeout=30)
    (kept,) = measurements.read(measurements.store_file())
    # The type and region come from EC2's answer, not from the host.
    assert (kept.instance_type, kept.region, kept.source) == ("g6.xlarge", REGION, iid)
