"""The price table: every instance type and what its compute costs, kept live.

The first frame comes from the offline catalog (cache or bundled snapshot), built
synchronously: no network, no boto3. Live prices come from a thread worker that
posts a typed message; the table is then updated in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar, Protocol

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, LoadingIndicator, Static
from textual.worker import Worker, WorkerState, get_current_worker

from dlpick.pricing.catalog import Catalog, Offer, cheapest_per_type
from dlpick.pricing.errors import InputError
from dlpick.pricing.select import DESCENDING, filter_records, sort_records
from dlpick.remote.quotas import Headroom, verdict_for
from dlpick.tui.account import AwsAccess
from dlpick.tui.output import provenance
from dlpick.tui.screens.dialogs import ALL_REGIONS, FilterDialog, Filters, RegionPicker
from dlpick.tui.screens.launch import LaunchDialog
from dlpick.tui.widgets.detail import DetailPane
from dlpick.tui.widgets.price_table import (
    QUOTA_FIELD,
    Column,
    Shown,
    best_values,
    cell,
    columns_for,
    fit_columns,
)
from dlpick.tui.widgets.ticker import TopBar

# How long a changed price stays marked.
MARK_SECONDS = 2.0


class PriceSource(Protocol):
    """Where live offers come from (a Catalog with AWS access, or a stand-in)."""

    @property
    def live(self) -> bool: ...

    def offers(self, region: str, *, refresh: bool = False) -> list[Offer]: ...

    def all_offers(self, *, refresh: bool = False) -> list[Offer]: ...


# Called in the refresh worker with a warning sink; None means no credentials.
LiveFactory = Callable[[Callable[[str], None]], PriceSource | None]


class PricesArrived(Message):
    """Live (or freshly cached) offers for a region, from the refresh worker."""

    def __init__(self, region: str, offers: list[Offer]) -> None:
        super().__init__()
        self.region = region
        self.offers = offers


class LiveUnavailable(Message):
    """The worker found no AWS credentials: browsing goes on with offline prices."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class SourceWarning(Message):
    """The catalog fell back from live prices and says why."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class QuotasArrived(Message):
    """A region's GPU quota classes and their usage, read once by the quota worker."""

    def __init__(self, region: str, headroom: Headroom, problem: str = "") -> None:
        super().__init__()
        self.region = region
        self.headroom = headroom
        self.problem = problem  # why some or all verdicts are unknown


@dataclass
class View:
    """What the user chose to look at."""

    region: str
    metric: str = "fp32"
    spot: bool = False
    sort_key: str = "od_tf"  # a column key
    reverse: bool = False
    filters: Filters = field(default_factory=Filters)

    @property
    def all_regions(self) -> bool:
        return self.region == ALL_REGIONS


# Switching between on-demand and spot keeps sorting by the same kind of figure.
OTHER_BASIS = {"od": "spot", "spot": "od", "od_tf": "spot_tf", "spot_tf": "od_tf"}


class PricesScreen(Screen[None]):
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
            tooltip="switch TFLOPs between FP32 and BF16",
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
        self._records: dict[str, dict[str, Any]] = {}  # shown records by instance type
        self._total = 0  # rows before filtering
        self._shown: list[Shown] = []
        self._cells: dict[tuple[str, str], Text] = {}
        self._marks: dict[tuple[str, str], int] = {}
        self._mark_generation = 0
        self._live: PriceSource | None = None
        self._live_off = live is None
        self._offline_reason = "offline" if live is None else ""
        self._refresh_worker: Worker[None] | None = None
        self._timer: Timer | None = None
        self._notified: set[str] = set()
        self._headroom: dict[str, Headroom] = {}  # by region, read once per region

    def compose(self) -> ComposeResult:
        yield TopBar()
        with Horizontal(id="status"):
            yield Static(id="sources")
            yield LoadingIndicator(id="spinner")
        yield DataTable(id="prices", cursor_type="row", zebra_stripes=True)
        yield DetailPane(id="detail")
        # The palette hint makes way for the keys at 80 columns; help (?) lists ^p.
        yield Footer(compact=True, show_command_palette=False)

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#prices", DataTable)

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
        except InputError as exc:
            self._notify_once(str(exc), severity="error")
            return []

    def _visible(self) -> list[dict[str, Any]]:
        """The records the table shows, filtered and sorted."""
        view = self.view
        offers = cheapest_per_type(self._raw, spot=view.spot) if view.all_regions else self._raw
        self._offers = {o.instance_type: o for o in offers}
        records = [o.to_record() for o in offers]
        headroom = self._headroom.get(view.region)
        if headroom is not None:
            market = "spot" if view.spot else "on-demand"
            for record in records:
                check = verdict_for(record["instance_type"], record["vcpus"], market, headroom)
                record[QUOTA_FIELD] = check.short_by if check.verdict != "unknown" else None
        self._total = len(records)
        flt = view.filters
        records = filter_records(records, gpus=flt.gpus, min_gpu_memory=flt.min_gpu_memory)
        if flt.max_price is not None:
            price_key = "spot_usd_hour" if view.spot else "on_demand_usd_hour"
            records = [
                r for r in records if r[price_key] is not None and r[price_key] <= flt.max_price
            ]
        return sort_records(records, self._sort_column().field, view.reverse)

    def _columns(self) -> list[Column]:
        view = self.view
        quota = not view.all_regions and view.region in self._headroom
        return columns_for(view.metric, view.spot, view.all_regions, quota=quota)

    def _sort_column(self) -> Column:
        by_key = {c.key: c for c in self._columns()}
        return by_key.get(self.view.sort_key) or by_key["od_tf"]

    def _descending(self) -> bool:
        return (self._sort_column().field in DESCENDING) != self.view.reverse

    def _fit(self, records: list[dict[str, Any]]) -> list[Shown]:
        return fit_columns(
            self._columns(),
            records,
            self.app.size.width,
            sort_key=self._sort_column().key,
            descending=self._descending(),
        )

    # -- drawing -------------------------------------------------------------

    def _rebuild(self) -> None:
        """Draw the whole table again, keeping the cursor on the same instance type."""
        table = self.table
        keep = self._cursor_type()
        records = self._visible()
        shown = self._fit(records)
        best = best_values(records, [s.column for s in shown])
        table.clear(columns=True)
        for s in shown:
            label = Text(s.label, justify="right" if s.column.numeric else "left")
            table.add_column(label, width=s.width, key=s.column.key)
        self._cells = {}
        self._marks = {}
        for record in records:
            itype = record["instance_type"]
            cells = []
            for s in shown:
                text = cell(s.column, record, spot=self.view.spot, best=best)
                self._cells[itype, s.column.key] = text
                cells.append(text)
            table.add_row(*cells, key=itype)
        self._records = {r["instance_type"]: r for r in records}
        self._shown = shown
        if keep in self._records:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        self._show_header()
        self._show_detail()

    def _update_in_place(self) -> None:
        """Apply new prices to the cells that changed, marking them; rows stay put."""
        old = self._records
        records = self._visible()
        shown = self._fit(records)
        same_layout = [(s.column.key, s.width) for s in shown] == [
            (s.column.key, s.width) for s in self._shown
        ]
        if not same_layout or {r["instance_type"] for r in records} != set(old):
            self._rebuild()
            return
        table = self.table
        best = best_values(records, [s.column for s in shown])
        self._mark_generation += 1
        marked = []
        for record in records:
            itype = record["instance_type"]
            before = old[itype]
            for s in shown:
                key = s.column.key
                changed = s.column.numeric and before.get(s.column.field) != record.get(
                    s.column.field
                )
                text = cell(s.column, record, spot=self.view.spot, best=best, changed=changed)
                if changed:
                    self._marks[itype, key] = self._mark_generation
                    marked.append((itype, key))
                elif (itype, key) in self._marks:
                    continue  # still marked from a moment ago; its timer restores it
                if text != self._cells.get((itype, key)):
                    self._cells[itype, key] = text
                    table.update_cell(itype, key, text)
        self._records = {r["instance_type"]: r for r in records}
        if marked:
            self.set_timer(MARK_SECONDS, partial(self._unmark, marked, self._mark_generation))
        self._show_header()
        self._show_detail()

    def _unmark(self, keys: list[tuple[str, str]], generation: int) -> None:
        records = list(self._records.values())
        best = best_values(records, [s.column for s in self._shown])
        columns = {s.column.key: s.column for s in self._shown}
        for itype, key in keys:
            if self._marks.get((itype, key)) != generation:
                continue  # redrawn or marked again since
            del self._marks[itype, key]
            text = cell(columns[key], self._records[itype], spot=self.view.spot, best=best)
            self._cells[itype, key] = text
            self.table.update_cell(itype, key, text)

    def _cursor_type(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

    def _show_header(self) -> None:
        view = self.view
        where = "all regions (cheapest per type)" if view.all_regions else view.region
        count = (
            f"{len(self._records)} types"
            if len(self._records) == self._total
            else f"{len(self._records)} of {self._total} types"
        )
        sort_label = next(
            (s.label for s in self._shown if s.column.key == self._sort_column().key), ""
        )
        parts: list[tuple[str, str] | str] = [
            ("dlpick", "bold"),
            "  ",
            (where, "bold"),
            f" · {count} · {'spot' if view.spot else 'on-demand'} · {view.metric.upper()}",
            f" · by {sort_label}",
        ]
        if view.filters.active:
            parts += [" · ", (f"filter: {view.filters.describe()}", "bold")]
        self.query_one("#title", Static).update(Text.assemble(*parts))
        now = datetime.fromtimestamp(self.clock(), UTC)
        records = [o.to_record() for o in self._offers.values()]
        lines = [line.replace(" prices:", ":") for line in provenance(records, now)]
        if not any(line.startswith("spot:") for line in lines):
            lines.append("spot: none known")
        if self._offline_reason:
            lines.append(self._offline_reason)
        self.query_one("#sources", Static).update(" · ".join(lines))

    def _show_detail(self) -> None:
        pane = self.query_one(DetailPane)
        if pane.display:
            pane.show(self._offers.get(self._cursor_type() or ""))

    def on_resize(self, event: Resize) -> None:
        records = [self._records[k] for k in self._records]
        if [s.label for s in self._fit(records)] != [s.label for s in self._shown]:
            self._rebuild()

    # -- live prices -----------------------------------------------------------

    def start_refresh(self, force: bool = False) -> None:
        """Fetch live prices for the current view in the background, unless offline."""
        if self.live_factory is None or self._live_off:
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._refresh_worker = self.fetch_live(self.view.region, force)

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
            source = self.live_factory(self._post_warning)
            if source is None:
                self.post_message(
                    LiveUnavailable(
                        "no AWS credentials found: showing cached or bundled snapshot prices"
                    )
                )
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
        if message.region != self.view.region:
            return  # the user moved on to another region meanwhile
        self._raw = message.offers
        self._offline_reason = ""
        self._update_in_place()
        self._drain_notes()

    @on(LiveUnavailable)
    def _live_unavailable(self, message: LiveUnavailable) -> None:
        self._live_off = True
        self._offline_reason = "offline: no AWS credentials"
        self._show_header()
        self._notify_once(message.reason, severity="information")

    @on(SourceWarning)
    def _source_warning(self, message: SourceWarning) -> None:
        self._notify_once(message.text, severity="warning")

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "refresh" or worker is not self._refresh_worker:
            return  # a superseded refresh: the current one owns the spinner and timer
        running = event.state in (WorkerState.PENDING, WorkerState.RUNNING)
        self.query_one("#spinner").display = running
        if event.state == WorkerState.ERROR:
            self._notify_once(
                f"price refresh failed: {_one_line(worker.error)}; keeping the prices shown",
                severity="error",
            )
        if worker.is_finished and not self._live_off:
            # Scheduled only now, so refreshes never overlap.
            self._timer = self.set_timer(self.refresh_every, self.start_refresh)

    # -- quotas ----------------------------------------------------------------

    def start_quotas(self) -> None:
        """Read the region's quotas once, in the background, when AWS can be reached."""
        region = self.view.region
        if self.account.offline or region == ALL_REGIONS or region in self._headroom:
            return
        self.read_quotas(region)

    @work(
        thread=True,
        exclusive=True,
        group="quotas",
        exit_on_error=False,
        description="reading vCPU quotas",
    )
    def read_quotas(self, region: str) -> None:
        from dlpick.pricing.errors import DlpickError

        if self.account.get() is None:
            return  # no credentials: the column stays hidden, the ticker says why
        try:
            headroom = self.account.headroom(region)
        except DlpickError as exc:
            err = f"reading vCPU quotas in {region}: {exc}"
            self.post_message(QuotasArrived(region, {}, str(err)))
            return
        self.post_message(QuotasArrived(region, headroom))

    @on(QuotasArrived)
    def _quotas_arrived(self, message: QuotasArrived) -> None:
        self._headroom[message.region] = message.headroom
        if message.problem:
            self._notify_once(f"quota verdicts unknown: {message.problem}", severity="warning")
        if message.region == self.view.region:
            self._rebuild()

    def forget_quotas(self, region: str) -> None:
        """Usage changed (a launch): read the region's quotas again."""
        self._headroom.pop(region, None)
        if region == self.view.region:
            self._rebuild()
        self.start_quotas()

    def _notify_once(self, text: str, *, severity: Any) -> None:
        if text not in self._notified:
            self._notified.add(text)
            self.notify(text, severity=severity, timeout=8)

    def _drain_notes(self) -> None:
        while self.notes:
            self._notify_once(self.notes.pop(0), severity="warning")

    # -- actions ---------------------------------------------------------------

    def _visible_keys(self) -> Iterator[str]:
        yield from (s.column.key for s in self._shown)

    def action_cycle_sort(self) -> None:
        keys = list(self._visible_keys())
        current = self._sort_column().key
        at = keys.index(current) if current in keys else -1
        self.view.sort_key = keys[(at + 1) % len(keys)]
        self.view.reverse = False
        self._rebuild()

    def action_reverse(self) -> None:
        self.view.reverse = not self.view.reverse
        self._rebuild()

    @on(DataTable.HeaderSelected)
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key == self._sort_column().key:
            self.view.reverse = not self.view.reverse
        else:
            self.view.sort_key = key
            self.view.reverse = False
        self._rebuild()

    def action_toggle_metric(self) -> None:
        self.view.metric = "bf16" if self.view.metric == "fp32" else "fp32"
        self._rebuild()

    def action_toggle_spot(self) -> None:
        self.view.spot = not self.view.spot
        self.view.sort_key = OTHER_BASIS.get(self.view.sort_key, self.view.sort_key)
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
        self.view.region = region
        if self.view.sort_key == "region" and not self.view.all_regions:
            self.view.sort_key = "spot_tf" if self.view.spot else "od_tf"
        self._raw = self._load_offline()
        self._rebuild()
        self.start_refresh()
        self.start_quotas()

    def action_toggle_detail(self) -> None:
        pane = self.query_one(DetailPane)
        pane.display = not pane.display
        self._show_detail()

    def action_refresh(self, force: bool = False) -> None:
        if self._live_off:
            self.notify(self._offline_reason or "offline", timeout=4)
            return
        self.start_refresh(force)

    def action_launch(self) -> None:
        offer = self._offers.get(self._cursor_type() or "")
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


def _one_line(error: BaseException | None) -> str:
    from dlpick.pricing.aws import AwsError

    if isinstance(error, AwsError):
        return str(error)
    return f"{type(error).__name__}: {error}".splitlines()[0]
