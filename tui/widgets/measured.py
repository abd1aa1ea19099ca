"""The detail pane's measured lines: datasheet vs measured TFLOPs, and their ratio."""

from __future__ import annotations

from rich.text import Text

from dlpick.core.errors import DataError
from dlpick.pricing.catalog import Offer
from dlpick.pricing.measurements import Measurement, kept
from dlpick.tui.formats import fmt_num


def kept_or_problem() -> tuple[dict[str, Measurement], str]:
    """The user's measurements, or none and why: the app goes on with datasheet figures."""
    try:
        return kept(), ""
    except DataError as exc:
        return {}, str(exc)


def measured_lines(offer: Offer, measurement: Measurement | None, problem: str = "") -> Text:
    """'measured FP32 25.0 TF of 35.0 datasheet (71%) · …' and when, how and where."""
    if problem:
        return Text(f"measured: unknown ({problem})", style="red")
    if measurement is None:
        return Text("measured: not yet (B on a running instance, or dlpick bench)", style="dim")
    text = Text("measured: ")
    parts = []
    for label, datasheet, value in (
        ("FP32", offer.fp32_tflops, measurement.fp32_tflops),
        ("BF16", offer.bf16_tflops, measurement.bf16_tflops),
    ):
        if value is None:
            continue
        part = f"{label} {fmt_num(value)} TF"
        if datasheet:
            part += f" of {fmt_num(datasheet)} datasheet ({value / datasheet:.0%})"
        parts.append(part)
    text.append(" · ".join(parts) or "no figure", style="bold")
    day = measurement.measured_at[:10]
    driver = f", driver {measurement.driver}" if measurement.driver else ""
    text.append(f"\n{day}, {measurement.backend}{driver}, on {measurement.source}", style="dim")
    return text
