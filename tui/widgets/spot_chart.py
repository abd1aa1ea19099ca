"""The detail pane's spot history: the highlighted type's spot price per AZ over the last
days, asked about once the cursor rests on a row, and drawn as a chart (a line per AZ
and the on-demand price on one $/h scale, dates below, each AZ's time-weighted mean,
current price and share below half on-demand in the legend) or as one line saying why
there is none.

Read in a thread worker, never before the first frame; pandas (pricing.spot_history.
summarise) and the plotting library (tui/widgets/spot_plot.py) are imported there, not
when the app starts.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Static

from dlpick.core.errors import AwsError
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


class SpotHistoryLines(WorkerErrors, Vertical):
    """The chart of the highlighted type, or one line saying why there is none."""

    def __init__(self, account: AwsAccess | None, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.account = account
        self.offer: Offer | None = None
        self.summary: HistorySummary | None = None  # the one drawn, for the cost estimate
        self.note = ""  # what is drawn instead of a chart
        self._timer: Timer | None = None
        self._known: Kept[HistoryArrived] = Kept(KEEP_SECONDS, KEEP_AT_MOST)

    def compose(self) -> ComposeResult:
        yield Static(id="history-note")

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
        line = self.query_one("#history-note", Static)
        line.update(Text(note, style="dim", no_wrap=True, overflow="ellipsis"))
        line.display = True
        for chart in self.query("#history-chart"):
            chart.display = False

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
        """The worker: the history from the cache or AWS, summarised with pandas (and the
        plotting library loaded here, off the app's thread)."""
        import dlpick.tui.widgets.spot_plot  # noqa: F401
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
            return
        from dlpick.tui.widgets.spot_plot import HistoryChart

        self.note = ""
        self.query_one("#history-note", Static).display = False
        charts = self.query(HistoryChart)
        if charts:
            charts.first().show(message.summary)
            charts.first().display = True
        else:
            self.mount(HistoryChart(message.summary, id="history-chart"))
