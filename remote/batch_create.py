"""Making what `dlpick batch setup` planned: roles, network, bucket, environments, queues.

Only what the plan found missing is created, in the order each needs the one before,
and Batch is waited for until every environment and queue is VALID.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dlpick.remote import batch_names as names
from dlpick.remote.access import default_vpc
from dlpick.remote.batch_setup import (
    GPU_IMAGE_TYPE,
    ON_DEMAND_STRATEGY,
    SPOT_STRATEGY,
    SetupPlan,
)
from dlpick.remote.batch_state import environments, queues, until_valid, wait_until

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

    from dlpick.pricing.aws import Aws


_TRUST = {
    "ec2": "ec2.amazonaws.com",
    "job": "ecs-tasks.amazonaws.com",
}


def _trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def _read_bucket_policy(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": [f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        }
    )


def _iam_tags(plan: SetupPlan) -> list[Any]:
    return [{"Key": k, "Value": v} for k, v in names.batch_tags(plan.owner).items()]


def _create_role(iam: IAMClient, plan: SetupPlan, name: str, trusted: str, what: str) -> None:
    iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=_trust(_TRUST[trusted]),
        Description=f"dlpick: {what}",
        Tags=_iam_tags(plan),
    )


def _make_roles(aws: Aws, plan: SetupPlan, progress: Callable[[str], None]) -> str:
    """The roles and the instance profile; returns the service role's ARN."""
    iam = aws.iam(plan.request.region)
    service_role = plan.service_role_arn
    if service_role is None:
        progress("creating Batch's service-linked role")
        service_role = str(
            iam.create_service_linked_role(AWSServiceName=names.BATCH_SERVICE)["Role"]["Arn"]
        )
    if not plan.has("instance role"):
        _create_role(iam, plan, names.INSTANCE_ROLE, "ec2", "the hosts of its Batch environments")
        iam.attach_role_policy(RoleName=names.INSTANCE_ROLE, PolicyArn=names.INSTANCE_POLICY)
        progress(f"created role {names.INSTANCE_ROLE}")
    if not plan.has("instance profile"):
        iam.create_instance_profile(InstanceProfileName=names.INSTANCE_ROLE, Tags=_iam_tags(plan))
        iam.add_role_to_instance_profile(
            InstanceProfileName=names.INSTANCE_ROLE, RoleName=names.INSTANCE_ROLE
        )
        # IAM is eventually consistent: an environment given a profile IAM does not
        # answer for yet would be INVALID.
        iam.get_waiter("instance_profile_exists").wait(InstanceProfileName=names.INSTANCE_ROLE)
        progress(f"created instance profile {names.INSTANCE_ROLE}")
    if not plan.has("job role"):
        _create_role(iam, plan, names.JOB_ROLE, "job", "Batch jobs reading their code")
        iam.put_role_policy(
            RoleName=names.JOB_ROLE,
            PolicyName=names.JOB_POLICY_NAME,
            PolicyDocument=_read_bucket_policy(plan.bucket),
        )
        progress(f"created role {names.JOB_ROLE}")
    return service_role


def _make_network_and_bucket(aws: Aws, plan: SetupPlan, progress: Callable[[str], None]) -> str:
    """The security group (no inbound rule) and the code bucket; returns the group id."""
    region = plan.request.region
    ec2, s3 = aws.ec2(region), aws.s3(region)
    group = plan.security_group_id
    if group is None:
        progress(f"creating security group {names.SECURITY_GROUP} (no inbound rule)")
        group = str(
            ec2.create_security_group(
                GroupName=names.SECURITY_GROUP,
                Description="dlpick Batch hosts: outbound only, nothing reaches in",
                VpcId=default_vpc(ec2, region),
                TagSpecifications=[{"ResourceType": "security-group", "Tags": _iam_tags(plan)}],
            )["GroupId"]
        )
    if not plan.has("code bucket"):
        progress(f"creating bucket s3://{plan.bucket}")
        if region == "us-east-1":
            s3.create_bucket(Bucket=plan.bucket)
        else:
            s3.create_bucket(
                Bucket=plan.bucket,
                CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
            )
        s3.put_public_access_block(
            Bucket=plan.bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_tagging(Bucket=plan.bucket, Tagging={"TagSet": _iam_tags(plan)})
    return group


def compute_resources(plan: SetupPlan, group: str, *, spot: bool) -> dict[str, Any]:
    """The computeResources of one environment: GPU image, minimum 0, default VPC."""
    resources: dict[str, Any] = {
        "type": "SPOT" if spot else "EC2",
        "allocationStrategy": SPOT_STRATEGY if spot else ON_DEMAND_STRATEGY,
        "minvCpus": 0,
        "desiredvCpus": 0,
        "maxvCpus": plan.request.max_vcpus,
        "instanceTypes": [t.instance_type for t in plan.types],
        "subnets": plan.subnets,
        "securityGroupIds": [group],
        "instanceRole": names.INSTANCE_ROLE,
        "ec2Configuration": [{"imageType": GPU_IMAGE_TYPE}],
        # On the hosts too, so `dlpick ls` counts them as dlpick's.
        "tags": {**names.batch_tags(plan.owner), "Name": names.HOST_NAME},
    }
    if spot:
        resources["bidPercentage"] = 100  # pay the spot price, never above on-demand
    return resources


def execute_setup(aws: Aws, plan: SetupPlan, progress: Callable[[str], None]) -> None:
    """Create what is missing, in dependency order, waiting until Batch says VALID."""
    region = plan.request.region
    batch = aws.batch(region)
    service_role = _make_roles(aws, plan, progress)
    group = _make_network_and_bucket(aws, plan, progress)
    tags = names.batch_tags(plan.owner)
    for name, spot in ((names.SPOT_ENVIRONMENT, True), (names.ON_DEMAND_ENVIRONMENT, False)):
        if plan.has("spot env." if spot else "on-demand env."):
            continue
        progress(f"creating compute environment {name}")
        batch.create_compute_environment(
            computeEnvironmentName=name,
            type="MANAGED",
            state="ENABLED",
            serviceRole=service_role,
            computeResources=compute_resources(plan, group, spot=spot),  # type: ignore[arg-type]
            tags=tags,
        )
    for name in names.ENVIRONMENTS:
        wait_until(
            f"compute environment {name} becoming VALID",
            until_valid(lambda: environments(batch, names.ENVIRONMENTS), name),
        )
    existing = queues(batch, names.QUEUES)
    orders = {
        names.SPOT_QUEUE: [names.SPOT_ENVIRONMENT, names.ON_DEMAND_ENVIRONMENT],
        names.ON_DEMAND_QUEUE: [names.ON_DEMAND_ENVIRONMENT],
    }
    for queue, order in orders.items():
        if queue in existing:
            continue
        progress(f"creating job queue {queue}")
        batch.create_job_queue(
            jobQueueName=queue,
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[
                {"order": i + 1, "computeEnvironment": env} for i, env in enumerate(order)
            ],
            tags=tags,
        )
    for queue in names.QUEUES:
        wait_until(
            f"job queue {queue} becoming VALID",
            until_valid(lambda: queues(batch, names.QUEUES), queue),
        )
