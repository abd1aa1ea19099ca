"""How steady a spot price is: one type's Linux spot price history in one region, per AZ.

What AWS gives (DescribeSpotPriceHistory) is the list of price changes. It is read
as a step series: a price holds until the next change. Definitions, as
docs/spot-history.md gives them:

- the window is [now - D days, now];
- an AZ's price before its first change in the window is the record in effect at the
  window start (AWS includes it; its timestamp may be earlier). An AZ with no record
  that old starts at its first record;
- the hourly series holds the price in effect at each whole hour of the window;
- the time-weighted mean is exact: the sum of each price times how long it held,
  over the time covered (not sampled);
- min and max are over every price in effect at some moment of the window;
- median and p90 are over the hourly series (linear interpolation between ranks);
- the share below half of on-demand is over the hourly series;
- changes are the records in the window whose price differs from the one before;
- the cheapest AZ has the lowest time-weighted mean.

pandas is imported only in `summarise`, so nothing else pays for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dlpick.core.aws import instance_type_name, paginate
from dlpick.pricing.spot import LINUX_PRODUCTS, parse_timestamp

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

    from dlpick.core.aws import Aws
    from dlpick.core.cache import PriceCache

DEFAULT_DAYS = 30
MAX_DAYS = 90  # what AWS keeps
PAGE_SIZE = 1000
PREFERRED_PRODUCT = LINUX_PRODUCTS[0]
KIND = "spot-history"


@dataclass(frozen=True)
class PriceChange:
    """One record of the history: from `at` on, the AZ's price is `usd_hour`."""

    az: str
    at: datetime
    usd_hour: float


@dataclass(frozen=True)
class History:
    """The price changes AWS returned for a window, and where they came from."""

    instance_type: str
    region: str
    start: datetime
    end: datetime
    changes: tuple[PriceChange, ...]
    source: str = "live"  # or "cache"
    as_of: str = ""

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    def to_json(self) -> dict[str, Any]:
        return {
            "instance_type": self.instance_type,
            "region": self.region,
            # Whole precision: a cached window gives the same figures as the fresh one.
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "changes": [[c.az, c.at.isoformat(), c.usd_hour] for c in self.changes],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, source: str, as_of: str) -> History:
        return cls(
            instance_type=data["instance_type"],
            region=data["region"],
            start=parse_timestamp(data["start"]),
            end=parse_timestamp(data["end"]),
            changes=tuple(
                PriceChange(az, parse_timestamp(at), float(p)) for az, at, p in data["changes"]
            ),
            source=source,
            as_of=as_of,
        )


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _valid(payload: Any) -> bool:
    return isinstance(payload, dict) and {"start", "end", "changes"} <= set(payload)


def parse_history(records: list[dict[str, Any]]) -> list[PriceChange]:
    """Linux price changes per AZ, one product per AZ ("Linux/UNIX" where AWS has both)."""
    by_product: dict[tuple[str, str], list[PriceChange]] = {}
    for rec in records:
        product = rec.get("ProductDescription")
        if product not in LINUX_PRODUCTS:
            continue
        az = rec["AvailabilityZone"]
        change = PriceChange(az, parse_timestamp(rec["Timestamp"]), float(rec["SpotPrice"]))
        by_product.setdefault((az, str(product)), []).append(change)
    chosen: list[PriceChange] = []
    for az in sorted({az for az, _ in by_product}):
        found = by_product.get((az, PREFERRED_PRODUCT)) or by_product[az, LINUX_PRODUCTS[1]]
        chosen.extend(sorted(found, key=lambda c: c.at))
    return chosen


def fetch_history(
    ec2: EC2Client,
    instance_type: str,
    region: str,
    *,
    days: float = DEFAULT_DAYS,
    now: datetime | None = None,
    page_size: int = PAGE_SIZE,
) -> History:
    """Every Linux price change of the type over the last `days`, all pages."""
    end = now or datetime.now(UTC)
    start = end - timedelta(days=days)
    records = paginate(
        ec2.describe_spot_price_history,
        "SpotPriceHistory",
        StartTime=start,
        EndTime=end,
        InstanceTypes=[instance_type_name(instance_type)],
        ProductDescriptions=list(LINUX_PRODUCTS),
        MaxResults=page_size,
    )
    return History(
        instance_type, region, start, end, tuple(parse_history(records)), "live", _iso(end)
    )


def load_history(
    aws: Aws,
    cache: PriceCache | None,
    instance_type: str,
    region: str,
    *,
    days: float = DEFAULT_DAYS,
    refresh: bool = False,
    now: datetime | None = None,
) -> History:
    """The history from the cache while fresh (an hour), else from AWS (then cached)."""
    from dlpick.core.cache import cache_scope, iso

    key = f"{instance_type} {region} {days:g}d"
    scope = cache_scope(aws.profile)
    if cache is not None and not refresh:
        hit = cache.get(KIND, key, valid=_valid, scope=scope)
        if hit is not None:
            return History.from_json(hit.payload, source="cache", as_of=iso(hit.fetched_at))
    found = fetch_history(aws.ec2(region), instance_type, region, days=days, now=now)
    if cache is not None:
        cache.put(KIND, key, found.to_json(), fetched_at=found.end.timestamp(), scope=scope)
    return found


@dataclass(frozen=True)
class ZoneSummary:
    """The figures of one AZ over the window (USD per hour; share from 0 to 1)."""

    az: str
    current: float
    minimum: float
    median: float
    p90: float
    maximum: float
    mean: float  # time-weighted
    below_half_share: float | None  # None without an on-demand price
    changes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "availability_zone": self.az,
            "current_usd_hour": self.current,
            "min_usd_hour": self.minimum,
            "median_usd_hour": self.median,
            "p90_usd_hour": self.p90,
            "max_usd_hour": self.maximum,
            "mean_usd_hour": self.mean,
            "below_half_on_demand_share": self.below_half_share,
            "changes": self.changes,
        }


@dataclass(frozen=True)
class HistorySummary:
    """Per-AZ figures and the hourly step series, next to the on-demand price."""

    history: History
    on_demand_usd_hour: float | None
    on_demand_source: str
    zones: tuple[ZoneSummary, ...]
    hours: tuple[datetime, ...]
    hourly: dict[str, tuple[float | None, ...]]  # None before an AZ's first record
    # Per AZ, each price and from when it holds (the window start for the one in effect
    # then), in order; the last holds to the window end.
    steps: dict[str, tuple[tuple[datetime, float], ...]]

    @property
    def cheapest(self) -> ZoneSummary | None:
        """The AZ with the lowest time-weighted mean."""
        return min(self.zones, key=lambda z: (z.mean, z.az), default=None)

    def zone(self, az: str) -> ZoneSummary | None:
        return next((z for z in self.zones if z.az == az), None)

    def to_json(self) -> dict[str, Any]:
        h = self.history
        cheapest = self.cheapest
        return {
            "instance_type": h.instance_type,
            "region": h.region,
            "start": _iso(h.start),
            "end": _iso(h.end),
            "days": round(h.days, 6),
            "history_source": h.source,
            "history_as_of": h.as_of,
            "on_demand_usd_hour": self.on_demand_usd_hour,
            "on_demand_source": self.on_demand_source,
            "cheapest_az": cheapest.az if cheapest else None,
            "zones": [z.to_json() for z in self.zones],
            "hourly": {
                "hours": [_iso(t) for t in self.hours],
                "usd_hour": {az: list(v) for az, v in self.hourly.items()},
            },
        }


def summarise(
    history: History, on_demand: float | None, on_demand_source: str = ""
) -> HistorySummary:
    """The figures of the module docstring, per AZ, computed with pandas."""
    import pandas as pd

    start, end = pd.to_datetime([history.start, history.end], utc=True)
    marks = pd.date_range(start.ceil("h"), end.floor("h"), freq="h")
    zones: list[ZoneSummary] = []
    hourly: dict[str, tuple[float | None, ...]] = {}
    held_from: dict[str, tuple[tuple[datetime, float], ...]] = {}
    by_az: dict[str, list[PriceChange]] = {}
    for change in history.changes:
        if change.at <= history.end:
            by_az.setdefault(change.az, []).append(change)
    for az, changes in sorted(by_az.items()):
        seq = pd.Series(
            [c.usd_hour for c in changes], index=pd.to_datetime([c.at for c in changes], utc=True)
        ).sort_index()
        seq = seq[~seq.index.duplicated(keep="last")]
        # The price at the window start holds from there; an AZ without one starts later.
        steps = seq[seq.index > start]
        opening = seq[seq.index <= start]
        if not opening.empty:
            steps = pd.concat(
                [pd.Series([opening.iloc[-1]], index=pd.to_datetime([start], utc=True)), steps]
            )
        bounds = pd.to_datetime([*steps.index, end], utc=True)
        held = (bounds[1:] - bounds[:-1]).total_seconds().to_numpy()
        covered = held.sum()
        mean = (
            float((steps.to_numpy() * held).sum() / covered) if covered else float(steps.iloc[-1])
        )
        series = steps.reindex(marks, method="ffill")
        values = series.dropna()
        if values.empty:  # covered for less than an hour mark: the prices it had
            values = steps
        changed = seq.ne(seq.shift())
        changed.iloc[0] = False
        zones.append(
            ZoneSummary(
                az=az,
                current=float(steps.iloc[-1]),
                minimum=float(steps.min()),
                median=float(values.median()),
                p90=float(values.quantile(0.9)),
                maximum=float(steps.max()),
                mean=mean,
                below_half_share=None if not on_demand else float((values < on_demand / 2).mean()),
                changes=int(changed[seq.index > start].sum()),
            )
        )
        hourly[az] = tuple(None if pd.isna(v) else float(v) for v in series)
        moved = steps[steps.ne(steps.shift())]
        held_from[az] = tuple(
            (t.to_pydatetime(), float(v)) for t, v in zip(moved.index, moved, strict=True)
        )
    return HistorySummary(
        history=history,
        on_demand_usd_hour=on_demand,
        on_demand_source=on_demand_source,
        zones=tuple(zones),
        hours=tuple(t.to_pydatetime() for t in marks),
        hourly=hourly,
        steps=held_from,
    )
