"""The instances screen: what runs where, what it has cost, and stopping it.

The rows come from the app's fleet scan (every enabled region, on a timer that
never overlaps), so switching between this region and all regions is instant.
Stop and terminate ask first, naming type, region and cost so far; an instance
dlpick did not launch needs an extra, explicit confirmation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from dlpick.core.errors import InputError
from dlpick.remote.fleet.actions import Leftovers, check_managed, find_instances, stop, terminate
from dlpick.remote.fleet.scan import fmt_hours
from dlpick.tui.account import AwsAccess, Fleet
from dlpick.tui.formats import fmt_usd
from dlpick.tui.screens.confirm_action import ConfirmAction, ConfirmCleanup
from dlpick.tui.widgets.fit import Col, fill_table, fit_cells
from dlpick.tui.widgets.row_table import RowTable
from dlpick.tui.widgets.ticker import TopBar
from dlpick.tui.worker_errors import WorkerErrors, WorkerFailed

if TYPE_CHECKING:
    from dlpick.remote.fleet.scan import Instance

STATE_STYLES = {
    "running": "green",
    "pending": "yellow",
    "stopping": "yellow",
    "shutting-down": "yellow",
    "stopped": "dim",
    "terminated": "dim",
}


# At 80 columns what is left is: which instance, where, is it running, what it cost,
# is it idle. Name, uptime, the hourly price and the guards come back when wider.
COLUMNS = (
    Col("id", "ID", 100),
    Col("name", "Name", 32),  # a name is an identifier: dropped, never cut
    Col("type", "Type", 90),
    Col("region", "Region", 70),
    Col("state", "State", 85),
    Col("up", "Up", 30, right=True),
    Col("usd", "$/h", 40, right=True),
    Col("cost", "Cost", 80, right=True),
    Col("idle", "Idle", 75),
    Col("guard", "Guard", 10, cap=22),
    Col("managed", "dlpick", 35),
)


def cells(inst: Instance, now: datetime) -> dict[str, Text]:
    """One instance's cells, by column key."""
    cost = inst.cost_so_far(now)
    # A stopped instance keeps the cost of the time it ran, and bills only for its volumes.
    cost_text = "?" if cost is None else f"${cost:,.2f}"
    if inst.state == "stopped" and inst.volumes_gib:
        cost_text += f" +${inst.storage_usd_month:,.0f}/mo disk"
    idle_style = "bold black on yellow" if inst.idle.startswith("idle") else ""
    rate = inst.billing_usd_hour
    # As the price table writes a price: 0.8048, 1.006.
    usd = "?" if rate is None else fmt_usd(rate) if inst.billing_hourly else "—"
    return {
        "id": Text(inst.instance_id),
        "name": Text(inst.name or ("Batch host" if inst.batch_environment else "-")),
        "type": Text(inst.instance_type),
        "region": Text(inst.region),
        "state": Text(inst.state, style=STATE_STYLES.get(inst.state, "")),
        "up": Text(fmt_hours(inst.uptime_hours(now)) if inst.billing_hourly else "-"),
        "usd": Text(f"{usd} spot" if inst.spot else usd),
        "cost": Text(cost_text),
        # "idle" from the idle alarm, "idle 20m" from watching the GPUs over SSH.
        "idle": Text(inst.idle.replace(" (alarm)", ""), style=idle_style),
        "guard": Text(inst.guard_text()),
        "managed": Text("batch", style="cyan")
        if inst.batch_environment
        else Text("yes")
        if inst.managed
        else Text("no", style="bold yellow"),
    }


class ActionDone(Message):
    """A stop or terminate went through; lines to tell the user, and after a terminate
    what dlpick made for the instance that can now be deleted."""

    def __init__(self, lines: list[str], cleanup: tuple[str, str, Leftovers] | None = None) -> None:
        super().__init__()
        self.lines = lines
        self.cleanup = cleanup  # (region, instance id, leftovers)


class InstancesScreen(WorkerErrors, Screen[None]):
    """Your instances in this region (or all), with cost so far, idle state and guards."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "toggle_regions", "All regions", tooltip="this region only, or every region"),
        Binding("s", "act('stop')", "Stop", tooltip="stop the highlighted instance (asks first)"),
        Binding(
            "t",
            "act('terminate')",
            "Terminate",
            tooltip="terminate the highlighted instance (asks first)",
        ),
        Binding("r", "rescan", "Rescan", tooltip="scan your instances now"),
        Binding("o", "runs", "Runs", tooltip="runs and logs on the highlighted instance, over SSH"),
        Binding("B", "bench", "Bench", tooltip="measure the highlighted instance's TFLOPs"),
        Binding("escape", "back", "Prices", tooltip="back to the price table"),
        Binding("q", "app.quit", "Quit", show=False, tooltip="quit dlpick"),
    ]

    def __init__(self, account: AwsAccess, *, region: str, all_regions: bool = False) -> None:
        super().__init__()
        self.account = account
        self.home = region  # the region shown when not showing all
        self.all_regions = all_regions
        self.fleet = Fleet("waiting")
        self._shown: list[Instance] = []

    def compose(self) -> ComposeResult:
        yield TopBar()
        yield Static(id="instances-status")
        yield RowTable[Text](id="instances")
        yield Footer(compact=True)

    @property
    def table(self) -> RowTable[Text]:
        return self.query_one("#instances", RowTable)

    def on_mount(self) -> None:
        self.table.focus()
        if hasattr(self.app, "fleet"):
            self.watch(self.app, "fleet", self._fleet_changed, init=True)
        self._rescan()

    def _rescan(self) -> None:
        refresh: Callable[[], None] | None = getattr(self.app, "refresh_fleet", None)
        if refresh is not None:
            refresh()

    def _fleet_changed(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._rebuild()

    # -- drawing -------------------------------------------------------------------

    def _visible(self) -> list[Instance]:
        instances = list(self.fleet.instances)
        if self.all_regions:
            return instances
        return [i for i in instances if i.region == self.home]

    def _columns(self) -> list[Col]:
        if self.all_regions:
            return list(COLUMNS)
        return [c for c in COLUMNS if c.key != "region"]

    def _rebuild(self) -> None:
        """Draw the table again, keeping the cursor on the same instance."""
        now = self.account.now()
        shown = self._visible()
        rows = [cells(i, now) for i in shown]
        laid = fit_cells(self._columns(), rows, self.app.size.width)
        managed_hidden = all(col.key != "managed" for col, _ in laid)
        for inst, row in zip(shown, rows, strict=True):
            if managed_hidden and not inst.managed:
                # No room for the dlpick column: a foreign instance's id says it instead.
                row["id"] = Text(inst.instance_id, style="bold yellow")
        fill_table(self.table, laid, rows, [i.instance_id for i in shown])
        self._shown = shown
        self._show_title(managed_hidden and any(not i.managed for i in shown))

    def _show_title(self, foreign_marked: bool) -> None:
        fleet = self.fleet
        where = "all regions" if self.all_regions else self.home
        title = Text.assemble(("dlpick", "bold"), "  ", ("instances", "bold"), f" · {where}")
        self.query_one("#title", Static).update(title)
        status = self.query_one("#instances-status", Static)
        if fleet.status == "unavailable":
            status.update(Text(f"{fleet.message}: no instances to show", style="bold"))
            return
        if fleet.status == "waiting":
            status.update(Text("scanning your instances…", style="dim"))
            return
        parts = []
        count = len(self._shown)
        total = len(fleet.instances)
        kind = "instance" if count == 1 else "instances"
        parts.append(f"{count} {kind} with accelerators")
        if not self.all_regions and total > count:
            parts.append(f"{total - count} more in other regions (a)")
        if fleet.at is not None:
            parts.append(f"scanned {fleet.at:%H:%M} UTC")
        if foreign_marked:
            parts.append(
                "yellow id: not launched by dlpick"
                if self.app.size.width >= 100
                else "yellow id: not dlpick's"
            )
        line = Text(" · ".join(parts))
        if fleet.status == "error":
            line.append(f"\nlast scan failed: {fleet.message}", style="bold red")
        for _, why in fleet.unreadable[:2]:
            line.append(f"\n? {why}", style="bold red")
        status.update(line)

    def on_resize(self, event: Resize) -> None:
        self._rebuild()

    # -- actions ---------------------------------------------------------------------

    def action_toggle_regions(self) -> None:
        self.all_regions = not self.all_regions
        self._rebuild()

    def action_rescan(self) -> None:
        self._rescan()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_runs(self) -> None:
        from dlpick.tui.screens.runs import RunsScreen

        inst = self._reachable()
        if inst is not None:
            self.app.push_screen(RunsScreen(inst.instance_id, inst.region))

    def action_bench(self) -> None:
        from dlpick.tui.host_access import HostAccess
        from dlpick.tui.screens.bench import BenchScreen

        inst = self._reachable()
        if inst is not None:
            access = HostAccess(inst.instance_id, inst.region)
            self.app.push_screen(
                BenchScreen(access, instance_type=inst.instance_type, region=inst.region)
            )

    def _reachable(self) -> Instance | None:
        """The highlighted instance when it runs; else None, and the user told why."""
        inst = self._highlighted()
        if inst is None:
            self.notify("no instance highlighted", timeout=4)
        elif inst.state != "running":
            self.notify(f"{inst.instance_id} is {inst.state}: start it to reach it", timeout=4)
        else:
            return inst
        return None

    def _highlighted(self) -> Instance | None:
        wanted = self.table.cursor_key()
        return next((i for i in self._shown if i.instance_id == wanted), None)

    def action_act(self, verb: str) -> None:
        inst = self._highlighted()
        if inst is None:
            self.notify("no instance highlighted", timeout=4)
            return
        if verb == "stop" and inst.state not in ("running", "pending"):
            self.notify(f"{inst.instance_id} is {inst.state}: nothing to stop", timeout=4)
            return
        if inst.state in ("terminated", "shutting-down"):
            self.notify(f"{inst.instance_id} is already {inst.state}", timeout=4)
            return

        doing = f"{'stopping' if verb == 'stop' else 'terminating'} {inst.instance_id}"

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(
                    partial(self.act, verb, inst.region, inst.instance_id, not inst.managed),
                    thread=True,
                    exclusive=True,
                    group="instance-action",
                    exit_on_error=False,
                    description=doing,  # what a failure's notification is titled
                )

        self.app.push_screen(ConfirmAction(verb, inst, self.account.now()), confirmed)

    def act(self, verb: str, region: str, instance_id: str, allow_any: bool) -> None:
        """The action's worker: stop or terminate one instance, checked on its current tags."""
        aws = self.account.require()
        found = find_instances(aws, region, [instance_id])
        try:
            # Checked again on AWS's current tags, not the scan's: they may have changed.
            check_managed([inst for inst, _ in found], allow_any)
        except InputError as exc:
            # The CLI's advice (--any) is the confirmation's tick box here.
            raise InputError(str(exc).replace("pass --any", "confirm")) from None
        if verb == "stop":
            stop(aws, region, [instance_id])
            self.post_message(
                ActionDone([f"stopping {instance_id}; its volumes still bill while stopped"])
            )
            return
        left = terminate(aws, region, found)
        if not left.cleanable:
            self.post_message(ActionDone([f"terminating {instance_id}", *left.lines()]))
            return
        # The key pair and group go only after their own confirmation, which lists them.
        kept = Leftovers(volumes=left.volumes).lines()
        self.post_message(
            ActionDone([f"terminating {instance_id}", *kept], (region, instance_id, left))
        )

    @on(ActionDone)
    def _action_done(self, message: ActionDone) -> None:
        self.notify("\n".join(message.lines), timeout=10)
        self._rescan()
        if message.cleanup is not None:
            region, instance_id, left = message.cleanup

            def cleaned(result: str | None) -> None:
                if result:
                    self.notify(result, timeout=10)

            self.app.push_screen(ConfirmCleanup(self.account, region, instance_id, left), cleaned)

    @on(WorkerFailed)
    def _action_failed(self, message: WorkerFailed) -> None:
        self._rescan()  # whatever went through, the table shows it
