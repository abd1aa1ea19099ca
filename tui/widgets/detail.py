"""The detail pane: one instance type's spot price per AZ, what it would cost,
SageMaker's training price for the same type, and (with AWS) its spot placement score,
cheapest Capacity Block and spot price history."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

from dlpick.core.errors import InputError
from dlpick.core.inputs import parse_number
from dlpick.pricing.advisor import STALE_AFTER_DAYS
from dlpick.pricing.catalog import Offer
from dlpick.pricing.sagemaker import premium_percent
from dlpick.remote.launch.limits import MAX_HOURS
from dlpick.tui.formats import MATRIX, fmt_as_of, fmt_count, fmt_num, fmt_usd
from dlpick.tui.widgets.capacity import CapacityLines
from dlpick.tui.widgets.spot_chart import HISTORY_DAYS, HistoryArrived, SpotHistoryLines

if TYPE_CHECKING:
    from dlpick.pricing.spot_history import HistorySummary
    from dlpick.tui.account import AwsAccess

DEFAULT_HOURS = 24.0
HOURS_PER_DAY = 24


def estimate(offer: Offer, hours: float) -> tuple[float | None, float | None]:
    """(on-demand, spot) cost of running `offer` for `hours`; None where no price is known."""
    od, spot = offer.on_demand_usd_hour, offer.spot_usd_hour
    return (None if od is None else od * hours, None if spot is None else spot * hours)


def history_mean(summary: HistorySummary | None) -> tuple[str, float] | None:
    """(the cheapest AZ by time-weighted mean, that mean) of a spot history, if read."""
    cheapest = summary.cheapest if summary is not None else None
    return None if cheapest is None else (cheapest.az, cheapest.mean)


def fmt_money(value: float | None) -> str:
    """'$1,234.56'; from a million on, '$1.23 million' (a total, not a ledger)."""
    if value is None:
        return "—"
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if abs(value) >= size:
            return f"${value / size:,.2f} {word}"
    return f"${value:,.2f}"


def parse_hours(text: str) -> float:
    """The estimator's hours: a number from 0 to a year (InputError says the range)."""
    return parse_number(text.strip(), "hours", minimum=0, maximum=MAX_HOURS)


def describe(offer: Offer) -> str:
    """'g6.xlarge · us-east-1 · 1× L4, 22 GiB · 4 vCPU · 16 GiB RAM'."""
    spec = offer.spec
    return (
        f"{offer.instance_type} · {offer.region} · {fmt_count(spec.accelerator_count)}× "
        f"{offer.gpu_model}, {fmt_num(spec.accelerator_memory_gib, 0)} GiB · "
        f"{spec.vcpus} vCPU · {fmt_num(spec.memory_gib, 0)} GiB RAM"
    )


def chip_lines(offer: Offer) -> Text:
    """Each chip figure per accelerator with its kind (and a matrix engine's FP32 marked),
    the chip's use, and the source."""
    chip = offer.chip
    if chip is None:
        return Text("no chip figures known", style="dim")
    parts = []
    for label, value, kind, engine in (
        ("FP32", chip.fp32_tflops, chip.fp32_kind, chip.fp32_engine),
        ("BF16", chip.bf16_tflops, chip.bf16_kind, None),
    ):
        if not kind:
            parts.append(f"{label} —")
            continue
        how = f"{kind}, matrix engine {MATRIX}" if engine == "matrix" else kind
        parts.append(f"{label} {fmt_num(value)} TF ({how})")
    text = Text(f"per {chip.name}: {', '.join(parts)} · {chip.use}", style="dim")
    text.append(f"\nsource: {chip.source or 'none published'}", style="dim")
    return text


def figure_notes(offer: Offer) -> Text:
    """What to know before comparing the figures: each chip figure's caveat, and how a
    slice of one accelerator (g6f: 1/8 of an L4) gets its TFLOPs. Empty when nothing."""
    chip = offer.chip
    if chip is None:
        return Text("")
    lines = [
        f"{label}: {caveat}"
        for label, value, caveat in (
            ("FP32", chip.fp32_tflops, chip.fp32_caveat),
            ("BF16", chip.bf16_tflops, chip.bf16_caveat),
        )
        if value is not None and caveat
    ]
    if offer.partial:
        figures = [
            f"{label} {fmt_num(value)} TF"
            for label, value in (("FP32", offer.fp32_tflops), ("BF16", offer.bf16_tflops))
            if value is not None
        ]
        if figures:
            count = fmt_count(offer.spec.accelerator_count)
            lines.append(
                f"{offer.instance_type}: {', '.join(figures)} (derived: {count} × {chip.name})"
            )
    return Text("\n".join(lines), style="dim")


def retiring_line(offer: Offer) -> Text:
    """'retiring 2025-12-20 (source: URL)' for a type AWS announced it will retire."""
    retiring = offer.retirement
    if retiring is None:
        return Text("")
    return Text(f"{retiring.label} (source: {retiring.source})", style="yellow")


def spot_table(offer: Offer) -> Table | Text:
    """Spot price per availability zone, cheapest first."""
    if not offer.spot_by_az:
        return Text("no spot price known", style="dim")
    table = Table.grid(padding=(0, 2))
    table.add_column("AZ")
    table.add_column("$/h", justify="right")
    ranked = sorted(offer.spot_by_az.items(), key=lambda item: (item[1], item[0]))
    for n, (az, usd) in enumerate(ranked):
        style = "bold green" if n == 0 else ""
        table.add_row(Text(az, style=style), Text(fmt_usd(usd), style=style))
    return table


def interruption_line(offer: Offer, now: datetime | None = None) -> Text:
    """'spot interruption: <5% a month, saves 70% (Spot Instance Advisor)', then where the
    bands came from and when, flagged when that is over STALE_AFTER_DAYS ago."""
    band, savings = offer.advice.band, offer.advice.savings_percent
    if band is None:
        text = Text.assemble(
            ("spot interruption: ", ""),
            ("unknown", "bold"),
            (" (not in the advisor's data)", "dim"),
        )
    else:
        saves = f", saves {savings}%" if savings is not None else ""
        text = Text.assemble(
            ("spot interruption: ", ""),
            (band, "bold"),
            (f" a month{saves}", ""),
            (" (Spot Instance Advisor)", "dim"),
        )
    stamp = offer.advisor
    if stamp is None:
        text.append("\nbands: none read", style="dim")
        return text
    now = now or datetime.now(UTC)
    when = fmt_as_of(stamp.as_of, now, not_after=stamp.not_after)
    text.append(f"\nbands: {stamp.source}, {when}", style="dim")
    if stamp.stale(now):
        text.append(f", older than {STALE_AFTER_DAYS} days", style="yellow")
    return text


def sagemaker_line(offer: Offer) -> Text:
    """'SageMaker training: $1.408/h, 40.0% more than EC2' (its premium for the same type)."""
    usd = offer.sagemaker_training_usd_hour
    if usd is None:
        return Text.assemble(
            ("SageMaker training: ", ""),
            ("unknown", "bold"),
            (" (not offered for training, or not fetched)", "dim"),
        )
    premium = premium_percent(usd, offer.on_demand_usd_hour)
    if premium is None:
        versus = ""
    else:
        versus = f", {abs(premium):.1f}% {'less' if premium < 0 else 'more'} than EC2"
    return Text.assemble(("SageMaker training: ", ""), (f"${fmt_usd(usd)}/h", "bold"), versus)


class DetailPane(Vertical):
    """Spot per AZ, interruption band and a cost estimator for the highlighted row."""

    def __init__(
        self,
        *,
        id: str | None = None,  # noqa: A002 (Textual's name)
        account: AwsAccess | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(id=id)
        self.offer: Offer | None = None
        self.account = account  # asked about capacity when the app has AWS
        self.clock = clock  # how old the interruption bands are, said against it

    def compose(self) -> ComposeResult:
        yield Static(id="detail-title")
        notes = Static(id="detail-notes")
        notes.display = False  # shown only when a figure needs a word before comparing it
        yield notes
        retiring = Static(id="detail-retiring")
        retiring.display = False  # shown only for a type announced for retirement
        yield retiring
        yield CapacityLines(self.account, id="detail-capacity")
        with Horizontal(id="detail-body"):
            with Vertical(id="detail-spot-box"):
                yield Label("Spot price per AZ", classes="detail-heading")
                yield Static(id="detail-spot")
            with Vertical(id="detail-cost-box"):
                with Horizontal(id="estimator"):
                    yield Label("Cost for", classes="detail-heading")
                    yield Input(
                        fmt_num(DEFAULT_HOURS, 0),
                        id="hours",
                        type="number",
                        tooltip="hours to estimate for",
                    )
                    yield Label("hours", classes="detail-heading")
                yield Static(id="detail-cost")
        yield SpotHistoryLines(self.account, id="detail-history")

    def _hours(self) -> tuple[float | None, str]:
        """(the hours typed, or None with why they cannot be used)."""
        try:
            return parse_hours(self.query_one("#hours", Input).value), ""
        except InputError as exc:
            return None, exc.message

    def show(self, offer: Offer | None) -> None:
        self.offer = offer
        title = self.query_one("#detail-title", Static)
        retiring = self.query_one("#detail-retiring", Static)
        notes = self.query_one("#detail-notes", Static)
        spot = self.query_one("#detail-spot", Static)
        notes_text = figure_notes(offer) if offer is not None else Text("")
        notes.update(notes_text)
        notes.display = bool(notes_text.plain)
        if offer is None:
            title.update("no instance type selected")
            retiring.update("")
            spot.update("")
        else:
            from dlpick.tui.widgets.measured import kept_or_problem, measured_lines

            found, problem = kept_or_problem()
            measured = measured_lines(offer, found.get(offer.instance_type), problem)
            title.update(Group(Text(describe(offer)), chip_lines(offer), measured))
            retiring.update(retiring_line(offer))
            spot.update(spot_table(offer))
        retiring.display = bool(offer and offer.retirement)
        self.query_one(CapacityLines).show(offer)
        self.query_one(SpotHistoryLines).show(offer)
        self._show_cost()

    @on(Input.Changed, "#hours")
    def _hours_changed(self) -> None:
        self._show_cost()

    @on(HistoryArrived)
    def _history_arrived(self) -> None:
        self._show_cost()

    def _show_cost(self) -> None:
        out = self.query_one("#detail-cost", Static)
        offer, (hours, why) = self.offer, self._hours()
        if offer is None:
            out.update("")
            return
        grid = Table.grid(padding=(0, 2))
        grid.add_column()
        grid.add_column(justify="right")
        grid.add_column(justify="right")
        grid.add_row("", Text("total", style="dim"), Text("per day", style="dim"))
        totals = estimate(offer, hours) if hours is not None else (None, None)
        per_day = estimate(offer, HOURS_PER_DAY)
        grid.add_row("on-demand", fmt_money(totals[0]), fmt_money(per_day[0]))
        now = f"spot now ({offer.spot_az})" if offer.spot_az else "spot now"
        grid.add_row(now, fmt_money(totals[1]), fmt_money(per_day[1]))
        history = self.query_one(SpotHistoryLines).summary
        mean = history_mean(history)
        if mean is not None:
            az, usd = mean
            total = None if hours is None else usd * hours
            grid.add_row(
                f"spot {HISTORY_DAYS}-day mean ({az})",
                fmt_money(total),
                fmt_money(usd * HOURS_PER_DAY),
            )
        lines: list[Table | Text] = [grid]
        if hours is None:
            lines.append(Text(why, style="red"))
        lines.append(interruption_line(offer, datetime.fromtimestamp(self.clock(), UTC)))
        lines.append(sagemaker_line(offer))
        out.update(Group(*lines))
