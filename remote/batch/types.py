"""Which GPU instance types a Batch compute environment may use, from dlpick's own ranking.

AWS Batch's GPU image (ECS_AL2023_NVIDIA) runs whole NVIDIA GPUs on x86_64 hosts and
does not support the p3 and g3 families; the rest are ranked by spot $ per FP32
TFLOP-hour, as `dlpick prices --spot` ranks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dlpick.core.errors import InputError
from dlpick.pricing.select import model_matches

if TYPE_CHECKING:
    from dlpick.pricing.catalog import Offer

# ECS_AL2023_NVIDIA "doesn't support p3 and g3 instance types" (Batch API reference).
UNSUPPORTED_FAMILIES = frozenset({"p3", "p3dn", "g3", "g3s"})
# Without --types or a price cap, the environment gets this many of the best-ranked types:
# enough choice for spot capacity, few enough to read in the plan.
DEFAULT_TYPE_COUNT = 4


@dataclass(frozen=True)
class TypeChoice:
    """One instance type a compute environment may start, with what it costs."""

    instance_type: str
    gpu_model: str
    gpus: int
    vcpus: int
    memory_gib: float
    spot_usd_hour: float | None
    on_demand_usd_hour: float | None
    fp32_tflops: float | None

    def per_tflop(self, spot: bool) -> float | None:
        price = self.spot_usd_hour if spot else self.on_demand_usd_hour
        if price is None or not self.fp32_tflops:
            return None
        return price / self.fp32_tflops

    def line(self) -> str:
        """'g6.xlarge 1x L4, spot $0.0115/TF-h, on-demand $0.0266/TF-h'."""

        def money(value: float | None) -> str:
            return "?" if value is None else f"${value:.4f}/TF-h"

        return (
            f"{self.instance_type} {self.gpus}x {self.gpu_model}, spot "
            f"{money(self.per_tflop(True))}, on-demand {money(self.per_tflop(False))}"
        )


def batch_capable(offer: Offer) -> bool:
    """Whether Batch's GPU image can run this type: whole NVIDIA GPUs on x86_64."""
    spec = offer.spec
    return (
        spec.accelerator_kind == "gpu"
        and spec.accelerator_vendor.upper() == "NVIDIA"
        and spec.accelerator_count >= 1
        and float(spec.accelerator_count).is_integer()
        and spec.arch == "x86_64"
        and spec.family not in UNSUPPORTED_FAMILIES
    )


def choice_of(offer: Offer) -> TypeChoice:
    spec = offer.spec
    return TypeChoice(
        instance_type=spec.instance_type,
        gpu_model=offer.gpu_model,
        gpus=int(spec.accelerator_count),
        vcpus=spec.vcpus,
        memory_gib=spec.memory_gib,
        spot_usd_hour=offer.spot_usd_hour,
        on_demand_usd_hour=offer.on_demand_usd_hour,
        fp32_tflops=offer.fp32_tflops,
    )


def pick_types(
    offers: Sequence[Offer],
    *,
    named: Sequence[str] = (),
    gpu: str | None = None,
    max_usd_per_tflop: float | None = None,
) -> list[TypeChoice]:
    """The named types, or the best spot $/TF-h types of a model under a cap."""
    by_type = {o.instance_type: o for o in offers}
    if named:
        chosen = []
        for name in named:
            offer = by_type.get(name)
            if offer is None:
                raise InputError(f"{name} is not a GPU instance type dlpick knows in this region")
            if not batch_capable(offer):
                raise InputError(
                    f"{name} cannot run Batch GPU jobs (needs whole NVIDIA GPUs on x86_64; "
                    "no p3 or g3)"
                )
            chosen.append(choice_of(offer))
        return chosen
    candidates = [choice_of(o) for o in offers if batch_capable(o)]
    if gpu:
        candidates = [c for c in candidates if model_matches(c.gpu_model, gpu)]
        if not candidates:
            raise InputError(f"no Batch-capable instance type with {gpu!r} GPUs in this region")
    ranked = sorted(
        (c for c in candidates if c.per_tflop(True) is not None),
        key=lambda c: (c.per_tflop(True), c.instance_type),
    )
    if max_usd_per_tflop is not None:
        ranked = [c for c in ranked if (c.per_tflop(True) or 0) <= max_usd_per_tflop]
        if not ranked:
            raise InputError(
                f"no type costs at most ${max_usd_per_tflop:g} per TFLOP-hour on spot",
                hint="raise --max-usd-per-tflop; `dlpick prices --spot` shows the ranking",
            )
        return ranked
    if not ranked:
        raise InputError("no Batch-capable GPU type with a spot price in this region")
    return ranked[:DEFAULT_TYPE_COUNT]
