"""Chip speeds: FP32 and BF16 TFLOPs per accelerator, from a sourced data file.

No AWS API publishes these; `data/chips.csv` carries one row per chip with the
source of every figure. An empty cell means no published figure, and stays
empty here (None), never a guess.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from dlpick.pricing.specs import InstanceSpec


@dataclass(frozen=True)
class Chip:
    name: str
    vendor: str
    ec2_names: tuple[str, ...]
    families: tuple[str, ...]  # instance families this row is limited to; empty: any
    fp32_tflops: float | None
    bf16_tflops: float | None
    memory_gib: float | None
    source: str


def _number(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split("|") if part.strip())


@cache
def load_chips() -> tuple[Chip, ...]:
    """The bundled chip table."""
    with resources.files("dlpick.pricing").joinpath("data/chips.csv").open(encoding="utf-8") as f:
        return tuple(
            Chip(
                name=row["chip"],
                vendor=row["vendor"],
                ec2_names=_split(row["ec2_names"]),
                families=_split(row.get("families") or ""),
                fp32_tflops=_number(row["fp32_tflops"]),
                bf16_tflops=_number(row["bf16_dense_tflops"]),
                memory_gib=_number(row["memory_gib"]),
                source=row["source"],
            )
            for row in csv.DictReader(f)
        )


def chip_for(spec: InstanceSpec, chips: tuple[Chip, ...] | None = None) -> Chip | None:
    """The chip an instance type carries.

    A row limited to the type's family wins (it settles names EC2 shares between
    parts: V100 16/32 GB, A100 40/80 GB, B200 in HGX and in GB200). Otherwise the
    row with EC2's accelerator name, the one nearest in memory if several.
    """
    chips = load_chips() if chips is None else chips
    in_family = [c for c in chips if spec.family in c.families]
    name = spec.accelerator_name.casefold()
    named = [c for c in chips if name in (n.casefold() for n in c.ec2_names)]
    candidates = in_family or named
    if not candidates:
        return None
    # Memory per whole accelerator (a g6f slice scales back up to a full L4).
    per_device = spec.per_accelerator_memory_gib
    return min(candidates, key=lambda c: abs((c.memory_gib or 0) - per_device))
