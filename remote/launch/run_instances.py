"""What EC2's RunInstances is asked to start a planned launch, and its dry run.

One hardened instance: the planned image with a gp3 root volume deleted with it,
IMDSv2 only, tags that mark it dlpick's and carry its guards, the self-stop
deadline as first-boot user data, and a one-time spot request when asked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dlpick.core.aws import instance_type_name
from dlpick.core.errors import AwsError, LaunchError
from dlpick.remote.launch import guard
from dlpick.remote.launch.capacity_blocks import block_arguments
from dlpick.remote.launch.errors import explain
from dlpick.remote.tags import IDLE_STOP_TAG, STOP_AFTER_TAG, TOKEN_TAG

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import RunInstancesRequestTypeDef, SpotMarketOptionsTypeDef

    from dlpick.core.aws import Aws
    from dlpick.remote.launch.model import LaunchPlan


def run_arguments(
    plan: LaunchPlan,
    security_group_id: str | None,
    now: datetime | None = None,
    *,
    client_token: str | None = None,
    subnet_id: str | None = None,
) -> RunInstancesRequestTypeDef:
    """The RunInstances arguments that start the planned instance in `security_group_id`,
    in `subnet_id` (its AZ) when given, with an attempt's own `client_token` when given;
    the instance is always tagged with the launch's token."""
    r = plan.request
    guard_tags: list[tuple[str, str]] = []
    if r.idle_stop_minutes:
        guard_tags.append((IDLE_STOP_TAG, str(r.idle_stop_minutes)))
    if plan.deadline is not None:
        stop_at = plan.deadline.at(now or datetime.now(UTC))
        guard_tags.append((STOP_AFTER_TAG, stop_at.strftime("%Y-%m-%dT%H:%M:%SZ")))
    args: RunInstancesRequestTypeDef = {
        "ImageId": plan.ami.image_id,
        "InstanceType": instance_type_name(r.instance_type),
        "MinCount": 1,
        "MaxCount": 1,
        "KeyName": plan.key_name,
        "ClientToken": client_token or plan.client_token,
        "BlockDeviceMappings": [
            {
                "DeviceName": plan.ami.root_device,
                "Ebs": {
                    "VolumeSize": max(r.volume_gb, plan.ami.min_volume_gb),
                    "VolumeType": "gp3",
                    "DeleteOnTermination": True,
                },
            }
        ],
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        "TagSpecifications": [
            {
                "ResourceType": "instance",
                "Tags": plan.tags((TOKEN_TAG, plan.client_token), *guard_tags),
            },
            {"ResourceType": "volume", "Tags": plan.tags()},
        ],
    }
    if r.availability_zone:
        args["Placement"] = {"AvailabilityZone": r.availability_zone}
    if security_group_id:
        args["SecurityGroupIds"] = [security_group_id]
    if subnet_id:
        args["SubnetId"] = subnet_id
    if plan.deadline is not None:
        args["UserData"] = guard.self_stop_user_data(plan.deadline)
        args["InstanceInitiatedShutdownBehavior"] = plan.guard_action
    if r.spot:
        options: SpotMarketOptionsTypeDef = {
            "SpotInstanceType": "one-time",
            "InstanceInterruptionBehavior": "terminate",
        }
        if r.max_price is not None:
            options["MaxPrice"] = f"{r.max_price:.5f}"
        args["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": options}
    if plan.block is not None:
        block_arguments(args, plan.block)
    return args


def dry_run(aws: Aws, plan: LaunchPlan) -> None:
    """EC2's DryRun: do we have permission? Creates nothing."""
    ec2 = aws.ec2(plan.request.region)
    args = run_arguments(plan, plan.security_group_id)
    args.pop("ClientToken")
    if plan.create_key:
        args.pop("KeyName")
    args["DryRun"] = True
    try:
        ec2.run_instances(**args)
    except AwsError as exc:
        if exc.code == "DryRunOperation":
            return
        raise explain(exc, plan.request) from None
    raise LaunchError("EC2 did not answer the dry run as expected; nothing was created")
