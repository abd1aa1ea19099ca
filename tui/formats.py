"""Numbers, money, counts and dates as dlpick shows them, in the CLI and the app alike.

Plain strings only: no Textual, no terminal, so both interfaces format a figure one way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any


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


# In the measured view: after a figure that is the datasheet's, no type measurement known.
UNMEASURED = "*"
UNMEASURED_NOTE = f"{UNMEASURED} no measurement of this type: its datasheet TFLOPs (dlpick bench)"


def fmt_tflops(
    value: float | None, kind: str | None, digits: int = 1, measured: bool | None = None
) -> str:
    """'35.0 ' from a datasheet, '75~' otherwise; the blank keeps decimals aligned.

    In the measured view (`measured` not None): '24.1 ' measured, '35.0*' not.
    """
    if value is None:
        return fmt_num(value, digits)
    if measured is not None:
        return fmt_num(value, digits) + (" " if measured else UNMEASURED)
    return fmt_num(value, digits) + (" " if kind in (None, "datasheet") else NOT_DATASHEET)


def has_marked(records: Sequence[dict[str, Any]], metric: str = "fp32") -> bool:
    """Whether any shown figure carries the not-from-a-datasheet marker."""
    return any(
        r.get(f"{metric}_tflops") is not None
        and f"{metric}_measured" not in r
        and r.get(f"{metric}_source_kind") not in (None, "datasheet")
        for r in records
    )


def has_unmeasured(records: Sequence[dict[str, Any]], metric: str = "fp32") -> bool:
    """Whether the measured view shows any datasheet figure (marked UNMEASURED)."""
    return any(r.get(f"{metric}_measured") is False for r in records)


def fmt_as_of(text: str, now: datetime | None = None, *, not_before: bool = False) -> str:
    """'2026-11-22T10:00:00Z' -> '2026-11-22 10:00 UTC (3 min ago)'.

    With `not_before` the date is only the earliest it can be: 'not before 2026-06-03
    (at most 182 days ago)'.
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
