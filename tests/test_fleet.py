"""Spend guard: ls across regions, costs, stop/terminate protection, the guards at launch."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from dlpick.core.errors import EXIT_PARTIAL
from dlpick.tui.cli import fleet as cmd_fleet
from tests.conftest import AwsPeers
from tests.launch_fixtures import only_regions, run
from tests.peers.fault_server import FAULTS, FaultServer
from tests.peers.pricing_api import ec2_product

if TYPE_CHECKING:
    from mypy_boto3_ec2.literals import InstanceTypeType
    from mypy_boto3_ec2.type_defs import TagTypeDef

REGIONS = ("us-east-1", "us-west-2", "ap-south-1")
PRICES = {"us-east-1": 0.8048, "us-west-2": 0.95, "ap-south-1": 0.70}


def start(
    region: str,
    instance_type: InstanceTypeType = "g6.xlarge",
    *,
    managed: bool = True,
    name: str = "",
    spot: bool = False,
    extra_tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    ec2 = boto3.client("ec2", region_name=region)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags: list[TagTypeDef] = [{"Key": "Name", "Value": name or f"job-{region}"}]
    tags += [{"Key": k, "Value": v} for k, v in (extra_tags or {}).items()]
    if managed:
        tags.append({"Key": "dlpick:managed", "Value": "true"})
    extra: dict[str, Any] = {"InstanceMarketOptions": {"MarketType": "spot"}} if spot else {}
    return dict(
        ec2.run_instances(
            ImageId=image,
            InstanceType=instance_type,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
            **extra,
        )["Instances"][0]
    )


@pytest.fixture
def fleet(aws: AwsPeers, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """One g6.xlarge in each of three regions, prices published, the clock two hours on."""
    for region, usd in PRICES.items():
        aws.pricing.products.append(ec2_product("g6.xlarge", region, usd))
        aws.pricing.products.append(ec2_product("m5.large", region, 0.096))
    aws.moto.spot.add("us-west-2", "g6.xlarge", "us-west-2a", 0.31)
    launched = {region: start(region) for region in REGIONS}
    clock = max(i["LaunchTime"] for i in launched.values()) + timedelta(hours=2)
    monkeypatch.setattr(cmd_fleet, "_now", lambda: clock)
    return SimpleNamespace(launched=launched, clock=clock, aws=aws)


def ls_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    code, out, err = run(capsys, "ls", *args, "--format", "json")
    assert code == 0, err
    return list(json.loads(out)["instances"])


def test_ls_finds_every_instance_in_every_region_with_its_cost(
    fleet: SimpleNamespace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto enables every region; ask for three of them.
    only_regions(monkeypatch, *REGIONS)
    start("us-east-1", "m5.large", name="web")  # not accelerated: shown only with --all
    records = ls_json(capsys, "--all-regions")
    by_region = {r["region"]: r for r in records}
    assert set(by_region) == set(REGIONS)
    for region, record in by_region.items():
        launched = fleet.launched[region]["LaunchTime"]
        hours = (fleet.clock - launched).total_seconds() / 3600
        assert record["usd_hour"] == PRICES[region]
        assert record["cost_so_far_usd"] == pytest.approx(hours * PRICES[region], abs=1e-3)
        assert record["managed"] is True and record["state"] == "running"
    assert len(ls_json(capsys, "--all-regions", "--all")) == 4


def test_spot_instances_cost_their_az_spot_price(
    fleet: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    inst = start("us-west-2", spot=True, name="cheap")
    record = next(
        r
        for r in ls_json(capsys, "--region", "us-west-2")
        if r["instance_id"] == inst["InstanceId"]
    )
    assert record["market"] == "spot" and record["usd_hour"] == 0.31


def test_stopped_instances_show_their_storage_cost(
    fleet: SimpleNamespace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = fleet.launched["us-east-1"]
    ec2 = boto3.client("ec2", region_name="us-east-1")
    ec2.stop_instances(InstanceIds=[inst["InstanceId"]])
    volumes = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [inst["InstanceId"]]}]
    )["Volumes"]
    from dlpick.remote.fleet.scan import EBS_USD_GB_MONTH

    expected = sum(EBS_USD_GB_MONTH[v["VolumeType"]] * v["Size"] for v in volumes)
    [record] = ls_json(capsys, "--region", "us-east-1")
    assert record["state"] == "stopped" and record["usd_hour"] == 0
    assert record["storage_usd_month"] == pytest.approx(expected, abs=0.01) and expected > 0
    monkeypatch.setenv("COLUMNS", "200")  # room for the Disk/mo column
    code, out, _ = run(capsys, "ls", "--region", "us-east-1")
    assert code == 0 and f"${expected:.2f}" in out.split()
    assert f"stopped volumes ${expected:.2f}/month" in out


def test_untagged_instances_are_protected(
    fleet: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    stranger = start("us-east-1", managed=False, name="someone-elses")
    code, _, err = run(capsys, "stop", stranger["InstanceId"], "--region", "us-east-1", "--yes")
    assert code == 1 and "not launched by dlpick" in err and "--any" in err
    code, _, err = run(
        capsys, "terminate", stranger["InstanceId"], "--region", "us-east-1", "--yes"
    )
    assert code == 1
    state = boto3.client("ec2", region_name="us-east-1").describe_instances(
        InstanceIds=[stranger["InstanceId"]]
    )["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"
    code, out, _ = run(
        capsys, "stop", stranger["InstanceId"], "--region", "us-east-1", "--any", "--yes"
    )
    assert code == 0 and "stopping" in out


def test_stop_names_type_region_and_cost_and_needs_confirmation(
    fleet: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    inst = fleet.launched["us-west-2"]
    code, out, err = run(capsys, "stop", inst["InstanceId"], "--region", "us-west-2")
    assert code == 1 and "pass --yes" in err
    assert (
        f"{inst['InstanceId']} job-us-west-2 g6.xlarge in us-west-2, running, $1.90 so far" in out
    )


def test_terminate_reports_leftovers_and_cleans_up_what_dlpick_made(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "launch", "g6.xlarge", "--yes")[0] == 0
    code, out, _ = run(capsys, "ls", "--format", "json")
    [record] = json.loads(out)["instances"]
    code, out, _ = run(capsys, "terminate", record["instance_id"], "--yes")
    assert code == 0
    assert "key pairs dlpick made, now unused: dlpick-us-east-1" in out
    assert "security groups dlpick made, now unused: sg-" in out
    assert "--cleanup --yes" in out
    code, out, _ = run(capsys, "terminate", record["instance_id"], "--yes", "--cleanup")
    assert code == 0 and "deleted key pair dlpick-us-east-1" in out
    assert boto3.client("ec2", region_name="us-east-1").describe_key_pairs()["KeyPairs"] == []


def test_launch_creates_the_idle_alarm_and_the_self_stop(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    account.aws.pricing.products.append(ec2_product("g6.12xlarge", "us-east-1", 4.602))
    code, out, err = run(
        capsys, "launch", "g6.12xlarge", "--max-hours", "8", "--budget", "100", "--yes"
    )
    assert code == 0, err
    assert "idle guard     stop after 60 min below 2.083% CPU" in out
    ec2 = boto3.client("ec2", region_name="us-east-1")
    [reservation] = ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["running"]}]
    )["Reservations"]
    inst = reservation["Instances"][0]
    alarm = boto3.client("cloudwatch", region_name="us-east-1").describe_alarms(
        AlarmNames=[f"dlpick-idle-{inst['InstanceId']}"]
    )["MetricAlarms"][0]
    assert alarm["MetricName"] == "CPUUtilization" and alarm["Namespace"] == "AWS/EC2"
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["Threshold"] == pytest.approx(100 / 48, abs=0.001)
    assert alarm["Period"] * alarm["EvaluationPeriods"] == 3600
    assert alarm["AlarmActions"] == ["arn:aws:automate:us-east-1:ec2:stop"]
    assert alarm["Dimensions"] == [{"Name": "InstanceId", "Value": inst["InstanceId"]}]
    user_data = ec2.describe_instance_attribute(InstanceId=inst["InstanceId"], Attribute="userData")
    script = base64.b64decode(user_data["UserData"]["Value"]).decode()
    assert "shutdown -h +480 " in script  # 8 h is sooner than what $100 buys
    behaviour = ec2.describe_instance_attribute(
        InstanceId=inst["InstanceId"], Attribute="instanceInitiatedShutdownBehavior"
    )
    assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "stop"
    tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
    assert tags["dlpick:idle-stop-minutes"] == "60"
    stop_after = datetime.fromisoformat(tags["dlpick:stop-after"].replace("Z", "+00:00"))
    assert abs(stop_after - datetime.now(UTC) - timedelta(hours=8)) < timedelta(minutes=5)
    [record] = ls_json(capsys)
    assert record["idle_stop_minutes"] == 60 and record["stop_after"] == tags["dlpick:stop-after"]


def test_budget_limit_and_opting_out_of_the_idle_alarm(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    account.aws.pricing.products.append(ec2_product("g6.xlarge", "us-east-1", 0.8048))
    code, out, _ = run(capsys, "launch", "g6.xlarge", "--budget", "10", "--no-idle-stop", "--yes")
    assert code == 0
    assert "time limit     stops itself after 12.4 h (--budget $10 at $0.8048/h)" in out
    assert (
        boto3.client("cloudwatch", region_name="us-east-1").describe_alarms()["MetricAlarms"] == []
    )
    code, _, err = run(capsys, "launch", "g6.xlarge", "--budget", "-3", "--yes")
    assert code == 2 and "--budget must be above 0, not '-3'" in err


def test_spot_guards_terminate_because_one_time_spot_cannot_stop(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "launch", "g6.xlarge", "--spot", "--max-hours", "2", "--yes")[0] == 0
    alarm = boto3.client("cloudwatch", region_name="us-east-1").describe_alarms()["MetricAlarms"][0]
    assert alarm["AlarmActions"] == ["arn:aws:automate:us-east-1:ec2:terminate"]


def test_a_region_that_cannot_be_read_is_named_and_totals_are_lower_bounds(
    fleet: SimpleNamespace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """us-west-2 refuses (the account's policy there); the other two regions answer."""
    proxy = FaultServer(upstream=fleet.aws.moto.url, regions=frozenset({"us-west-2"})).start()
    try:
        proxy.fault = FAULTS["denied"]
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        only_regions(monkeypatch, *REGIONS)
        code, out, err = run(capsys, "ls", "--all-regions", "--format", "json")
        assert code == EXIT_PARTIAL, err
        answer = json.loads(out)
        assert sorted(i["region"] for i in answer["instances"]) == ["ap-south-1", "us-east-1"]
        assert answer["complete"] is False
        [unreadable] = answer["unreadable_regions"]
        assert unreadable["region"] == "us-west-2"
        assert "permission denied (UnauthorizedOperation)" in unreadable["reason"]
        assert err.startswith("warning: listing instances in us-west-2: permission denied")
        assert err.count("\n") == 1

        code, out, err = run(capsys, "ls", "--all-regions")
        assert code == EXIT_PARTIAL
        total = out.strip().splitlines()[-1]
        assert total.startswith("at least 2 running · ≥$") and "1 region unreadable" in total
    finally:
        proxy.stop()


def test_a_running_batch_host_counts_in_the_ticker_and_is_labelled_batch(
    fleet: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host Batch runs for dlpick's spot environment, as Batch tags it; another
    account's Batch host is counted as any GPU instance, but not labelled dlpick's."""
    from dlpick.core.aws import Aws
    from dlpick.remote.fleet.scan import load_fleet, ticker
    from dlpick.tui.screens.instances import cells

    arn = "arn:aws:batch:us-west-2:123456789012:compute-environment/dlpick-spot"
    host = start("us-west-2", spot=True, extra_tags={"aws:batch:compute-environment": arn})
    other = start("us-west-2", extra_tags={"aws:batch:compute-environment": "theirs"})
    named = start("us-west-2", name="dlpick-batch")  # the tags setup gives the hosts
    scan = load_fleet(Aws(), ["us-west-2"])
    by_id = {i.instance_id: i for i in scan.instances}
    batch = by_id[host["InstanceId"]]
    assert batch.batch_environment == "dlpick-spot"
    assert by_id[other["InstanceId"]].batch_environment is None
    assert by_id[named["InstanceId"]].batch_environment == "dlpick-batch"
    spend = ticker(scan.instances, fleet.clock)
    assert spend.running == 4 and spend.complete
    assert spend.usd_hour == pytest.approx(PRICES["us-west-2"] * 3 + 0.31)
    row = cells(batch, fleet.clock)
    assert row["managed"].plain == "batch" and row["usd"].plain == "0.3100 spot"


def test_the_ticker_never_reads_as_nothing_running_when_aws_could_not_be_read() -> None:
    from dlpick.remote.fleet.scan import Instance
    from dlpick.tui.account import Fleet
    from dlpick.tui.widgets.ticker import ticker_text

    failed = Fleet("error", message="listing instances in us-east-1: cannot reach AWS")
    assert ticker_text(failed).plain == (
        "? running: listing instances in us-east-1: cannot reach AWS"
    )
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    running = Instance(
        "i-1", "eu-west-1", "", "g6.xlarge", "running", now, False, "", True, {}, usd_hour=None
    )
    partial = Fleet(
        "ok", instances=(running,), at=now, unreadable=(("us-west-2", "permission denied"),)
    )
    text = ticker_text(partial).plain
    assert text.startswith("≥1 running · ≥$0.00/h · ≥$0.00 spent")
    assert text.endswith("? us-west-2 unreadable")
    nothing = Fleet("ok", instances=(), at=now, unreadable=(("us-west-2", "denied"),))
    assert "nothing running" not in ticker_text(nothing).plain


def test_an_id_given_twice_is_named_once(
    fleet: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = "i-0123456789abcdef0"
    code, out, err = run(capsys, "terminate", missing, missing, "--region", "us-east-1", "--yes")
    assert (code, out) == (1, "")
    assert (
        err
        == f"error: no instance {missing} in us-east-1 — is it in another region? pass --region\n"
    )
    iid = fleet.launched["us-east-1"]["InstanceId"]
    code, out, err = run(capsys, "terminate", iid, iid, "--region", "us-east-1", "--yes")
    assert code == 0, err
    # Asked about once (the confirmation's line), terminated once.
    assert out.count(iid) == 2 and out.count(f"terminating {iid}") == 1
    code, out, err = run(capsys, "stop", "web-1", "--yes")
    assert (code, out) == (2, "")
    assert err.startswith("dlpick stop: error: TARGET 'web-1' is not an instance id (i-...)")
