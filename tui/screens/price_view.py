"""What the price table shows: the user's view, and the rows, title and sources
line drawn from it. Pure functions over `Offer` and `Offer.to_record()` dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.message import Message

from dlpick.core.regions import ALL_REGIONS
from dlpick.pricing.advisor import STALE_AFTER_DAYS
from dlpick.pricing.catalog import Offer
from dlpick.pricing.measurements import apply_measured
from dlpick.pricing.select import (
    DESCENDING,
    cheapest_per_type,
    filter_records,
    hidden_by_use,
    sort_records,
)
from dlpick.remote.launch.quotas import Headroom, verdict_for
from dlpick.tui.formats import UNMEASURED, advisor_stale, advisor_when, provenance
from dlpick.tui.screens.dialogs import Filters
from dlpick.tui.widgets.measured import kept_or_problem
from dlpick.tui.widgets.price_table import QUOTA_FIELD, Column, Shown, columns_for

# Switching between on-demand and spot keeps sorting by the same kind of figure.
OTHER_BASIS = {"od": "spot", "spot": "od", "od_tf": "spot_tf", "spot_tf": "od_tf"}


class QuotasArrived(Message):
    """A region's GPU quota classes and their usage, read once by the quota worker."""

    def __init__(self, region: str, headroom: Headroom) -> None:
        super().__init__()
        self.region = region
        self.headroom = headroom


@dataclass
class View:
    """What the user chose to look at."""

    region: str
    metric: str = "fp32"
    measured: bool = False  # TFLOPs measured by `dlpick bench` where a type has them
    spot: bool = False
    sort_key: str = "od_tf"  # a column key
    reverse: bool = False
    filters: Filters = field(default_factory=Filters)
    use: str = "training"  # accelerator use shown: training (the default) or all

    def toggle_use(self) -> None:
        self.use = "all" if self.use == "training" else "training"

    @property
    def all_regions(self) -> bool:
        return self.region == ALL_REGIONS

    def columns(self, quota: bool) -> list[Column]:
        """Every column this view could show; `quota` when the region's quotas are known."""
        return columns_for(self.metric, self.spot, self.all_regions, quota=quota)

    def sort_column(self, columns: list[Column]) -> Column:
        by_key = {c.key: c for c in columns}
        return by_key.get(self.sort_key) or by_key["od_tf"]

    def descending(self, columns: list[Column]) -> bool:
        return (self.sort_column(columns).field in DESCENDING) != self.reverse

    def sort_next(self, keys: list[str], current: str) -> None:
        """Sort by the column after `current` among the column keys shown."""
        at = keys.index(current) if current in keys else -1
        self.sort_key = keys[(at + 1) % len(keys)]
        self.reverse = False

    def sort_by(self, key: str, current: str) -> None:
        """A header clicked: sort by it, or the other way round when it is the sorted one."""
        if key == current:
            self.reverse = not self.reverse
        else:
            self.sort_key = key
            self.reverse = False

    def toggle_metric(self) -> None:
        """FP32 -> BF16 -> measured FP32 -> measured BF16 -> FP32."""
        if self.metric == "bf16":
            self.measured = not self.measured
        self.metric = "bf16" if self.metric == "fp32" else "fp32"

    @property
    def metric_label(self) -> str:
        return f"measured {self.metric.upper()}" if self.measured else self.metric.upper()

    def toggle_spot(self) -> None:
        self.spot = not self.spot
        self.sort_key = OTHER_BASIS.get(self.sort_key, self.sort_key)

    def move_to(self, region: str) -> None:
        self.region = region
        if self.sort_key == "region" and not self.all_regions:
            self.sort_key = "spot_tf" if self.spot else "od_tf"


def shown_offers(raw: list[Offer], view: View) -> list[Offer]:
    """One region's offers, or each type's cheapest region when viewing all regions."""
    return cheapest_per_type(raw, spot=view.spot) if view.all_regions else raw


def visible_records(
    offers: list[Offer], view: View, headroom: Headroom | None, columns: list[Column]
) -> list[dict[str, Any]]:
    """The records the table shows, with quota verdicts, filtered and sorted."""
    records = [o.to_record() for o in offers]
    if view.measured:
        records = apply_measured(records, kept_or_problem()[0])
    if headroom is not None:
        market = "spot" if view.spot else "on-demand"
        for record in records:
            check = verdict_for(record["instance_type"], record["vcpus"], market, headroom)
            record[QUOTA_FIELD] = check.short_by if check.verdict != "unknown" else None
    flt = view.filters
    records = filter_records(
        records,
        gpus=flt.gpus,
        min_gpu_memory=flt.min_gpu_memory,
        max_interruption=flt.max_interruption,
        use=view.use,
    )
    if flt.max_price is not None:
        price_key = "spot_usd_hour" if view.spot else "on_demand_usd_hour"
        records = [r for r in records if r[price_key] is not None and r[price_key] <= flt.max_price]
    return sort_records(records, view.sort_column(columns).field, view.reverse)


def title_text(view: View, shown: int, total: int, sort_label: str) -> Text:
    """'dlpick  us-east-1 · 10 types · on-demand · FP32 · by $/TF·h ▲ · filter: …'."""
    where = "all regions (cheapest per type)" if view.all_regions else view.region
    count = f"{shown} types" if shown == total else f"{shown} of {total} types"
    parts: list[tuple[str, str] | str] = [
        ("dlpick", "bold"),
        "  ",
        (where, "bold"),
        f" · {count} · {'spot' if view.spot else 'on-demand'} · {view.metric_label}",
        f" · by {sort_label}",
    ]
    if view.measured:
        parts.append(f" · {UNMEASURED} datasheet, not measured")
    if view.filters.active:
        parts += [" · ", (f"filter: {view.filters.describe()}", "bold")]
    return Text.assemble(*parts)


def sources_text(
    offers: list[Offer], now: datetime, offline_reason: str, use: str = "all", spot: bool = False
) -> str:
    """Where the prices shown came from and when: 'on-demand: live, … · spot: …'.

    In the spot view, where the table shows interruption bands, also theirs. Also how
    many inference-only types the `use` view hides, and the key that shows them.
    """
    records = [o.to_record() for o in offers]
    lines = [line.replace(" prices:", ":") for line in provenance(records, now)]
    if not any(line.startswith("spot:") for line in lines):
        lines.append("spot: none known")
    if spot and (when := advisor_when(records, now)):
        old = f", older than {STALE_AFTER_DAYS} days" if advisor_stale(records, now) else ""
        lines.append(f"bands: {when}{old}")
    hidden = hidden_by_use(records, use)
    if hidden:
        lines.append(f"{hidden} inference-only hidden (u shows)")
    if offline_reason:
        lines.append(offline_reason)
    return " · ".join(lines)


def sort_label(shown: list[Shown], column: Column) -> str:
    return next((s.label for s in shown if s.column.key == column.key), "")
