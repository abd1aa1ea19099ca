"""Spot price history: 30 days seeded at known times in the EC2 front, each summary figure
checked to the cent against a computation written out here, paging, and the command."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dlpick.core.aws import Aws
from dlpick.core.errors import EXIT_ERROR, EXIT_PARTIAL, EXIT_USAGE
from dlpick.pricing.spot_history import HistorySummary, fetch_history, summarise
from dlpick.tui.cli.main import main
from dlpick.tui.cli.spot import FIELDS
from dlpick.tui.widgets.spot_chart import SETTLE_SECONDS, SpotHistoryLines
from tests.conftest import AwsPeers
from tests.peers.ec2_front import Ec2Front
from tests.peers.pricing_api import ec2_product
from tests.screenshots import FIXED_NOW

if TYPE_CHECKING:
    from rich.text import Text
    from textual.pilot import Pilot
    from textual.widgets import DataTable

    from dlpick.tui.app import DlpickApp

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=30)
OD = 0.8048  # g6.xlarge on-demand in us-east-1: half is 0.4024
H = timedelta(hours=1)
M = timedelta(minutes=1)


def seed_month(front: Ec2Front, now: datetime = NOW, region: str = "us-east-1") -> None:
    """Three AZs over the 30 days before `now`.

    a: 0.40 from before the window, then 0.35 at +100h30, 0.45 at +250h15, 0.30 at
       +500h40, 0.30 again at +650h05 (no change), 0.42 at +700h20.
    b: 0.33 since five days before the window: no change in it (an older 0.50 is not in
       effect at the start, so AWS does not return it).
    c: 0.25 from an hour before the window, a spike to 0.60 from +10h20 to +11h50,
       0.28 from +400h exactly (on an hour mark), 0.31 from +719h59.
    Decoys: a SUSE record, another type, a record after `now`.
    """
    start = now - timedelta(days=30)
    add = front.state.history.add
    t, z = "g6.xlarge", region
    for at, usd in (
        (start - 3 * H, 0.40),
        (start + 100 * H + 30 * M, 0.35),
        (start + 250 * H + 15 * M, 0.45),
        (start + 500 * H + 40 * M, 0.30),
        (start + 650 * H + 5 * M, 0.30),
        (start + 700 * H + 20 * M, 0.42),
    ):
        add(region, t, f"{z}a", at, usd)
    add(region, t, f"{z}b", start - timedelta(days=10), 0.50)
    add(region, t, f"{z}b", start - timedelta(days=5), 0.33)
    for at, usd in (
        (start - H, 0.25),
        (start + 10 * H + 20 * M, 0.60),
        (start + 11 * H + 50 * M, 0.25),
        (start + 400 * H, 0.28),
        (start + 719 * H + 59 * M, 0.31),
    ):
        add(region, t, f"{z}c", at, usd)
    add(region, t, f"{z}a", start + 5 * H, 0.01, product="SUSE Linux")
    add(region, "p5.48xlarge", f"{z}a", start + 5 * H, 30.0)
    add(region, t, f"{z}a", now + 2 * H, 9.99)


def cents(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def figures(summary: HistorySummary, az: str) -> dict[str, float | int | None]:
    zone = summary.zone(az)
    assert zone is not None, az
    return {
        "current": cents(zone.current),
        "min": cents(zone.minimum),
        "median": cents(zone.median),
        "p90": cents(zone.p90),
        "max": cents(zone.maximum),
        "mean": cents(zone.mean),
        "below_half_percent": None
        if zone.below_half_share is None
        else round(zone.below_half_share * 100, 2),
        "changes": zone.changes,
    }


# The window is 30 days = 43,200 minutes; hour marks +0h..+720h are 721 values, so the
# median is the 361st smallest (rank 360 from 0) and p90 the 649th (rank 648), exactly.
#
# a: held 0.40 for 6,030 min (to +100h30), 0.35 for 8,985, 0.45 for 15,025, 0.30 for
#    11,980 (the +650h05 record repeats it), 0.42 for 1,180 (to +720h):
#    mean = (0.40*6030 + 0.35*8985 + 0.45*15025 + 0.30*11980 + 0.42*1180) / 43200
#         = (2412 + 3144.75 + 6761.25 + 3594 + 495.6) / 43200 = 16407.6 / 43200 = 0.3798
#    hourly: 0.40 at +0..+100 (101), 0.35 at +101..+250 (150), 0.45 at +251..+500 (250),
#    0.30 at +501..+700 (200), 0.42 at +701..+720 (20). Sorted: 0.30 x200 (ranks 0-199),
#    0.35 x150 (200-349), 0.40 x101 (350-450), 0.42 x20 (451-470), 0.45 x250 (471-720):
#    median 0.40, p90 0.45; below 0.4024: 200+150+101 = 451/721 = 62.55%; changes 4.
# b: 0.33 throughout: every figure 0.33, 721/721 below half, no change.
# c: held 0.25 for 620 min, 0.60 for 90, 0.25 for 23,290 (to +400h), 0.28 for 19,199,
#    0.31 for 1 (+719h59 to +720h):
#    mean = (155 + 54 + 5822.5 + 5375.72 + 0.31) / 43200 = 11407.53 / 43200 = 0.2641
#    hourly: 0.25 at +0..+10 (11), 0.60 at +11 (1), 0.25 at +12..+399 (388), 0.28 at
#    +400..+719 (320), 0.31 at +720 (1). Sorted: 0.25 x399 (0-398), 0.28 x320 (399-718),
#    0.31, 0.60: median 0.25, p90 0.28; min 0.25, max 0.60 (held 90 minutes, between two
#    of which hour +11 falls in it); below half 720/721 = 99.86%; changes 4.
EXPECTED = {
    "us-east-1a": {
        "current": 0.42,
        "min": 0.30,
        "median": 0.40,
        "p90": 0.45,
        "max": 0.45,
        "mean": round(16407.6 / 43200, 2),
        "below_half_percent": round(451 / 721 * 100, 2),
        "changes": 4,
    },
    "us-east-1b": {
        "current": 0.33,
        "min": 0.33,
        "median": 0.33,
        "p90": 0.33,
        "max": 0.33,
        "mean": 0.33,
        "below_half_percent": 100.0,
        "changes": 0,
    },
    "us-east-1c": {
        "current": 0.31,
        "min": 0.25,
        "median": 0.25,
        "p90": 0.28,
        "max": 0.60,
        "mean": round(11407.53 / 43200, 2),
        "below_half_percent": round(720 / 721 * 100, 2),
        "changes": 4,
    },
}


def test_each_summary_figure_matches_the_hand_computation(
    ec2_front: Ec2Front,
) -> None:
    seed_month(ec2_front)
    history = fetch_history(Aws().ec2("us-east-1"), "g6.xlarge", "us-east-1", now=NOW)
    summary = summarise(history, OD, "live")
    assert {z.az: figures(summary, z.az) for z in summary.zones} == EXPECTED
    assert EXPECTED["us-east-1a"]["mean"] == 0.38 and EXPECTED["us-east-1c"]["mean"] == 0.26
    cheapest = summary.cheapest
    assert cheapest is not None and cheapest.az == "us-east-1c"
    # The hourly series: 721 marks, the window's first and last hour included.
    assert summary.hours[0] == START and summary.hours[-1] == NOW and len(summary.hours) == 721
    assert summary.hourly["us-east-1c"][11] == 0.60 and summary.hourly["us-east-1c"][12] == 0.25
    assert summary.hourly["us-east-1a"][100] == 0.40 and summary.hourly["us-east-1a"][101] == 0.35
    # The steps the chart draws: from the window start, each change (not a repeat) on.
    assert summary.steps["us-east-1a"] == (
        (START, 0.40),
        (START + 100 * H + 30 * M, 0.35),
        (START + 250 * H + 15 * M, 0.45),
        (START + 500 * H + 40 * M, 0.30),
        (START + 700 * H + 20 * M, 0.42),
    )
    assert summary.steps["us-east-1b"] == ((START, 0.33),)
    assert [at - START for at, _ in summary.steps["us-east-1c"]] == [
        timedelta(0),
        10 * H + 20 * M,
        11 * H + 50 * M,
        400 * H,
        719 * H + 59 * M,
    ]
    # What was asked: the whole window, Linux only, the one type.
    [asked] = ec2_front.state.asked("DescribeSpotPriceHistory")
    assert asked["StartTime"].startswith("2026-10-31T12:00:00")
    assert asked["EndTime"].startswith("2026-11-30T12:00:00")
    assert asked["InstanceType.1"] == "g6.xlarge"


def test_the_history_is_read_page_by_page(ec2_front: Ec2Front) -> None:
    seed_month(ec2_front)
    ec2 = Aws().ec2("us-east-1")
    whole = fetch_history(ec2, "g6.xlarge", "us-east-1", now=NOW)
    ec2_front.state.requests.clear()
    paged = fetch_history(ec2, "g6.xlarge", "us-east-1", now=NOW, page_size=5)
    # 12 records (a: the one in effect at the start + 5, b: 1, c: 1 + 4) in pages of 5.
    assert len(paged.changes) == 12
    asked = ec2_front.state.asked("DescribeSpotPriceHistory")
    assert [a["MaxResults"] for a in asked] == ["5", "5", "5"]
    assert [a.get("NextToken") for a in asked] == [None, "5", "10"]
    assert paged.changes == whole.changes


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["spot-history", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def month(aws: AwsPeers, ec2_front: Ec2Front) -> Ec2Front:
    """The month seeded up to this hour, and g6.xlarge's on-demand price in us-east-1.

    The command's window ends at its own clock, a moment after this hour: its first
    hour mark is +1h, so 720 marks; no seeded change is that close to either end.
    """
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    seed_month(ec2_front, now)
    aws.pricing.products.append(ec2_product("g6.xlarge", "us-east-1", OD))
    return ec2_front


def test_the_table_fits_80_columns_and_names_the_cheapest_az(
    month: Ec2Front, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run(capsys, "g6.xlarge", "--region", "us-east-1")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80, out
    rows = {
        line.split()[0]: line.split()[1:] for line in out.splitlines() if "us-east-1" in line[:12]
    }
    # Now, min, median, p90, max, mean, share below half on-demand, changes.
    assert rows["us-east-1a"] == [
        "$0.4200",
        "$0.3000",
        "$0.4000",
        "$0.4500",
        "$0.4500",
        "$0.3798",
        "62.5%",
        "4",
    ]
    assert rows["us-east-1b"] == ["$0.3300"] * 6 + ["100.0%", "0"]
    assert rows["us-east-1c"][:6] == [
        "$0.3100",
        "$0.2500",
        "$0.2500",
        "$0.2800",
        "$0.6000",
        "$0.2641",
    ]
    assert "cheapest AZ by time-weighted mean: us-east-1c ($0.2641/h)" in out
    assert "on-demand: $0.8048/h (live," in out


def test_json_carries_the_summary_and_the_hourly_series(
    month: Ec2Front, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "g6.xlarge", "--region", "us-east-1", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["cheapest_az"] == "us-east-1c" and data["days"] == 30
    assert (data["on_demand_usd_hour"], data["history_source"]) == (OD, "live")
    assert data["on_demand_source"].startswith("live, ")
    zones = {z["availability_zone"]: z for z in data["zones"]}
    assert round(zones["us-east-1a"]["mean_usd_hour"], 2) == 0.38
    assert zones["us-east-1c"]["max_usd_hour"] == 0.60 and zones["us-east-1c"]["changes"] == 4
    assert zones["us-east-1b"]["below_half_on_demand_share"] == 1.0
    hourly = data["hourly"]
    assert len(hourly["hours"]) == 720 and set(hourly["usd_hour"]) == set(zones)
    assert all(len(v) == 720 for v in hourly["usd_hour"].values())
    # Mark +11h fell inside c's 90-minute spike; the list starts at +1h.
    assert hourly["usd_hour"]["us-east-1c"][10] == 0.60
    assert hourly["usd_hour"]["us-east-1b"] == [0.33] * 720


def test_csv_has_a_row_per_az_and_the_cache_answers_the_second_run(
    month: Ec2Front, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "g6.xlarge", "--region", "us-east-1", "--format", "csv")
    assert code == 0, err
    header, *rows = [line.split(",") for line in out.splitlines()]
    assert header == list(FIELDS)
    assert [(r[2], r[3], r[10]) for r in rows] == [
        ("us-east-1a", "0.42", "4"),
        ("us-east-1b", "0.33", "0"),
        ("us-east-1c", "0.31", "4"),
    ]
    asked = len(month.state.asked("DescribeSpotPriceHistory"))
    code, again, _ = run(capsys, "g6.xlarge", "--region", "us-east-1", "--format", "csv")
    assert code == 0
    # The same figures; the on-demand price now comes from the cache too.
    assert again.replace('"cache, ', '"live, ') == out
    # The catalog's current spot prices ask too; the history itself came from the cache.
    histories = [a for a in month.state.asked("DescribeSpotPriceHistory") if "EndTime" in a]
    assert len(histories) == 1 and len(month.state.asked("DescribeSpotPriceHistory")) >= asked
    run(capsys, "g6.xlarge", "--region", "us-east-1", "--format", "csv", "--refresh")
    assert len([a for a in month.state.asked("DescribeSpotPriceHistory") if "EndTime" in a]) == 2


def test_all_regions_give_a_line_each_and_name_the_one_that_failed(
    month: Ec2Front, aws: AwsPeers, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    month.state.history.add("eu-west-2", "g6.xlarge", "eu-west-2b", now - timedelta(days=40), 0.29)
    aws.pricing.products.append(ec2_product("g6.xlarge", "eu-west-2", 0.95))
    month.state.history.failing_regions.add("ap-south-1")
    code, out, err = run(capsys, "g6.xlarge", "--region", "all", "--format", "csv")
    assert code == EXIT_PARTIAL, err
    assert "ap-south-1" in err and "not authorized" in err
    rows = [line.split(",") for line in out.splitlines()[1:]]
    # One line per region with a history, its cheapest AZ, the lowest mean first.
    assert [(r[1], r[2], r[11]) for r in rows] == [
        ("us-east-1", "us-east-1c", "0.8048"),
        ("eu-west-2", "eu-west-2b", "0.95"),
    ]
    assert round(float(rows[0][8]), 2) == 0.26 and rows[1][8] == "0.29"


def test_every_region_failing_is_one_error(
    month: Ec2Front, capsys: pytest.CaptureFixture[str]
) -> None:
    from dlpick.core.regions import enabled_regions

    month.state.history.failing_regions.update(enabled_regions(Aws().ec2("us-east-1")))
    code, out, err = run(capsys, "g6.xlarge", "--region", "all")
    assert code == EXIT_ERROR and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "not authorized" in err


def test_an_endpoint_that_does_not_answer_is_one_line(
    aws: AwsPeers, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    for region in ("us-east-1", "all"):
        code, out, err = run(capsys, "g6.xlarge", "--region", region)
        assert code == EXIT_ERROR and out == ""
        assert len(err.splitlines()) == 1 and err.startswith("error: "), err
        assert "cannot reach AWS at http://127.0.0.1:9/" in err


def test_offline_is_refused_and_a_type_without_history_is_said(
    month: Ec2Front, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "g6.xlarge", "--offline")
    assert code == EXIT_USAGE and "--offline: dlpick spot-history needs AWS" in err
    code, out, err = run(capsys, "g5.xlarge", "--region", "us-east-1")
    assert code == EXIT_ERROR and out == ""
    assert err.startswith("error: no Linux spot price for g5.xlarge in us-east-1 over the last 30")


# -- the app's detail pane -----------------------------------------------------


def app_with_history_held_back(front: Ec2Front, tmp_path: Path) -> DlpickApp:
    """The app over the seeded month, with AWS slow to answer the history (held back)."""
    from tests.test_app_aws import aws_app

    seed_month(front, datetime.fromtimestamp(FIXED_NOW, UTC))
    front.state.history.flowing.clear()
    return aws_app(tmp_path)


async def g6_asked_about(
    app: DlpickApp, pilot: Pilot[None], front: Ec2Front
) -> tuple[DataTable[Any], SpotHistoryLines]:
    """g6.xlarge highlighted with the detail pane open, once AWS has been asked."""
    from tests.test_app import table_of
    from tests.ui import until

    table = table_of(app)
    table.move_cursor(row=table.get_row_index("g6.xlarge"))
    chart = app.screen.query_one("#detail-history", SpotHistoryLines)
    await pilot.press("d")
    await until(pilot, lambda: bool(front.state.asked("DescribeSpotPriceHistory")), timeout=20)
    return table, chart


async def test_the_detail_pane_charts_the_history_after_the_first_frame(
    ec2_front: Ec2Front, tmp_path: Path
) -> None:
    """The last 7 days of the seeded month, ending at the app's fixed clock.

    From +552h: a holds 0.30 for 8,900 min then 0.42 for 1,180 (mean 3165.6 / 10080 =
    0.3140); b 0.33; c 0.28 for 10,079 min then 0.31 for one (mean 0.2800): c is the
    cheapest, and 24 hours at its mean cost 24 x 0.280003 = $6.72.
    """
    from tests.test_app_aws import text_of
    from tests.ui import until, workers_done

    app = app_with_history_held_back(ec2_front, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        table, chart = await g6_asked_about(app, pilot, ec2_front)
        # The pane is drawn while AWS has not answered: it says it is asking.
        await pilot.pause()
        assert chart.summary is None and "asking AWS" in text_of(app, "#history-note")
        assert "7-day mean" not in text_of(app, "#detail-cost")
        ec2_front.state.history.flowing.set()
        await until(pilot, lambda: chart.summary is not None, timeout=20)
        # The chart, and the pane's estimate told of it by a message, drawn.
        await until(
            pilot,
            lambda: (
                "cheapest by mean" in text_of(app, "#history-heading")
                and "7-day mean" in text_of(app, "#detail-cost")
            ),
            what="the history drawn in the chart and the estimate",
        )
        heading = text_of(app, "#history-heading")
        assert "Spot price per AZ in $/h, last 7 days" in heading
        assert "cheapest by mean: us-east-1c" in heading
        legend = text_of(app, "#history-legend")
        lines = {line.split()[1]: line for line in legend.splitlines()}
        assert set(lines) == {"us-east-1a", "us-east-1b", "us-east-1c", "on-demand"}
        assert "mean $0.3140 now $0.4200" in lines["us-east-1a"]
        assert "mean $0.2800 now $0.3100" in lines["us-east-1c"]
        assert "$0.8048/h" in lines["on-demand"]
        assert not app.screen.query_one("#history-note").display
        cost = " ".join(text_of(app, "#detail-cost").split())
        assert "spot now (us-east-1b) $8.33" in cost
        assert "spot 7-day mean (us-east-1c) $6.72 $6.72" in cost
        [asked] = ec2_front.state.asked("DescribeSpotPriceHistory")
        assert asked["StartTime"].startswith("2026-08-25T12:00:00")
        # Rows passed quickly are not asked about: only the one the cursor rests on.
        for _ in range(3):  # three moves before the loop runs again, as a key held down
            table.action_cursor_down()
        last = str(table.get_row_at(table.cursor_row)[0])
        await until(pilot, lambda: last in chart.note, timeout=20)
        assert last != "g6.xlarge" and "no Linux spot price" in chart.note
        assert text_of(app, "#history-note").startswith("spot history: no Linux spot price")
        assert not app.screen.query_one("#history-chart").display
        assert len(ec2_front.state.asked("DescribeSpotPriceHistory")) == 2
        # Back on g6.xlarge: drawn from what the pane kept, not asked again.
        table.move_cursor(row=table.get_row_index("g6.xlarge"))

        def g6_drawn() -> bool:
            summary = chart.summary
            return summary is not None and summary.history.instance_type == "g6.xlarge"

        await until(pilot, g6_drawn, what="g6.xlarge's history drawn again")
        await pilot.pause(SETTLE_SECONDS + 0.2)  # long enough for a new question
        await workers_done(pilot, group="spot-history", timeout=20)
        assert app.screen.query_one("#history-chart").display
        assert not app.screen.query_one("#history-note").display
        assert len(ec2_front.state.asked("DescribeSpotPriceHistory")) == 2


async def test_a_row_shown_again_while_its_history_is_on_the_way_is_not_asked_twice(
    ec2_front: Ec2Front, tmp_path: Path
) -> None:
    """The table is redrawn (prices arrive, a scan ends) while AWS has not answered: the
    same type, a new Offer, shown again. It waits for the answer on its way."""
    from dataclasses import replace

    from tests.ui import until

    app = app_with_history_held_back(ec2_front, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        _table, chart = await g6_asked_about(app, pilot, ec2_front)
        assert chart.offer is not None
        for _ in range(3):
            chart.show(replace(chart.offer))
            await pilot.pause(SETTLE_SECONDS + 0.2)  # long enough for a new question
        assert "asking AWS" in chart.note
        ec2_front.state.history.flowing.set()
        await until(pilot, lambda: chart.summary is not None, timeout=20)
        assert len(ec2_front.state.asked("DescribeSpotPriceHistory")) == 1


async def test_a_history_aws_refuses_is_one_line_in_the_pane(
    ec2_front: Ec2Front, tmp_path: Path
) -> None:
    from tests.test_app import table_of
    from tests.test_app_aws import aws_app, text_of
    from tests.ui import until

    ec2_front.state.history.failing_regions.add("us-east-1")
    app = aws_app(tmp_path)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        table = table_of(app)
        table.move_cursor(row=table.get_row_index("g6.xlarge"))
        chart = app.screen.query_one("#detail-history", SpotHistoryLines)
        await pilot.press("d")
        await until(pilot, lambda: "not read" in chart.note, timeout=20)
        text = text_of(app, "#history-note").strip()
        assert text.startswith("spot history: not read — permission denied") and "\n" not in text
        assert "7-day mean" not in text_of(app, "#detail-cost")


# -- the chart -------------------------------------------------------------------------


def two_zones() -> HistorySummary:
    """A week in ap-southeast-1 (long AZ names): 1a at $0.30 throughout, 1b at $0.50 with
    $0.70 from +50h to +100h (its mean (0.50 x 118 + 0.70 x 50) / 168 = $0.5595);
    on-demand $0.90."""
    from dlpick.pricing.spot_history import History, PriceChange

    end = datetime(2026, 12, 2, 12, tzinfo=UTC)
    start = end - timedelta(days=7)
    changes = (
        PriceChange("ap-southeast-1a", start - H, 0.30),
        PriceChange("ap-southeast-1b", start - H, 0.50),
        PriceChange("ap-southeast-1b", start + 50 * H, 0.70),
        PriceChange("ap-southeast-1b", start + 100 * H, 0.50),
    )
    history = History("g6.xlarge", "ap-southeast-1", start, end, changes)
    return summarise(history, 0.9, "snapshot, 2026-08-26")


def colours_by_row(text: Text) -> list[tuple[str, set[tuple[int, int, int]]]]:
    """Each line of the rendered plot: its characters, and the colours drawn on it."""
    out = []
    for line in text.split("\n"):
        colours = set()
        for span in line.spans:
            colour = getattr(span.style, "color", None)
            if (
                colour is not None
                and colour.triplet is not None
                and line.plain[span.start : span.end].strip(" │┤├")
            ):
                colours.add(tuple(colour.triplet))
        out.append((line.plain, colours))
    return out


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
async def test_the_chart_draws_a_line_per_az_and_on_demand_on_dated_price_axes(
    size: tuple[int, int],
) -> None:
    """The plot: $/h marks on the left, a date at each midnight below, each AZ's line
    in its legend colour at its price on the one scale, on-demand's across at the
    top; the legend names each AZ with its figures, in full from 100 columns on, by
    its letter in two columns at 80. Nothing is wider than the pane."""
    from rich.console import Console
    from rich.text import Text
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    from dlpick.tui.widgets.spot_plot import (
        AZ_COLOURS,
        ON_DEMAND_COLOUR,
        HistoryChart,
        HistoryPlot,
    )

    summary = two_zones()

    class ChartApp(App[None]):
        def compose(self) -> ComposeResult:
            yield HistoryChart(summary)

    app = ChartApp()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        chart = app.query_one(HistoryChart)
        plot = app.query_one(HistoryPlot)
        compact = size[0] < 100
        assert chart.compact is compact
        rendered = plot.render()
        assert isinstance(rendered, Text)
        rows = colours_by_row(rendered)
        assert all(len(line) <= plot.size.width for line, _ in rows)
        *lines, _axis, (dates, _) = rows
        # Round marks on the one $/h scale, one every second row, around $0.30 to $0.90.
        marks = [float(line.split("┤")[0].strip("$ ")) for line, _ in lines if "┤" in line]
        assert marks == ([1.0, 0.75, 0.5, 0.25] if compact else [0.9, 0.75, 0.6, 0.45, 0.3])
        assert dates.split() == "Nov 26 Nov 27 Nov 28 Nov 29 Nov 30 Dec 01 Dec 02".split()

        def row(usd: float) -> int:
            """The row a price is drawn on: the scale spans the rows' centres."""
            return round((marks[0] - usd) / (marks[0] - marks[-1]) * (len(lines) - 1))

        def drawn_in(colour: tuple[int, int, int]) -> list[int]:
            return [n for n, (_, colours) in enumerate(lines) if colour in colours]

        assert drawn_in(ON_DEMAND_COLOUR) == [row(0.90)]
        assert drawn_in(AZ_COLOURS[0]) == [row(0.30)]  # 1a, flat
        # 1b at $0.50, $0.70 for two days, and the rows its steps cross between.
        assert drawn_in(AZ_COLOURS[1]) == list(range(row(0.70), row(0.50) + 1))

        legend = app.query_one("#history-legend", Static)
        console = Console(width=legend.size.width, record=True, color_system=None)
        console.print(legend.content)
        shown = [line.rstrip() for line in console.export_text().splitlines()]
        assert all(len(line) <= legend.size.width for line in shown)
        heading = app.query_one("#history-heading", Static).content
        if compact:
            assert shown == [
                "━ a mean 0.3000 now 0.3000 <½OD 100% ━ b mean 0.5595 now 0.5000 <½OD 0%",
                "━ on-demand 0.9000",
            ]
            assert str(heading).startswith("Spot $/h per AZ of ap-southeast-1, last 7 days")
            assert str(heading).endswith("cheapest by mean: a")
        else:
            assert [" ".join(line.split()) for line in shown] == [
                "━━ ap-southeast-1a mean $0.3000 now $0.3000 <½OD 100%",
                "━━ ap-southeast-1b mean $0.5595 now $0.5000 <½OD 0%",
                "━━ on-demand $0.9000/h",
            ]
            assert str(heading).endswith("cheapest by mean: ap-southeast-1a")


def test_price_marks_are_round_and_fall_on_rows() -> None:
    """The marks cover the prices and on-demand with round figures, and land on whole
    rows: one every second row where the count of rows allows it."""
    from dlpick.tui.widgets.spot_plot import price_ticks

    assert price_ticks(0.30, 0.90, 9) == [0.30, 0.45, 0.60, 0.75, 0.90]  # 8 gaps: 4 x 2
    assert price_ticks(0.30, 0.90, 7) == [0.25, 0.50, 0.75, 1.00]  # 6 gaps: 3 x 2
    assert price_ticks(29.87, 61.2, 9) == [15, 30, 45, 60, 75]
    # A flat price still gets a fifth of its height around it.
    assert price_ticks(0.33, 0.33, 9) == [0.275, 0.3, 0.325, 0.35, 0.375]
