"""The detail pane's spot history: the highlighted type's spot price per AZ over the last
days, one line of blocks per AZ on a fixed scale from $0 to the on-demand price, with
each AZ's time-weighted mean and current price beside it.

Why its own drawing: Textual's Sparkline scales every series to its own min..max, so
two AZs (or an AZ and on-demand) cannot be compared by height; a fixed 0-to-on-demand
scale makes a full block mean "as dear as on-demand" in every row.

Read in a thread worker once the cursor rests, never before the first frame; pandas
is imported there (pricing.spot_history.summarise), not when the app starts.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text
from textual import on
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Static

from dlpick.core.errors import AwsError
from dlpick.tui.formats import fmt_usd
from dlpick.tui.widgets.kept import Kept
from dlpick.tui.worker_errors import WorkerErrors

if TYPE_CHECKING:
    from dlpick.pricing.catalog import Offer
    from dlpick.pricing.spot_history import HistorySummary
    from dlpick.tui.account import AwsAccess

HISTORY_DAYS = 7
SETTLE_SECONDS = 0.4  # the cursor rests this long before AWS is asked
KEEP_SECONDS = 3600  # as long as the cache keeps a history
KEEP_AT_MOST = 128
BLOCKS = " ▁▂▃▄▅▆▇█"
LABEL = 11  # an AZ name and a blank, at the least


class HistoryArrived(Message):
    """The history of one type in one region, summarised (or why it could not be read)."""

    def __init__(
        self, instance_type: str, region: str, summary: HistorySummary | None, note: str = ""
    ) -> None:
        super().__init__()
        self.instance_type = instance_type
        self.region = region
        self.summary = summary
        self.note = note  # why there is no summary


def columns(values: tuple[float | None, ...], width: int) -> list[float | None]:
    """The hourly values in `width` spans or fewer, each span's highest (a spike shows)."""
    if not values or width <= 0:
        return []
    count = min(width, len(values))
    out: list[float | None] = []
    for i in range(count):
        span = [v for v in values[i * len(values) // count : (i + 1) * len(values) // count] if v]
        out.append(max(span) if span else None)
    return out


def bar(value: float | None, top: float, on_demand: float | None) -> Text:
    """One column: its height the price over `top`; green below half on-demand, red at or
    above it."""
    if value is None:
        return Text(" ")
    level = max(1, min(8, round(value / top * 8)))
    if on_demand is None:
        style = "cyan"
    elif value >= on_demand:
        style = "red"
    else:
        style = "green" if value < on_demand / 2 else "yellow"
    return Text(BLOCKS[level], style=style)


class HistoryChart:
    """Heading, then per AZ its label, its blocks and its figures, fitted to the width."""

    def __init__(self, summary: HistorySummary, days: int = HISTORY_DAYS) -> None:
        self.summary = summary
        self.days = days

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        summary = self.summary
        od = summary.on_demand_usd_hour
        highest = max((z.maximum for z in summary.zones), default=0.0)
        top = od or highest or 1.0
        scale = (
            f"$0 to on-demand ${fmt_usd(od)}/h"
            if od
            else f"$0 to ${fmt_usd(top)}/h, on-demand unknown"
        )
        cheapest = summary.cheapest
        head = Text(f"Spot price, last {self.days} days (scale {scale})", style="dim")
        if cheapest is not None:
            head.append(" · cheapest by mean: ", style="dim").append(cheapest.az, "bold green")
        head.no_wrap, head.overflow = True, "ellipsis"
        yield head
        # As wide as the longest AZ name ('ap-southeast-1a'), so no line runs past its end.
        label = max([LABEL - 1, *(len(z.az) for z in summary.zones)]) + 1
        for zone in summary.zones:
            figures = f" mean ${fmt_usd(zone.mean)} now ${fmt_usd(zone.current)}"
            if zone.below_half_share is not None:
                figures += f" <½OD {zone.below_half_share * 100:.0f}%"
            width = max(8, options.max_width - label - len(figures))
            style = "bold green" if zone is cheapest else ""
            line = Text(f"{zone.az:<{label - 1}} ", style=style, no_wrap=True, overflow="ellipsis")
            for value in columns(summary.hourly.get(zone.az, ()), width):
                line.append_text(bar(value, top, od))
            line.append(figures, style=style or "dim")
            yield line


class SpotHistoryLines(WorkerErrors, Static):
    """The chart of the highlighted type, or one line saying why there is none."""

    def __init__(self, account: AwsAccess | None, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.account = account
        self.offer: Offer | None = None
        self.summary: HistorySummary | None = None  # the one drawn, for the cost estimate
        self.note = ""  # what is drawn instead of a chart
        self._timer: Timer | None = None
        self._known: Kept[HistoryArrived] = Kept(KEEP_SECONDS, KEEP_AT_MOST)

    def show(self, offer: Offer | None) -> None:
        """Ask about `offer` once the cursor rests on it (answers are kept an hour)."""
        self.offer = offer
        self.summary = None
        account = self.account
        if offer is None:
            self._say("")
            return
        if account is None or account.offline or account.available is False:
            why = account.why_not if account is not None else "the app has no AWS access"
            self._say(f"spot history: not read — {why}")
            return
        known = self._known.get((offer.instance_type, offer.region))
        if known is not None:
            self._draw(known)
            return
        self._say(f"spot history, last {HISTORY_DAYS} days: asking AWS…")
        if self._timer is not None:
            self._timer.stop()
        if self._known.asking((offer.instance_type, offer.region)):
            return  # its answer is on the way, and is drawn when it comes
        self._timer = self.set_timer(SETTLE_SECONDS, partial(self._ask, offer))

    def _say(self, note: str) -> None:
        self.note = note
        self.update(Text(note, style="dim", no_wrap=True, overflow="ellipsis"))

    def _ask(self, offer: Offer) -> None:
        if offer is not self.offer:
            return
        self._known.asked((offer.instance_type, offer.region))
        self.run_worker(
            partial(self._read, offer),
            name=offer.instance_type,
            group="spot-history",
            description=f"reading the spot history of {offer.instance_type}",
            exclusive=True,
            thread=True,
            exit_on_error=False,
        )

    def _read(self, offer: Offer) -> None:
        """The worker: the history from the cache or AWS, summarised with pandas."""
        from dlpick.pricing.spot_history import summarise

        assert self.account is not None
        itype, region = offer.instance_type, offer.region
        try:
            history = self.account.spot_history(itype, region, HISTORY_DAYS)
        except AwsError as exc:
            self.post_message(HistoryArrived(itype, region, None, f"not read — {exc.reason}"))
            return
        if not history.changes:
            note = f"no Linux spot price for {itype} in {region} in the last {HISTORY_DAYS} days"
            self.post_message(HistoryArrived(itype, region, None, note))
            return
        source = f"{offer.price_source}, {offer.price_as_of}"
        summary = summarise(history, offer.on_demand_usd_hour, source)
        self.post_message(HistoryArrived(itype, region, summary))

    @on(HistoryArrived)
    def _arrived(self, message: HistoryArrived) -> None:
        # A failure is kept as no answer: asked again next time.
        kept = message if message.summary is not None else None
        self._known.put((message.instance_type, message.region), kept)
        offer = self.offer
        if offer and (offer.instance_type, offer.region) == (message.instance_type, message.region):
            self._draw(message)
        else:
            message.stop()  # not the type shown: the pane's estimate has nothing to redo

    def _draw(self, message: HistoryArrived) -> None:
        self.summary = message.summary
        if message.summary is None:
            self._say(f"spot history: {message.note}")
        else:
            self.note = ""
            self.update(HistoryChart(message.summary))
