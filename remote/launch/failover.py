"""When a launch meets no capacity: the other AZs of the region, then other regions.

Each RunInstances attempt (any AZ of a region, or one AZ) carries its own client
token, made from the launch's token: a network retry of that attempt can never
start a second instance, while a refused attempt (no capacity creates nothing)
lets the next one go ahead. Every attempt tags its instance with the launch's
token, so after an answer that may have been lost the regions already tried are
searched for it before anything else is started. Another region is used only
once the caller's `choose` picks it from the proposals.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from dlpick.core.errors import AwsError, DlpickError, LaunchError
from dlpick.core.regions import enabled_regions
from dlpick.pricing.placement import scores
from dlpick.pricing.snapshot import bundled
from dlpick.remote.launch.access import (
    default_vpc,
    ensure_security_group,
    key_pair_exists,
    make_key_pair,
)
from dlpick.remote.launch.idempotency import instances_with_token, remember_move
from dlpick.remote.launch.model import Attempt
from dlpick.remote.launch.plan import plan_launch, quota_refusal
from dlpick.remote.launch.quotas import check_quota
from dlpick.remote.launch.run_instances import run_arguments
from dlpick.remote.tags import SECURITY_GROUP

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

    from dlpick.core.aws import Aws
    from dlpick.remote.launch.model import LaunchPlan, LaunchRequest


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
    try:
        return scores(aws, req.instance_type, regions, home=req.region)
    except AwsError:
        return {}


# RunInstances refusals that create nothing and may succeed elsewhere: no capacity in
# the AZ (on-demand or spot), an AZ that does not offer the type, a spot price above
# the cap there (spot prices differ by AZ), and the spot request status codes of the
# capacity-not-available family.
CAPACITY_CODES = {
    "InsufficientInstanceCapacity": "no capacity for {type}",
    "InsufficientCapacity": "no capacity for {type}",
    "InsufficientHostCapacity": "no capacity for {type}",
    "Unsupported": "{type} not offered in this AZ",
    "SpotMaxPriceTooLow": "spot price above the --max-price",
    "capacity-not-available": "no spot capacity for {type}",
    "capacity-oversubscribed": "no spot capacity for {type}",
    "InsufficientFreeAddressesInSubnet": "no free address in the subnet",
}
# Failures after which EC2 may have started the instance without the answer arriving.
LOST_ANSWER_CODES = {"MalformedAnswer", "InternalError", "InternalFailure", "ServiceUnavailable"}
_ZONE = re.compile(r"\b[a-z]{2}(?:-[a-z]+)+-\d+[a-z]\b")


@dataclass
class Started:
    """The instance a launch started, the plan of the region it runs in, and the attempts."""

    instance_id: str
    plan: LaunchPlan
    attempts: list[Attempt]
    recovered: bool = False  # found by its token after an answer was lost


Choose = Callable[[list[RegionOption]], "RegionOption | None"]


def catalog_price(aws: Aws, instance_type: str, spot: bool) -> PriceIn:
    """(usd/hour, where it came from) of the type in a region, from dlpick's price catalog."""
    from dlpick.core.cache import PriceCache
    from dlpick.pricing.catalog import Catalog

    catalog = Catalog(cache=PriceCache(), aws=aws)

    def price(region: str) -> tuple[float | None, str]:
        for offer in catalog.offers(region):
            if offer.instance_type == instance_type:
                if spot:
                    return offer.spot_usd_hour, f"spot, {offer.spot_source} {offer.spot_as_of[:10]}"
                return offer.on_demand_usd_hour, f"{offer.price_source} {offer.price_as_of[:10]}"
        return None, "not in the price catalog"

    return price


def attempt_token(launch_token: str, region: str, zone: str, first: bool) -> str:
    """The ClientToken of one attempt: the launch's own for the first, then one per place."""
    return launch_token if first else f"{launch_token}-{zone or region}"


def zones_named(message: str, region: str) -> list[str]:
    """The AZs an InsufficientInstanceCapacity message says have capacity ("...choosing
    us-east-1a, us-east-1b.")."""
    found = re.search(r"choosing (.+)", message)
    return [z for z in _ZONE.findall(found.group(1)) if z.startswith(region)] if found else []


def zone_subnets(ec2: EC2Client, region: str, instance_type: str) -> dict[str, str]:
    """AZ -> default subnet, for the AZs of the default VPC that offer the type."""
    offered = {
        str(o["Location"])
        for o in ec2.describe_instance_type_offerings(
            LocationType="availability-zone",
            Filters=[{"Name": "instance-type", "Values": [instance_type]}],
        )["InstanceTypeOfferings"]
    }
    subnets = ec2.describe_subnets(
        Filters=[
            {"Name": "vpc-id", "Values": [default_vpc(ec2, region)]},
            {"Name": "default-for-az", "Values": ["true"]},
        ]
    )["Subnets"]
    return {
        str(s["AvailabilityZone"]): str(s["SubnetId"])
        for s in sorted(subnets, key=lambda s: str(s["AvailabilityZone"]))
        if s["AvailabilityZone"] in offered
    }


def prepare(ec2: EC2Client, plan: LaunchPlan, progress: Callable[[str], None]) -> str:
    """The key pair (when missing) and the SSH group of the plan's region; the group's id."""
    if plan.create_key:
        make_key_pair(ec2, plan.key_name, plan.key_path, plan.tags(), progress)
    progress(f"allowing SSH from {plan.cidr} in {SECURITY_GROUP} ({plan.request.region})")
    return ensure_security_group(ec2, default_vpc(ec2, plan.request.region), plan.cidr, plan.tags())


def _recover(
    aws: Aws, token: str, regions: list[str], err: AwsError, progress: Callable[[str], None]
) -> tuple[str, str]:
    """After a lost answer: the live instance tagged with the launch's token, or the error."""
    for region in regions:
        try:
            found = instances_with_token(aws.ec2(region), token)
        except AwsError:
            raise err from None
        live = [i for i in found if i["State"]["Name"] not in ("shutting-down", "terminated")]
        if live:
            instance_id = str(live[0]["InstanceId"])
            progress(f"the answer was lost, but {instance_id} started in {region}; using it")
            return region, instance_id
    raise LaunchError(
        f"{err}; no instance of this launch was found in {', '.join(regions)}: run the same "
        "command again (it finds the instance if one started after all)",
        code=err.code,
    ) from None


def _in_region(
    aws: Aws,
    plan: LaunchPlan,
    first: bool,
    progress: Callable[[str], None],
    attempts: list[Attempt],
) -> str | None:
    """Try the region (any AZ, then each AZ that may have capacity); None when none has."""
    req = plan.request
    region = req.region
    ec2 = aws.ec2(region)
    group_id = prepare(ec2, plan, progress)
    subnets: dict[str, str] | None = None  # looked up at the first refusal
    zone = ""
    while True:
        token = attempt_token(plan.client_token, region, zone, first and not zone)
        if not zone:  # each later try is announced by the line saying why it moved on
            progress(f"starting {req.instance_type} in {region} (any AZ)")
        args = run_arguments(
            plan, group_id, client_token=token, subnet_id=(subnets or {}).get(zone)
        )
        try:
            answer = ec2.run_instances(**args)
        except AwsError as exc:
            if exc.code not in CAPACITY_CODES:
                raise
            why = CAPACITY_CODES[exc.code].format(type=req.instance_type)
            attempts.append(Attempt(region, zone, why, exc.code))
            if pinned_place(req):
                raise LaunchError(
                    f"{attempts[-1].line()}; the launch is pinned to "
                    f"{pinned_place(req)}, so it does not move: retry later",
                    code=exc.code,
                ) from None
            if subnets is None:
                subnets = zone_subnets(ec2, region, req.instance_type)
            tried = {a.zone for a in attempts if a.region == region}
            named = [z for z in zones_named(exc.aws_message or str(exc), region) if z in subnets]
            left = [z for z in [*named, *subnets] if z not in tried]
            zone = left[0] if left else ""
            progress(attempts[-1].line() + (f" — trying {zone}" if zone else ""))
            if not zone:
                return None
            continue
        attempts.append(Attempt(region, zone, "started"))
        return str(answer["Instances"][0]["InstanceId"])


# What to do about a declined (or unasked) move, in the CLI's words; the app has its own.
CLI_DECLINE_HINT = "launch there with --region {region}, or --any-region"


def pinned_place(req: LaunchRequest) -> str:
    """Where a launch must run, when it must not move: a Capacity Block or a chosen AZ."""
    if req.capacity_block:
        return f"the Capacity Block {req.capacity_block}"
    return f"the zone {req.availability_zone}" if req.availability_zone else ""


def plan_in_region(
    aws: Aws, plan: LaunchPlan, region: str, price_in: PriceIn, progress: Callable[[str], None]
) -> LaunchPlan:
    """The launch planned again in another region: its image, price and quota, the same SSH
    CIDR, the named key pair imported there from its key file, and the launch's token."""
    req = plan.request
    moved = replace(req, region=region, ssh_cidr=plan.cidr, new=False)
    if req.key_name and not key_pair_exists(aws.ec2(region), req.key_name):
        make_key_pair(aws.ec2(region), req.key_name, plan.key_path, plan.tags(), progress)
    new = plan_launch(aws, moved, lambda: price_in(region))
    refusal = quota_refusal(new)
    if refusal is not None:
        raise refusal
    new.client_token = plan.client_token
    new.existing_instance = None
    return new


def start_instance(
    aws: Aws,
    plan: LaunchPlan,
    progress: Callable[[str], None],
    price_in: PriceIn,
    choose: Choose | None,
    decline_hint: str = CLI_DECLINE_HINT,
) -> Started:
    """Start the planned instance where there is capacity: the planned region's AZs, then
    the regions `choose` accepts (None: none is accepted, the proposal is the error)."""
    attempts: list[Attempt] = []
    regions: list[str] = []
    plans: dict[str, LaunchPlan] = {}
    current = plan
    while True:
        regions.append(current.request.region)
        plans[current.request.region] = current
        try:
            instance_id = _in_region(aws, current, len(regions) == 1, progress, attempts)
        except AwsError as exc:
            if not (exc.unreachable or exc.code in LOST_ANSWER_CODES):
                raise
            region, instance_id = _recover(aws, plan.client_token, regions, exc, progress)
            attempts.append(Attempt(region, "", "answer lost; found by its token", exc.code))
            return Started(instance_id, plans[region], attempts, recovered=True)
        if instance_id is not None:
            return Started(instance_id, current, attempts)
        req = plan.request
        pinned = req.ami.startswith("ami-")  # an image id exists in one region only
        options = [] if pinned else region_options(aws, current, regions, price_in)
        what = (
            f"the {req.instance_type} spot price is above --max-price"
            if attempts[-1].code == "SpotMaxPriceTooLow"
            else f"no {req.instance_type} capacity"
        )
        gone = f"{what} in {', '.join(regions)}; nothing was launched"
        if not options:
            why = (
                f"; the image {req.ami} exists in {req.region} only: "
                "--ami base or pytorch lets the launch move to another region"
                if pinned
                else "; no other region offers it within your quota: retry later"
            )
            raise LaunchError(gone + why, code=attempts[-1].code)
        progress(
            f"{current.request.region}: no AZ has capacity; other regions: "
            + "; ".join(o.line() for o in options)
        )
        picked = choose(options) if choose is not None else None
        if picked is None:
            best = options[0]
            raise LaunchError(
                f"{gone}; next best: {best.line()} ({decline_hint.format(region=best.region)})",
                code=attempts[-1].code,
            )
        progress(f"moving to {picked.region}: key pair and security group follow")
        remember_move(plan.request, plan.client_token, picked.region)
        current = plan_in_region(aws, plan, picked.region, price_in, progress)
