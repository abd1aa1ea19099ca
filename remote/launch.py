"""Launching an instance on a Deep Learning AMI, safely.

The launch is planned first with read-only calls (specs, AMI, quota, key pair,
security group, price), so a plan can be shown and confirmed, and a quota that
would refuse the launch stops it before anything is created. Executing the plan
creates only what is missing (a key pair, a security group), each found by name
next time, and starts the instance with an idempotency token, so a retried launch
never starts a second instance; without capacity it moves on (remote/failover.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from dlpick.pricing.aws import instance_type_name
from dlpick.pricing.errors import AwsError
from dlpick.remote import guard
from dlpick.remote.access import (
    caller_cidr,
    check_cidr,
    default_key_path,
    default_vpc,
    find_security_group,
    key_pair_exists,
    wide_cidr_warning,
)
from dlpick.remote.failover import (
    CLI_DECLINE_HINT,
    Attempt,
    Choose,
    PriceIn,
    catalog_price,
    check_moved,
    start_instance,
)
from dlpick.remote.idempotency import remember_launch, token_for
from dlpick.remote.images import DEFAULT_OS, Ami, find_ami
from dlpick.remote.launch_errors import LaunchError, explain, offered_elsewhere
from dlpick.remote.quotas import QuotaCheck, check_quota
from dlpick.remote.run_instances import dry_run as dry_run  # the CLI and the dialog call it here
from dlpick.remote.tags import MANAGED_TAG, OWNER_TAG, SECURITY_GROUP

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import TagTypeDef

    from dlpick.pricing.aws import Aws
    from dlpick.remote.capacity_blocks import Block

DEFAULT_IDLE_STOP_MINUTES = 60
DEFAULT_VOLUME_GB = 200


@dataclass
class LaunchRequest:
    """What the user asked to launch: the CLI's flags or the dialog's fields."""

    instance_type: str
    region: str
    spot: bool = False
    max_price: float | None = None
    ami: str = "base"  # base | pytorch | pytorch-X.Y | multi-framework | ami-...
    os: str = DEFAULT_OS
    key_name: str | None = None
    key_file: Path | None = None
    volume_gb: int = DEFAULT_VOLUME_GB
    ssh_cidr: str | None = None
    name: str | None = None
    new: bool = False  # start another instance even if an identical launch exists
    checkip_url: str = "https://checkip.amazonaws.com"
    idle_stop_minutes: int | None = DEFAULT_IDLE_STOP_MINUTES  # None: no idle alarm
    idle_threshold_percent: float = 5.0
    max_hours: float | None = None
    budget: float | None = None
    capacity_block: str | None = None  # a bought Capacity Block's reservation (cr-...)
    availability_zone: str | None = None  # None: EC2 picks the AZ


@dataclass(frozen=True)
class PlanRow:
    """One row of what a launch will do: a label ("quota", "key pair", ...) and its value."""

    label: str
    value: str
    # "quota": the quota verdict; "warning": a risk to point out before the user confirms.
    kind: Literal["", "quota", "warning"] = ""

    def line(self) -> str:
        """The row as one line, its value in the column after the longest usual label."""
        return f"{self.label:<13} {self.value}"


@dataclass
class LaunchPlan:
    """Everything a launch will do, found with read-only calls, for the confirmation."""

    request: LaunchRequest
    vcpus: int
    arch: str
    ami: Ami
    key_name: str
    key_path: Path
    create_key: bool
    security_group_id: str | None  # None: to be created
    cidr: str
    quota: QuotaCheck
    usd_hour: float | None
    price_note: str
    client_token: str
    owner_arn: str
    existing_instance: str | None = None  # an instance this same launch already started
    deadline: guard.Deadline | None = None
    notes: list[PlanRow] = field(default_factory=list)  # warnings and remarks after the rows
    block: Block | None = None  # the Capacity Block the instance goes into (capacity_blocks)

    @property
    def idle_threshold(self) -> float:
        return guard.idle_cpu_threshold(self.vcpus, self.request.idle_threshold_percent)

    @property
    def guard_action(self) -> Literal["stop", "terminate"]:
        # A one-time spot instance cannot be stopped, only terminated.
        return "terminate" if self.request.spot else "stop"

    @property
    def name(self) -> str:
        return self.request.name or f"dlpick-{self.request.instance_type}"

    def tags(self, *extra: tuple[str, str]) -> list[TagTypeDef]:
        """The tags on everything this launch creates, plus `extra` ones."""
        pairs = [("Name", self.name), (MANAGED_TAG, "true"), (OWNER_TAG, self.owner_arn), *extra]
        return [{"Key": k, "Value": v} for k, v in pairs]

    def rows(
        self,
        idle_opt_out: str = "--no-idle-stop",
        idle_off: str = "none (--no-idle-stop)",
        cidr_field: str = "--ssh-cidr",
    ) -> list[PlanRow]:
        """What will happen, row by row, for the confirmation; the idle guard's opt-out
        and the SSH range's option in the words of the caller's interface (a CLI flag,
        or the dialog's field)."""
        r = self.request
        market = "spot (one-time, terminated on interruption)" if r.spot else "on-demand"
        price = f"${self.usd_hour:.4f}/h" if self.usd_hour is not None else "price unknown"
        key = (
            f"create {self.key_name}, private key saved to {self.key_path}"
            if self.create_key
            else f"{self.key_name} ({self.key_path})"
        )
        group = (
            f"create {SECURITY_GROUP}: SSH (22/tcp) from {self.cidr} only"
            if self.security_group_id is None
            else f"{SECURITY_GROUP} ({self.security_group_id}): SSH from {self.cidr} only"
        )
        disk = max(r.volume_gb, self.ami.min_volume_gb)
        where = f"{r.region} ({r.availability_zone})" if r.availability_zone else r.region
        what = f"{r.instance_type} in {where}, {market}, {price} ({self.price_note})"
        rows = [
            PlanRow("instance", what),
            PlanRow("name", self.name),
            PlanRow("image", f"{self.ami.name} ({self.ami.image_id})"),
            PlanRow("disk", f"{disk} GB gp3 root volume"),
            PlanRow("quota", self.quota.summary(), "quota"),
            PlanRow("key pair", key),
            PlanRow("security group", group),
            PlanRow("tags", ", ".join(f"{t['Key']}={t['Value']}" for t in self.tags())),
        ]
        if r.spot and r.max_price is not None:
            rows.append(PlanRow("max price", f"${r.max_price:.4f}/h"))
        if r.idle_stop_minutes:
            idle = (
                f"{self.guard_action} after {r.idle_stop_minutes} min below "
                f"{self.idle_threshold:g}% CPU (CloudWatch alarm; {idle_opt_out} to opt out)"
            )
        else:
            idle = idle_off
        rows.append(PlanRow("idle guard", idle))
        if self.deadline is not None:
            rows.append(
                PlanRow(
                    "time limit",
                    f"{self.guard_action}s itself after {self.deadline.hours:.1f} h "
                    f"({self.deadline.why})",
                )
            )
        wide = wide_cidr_warning(self.cidr, cidr_field)
        if wide:
            rows.append(PlanRow("WARNING", wide, "warning"))
        return rows + self.notes

    def describe(self) -> list[str]:
        """What will happen, line by line, for the CLI's confirmation."""
        return [row.line() for row in self.rows()]


@dataclass
class LaunchResult:
    """The instance a launch started (or found running) and how to reach it."""

    instance_id: str
    region: str
    public_dns: str
    public_ip: str
    login_user: str
    key_path: Path
    usd_hour: float | None
    already_running: bool = False
    spot: bool = False  # one-time spot: it can be terminated, never stopped
    attempts: list[Attempt] = field(default_factory=list)  # where it was tried, in order

    @property
    def ssh_command(self) -> str:
        host = self.public_dns or self.public_ip
        return f"ssh -i {self.key_path} {self.login_user}@{host}"

    def end_commands(self) -> list[tuple[str, str]]:
        """(label, text) lines saying how to end its spend; no stop for a spot instance."""
        where = f"{self.instance_id} --region {self.region}"
        if self.spot:
            return [
                ("end", f"dlpick terminate {where}"),
                ("", "(a one-time spot instance cannot be stopped, only terminated)"),
            ]
        return [("stop", f"dlpick stop {where}"), ("end", f"dlpick terminate {where}")]


# -- plan and execute -----------------------------------------------------------


def _add_idle_alarm(
    aws: Aws, plan: LaunchPlan, instance_id: str, progress: Callable[[str], None]
) -> None:
    """The idle guard; a failure is reported, not fatal: the instance already runs."""
    req = plan.request
    assert req.idle_stop_minutes
    try:
        name = guard.create_idle_alarm(
            aws.cloudwatch(req.region),
            region=req.region,
            instance_id=instance_id,
            minutes=req.idle_stop_minutes,
            threshold_percent=plan.idle_threshold,
            terminate=req.spot,
            # CloudWatch's tag shape requires both keys; EC2's (plan.tags) leaves them optional.
            tags=[{"Key": t["Key"], "Value": t["Value"]} for t in plan.tags()],
        )
        progress(f"idle guard: alarm {name} ({plan.guard_action} when idle)")
    except AwsError as exc:
        progress(
            f"WARNING: could not create the idle alarm ({exc}); "
            f"{instance_id} runs without an idle guard"
        )


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


def execute(
    aws: Aws,
    plan: LaunchPlan,
    progress: Callable[[str], None],
    choose: Choose | None = None,
    price_in: PriceIn | None = None,
    decline_hint: str = CLI_DECLINE_HINT,
) -> LaunchResult:
    """Create what is missing, start the instance where there is capacity (the planned
    region's AZs, then a region `choose` accepts), and wait until it runs."""
    req = plan.request
    instance_id = plan.existing_instance
    attempts: list[Attempt] = []
    try:
        if instance_id is None:
            remember_launch(req, plan.client_token)
            prices = price_in or catalog_price(aws, req.instance_type, req.spot)
            started = start_instance(aws, plan, progress, prices, choose, decline_hint)
            instance_id, plan, attempts = started.instance_id, started.plan, started.attempts
            req = plan.request
        else:
            progress(f"this launch already started {instance_id}; not starting another")
        ec2 = aws.ec2(req.region)
        progress(f"waiting for {instance_id} to run")
        ec2.get_waiter("instance_running").wait(
            InstanceIds=[instance_id], WaiterConfig={"Delay": 5, "MaxAttempts": 120}
        )
        described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
            "Instances"
        ][0]
        if req.idle_stop_minutes and plan.existing_instance is None:
            _add_idle_alarm(aws, plan, instance_id, progress)
    except LaunchError:
        raise
    except AwsError as exc:
        raise explain(exc, req, lambda: offered_elsewhere(aws, req)) from None
    return LaunchResult(
        instance_id=instance_id,
        region=req.region,
        public_dns=str(described.get("PublicDnsName") or ""),
        public_ip=str(described.get("PublicIpAddress") or ""),
        login_user=plan.ami.login_user,
        key_path=plan.key_path,
        usd_hour=plan.usd_hour,
        already_running=plan.existing_instance is not None,
        spot=req.spot,
        attempts=attempts,
    )
