"""Spot placement scores and Capacity Blocks for ML: what dlpick asks EC2, and what it shows.

moto implements neither, so EC2 is reached through a front of the project's own
(tests/peers/ec2_front.py) that answers those actions and forwards the rest to moto.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest

from dlpick.core.aws import Aws
from dlpick.core.cache import PriceCache
from dlpick.pricing.placement import neighbours, placement, scores
from dlpick.tui.widgets.capacity import CapacityLines
from tests.conftest import AwsPeers
from tests.launch_fixtures import P_OD, REGION, live_instances, only_regions, run
from tests.peers.ec2_front import Ec2Front, Offering, listed


def az_ids(region: str = REGION) -> dict[str, str]:
    """AZ name -> AZ id, as the account (moto) maps them."""
    zones = boto3.client("ec2", region_name=region).describe_availability_zones()
    return {z["ZoneName"]: z["ZoneId"] for z in zones["AvailabilityZones"]}


def test_the_type_is_scored_with_its_nearest_sizes() -> None:
    assert neighbours("g6.xlarge") == ["g6.xlarge", "g6.2xlarge", "g6.4xlarge"]
    # 4 GPUs: the sizes on either side, not the 1-GPU ones.
    assert neighbours("g6.12xlarge") == ["g6.12xlarge", "g6.16xlarge", "g6.24xlarge"]
    # A family of two is completed from its series.
    assert neighbours("p5.48xlarge") == ["p5.48xlarge", "p5.4xlarge", "p5e.48xlarge"]


def test_spot_launch_plan_shows_the_placement_score_per_region_and_az(
    account: SimpleNamespace,
    ec2_front: Ec2Front,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    only_regions(monkeypatch, "us-east-1", "us-west-2", "eu-west-1")
    ids = az_ids()
    ec2_front.state.region_scores = {"us-east-1": 7, "us-west-2": 9, "eu-west-1": 3}
    ec2_front.state.az_scores = {ids["us-east-1a"]: 9, ids["us-east-1b"]: 2}
    code, out, err = run(capsys, "launch", "g6.xlarge", "--spot", "--dry-run")
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("placement score"))
    assert row.split(None, 2)[2] == (
        "7/10 in us-east-1 (us-east-1a 9, us-east-1b 2); elsewhere us-west-2 9, eu-west-1 3"
    )
    by_region, by_az = ec2_front.state.asked("GetSpotPlacementScores")
    for asked in (by_region, by_az):
        assert listed(asked, "InstanceType") == ["g6.xlarge", "g6.2xlarge", "g6.4xlarge"]
        assert (asked["TargetCapacity"], asked["TargetCapacityUnitType"]) == ("1", "units")
    assert by_region["SingleAvailabilityZone"] == "false"
    assert listed(by_region, "RegionName") == ["eu-west-1", "us-east-1", "us-west-2"]
    assert by_az["SingleAvailabilityZone"] == "true"
    assert listed(by_az, "RegionName") == ["us-east-1"]


def test_on_demand_launch_asks_no_score(
    account: SimpleNamespace, ec2_front: Ec2Front, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "launch", "g6.xlarge", "--dry-run")
    assert code == 0, err
    assert "placement score" not in out
    assert ec2_front.state.asked("GetSpotPlacementScores") == []


def test_an_account_that_may_not_ask_sees_a_question_mark_and_still_launches(
    account: SimpleNamespace,
    ec2_front: Ec2Front,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    only_regions(monkeypatch, "us-east-1")
    ec2_front.state.deny_scores = True
    code, out, err = run(capsys, "launch", "g6.xlarge", "--spot", "--yes")
    assert code == 0, err
    assert "placement score ? (not allowed (UnauthorizedOperation))" in out
    assert len(live_instances()) == 1


def test_scores_are_cached_like_spot_prices(aws: AwsPeers, ec2_front: Ec2Front) -> None:
    ec2_front.state.region_scores = {"us-east-1": 6, "us-west-2": 8}
    cache = PriceCache()
    now = [1_000_000.0]
    cache.clock = lambda: now[0]
    access = Aws()
    assert scores(access, "g6.xlarge", ["us-west-2", "us-east-1"], cache=cache) == {
        "us-east-1": 6,
        "us-west-2": 8,
    }
    ec2_front.state.region_scores = {"us-east-1": 1, "us-west-2": 1}
    assert scores(access, "g6.xlarge", ["us-east-1", "us-west-2"], cache=cache)["us-west-2"] == 8
    assert len(ec2_front.state.asked("GetSpotPlacementScores")) == 1
    now[0] += 11 * 60  # older than the spot prices' ten minutes: asked again
    assert scores(access, "g6.xlarge", ["us-east-1", "us-west-2"], cache=cache)["us-west-2"] == 1
    assert len(ec2_front.state.asked("GetSpotPlacementScores")) == 2


def test_placement_names_azs_and_reads_a_denial_as_unknown(
    aws: AwsPeers, ec2_front: Ec2Front
) -> None:
    ids = az_ids()
    ec2_front.state.region_scores = {"us-east-1": 5}
    ec2_front.state.az_scores = {ids["us-east-1c"]: 4}
    found = placement(Aws(), "g6.xlarge", "us-east-1")
    assert (found.score, found.by_az, found.denied) == (5, {"us-east-1c": 4}, "")
    ec2_front.state.deny_scores = True
    denied = placement(Aws(), "g6.xlarge", "us-east-1")
    assert denied.score is None and "UnauthorizedOperation" in denied.denied


# -- Capacity Blocks -----------------------------------------------------------


@pytest.fixture
def offered(ec2_front: Ec2Front) -> Ec2Front:
    """The EC2 front with three p5.48xlarge blocks on offer (two of 48 hours)."""
    ec2_front.state.offerings = [
        Offering(
            "cb-0123456789abcdef0",
            "p5.48xlarge",
            "us-east-1b",
            "2026-12-08T11:30:00.000Z",
            "2026-12-10T11:30:00.000Z",
            48,
            "3000.00",
        ),
        Offering(
            "cb-0fedcba9876543210",
            "p5.48xlarge",
            "us-east-1a",
            "2026-12-09T11:30:00.000Z",
            "2026-12-11T11:30:00.000Z",
            48,
            "2400.00",
        ),
        Offering(  # another length: never shown for --days 2
            "cb-0aaaaaaaaaaaaaaaa",
            "p5.48xlarge",
            "us-east-1a",
            "2026-12-09T11:30:00.000Z",
            "2026-12-10T11:30:00.000Z",
            24,
            "1000.00",
        ),
    ]
    return ec2_front


def test_offerings_are_listed_cheapest_first_with_effective_prices(
    aws: AwsPeers,
    offered: Ec2Front,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.test_prices_cli import seed

    seed(aws, REGION, {"p5.48xlarge": 98.32}, {})
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    code, out, err = run(
        capsys,
        "capacity-blocks",
        "p5.48xlarge",
        "--days",
        "2",
        "--start-after",
        tomorrow,
        "--output",
        "json",
    )
    assert code == 0, err
    records = json.loads(out)
    assert [r["offering_id"] for r in records] == ["cb-0fedcba9876543210", "cb-0123456789abcdef0"]
    cheapest = records[0]
    assert cheapest["availability_zone"] == "us-east-1a"
    assert cheapest["start"] == "2026-12-09T11:30:00Z" and cheapest["hours"] == 48
    assert cheapest["upfront_fee"] == 2400.0
    assert cheapest["usd_hour"] == pytest.approx(50.0)
    assert cheapest["on_demand_usd_hour"] == pytest.approx(98.32)
    tflops = cheapest["usd_hour"] / cheapest["usd_per_fp32_tflop_hour"]
    assert cheapest["on_demand_usd_per_fp32_tflop_hour"] == pytest.approx(98.32 / tflops)
    [asked] = offered.state.asked("DescribeCapacityBlockOfferings")
    assert asked["InstanceType"] == "p5.48xlarge" and asked["InstanceCount"] == "1"
    assert asked["CapacityDurationHours"] == "48"
    assert asked["StartDateRange"].startswith(f"{tomorrow}T00:00:00")
    monkeypatch.setenv("COLUMNS", "160")
    code, out, err = run(capsys, "capacity-blocks", "p5.48xlarge", "--days", "2")
    assert code == 0, err
    first = next(line for line in out.splitlines() if "cb-0fedcba9876543210" in line)
    assert "$2,400.00" in first and "$50.0000" in first and "$98.3200" in first


def test_a_block_length_aws_does_not_sell_is_refused(
    aws: AwsPeers, ec2_front: Ec2Front, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "capacity-blocks", "p5.48xlarge", "--days", "15")
    assert code == 2 and "--days 15: Capacity Blocks last 1 to 14 days, or a multiple of 7" in err
    assert ec2_front.state.asked("DescribeCapacityBlockOfferings") == []


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--start-after", "2020-01-01"], "--start-after 2020-01-01 is in the past — give "),
        (["--start-after", "01/02/2027"], "--start-after '01/02/2027': expected a date as"),
        (["--buy", "$(x)"], "--buy '$(x)' is not a Capacity Block offering id (cb-...)"),
        (["--days", "0"], "--days must be at least 1, not '0'"),
    ],
)
def test_a_bad_value_is_refused_before_aws_is_asked(
    ec2_front: Ec2Front, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    code, out, err = run(capsys, "capacity-blocks", "p5.48xlarge", *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"dlpick capacity-blocks: error: {says}") and err.count("\n") == 1, err
    assert ec2_front.state.asked("DescribeCapacityBlockOfferings") == []


def test_buying_asks_first_naming_the_fee_and_needs_yes_without_a_terminal(
    offered: Ec2Front,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    buy = ("capacity-blocks", "p5.48xlarge", "--days", "2", "--buy", "cb-0fedcba9876543210")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, _, err = run(capsys, *buy)
    assert code == 1 and "needs confirmation; pass --yes" in err and "$2,400.00" in err
    questions: list[str] = []

    def answer(question: str) -> str:
        questions.append(question)
        return "n"

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", answer)
    code, _, err = run(capsys, *buy)
    assert code == 1 and "not bought" in err
    [question] = questions
    assert "upfront fee of $2,400.00" in question and "us-east-1a" in question
    assert offered.state.asked("PurchaseCapacityBlock") == []
    code, out, err = run(capsys, *buy, "--yes")
    assert code == 0, err
    [bought] = offered.state.asked("PurchaseCapacityBlock")
    assert bought["CapacityBlockOfferingId"] == "cb-0fedcba9876543210"
    assert bought["InstancePlatform"] == "Linux/UNIX"
    [reservation] = offered.state.reservations
    assert f"bought {reservation}" in out
    assert f"--capacity-block {reservation}" in out


def test_an_unknown_offering_is_not_bought(
    offered: Ec2Front, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "capacity-blocks", "p5.48xlarge", "--days", "2", "--buy", "cb-0nothere", "--yes"
    )
    assert code == 1 and "no offering cb-0nothere" in err
    assert offered.state.asked("PurchaseCapacityBlock") == []


def test_launch_into_a_bought_block_targets_its_reservation_and_az(
    account: SimpleNamespace, offered: Ec2Front, capsys: pytest.CaptureFixture[str]
) -> None:
    account.aws.moto.quotas.set(REGION, P_OD, "Running On-Demand P instances", 192)
    code, _, err = run(
        capsys,
        "capacity-blocks",
        "p5.48xlarge",
        "--days",
        "2",
        "--buy",
        "cb-0123456789abcdef0",
        "--yes",
    )
    assert code == 0, err
    [cr] = offered.state.reservations
    code, out, err = run(capsys, "launch", "p5.48xlarge", "--capacity-block", cr, "--yes")
    assert code == 0, err
    assert f"capacity block {cr} in us-east-1b" in out
    [launched] = [r for r in offered.state.asked("RunInstances") if "DryRun" not in r]
    assert launched["InstanceMarketOptions.MarketType"] == "capacity-block"
    target = "CapacityReservationSpecification.CapacityReservationTarget.CapacityReservationId"
    assert launched[target] == cr
    assert launched["Placement.AvailabilityZone"] == "us-east-1b"
    [instance] = live_instances()
    assert instance["Placement"]["AvailabilityZone"] == "us-east-1b"


def test_launch_into_a_block_of_another_type_or_as_spot_is_refused(
    account: SimpleNamespace, offered: Ec2Front, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "capacity-blocks", "p5.48xlarge", "--days", "2", "--buy", "cb-0123456789abcdef0")
    assert offered.state.reservations == {}  # no terminal, no --yes: nothing bought
    run(
        capsys,
        *("capacity-blocks", "p5.48xlarge", "--days", "2"),
        *("--buy", "cb-0123456789abcdef0", "--yes"),
    )
    [cr] = offered.state.reservations
    code, _, err = run(capsys, "launch", "g6.xlarge", "--capacity-block", cr, "--yes")
    assert code == 1 and f"{cr} holds p5.48xlarge, not g6.xlarge" in err
    code, _, err = run(capsys, "launch", "p5.48xlarge", "--capacity-block", cr, "--spot")
    assert code == 2 and "cannot be --spot" in err
    code, _, err = run(capsys, "launch", "p5.48xlarge", "--capacity-block", "cb-123", "--yes")
    assert code == 2 and "--capacity-block 'cb-123' is not a capacity reservation id" in err
    assert live_instances() == []


# -- the app's detail pane -----------------------------------------------------


def showing(lines: CapacityLines, instance_type: str) -> bool:
    """The pane's capacity lines are drawn for `instance_type`."""
    offer = lines.offer
    return offer is not None and offer.instance_type == instance_type and lines.shown is not None


async def test_the_detail_pane_shows_the_score_and_the_cheapest_block_then_a_question_mark(
    offered: Ec2Front, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_app import table_of
    from tests.test_app_aws import aws_app, text_of
    from tests.ui import until, workers_done

    only_regions(monkeypatch, "us-east-1", "us-west-2")
    ids = az_ids()
    offered.state.region_scores = {"us-east-1": 8, "us-west-2": 3}
    offered.state.az_scores = {ids["us-east-1a"]: 8, ids["us-east-1c"]: 5}
    offered.state.offerings.append(
        Offering(
            "cb-0bbbbbbbbbbbbbbbb",
            "g6.xlarge",
            "us-east-1c",
            "2026-09-04T11:30:00.000Z",
            "2026-09-05T11:30:00.000Z",
            24,
            "14.88",
        )
    )
    app = aws_app(tmp_path)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        table = table_of(app)
        table.move_cursor(row=table.get_row_index("g6.xlarge"))
        lines = app.screen.query_one("#detail-capacity", CapacityLines)
        await pilot.press("d")  # the pane opens on g6.xlarge: the one type asked about
        await until(pilot, lambda: showing(lines, "g6.xlarge"), timeout=20)
        text = " ".join(text_of(app, "#detail-capacity").split())
        assert "spot placement: 8/10 in us-east-1 (us-east-1a 8, us-east-1c 5)" in text
        assert "best elsewhere us-west-2 3" in text
        assert "Capacity Block: $0.6200/h ($0.0205/TF·h)" in text
        assert "fee $14.88 for 24 h from 2026-09-04 11:30 UTC in us-east-1c" in text
        [asked] = offered.state.asked("DescribeCapacityBlockOfferings")
        assert (asked["InstanceType"], asked["CapacityDurationHours"]) == ("g6.xlarge", "24")
        # An account that may not ask: `?`, asked once, never a notification.
        offered.state.deny_scores = True
        for itype in ("g5.xlarge", "g6e.2xlarge"):
            table.move_cursor(row=table.get_row_index(itype))
            await until(pilot, partial(showing, lines, itype), timeout=20)
            assert "spot placement: ? (" in text_of(app, "#detail-capacity")
        assert "Capacity Block: none on offer" in text_of(app, "#detail-capacity")
        await workers_done(pilot, group="capacity", timeout=20)  # every question answered
        assert len(offered.state.asked("GetSpotPlacementScores")) == 3  # 2 for g6, 1 denied
        assert not [n for n in app._notifications if n.severity == "error"]
