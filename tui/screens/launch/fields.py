"""The launch dialog's fields, two columns of label and field, and the choices found
in AWS for them: the AZs that offer the type and the region's key pairs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.containers import Grid
from textual.message import Message
from textual.widgets import Input, Label, Select

from dlpick.core.errors import AwsError
from dlpick.pricing.catalog import Offer
from dlpick.remote.launch.model import DEFAULT_VOLUME_GB
from dlpick.tui.screens.launch.form import (
    AMI_CHOICES,
    ANY_ZONE,
    CIDR_FIELD,
    DEFAULT_IDLE_MINUTES,
    KEY_LABEL,
    LAYOUT,
    MARKETS,
    MAX_PRICE_TIPS,
    NEW_KEY,
    OS_CHOICES,
    Options,
    offer_price,
    parse_options,
)

if TYPE_CHECKING:
    from dlpick.tui.account import AwsAccess


class ChoicesFound(Message):
    """The AZs that offer the type and the region's key pairs."""

    def __init__(self, zones: list[str], keys: list[str]) -> None:
        super().__init__()
        self.zones = zones
        self.keys = keys


class LaunchOptions(Grid):
    """The option fields, two columns of label and field; `read()` checks them."""

    def __init__(self, offer: Offer, *, spot: bool) -> None:
        super().__init__(id="launch-options")
        self.offer = offer
        self.initial_spot = spot

    def find_choices(self, account: AwsAccess) -> None:
        """Offer the AZs and key pairs AWS has; until then (or without access) any AZ
        and dlpick's own key pair, and the plan says what is wrong with AWS access."""
        self._find_choices(account, self.offer.region, self.offer.instance_type)

    @work(thread=True, exclusive=True, group="launch-choices", exit_on_error=False)
    def _find_choices(self, account: AwsAccess, region: str, instance_type: str) -> None:
        try:
            zones, keys = account.launch_choices(region, instance_type)
        except AwsError:
            return
        self.post_message(ChoicesFound(zones, keys))

    def on_choices_found(self, message: ChoicesFound) -> None:
        self.offer_choices(message.zones, message.keys)

    def compose(self) -> ComposeResult:
        region = self.offer.region
        # (label, field id, value, placeholder, tooltip) of the typed fields.
        typed = {
            "name": ("Name", "launch-name", "", f"dlpick-{self.offer.instance_type}", ""),
            "image": (
                "Image id",
                "launch-image",
                "",
                "the AMI above",
                "boot this AMI (ami-...) instead of the AMI and OS chosen",
            ),
            "cidr": (
                CIDR_FIELD,
                "launch-cidr",
                "",
                "your IP /32",
                "who may SSH in; empty: your public IP /32",
            ),
            "volume": (
                "Volume, GB",
                "launch-volume",
                str(DEFAULT_VOLUME_GB),
                str(DEFAULT_VOLUME_GB),
                "root volume size (at least the image's own size)",
            ),
            "max-price": ("Max price, $/h", "launch-max-price", "", "", ""),
            "idle": (
                "Idle stop, min",
                "launch-idle",
                str(DEFAULT_IDLE_MINUTES),
                "off",
                "stop after this long idle (CloudWatch alarm); empty: never",
            ),
            "hours": (
                "Max hours",
                "launch-hours",
                "",
                "no limit",
                "the instance stops itself after this many hours",
            ),
            "budget": (
                "Budget, USD",
                "launch-budget",
                "",
                "no limit",
                "the instance stops itself when this much is spent",
            ),
        }
        selects = {
            "market": (
                "Market",
                "launch-market",
                list(MARKETS),
                "spot" if self.initial_spot else "on-demand",
            ),
            "ami": ("AMI", "launch-ami", list(AMI_CHOICES), "base"),
            "zone": ("Zone", "launch-zone", [("any", ANY_ZONE)], ANY_ZONE),
            "os": ("OS", "launch-os", [(o, o) for o in OS_CHOICES], OS_CHOICES[0]),
            "key": ("Key pair", "launch-key", [(f"{KEY_LABEL}{region}", NEW_KEY)], NEW_KEY),
        }
        # Two columns: left, right, left, right...
        for key in LAYOUT:
            if key in selects:
                label, select_id, choices, value = selects[key]
                yield Label(label)
                yield Select(choices, value=value, allow_blank=False, id=select_id, compact=True)
            else:
                label, field_id, value, placeholder, tooltip = typed[key]
                yield Label(label)
                yield Input(
                    value,
                    placeholder=placeholder,
                    id=field_id,
                    compact=True,
                    tooltip=tooltip or None,
                )

    def on_mount(self) -> None:
        self.market_changed()

    def market_changed(self) -> None:
        """Max price applies to spot only: off, and saying so, for on-demand."""
        field = self.query_one("#launch-max-price", Input)
        field.disabled = not self.spot
        field.placeholder = "spot only" if not self.spot else "spot price"
        field.tooltip = MAX_PRICE_TIPS[1 if self.spot else 0]

    def offer_choices(self, zones: list[str], keys: list[str]) -> None:
        """The AZs that offer the type and the region's key pairs, as found in AWS."""
        region = self.offer.region
        self.query_one("#launch-zone", Select).set_options(
            [("any", ANY_ZONE), *((z, z) for z in zones)]
        )
        made = f"dlpick-{region}"
        first = made if made in keys else f"{KEY_LABEL}{region}"
        self.query_one("#launch-key", Select).set_options(
            [(first, NEW_KEY), *((k, k) for k in keys if k != made)]
        )

    @property
    def spot(self) -> bool:
        return self.query_one("#launch-market", Select).value == "spot"

    def _text(self, field_id: str) -> str:
        return self.query_one(f"#{field_id}", Input).value

    def _choice(self, select_id: str) -> str:
        value = self.query_one(f"#{select_id}", Select).value
        return value if isinstance(value, str) else ""

    def read(self) -> Options:
        """The options as filled in; ValueError names the field that is wrong."""
        spot = self.spot
        more = {
            key: self._choice(f"launch-{key}")
            if key in ("key", "zone")
            else self._text(f"launch-{key}")
            for key in ("key", "zone", "volume", "cidr", "budget", "max-price")
        }
        return parse_options(
            spot,
            self._choice("launch-ami"),
            self._choice("launch-os"),
            self._text("launch-name"),
            self._text("launch-idle"),
            self._text("launch-hours"),
            self._text("launch-image"),
            more,
            offer_price(self.offer, spot)[0],
        )

    def enable(self, enabled: bool) -> None:
        for widget in self.children:
            widget.disabled = not enabled
        if enabled:
            self.market_changed()
