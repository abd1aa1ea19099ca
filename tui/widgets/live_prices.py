"""The sources line: where the prices shown come from, and the live refresh behind it.

Live prices come from a thread worker; the next refresh is scheduled only when one
ended, so refreshes never overlap, and a spinner shows while one runs. The
worker's answers bubble up to the screen as typed messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.timer import Timer
from textual.widgets import LoadingIndicator, Static
from textual.worker import Worker, WorkerState, get_current_worker

from dlpick.core.errors import AwsError
from dlpick.core.regions import ALL_REGIONS
from dlpick.pricing.catalog import Offer
from dlpick.tui.worker_errors import WorkerErrors


class PriceSource(Protocol):
    """Where live offers come from (a Catalog with AWS access, or a stand-in)."""

    @property
    def live(self) -> bool: ...

    def offers(self, region: str, *, refresh: bool = False) -> list[Offer]: ...

    def all_offers(self, *, refresh: bool = False) -> list[Offer]: ...


# Called in the refresh worker with a warning sink; raises the AwsError saying why
# AWS cannot be used (Aws.credentials_problem) when it cannot.
LiveFactory = Callable[[Callable[[str], None]], PriceSource]


class PricesArrived(Message):
    """Live (or freshly cached) offers for a region, from the refresh worker."""

    def __init__(self, region: str, offers: list[Offer]) -> None:
        super().__init__()
        self.region = region
        self.offers = offers


class LiveUnavailable(Message):
    """The worker found AWS unusable (no credentials, a missing profile): browsing goes
    on with offline prices: `problem` is AWS's reason as its own tools word it (for the
    sources line), `reason` the notification, with what to do about it."""

    def __init__(self, problem: AwsError) -> None:
        super().__init__()
        self.problem = problem.reason
        # The same words as the CLI's fallback warning.
        self.reason = f"showing cached or bundled snapshot prices: {problem}"


class SourceWarning(Message):
    """The catalog fell back from live prices and says why."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class LivePrices(WorkerErrors, Horizontal):
    """The sources line and its spinner; `start()` fetches live prices for a region."""

    def __init__(
        self,
        live: LiveFactory | None,
        *,
        refresh_every: float,
        id: str | None = None,  # noqa: A002 (Textual's name for it)
    ) -> None:
        super().__init__(id=id)
        self.live_factory = live
        self.refresh_every = refresh_every
        self.live_off = live is None  # offline by choice, or no credentials found
        self.offline_reason = "offline" if live is None else ""
        self.aws_region = ""
        self._live: PriceSource | None = None
        self._worker: Worker[None] | None = None
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="sources")
        yield LoadingIndicator(id="spinner")

    def show(self, sources: str) -> None:
        self.query_one("#sources", Static).update(sources)

    def start(self, region: str, force: bool = False) -> None:
        """Fetch live prices for `region` in the background, unless offline."""
        self.aws_region = region
        if self.live_factory is None or self.live_off:
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._worker = self.fetch_live(region, force)

    @work(
        thread=True,
        exclusive=True,
        group="refresh",
        exit_on_error=False,
        description="fetching live prices",
    )
    def fetch_live(self, region: str, force: bool) -> None:
        worker = get_current_worker()
        source = self._live
        if source is None or not source.live:
            # boto3 is imported here, off the UI thread, and only when needed.
            assert self.live_factory is not None
            try:
                source = self.live_factory(self._post_warning)
            except AwsError as exc:
                self.post_message(LiveUnavailable(exc))
                return
            self._live = source
        if region == ALL_REGIONS:
            offers = source.all_offers(refresh=force)
        else:
            offers = source.offers(region, refresh=force)
        if not worker.is_cancelled:
            self.post_message(PricesArrived(region, offers))

    def _post_warning(self, text: str) -> None:
        # Called on the worker's thread; post_message is thread-safe.
        self.post_message(SourceWarning(text))

    @on(PricesArrived)
    def _prices_arrived(self, message: PricesArrived) -> None:
        if message.region == self.aws_region:
            self.offline_reason = ""

    @on(LiveUnavailable)
    def _live_unavailable(self, message: LiveUnavailable) -> None:
        self.live_off = True
        self.offline_reason = f"offline: {message.problem}"

    @on(Worker.StateChanged)
    def _refresh_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker is not self._worker:
            return  # a superseded refresh: the current one owns the spinner and timer
        running = event.state in (WorkerState.PENDING, WorkerState.RUNNING)
        self.query_one("#spinner").display = running
        if worker.is_finished and not self.live_off:
            # Scheduled only now, so refreshes never overlap; a failed one keeps the prices.
            self._timer = self.set_timer(self.refresh_every, self._again)

    def _again(self) -> None:
        self.start(self.aws_region)
