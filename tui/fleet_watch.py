"""The app's watch over the user's instances: the fleet scan and idle notices.

The scan runs in a thread worker, the next one scheduled only when it ended, so
scans never overlap; the ticker and the instances screen watch the `fleet`
reactive. Each running instance dlpick launched gets an SSH idle watcher, and an
idle episode is announced once, with a bell.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.worker import Worker, get_current_worker

from dlpick.core.errors import SshError
from dlpick.tui.account import AwsAccess, Fleet
from dlpick.tui.worker_errors import WorkerErrors, WorkerFailed

if TYPE_CHECKING:
    import asyncssh

    from dlpick.pricing.catalog import Catalog
    from dlpick.remote.fleet.scan import Instance
    from dlpick.remote.ssh.connection import Connect


class FleetScanned(Message):
    """The fleet worker's answer: every instance in the account's regions, priced."""

    def __init__(self, fleet: Fleet) -> None:
        super().__init__()
        self.fleet = fleet


class InstanceIdleChanged(Message):
    """An idle watcher's verdict: an instance's idle episode began ("idle") or ended."""

    def __init__(self, instance_id: str, kind: str, idle_since: datetime) -> None:
        super().__init__()
        self.instance_id = instance_id
        self.kind = kind
        self.idle_since = idle_since


class FleetWatchingApp(WorkerErrors, App[None]):
    """The part of the app that scans the user's instances and watches them for idleness."""

    # The last scan of the user's instances; the ticker and the instances screen watch it.
    fleet: reactive[Fleet] = reactive(Fleet("waiting"), always_update=True, init=False)

    def __init__(
        self,
        account: AwsAccess,
        catalog: Catalog,
        *,
        region: str,
        fleet_every: float,
        idle_every: float,
    ) -> None:
        """`idle_every` is how often (seconds) each running instance is sampled over SSH."""
        super().__init__()
        self.account = account
        self.catalog = catalog
        self.region = region
        self.fleet_every = fleet_every
        self.idle_every = idle_every
        self._fleet_worker: Worker[None] | None = None
        self._fleet_timer: Timer | None = None
        self._idle_first_seen: dict[str, datetime] = {}  # instance id -> first seen idle
        self._scanned = Fleet("waiting")  # the last scan as AWS answered, before SSH's verdicts
        self._idle_watchers: dict[str, Worker[None]] = {}  # instance id -> its SSH idle watcher
        self._ssh_idle: dict[str, datetime] = {}  # instance id -> idle since, per its watcher

    def on_mount(self) -> None:
        # After the first frame, like the price refresh: the scan imports boto3.
        self.call_after_refresh(self.refresh_fleet)

    def fleet_home(self) -> str:
        """The region whose client lists the account's regions (called in the worker)."""
        return self.region

    def refresh_fleet(self) -> None:
        """Scan the user's instances now; the next scan is scheduled when this one ends."""
        if self.account.offline:
            self.fleet = Fleet("unavailable", message=self.account.why_not)
            return
        if self._fleet_worker is not None and not self._fleet_worker.is_finished:
            return  # the scan under way answers this request too: scans never overlap
        if self._fleet_timer is not None:
            self._fleet_timer.stop()
            self._fleet_timer = None
        self._fleet_worker = self.scan_fleet()

    @work(
        thread=True,
        exclusive=True,
        group="fleet",
        exit_on_error=False,
        description="scanning your instances",
    )
    def scan_fleet(self) -> None:
        worker = get_current_worker()
        if self.account.get() is None:
            self.post_message(FleetScanned(Fleet("unavailable", message=self.account.why_not)))
            return
        found = self.account.fleet(self.account.regions(self.fleet_home()), self.catalog)
        fleet = Fleet(
            "ok",
            instances=found.instances,
            at=self.account.now(),
            regions=found.regions,
            unreadable=found.unreadable,
        )
        if not worker.is_cancelled:
            self.post_message(FleetScanned(fleet))

    @on(FleetScanned)
    def _fleet_scanned(self, message: FleetScanned) -> None:
        self._show_scan(message.fleet)

    def _show_scan(self, fleet: Fleet) -> None:
        if fleet.status == "error" and self._scanned.at is not None:
            # Keep the last instances known, marked stale, rather than blanking the ticker,
            # however many scans fail in a row.
            fleet = Fleet(
                "error",
                instances=self._scanned.instances,
                at=self._scanned.at,
                regions=self._scanned.regions,
                message=fleet.message,
            )
        self._scanned = fleet
        if fleet.status == "ok":
            self._watch_running(fleet)
        self.fleet = self._with_ssh_idle(fleet)
        if fleet.status == "ok":
            self._notify_idle(self.fleet)

    @on(Worker.StateChanged)
    def _schedule_next_scan(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker is not self._fleet_worker or not worker.is_finished:
            return
        if self.fleet.status != "unavailable":
            # Scheduled only now, so scans never overlap.
            self._fleet_timer = self.set_timer(self.fleet_every, self.refresh_fleet)

    @on(WorkerFailed)
    def _watch_failed(self, message: WorkerFailed) -> None:
        worker = message.worker
        if worker is self._fleet_worker:
            self._show_scan(Fleet("error", message=message.text))
        elif worker.group == "idle-watch" and self._idle_watchers.get(worker.name) is worker:
            del self._idle_watchers[worker.name]  # the next scan starts a fresh one
            self._ssh_idle.pop(worker.name, None)

    def _notify_idle(self, fleet: Fleet) -> None:
        """One notification and one bell per idle episode; the episode ends when it works.

        The idle alarm and the SSH watcher may both call the same episode idle: one notice.
        """
        assert fleet.at is not None
        idle_now = {i.instance_id: i for i in fleet.instances if i.idle.startswith("idle")}
        for gone in set(self._idle_first_seen) - set(idle_now):
            del self._idle_first_seen[gone]
        for instance_id, inst in idle_now.items():
            if instance_id in self._idle_first_seen:
                continue
            self._idle_first_seen[instance_id] = fleet.at
            self.notify(
                idle_message(inst, self._ssh_idle_for(instance_id)),
                title="Idle instance",
                timeout=30,
            )
            self.bell()

    # -- idle over SSH: one watcher per running instance dlpick launched ---------------

    def _watch_running(self, fleet: Fleet) -> None:
        """Start watchers for newly running managed instances; stop those no longer running.

        Batch's hosts are left out: no SSH key of dlpick's opens them, and Batch stops them.
        """
        running = {
            i.instance_id: i
            for i in fleet.instances
            if i.managed and i.state == "running" and not i.batch_environment
        }
        if not self.account.settings.watch_idle_over_ssh:
            running = {}
        for instance_id in set(self._idle_watchers) - set(running):
            self._idle_watchers.pop(instance_id).cancel()
            self._ssh_idle.pop(instance_id, None)
        for instance_id, inst in running.items():
            if instance_id not in self._idle_watchers:
                self._idle_watchers[instance_id] = self.run_worker(
                    self.watch_idle(inst),
                    name=instance_id,
                    group="idle-watch",
                    exit_on_error=False,
                    description=f"watching {instance_id} for idleness",
                )

    async def watch_idle(self, inst: Instance) -> None:
        """Sample one instance's GPUs over SSH (CloudWatch CPU where SSH fails), forever."""
        import asyncio

        from dlpick.remote.fleet.idle import IdleTracker, IdleWatcher

        settings = self.account.settings
        cloudwatch = await asyncio.to_thread(self.account.cloudwatch, inst.region)
        watcher = IdleWatcher(
            instance_type=inst.instance_type,
            connect=self._ssh_connector(inst),
            cloudwatch=cloudwatch,
            instance_id=inst.instance_id,
            tracker=IdleTracker(
                threshold_percent=settings.idle_threshold_percent,
                window=timedelta(minutes=settings.idle_window_minutes),
            ),
            clock=self.account.now,
            interval=self.idle_every,
        )
        async for event in watcher.events():
            self.post_message(InstanceIdleChanged(inst.instance_id, event.kind, event.idle_since))

    def _ssh_connector(self, inst: Instance) -> Connect:
        """Connections to the instance, with the CLI's host-key rules; failures as SshError."""
        from dlpick.remote.ssh.target import TargetError
        from dlpick.tui.host_access import HostAccess

        access = HostAccess(
            inst.instance_id,
            inst.region,
            self.account.settings.profile,
            notify=lambda message: self.notify(message, title="Idle watch"),
        )

        async def connect() -> asyncssh.SSHClientConnection:
            try:
                return await access.connect()
            except TargetError as exc:  # not running, no public address: CPU stands in
                raise SshError(str(exc)) from None

        return connect

    @on(InstanceIdleChanged)
    def _instance_idle_changed(self, message: InstanceIdleChanged) -> None:
        if message.instance_id not in self._idle_watchers:
            return  # its watcher was stopped after the event was sent
        if message.kind == "idle":
            self._ssh_idle[message.instance_id] = message.idle_since
        else:
            self._ssh_idle.pop(message.instance_id, None)
        self.fleet = self._with_ssh_idle(self._scanned)
        if self.fleet.at is not None:
            self._notify_idle(self.fleet)

    def _ssh_idle_for(self, instance_id: str) -> timedelta | None:
        since = self._ssh_idle.get(instance_id)
        return None if since is None else max(timedelta(0), self.account.now() - since)

    def _with_ssh_idle(self, fleet: Fleet) -> Fleet:
        """The scan, with the instances SSH found idle marked `idle Nm`."""
        if not self._ssh_idle:
            return fleet
        instances = []
        for inst in fleet.instances:
            idle_for = self._ssh_idle_for(inst.instance_id)
            if idle_for is not None:
                inst = replace(inst, idle=f"idle {int(idle_for.total_seconds() // 60)}m")
            instances.append(inst)
        return replace(fleet, instances=tuple(instances))


def idle_message(inst: Instance, idle_for: timedelta | None = None) -> str:
    """What the idle notification says: type, region, idle for, money spent idle, keys.

    `idle_for` is known when the SSH watcher saw the episode begin; otherwise the
    idle alarm's window is the lower bound.
    """
    if idle_for is not None:
        minutes = int(idle_for.total_seconds() // 60)
        how_long = f"{minutes} min"
    else:
        # The idle alarm fires after its whole window below the threshold, and the
        # notice comes when the alarm is first seen: idle at least that window long.
        minutes = inst.idle_stop_minutes or 0
        how_long = f"at least {minutes} min" if minutes else "a while"
    if inst.usd_hour is None:
        spent = "cost unknown"
    elif idle_for is not None:
        spent = f"${inst.usd_hour * idle_for.total_seconds() / 3600:,.2f} spent idle"
    elif minutes:
        spent = f"${inst.usd_hour * minutes / 60:,.2f} spent idle"
    else:
        spent = f"${inst.usd_hour:,.2f}/h"
    return (
        f"{inst.instance_type} {inst.instance_id} in {inst.region} has been idle for "
        f"{how_long} ({spent}). Press i, then s to stop or t to terminate it."
    )
