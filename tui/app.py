"""The `dlpick` terminal app: browse what GPU compute costs, compare, decide.

`build_app()` is what `dlpick` runs; tests build `DlpickApp` directly with their
own catalog, clock and live price source.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from dlpick.core.aws import Aws
from dlpick.core.cache import PriceCache
from dlpick.pricing.catalog import Catalog
from dlpick.tui.account import AwsAccess, connect_with
from dlpick.tui.config import Settings
from dlpick.tui.fleet_watch import FleetWatchingApp
from dlpick.tui.screens.prices import PricesScreen
from dlpick.tui.widgets.live_prices import LiveFactory, PriceSource
from dlpick.tui.worker_errors import worker_record


def live_catalogs(profile: str | None, cache: PriceCache) -> LiveFactory:
    """A factory for the refresh worker: a live Catalog, or the AwsError saying why
    AWS cannot be used (no credentials, a profile that is not there)."""

    def make(warn: Callable[[str], None]) -> PriceSource:
        aws = Aws(profile=profile).require_credentials()
        return Catalog(cache=cache, aws=aws, warn=warn)

    return make


def _on_instances(screen: Screen[object]) -> bool:
    """Whether `screen` is the instances screen.

    That screen's module is imported when it is first opened, not before the first
    frame; until then no screen can be one.
    """
    module = sys.modules.get("dlpick.tui.screens.instances")
    return module is not None and isinstance(screen, module.InstancesScreen)


def _bindings(bindings: Sequence[BindingType]) -> list[Binding]:
    return [b for b in bindings if isinstance(b, Binding) and b.description]


class ScreenCommands(Provider):
    """The price table's key actions, in the command palette."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        screen = self.screen
        app = self.app
        found: list[tuple[str, str, Callable[[], object]]] = []
        if isinstance(screen, PricesScreen) or _on_instances(screen):
            for binding in _bindings(type(screen).BINDINGS):
                found.append(
                    (
                        binding.description,
                        binding.tooltip,
                        partial(screen.run_action, binding.action),
                    )
                )
        for binding in _bindings(DlpickApp.BINDINGS):
            found.append(
                (binding.description, binding.tooltip, partial(app.run_action, binding.action))
            )
        return found

    async def discover(self) -> Hits:
        for title, help_text, command in self._commands():
            yield DiscoveryHit(title, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, command in self._commands():
            score = matcher.match(f"{title} {help_text}")
            if score > 0:
                yield Hit(score, matcher.highlight(title), command, text=title, help=help_text)


class DlpickApp(FleetWatchingApp):
    """Price table, filters, region picker, detail pane, help, launch and instances."""

    CSS_PATH = "app.tcss"
    TITLE = "dlpick"
    COMMANDS = App.COMMANDS | {ScreenCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", key_display="?", tooltip="every key, explained"),
        Binding(
            "i",
            "instances",
            "Instances",
            tooltip="your instances: cost so far, idle state, stop or terminate",
        ),
        Binding("o", "open_runs", "Runs", tooltip="runs on a host: follow logs, start, ports"),
        # Out of the footer, so the price table's keys still fit 80 columns.
        Binding(
            "b",
            "batch_jobs",
            "Batch jobs",
            show=False,
            tooltip="your Batch jobs: state, cost, follow a log, cancel",
        ),
        # Ctrl-C quits, as in any terminal program, even in a text field or a dialog.
        Binding("ctrl+c", "quit", show=False, priority=True),
    ]

    def __init__(
        self,
        catalog: Catalog,
        *,
        region: str,
        live: LiveFactory | None = None,
        clock: Callable[[], float] = time.time,
        refresh_every: float = 60.0,
        notes: list[str] | None = None,
        account: AwsAccess | None = None,
        fleet_every: float = 60.0,
        idle_every: float = 60.0,
    ) -> None:
        """`catalog` must be offline (aws=None): it paints the first frame.

        `live` makes the live price source inside the refresh worker; None is offline.
        `account` reaches AWS (in workers) for quotas, launching and the instances;
        None means no AWS at all. `idle_every` is how often (seconds) each running
        instance is sampled for idleness over SSH, when the settings allow it.
        """
        account = account or AwsAccess(None, clock=clock)
        super().__init__(
            account, catalog, region=region, fleet_every=fleet_every, idle_every=idle_every
        )
        self.clock = clock
        self.prices = PricesScreen(
            catalog,
            region=region,
            live=live,
            clock=clock,
            refresh_every=refresh_every,
            notes=notes,
            account=account,
        )

    def on_ready(self) -> None:
        # The first frame is drawn: the garbage collector that `dlpick` paused for
        # start-up (app_process.open_app) may run again.
        gc.enable()

    def fleet_home(self) -> str:
        view = self.prices.view
        return self.region if view.all_regions else view.region

    async def action_quit(self) -> None:
        # Workers are cancelled on the way out, never waited for; a bug seen in one
        # makes the exit status say so.
        self.exit(return_code=worker_record(self).exit_code)

    def get_default_screen(self) -> Screen[None]:
        return self.prices

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # No "Instances" key in the footer of the instances screen itself.
        if action == "instances" and _on_instances(self.screen):
            return False
        return True

    def action_instances(self) -> None:
        from dlpick.tui.screens.instances import InstancesScreen

        if not _on_instances(self.screen):
            self.push_screen(
                InstancesScreen(
                    self.account, region=self.fleet_home(), all_regions=self.prices.view.all_regions
                )
            )

    def action_batch_jobs(self) -> None:
        from dlpick.tui.screens.jobs import JobsScreen

        if not isinstance(self.screen, JobsScreen):
            self.push_screen(JobsScreen(self.account, self.catalog, region=self.fleet_home()))

    def action_open_runs(self) -> None:
        from dlpick.tui.screens.runs import ask_for_runs

        region = self.prices.view.region
        ask_for_runs(self, None if region == "all" else region)

    def action_help(self) -> None:
        from dlpick.tui.screens.help import HelpScreen
        from dlpick.tui.screens.instances import InstancesScreen
        from dlpick.tui.screens.jobs import JobsScreen

        if isinstance(self.screen, HelpScreen):
            return

        def rows(bindings: Sequence[BindingType]) -> list[tuple[str, str]]:
            return [
                (self.get_key_display(b), f"{b.description}: {b.tooltip}")
                for b in _bindings(bindings)
            ]

        extra = [("^p", "Commands: search and run any of these"), ("tab", "Move focus")]
        self.push_screen(
            HelpScreen(
                [
                    ("Price table", rows(PricesScreen.BINDINGS)),
                    ("Instances", rows(InstancesScreen.BINDINGS)),
                    ("Batch jobs", rows(JobsScreen.BINDINGS)),
                    ("Everywhere", rows(self.BINDINGS) + extra),
                ]
            )
        )


def build_app(settings: Settings, region: str) -> DlpickApp:
    """The app as `dlpick` runs it: cached or bundled prices first, live ones after."""
    notes: list[str] = []
    # A cache that cannot be used says so once (a note) and prices show without it.
    cache = PriceCache(warn=notes.append)
    catalog = Catalog(cache=cache, aws=None, warn=notes.append, profile=settings.profile)
    live = None if settings.offline else live_catalogs(settings.profile, cache)
    account = AwsAccess(
        None if settings.offline else connect_with(settings.profile), settings=settings
    )
    return DlpickApp(catalog, region=region, live=live, notes=notes, account=account)
