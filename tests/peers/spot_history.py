"""DescribeSpotPriceHistory answered from seeded records, for the EC2 front.

moto cannot serve a history: its `describe_spot_price_history`
(moto/ec2/models/spot_requests.py) returns one fixed price per offered AZ, with no
timestamps of the test's choosing, and ignores StartTime, EndTime, MaxResults and
NextToken. This answers as AWS does: the records in [StartTime, EndTime] plus, per
AZ and product, the one in effect at StartTime (its timestamp may be earlier), newest
first, in pages of MaxResults with an opaque NextToken.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tests.peers.loopback import listed


@dataclass(frozen=True)
class SpotRecord:
    region: str
    instance_type: str
    az: str
    at: datetime
    usd_hour: float
    product: str = "Linux/UNIX"

    def xml(self) -> str:
        return (
            "<item>"
            f"<instanceType>{self.instance_type}</instanceType>"
            f"<productDescription>{self.product}</productDescription>"
            f"<spotPrice>{self.usd_hour:.6f}</spotPrice>"
            f"<timestamp>{self.at.strftime('%Y-%m-%dT%H:%M:%S.000Z')}</timestamp>"
            f"<availabilityZone>{self.az}</availabilityZone>"
            "</item>"
        )


@dataclass
class SpotHistorySeed:
    records: list[SpotRecord] = field(default_factory=list)
    failing_regions: set[str] = field(default_factory=set)  # answered UnauthorizedOperation
    # Answers wait while this is clear: a test holds them to see what is drawn meanwhile.
    flowing: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.flowing.set()

    def add(
        self,
        region: str,
        instance_type: str,
        az: str,
        at: datetime,
        usd_hour: float,
        product: str = "Linux/UNIX",
    ) -> None:
        self.records.append(SpotRecord(region, instance_type, az, at, usd_hour, product))


def _when(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def request_region(headers: dict[str, str]) -> str:
    """The region a SigV4-signed request was signed for (its credential scope)."""
    found = re.search(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/", headers.get("Authorization", ""))
    return found.group(1) if found else "us-east-1"


def matching(seed: SpotHistorySeed, region: str, form: dict[str, str]) -> list[SpotRecord]:
    """The records AWS would return for the request, newest first."""
    types = set(listed(form, "InstanceType"))
    products = set(listed(form, "ProductDescription"))
    az = form.get("AvailabilityZone")
    start = _when(form["StartTime"]) if form.get("StartTime") else None
    end = _when(form["EndTime"]) if form.get("EndTime") else None
    chosen = [
        r
        for r in seed.records
        if r.region == region
        and (not types or r.instance_type in types)
        and (not products or r.product in products)
        and (not az or r.az == az)
        and (end is None or r.at <= end)
    ]
    if start is not None:
        opening: dict[tuple[str, str, str], SpotRecord] = {}
        for r in chosen:
            key = (r.instance_type, r.az, r.product)
            if r.at <= start and (key not in opening or r.at > opening[key].at):
                opening[key] = r
        kept = set(opening.values())
        chosen = [r for r in chosen if r.at > start or r in kept]
    return sorted(chosen, key=lambda r: (r.at, r.az), reverse=True)


def answer(seed: SpotHistorySeed, region: str, form: dict[str, str]) -> str:
    """The inner XML of the response: one page of the matching records."""
    found = matching(seed, region, form)
    size = int(form.get("MaxResults") or 1000)
    offset = int(form.get("NextToken") or 0)
    page = found[offset : offset + size]
    following = offset + size
    token = f"<nextToken>{following}</nextToken>" if following < len(found) else ""
    items = "".join(r.xml() for r in page)
    return f"<spotPriceHistorySet>{items}</spotPriceHistorySet>{token}"
