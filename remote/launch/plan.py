"""Planning a launch: everything it will do, found with read-only calls.

Specs, offerings, quota, image, who may reach it, key pair, security group, price, the
idempotency token and the guards: a plan can be shown and confirmed, and a quota that
would refuse the launch stops it before anything is created.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from dlpick.core.aws import instance_type_name
from dlpick.core.errors import AwsError, LaunchError
from dlpick.remote.launch import guard
from dlpick.remote.launch.access import (
    caller_cidr,
    check_cidr,
    default_key_path,
    default_vpc,
    find_security_group,
    key_pair_exists,
)
from dlpick.remote.launch.capacity_blocks import block_row, reserved_block
from dlpick.remote.launch.errors import explain, offered_elsewhere
from dlpick.remote.launch.idempotency import check_moved, token_for
from dlpick.remote.launch.images import find_ami
from dlpick.remote.launch.model import LaunchPlan, LaunchRequest, PlanRow
from dlpick.remote.launch.quotas import check_quota

if TYPE_CHECKING:
    from dlpick.core.aws import Aws


def plan_launch(
    aws: Aws, req: LaunchRequest, price: Callable[[], tuple[float | None, str]]
) -> LaunchPlan:
    """Everything a launch will do, found with read-only calls."""
    ec2 = aws.ec2(req.region)
    try:
        types = ec2.describe_instance_types(InstanceTypes=[instance_type_name(req.instance_type)])[
            "InstanceTypes"
        ]
    except AwsError as exc:
        raise explain(exc, req) from None
    if not types:
        raise LaunchError(f"{req.instance_type} is not an EC2 instance type in {req.region}")
    spec = types[0]
    vcpus = int(spec["VCpuInfo"]["DefaultVCpus"])
    arch = "arm64" if "arm64" in spec["ProcessorInfo"]["SupportedArchitectures"] else "x86_64"
    offered = ec2.describe_instance_type_offerings(
        LocationType="region",
        Filters=[{"Name": "instance-type", "Values": [req.instance_type]}],
    )["InstanceTypeOfferings"]
    if not offered:
        raise LaunchError(
            f"{req.instance_type} is not offered in {req.region}{offered_elsewhere(aws, req)}",
            code="Unsupported",
        )
    if req.spot and "spot" not in spec.get("SupportedUsageClasses", ["spot"]):
        raise LaunchError(f"{req.instance_type} cannot run as spot; launch it on-demand")
    quota = check_quota(aws, req.region, req.instance_type, vcpus, spot=req.spot)
    family = req.instance_type.split(".", 1)[0]
    ami = find_ami(aws, req.region, req.ami, req.os, arch, family)
    cidr = check_cidr(req.ssh_cidr) if req.ssh_cidr else caller_cidr(req.checkip_url)
    notes: list[PlanRow] = []
    key_name = req.key_name or f"dlpick-{req.region}"
    key_path = req.key_file or default_key_path(key_name)
    exists = key_pair_exists(ec2, key_name)
    if req.key_name and not exists:
        raise explain(AwsError("no such key pair", code="InvalidKeyPair.NotFound"), req)
    if req.key_name and not key_path.exists():
        raise LaunchError(
            f"no private key for key pair {key_name} at {key_path}; pass --key-file PATH"
        )
    create_key = not exists
    if exists and not key_path.exists():
        raise LaunchError(
            f"key pair {key_name} exists in {req.region} but its private key {key_path} is "
            f"missing; pass --key-name/--key-file, or delete the key pair to let dlpick make "
            "a new one"
        )
    if create_key and key_path.exists():
        notes.append(
            PlanRow("key pair", f"{key_path} exists: its public key is imported as {key_name}")
        )
    vpc = default_vpc(ec2, req.region)
    group = find_security_group(ec2, vpc)
    owner = aws.sts(req.region).get_caller_identity()["Arn"]
    token, existing = token_for(ec2, req)
    if existing is None:
        check_moved(aws, req, token)  # a launch that moved on runs in another region
    usd, note = price()
    limit = guard.deadline(req.max_hours, req.budget, usd)  # InputError without a price
    return LaunchPlan(
        request=req,
        vcpus=vcpus,
        arch=arch,
        ami=ami,
        key_name=key_name,
        key_path=key_path,
        create_key=create_key,
        security_group_id=group["GroupId"] if group else None,
        cidr=cidr,
        quota=quota,
        usd_hour=usd,
        price_note=note,
        client_token=token,
        owner_arn=str(owner),
        existing_instance=existing,
        deadline=limit,
        notes=notes,
    )


def quota_refusal(plan: LaunchPlan) -> LaunchError | None:
    """The refusal to print when the quota is known to be too small."""
    check = plan.quota
    if check.verdict != "short" or check.quota is None:
        return None
    r = plan.request
    return LaunchError(
        f"{check.summary()}; not launching. Ask AWS for more: dlpick quotas request "
        f"{check.quota.code} {check.request_value} --region {r.region}",
        code="QuotaShort",
    )


def attach(aws: Aws, plan: LaunchPlan) -> None:
    """Put the request's bought block into the plan: the launch goes into it, in its AZ."""
    req = plan.request
    if req.capacity_block:
        plan.block = reserved_block(aws, req.region, req.capacity_block, req.instance_type)
        plan.notes.append(PlanRow("capacity block", block_row(plan.block)))
