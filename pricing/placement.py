"""Spot placement scores (GetSpotPlacementScores): how likely a spot request for a
type succeeds, 1 to 10, per region and, in one region, per availability zone.

AWS scores a set of types, and warns that one or two types always score low: the
type is asked with its nearest neighbours in the family (by accelerators, then
vCPUs), so the score reads "this type or a size next to it". An account that may
not call the API gets `denied` (shown as `?`), never an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dlpick.core.aws import paginate
from dlpick.core.errors import AwsError
from dlpick.pricing.payloads import PAYLOAD_SHAPES
from dlpick.pricing.snapshot import bundled

if TYPE_CHECKING:
    from dlpick.core.aws import Aws
    from dlpick.core.cache import PriceCache
    from dlpick.pricing.specs import InstanceSpec

# AWS: "at least three instance types"; fewer always score low.
TYPES_ASKED = 3
# Capacity asked for: one instance, as dlpick launches.
TARGET_CAPACITY = 1
# Errors that mean "this account may not ask": shown as `?`, not as a failure.
NOT_ALLOWED = frozenset({"UnauthorizedOperation", "AccessDenied", "AccessDeniedException"})


def _series(family: str) -> str:
    """'p5' for p5, p5e and p5en: the generation families of a series share."""
    found = re.match(r"[a-z]+\d+", family)
    return found.group(0) if found else family


def neighbours(instance_type: str, specs: Mapping[str, InstanceSpec] | None = None) -> list[str]:
    """The type and the sizes closest to it in its family, TYPES_ASKED in all when known.

    Sizes are ordered by accelerator count, then vCPUs; the nearest on either side
    come first (the smaller one on a tie). A family with fewer sizes is completed
    from its series (p5e and p5en for p5), nearest in size first.
    """
    if specs is None:
        specs = bundled().specs
    mine = specs.get(instance_type)
    if mine is None:
        return [instance_type]
    family = instance_type.split(".", 1)[0]

    def size(spec: InstanceSpec) -> tuple[float, int, str]:
        return (spec.accelerator_count, spec.vcpus, spec.instance_type)

    sizes = sorted((s for s in specs.values() if s.family == family), key=size)
    names = [s.instance_type for s in sizes]
    at = names.index(instance_type)
    near = sorted(
        (n for n in names if n != instance_type),
        key=lambda n: (abs(names.index(n) - at), names.index(n)),
    )
    series = sorted(
        (s for s in specs.values() if s.family != family and _series(s.family) == _series(family)),
        key=lambda s: (
            abs(s.accelerator_count - mine.accelerator_count),
            abs(s.vcpus - mine.vcpus),
            s.instance_type,
        ),
    )
    near += [s.instance_type for s in series]
    return [instance_type, *near[: TYPES_ASKED - 1]]


@dataclass(frozen=True)
class Placement:
    """Spot placement scores for one type: per region, and per AZ in `region`."""

    instance_type: str
    asked: tuple[str, ...]  # the types scored together (the type and its neighbours)
    region: str
    by_region: dict[str, int] = field(default_factory=dict)
    by_az: dict[str, int] = field(default_factory=dict)  # AZ name (or id) -> score
    denied: str = ""  # why the account may not ask: every score is then "?"

    @property
    def score(self) -> int | None:
        """The score in `region`, None when unknown."""
        return self.by_region.get(self.region)


def _ask(
    aws: Aws, asked: list[str], regions: list[str], home: str, single_az: bool
) -> list[dict[str, Any]]:
    ec2 = aws.ec2(home)
    return paginate(
        ec2.get_spot_placement_scores,
        "SpotPlacementScores",
        InstanceTypes=asked,
        TargetCapacity=TARGET_CAPACITY,
        TargetCapacityUnitType="units",
        SingleAvailabilityZone=single_az,
        RegionNames=regions,
    )


def _az_names(aws: Aws, region: str) -> dict[str, str]:
    """AZ id -> AZ name in `region` (scores name AZs by id; users know them by name)."""
    zones = aws.ec2(region).describe_availability_zones()["AvailabilityZones"]
    return {str(z["ZoneId"]): str(z["ZoneName"]) for z in zones if "ZoneId" in z}


def _cached_scores(
    cache: PriceCache | None, scope: str, kind: str, key: str, fetch: _Fetch
) -> dict[str, int]:
    """Scores from the cache when fresh, else fetched (and cached)."""
    if cache is not None:
        hit = cache.get(kind, key, valid=PAYLOAD_SHAPES[kind], scope=scope)
        if hit is not None:
            return dict(hit.payload)
    found = fetch()
    if cache is not None:
        cache.put(kind, key, found, scope=scope)
    return found


class _Fetch:
    """A deferred GetSpotPlacementScores call, read into {region or AZ: score}."""

    def __init__(self, aws: Aws, asked: list[str], regions: list[str], home: str, az: bool) -> None:
        self.args = (aws, asked, regions, home, az)

    def __call__(self) -> dict[str, int]:
        aws, asked, regions, home, az = self.args
        rows = _ask(aws, asked, regions, home, az)
        names = _az_names(aws, home) if az else {}
        out: dict[str, int] = {}
        for row in rows:
            where = row.get("AvailabilityZoneId") if az else row.get("Region")
            if where and isinstance(row.get("Score"), int):
                out[names.get(str(where), str(where))] = int(row["Score"])
        return out


def scores(
    aws: Aws,
    itype: str,
    regions: Iterable[str],
    *,
    cache: PriceCache | None = None,
    specs: Mapping[str, InstanceSpec] | None = None,
    home: str | None = None,
) -> dict[str, int]:
    """Spot placement score (1-10) of `itype` (with its neighbours) per region.

    Asked in `home` (default: the profile's region), which scores every region named.
    Raises AwsError; callers that show `?` for a denied account use `placement`.
    """
    from dlpick.core.cache import cache_scope

    wanted = sorted(set(regions))
    if not wanted:
        return {}
    asked = neighbours(itype, specs)
    key = f"{','.join(asked)}|{','.join(wanted)}"
    fetch = _Fetch(aws, asked, wanted, home or aws.default_region(), False)
    return _cached_scores(cache, cache_scope(aws.profile), "placement", key, fetch)


def placement(
    aws: Aws,
    itype: str,
    region: str,
    regions: Iterable[str] = (),
    *,
    cache: PriceCache | None = None,
    specs: Mapping[str, InstanceSpec] | None = None,
) -> Placement:
    """Scores of `itype` per region (`regions` and `region`) and per AZ of `region`.

    An account that may not call GetSpotPlacementScores gets a Placement whose
    `denied` says so; other failures raise AwsError.
    """
    from dlpick.core.cache import cache_scope

    asked = neighbours(itype, specs)
    try:
        by_region = scores(aws, itype, {region, *regions}, cache=cache, specs=specs, home=region)
        key = f"{','.join(asked)}|{region}"
        fetch = _Fetch(aws, asked, [region], region, True)
        by_az = _cached_scores(cache, cache_scope(aws.profile), "placement-az", key, fetch)
    except AwsError as exc:
        if exc.code not in NOT_ALLOWED:
            raise
        return Placement(itype, tuple(asked), region, denied=f"not allowed ({exc.code})")
    return Placement(itype, tuple(asked), region, by_region, by_az)


def score_text(found: Placement) -> str:
    """'7/10 in us-east-1 (us-east-1a 9, us-east-1b 3)', or '?' with why."""
    if found.denied:
        return f"? ({found.denied})"
    score = found.score
    text = f"{score}/10 in {found.region}" if score is not None else f"? in {found.region}"
    if found.by_az:
        ranked = sorted(found.by_az.items(), key=lambda kv: (-kv[1], kv[0]))
        text += " (" + ", ".join(f"{az} {s}" for az, s in ranked) + ")"
    return text
