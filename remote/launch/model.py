"""What a launch is: the request, the plan shown for confirmation, and the result.

The bottom of the launch package: planning, failover, Capacity Blocks and execution all
read and fill these, and none of them is imported from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from dlpick.remote.launch import guard
from dlpick.remote.launch.access import wide_cidr_warning
from dlpick.remote.launch.images import DEFAULT_OS, Ami
from dlpick.remote.tags import MANAGED_TAG, OWNER_TAG, SECURITY_GROUP

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import TagTypeDef

    from dlpick.remote.launch.capacity_blocks import Block
    from dlpick.remote.launch.quotas import QuotaCheck


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

    def line(self, width: int = 13) -> str:
        """The row as one line, its value in the column after a label `width` wide."""
        return f"{self.label:<{width}} {self.value}"


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
        # "only" where the range is narrow; a range open to everyone says so instead.
        who = f"anywhere ({self.cidr})" if wide_cidr_warning(self.cidr) else f"{self.cidr} only"
        group = (
            f"create {SECURITY_GROUP}: SSH (22/tcp) from {who}"
            if self.security_group_id is None
            else f"{SECURITY_GROUP} ({self.security_group_id}): SSH from {who}"
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

    def describe(self, *extra: PlanRow) -> list[str]:
        """What will happen, line by line, for the CLI's confirmation (then `extra` rows),
        every value in one column after the longest label."""
        rows = [*self.rows(), *extra]
        width = max(len(row.label) for row in rows)
        return [row.line(width) for row in rows]


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


@dataclass(frozen=True)
class Attempt:
    """One RunInstances attempt: where, and what came of it."""

    region: str
    zone: str  # "": any AZ of the region
    outcome: str  # "started", or why it moved on
    code: str = ""

    @property
    def where(self) -> str:
        return self.zone or f"{self.region} (any AZ)"

    def line(self) -> str:
        return f"{self.where}: {self.outcome}" + (f" ({self.code})" if self.code else "")
