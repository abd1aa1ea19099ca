"""Spot prices from DescribeSpotPriceHistory: the current price in every AZ."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dlpick.core.aws import paginate

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

LINUX_PRODUCTS = ("Linux/UNIX", "Linux/UNIX (Amazon VPC)")


@dataclass(frozen=True)
class SpotQuote:
    """The current spot price of one type in one region, per AZ."""

    instance_type: str
    by_az: dict[str, float] = field(default_factory=dict)

    @property
    def cheapest_az(self) -> str | None:
        return min(self.by_az, key=lambda az: (self.by_az[az], az)) if self.by_az else None

    @property
    def usd_hour(self) -> float | None:
        az = self.cheapest_az
        return self.by_az[az] if az else None


def parse_timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).replace("Z", "+00:00")
    # Some serialisers print nanoseconds; Python's parser takes microseconds.
    if "." in text:
        head, tail = text.split(".", 1)
        frac, _, zone = tail.partition("+")
        text = f"{head}.{frac[:6]}" + (f"+{zone}" if zone else "")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_spot_history(records: list[dict[str, Any]]) -> dict[str, SpotQuote]:
    """Latest Linux price per (type, AZ); other products (Windows, SUSE, RHEL) are dropped."""
    latest: dict[tuple[str, str], tuple[datetime, float]] = {}
    for rec in records:
        if rec.get("ProductDescription") not in LINUX_PRODUCTS:
            continue
        price = float(rec["SpotPrice"])
        if price <= 0:
            continue
        key = (rec["InstanceType"], rec["AvailabilityZone"])
        when = parse_timestamp(rec.get("Timestamp", "1970-01-01T00:00:00Z"))
        if key not in latest or when > latest[key][0]:
            latest[key] = (when, price)
    quotes: dict[str, dict[str, float]] = {}
    for (itype, az), (_, price) in sorted(latest.items()):
        quotes.setdefault(itype, {})[az] = price
    return {itype: SpotQuote(itype, by_az) for itype, by_az in quotes.items()}


def fetch_spot(
    ec2: EC2Client, instance_types: list[str], now: datetime | None = None
) -> dict[str, SpotQuote]:
    """Current spot prices for the given types in every AZ of the client's region."""
    if not instance_types:
        return {}
    records = paginate(
        ec2.describe_spot_price_history,
        "SpotPriceHistory",
        StartTime=now or datetime.now(UTC),
        ProductDescriptions=list(LINUX_PRODUCTS),
        InstanceTypes=sorted(set(instance_types)),
        MaxResults=1000,
    )
    return parse_spot_history(records)
