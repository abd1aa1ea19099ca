"""`dlpick batch setup`: AWS Batch on spot for GPU training, made once per region.

Planned first with read-only calls, so the plan (what will be created, the types with
their $/TF-h, the vCPU quotas against --max-vcpus) can be shown and confirmed. Executing
it creates only what is missing, each piece found by name next time, so a second setup
creates nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dlpick.pricing.errors import AwsError
from dlpick.remote import batch_names as names
from dlpick.remote.access import default_vpc
from dlpick.remote.batch_state import environments, find_group, find_service_role, queues
from dlpick.remote.batch_types import TypeChoice
from dlpick.remote.launch import PlanRow
from dlpick.remote.quotas import QuotaCheck, check_quota, rule_for
from dlpick.remote.tags import MANAGED_TAG, OWNER_TAG

if TYPE_CHECKING:
    from dlpick.pricing.aws import Aws

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
