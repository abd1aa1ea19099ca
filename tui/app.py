"""The `dlpick` terminal app: browse what GPU compute costs, compare, decide.

`build_app()` is what `dlpick` runs; tests build `DlpickApp` directly with their
own catalog, clock and live price source.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from dlpick.pricing.cache import PriceCache
from dlpick.pricing.catalog import Catalog
from dlpick.tui.config import Settings
from dlpick.tui.screens.help import HelpScreen
from dlpick.tui.screens.prices import LiveFactory, PriceSource, PricesScreen


def live_catalogs(profile: str | None, cache: PriceCache) -> LiveFactory:
    """A factory for the refresh worker: a live Catalog, or None without credentials."""

    def make(warn: Callable[[str], None]) -> PriceSource | None:
        from dlpick.pricing.aws import Aws

        aws = Aws(profile=profile)
        if not aws.has_credentials():
            return None
        return Catalog(cache=cache, aws=aws, warn=warn)

    return make


def _bindings(bindings: Sequence[BindingType]) -> list[Binding]:
    return [b for b in bindings if isinstance(b, Binding) and b.description]


class ScreenCommands(Provider):
    """The price table's key actions, in the command palette."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        screen = self.screen
        app = self.app
        found: list[tuple[str, str, Callable[[], object]]] = []
        if isinstance(screen, PricesScreen):
            for binding in _bindings(PricesScreen.BINDINGS):
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


class DlpickApp(App[None]):
    """Price table, filters, region picker, detail pane and help."""

    CSS_PATH = "app.tcss"
    TITLE = "dlpick"
    COMMANDS = App.COMMANDS | {ScreenCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", key_display="?", tooltip="every key, explained"),
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
    ) -> None:
        """`catalog` must be offline (aws=None): it paints the first frame.

        `live` makes the live price source inside the refresh worker; None is offline.
        """
        super().__init__()
        self.prices = PricesScreen(
            catalog,
            region=region,
            live=live,
            clock=clock,
            refresh_every=refresh_every,
            notes=notes,
        )

    def get_default_screen(self) -> Screen[None]:
        return self.prices

    def action_help(self) -> None:
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
                    ("Everywhere", rows(self.BINDINGS) + extra),
                ]
            )
        )


def build_app(settings: Settings, region: str) -> DlpickApp:
    """The app as `dlpick` runs it: cached or bundled prices first, live ones after."""
    notes: list[str] = []
    cache = PriceCache(warn=notes.append)
    catalog = Catalog(cache=cache, aws=None, warn=notes.append)
    live = None if settings.offline else live_catalogs(settings.profile, cache)
    return DlpickApp(catalog, region=region, live=live, notes=notes)
