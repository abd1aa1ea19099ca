"""What the price table shows: its columns, their cells, and which columns fit.

Pure functions over `Offer.to_record()` dicts, so the layout rules are tested
without running the app.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from dlpick.pricing.retiring import MARK
from dlpick.tui.fit import Fit, cut, fit_widths
from dlpick.tui.formats import fmt_count, fmt_num, fmt_tflops, fmt_usd
from dlpick.tui.widgets.fit import TABLE

METRICS = ("fp32", "bf16")

BEST_STYLE = "bold green"
OTHER_BASIS_STYLE = "dim"
CHANGED_STYLE = "bold black on yellow"
RETIRING_STYLE = "yellow"
QUOTA_STYLES = {"fits": "green", "short": "bold red", "unknown": "dim"}
# The record field the quota column shows: vCPUs missing (0 when one more fits).
QUOTA_FIELD = "quota_short_vcpus"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    field: str  # record field the column shows and sorts on
    priority: int  # when the terminal is narrow, lower priorities go first
    numeric: bool = True
    cap: int = 0  # widest a text cell may be cut to when short of room (0: never cut)
    short: str = ""  # label when the terminal is narrow


def columns_for(metric: str, spot: bool, all_regions: bool, quota: bool = False) -> list[Column]:
    """Every column the view could show, in display order.

    `quota` adds the vCPU quota verdict, known only for one region with AWS access.
    """
    m = metric.upper()
    view, other = 90, 40
    cols = [Column("type", "Type", "instance_type", 100, numeric=False)]
    if all_regions:
        cols.append(Column("region", "Region", "region", 95, numeric=False))
    cols += [
        Column("accel", "Accel.", "gpu_model", 80, numeric=False, cap=12),
        Column("count", "#", "gpu_count", 58),
        Column("gpu_mem", "GPU GiB", "gpu_memory_gib", 55, short="GiB"),
        Column("vcpu", "vCPU", "vcpus", 30),
        Column("ram", "RAM GiB", "memory_gib", 20),
        Column("tflops", f"{m} TF", f"{metric}_tflops", 75),
        Column("od", "$/h", "on_demand_usd_hour", 85 if not spot else 60),
        Column("spot", "Spot $/h", "spot_usd_hour", 85 if spot else 60, short="Spot"),
        Column("od_tf", "$/TF·h", f"usd_per_{metric}_tflop_hour", view if not spot else other),
        Column(
            "spot_tf",
            "Spot $/TF·h",
            f"spot_usd_per_{metric}_tflop_hour",
            view if spot else other,
            short="Spot/TF",
        ),
    ]
    if spot:
        # Spot is only cheap if it survives: kept over GPU memory and the on-demand columns.
        cols.append(Column("band", "Interrupt.", "spot_interruption_band", 70, False, short="Int."))
    if quota:
        # Dropped before vCPU on a narrow terminal: the launch dialog repeats it.
        cols.append(Column("quota", "Quota", QUOTA_FIELD, 25, numeric=False))
    return cols


def quota_text(short_vcpus: int | None) -> tuple[str, str]:
    """('✓', 'fits'), ('short 48', 'short') or ('?', 'unknown') for one quota cell."""
    if short_vcpus is None:
        return "?", "unknown"
    if short_vcpus <= 0:
        return "✓", "fits"
    return f"short {short_vcpus}", "short"


def _plain(column: Column, record: dict[str, Any]) -> str:
    value = record.get(column.field)
    if column.key == "type" and record.get("retiring"):
        return f"{value} {MARK}"  # announced for retirement: the detail pane says when
    if column.key in ("type", "region"):
        return str(value)
    if column.key == "quota":
        return quota_text(value)[0]
    if column.key == "band":
        return str(value) if value else "—"
    if column.key == "accel":
        return str(value)
    if column.key == "count":
        return fmt_count(value or 0)
    if column.key == "vcpu":
        return fmt_num(value, 0)
    if column.key in ("gpu_mem", "ram"):
        return fmt_num(value, 0)
    if column.key == "tflops":
        metric = column.field.removesuffix("_tflops")
        return fmt_tflops(
            value,
            record.get(f"{metric}_source_kind"),
            measured=record.get(f"{metric}_measured"),
            engine=record.get(f"{metric}_engine"),
        )
    return fmt_usd(value)


def is_price_per_tflop(column: Column) -> bool:
    return column.key in ("od_tf", "spot_tf")


def best_values(records: Iterable[dict[str, Any]], columns: Sequence[Column]) -> dict[str, float]:
    """The lowest $/TFLOP-hour per column, the value worth pointing at."""
    records = list(records)
    best: dict[str, float] = {}
    for column in columns:
        if not is_price_per_tflop(column):
            continue
        values = [r[column.field] for r in records if r.get(column.field) is not None]
        if values:
            best[column.key] = min(values)
    return best


def cell(
    column: Column,
    record: dict[str, Any],
    *,
    spot: bool,
    best: dict[str, float],
    changed: bool = False,
    width: int = 0,
) -> Text:
    """One cell: numbers right-aligned, the best value bold green, the other basis dim.

    A descriptive text column is cut to `width` when the layout had to cap it.
    """
    plain = _plain(column, record)
    if column.cap and width:
        plain = cut(plain, width)
    text = Text(plain, justify="right" if column.numeric else "left")
    if changed:
        text.stylize(CHANGED_STYLE)
        return text
    value = record.get(column.field)
    if column.key == "quota":
        text.stylize(QUOTA_STYLES[quota_text(value)[1]])
        return text
    if column.key == "type" and record.get("retiring"):
        text.stylize(RETIRING_STYLE)
        return text
    if column.key in best and value is not None and value == best[column.key]:
        text.stylize(BEST_STYLE)
    elif column.key in (("od", "od_tf") if spot else ("spot", "spot_tf")):
        text.stylize(OTHER_BASIS_STYLE)
    return text


def sort_arrow(descending: bool) -> str:
    return "▼" if descending else "▲"


@dataclass(frozen=True)
class Shown:
    """A column as laid out: its label (with a sort arrow) and width."""

    column: Column
    label: str
    width: int


def fit_columns(
    columns: Sequence[Column],
    records: Sequence[dict[str, Any]],
    width: int,
    *,
    sort_key: str,
    descending: bool,
) -> list[Shown]:
    """The columns that fit `width` cells (the rule of `dlpick.tui.widgets.fit`).

    The sorted column is never dropped.
    """
    by_key = {c.key: c for c in columns}
    arrow = f" {sort_arrow(descending)}"

    def fit_of(c: Column) -> Fit:
        content = max((len(_plain(c, r)) for r in records), default=0)
        if c.key != sort_key:
            return Fit(c.key, c.label, content, c.priority, short=c.short, cap=c.cap)
        # The sort arrow is part of the label, in full and short.
        short = (c.short or c.label) + arrow
        return Fit(c.key, c.label + arrow, content, c.priority, short=short, cap=c.cap, keep=True)

    placed = fit_widths([fit_of(c) for c in columns], width, TABLE, least=2)
    return [Shown(by_key[p.key], p.label, p.width) for p in placed]
