"""vCPU quotas: will this launch fit, and if not, by how much?

New AWS accounts start with 0 vCPUs for most GPU classes. EC2 counts running
and pending instances of a class (G and VT, P, DL, Inf, Trn) against one quota in
vCPUs, separately for on-demand and spot. dlpick works the answer out before
launching instead of letting RunInstances refuse.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from dlpick.core.aws import paginate
from dlpick.core.aws_errors import ACCESS_DENIED_ERRORS, expect
from dlpick.core.errors import AwsError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import InstanceTypeDef
    from mypy_boto3_service_quotas import ServiceQuotasClient
    from mypy_boto3_service_quotas.type_defs import ServiceQuotaTypeDef

    from dlpick.core.aws import Aws

SERVICE_CODE = "ec2"
_ON_DEMAND_NAME = re.compile(r"^Running On-Demand (?P<cls>.+) instances$", re.IGNORECASE)
_SPOT_NAME = re.compile(r"^All (?P<cls>.+) Spot Instance Requests$", re.IGNORECASE)


@dataclass(frozen=True)
class QuotaRule:
    """Which quota governs a family in one market (from the shipped mapping)."""

    quota_class: str
    market: str  # "on-demand" or "spot"
    code: str  # empty when only the name is known
    name: str
    families: tuple[str, ...]


@dataclass(frozen=True)
class Quota:
    code: str
    name: str
    value: float | None  # vCPUs; None when it could not be read
    market: str
    quota_class: str
    pending_request: float | None = None  # a requested value still under review


@dataclass
class QuotaCheck:
    """The verdict for launching `count` instances of a type."""

    instance_type: str
    market: str
    need_vcpus: int
    quota: Quota | None
    used_vcpus: int | None
    reason: str = ""
    running: list[str] = field(default_factory=list)  # instance ids counted in used_vcpus

    @property
    def verdict(self) -> str:
        """'fits', 'short' or 'unknown'."""
        if self.quota is None or self.quota.value is None or self.used_vcpus is None:
            return "unknown"
        return "fits" if self.used_vcpus + self.need_vcpus <= self.quota.value else "short"

    @property
    def short_by(self) -> int:
        if self.verdict != "short" or self.quota is None or self.quota.value is None:
            return 0
        return int(self.used_vcpus or 0) + self.need_vcpus - int(self.quota.value)

    @property
    def request_value(self) -> int:
        """The quota value that would let this launch fit."""
        return int(self.used_vcpus or 0) + self.need_vcpus

    def summary(self) -> str:
        if self.verdict == "unknown":
            return f"quota unknown ({self.reason or 'no permission to read it'})"
        assert self.quota is not None and self.quota.value is not None
        head = (
            f"{self.quota.name} ({self.quota.code}): {int(self.quota.value)} vCPUs, "
            f"{self.used_vcpus} in use, this launch needs {self.need_vcpus}"
        )
        return head + (" - fits" if self.verdict == "fits" else f" - short by {self.short_by}")


@cache
def rules() -> tuple[QuotaRule, ...]:
    path = resources.files("dlpick.remote").joinpath("data/quota_codes.csv")
    with path.open(encoding="utf-8") as f:
        return tuple(
            QuotaRule(
                quota_class=row["quota_class"],
                market=row["market"],
                code=row["quota_code"],
                name=row["quota_name"],
                families=tuple(row["families"].split("|")),
            )
            for row in csv.DictReader(f)
        )


def family_of(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


def rule_for(instance_type: str, market: str) -> QuotaRule | None:
    """The first shipped rule naming the type's family (P5 spot before P spot)."""
    family = family_of(instance_type)
    for rule in rules():
        if rule.market == market and family in rule.families:
            return rule
    return None


def same_class(a: str, b: str, market: str) -> bool:
    ra, rb = rule_for(a, market), rule_for(b, market)
    return ra is not None and rb is not None and ra.name == rb.name


def _class_of_name(name: str) -> tuple[str, str] | None:
    """('on-demand', 'G and VT') from 'Running On-Demand G and VT instances'."""
    for market, pattern in (("on-demand", _ON_DEMAND_NAME), ("spot", _SPOT_NAME)):
        match = pattern.match(name.strip())
        if match:
            return market, match.group("cls")
    return None


def list_ec2_quotas(sq: ServiceQuotasClient) -> list[ServiceQuotaTypeDef]:
    """Every applied EC2 quota of the account in the client's region."""
    return paginate(sq.list_service_quotas, "Quotas", ServiceCode=SERVICE_CODE, MaxResults=100)


def resolve_code(rule: QuotaRule, listed: Iterable[ServiceQuotaTypeDef]) -> tuple[str, str]:
    """(code, name) for a rule: matched by name in the account's quotas, else shipped."""
    wanted = _class_of_name(rule.name)
    for quota in listed:
        if _class_of_name(str(quota.get("QuotaName", ""))) == wanted:
            return str(quota["QuotaCode"]), str(quota["QuotaName"])
    return rule.code, rule.name


def read_quota(
    sq: ServiceQuotasClient, rule: QuotaRule, listed: list[ServiceQuotaTypeDef] | None
) -> Quota:
    """The quota's applied value (or AWS's default), and any pending increase."""
    code, name = resolve_code(rule, listed or [])
    by_code = {str(q.get("QuotaCode")): q for q in listed or []}
    value: float | None = None
    if code in by_code and by_code[code].get("Value") is not None:
        value = float(by_code[code]["Value"])
    elif code:
        for call in (sq.get_service_quota, sq.get_aws_default_service_quota):
            try:
                value = float(call(ServiceCode=SERVICE_CODE, QuotaCode=code)["Quota"]["Value"])
                break
            except AwsError as exc:
                if exc.code != "NoSuchResourceException":
                    raise
    pending = None
    if code:
        try:
            history = sq.list_requested_service_quota_change_history_by_quota(
                ServiceCode=SERVICE_CODE, QuotaCode=code
            ).get("RequestedQuotas", [])
        except AwsError:
            history = []
        open_requests = [r for r in history if r.get("Status") in ("PENDING", "CASE_OPENED")]
        if open_requests:
            pending = max(float(r.get("DesiredValue", 0)) for r in open_requests)
    return Quota(
        code=code,
        name=name,
        value=value,
        market=rule.market,
        quota_class=rule.quota_class,
        pending_request=pending,
    )


def live_instances(ec2: EC2Client) -> list[InstanceTypeDef]:
    """Running and pending instances: the ones EC2 counts against vCPU quotas."""
    reservations = paginate(
        ec2.describe_instances,
        "Reservations",
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}],
    )
    return [i for r in reservations for i in r.get("Instances", [])]


def vcpus_in_use(
    ec2: EC2Client,
    family: str,
    market: str,
    vcpus_of: dict[str, int],
    instances: list[InstanceTypeDef] | None = None,
) -> tuple[int, list[str]]:
    """vCPUs of live instances counted against the quota that governs `family`."""
    instances = live_instances(ec2) if instances is None else instances
    probe = f"{family}.probe"
    counted = [
        i
        for i in instances
        if same_class(i["InstanceType"], probe, market)
        and (i.get("InstanceLifecycle") == "spot") == (market == "spot")
    ]
    missing = sorted({i["InstanceType"] for i in counted} - set(vcpus_of))
    if missing:
        answer = ec2.describe_instance_types(InstanceTypes=missing)
        for t in answer.get("InstanceTypes", []):
            vcpus_of[t["InstanceType"]] = int(t["VCpuInfo"]["DefaultVCpus"])
    used = 0
    for i in counted:
        cpu = i.get("CpuOptions") or {}
        if cpu.get("CoreCount") and cpu.get("ThreadsPerCore"):
            used += int(cpu["CoreCount"]) * int(cpu["ThreadsPerCore"])
        else:
            used += vcpus_of.get(i["InstanceType"], 0)
    return used, [i["InstanceId"] for i in counted]


def check_quota(
    aws: Aws, region: str, instance_type: str, vcpus: int, *, spot: bool = False, count: int = 1
) -> QuotaCheck:
    """Will `count` instances of `instance_type` fit the region's vCPU quota?"""
    market = "spot" if spot else "on-demand"
    rule = rule_for(instance_type, market)
    check = QuotaCheck(instance_type, market, vcpus * count, None, None)
    if rule is None:
        check.reason = f"no GPU quota class known for {family_of(instance_type)}"
        return check
    sq = aws.service_quotas(region)
    try:
        try:
            listed = list_ec2_quotas(sq)
        except AwsError as exc:
            if exc.code not in ACCESS_DENIED_ERRORS:
                raise
            listed = None  # fall back to the shipped code and GetServiceQuota
        check.quota = read_quota(sq, rule, listed)
        if check.quota.value is None:
            check.reason = f"the account lists no quota named {rule.name!r}"
        check.used_vcpus, check.running = vcpus_in_use(
            aws.ec2(region), family_of(instance_type), market, {instance_type: vcpus}
        )
    except AwsError as exc:
        if exc.credentials:
            raise
        check.reason = str(exc.doing("reading quotas"))
    return check


# (shipped quota name, market) -> (the quota as read, vCPUs in use against it)
Headroom = dict[tuple[str, str], tuple[Quota, int]]


def class_headroom(aws: Aws, region: str) -> Headroom:
    """Every GPU quota class of the region with its usage, read in one pass.

    Keyed by the shipped rule's name so `verdict_for` finds a type's class without
    another call; one pass serves a whole price table instead of a check per row.
    """
    sq = aws.service_quotas(region)
    ec2 = aws.ec2(region)
    try:
        listed: list[ServiceQuotaTypeDef] | None = list_ec2_quotas(sq)
    except AwsError as exc:
        if exc.code not in ACCESS_DENIED_ERRORS:
            raise
        listed = None  # as in check_quota: the shipped codes and GetServiceQuota
    instances = live_instances(ec2)
    vcpus_of: dict[str, int] = {}
    out: Headroom = {}
    for rule in rules():
        quota = read_quota(sq, rule, listed)
        used, _ = vcpus_in_use(ec2, rule.families[0], rule.market, vcpus_of, instances)
        out[rule.name, rule.market] = (quota, used)
    return out


def verdict_for(instance_type: str, vcpus: int, market: str, headroom: Headroom) -> QuotaCheck:
    """The quota verdict for one instance from a region's headroom, without calling AWS."""
    check = QuotaCheck(instance_type, market, vcpus, None, None)
    rule = rule_for(instance_type, market)
    if rule is None:
        check.reason = f"no GPU quota class known for {family_of(instance_type)}"
        return check
    found = headroom.get((rule.name, market))
    if found is None:
        check.reason = f"{rule.name} was not read"
        return check
    check.quota, check.used_vcpus = found
    return check


def gpu_quotas(aws: Aws, region: str) -> list[tuple[Quota, int]]:
    """Every GPU-relevant quota of the region with the vCPUs in use against it."""
    out = []
    seen: set[str] = set()
    for quota, used in class_headroom(aws, region).values():
        if quota.name in seen:
            continue
        seen.add(quota.name)
        out.append((quota, used))
    return out


# The answer stays a plain dict while the launch dialog's steps take one; it is
# RequestedServiceQuotaChangeTypeDef.
def request_increase(aws: Aws, region: str, code: str, value: float) -> dict[str, Any]:
    """Ask AWS to raise a quota; returns the request as AWS recorded it."""
    sq = aws.service_quotas(region)
    answer = sq.request_service_quota_increase(
        ServiceCode=SERVICE_CODE, QuotaCode=code, DesiredValue=float(value)
    )
    return dict(expect(answer, "RequestedQuota", dict))
