"""Where a launch goes when its region has no capacity: the other regions that offer the
type, ranked by the price the user is looking at, placement score and quota headroom."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dlpick.pricing.errors import AwsError, DlpickError
from dlpick.remote.quotas import check_quota

if TYPE_CHECKING:
    from dlpick.pricing.aws import Aws
    from dlpick.remote.launch import LaunchPlan, LaunchRequest

PROPOSALS = 3  # regions named in a proposal
PRICED = 6  # regions priced and quota-checked, the cheapest in the bundled snapshot
# A region's hourly price for the launch, and where that price comes from.
PriceIn = Callable[[str], tuple[float | None, str]]


@dataclass(frozen=True)
class RegionOption:
    """A region proposed when the current one has no capacity."""

    region: str
    usd_hour: float | None
    base_usd_hour: float | None  # the price of the region the launch was planned in
    quota: str  # "fits" or "unknown"
    score: int | None = None  # spot placement score (1-10) for a spot launch, when known

    def difference(self) -> str:
        if self.usd_hour is None or self.base_usd_hour is None:
            return "difference unknown"
        delta = self.usd_hour - self.base_usd_hour
        percent = f", {delta / self.base_usd_hour:+.0%}" if self.base_usd_hour else ""
        return f"{'-' if delta < 0 else '+'}${abs(delta):.2f}{percent}"

    def line(self) -> str:
        price = f"${self.usd_hour:.4f}/h" if self.usd_hour is not None else "price unknown"
        quota = "" if self.quota == "fits" else ", quota unknown"
        score = f", placement score {self.score}" if self.score is not None else ""
        return f"{self.region} at {price}, {self.difference()}{quota}{score}"


def region_options(
    aws: Aws, plan: LaunchPlan, tried: list[str], price_in: PriceIn
) -> list[RegionOption]:
    """Other regions that offer the type, cheapest first (the price the user is looking at);
    among equal prices a higher spot placement score (spot launches), then more quota
    headroom, first; regions whose quota is short are left out."""
    from dlpick.pricing.regions import enabled_regions
    from dlpick.pricing.snapshot import bundled

    req = plan.request
    snap = bundled()
    try:
        enabled = set(enabled_regions(aws.ec2(req.region)))
    except AwsError:
        enabled = set(snap.regions)

    def bundled_price(region: str) -> float:
        shot = snap.regions[region]
        spot = shot.spot.get(req.instance_type, {})
        price = min(spot.values()) if req.spot and spot else shot.on_demand.get(req.instance_type)
        return price if price is not None else float("inf")

    candidates = sorted(
        (
            r
            for r, shot in snap.regions.items()
            if r in enabled and r not in tried and req.instance_type in shot.instance_types
        ),
        key=lambda r: (bundled_price(r), r),
    )[:PRICED]
    placement = _spot_scores(aws, req, candidates) if req.spot else {}
    ranked: list[tuple[float, int, int, str, RegionOption]] = []
    for region in candidates:
        try:
            usd, _ = price_in(region)
        except DlpickError:
            usd = None
        try:
            check = check_quota(aws, region, req.instance_type, plan.vcpus, spot=req.spot)
        except AwsError:
            verdict, room = "unknown", 0
        else:
            verdict = check.verdict
            limit = check.quota.value if check.quota is not None else None
            room = int(limit - (check.used_vcpus or 0)) if verdict == "fits" and limit else 0
        if verdict == "short":
            continue
        score = placement.get(region)
        option = RegionOption(
            region, usd, plan.usd_hour, "fits" if verdict == "fits" else "unknown", score
        )
        price = usd if usd is not None else float("inf")
        ranked.append((price, -(score or 0), -room, region, option))
    return [option for *_, option in sorted(ranked, key=lambda t: t[:4])][:PROPOSALS]


def _spot_scores(aws: Aws, req: LaunchRequest, regions: list[str]) -> dict[str, int]:
    """Spot placement scores of the type in `regions`; none when the account may not ask."""
    from dlpick.pricing.placement import scores

    try:
        return scores(aws, req.instance_type, regions, home=req.region)
    except AwsError:
        return {}
