"""The catalog: every accelerated instance type with its speed and what it costs.

Prices come from the live AWS APIs, the SQLite cache, or the bundled snapshot,
and every price says which (`live`, `cache`, `snapshot`) and as of when.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from dlpick.core.aws import map_regions
from dlpick.core.cache import Cached, PriceCache, cache_scope, iso
from dlpick.core.errors import AwsError
from dlpick.core.inputs import check_region
from dlpick.core.regions import enabled_regions
from dlpick.pricing import ondemand
from dlpick.pricing import specs as specs_api
from dlpick.pricing import spot as spot_api
from dlpick.pricing.advisor import UNKNOWN, Advice, AdvisorSource, AdvisorStamp
from dlpick.pricing.chips import Chip
from dlpick.pricing.payloads import PAYLOAD_SHAPES
from dlpick.pricing.retiring import Retirement, retirement_for
from dlpick.pricing.sagemaker import fetch_training, premium_percent
from dlpick.pricing.snapshot import Snapshot, bundled
from dlpick.pricing.specs import InstanceSpec, chip_for

if TYPE_CHECKING:
    from dlpick.core.aws import Aws

# The fields of `dlpick prices --format json`, in order (DESIGN.md's record
# contract first, then the extras).
RECORD_FIELDS = (
    "instance_type",
    "region",
    "gpu_model",
    "gpu_count",
    "gpu_memory_gib",
    "vcpus",
    "memory_gib",
    "fp32_tflops",
    "bf16_tflops",
    "on_demand_usd_hour",
    "spot_usd_hour",
    "usd_per_fp32_tflop_hour",
    "spot_usd_per_fp32_tflop_hour",
    "price_source",
    "price_as_of",
    "usd_per_bf16_tflop_hour",
    "spot_usd_per_bf16_tflop_hour",
    "gpu_vendor",
    "accelerator_kind",
    "arch",
    "spot_az",
    "spot_price_source",
    "spot_price_as_of",
    "spot_interruption_band",
    "spot_savings_percent",
    "fp32_source_kind",
    "bf16_source_kind",
    "accelerator_use",
    "retiring",
    "retiring_source",
    "spot_price_as_of_not_before",
    "sagemaker_training_usd_hour",
    "sagemaker_premium_percent",
    "fp32_engine",
    "fp32_caveat",
    "bf16_caveat",
    "spot_advisor_source",
    "spot_advisor_as_of",
    "spot_advisor_as_of_not_after",
)
SOURCES = ("live", "cache", "snapshot")
P = TypeVar("P")  # a payload of one kind, as fetched live and as cached
KIND_LABELS = {
    "specs": "instance types",
    "ondemand": "on-demand prices",
    "spot": "spot prices",
    "regions": "the enabled regions",
    "sagemaker": "SageMaker training prices",
}


def _per_tflop(price: float | None, tflops: float | None) -> float | None:
    if price is None or not tflops:
        return None
    return price / tflops


@dataclass(frozen=True)
class Offer:
    """One instance type in one region: what it has and what it costs."""

    spec: InstanceSpec
    chip: Chip | None
    region: str
    on_demand_usd_hour: float | None
    price_source: str
    price_as_of: str
    spot_by_az: dict[str, float] = field(default_factory=dict)
    spot_source: str = "snapshot"
    spot_as_of: str = ""
    spot_as_of_not_before: bool = False  # spot_as_of is only a lower bound of the date
    advice: Advice = UNKNOWN  # the spot advisor's interruption band and savings
    sagemaker_training_usd_hour: float | None = None  # the same type as a training job
    advisor: AdvisorStamp | None = None  # where the bands came from, and when

    @property
    def partial(self) -> bool:
        """A slice of one accelerator (g6f: 1/8 of an L4): its TFLOPs are our arithmetic."""
        return not float(self.spec.accelerator_count).is_integer()

    @property
    def instance_type(self) -> str:
        return self.spec.instance_type

    @property
    def gpu_model(self) -> str:
        return self.chip.name if self.chip else self.spec.accelerator_name

    @property
    def fp32_tflops(self) -> float | None:
        if self.chip is None or self.chip.fp32_tflops is None:
            return None
        return round(self.spec.accelerator_count * self.chip.fp32_tflops, 4)

    @property
    def bf16_tflops(self) -> float | None:
        if self.chip is None or self.chip.bf16_tflops is None:
            return None
        return round(self.spec.accelerator_count * self.chip.bf16_tflops, 4)

    @property
    def accelerator_use(self) -> str:
        """'training' or 'inference', from the vendor's positioning of the chip."""
        if self.chip is not None:
            return self.chip.use
        return "inference" if self.spec.accelerator_kind == "inference" else "training"

    @property
    def spot_az(self) -> str | None:
        return (
            min(self.spot_by_az, key=lambda az: (self.spot_by_az[az], az))
            if self.spot_by_az
            else None
        )

    @property
    def spot_usd_hour(self) -> float | None:
        az = self.spot_az
        return self.spot_by_az[az] if az else None

    @property
    def retirement(self) -> Retirement | None:
        return retirement_for(self.instance_type)

    def usd_hour(self, spot: bool = False) -> float | None:
        return self.spot_usd_hour if spot else self.on_demand_usd_hour

    def figure_kind(self, metric: str) -> str | None:
        """How the instance's `metric` TFLOPs were obtained; None without a figure.

        A whole number of chips keeps the chip's kind; a slice of one is `derived`
        (count × the chip's figure), whatever the chip's figure is.
        """
        if self.chip is None:
            return None
        value, kind = (
            (self.fp32_tflops, self.chip.fp32_kind)
            if metric == "fp32"
            else (self.bf16_tflops, self.chip.bf16_kind)
        )
        if value is None or kind is None:
            return None
        return "derived" if self.partial and kind == "datasheet" else kind

    def caveat(self, metric: str) -> str | None:
        """What to know before comparing the instance's `metric` figure, if anything."""
        if self.chip is None:
            return None
        value, caveat = (
            (self.fp32_tflops, self.chip.fp32_caveat)
            if metric == "fp32"
            else (self.bf16_tflops, self.chip.bf16_caveat)
        )
        return (caveat or None) if value is not None else None

    def to_record(self) -> dict[str, Any]:
        """The JSON record of the prices contract (totals for the whole instance)."""
        fp32, bf16 = self.fp32_tflops, self.bf16_tflops
        od, spot = self.on_demand_usd_hour, self.spot_usd_hour
        retiring = self.retirement
        return {
            "instance_type": self.instance_type,
            "region": self.region,
            "gpu_model": self.gpu_model,
            "gpu_count": self.spec.accelerator_count,
            "gpu_memory_gib": self.spec.accelerator_memory_gib,
            "vcpus": self.spec.vcpus,
            "memory_gib": self.spec.memory_gib,
            "fp32_tflops": fp32,
            "bf16_tflops": bf16,
            "on_demand_usd_hour": od,
            "spot_usd_hour": spot,
            "usd_per_fp32_tflop_hour": _per_tflop(od, fp32),
            "spot_usd_per_fp32_tflop_hour": _per_tflop(spot, fp32),
            "price_source": self.price_source,
            "price_as_of": self.price_as_of,
            "usd_per_bf16_tflop_hour": _per_tflop(od, bf16),
            "spot_usd_per_bf16_tflop_hour": _per_tflop(spot, bf16),
            "gpu_vendor": self.chip.vendor if self.chip else self.spec.accelerator_vendor,
            "accelerator_kind": self.spec.accelerator_kind,
            "arch": self.spec.arch,
            "spot_az": self.spot_az,
            "spot_price_source": self.spot_source if self.spot_by_az else None,
            "spot_price_as_of": self.spot_as_of if self.spot_by_az else None,
            "spot_interruption_band": self.advice.band,
            "spot_savings_percent": self.advice.savings_percent,
            "fp32_source_kind": self.figure_kind("fp32"),
            "bf16_source_kind": self.figure_kind("bf16"),
            "accelerator_use": self.accelerator_use,
            "retiring": retiring.field if retiring else None,
            "retiring_source": retiring.source if retiring else None,
            "spot_price_as_of_not_before": bool(self.spot_by_az and self.spot_as_of_not_before),
            "sagemaker_training_usd_hour": self.sagemaker_training_usd_hour,
            "sagemaker_premium_percent": premium_percent(self.sagemaker_training_usd_hour, od),
            "fp32_engine": self.chip.fp32_engine if self.chip and fp32 is not None else None,
            "fp32_caveat": self.caveat("fp32"),
            "bf16_caveat": self.caveat("bf16"),
            "spot_advisor_source": self.advisor.source if self.advisor else None,
            "spot_advisor_as_of": self.advisor.as_of if self.advisor else None,
            "spot_advisor_as_of_not_after": bool(self.advisor and self.advisor.not_after),
        }


@dataclass
class RegionPrices:
    """Everything known about one region, each part with its source and date."""

    region: str
    specs: dict[str, InstanceSpec]
    on_demand: dict[str, float]
    spot: dict[str, dict[str, float]]
    on_demand_source: str
    on_demand_as_of: str
    spot_source: str
    spot_as_of: str
    advice: dict[str, Advice] = field(default_factory=dict)
    spot_as_of_not_before: bool = False
    sagemaker: dict[str, float] = field(default_factory=dict)  # type -> training USD/hour
    advisor: AdvisorStamp | None = None  # where the interruption bands came from

    def offers(self) -> list[Offer]:
        return [
            Offer(
                spec=spec,
                chip=chip_for(spec),
                region=self.region,
                on_demand_usd_hour=self.on_demand.get(itype),
                price_source=self.on_demand_source,
                price_as_of=self.on_demand_as_of,
                spot_by_az=self.spot.get(itype, {}),
                spot_source=self.spot_source,
                spot_as_of=self.spot_as_of,
                spot_as_of_not_before=self.spot_as_of_not_before,
                advice=self.advice.get(itype, UNKNOWN),
                sagemaker_training_usd_hour=self.sagemaker.get(itype),
                advisor=self.advisor,
            )
            for itype, spec in sorted(self.specs.items())
        ]


class Catalog:
    """Loads region prices from live AWS, the cache, or the snapshot, in that order."""

    def __init__(
        self,
        *,
        cache: PriceCache,
        aws: Aws | None = None,  # None means offline
        snapshot: Snapshot | None = None,
        warn: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        profile: str | None = None,  # the profile of an offline run (a live one has aws's)
    ) -> None:
        self.cache = cache
        self.aws = aws
        # Offline runs read the entries a live run with the same profile and
        # endpoints wrote, and no others.
        self.scope = cache_scope(aws.profile if aws is not None else profile)
        self._snapshot = snapshot
        self.clock = clock
        self._warn = warn or (lambda _msg: None)
        self._warned: set[str] = set()
        self._offline_reason: str | None = None if aws is not None else "offline"
        self._failed_regions: set[str] = set()  # live reads failed here: cache or snapshot
        self._advisor = AdvisorSource(cache, self.warn)

    @property
    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            self._snapshot = bundled()
        return self._snapshot

    @property
    def live(self) -> bool:
        return self.aws is not None and self._offline_reason is None

    def _live_aws(self) -> Aws:
        """The AWS access; fetches are made only while the catalog is live."""
        assert self.aws is not None
        return self.aws

    def warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self._warn(message)

    # -- one kind of data, from the best source that answers ------------------

    def _get(
        self, kind: str, region: str, refresh: bool, fetch: Callable[[], P]
    ) -> tuple[P, str, str] | None:
        """(payload, source, as_of) from live or cache; None means use the snapshot."""
        if not refresh:
            hit = self._cached(kind, region, allow_stale=not self.live)
            if hit is not None and (hit.fresh or not self.live):
                return hit.payload, "cache", iso(hit.fetched_at)
        if self.live and region not in self._failed_regions:
            try:
                payload = fetch()
            except AwsError as exc:
                err = exc.doing(f"reading {KIND_LABELS.get(kind, kind)}", region)
                if err.account_wide:
                    # The same failure would repeat for every region and kind.
                    self._offline_reason = str(err)
                    self.warn(f"showing cached or bundled prices: {err}")
                else:
                    # One failure per region is enough to say; the other kinds would
                    # most likely fail the same way, each after its own retries.
                    self._failed_regions.add(region)
                    self.warn(f"showing cached or bundled prices for {region}: {err}")
            else:
                stamp = self.cache.put(kind, region, payload, scope=self.scope)
                return payload, "live", iso(stamp)
        hit = self._cached(kind, region, allow_stale=True)
        if hit is not None:
            return hit.payload, "cache", iso(hit.fetched_at)
        return None

    def _cached(self, kind: str, key: str, *, allow_stale: bool) -> Cached | None:
        """A cached payload of the shape its kind must have (else dropped, as absent)."""
        return self.cache.get(
            kind, key, allow_stale=allow_stale, valid=PAYLOAD_SHAPES[kind], scope=self.scope
        )

    def region(self, region: str, *, refresh: bool = False) -> RegionPrices:
        """Specs and prices for one region."""
        snap = self.snapshot
        snap_region = snap.regions.get(region)

        def fetch_specs() -> dict[str, dict[str, Any]]:
            return {
                k: v.to_json()
                for k, v in specs_api.fetch_specs(self._live_aws().ec2(region)).items()
            }

        got = self._get("specs", region, refresh, fetch_specs)
        if got is not None:
            specs = {k: InstanceSpec.from_json(v) for k, v in got[0].items()}
        elif snap_region is not None:
            specs = {t: snap.specs[t] for t in snap_region.instance_types if t in snap.specs}
        else:
            specs = {}
        types = sorted(specs)

        def fetch_on_demand() -> dict[str, float]:
            prices = ondemand.fetch_on_demand(self._live_aws().pricing(), region, types)
            return {t: p.usd_hour for t, p in prices.items()}

        def fetch_spot() -> dict[str, dict[str, float]]:
            answer = spot_api.fetch_spot(self._live_aws().ec2(region), types)
            return {t: q.by_az for t, q in answer.items()}

        od = self._get("ondemand", region, refresh, fetch_on_demand) if types else None
        spot = self._get("spot", region, refresh, fetch_spot) if types else None

        def fetch_sagemaker() -> dict[str, float]:
            return fetch_training(self._live_aws().pricing(), region, types)

        sm = self._get("sagemaker", region, refresh, fetch_sagemaker) if types else None
        snap_as_of = snap_region.on_demand_as_of if snap_region else snap.as_of
        advisor = self._advisor.get(online=self.live, refresh=refresh)
        return RegionPrices(
            region=region,
            specs=specs,
            on_demand=od[0] if od else (snap_region.on_demand if snap_region else {}),
            spot=spot[0] if spot else (snap_region.spot if snap_region else {}),
            on_demand_source=od[1] if od else "snapshot",
            on_demand_as_of=od[2] if od else snap_as_of,
            spot_source=spot[1] if spot else "snapshot",
            spot_as_of=spot[2] if spot else (snap_region.spot_as_of if snap_region else snap.as_of),
            spot_as_of_not_before=not spot
            and bool(snap_region and snap_region.spot_as_of_not_before),
            sagemaker=sm[0] if sm else {},  # not in the snapshot: no published source
            advice=advisor.by_region.get(region, {}),
            advisor=advisor.stamp,
        )

    def regions(self, *, refresh: bool = False) -> list[str]:
        """Every region worth showing: the account's enabled ones, or the snapshot's."""

        def fetch() -> list[str]:
            aws = self._live_aws()
            return enabled_regions(aws.ec2(aws.default_region()))

        got = self._get("regions", "all", refresh, fetch)
        if got is not None:
            return list(got[0])
        return sorted(self.snapshot.regions)

    def offers(self, region: str, *, refresh: bool = False) -> list[Offer]:
        self.check_region(region)
        return self.region(region, refresh=refresh).offers()

    def all_offers(self, *, refresh: bool = False, workers: int = 8) -> list[Offer]:
        """Offers in every region, fetched in parallel."""
        names = self.regions(refresh=refresh)
        per_region = map_regions(lambda r: self.region(r, refresh=refresh), names, workers=workers)
        return [offer for prices in per_region for offer in prices.offers()]

    def check_region(self, region: str) -> None:
        check_region(region, frozenset(self.snapshot.regions))
