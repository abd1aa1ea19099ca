"""Seeing all spend: every instance in one or all regions, what it costs and has cost.

A stopped instance bills nothing for compute but still pays for its volumes, so
its storage cost per month is shown too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dlpick.core.aws import map_regions, paginate
from dlpick.core.errors import AwsError
from dlpick.remote.batch.names import ENVIRONMENTS, HOST_NAME
from dlpick.remote.tags import BATCH_ENVIRONMENT_TAG, IDLE_STOP_TAG, MANAGED_TAG, STOP_AFTER_TAG

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import InstanceTypeDef, TagTypeDef

    from dlpick.core.aws import Aws
    from dlpick.pricing.catalog import Catalog, Offer


# EBS list prices per GB-month in us-east-1 (AWS EBS pricing page); other regions
# differ by a few percent, so storage costs are labelled as estimates.
EBS_USD_GB_MONTH = {
    "gp3": 0.08,
    "gp2": 0.10,
    "io1": 0.125,
    "io2": 0.125,
    "st1": 0.045,
    "sc1": 0.015,
    "standard": 0.05,
}


def fmt_hours(hours: float) -> str:
    """A duration as '25m', '3.5h' or '4.2d'."""
    if hours < 1:
        return f"{hours * 60:.0f}m"
    if hours < 48:
        return f"{hours:.1f}h"
    return f"{hours / 24:.1f}d"


def is_accelerated(instance_type: str) -> bool:
    """GPU and ML accelerator families: g4dn, p5, gr6, trn1, inf2, dl1, ..."""
    family = instance_type.split(".", 1)[0]
    if family.startswith(("trn", "inf", "dl", "gr")):
        return True
    return family[:1] in ("g", "p") and family[1:2].isdigit()


# The fields of `Instance.to_record`, in order (`dlpick ls` JSON records and CSV columns).
INSTANCE_FIELDS = (
    "instance_id",
    "name",
    "instance_type",
    "region",
    "az",
    "state",
    "launch_time",
    "uptime_hours",
    "market",
    "usd_hour",
    "type_usd_hour",
    "stopped_at",
    "cost_so_far_usd",
    "storage_usd_month",
    "managed",
    "idle",
    "stop_after",
    "idle_stop_minutes",
    "public_dns",
)


@dataclass
class Instance:
    """One instance as `dlpick ls` shows it."""

    instance_id: str
    region: str
    name: str
    instance_type: str
    state: str
    launch_time: datetime
    spot: bool
    az: str
    managed: bool
    tags: dict[str, str]
    volumes_gib: dict[str, int] = field(default_factory=dict)  # volume type -> GiB
    usd_hour: float | None = None
    price_note: str = ""
    public_dns: str = ""
    idle: str = "-"  # "idle 23m", "active", "stopped", "-" (unknown)
    stopped_at: datetime | None = None  # when it last stopped, if EC2 said

    def uptime_hours(self, now: datetime) -> float:
        if self.state not in ("running", "pending", "stopping", "shutting-down"):
            return 0.0
        return max(0.0, (now - self.launch_time).total_seconds() / 3600)

    def ran_hours(self, now: datetime) -> float | None:
        """Hours of its last run: until now while it runs, until it stopped after."""
        if self.billing_hourly:
            return self.uptime_hours(now)
        if self.stopped_at is None:
            return None
        return max(0.0, (self.stopped_at - self.launch_time).total_seconds() / 3600)

    def cost_so_far(self, now: datetime) -> float | None:
        """Compute cost of its last run (hours run x hourly price); None when unknown.

        A stopped instance keeps the cost of the time it ran: it does not drop to $0.
        """
        hours = self.ran_hours(now)
        if self.usd_hour is None or hours is None:
            return None
        return hours * self.usd_hour

    @property
    def billing_usd_hour(self) -> float | None:
        """What its compute costs per hour now: its price while it runs, else 0."""
        return self.usd_hour if self.billing_hourly else 0.0

    @property
    def storage_usd_month(self) -> float:
        return sum(EBS_USD_GB_MONTH.get(kind, 0.08) * gib for kind, gib in self.volumes_gib.items())

    @property
    def billing_hourly(self) -> bool:
        return self.state in ("running", "pending")

    def guard_text(self) -> str:
        """'idle 60m, until 09-01 20:00': the guards dlpick set on the instance at launch."""
        guard = []
        if self.tags.get(IDLE_STOP_TAG):
            guard.append(f"idle {self.tags[IDLE_STOP_TAG]}m")
        if self.tags.get(STOP_AFTER_TAG):
            guard.append(f"until {self.tags[STOP_AFTER_TAG][5:16].replace('T', ' ')}")
        return ", ".join(guard) or "-"

    @property
    def batch_environment(self) -> str | None:
        """The dlpick compute environment Batch runs this host for, or None.

        Batch's own tag names it; the tags dlpick gives the environments' hosts at
        setup (its Name, managed) say it is one when that tag is not there.
        """
        name = self.tags.get(BATCH_ENVIRONMENT_TAG, "").rsplit("/", 1)[-1]
        if name in ENVIRONMENTS:
            return name
        return HOST_NAME if self.managed and self.name == HOST_NAME else None

    @property
    def idle_stop_minutes(self) -> int | None:
        """The idle alarm's window set at launch, or None (no alarm, or a tag not a number)."""
        text = self.tags.get(IDLE_STOP_TAG, "").strip()
        return int(text) if text.isdigit() else None

    def to_record(self, now: datetime) -> dict[str, Any]:
        cost = self.cost_so_far(now)
        return {
            "instance_id": self.instance_id,
            "name": self.name,
            "instance_type": self.instance_type,
            "region": self.region,
            "az": self.az,
            "state": self.state,
            "launch_time": self.launch_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "uptime_hours": round(self.uptime_hours(now), 3),
            "market": "spot" if self.spot else "on-demand",
            "usd_hour": self.billing_usd_hour,
            "type_usd_hour": self.usd_hour,
            "stopped_at": None
            if self.stopped_at is None
            else self.stopped_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "cost_so_far_usd": None if cost is None else round(cost, 4),
            "storage_usd_month": round(self.storage_usd_month, 2),
            "managed": self.managed,
            "idle": self.idle,
            "stop_after": self.tags.get(STOP_AFTER_TAG),
            "idle_stop_minutes": self.idle_stop_minutes,
            "public_dns": self.public_dns,
        }


# EC2's reason for a stop carries its time: "User initiated (2026-12-01 10:00:00 GMT)".
_STOPPED_AT = re.compile(r"\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (?:GMT|UTC)\)")


def stopped_at(reason: str | None) -> datetime | None:
    """When a stop happened, from EC2's StateTransitionReason; None when it does not say."""
    found = _STOPPED_AT.search(reason or "")
    if found is None:
        return None
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def _tags(raw: Iterable[TagTypeDef] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw or []}


def instance_from_api(raw: InstanceTypeDef, region: str) -> Instance:
    tags = _tags(raw.get("Tags"))
    launch = raw["LaunchTime"]
    if isinstance(launch, str):
        launch = datetime.fromisoformat(launch.replace("Z", "+00:00"))
    if launch.tzinfo is None:
        launch = launch.replace(tzinfo=UTC)
    state = raw["State"]["Name"]
    return Instance(
        instance_id=raw["InstanceId"],
        region=region,
        name=tags.get("Name", ""),
        instance_type=raw["InstanceType"],
        state=state,
        launch_time=launch,
        spot=raw.get("InstanceLifecycle") == "spot",
        az=(raw.get("Placement") or {}).get("AvailabilityZone", ""),
        managed=tags.get(MANAGED_TAG) == "true",
        tags=tags,
        public_dns=raw.get("PublicDnsName") or raw.get("PublicIpAddress") or "",
        # Only a running instance can be idle or busy; an alarm on another says nothing.
        idle="-" if state in ("running", "pending") else state,
        stopped_at=None if state == "running" else stopped_at(raw.get("StateTransitionReason")),
    )


def scan_region(aws: Aws, region: str, *, everything: bool = False) -> list[Instance]:
    """Instances in one region (accelerated ones unless `everything`), with their volumes."""
    ec2 = aws.ec2(region)
    reservations = paginate(
        ec2.describe_instances,
        "Reservations",
        Filters=[
            {
                "Name": "instance-state-name",
                "Values": ["pending", "running", "stopping", "stopped", "shutting-down"],
            }
        ],
    )
    found = [
        instance_from_api(raw, region)
        for r in reservations
        for raw in r.get("Instances", [])
        if everything or is_accelerated(raw["InstanceType"])
    ]
    if found:
        volumes = paginate(
            ec2.describe_volumes,
            "Volumes",
            Filters=[{"Name": "attachment.instance-id", "Values": [i.instance_id for i in found]}],
        )
        by_id = {i.instance_id: i for i in found}
        for volume in volumes:
            for attachment in volume.get("Attachments", []):
                owner = by_id.get(attachment.get("InstanceId", ""))
                if owner is not None:
                    kind = volume.get("VolumeType", "gp3")
                    owner.volumes_gib[kind] = owner.volumes_gib.get(kind, 0) + int(volume["Size"])
    return found


@dataclass(frozen=True)
class FleetScan:
    """Instances found in the regions asked, and the regions that could not be read.

    A region that could not be read is never taken as empty: `complete` is False
    and every total made from the scan is a lower bound.
    """

    instances: tuple[Instance, ...]
    regions: tuple[str, ...]
    unreadable: tuple[tuple[str, str], ...] = ()  # (region, why)

    @property
    def complete(self) -> bool:
        return not self.unreadable

    def unreadable_records(self) -> list[dict[str, str]]:
        return [{"region": region, "reason": why} for region, why in self.unreadable]


def scan(aws: Aws, regions: list[str], *, everything: bool = False, workers: int = 8) -> FleetScan:
    """Instances in every given region, scanned in parallel.

    A region that fails is named in the result with the reason. When no region
    could be read at all, the first failure is raised: there is nothing to show.
    """

    def one(region: str) -> list[Instance] | AwsError:
        try:
            return scan_region(aws, region, everything=everything)
        except AwsError as exc:
            return exc

    results = map_regions(one, regions, workers=workers)
    failed = [
        (region, got)
        for region, got in zip(regions, results, strict=True)
        if isinstance(got, AwsError)
    ]
    if failed and len(failed) == len(regions):
        region, err = failed[0]
        raise err.doing("listing instances", region) from None
    found = [i for got in results if not isinstance(got, AwsError) for i in got]
    return FleetScan(
        instances=tuple(sorted(found, key=lambda i: (i.region, i.launch_time))),
        regions=tuple(regions),
        unreadable=tuple(
            (region, str(err.doing("listing instances", region))) for region, err in failed
        ),
    )


def load_fleet(
    aws: Aws, regions: list[str], *, everything: bool = False, catalog: Catalog | None = None
) -> FleetScan:
    """Instances in the regions, priced from the catalog, with their idle alarm states.

    Without a catalog, prices come live (or cached); the app passes its own.
    """
    from dlpick.core.cache import PriceCache
    from dlpick.pricing.catalog import Catalog
    from dlpick.remote.fleet.idle import alarm_states

    found = scan(aws, regions, everything=everything)
    if catalog is None:
        catalog = Catalog(cache=PriceCache(), aws=aws)
    instances = list(found.instances)
    price_instances(instances, catalog)
    for region in sorted({i.region for i in instances}):
        states = alarm_states(aws, region)
        for inst in instances:
            if inst.region == region and inst.instance_id in states and inst.billing_hourly:
                inst.idle = states[inst.instance_id]
    return found


def price_instances(instances: list[Instance], catalog: Catalog) -> None:
    """Fill in each instance's hourly price from the price catalog (spot: its AZ's price)."""
    by_region: dict[str, dict[str, Offer]] = {}
    for inst in instances:
        if inst.region not in by_region:
            offers = catalog.region(inst.region).offers()
            by_region[inst.region] = {o.instance_type: o for o in offers}
        offer = by_region[inst.region].get(inst.instance_type)
        if offer is None:
            inst.price_note = "no price known"
            continue
        if inst.spot:
            inst.usd_hour = offer.spot_by_az.get(inst.az, offer.spot_usd_hour)
            inst.price_note = f"spot, {offer.spot_source}"
        else:
            inst.usd_hour = offer.on_demand_usd_hour
            inst.price_note = f"on-demand, {offer.price_source}"


def now_utc(clock: Callable[[], float] = time.time) -> datetime:
    return datetime.fromtimestamp(clock(), UTC)


@dataclass(frozen=True)
class Ticker:
    """The header line: what is running, what it costs and what was spent.

    Spent is what the instances listed cost in their last run, stopped ones
    included. When a region could not be read, a running instance has no known
    price or a stopped one no known stop time, the figures are lower bounds and
    say so.
    """

    running: int
    usd_hour: float
    spent_usd: float
    idle: int
    stopped_storage_usd_month: float
    unpriced: int = 0  # running instances whose price is unknown
    unreadable: tuple[str, ...] = ()  # regions that could not be read
    uncosted: int = 0  # instances not running whose last run's cost is unknown

    @property
    def complete(self) -> bool:
        return not self.unpriced and not self.uncosted and not self.unreadable

    def text(self) -> str:
        count = "at least " if self.unreadable else ""
        rate = "≥" if self.unpriced or self.unreadable else ""
        money = "" if self.complete else "≥"
        line = (
            f"{count}{self.running} running · {rate}${self.usd_hour:,.2f}/h"
            f" · {money}${self.spent_usd:,.2f} spent · {self.idle} idle"
        )
        if self.unpriced:
            line += f" · {self.unpriced} without a known price"
        if self.uncosted:
            line += f" · {self.uncosted} stopped with an unknown cost"
        if self.unreadable:
            line += f" · {len(self.unreadable)} region{'s' * (len(self.unreadable) > 1)} unreadable"
        return line


def ticker(
    instances: Iterable[Instance], now: datetime | None = None, unreadable: Iterable[str] = ()
) -> Ticker:
    now = now or datetime.now(UTC)
    instances = list(instances)
    running = [i for i in instances if i.billing_hourly]
    return Ticker(
        running=len(running),
        usd_hour=sum(i.usd_hour or 0 for i in running),
        spent_usd=sum(i.cost_so_far(now) or 0 for i in instances),
        idle=sum(1 for i in running if i.idle.startswith("idle")),
        stopped_storage_usd_month=sum(
            i.storage_usd_month for i in instances if i.state == "stopped"
        ),
        unpriced=sum(1 for i in running if i.usd_hour is None),
        unreadable=tuple(unreadable),
        uncosted=sum(1 for i in instances if not i.billing_hourly and i.cost_so_far(now) is None),
    )
