"""The price table: every instance type and what its compute costs, kept live.

The first frame comes from the offline catalog (cache or bundled snapshot), built
synchronously: no network, no boto3. Live prices come from a thread worker that
posts a typed message (`LivePrices`); the table is then updated in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker

from dlpick.core.errors import DlpickError
from dlpick.core.regions import ALL_REGIONS
from dlpick.pricing.catalog import Catalog, Offer
from dlpick.remote.launch.quotas import Headroom
from dlpick.tui.account import AwsAccess
from dlpick.tui.screens.dialogs import FilterDialog, Filters, RegionPicker
from dlpick.tui.screens.price_view import (
    QuotasArrived,
    View,
    shown_offers,
    sort_label,
    sources_text,
    title_text,
    visible_records,
)
from dlpick.tui.widgets.detail import DetailPane
from dlpick.tui.widgets.live_prices import (
    LiveFactory,
    LivePrices,
    LiveUnavailable,
    PricesArrived,
    SourceWarning,
)
from dlpick.tui.widgets.price_grid import PriceGrid
from dlpick.tui.widgets.price_table import Column, Shown, fit_columns
from dlpick.tui.widgets.ticker import TopBar
from dlpick.tui.worker_errors import WorkerErrors, WorkerFailed

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel


class PricesScreen(WorkerErrors, Screen[None]):
    """The main screen: the price table, where prices come from, and the detail pane."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "cycle_sort", "Sort", tooltip="sort by the next column"),
        Binding("r", "reverse", "Reverse", show=False, tooltip="reverse the sort order"),
        Binding("f", "filter", "Filter", tooltip="filter by accelerator model, GPU memory, price"),
        # Metric, Details and Quit stay out of the footer so Launch and Instances fit
        # at 80 columns; help (?) and the command palette list them.
        Binding(
            "m",
            "toggle_metric",
            "Metric",
            show=False,
            tooltip="TFLOPs: FP32, BF16, measured FP32, measured BF16 (dlpick bench)",
        ),
        Binding("v", "toggle_spot", "Spot/OD", tooltip="switch between on-demand and spot view"),
        Binding("g", "pick_region", "Region", tooltip="choose a region, or all regions"),
        Binding(
            "d", "toggle_detail", "Details", show=False, tooltip="show or hide the detail pane"
        ),
        Binding(
            "l",
            "launch",
            "Launch",
            tooltip="launch the highlighted type: plan, quota verdict, confirm",
        ),
        Binding("ctrl+r", "refresh(True)", "Refresh", show=False, tooltip="fetch live prices now"),
        Binding(
            "u",
            "toggle_use",
            "Use",
            show=False,
            tooltip="show inference-only accelerators too, or training ones only",
        ),
        Binding("q", "app.quit", "Quit", show=False, tooltip="quit dlpick"),
    ]

    def __init__(
        self,
        catalog: Catalog,
        *,
        region: str,
        live: LiveFactory | None,
        clock: Callable[[], float] = time.time,
        refresh_every: float = 60.0,
        notes: list[str] | None = None,
        account: AwsAccess | None = None,
    ) -> None:
        super().__init__()
        self.catalog = catalog
        self.account = account or AwsAccess(None, clock=clock)
        self.live_factory = live
        self.clock = clock
        self.refresh_every = refresh_every
        self.notes = notes if notes is not None else []
        self.view = View(region=region)
        self._raw: list[Offer] = []  # one region's offers, or every region's
        self._offers: dict[str, Offer] = {}  # shown offers by instance type
        self._total = 0  # rows before filtering
        self._notified: set[str] = set()
        self._headroom: dict[str, Headroom] = {}  # by region, read once per region
        self._quota_worker: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield TopBar()
        yield LivePrices(self.live_factory, refresh_every=self.refresh_every, id="status")
        yield PriceGrid(id="prices")
        yield DetailPane(id="detail", account=self.account, clock=self.clock)
        # The palette hint makes way for the keys at 80 columns; help (?) lists ^p.
        yield Footer(compact=True, show_command_palette=False)

    @property
    def table(self) -> PriceGrid:
        return self.query_one("#prices", PriceGrid)

    def on_mount(self) -> None:
        self._raw = self._load_offline()
        self._rebuild()
        self._drain_notes()
        self.table.focus()
        # After the first frame: the worker's boto3 import must not delay the paint.
        self.call_after_refresh(self.start_refresh)
        self.call_after_refresh(self.start_quotas)
        # Ages like "3 min ago" go stale while the app sits open.
        self.set_interval(30, self._show_header)

    # -- data ----------------------------------------------------------------

    def _load_offline(self) -> list[Offer]:
        """Offers from the cache or the snapshot, without the network."""
        try:
            if self.view.all_regions:
                return self.catalog.all_offers()
            return self.catalog.offers(self.view.region)
        except DlpickError as exc:
            self._notify_once(str(exc), severity="error")
            return []

    def _visible(self) -> list[dict[str, Any]]:
        """The records the table shows, filtered and sorted."""
        offers = shown_offers(self._raw, self.view)
        self._offers = {o.instance_type: o for o in offers}
        self._total = len(offers)
        return visible_records(
            offers, self.view, self._headroom.get(self.view.region), self._columns()
        )

    def _columns(self) -> list[Column]:
        view = self.view
        return view.columns(quota=not view.all_regions and view.region in self._headroom)

    def _sort_column(self) -> Column:
        return self.view.sort_column(self._columns())

    def _fit(self, records: list[dict[str, Any]]) -> list[Shown]:
        columns = self._columns()
        return fit_columns(
            columns,
            records,
            self.app.size.width,
            sort_key=self.view.sort_column(columns).key,
            descending=self.view.descending(columns),
        )

    # -- drawing -------------------------------------------------------------

    def _rebuild(self) -> None:
        """Draw the whole table again, keeping the cursor on the same instance type."""
        records = self._visible()
        self.table.redraw(records, self._fit(records), spot=self.view.spot)
        self._show_header()
        self._show_detail()

    def _update_in_place(self) -> None:
        """Apply new prices to the cells that changed, marking them; rows stay put."""
        records = self._visible()
        self.table.update_prices(records, self._fit(records), spot=self.view.spot)
        self._show_header()
        self._show_detail()

    def _show_header(self) -> None:
        table = self.table
        label = sort_label(table.shown, self._sort_column())
        title = title_text(self.view, len(table.records), self._total, label)
        self.query_one("#title", Static).update(title)
        now = datetime.fromtimestamp(self.clock(), UTC)
        offers = list(self._offers.values())
        view = self.view
        self.live.show(sources_text(offers, now, self.live.offline_reason, view.use, view.spot))

    def _show_detail(self) -> None:
        pane = self.query_one(DetailPane)
        if pane.display:
            pane.show(self._offers.get(self.table.highlighted_type() or ""))

    def on_resize(self, event: Resize) -> None:
        table = self.table
        if [s.label for s in self._fit(list(table.records.values()))] != [
            s.label for s in table.shown
        ]:
            self._rebuild()

    # -- live prices -----------------------------------------------------------

    @property
    def live(self) -> LivePrices:
        return self.query_one("#status", LivePrices)

    def start_refresh(self, force: bool = False) -> None:
        """Fetch live prices for the current view in the background, unless offline."""
        self.live.start(self.view.region, force)

    @on(PricesArrived)
    def _prices_arrived(self, message: PricesArrived) -> None:
        if message.region != self.view.region:
            return  # the user moved on to another region meanwhile
        self._raw = message.offers
        self._update_in_place()
        self._drain_notes()

    @on(LiveUnavailable)
    def _live_unavailable(self, message: LiveUnavailable) -> None:
        self._show_header()
        self._notify_once(message.reason, severity="information")

    @on(SourceWarning)
    def _source_warning(self, message: SourceWarning) -> None:
        self._notify_once(message.text, severity="warning")

    # -- quotas ----------------------------------------------------------------

    def start_quotas(self) -> None:
        """Read the region's quotas once, in the background, when AWS can be reached."""
        region = self.view.region
        if self.account.offline or region == ALL_REGIONS or region in self._headroom:
            return
        self._quota_worker = self.run_worker(
            partial(self.read_quotas, region),
            name=region,
            group="quotas",
            description=f"reading vCPU quotas in {region}",
            exclusive=True,
            thread=True,
            exit_on_error=False,
        )

    def read_quotas(self, region: str) -> None:
        """The quota worker: one read of the region's quota classes and their usage."""
        if self.account.get() is None:
            return  # no credentials: the column stays hidden, the ticker says why
        self.post_message(QuotasArrived(region, self.account.headroom(region)))

    @on(QuotasArrived)
    def _quotas_arrived(self, message: QuotasArrived) -> None:
        self._show_quotas(message.region, message.headroom)

    @on(WorkerFailed)
    def _quotas_failed(self, message: WorkerFailed) -> None:
        if message.worker is self._quota_worker:
            # Read, but unknown: the column shows "?" rather than a verdict.
            self._show_quotas(message.worker.name, {})

    def _show_quotas(self, region: str, headroom: Headroom) -> None:
        self._headroom[region] = headroom
        if region == self.view.region:
            self._rebuild()

    def forget_quotas(self, region: str) -> None:
        """Usage changed (a launch): read the region's quotas again."""
        self._headroom.pop(region, None)
        if region == self.view.region:
            self._rebuild()
        self.start_quotas()

    def _notify_once(self, text: str, *, severity: SeverityLevel) -> None:
        if text not in self._notified:
            self._notified.add(text)
            self.notify(text, severity=severity, timeout=8)

    def _drain_notes(self) -> None:
        while self.notes:
            self._notify_once(self.notes.pop(0), severity="warning")

    # -- actions ---------------------------------------------------------------

    def action_cycle_sort(self) -> None:
        self.view.sort_next([s.column.key for s in self.table.shown], self._sort_column().key)
        self._resorted()

    def action_reverse(self) -> None:
        self.view.reverse = not self.view.reverse
        self._resorted()

    @on(DataTable.HeaderSelected)
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.view.sort_by(str(event.column_key.value), self._sort_column().key)
        self._resorted()

    def _resorted(self) -> None:
        """A new order reads from its top: the cursor on the first row, scrolled up."""
        self._rebuild()
        self.table.to_top()

    def action_toggle_metric(self) -> None:
        self.view.toggle_metric()
        self._rebuild()

    def action_toggle_spot(self) -> None:
        self.view.toggle_spot()
        self._rebuild()

    def action_toggle_use(self) -> None:
        self.view.toggle_use()
        self._rebuild()

    def action_filter(self) -> None:
        models = sorted({o.gpu_model for o in self._offers.values()})
        self.app.push_screen(
            FilterDialog(self.view.filters, models, spot=self.view.spot), self._set_filters
        )

    def _set_filters(self, filters: Filters | None) -> None:
        if filters is not None:
            self.view.filters = filters
            self._rebuild()

    def action_pick_region(self) -> None:
        picker = RegionPicker(self.catalog.regions(), self.view.region)
        self.app.push_screen(picker, self.set_region)

    def set_region(self, region: str | None) -> None:
        if region is None or region == self.view.region:
            return
        self.view.move_to(region)
        self._raw = self._load_offline()
        self._rebuild()
        self.start_refresh()
        self.start_quotas()

    def action_toggle_detail(self) -> None:
        pane = self.query_one(DetailPane)
        pane.display = not pane.display
        self._show_detail()

    def action_refresh(self, force: bool = False) -> None:
        if self.live.live_off:
            self.notify(self.live.offline_reason or "offline", timeout=4)
            return
        self.start_refresh(force)

    def action_launch(self) -> None:
        # The launch dialog's modules load on first use, not before the first frame.
        from dlpick.tui.screens.launch.dialog import LaunchDialog

        offer = self._offers.get(self.table.highlighted_type() or "")
        if offer is None:
            self.notify("no instance type highlighted", timeout=4)
            return
        self.app.push_screen(
            LaunchDialog(offer, spot=self.view.spot, account=self.account), self._launched
        )

    def _launched(self, region: str | None) -> None:
        """The dialog closed; after a launch, usage changed in `region`."""
        if region is not None:
            self.forget_quotas(region)
            rescan: Callable[[], None] | None = getattr(self.app, "refresh_fleet", None)
            if rescan is not None:
                rescan()

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self) -> None:
        self._show_detail()
