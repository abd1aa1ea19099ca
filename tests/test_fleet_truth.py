"""What ls, stop, terminate and a spot launch say is true of the instances.

A stopped instance is not idle or active, bills no compute, and keeps the cost of
the time it ran; stopping or terminating twice says it is already done; a one-time
spot instance is never offered a stop.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from dlpick.remote.fleet.scan import stopped_at
from tests.launch_fixtures import run
from tests.test_fleet import PRICES, fleet, start  # noqa: F401  (the fleet fixture)


def ls_out(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = run(capsys, "ls", *args, "--format", "json")
    assert code == 0, err
    return dict(json.loads(out))


def stop_at(instance_id: str, reason: str) -> None:
    """Stop the instance in moto, with EC2's reason for it (moto writes its own)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    boto3.client("ec2", region_name="us-east-1").stop_instances(InstanceIds=[instance_id])
    ec2_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_instance(instance_id)._reason = reason


def idle_alarm_ok(instance_id: str) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    name = f"dlpick-idle-{instance_id}"
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="CPUUtilization",
        Namespace="AWS/EC2",
        Statistic="Average",
        Period=300,
        EvaluationPeriods=12,
        Threshold=2.0,
        ComparisonOperator="LessThanThreshold",
        Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="busy")


def test_the_stop_time_is_read_from_ec2s_reason() -> None:
    at = stopped_at("User initiated (2026-12-01 10:00:00 GMT)")
    assert at is not None and at.isoformat() == "2026-12-01T10:00:00+00:00"
    assert stopped_at("") is None and stopped_at(None) is None
    assert stopped_at("Server.SpotInstanceTermination") is None


def test_a_stopped_instance_keeps_the_cost_of_the_time_it_ran(
    fleet: SimpleNamespace,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inst = fleet.launched["us-east-1"]
    iid = inst["InstanceId"]
    idle_alarm_ok(iid)
    stopped = inst["LaunchTime"] + timedelta(minutes=90)
    stop_at(iid, f"User initiated ({stopped:%Y-%m-%d %H:%M:%S} GMT)")
    got = ls_out(capsys, "--region", "us-east-1")
    [record] = got["instances"]
    assert record["state"] == "stopped" and record["idle"] == "stopped"
    assert record["usd_hour"] == 0 and record["type_usd_hour"] == PRICES["us-east-1"]
    ran = 1.5 * PRICES["us-east-1"]
    assert record["cost_so_far_usd"] == pytest.approx(ran, abs=0.01)
    assert record["stopped_at"] == f"{stopped:%Y-%m-%dT%H:%M:%SZ}"
    assert got["running"] == 0 and got["usd_hour"] == 0
    assert got["spent_usd"] == pytest.approx(ran, abs=0.01) and got["complete"] is True

    monkeypatch.setenv("COLUMNS", "200")
    _, out, _ = run(capsys, "ls", "--region", "us-east-1")
    row = next(line.split() for line in out.splitlines() if line.startswith(iid))
    assert row[1:3] == ["g6.xlarge", "stopped"]
    assert f"${ran:.2f}" in row and "—" in row and "stopped" in row[3:]
    assert "active" not in out and "0.805" not in out
    assert f"${ran:.2f} spent" in out


def test_a_stopped_instance_with_no_stop_time_has_an_unknown_cost(
    fleet: SimpleNamespace,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    iid = fleet.launched["us-east-1"]["InstanceId"]
    stop_at(iid, "")
    got = ls_out(capsys, "--region", "us-east-1")
    assert got["instances"][0]["cost_so_far_usd"] is None and got["complete"] is False
    _, out, _ = run(capsys, "ls", "--region", "us-east-1")
    row = next(line.split() for line in out.splitlines() if line.startswith(iid))
    assert "?" in row
    assert "≥$0.00 spent" in out and "1 stopped with an unknown cost" in out


def test_idle_stop_minutes_is_a_number_or_null(
    fleet: SimpleNamespace,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    iid = fleet.launched["us-east-1"]["InstanceId"]
    [record] = ls_out(capsys, "--region", "us-east-1")["instances"]
    assert record["idle_stop_minutes"] is None
    boto3.client("ec2", region_name="us-east-1").create_tags(
        Resources=[iid], Tags=[{"Key": "dlpick:idle-stop-minutes", "Value": "60"}]
    )
    [record] = ls_out(capsys, "--region", "us-east-1")["instances"]
    assert record["idle_stop_minutes"] == 60


def test_stopping_a_stopped_instance_says_so_and_does_nothing(
    fleet: SimpleNamespace,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    stopped = fleet.launched["us-east-1"]["InstanceId"]
    running = start("us-east-1", name="other")["InstanceId"]
    boto3.client("ec2", region_name="us-east-1").stop_instances(InstanceIds=[stopped])
    code, out, _ = run(capsys, "stop", stopped, "--region", "us-east-1", "--yes")
    assert code == 0
    assert f"{stopped} is already stopped" in out and "stopping" not in out
    code, _, err = run(capsys, "stop", stopped, running, "--region", "us-east-1")
    assert code == 1 and "Stop 1 instance: needs confirmation" in err
    code, out, _ = run(capsys, "stop", stopped, running, "--region", "us-east-1", "--yes")
    assert code == 0 and f"{stopped} is already stopped" in out
    assert f"stopping {running}" in out and f"stopping {stopped}" not in out


def test_terminating_a_terminated_instance_says_so_and_does_nothing(
    fleet: SimpleNamespace,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    iid = fleet.launched["us-east-1"]["InstanceId"]
    boto3.client("ec2", region_name="us-east-1").terminate_instances(InstanceIds=[iid])
    code, out, err = run(capsys, "terminate", iid, "--region", "us-east-1", "--yes")
    assert code == 0, err
    assert f"{iid} is already terminated" in out and "terminating" not in out
    code, out, err = run(capsys, "stop", iid, "--region", "us-east-1", "--yes")
    assert code == 0 and f"{iid} is terminated: there is nothing to stop" in out


def test_a_spot_launch_offers_terminate_and_never_stop(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "launch", "g6.xlarge", "--spot", "--yes")
    assert code == 0, err
    assert "dlpick stop" not in out
    assert "dlpick terminate i-" in out and "cannot be stopped, only terminated" in out
    code, out, err = run(capsys, "launch", "g6.xlarge", "--name", "od", "--new", "--yes")
    assert code == 0, err
    assert "dlpick stop i-" in out and "dlpick terminate i-" in out


def test_the_apps_launch_result_offers_no_stop_for_spot() -> None:
    from pathlib import Path

    from rich.console import Console

    from dlpick.remote.launch.model import LaunchResult
    from dlpick.tui.screens.launch.steps import result_view

    def shown(spot: bool) -> str:
        result = LaunchResult(
            "i-0a1b2c3d4e5f60001", "us-east-1", "", "203.0.113.9", "ubuntu", Path("k"), 0.31
        )
        result.spot = spot
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(result_view(result))
        return " ".join(console.export_text().split())

    spot = shown(True)
    assert "dlpick stop" not in spot and "press i, then t" in spot
    assert "dlpick terminate i-0a1b2c3d4e5f60001 --region us-east-1" in spot
    assert "cannot be stopped" in spot
    assert "dlpick stop i-0a1b2c3d4e5f60001" in shown(False)


def test_ls_writes_an_hourly_price_as_prices_does(
    fleet: SimpleNamespace,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    iid = fleet.launched["us-east-1"]["InstanceId"]
    monkeypatch.setenv("COLUMNS", "200")
    _, out, _ = run(capsys, "ls", "--region", "us-east-1")
    row = next(line.split() for line in out.splitlines() if line.startswith(iid))
    assert "0.8048" in row and "0.805" not in row  # PRICES: g6.xlarge at $0.8048/h
    code, out, _ = run(capsys, "prices", "--region", "us-east-1", "--gpu", "L4")
    assert code == 0
    assert "0.8048" in next(line for line in out.splitlines() if line.startswith("g6.xlarge "))
