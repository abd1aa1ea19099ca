"""Choosing offers: the sort orders and filters the CLI and the app share.

Records are the JSON records of `dlpick prices` (`Offer.to_record()`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from dlpick.core.errors import InputError
from dlpick.pricing.advisor import band_upper_percent
from dlpick.pricing.catalog import RECORD_FIELDS

if TYPE_CHECKING:
    from dlpick.pricing.catalog import Offer

# Friendly names for --sort, besides every field of the JSON record. `tflops`, `value` and
# `spot-value` follow the metric ranked by (FP32 unless asked for BF16).
SORT_ALIASES = {
    "type": "instance_type",
    "gpu": "gpu_model",
    "model": "gpu_model",
    "count": "gpu_count",
    "gpus": "gpu_count",
    "gpu-memory": "gpu_memory_gib",
    "memory": "memory_gib",
    "vcpu": "vcpus",
    "tflops": "{metric}_tflops",
    "fp32": "fp32_tflops",
    "bf16": "bf16_tflops",
    "price": "on_demand_usd_hour",
    "on-demand": "on_demand_usd_hour",
    "spot": "spot_usd_hour",
    "value": "usd_per_{metric}_tflop_hour",
    "spot-value": "spot_usd_per_{metric}_tflop_hour",
}
# The TFLOPs a table can rank by and show: FP32 (non-tensor) or BF16 (dense tensor).
METRICS = ("fp32", "bf16")
SORT_LABELS = {
    "usd_per_fp32_tflop_hour": "on-demand $ per FP32 TFLOP-hour",
    "spot_usd_per_fp32_tflop_hour": "spot $ per FP32 TFLOP-hour",
    "usd_per_bf16_tflop_hour": "on-demand $ per BF16 TFLOP-hour",
    "spot_usd_per_bf16_tflop_hour": "spot $ per BF16 TFLOP-hour",
    "on_demand_usd_hour": "on-demand $/hour",
    "spot_usd_hour": "spot $/hour",
    "fp32_tflops": "FP32 TFLOPs",
    "bf16_tflops": "BF16 TFLOPs",
}
# Bigger is better for these, so they sort from the top.
# --use: what the vendor positions a chip for; training chips are the default view.
USES = ("training", "inference", "all")
DESCENDING = {"gpu_count", "gpu_memory_gib", "vcpus", "memory_gib", "fp32_tflops", "bf16_tflops"}


def sort_key_for(field: str, metric: str = "fp32") -> str:
    """The record field a --sort name (alias or JSON field) stands for."""
    alias = SORT_ALIASES.get(field.lower())
    key = alias.format(metric=metric) if alias else field.lower().replace("-", "_")
    if key not in RECORD_FIELDS:
        raise InputError(
            f"unknown sort column {field!r}; use one of: {', '.join(sorted(SORT_ALIASES))} "
            "or a JSON field name"
        )
    return key


def sort_name(field: str) -> str:
    """A --sort name as typed, once it names a column: which one may depend on --metric,
    so `ranking` resolves it after the whole line is read."""
    sort_key_for(field)
    return field


def metric_of(field: str) -> str | None:
    """The metric a record field belongs to ('fp32', 'bf16'), or None (a price, a name)."""
    return next((m for m in METRICS if m in field.split("_")), None)


def ranking(sort: str | None, metric: str | None, *, spot: bool) -> tuple[str, str]:
    """(the field to sort on, the metric the table shows) for --sort and --metric.

    The table shows the metric it ranks by: sorting on a BF16 field shows BF16, and a
    --metric that contradicts the --sort field is refused.
    """
    if sort is None:
        shown = metric or "fp32"
        return f"{'spot_' if spot else ''}usd_per_{shown}_tflop_hour", shown
    key = sort_key_for(sort, metric or "fp32")
    of_key = metric_of(key)
    if metric is not None and of_key is not None and of_key != metric:
        raise InputError(
            f"--sort {sort} ranks by {of_key.upper()}, not by --metric {metric}",
            hint=f"drop --metric, or sort by a {metric.upper()} column "
            f"(e.g. --sort value with --metric {metric})",
        )
    return key, of_key or metric or "fp32"


def sort_records(
    records: list[dict[str, Any]], key: str, reverse: bool = False
) -> list[dict[str, Any]]:
    """Sort with unknown values (None) always last."""
    descending = (key in DESCENDING) != reverse
    known = [r for r in records if r.get(key) is not None]
    unknown = [r for r in records if r.get(key) is None]
    known.sort(
        key=lambda r: (r[key], r["instance_type"]) if not descending else r[key], reverse=descending
    )
    unknown.sort(key=lambda r: r["instance_type"])
    return known + unknown


def model_matches(model: str, wanted: str) -> bool:
    """'A100' matches 'A100 40GB' and 'A100 80GB'; 'L4' matches 'L4' but not 'L40S'."""
    model, wanted = model.casefold(), wanted.strip().casefold()
    return model == wanted or model.startswith(wanted + " ")


def filter_records(
    records: list[dict[str, Any]],
    *,
    gpus: Sequence[str] = (),
    min_gpu_memory: float | None = None,
    max_price: float | None = None,
    spot: bool = False,
    max_interruption: float | None = None,
    use: str = "all",
) -> list[dict[str, Any]]:
    """The records that pass every filter given; `max_interruption` is a percent per month,
    `use` keeps one accelerator use (or 'all')."""
    if use not in USES:
        raise InputError(f"unknown use {use!r}; use one of: {', '.join(USES)}")
    out = []
    for r in records:
        if use != "all" and r.get("accelerator_use") != use:
            continue
        if gpus and not any(model_matches(r["gpu_model"], g) for g in gpus):
            continue
        if min_gpu_memory is not None and r["gpu_memory_gib"] < min_gpu_memory:
            continue
        price = r["spot_usd_hour"] if spot else r["on_demand_usd_hour"]
        if spot and price is None:
            continue
        if max_price is not None and (price is None or price > max_price):
            continue
        if max_interruption is not None and not _band_within(
            r.get("spot_interruption_band"), max_interruption
        ):
            continue
        out.append(r)
    return out


def _band_within(band: str | None, max_percent: float) -> bool:
    """A band whose upper bound is at most `max_percent` ('5-10%' is within 10); unknown is not."""
    upper = band_upper_percent(band) if band else None
    return upper is not None and upper <= max_percent


def hidden_by_use(records: list[dict[str, Any]], use: str) -> int:
    """How many of `records` the `use` filter leaves out (the count the title line reports)."""
    return 0 if use == "all" else sum(1 for r in records if r.get("accelerator_use") != use)


def unknown_models(wanted: Sequence[str], models: Sequence[str]) -> None:
    """InputError for the first wanted accelerator model no known model matches."""
    unknown = [g for g in wanted if not any(model_matches(m, g) for m in models)]
    if unknown:
        raise InputError(
            f"unknown accelerator model {unknown[0]!r}", hint=f"known: {', '.join(models)}"
        )


def cheapest_per_type(offers: Iterable[Offer], *, spot: bool = False) -> list[Offer]:
    """For each instance type, the offer in the region where the price shown costs least.

    The price shown is the view's (on-demand, or spot with `spot`); a type with no such
    price in any region goes by its other price (spot where no region has an on-demand
    one), and only a type priced nowhere keeps the first region by name.
    """

    def rank(offer: Offer) -> tuple[int, float, str]:
        for order, price in enumerate((offer.usd_hour(spot), offer.usd_hour(not spot))):
            if price is not None:
                return order, price, offer.region
        return 2, 0.0, offer.region

    best: dict[str, Offer] = {}
    for offer in offers:
        known = best.get(offer.instance_type)
        if known is None or rank(offer) < rank(known):
            best[offer.instance_type] = offer
    return list(best.values())
