"""The spot history chart: each AZ's spot price and the on-demand price as lines on one
$/h scale over dated days (UTC), and a legend with each AZ's figures.

The plot is textual-plotext's widget (plotext underneath), drawn in braille dots: four
steps of height a row, so AZs a few cents apart stay apart. Every line shares the one
$/h axis, which spans the prices and on-demand with round marks on whole rows; a price
is a step, held until the next change. From 100 columns on, the legend stands beside
the plot, an AZ a line with its full name; narrower, the plot is lower and the legend
flows below it in columns, each AZ by the letter that ends its name.

textual-plotext and plotext take 25 to 55 ms to import: this module is imported by the
worker that reads the first history (tui/widgets/spot_chart.py), never at start.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from rich.columns import Columns
from rich.console import RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import Static
from textual_plotext import Plot, PlotextPlot

from dlpick.tui.formats import fmt_usd

if TYPE_CHECKING:
    from dlpick.pricing.spot_history import HistorySummary

WIDE = 100  # from this many columns on, the legend stands beside the plot
MIN_WIDTH, MIN_HEIGHT = 20, 5  # a plot smaller is not drawn
# One colour per AZ, apart from each other and from on-demand's red on the app's dark
# background; a region has at most six AZs.
AZ_COLOURS: tuple[tuple[int, int, int], ...] = (
    (64, 160, 255),  # blue
    (80, 200, 90),  # green
    (240, 190, 40),  # amber
    (200, 110, 240),  # violet
    (40, 200, 200),  # teal
    (240, 130, 60),  # orange
)
ON_DEMAND_COLOUR = (235, 60, 60)
LINE = "━━"  # the legend's sample of a line's colour
NICE_STEPS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0)
MARKER = "braille"  # thin lines, four steps of height per row


def colour_of(index: int) -> tuple[int, int, int]:
    return AZ_COLOURS[index % len(AZ_COLOURS)]


def rich_colour(rgb: tuple[int, int, int]) -> Style:
    return Style(color="#{:02x}{:02x}{:02x}".format(*rgb))


def short_az(az: str, region: str) -> str:
    """What tells the AZ apart in its region: 'us-east-1a' -> 'a'."""
    if not az.startswith(region):
        return az
    return az[len(region) :].lstrip("-") or az


def price_ticks(low: float, high: float, rows: int) -> list[float]:
    """Round $/h marks from at or below `low` to at or above `high` (never below $0),
    each on a row of a plot `rows` high: one every second row where the rows allow."""
    gaps = max(1, rows - 1)  # the plot spreads its range over the rows' centres
    every = next((k for k in range(2, gaps + 1) if gaps % k == 0), gaps)
    count = gaps // every  # intervals between marks
    # A flat price (or one AZ's few cents) still gets a fifth of its height around it.
    short = max(0.0, max(high * 0.2, 0.0001) - (high - low)) / 2
    low, high = max(0.0, low - short), high + short
    power = 10 ** math.floor(math.log10((high - low) / count))
    for nice in NICE_STEPS:
        step = nice * power
        first = math.floor(low / step + 1e-9)
        if (first + count) * step >= high - 1e-9:
            break
    return [round((first + i) * step, 10) for i in range(count + 1)]


def fmt_tick(value: float, ticks: list[float]) -> str:
    """'$0.25', '$0.40', '$30': cents below $10, and as many more decimals as the step
    needs."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    digits = 2 if ticks[-1] < 10 else 0
    while digits < 4 and abs(step * 10**digits - round(step * 10**digits)) > 1e-9:
        digits += 1
    return f"${value:,.{digits}f}"


def day_ticks(start: datetime, end: datetime, columns: int) -> list[tuple[float, str]]:
    """(hours from `start`, 'Aug 26') at each midnight (UTC) of the window, every day
    or every few days, so that the labels do not touch on `columns` columns."""
    hours = (end - start).total_seconds() / 3600
    label = len("Aug 26") + 2
    midnight = (start + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if midnight - timedelta(days=1) == start:
        midnight = start
    every = max(1, math.ceil(label * hours / 24 / max(1, columns)))
    out = []
    when = midnight
    while when <= end:
        out.append(((when - start).total_seconds() / 3600, when.strftime("%b %d")))
        when += timedelta(days=every)
    return out


def steps_xy(
    steps: tuple[tuple[datetime, float], ...], start: datetime, end: datetime
) -> tuple[list[float], list[float]]:
    """The points of a step line: each price flat until the next, then straight up or
    down; x in hours from `start`, the last price held to `end`."""
    xs: list[float] = []
    ys: list[float] = []
    for at, usd in steps:
        x = (at - start).total_seconds() / 3600
        if ys:
            xs.append(x)
            ys.append(ys[-1])
        xs.append(x)
        ys.append(usd)
    if ys:
        xs.append((end - start).total_seconds() / 3600)
        ys.append(ys[-1])
    return xs, ys


def draw(plot: Plot, summary: HistorySummary, width: int, height: int) -> None:
    """Set `plot` up for `summary` at `width` x `height` cells: one line per AZ (the
    cheapest drawn last, over the others), on-demand across, one shared $/h axis."""
    start, end = summary.history.start.astimezone(UTC), summary.history.end.astimezone(UTC)
    od = summary.on_demand_usd_hour
    plot.clear_figure()
    prices = [usd for s in summary.steps.values() for _, usd in s] + ([od] if od else [])
    # The rows of lines: the axis and the dates below take two.
    ticks = price_ticks(min(prices, default=0.0), max(prices, default=1.0), height - 2)
    labels = [fmt_tick(t, ticks) for t in ticks]
    left = max(len(s) for s in labels) + 1
    plot.yticks(ticks, labels)
    plot.ylim(ticks[0], ticks[-1])
    xs_end = (end - start).total_seconds() / 3600
    plot.xlim(0, xs_end)
    dates = day_ticks(start, end, width - left)
    plot.xticks([x for x, _ in dates], [s for _, s in dates])
    plot.frame(False)
    plot.xaxes(True, False)
    plot.yaxes(True, False)
    if od:  # as fine as the AZs' lines: a whole row's rule could be a mark off
        plot.plot([0, xs_end], [od, od], marker=MARKER, color=ON_DEMAND_COLOUR)
    # The dearest first, the cheapest last: where lines cross, the cheaper one shows.
    for index, zone in sorted(enumerate(summary.zones), key=lambda item: -item[1].mean):
        xs, ys = steps_xy(summary.steps.get(zone.az, ()), start, end)
        if xs:
            plot.plot(xs, ys, marker=MARKER, color=colour_of(index))


class HistoryPlot(PlotextPlot):
    """The plot, drawn again for its size each time it renders."""

    def __init__(self, summary: HistorySummary, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.summary = summary
        self.theme = "textual-clear"  # the pane's own background and text colour

    def render(self) -> RenderResult:
        width, height = self.size
        if width < MIN_WIDTH or height < MIN_HEIGHT:
            return Text("")  # not laid out yet
        draw(self.plt, self.summary, width, height)
        return super().render()


def zone_figures(summary: HistorySummary, az: str, compact: bool) -> str:
    zone = summary.zone(az)
    if zone is None:
        return ""
    usd = "" if compact else "$"
    out = f"mean {usd}{fmt_usd(zone.mean)} now {usd}{fmt_usd(zone.current)}"
    if zone.below_half_share is not None:
        out += f" <½OD {zone.below_half_share * 100:.0f}%"
    return out


def legend(summary: HistorySummary, compact: bool) -> RenderableType:
    """Each AZ's sample of line, name and figures, then on-demand's; beside the plot a
    line each, or (compact) flowing in columns with short names."""
    region = summary.history.region
    cheapest = summary.cheapest
    od = summary.on_demand_usd_hour
    od_text = f"${fmt_usd(od)}/h" if od else "unknown"
    if compact:
        entries = []
        for index, zone in enumerate(summary.zones):
            entry = Text().append(LINE[0], style=rich_colour(colour_of(index)))
            bold = "bold" if zone is cheapest else ""
            entry.append(f" {short_az(zone.az, region)} ", style=bold)
            entry.append(zone_figures(summary, zone.az, True), style=bold or "dim")
            entries.append(entry)
        od_entry = Text().append(LINE[0], style=rich_colour(ON_DEMAND_COLOUR))
        od_entry.append(f" on-demand {fmt_usd(od) if od else 'unknown'}")
        entries.append(od_entry)
        return Columns(entries, padding=(0, 1), column_first=False)
    grid = Table.grid(padding=(0, 1))
    grid.add_column()
    grid.add_column()
    grid.add_column()
    for index, zone in enumerate(summary.zones):
        style = "bold" if zone is cheapest else ""
        grid.add_row(
            Text(LINE, style=rich_colour(colour_of(index))),
            Text(zone.az, style=style),
            Text(zone_figures(summary, zone.az, False), style=style or "dim"),
        )
    grid.add_row(Text(LINE, style=rich_colour(ON_DEMAND_COLOUR)), Text("on-demand"), od_text)
    return grid


def heading(summary: HistorySummary, compact: bool) -> Text:
    """'Spot price per AZ in $/h, last 7 days (dates UTC) · cheapest by mean: us-east-1b'."""
    region = summary.history.region
    days = f"{summary.history.days:g}"
    head = Text(
        f"Spot $/h per AZ of {region}, last {days} days (UTC)"
        if compact
        else f"Spot price per AZ in $/h, last {days} days (dates UTC)",
        style="dim",
    )
    cheapest = summary.cheapest
    if cheapest is not None:
        name = short_az(cheapest.az, region) if compact else cheapest.az
        head.append(" · cheapest by mean: ", style="dim").append(name, "bold")
    head.no_wrap, head.overflow = True, "ellipsis"
    return head


class HistoryChart(Vertical):
    """The heading, the plot and its legend; compact under WIDE columns."""

    # The plot: 9 rows of lines (a $/h mark every second row), the axis and the dates;
    # compact, 7 rows of lines (a mark every second row still).
    DEFAULT_CSS = """
    HistoryChart, HistoryChart #history-body {
        height: auto;
    }
    HistoryChart HistoryPlot {
        width: 1fr;
        height: 11;
    }
    HistoryChart #history-legend {
        width: auto;
        height: auto;
        padding-left: 1;
    }
    HistoryChart.-compact #history-body {
        layout: vertical;
    }
    HistoryChart.-compact HistoryPlot {
        height: 9;
    }
    HistoryChart.-compact #history-legend {
        width: 1fr;
        padding-left: 0;
    }
    """

    def __init__(self, summary: HistorySummary, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.summary = summary

    def compose(self) -> ComposeResult:
        yield Static(id="history-heading")
        with Horizontal(id="history-body"):
            yield HistoryPlot(self.summary, id="history-plot")
            yield Static(id="history-legend")

    @property
    def compact(self) -> bool:
        return self.has_class("-compact")

    def on_mount(self) -> None:
        self._lay_out()

    def on_resize(self, event: Resize) -> None:
        if (0 < event.size.width < WIDE) != self.compact:
            self._lay_out()

    def show(self, summary: HistorySummary) -> None:
        """Draw another history in the same chart."""
        self.summary = summary
        plot = self.query_one(HistoryPlot)
        plot.summary = summary
        plot.refresh()
        self._lay_out()

    def _lay_out(self) -> None:
        compact = 0 < self.size.width < WIDE
        self.set_class(compact, "-compact")
        # A chart removed as soon as it came (the cursor moved on) has no parts left.
        for part in self.query("#history-heading").results(Static):
            part.update(heading(self.summary, compact))
        for part in self.query("#history-legend").results(Static):
            part.update(legend(self.summary, compact))
