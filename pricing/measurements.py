"""Measured TFLOPs: `dlpick bench` results, kept in one CSV and used for $/TF-h.

One schema (MEASUREMENT_FIELDS) for the user's store in the data dir, for
`dlpick bench --export FILE` and for `dlpick prices --measurements FILE`, so a team
can pool files. Only a figure measured on the type's own accelerator (backend
torch-cuda) counts as that type's TFLOPs; CPU figures are kept and shown, never used.
Of several measurements of one type, the newest counts.
"""

from __future__ import annotations

import csv
import fcntl
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from dlpick.core import locations
from dlpick.core.errors import DataError
from dlpick.core.files import write_file

ACCELERATOR_BACKENDS = frozenset({"torch-cuda"})
BACKENDS = ("torch-cuda", "torch-cpu", "numpy-cpu")
METRICS = ("fp32", "bf16")


@dataclass(frozen=True)
class Measurement:
    """One benchmark of one host: what ran where, and the TFLOPs it achieved (totals)."""

    instance_type: str  # "" when the host's type is not known
    region: str
    chip: str
    gpu_count: int
    backend: str  # torch-cuda, torch-cpu or numpy-cpu
    device: str
    measured_at: str  # UTC, ISO 8601 ('2026-12-02T09:30:00Z')
    driver: str
    fp32_tflops: float | None
    bf16_tflops: float | None
    fp16_tflops: float | None
    min_gpu_fp32_tflops: float | None  # the slowest device measured alone
    sm_clock_mhz: float | None
    power_limit_w: float | None
    dlpick_version: str
    source: str  # the host it was measured on, as the user named it

    @property
    def counts_for_type(self) -> bool:
        """Whether this figure may stand for its instance type's TFLOPs."""
        return bool(self.instance_type) and self.backend in ACCELERATOR_BACKENDS

    @property
    def unused_because(self) -> str:
        """Why this figure does not price its type ('' when it does)."""
        if self.backend not in ACCELERATOR_BACKENDS:
            return "a CPU figure: kept and exported, never used as a GPU type's TFLOPs"
        if not self.instance_type:
            return "no instance type known (dlpick bench --instance-type): not used for prices"
        return ""

    def tflops(self, metric: str) -> float | None:
        value: float | None = getattr(self, f"{metric}_tflops")
        return value

    def to_record(self) -> dict[str, Any]:
        return asdict(self)


MEASUREMENT_FIELDS = tuple(f.name for f in fields(Measurement))
NUMBERS = frozenset(
    {
        "fp32_tflops",
        "bf16_tflops",
        "fp16_tflops",
        "min_gpu_fp32_tflops",
        "sm_clock_mhz",
        "power_limit_w",
    }
)


def store_file() -> Path:
    return locations.measurements_file()


def _number(text: str, column: str, where: str) -> float | None:
    if text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: {column} is {text!r}, not a number") from None
    if not math.isfinite(value) or value < 0:
        raise DataError(f"{where}: {column} is {text!r}, not a finite positive number")
    return value


def parse(text: str, name: str) -> list[Measurement]:
    """Measurements from CSV text; a file that is not one is a DataError naming the line."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [f for f in MEASUREMENT_FIELDS if f not in (reader.fieldnames or [])]
    if missing:
        raise DataError(
            f"{name} is not a dlpick measurements file: no column {', '.join(missing[:3])}"
            + (" ..." if len(missing) > 3 else ""),
            hint="write one with: dlpick bench --export FILE",
        )
    found = []
    for row in reader:
        where = f"{name} line {reader.line_num}"
        if None in row or any(row.get(f) is None for f in MEASUREMENT_FIELDS):
            raise DataError(f"{where}: the row does not have the header's columns")
        if row["backend"] not in BACKENDS:
            raise DataError(f"{where}: backend {row['backend']!r} is not one of {BACKENDS}")
        values: dict[str, Any] = {f: row[f] for f in MEASUREMENT_FIELDS}
        for column in MEASUREMENT_FIELDS:  # in the file's order: the first bad one is named
            if column in NUMBERS:
                values[column] = _number(row[column], column, where)
        try:
            values["gpu_count"] = int(row["gpu_count"] or 0)
        except ValueError:
            raise DataError(f"{where}: gpu_count is {row['gpu_count']!r}") from None
        found.append(Measurement(**values))
    return found


def read(path: Path) -> list[Measurement]:
    """A measurements CSV; an absent store is empty, an unreadable one a DataError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse(text, str(path))


def to_csv(measurements: Iterable[Measurement]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, MEASUREMENT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for m in measurements:
        writer.writerow({k: "" if v is None else v for k, v in m.to_record().items()})
    return out.getvalue()


def write(path: Path | str, measurements: Sequence[Measurement], option: str = "") -> str:
    """Write the whole file at once: a reader sees the old file or the new, never half.

    `path` may be one the user gave (`option` names the flag): '-' is stdout, a symlink
    is written through, a device is refused (core/files.py). Returns where it went.
    """
    return write_file(path, to_csv(measurements), option=option)


def append(measurement: Measurement, path: Path | None = None) -> Path:
    """Add one measurement to the user's store (or `path`); returns the file.

    Under a lock, so two benchmarks ending at once both keep their row.
    """
    path = path or store_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path.with_name(f".{path.name}.lock"), "w")
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        write(path, [*read(path), measurement])
    return path


def newest_by_type(measurements: Iterable[Measurement]) -> dict[str, Measurement]:
    """Per instance type, its newest measurement that counts (on its own accelerator)."""
    best: dict[str, Measurement] = {}
    for m in measurements:
        if not m.counts_for_type:
            continue
        kept = best.get(m.instance_type)
        if kept is None or m.measured_at > kept.measured_at:
            best[m.instance_type] = m
    return best


_kept: tuple[tuple[str, float, int], dict[str, Measurement]] | None = None


def kept() -> dict[str, Measurement]:
    """The user's store, newest per type; read again only when the file changed."""
    global _kept
    path = store_file()
    try:
        stat = path.stat()
        key = (str(path), stat.st_mtime, stat.st_size)
    except OSError:
        key = (str(path), 0.0, -1)
    if _kept is None or _kept[0] != key:
        _kept = (key, newest_by_type(read(path)))
    return _kept[1]


def load(extra: Sequence[Path] = ()) -> dict[str, Measurement]:
    """The user's store plus the files given, newest per type."""
    rows = read(store_file())
    for path in extra:
        if not path.is_file():
            raise DataError(f"no measurements file {path}")
        rows += read(path)
    return newest_by_type(rows)


def apply_measured(
    records: list[dict[str, Any]], measured: dict[str, Measurement]
) -> list[dict[str, Any]]:
    """Price records on measured TFLOPs where a type has them, datasheet ones otherwise.

    Each record gains `<metric>_measured` (True/False), its datasheet figure as
    `<metric>_datasheet_tflops`, and when measured `measured_at` and `measured_backend`.
    """
    shown = []
    for record in records:
        record = dict(record)
        m = measured.get(record["instance_type"])
        for metric in METRICS:
            record[f"{metric}_datasheet_tflops"] = record.get(f"{metric}_tflops")
            value = m.tflops(metric) if m is not None else None
            record[f"{metric}_measured"] = value is not None
            if value is None:
                continue
            record[f"{metric}_tflops"] = value
            record[f"{metric}_source_kind"] = "measured"
            for prefix, price in (
                ("", record.get("on_demand_usd_hour")),
                ("spot_", record.get("spot_usd_hour")),
            ):
                per = price / value if price is not None and value else None
                record[f"{prefix}usd_per_{metric}_tflop_hour"] = per
        if m is not None:
            record["measured_at"] = m.measured_at
            record["measured_backend"] = m.backend
        shown.append(record)
    return shown
