"""A launch that meets no capacity moves on: other AZs, then (once accepted) other regions.

moto starts an instance anywhere, so the capacity errors come from a proxy in front of
it (tests/peers/capacity_proxy.py) that refuses RunInstances in chosen AZs and regions,
or passes one on and loses the answer. Instances are counted in moto, in every region.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from dlpick.core.aws import Aws
from dlpick.core.errors import LaunchError
from dlpick.remote.launch.execute import execute
from dlpick.remote.launch.model import LaunchRequest
from dlpick.remote.launch.plan import plan_launch
from dlpick.remote.tags import TOKEN_TAG
from tests.launch_fixtures import (
    BASE_X86,
    G_OD,
    G_SPOT,
    REGION,
    live_instances,
    only_regions,
    run,
)
from tests.peers.capacity_proxy import ANY, CapacityProxy
from tests.peers.ec2_front import Ec2Front
from tests.peers.pricing_api import ec2_product

WEST = "us-west-2"
TYPE = "g6.xlarge"


@pytest.fixture
def proxy(account: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> Iterator[CapacityProxy]:
    """The capacity proxy in front of moto, with a second region ready for the launch:
    its DLAMI published and 64 G vCPUs of quota; prices for both regions."""
    moto = account.aws.moto
    west = boto3.client("ec2", region_name=WEST)
    image = west.register_image(
        Name="Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) 20261101",
        Architecture="x86_64",
        RootDeviceName="/dev/sda1",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 75}}],
        VirtualizationType="hvm",
    )["ImageId"]
    moto.seed_parameter(WEST, BASE_X86, image)
    moto.quotas.set(WEST, G_OD, "Running On-Demand G and VT instances", 64)
    account.aws.pricing.products.append(ec2_product(TYPE, REGION, 0.8048))
    account.aws.pricing.products.append(ec2_product(TYPE, WEST, 0.8048))
    only_regions(monkeypatch, REGION, WEST)
    peer = CapacityProxy(upstream=moto.url).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", peer.url)
    yield peer
    peer.stop()


def instances_everywhere() -> list[dict[str, Any]]:
    """Live instances in every region moto knows."""
    regions = boto3.client("ec2", region_name=REGION).describe_regions()["Regions"]
    return [i for r in regions for i in live_instances(str(r["RegionName"]))]


def zone_of(instance: dict[str, Any]) -> str:
    return str(instance["Placement"]["AvailabilityZone"])


def test_no_capacity_in_two_azs_and_the_whole_first_region_ends_in_exactly_one_instance(
    proxy: CapacityProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy.refuse = {REGION: {ANY}, WEST: {"", f"{WEST}a", f"{WEST}b"}}
    code, out, err = run(capsys, "launch", TYPE, "--yes", "--any-region")
    assert code == 0, err
    assert "no capacity    other AZs of us-east-1, then the best other region" in out
    [instance] = instances_everywhere()
    assert zone_of(instance) == f"{WEST}c"
    assert f"{instance['InstanceId']} is running in {WEST} ($0.8048/h)" in out
    # Each place was tried once, with its own token; the instance carries the launch's.
    tried = [(c.region, c.zone) for c in proxy.calls]
    east = [(REGION, "")] + [(REGION, f"{REGION}{z}") for z in "abcdf"]
    assert tried == [*east, (WEST, ""), (WEST, f"{WEST}a"), (WEST, f"{WEST}b"), (WEST, f"{WEST}c")]
    tokens = [c.token for c in proxy.calls]
    assert len(set(tokens)) == len(tokens)
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags[TOKEN_TAG] == tokens[0]
    # The plan's progress says what was tried and why it moved on.
    assert (
        f"... {REGION}a: no capacity for {TYPE} (InsufficientInstanceCapacity) — trying {REGION}b"
        in err
    )
    assert f"... {REGION}f: no capacity for {TYPE} (InsufficientInstanceCapacity)\n" in err
    assert f"other regions: {WEST} at $0.8048/h, +$0.00, +0%" in err
    # Key pair and SSH group followed to the new region, with the same CIDR.
    west = boto3.client("ec2", region_name=WEST)
    assert instance["KeyName"] == f"dlpick-{WEST}"
    assert west.describe_key_pairs(KeyNames=[f"dlpick-{WEST}"])["KeyPairs"]
    [group] = west.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["dlpick-ssh"]}]
    )["SecurityGroups"]
    assert [r["CidrIp"] for r in group["IpPermissions"][0]["IpRanges"]] == ["203.0.113.7/32"]
    assert instance["SecurityGroups"][0]["GroupId"] == group["GroupId"]
    # The same command again, with capacity back in the first region, starts nothing.
    proxy.refuse = {}
    code, _, err = run(capsys, "launch", TYPE, "--yes", "--any-region")
    assert code == 1
    assert f"this launch already started {instance['InstanceId']} in {WEST}" in err
    assert len(instances_everywhere()) == 1


def test_the_azs_the_error_names_are_tried_first_and_the_result_records_the_attempts(
    proxy: CapacityProxy,
) -> None:
    # AWS names c and d as having capacity: a and b are not tried; c has none after all.
    proxy.refuse = {REGION: {"", f"{REGION}c"}}
    proxy.named = {REGION: [f"{REGION}c", f"{REGION}d"]}
    aws = Aws()
    req = LaunchRequest(
        instance_type=TYPE, region=REGION, checkip_url=os.environ["DLPICK_CHECKIP_URL"]
    )
    plan = plan_launch(aws, req, lambda: (0.8048, "test"))
    lines: list[str] = []
    result = execute(aws, plan, lines.append, price_in=lambda region: (0.8048, "test"))
    [instance] = instances_everywhere()
    assert (result.instance_id, result.region) == (instance["InstanceId"], REGION)
    assert zone_of(instance) == f"{REGION}d"
    assert [a.line() for a in result.attempts] == [
        f"{REGION} (any AZ): no capacity for {TYPE} (InsufficientInstanceCapacity)",
        f"{REGION}c: no capacity for {TYPE} (InsufficientInstanceCapacity)",
        f"{REGION}d: started",
    ]
    assert (
        f"{REGION}c: no capacity for {TYPE} (InsufficientInstanceCapacity) — trying {REGION}d"
        in lines
    )


def test_a_lost_answer_is_found_by_its_token_and_nothing_more_is_started(
    proxy: CapacityProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    # The first AZ has no capacity; the second starts the instance but its answer is lost
    # on every retry. Moving on to a third AZ would start a second instance.
    proxy.refuse = {REGION: {""}}
    proxy.drop = {(REGION, f"{REGION}a")}
    code, out, err = run(capsys, "launch", TYPE, "--yes", "--any-region")
    assert code == 0, err
    [instance] = instances_everywhere()
    assert zone_of(instance) == f"{REGION}a"
    assert f"the answer was lost, but {instance['InstanceId']} started in {REGION}" in err
    assert {c.outcome for c in proxy.calls if c.zone == f"{REGION}a"} == {"dropped"}
    assert [c.outcome for c in proxy.calls].count("forwarded") == 0  # replays only after one
    assert all(c.zone in ("", f"{REGION}a") for c in proxy.calls)
    assert f"{instance['InstanceId']} is running in {REGION}" in out


def test_without_a_terminal_or_any_region_the_proposal_is_one_line_and_nothing_moves(
    proxy: CapacityProxy, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy.refuse = {REGION: {ANY}}
    code, _, err = run(capsys, "launch", TYPE, "--yes")
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"error: no {TYPE} capacity in {REGION}; nothing was launched; next best: {WEST} at "
        rf"\$0\.8048/h, \+\$0\.00, \+0% \(launch there with --region {WEST}, or --any-region\)",
        last,
    ), last
    assert instances_everywhere() == []
    west = boto3.client("ec2", region_name=WEST)
    assert west.describe_key_pairs()["KeyPairs"] == []
    assert {c.region for c in proxy.calls} == {REGION}
    # On a terminal the same proposal is a y/N question: no moves nothing, yes moves.
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    answers = iter(["n", "y"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    assert run(capsys, "launch", TYPE, "--yes")[0] == 1
    assert instances_everywhere() == []
    code, _, err = run(capsys, "launch", TYPE, "--yes")
    assert code == 0, err
    [instance] = instances_everywhere()
    assert instance["Placement"]["AvailabilityZone"].startswith(WEST)


def test_proposals_are_cheapest_first_leave_out_short_quotas_and_prefer_headroom(
    account: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dlpick.remote.launch.failover import region_options

    quotas = account.aws.moto.quotas
    quotas.set(WEST, G_OD, "Running On-Demand G and VT instances", 64)
    quotas.set("us-east-2", G_OD, "Running On-Demand G and VT instances", 8)
    quotas.set("eu-west-2", G_OD, "Running On-Demand G and VT instances", 0)  # short
    only_regions(monkeypatch, REGION, WEST, "us-east-2", "eu-west-2", "ca-central-1")
    prices = {WEST: 0.8048, "us-east-2": 0.8048, "eu-west-2": 0.70, "ca-central-1": 0.90}
    aws = Aws()
    req = LaunchRequest(
        instance_type=TYPE, region=REGION, checkip_url=os.environ["DLPICK_CHECKIP_URL"]
    )
    plan = plan_launch(aws, req, lambda: (0.8048, "test"))
    options = region_options(aws, plan, [REGION], lambda region: (prices[region], "test"))
    # eu-west-2 is cheapest but its quota is 0; at equal prices 64 vCPUs beat 8; the
    # quota of ca-central-1 cannot be read (none set): it is proposed, marked unknown.
    assert [o.line() for o in options] == [
        f"{WEST} at $0.8048/h, +$0.00, +0%",
        "us-east-2 at $0.8048/h, +$0.00, +0%",
        "ca-central-1 at $0.9000/h, +$0.10, +12%, quota unknown",
    ]


def test_spot_proposals_prefer_the_higher_placement_score_among_equal_prices(
    account: SimpleNamespace, ec2_front: Ec2Front, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dlpick.remote.launch.failover import region_options

    quotas = account.aws.moto.quotas
    for region in (WEST, "us-east-2", "ca-central-1"):
        quotas.set(region, G_SPOT, "All G and VT Spot Instance Requests", 64)
    only_regions(monkeypatch, REGION, WEST, "us-east-2", "ca-central-1")
    ec2_front.state.region_scores = {WEST: 3, "us-east-2": 9, "ca-central-1": 10}
    prices = {WEST: 0.35, "us-east-2": 0.35, "ca-central-1": 0.40}
    aws = Aws()
    req = LaunchRequest(
        instance_type=TYPE, region=REGION, spot=True, checkip_url=os.environ["DLPICK_CHECKIP_URL"]
    )
    plan = plan_launch(aws, req, lambda: (0.35, "test"))
    options = region_options(aws, plan, [REGION], lambda region: (prices[region], "test"))
    # Equal prices: the score decides (9 before 3); a higher score never beats a lower price.
    assert [o.line() for o in options] == [
        "us-east-2 at $0.3500/h, +$0.00, +0%, placement score 9",
        f"{WEST} at $0.3500/h, +$0.00, +0%, placement score 3",
        "ca-central-1 at $0.4000/h, +$0.05, +14%, placement score 10",
    ]
    [asked] = ec2_front.state.asked("GetSpotPlacementScores")
    assert {v for k, v in asked.items() if k.startswith("RegionName")} == set(prices)


def test_a_launch_pinned_to_a_zone_or_a_capacity_block_does_not_move(
    proxy: CapacityProxy,
) -> None:
    from dlpick.remote.launch.failover import pinned_place

    block = LaunchRequest(instance_type=TYPE, region=REGION, capacity_block="cr-0123456789abcdef0")
    assert pinned_place(block) == "the Capacity Block cr-0123456789abcdef0"
    assert pinned_place(LaunchRequest(instance_type=TYPE, region=REGION)) == ""
    proxy.refuse = {REGION: {ANY, f"{REGION}a"}}
    aws = Aws()
    req = LaunchRequest(
        instance_type=TYPE,
        region=REGION,
        availability_zone=f"{REGION}a",
        checkip_url=os.environ["DLPICK_CHECKIP_URL"],
    )
    plan = plan_launch(aws, req, lambda: (0.8048, "test"))
    with pytest.raises(LaunchError, match=f"pinned to the zone {REGION}a, so it does not move"):
        execute(aws, plan, lambda _: None, lambda options: options[0])
    assert [(c.region, c.zone) for c in proxy.calls] == [(REGION, f"{REGION}a")]
    assert instances_everywhere() == []
