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
from typing import Literal

# How a figure was obtained: straight from a vendor datasheet or spec page; computed from
# vendor numbers (the formula is in the row's note); a third party's figure; or measured.
FigureKind = Literal["datasheet", "derived", "third-party", "measured"]
FIGURE_KINDS: tuple[FigureKind, ...] = ("datasheet", "derived", "third-party", "measured")
# Which engine an FP32 figure is the rate of: NVIDIA's (and AMD's) is the vector rate of its
# CUDA cores (shader cores); AWS's Neuron devices give the rate of their matrix (Tensor) engine,
# which only matrix multiplies reach: their vector FP32 is a tenth of it or less.
Engine = Literal["vector", "matrix"]
ENGINES: tuple[Engine, ...] = ("vector", "matrix")
# What the vendor positions a chip for; a chip positioned for both counts as training.
ChipUse = Literal["training", "inference"]
USES: tuple[ChipUse, ...] = ("training", "inference")


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
    fp32_kind: FigureKind | None = None  # None exactly when fp32_tflops is None
    bf16_kind: FigureKind | None = None
    use: ChipUse = "training"
    fp32_engine: Engine | None = None  # None exactly when fp32_tflops is None
    fp32_caveat: str = ""  # what to know before comparing the figure, if anything
    bf16_caveat: str = ""


def _number(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


def _kind(text: str, figure: float | None, chip: str) -> FigureKind | None:
    """A figure's kind; a figure without one (or a kind without a figure) is a data error."""
    text = text.strip()
    if figure is None and not text:
        return None
    for kind in FIGURE_KINDS:
        if text == kind and figure is not None:
            return kind
    raise ValueError(f"chips.csv: {chip}: figure {figure!r} with kind {text!r}")


def _engine(text: str, figure: float | None, chip: str) -> Engine | None:
    """An FP32 figure's engine; a figure without one (or an engine without a figure) is a
    data error, so no FP32 figure is compared without saying what it measures."""
    text = text.strip()
    if figure is None and not text:
        return None
    for engine in ENGINES:
        if text == engine and figure is not None:
            return engine
    raise ValueError(f"chips.csv: {chip}: FP32 figure {figure!r} with engine {text!r}")


def _use(text: str, chip: str) -> ChipUse:
    for use in USES:
        if text.strip() == use:
            return use
    raise ValueError(f"chips.csv: {chip}: unknown use {text!r}")


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split("|") if part.strip())


@cache
def load_chips() -> tuple[Chip, ...]:
    """The bundled chip table."""
    with resources.files("dlpick.pricing").joinpath("data/chips.csv").open(encoding="utf-8") as f:
        return tuple(_chip(row) for row in csv.DictReader(f))


def _chip(row: dict[str, str]) -> Chip:
    name = row["chip"]
    fp32, bf16 = _number(row["fp32_tflops"]), _number(row["bf16_dense_tflops"])
    return Chip(
        name=name,
        vendor=row["vendor"],
        ec2_names=_split(row["ec2_names"]),
        families=_split(row.get("families") or ""),
        fp32_tflops=fp32,
        bf16_tflops=bf16,
        memory_gib=_number(row["memory_gib"]),
        source=row["source"],
        fp32_kind=_kind(row["fp32_kind"], fp32, name),
        bf16_kind=_kind(row["bf16_kind"], bf16, name),
        use=_use(row["use"], name),
        fp32_engine=_engine(row["fp32_engine"], fp32, name),
        fp32_caveat=row["fp32_caveat"].strip(),
        bf16_caveat=row["bf16_caveat"].strip(),
    )
