"""Numbers, money, counts and dates as dlpick shows them, in the CLI and the app alike.

Plain strings only: no Textual, no terminal, so both interfaces format a figure one way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from dlpick.pricing.advisor import STALE_AFTER_DAYS, AdvisorStamp


def plural(count: int, noun: str, nouns: str = "") -> str:
    """'1 instance', '3 instances', '0 instances'; `nouns` for an irregular plural."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def fmt_count(count: float) -> str:
    """1 -> '1'; 0.125 -> '1/8' (a partitioned GPU)."""
    if count >= 1 and float(count).is_integer():
        return str(int(count))
    frac = Fraction(count).limit_denominator(64)
    return f"{frac.numerator}/{frac.denominator}"


def fmt_usd(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.2f}"
    if value >= 1:
        return f"{value:.3f}"
    return f"{value:.4f}"


def fmt_num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


# After a chip figure that is not straight from a vendor datasheet (derived, third-party
# or measured): ASCII, so it is one cell wide in every terminal font.
NOT_DATASHEET = "~"
MARKER_NOTE = f"{NOT_DATASHEET} TFLOPs not straight from a vendor datasheet (derived, third-party)"


# After an FP32 figure that is a matrix engine's rate (AWS's Neuron devices), not a vector one.
MATRIX = "^"
MATRIX_NOTE = (
    f"{MATRIX} FP32 of a matrix engine (Trainium, Inferentia2): matrix multiplies only, its vector "
    "FP32 is a tenth or less; unmarked FP32 is vector (CUDA cores)"
)


# In the measured view: after a figure that is the datasheet's, no type measurement known.
UNMEASURED = "*"
UNMEASURED_NOTE = f"{UNMEASURED} no measurement of this type: its datasheet TFLOPs (dlpick bench)"


def fmt_tflops(
    value: float | None,
    kind: str | None,
    digits: int = 1,
    measured: bool | None = None,
    engine: str | None = None,
) -> str:
    """'35.0 ' from a datasheet, '75~' otherwise, '47.5^' a matrix engine's FP32; the
    blank keeps decimals aligned.

    In the measured view (`measured` not None): '24.1 ' measured, '35.0*' not.
    """
    if value is None:
        return fmt_num(value, digits)
    if measured is not None:
        marks = "" if measured else UNMEASURED
    else:
        marks = "" if kind in (None, "datasheet") else NOT_DATASHEET
    if engine == "matrix" and not measured:
        marks += MATRIX
    return fmt_num(value, digits) + (marks or " ")


def has_marked(records: Sequence[dict[str, Any]], metric: str = "fp32") -> bool:
    """Whether any shown figure carries the not-from-a-datasheet marker."""
    return any(
        r.get(f"{metric}_tflops") is not None
        and f"{metric}_measured" not in r
        and r.get(f"{metric}_source_kind") not in (None, "datasheet")
        for r in records
    )


def has_matrix(records: Sequence[dict[str, Any]], metric: str = "fp32") -> bool:
    """Whether any shown figure is a matrix engine's FP32 (marked MATRIX)."""
    return any(
        r.get(f"{metric}_tflops") is not None
        and r.get(f"{metric}_engine") == "matrix"
        and not r.get(f"{metric}_measured")
        for r in records
    )


def has_unmeasured(records: Sequence[dict[str, Any]], metric: str = "fp32") -> bool:
    """Whether the measured view shows any datasheet figure (marked UNMEASURED)."""
    return any(r.get(f"{metric}_measured") is False for r in records)


def fmt_as_of(
    text: str, now: datetime | None = None, *, not_before: bool = False, not_after: bool = False
) -> str:
    """'2026-11-22T10:00:00Z' -> '2026-11-22 10:00 UTC (3 min ago)'.

    With `not_before` the date is only the earliest it can be: 'not before 2026-06-03
    (at most 182 days ago)'; with `not_after` only the latest: 'no later than 2025-06-28
    (at least 527 days ago)'.
    """
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    age = (now - when).total_seconds()
    if age < 0:
        ago = "just now"
    elif age < 3600:
        ago = f"{int(age // 60)} min ago"
    elif age < 2 * 86400:
        ago = f"{int(age // 3600)} h ago"
    else:
        ago = f"{int(age // 86400)} days ago"
    stamp = (
        when.strftime("%Y-%m-%d %H:%M UTC")
        if when.hour or when.minute
        else when.strftime("%Y-%m-%d")
    )
    if not_before:
        return f"not before {stamp} (at most {ago})"
    if not_after:
        return f"no later than {stamp} (at least {ago})"
    return f"{stamp} ({ago})"


def provenance(records: Sequence[dict[str, Any]], now: datetime | None = None) -> list[str]:
    """Lines saying where prices came from, e.g. 'on-demand: snapshot of 2026-09-10'."""
    lines = []
    for label, source_key, as_of_key, bound_key in (
        ("on-demand", "price_source", "price_as_of", ""),
        ("spot", "spot_price_source", "spot_price_as_of", "spot_price_as_of_not_before"),
    ):
        seen = sorted({(r[source_key], r[as_of_key]) for r in records if r.get(source_key)})
        if not seen:
            continue
        sources = sorted({s for s, _ in seen})
        newest = max(a for _, a in seen)
        oldest = min(a for _, a in seen)
        # The source may give only the earliest date these prices can be from.
        bound = bool(bound_key) and any(r.get(bound_key) for r in records)
        span = (
            fmt_as_of(newest, now, not_before=bound)
            if newest == oldest
            else f"{'not before ' if bound else ''}{oldest[:10]} to {newest[:10]}"
        )
        lines.append(f"{label} prices: {'/'.join(sources)}, {span}")
    return lines


def advisor_stamps(records: Sequence[dict[str, Any]]) -> list[AdvisorStamp]:
    """The distinct sources and dates of the interruption bands of `records`, oldest first."""
    stamps = {
        AdvisorStamp(
            r["spot_advisor_source"],
            r["spot_advisor_as_of"],
            bool(r.get("spot_advisor_as_of_not_after")),
        )
        for r in records
        if r.get("spot_advisor_source") and r.get("spot_advisor_as_of")
    }
    return sorted(stamps, key=lambda s: (s.as_of, s.source))


def advisor_when(records: Sequence[dict[str, Any]], now: datetime | None = None) -> str:
    """'snapshot, no later than 2025-06-28 (at least 527 days ago)': where the interruption
    bands of `records` came from and when, or '' when no band data was read."""
    now = now or datetime.now(UTC)
    return "; ".join(
        f"{s.source}, {fmt_as_of(s.as_of, now, not_after=s.not_after)}"
        for s in advisor_stamps(records)
    )


def advisor_line(records: Sequence[dict[str, Any]], now: datetime | None = None) -> str:
    """'spot interruption bands: Spot Instance Advisor, snapshot, no later than 2025-06-28
    (at least 527 days ago), older than 90 days: …', or '' when no band data was read."""
    when = advisor_when(records, now)
    if not when:
        return ""
    line = f"spot interruption bands: Spot Instance Advisor, {when}"
    if advisor_stale(records, now):
        line += f", older than {STALE_AFTER_DAYS} days: AWS may have changed them"
    return line


def advisor_stale(records: Sequence[dict[str, Any]], now: datetime | None = None) -> bool:
    """Whether any band shown comes from advisor data older than STALE_AFTER_DAYS."""
    now = now or datetime.now(UTC)
    return any(s.stale(now) for s in advisor_stamps(records))
