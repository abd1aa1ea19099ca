"""`dlpick batch setup`: AWS Batch on spot for GPU training, made once per region.

Planned first with read-only calls, so the plan (what will be created, the types with
their $/TF-h, the vCPU quotas against --max-vcpus) can be shown and confirmed. Executing
it creates only what is missing, each piece found by name next time, so a second setup
creates nothing.

Setup converges: each piece that exists is checked against what setup makes (the hosts'
policy, the jobs' inline policy, the instance profile's role, each environment's type,
allocation strategy, state, instance types and vCPUs, each queue's state and order). A
setting Batch or IAM can change in place is repaired; one it cannot (an environment of
the wrong type) is named, and setup changes nothing. A half-made setup is never called
ready.

One module: the plan and its execution share each piece's name, the settings it is
checked against and the calls that make or repair it; apart, a setting could be made
one way and checked another.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dlpick.core.aws_errors import expect
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
# Batch changes an environment's types, vCPUs or strategy in place only when it
# allocates with one of these (its "infrastructure updates"); BEST_FIT allows none.
UPDATABLE_STRATEGIES = frozenset(
    {"BEST_FIT_PROGRESSIVE", "SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED"}
)
SPOT_KIND, ON_DEMAND_KIND, QUEUE_KIND = "spot env.", "on-demand env.", "job queue"


@dataclass
class SetupRequest:
    """What the user asked setup for: the CLI's flags."""

    region: str
    types: tuple[str, ...] = ()
    gpu: str | None = None
    max_usd_per_tflop: float | None = None
    max_vcpus: int | None = None  # None: what the environments have, else the default

    @property
    def chooses_types(self) -> bool:
        """Whether the user chose the types; if not, existing environments keep theirs."""
        return bool(self.types or self.gpu or self.max_usd_per_tflop is not None)


@dataclass
class Difference:
    """A setting of a piece that exists but is not what setup makes.

    `fix` says what setup will do about it, in words; empty when AWS cannot change the
    setting in place. `change` is what the fix sends to Batch: UpdateComputeEnvironment's
    or UpdateJobQueue's arguments (merged per resource); IAM's fixes need none.
    """

    name: str
    found: str
    fix: str = ""
    change: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Piece:
    """One thing setup makes: what it is, its name, whether it is already there, and
    how it differs from what setup makes."""

    kind: str
    name: str
    exists: bool
    differences: tuple[Difference, ...] = ()


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
    max_vcpus: int = DEFAULT_MAX_VCPUS
    quotas: list[QuotaCheck] = field(default_factory=list)
    notes: list[PlanRow] = field(default_factory=list)  # remarks after the rows

    @property
    def bucket(self) -> str:
        return names.bucket_name(self.account, self.request.region)

    @property
    def missing(self) -> list[Piece]:
        return [p for p in self.pieces if not p.exists]

    @property
    def repairs(self) -> list[tuple[Piece, Difference]]:
        """The settings setup changes in place, with the piece each belongs to."""
        return [(p, d) for p in self.pieces for d in p.differences if d.fix]

    @property
    def conflicts(self) -> list[Difference]:
        """The settings that differ and that AWS cannot change in place."""
        return [d for p in self.pieces for d in p.differences if not d.fix]

    def has(self, kind: str) -> bool:
        return any(p.kind == kind and p.exists for p in self.pieces)

    def rows(self) -> list[PlanRow]:
        r = self.request
        rows = [PlanRow("region", r.region)]
        for i, choice in enumerate(self.types):
            rows.append(PlanRow("types" if i == 0 else "", choice.line()))
        rows.append(
            PlanRow("max vCPUs", f"{self.max_vcpus} per environment (minimum 0: idle costs 0)")
        )
        for check in self.quotas:
            rows.append(
                PlanRow(f"{check.market} quota", _quota_line(check, self.max_vcpus), "quota")
            )
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
            for d in piece.differences:
                if d.fix:
                    rows.append(PlanRow("repair", f"{d.name} {d.found}: {d.fix}"))
                else:
                    rows.append(
                        PlanRow(
                            "DIFFERS",
                            f"{d.name} {d.found}; AWS cannot change that in place",
                            "warning",
                        )
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


def current_types(aws: Aws, region: str) -> tuple[str, ...]:
    """The instance types dlpick's environments run now (the spot one's first): what a
    setup without a choice of types keeps."""
    envs = environments(aws.batch(region), names.ENVIRONMENTS)
    for name in names.ENVIRONMENTS:
        types = (envs.get(name, {}).get("computeResources") or {}).get("instanceTypes")
        if types:
            return tuple(str(t) for t in types)
    return ()


_NO_ENTITY = ("NoSuchEntity",)
_POLICY = names.INSTANCE_POLICY.rsplit("/", 1)[1]


def _instance_role(iam: IAMClient) -> Piece:
    """The hosts' role; without ECS's policy its hosts never join, and jobs wait forever."""
    label = f"{names.INSTANCE_ROLE} ({_POLICY})"
    if not _exists(lambda: iam.get_role(RoleName=names.INSTANCE_ROLE), _NO_ENTITY):
        return Piece("instance role", label, False)
    attached = [
        str(p["PolicyArn"])
        for page in iam.get_paginator("list_attached_role_policies").paginate(
            RoleName=names.INSTANCE_ROLE
        )
        for p in expect(page, "AttachedPolicies", list)
    ]
    if names.INSTANCE_POLICY in attached:
        return Piece("instance role", label, True)
    missing = Difference(
        names.INSTANCE_ROLE,
        f"lacks {_POLICY} (its hosts cannot join Batch; jobs would wait in RUNNABLE)",
        f"attach {_POLICY}",
    )
    return Piece("instance role", label, True, (missing,))


def _instance_profile(iam: IAMClient) -> Piece:
    """The profile the hosts start with: it must hold the hosts' role."""
    try:
        profile = iam.get_instance_profile(InstanceProfileName=names.INSTANCE_ROLE)
    except AwsError as exc:
        if exc.code in _NO_ENTITY:
            return Piece("instance profile", names.INSTANCE_ROLE, False)
        raise
    roles = [str(r["RoleName"]) for r in profile["InstanceProfile"].get("Roles", [])]
    differences: tuple[Difference, ...] = ()
    if not roles:
        differences = (
            Difference(names.INSTANCE_ROLE, "holds no role", f"add the role {names.INSTANCE_ROLE}"),
        )
    elif roles != [names.INSTANCE_ROLE]:
        differences = (
            Difference(names.INSTANCE_ROLE, f"holds {', '.join(roles)}, not {names.INSTANCE_ROLE}"),
        )
    return Piece("instance profile", names.INSTANCE_ROLE, True, differences)


def _policy_document(document: object) -> object:
    """An IAM policy document as data (boto3 decodes it; a raw answer is URL-encoded)."""
    if isinstance(document, str):
        return json.loads(urllib.parse.unquote(document))
    return document


def _job_role(iam: IAMClient, bucket: str) -> Piece:
    """The jobs' role: its inline policy lets jobs read their code and nothing else."""
    label = f"{names.JOB_ROLE} (reads s3://{bucket} only)"
    if not _exists(lambda: iam.get_role(RoleName=names.JOB_ROLE), _NO_ENTITY):
        return Piece("job role", label, False)
    try:
        found = iam.get_role_policy(RoleName=names.JOB_ROLE, PolicyName=names.JOB_POLICY_NAME)
    except AwsError as exc:
        if exc.code not in _NO_ENTITY:
            raise
        missing = Difference(
            names.JOB_ROLE,
            f"lacks its policy {names.JOB_POLICY_NAME} (jobs could not read their code)",
            f"put {names.JOB_POLICY_NAME} back",
        )
        return Piece("job role", label, True, (missing,))
    if _policy_document(found["PolicyDocument"]) == json.loads(_read_bucket_policy(bucket)):
        return Piece("job role", label, True)
    changed = Difference(
        names.JOB_ROLE,
        f"has a policy {names.JOB_POLICY_NAME} other than reading s3://{bucket}",
        f"write {names.JOB_POLICY_NAME} again",
    )
    return Piece("job role", label, True, (changed,))


def _environment_differences(
    env: dict[str, Any], *, spot: bool, types: list[str], max_vcpus: int
) -> tuple[Difference, ...]:
    """How an existing environment differs from what setup makes, and what can be fixed."""
    name = str(env["computeEnvironmentName"])
    res = env.get("computeResources") or {}
    market = "SPOT" if spot else "EC2"
    if env.get("status") == "INVALID":
        reason = env.get("statusReason") or "no reason given"
        return (Difference(name, f"is INVALID ({reason})"),)
    if env.get("type") != "MANAGED" or res.get("type") != market:
        runs = res.get("type") or env.get("type") or "?"
        return (Difference(name, f"runs {runs} hosts, not {market}"),)
    strategy = SPOT_STRATEGY if spot else ON_DEMAND_STRATEGY
    now = str(res.get("allocationStrategy") or "BEST_FIT")
    if now not in UPDATABLE_STRATEGIES:
        return (Difference(name, f"allocates with {now}, not {strategy}"),)
    out = []
    if env.get("state") != "ENABLED":
        out.append(
            Difference(
                name, f"is {env.get('state') or 'not enabled'}", "enable it", {"state": "ENABLED"}
            )
        )
    if now != strategy:
        out.append(
            Difference(
                name,
                f"allocates with {now}",
                f"allocate with {strategy}",
                {"computeResources": {"allocationStrategy": strategy}},
            )
        )
    have = [str(t) for t in res.get("instanceTypes") or []]
    if set(have) != set(types):
        out.append(
            Difference(
                name,
                f"runs {', '.join(have) or 'no type'}",
                f"change its types to {', '.join(types)}",
                {"computeResources": {"instanceTypes": types}},
            )
        )
    if res.get("maxvCpus") != max_vcpus:
        out.append(
            Difference(
                name,
                f"runs at most {res.get('maxvCpus', '?')} vCPUs",
                f"set the most to {max_vcpus}",
                {"computeResources": {"maxvCpus": max_vcpus}},
            )
        )
    if res.get("minvCpus", 0) != 0:
        out.append(
            Difference(
                name,
                f"keeps {res.get('minvCpus')} vCPUs running while idle",
                "set the minimum to 0 (idle costs 0)",
                {"computeResources": {"minvCpus": 0}},
            )
        )
    return tuple(out)


QUEUE_ORDERS = {
    names.SPOT_QUEUE: [names.SPOT_ENVIRONMENT, names.ON_DEMAND_ENVIRONMENT],
    names.ON_DEMAND_QUEUE: [names.ON_DEMAND_ENVIRONMENT],
}


def _queue_differences(queue: dict[str, Any]) -> tuple[Difference, ...]:
    """How an existing queue differs: its state, and the environments it tries in order."""
    name = str(queue["jobQueueName"])
    if queue.get("status") == "INVALID":
        return (Difference(name, f"is INVALID ({queue.get('statusReason') or 'no reason given'})"),)
    out = []
    if queue.get("state") != "ENABLED":
        out.append(
            Difference(
                name, f"is {queue.get('state') or 'not enabled'}", "enable it", {"state": "ENABLED"}
            )
        )
    order = sorted(queue.get("computeEnvironmentOrder") or [], key=lambda o: int(o.get("order", 0)))
    have = [str(o.get("computeEnvironment", "")).rsplit("/", 1)[-1] for o in order]
    wanted = QUEUE_ORDERS[name]
    if have != wanted:
        out.append(
            Difference(
                name,
                f"tries {', then '.join(have) or 'no environment'}",
                f"try {', then '.join(wanted)}",
                {"order": wanted},
            )
        )
    return tuple(out)


def plan_setup(aws: Aws, req: SetupRequest, types: list[TypeChoice]) -> SetupPlan:
    """Everything setup will do, found with read-only calls: what to create, and how what
    exists differs from what setup makes."""
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
    bucket = names.bucket_name(account, region)
    envs = environments(batch, names.ENVIRONMENTS)
    qs = queues(batch, names.QUEUES)
    service_role = find_service_role(iam)
    max_vcpus = req.max_vcpus
    if max_vcpus is None:
        found = [
            int(envs[n]["computeResources"]["maxvCpus"])
            for n in names.ENVIRONMENTS
            if "maxvCpus" in (envs.get(n, {}).get("computeResources") or {})
        ]
        max_vcpus = found[0] if found else DEFAULT_MAX_VCPUS
    wanted = [t.instance_type for t in types]

    def environment(name: str, spot: bool, label: str) -> Piece:
        kind = SPOT_KIND if spot else ON_DEMAND_KIND
        env = envs.get(name)
        if env is None:
            return Piece(kind, label, False)
        found = _environment_differences(env, spot=spot, types=wanted, max_vcpus=max_vcpus)
        return Piece(kind, label, True, found)

    def queue(name: str, label: str) -> Piece:
        q = qs.get(name)
        return Piece(QUEUE_KIND, label, q is not None, _queue_differences(q) if q else ())

    pieces = [
        Piece("service role", "AWSServiceRoleForBatch (AWS's own)", service_role is not None),
        _instance_role(iam),
        _instance_profile(iam),
        _job_role(iam, bucket),
        Piece(
            "security group",
            f"{names.SECURITY_GROUP} in {vpc}: no inbound rule",
            group is not None,
        ),
        Piece("code bucket", f"s3://{bucket}", _bucket_exists(aws, region, bucket)),
        environment(
            names.SPOT_ENVIRONMENT,
            True,
            f"{names.SPOT_ENVIRONMENT} (SPOT, {SPOT_STRATEGY}, {GPU_IMAGE_TYPE}, min 0 vCPUs)",
        ),
        environment(
            names.ON_DEMAND_ENVIRONMENT,
            False,
            f"{names.ON_DEMAND_ENVIRONMENT} (EC2, {GPU_IMAGE_TYPE}, min 0 vCPUs)",
        ),
        queue(
            names.SPOT_QUEUE,
            f"{names.SPOT_QUEUE}: {names.SPOT_ENVIRONMENT}, then {names.ON_DEMAND_ENVIRONMENT}",
        ),
        queue(
            names.ON_DEMAND_QUEUE,
            f"{names.ON_DEMAND_QUEUE}: {names.ON_DEMAND_ENVIRONMENT} (multi-node, --on-demand)",
        ),
    ]
    return SetupPlan(
        request=req,
        account=account,
        owner=owner,
        types=types,
        subnets=subnets,
        security_group_id=group,
        service_role_arn=service_role,
        pieces=pieces,
        max_vcpus=max_vcpus,
        quotas=quota_checks(aws, region, types, max_vcpus),
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
    _repair_iam(iam, plan, progress)
    return service_role


def _repair_iam(iam: IAMClient, plan: SetupPlan, progress: Callable[[str], None]) -> None:
    """Put back what the roles and the instance profile lack."""
    for piece, difference in plan.repairs:
        if piece.kind == "instance role":
            iam.attach_role_policy(RoleName=names.INSTANCE_ROLE, PolicyArn=names.INSTANCE_POLICY)
        elif piece.kind == "instance profile":
            iam.add_role_to_instance_profile(
                InstanceProfileName=names.INSTANCE_ROLE, RoleName=names.INSTANCE_ROLE
            )
        elif piece.kind == "job role":
            iam.put_role_policy(
                RoleName=names.JOB_ROLE,
                PolicyName=names.JOB_POLICY_NAME,
                PolicyDocument=_read_bucket_policy(plan.bucket),
            )
        else:
            continue
        progress(f"repaired {difference.name}: {difference.fix}")


def _changes(piece: Piece) -> dict[str, Any]:
    """The fixes of one environment or queue merged into one Update call's arguments
    (Batch takes one change at a time while it applies it)."""
    merged: dict[str, Any] = {}
    for d in piece.differences:
        for key, value in d.change.items():
            if isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            else:
                merged[key] = value
    return merged


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
        "maxvCpus": plan.max_vcpus,
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
    """Create what is missing and repair what differs, in dependency order, waiting until
    Batch says VALID."""
    region = plan.request.region
    batch = aws.batch(region)
    service_role = _make_roles(aws, plan, progress)
    group = _make_network_and_bucket(aws, plan, progress)
    tags = names.batch_tags(plan.owner)
    for name, spot in ((names.SPOT_ENVIRONMENT, True), (names.ON_DEMAND_ENVIRONMENT, False)):
        if plan.has(SPOT_KIND if spot else ON_DEMAND_KIND):
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
    for piece in plan.pieces:
        change = _changes(piece) if piece.kind in (SPOT_KIND, ON_DEMAND_KIND) else {}
        if change:
            name = piece.differences[0].name
            progress(f"updating compute environment {name}")
            batch.update_compute_environment(computeEnvironment=name, **change)
    for name in names.ENVIRONMENTS:
        wait_until(
            f"compute environment {name} becoming VALID",
            until_valid(lambda: environments(batch, names.ENVIRONMENTS), name),
        )
    existing = queues(batch, names.QUEUES)
    for queue, order in QUEUE_ORDERS.items():
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
    envs = environments(batch, names.ENVIRONMENTS)
    for piece in plan.pieces:
        change = _changes(piece) if piece.kind == QUEUE_KIND else {}
        if not change:
            continue
        name = piece.differences[0].name
        if "order" in change:
            change["computeEnvironmentOrder"] = [
                {"order": i + 1, "computeEnvironment": envs[env]["computeEnvironmentArn"]}
                for i, env in enumerate(change.pop("order"))
            ]
        progress(f"updating job queue {name}")
        batch.update_job_queue(jobQueue=name, **change)
    for queue in names.QUEUES:
        wait_until(
            f"job queue {queue} becoming VALID",
            until_valid(lambda: queues(batch, names.QUEUES), queue),
        )
