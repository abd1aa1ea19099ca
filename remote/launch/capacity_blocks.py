"""EC2 Capacity Blocks for ML: offerings, what they cost per hour, buying one, and
launching into a block bought.

A block is capacity reserved for a fixed window, paid up front. Its effective
price is the fee over the hours and instances it holds, which compares directly
with the on-demand price per hour. Buying is never done without the caller
having shown the fee and had it confirmed.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dlpick.core.aws import instance_type_name, paginate
from dlpick.core.aws_errors import expect
from dlpick.core.errors import AwsError, DataError, InputError
from dlpick.pricing.payloads import PAYLOAD_SHAPES
from dlpick.pricing.placement import placement
from dlpick.remote.tags import MANAGED_TAG

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import RunInstancesRequestTypeDef

    from dlpick.core.aws import Aws
    from dlpick.core.cache import PriceCache
    from dlpick.pricing.placement import Placement

# AWS sells blocks of 1 to 14 days, then in 7-day steps up to 182 days.
MAX_DAYS = 182
# A bought block is a capacity reservation (cr- and hex digits); an offering is cb-...
RESERVATION_ID = re.compile(r"cr-(?:[0-9a-f]{8}|[0-9a-f]{17})")
OFFERING_ID = re.compile(r"cb-[0-9a-z]{1,64}")


def check_reservation_id(text: str, what: str = "--capacity-block") -> str:
    """A Capacity Block's reservation id (cr-...), else InputError naming `what`."""
    if RESERVATION_ID.fullmatch(text):
        return text
    raise InputError(
        f"{what} {text!r} is not a capacity reservation id (cr-...)",
        hint="dlpick capacity-blocks --buy prints it",
    )


def check_offering_id(text: str, what: str = "--buy") -> str:
    """A Capacity Block offering id (cb-...), else InputError naming `what`."""
    if OFFERING_ID.fullmatch(text):
        return text
    raise InputError(
        f"{what} {text!r} is not a Capacity Block offering id (cb-...)",
        hint="dlpick capacity-blocks TYPE lists them",
    )


def check_days(days: int) -> int:
    """A block length AWS sells, in days; InputError names the rule otherwise."""
    if days < 1 or days > MAX_DAYS or (days > 14 and days % 7):
        raise InputError(
            f"--days {days}: Capacity Blocks last 1 to 14 days, or a multiple of 7 up to {MAX_DAYS}"
        )
    return days


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
        return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


@dataclass(frozen=True)
class BlockOffering:
    """One Capacity Block on offer: where, when, how many instances, and its fee."""

    offering_id: str
    instance_type: str
    availability_zone: str
    instance_count: int
    start: str  # ISO 8601, UTC
    end: str
    hours: int
    upfront_fee: float
    currency: str

    @property
    def usd_hour(self) -> float | None:
        """The fee per hour per instance: what compares with the on-demand $/h."""
        if self.currency != "USD" or not self.hours or not self.instance_count:
            return None
        return self.upfront_fee / self.hours / self.instance_count

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_answer(cls, item: dict[str, Any]) -> BlockOffering:
        try:
            return cls(
                offering_id=str(item["CapacityBlockOfferingId"]),
                instance_type=str(item["InstanceType"]),
                availability_zone=str(item["AvailabilityZone"]),
                instance_count=int(item["InstanceCount"]),
                start=_iso(item["StartDate"]),
                end=_iso(item["EndDate"]),
                hours=int(item["CapacityBlockDurationHours"]),
                upfront_fee=float(item["UpfrontFee"]),
                currency=str(item.get("CurrencyCode") or "USD"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"AWS sent a Capacity Block offering dlpick cannot read (no {exc})"
            ) from None


def offerings(
    aws: Aws,
    region: str,
    instance_type: str,
    *,
    count: int = 1,
    days: int = 1,
    start_after: datetime | None = None,
    cache: PriceCache | None = None,
) -> list[BlockOffering]:
    """Capacity Blocks on offer for `count` of `instance_type` for `days`, cheapest first."""
    from dlpick.core.cache import cache_scope

    check_days(days)
    start = (start_after or datetime.now(UTC)).astimezone(UTC)
    key = f"{region}|{instance_type}|{count}|{days}|{start.date().isoformat()}"
    scope = cache_scope(aws.profile)
    hit = cache and cache.get(
        "capacity-blocks", key, valid=PAYLOAD_SHAPES["capacity-blocks"], scope=scope
    )
    if hit:
        found = [BlockOffering(**item) for item in hit.payload]
    else:
        items = paginate(
            aws.ec2(region).describe_capacity_block_offerings,
            "CapacityBlockOfferings",
            InstanceType=instance_type,
            InstanceCount=count,
            CapacityDurationHours=days * 24,
            StartDateRange=start,
            EndDateRange=start + timedelta(days=MAX_DAYS),
        )
        found = [BlockOffering.from_answer(item) for item in items]
        if cache is not None:
            cache.put("capacity-blocks", key, [o.to_json() for o in found], scope=scope)
    return sorted(found, key=lambda o: (o.usd_hour is None, o.usd_hour or 0, o.start))


@dataclass(frozen=True)
class Block:
    """A Capacity Block bought: its reservation (cr-...), where and when it holds."""

    reservation_id: str
    instance_type: str
    availability_zone: str
    state: str
    start: str
    end: str


def _block(item: dict[str, Any]) -> Block:
    return Block(
        reservation_id=str(item.get("CapacityReservationId", "")),
        instance_type=str(item.get("InstanceType", "")),
        availability_zone=str(item.get("AvailabilityZone", "")),
        state=str(item.get("State", "")),
        start=_iso(item.get("StartDate", "")),
        end=_iso(item.get("EndDate", "")),
    )


def purchase(aws: Aws, region: str, offering: BlockOffering) -> Block:
    """Buy the offering (the caller has shown its fee and had it confirmed)."""
    answer = aws.ec2(region).purchase_capacity_block(
        CapacityBlockOfferingId=offering.offering_id,
        InstancePlatform="Linux/UNIX",
        TagSpecifications=[
            {
                "ResourceType": "capacity-reservation",
                "Tags": [{"Key": MANAGED_TAG, "Value": "true"}],
            }
        ],
    )

    return _block(dict(expect(answer, "CapacityReservation", dict)))


def reserved_block(aws: Aws, region: str, reservation_id: str, instance_type: str) -> Block:
    """The bought block a launch goes into; LaunchError-worthy mismatches as InputError."""
    check_reservation_id(reservation_id)
    try:
        found = aws.ec2(region).describe_capacity_reservations(
            CapacityReservationIds=[reservation_id]
        )["CapacityReservations"]
    except AwsError as exc:
        raise exc.doing(f"reading Capacity Block {reservation_id}", region) from None
    if not found:
        raise InputError(f"no Capacity Block {reservation_id} in {region}")
    block = _block(dict(found[0]))
    if block.instance_type != instance_type:
        raise InputError(
            f"Capacity Block {reservation_id} holds {block.instance_type}, not {instance_type}"
        )
    if block.state == "scheduled":
        raise InputError(
            f"Capacity Block {reservation_id} starts at {block.start}: launch into it then"
        )
    if block.state != "active":
        raise InputError(f"Capacity Block {reservation_id} is {block.state}: it cannot be used")
    return block


def block_arguments(args: RunInstancesRequestTypeDef, block: Block) -> None:
    """Point RunInstances at the block: its market type, its reservation, its AZ."""
    args["InstanceType"] = instance_type_name(block.instance_type)
    args["InstanceMarketOptions"] = {"MarketType": "capacity-block"}
    args["CapacityReservationSpecification"] = {
        "CapacityReservationTarget": {"CapacityReservationId": block.reservation_id}
    }
    args["Placement"] = {"AvailabilityZone": block.availability_zone}


def block_row(block: Block) -> str:
    """The plan's line for a launch into a block."""
    return f"{block.reservation_id} in {block.availability_zone}, {block.start} to {block.end}"


@dataclass(frozen=True)
class Outlook:
    """What the detail pane says about capacity for a type: its spot placement
    score and its cheapest one-day Capacity Block, or why each is unknown."""

    placement: Placement | None
    placement_note: str  # why there is no placement (an AWS failure), else ""
    block: BlockOffering | None
    block_note: str  # "none on offer", or why the offerings could not be read


def outlook(
    aws: Aws,
    instance_type: str,
    region: str,
    regions: list[str],
    *,
    cache: PriceCache | None = None,
    ask_scores: bool = True,
) -> Outlook:
    """Placement scores and the cheapest Capacity Block for `instance_type` in `region`.

    Failures become notes (shown as `?` with the reason), never errors: the pane
    asks on every highlighted row and must not turn each into a notification.
    """
    found, note = None, "not asked: this account may not call GetSpotPlacementScores"
    if ask_scores:
        try:
            found, note = placement(aws, instance_type, region, regions, cache=cache), ""
        except AwsError as exc:
            note = exc.reason
    try:
        blocks = offerings(aws, region, instance_type, cache=cache)
    except AwsError as exc:
        return Outlook(found, note, None, exc.reason)
    return Outlook(found, note, blocks[0] if blocks else None, "" if blocks else "none on offer")
