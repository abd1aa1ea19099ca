"""`dlpick batch setup`: AWS Batch on spot for GPU training, made once per region.

Planned first with read-only calls, so the plan (what will be created, the types with
their $/TF-h, the vCPU quotas against --max-vcpus) can be shown and confirmed. Executing
it creates only what is missing, each piece found by name next time, so a second setup
creates nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dlpick.core.errors import AwsError
from dlpick.remote.batch import names as names
from dlpick.remote.batch.state import (
    environments,
    find_group,
    find_service_role,
    queues,
    until_valid,
    wait_until,
)
from dlpick.remote.batch.types import TypeChoice
from dlpick.remote.launch.access import default_vpc
from dlpick.remote.launch.model import PlanRow
from dlpick.remote.launch.quotas import QuotaCheck, check_quota, rule_for
from dlpick.remote.tags import MANAGED_TAG, OWNER_TAG

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

    from dlpick.core.aws import Aws


DEFAULT_MAX_VCPUS = 64
GPU_IMAGE_TYPE = "ECS_AL2023_NVIDIA"
SPOT_STRATEGY = "SPOT_PRICE_CAPACITY_OPTIMIZED"
ON_DEMAND_STRATEGY = "BEST_FIT_PROGRESSIVE"


@dataclass
class SetupRequest:
    """What the user asked setup for: the CLI's flags."""

    region: str
    types: tuple[str, ...] = ()
    gpu: str | None = None
    max_usd_per_tflop: float | None = None
    max_vcpus: int = DEFAULT_MAX_VCPUS


@dataclass(frozen=True)
class Piece:
    """One thing setup makes: what it is, its name, and whether it is already there."""

    kind: str
    name: str
    exists: bool


@dataclass
class SetupPlan:
    """Everything setup will do, found with read-only calls, for the confirmation."""

    request: SetupRequest
    account: str
    owner: str
    types: list[TypeChoice]
    subnets: list[str]
    security_group_id: str | None
    service_role_arn: str | None  # None: the service-linked role is created
    pieces: list[Piece]
    quotas: list[QuotaCheck] = field(default_factory=list)
    notes: list[PlanRow] = field(default_factory=list)  # remarks after the rows

    @property
    def bucket(self) -> str:
        return names.bucket_name(self.account, self.request.region)

    @property
    def missing(self) -> list[Piece]:
        return [p for p in self.pieces if not p.exists]

    def has(self, kind: str) -> bool:
        return any(p.kind == kind and p.exists for p in self.pieces)

    def rows(self) -> list[PlanRow]:
        r = self.request
        rows = [PlanRow("region", r.region)]
        for i, choice in enumerate(self.types):
            rows.append(PlanRow("types" if i == 0 else "", choice.line()))
        rows.append(
            PlanRow("max vCPUs", f"{r.max_vcpus} per environment (minimum 0: idle costs 0)")
        )
        for check in self.quotas:
            rows.append(PlanRow(f"{check.market} quota", _quota_line(check, r.max_vcpus), "quota"))
            if check.verdict == "short" and check.quota is not None:
                rows.append(
                    PlanRow(
                        "WARNING",
                        f"{check.market} jobs stop growing at {int(check.quota.value or 0)} "
                        f"vCPUs; ask for more: dlpick quotas request {check.quota.code} "
                        f"{check.request_value} --region {r.region}",
                        "warning",
                    )
                )
        for piece in self.pieces:
            rows.append(
                PlanRow(piece.kind, ("exists: " if piece.exists else "create ") + piece.name)
            )
        rows.append(PlanRow("tags", f"{MANAGED_TAG}=true, {OWNER_TAG}={self.owner}"))
        return rows + self.notes

    def describe(self) -> list[str]:
        return [row.line() for row in self.rows()]


def _quota_line(check: QuotaCheck, max_vcpus: int) -> str:
    if check.verdict == "unknown" or check.quota is None:
        return f"{check.instance_type} class: quota unknown ({check.reason or 'not readable'})"
    free = int(check.quota.value or 0) - int(check.used_vcpus or 0)
    verdict = "fits" if check.verdict == "fits" else f"short by {check.short_by}"
    return (
        f"{check.quota.name}: {int(check.quota.value or 0)} vCPUs, {check.used_vcpus} in use, "
        f"{free} free for --max-vcpus {max_vcpus} - {verdict}"
    )


# -- reading what is there ------------------------------------------------------------


def _exists(call: Callable[[], object], missing_codes: Sequence[str]) -> bool:
    try:
        call()
    except AwsError as exc:
        if exc.code in missing_codes:
            return False
        raise
    return True


def _bucket_exists(aws: Aws, region: str, bucket: str) -> bool:
    """Whether dlpick's bucket is there; one of another account's name is an error."""
    try:
        return _exists(lambda: aws.s3(region).head_bucket(Bucket=bucket), ("404", "NoSuchBucket"))
    except AwsError as exc:
        if exc.code in ("403", "AccessDenied"):
            raise AwsError(
                f"the bucket name {bucket} is taken by another account, or you may not read it",
                hint="check s3:ListBucket on it; bucket names are global",
                code=exc.code,
            ) from None
        raise


def quota_checks(
    aws: Aws, region: str, types: Sequence[TypeChoice], vcpus: int
) -> list[QuotaCheck]:
    """One check per quota class of the types, in each market the environments use."""
    checks = []
    for spot in (True, False):
        seen: set[str] = set()
        for choice in types:
            rule = rule_for(choice.instance_type, "spot" if spot else "on-demand")
            key = rule.name if rule else choice.instance_type
            if key in seen:
                continue
            seen.add(key)
            checks.append(check_quota(aws, region, choice.instance_type, vcpus, spot=spot))
    return checks


def plan_setup(aws: Aws, req: SetupRequest, types: list[TypeChoice]) -> SetupPlan:
    """Everything setup will do, found with read-only calls."""
    region = req.region
    ec2, iam, batch = aws.ec2(region), aws.iam(region), aws.batch(region)
    who = aws.sts(region).get_caller_identity()
    account, owner = str(who["Account"]), str(who["Arn"])
    vpc = default_vpc(ec2, region)
    subnets = [
        str(s["SubnetId"])
        for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    ]
    group = find_group(aws, region, vpc)
    no_entity = ("NoSuchEntity",)
    bucket = names.bucket_name(account, region)
    envs = environments(batch, names.ENVIRONMENTS)
    qs = queues(batch, names.QUEUES)
    service_role = find_service_role(iam)
    pieces = [
        Piece("service role", "AWSServiceRoleForBatch (AWS's own)", service_role is not None),
        Piece(
            "instance role",
            f"{names.INSTANCE_ROLE} ({names.INSTANCE_POLICY.rsplit('/', 1)[1]})",
            _exists(lambda: iam.get_role(RoleName=names.INSTANCE_ROLE), no_entity),
        ),
        Piece(
            "instance profile",
            names.INSTANCE_ROLE,
            _exists(
                lambda: iam.get_instance_profile(InstanceProfileName=names.INSTANCE_ROLE),
                no_entity,
            ),
        ),
        Piece(
            "job role",
            f"{names.JOB_ROLE} (reads s3://{bucket} only)",
            _exists(lambda: iam.get_role(RoleName=names.JOB_ROLE), no_entity),
        ),
        Piece(
            "security group",
            f"{names.SECURITY_GROUP} in {vpc}: no inbound rule",
            group is not None,
        ),
        Piece(
            "code bucket",
            f"s3://{bucket}",
            _bucket_exists(aws, region, bucket),
        ),
        Piece(
            "spot env.",
            f"{names.SPOT_ENVIRONMENT} (SPOT, {SPOT_STRATEGY}, {GPU_IMAGE_TYPE}, min 0 vCPUs)",
            names.SPOT_ENVIRONMENT in envs,
        ),
        Piece(
            "on-demand env.",
            f"{names.ON_DEMAND_ENVIRONMENT} (EC2, {GPU_IMAGE_TYPE}, min 0 vCPUs)",
            names.ON_DEMAND_ENVIRONMENT in envs,
        ),
        Piece(
            "job queue",
            f"{names.SPOT_QUEUE}: {names.SPOT_ENVIRONMENT}, then {names.ON_DEMAND_ENVIRONMENT}",
            names.SPOT_QUEUE in qs,
        ),
        Piece(
            "job queue",
            f"{names.ON_DEMAND_QUEUE}: {names.ON_DEMAND_ENVIRONMENT} (multi-node, --on-demand)",
            names.ON_DEMAND_QUEUE in qs,
        ),
    ]
    wanted = [t.instance_type for t in types]
    notes = [
        PlanRow(
            "note",
            f"{name} exists with {', '.join(kept)} and keeps them; to change its types: "
            f"dlpick batch teardown, then setup",
        )
        for name, env in envs.items()
        if (kept := list(env.get("computeResources", {}).get("instanceTypes", []))) != wanted
    ]
    notes += [
        PlanRow(
            "WARNING",
            f"{name} is INVALID ({env.get('statusReason', 'no reason given')}); "
            "dlpick batch teardown, then setup makes it again",
            "warning",
        )
        for name, env in envs.items()
        if env.get("status") == "INVALID"
    ]
    return SetupPlan(
        notes=notes,
        request=req,
        account=account,
        owner=owner,
        types=types,
        subnets=subnets,
        security_group_id=group,
        service_role_arn=service_role,
        pieces=pieces,
        quotas=quota_checks(aws, region, types, req.max_vcpus),
    )


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
