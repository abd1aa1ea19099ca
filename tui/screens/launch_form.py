"""The launch dialog's form: the options a launch takes, read and checked into a
LaunchRequest, and the one-line summary of the instance type and its price.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Input, Label, Select

from dlpick.pricing.catalog import Offer
from dlpick.tui.config import Settings
from dlpick.tui.output import fmt_count, fmt_num

if TYPE_CHECKING:
    from dlpick.pricing.errors import AwsError
    from dlpick.remote.launch import LaunchRequest

# Launch options the dialog offers; the CLI has more (key pair, volume, CIDR, budget).
AMI_CHOICES = (("base (driver + CUDA)", "base"), ("PyTorch (newest)", "pytorch"))
MARKETS = (("on-demand", "on-demand"), ("spot (one-time)", "spot"))
OS_CHOICES = ("ubuntu-24.04", "ubuntu-22.04", "al2023")
DEFAULT_IDLE_MINUTES = 60


@dataclass(frozen=True)
class Options:
    """What the user chose in the dialog."""

    spot: bool
    ami: str
    os: str
    name: str
    idle_minutes: int | None  # None: no idle alarm
    max_hours: float | None
    image_id: str = ""  # an AMI id to boot instead of the AMI and OS chosen ("" none)


def parse_options(
    spot: bool, ami: str, os_name: str, name: str, idle: str, hours: str, image: str = ""
) -> Options:
    """Options from the dialog's fields; ValueError names the field that is wrong."""
    from dlpick.pricing.errors import InputError
    from dlpick.pricing.inputs import parse_number
    from dlpick.remote.images import check_image_id
    from dlpick.remote.limits import MAX_HOURS, MAX_IDLE_STOP_MINUTES, MIN_IDLE_STOP_MINUTES

    image = image.strip()
    if image:
        try:
            check_image_id(image)  # the check the CLI's --ami ami-... gets
        except InputError as exc:
            raise ValueError(f"{exc.message} ({exc.hint}; empty: the AMI and OS above)") from None

    # The same ranges the CLI's --idle-stop and --max-hours accept.
    idle_minutes: int | None = None
    max_hours: float | None = None
    try:
        if idle.strip():
            idle_minutes = int(
                parse_number(
                    idle.strip(),
                    "idle stop (minutes)",
                    minimum=MIN_IDLE_STOP_MINUTES,
                    maximum=MAX_IDLE_STOP_MINUTES,
                    integer=True,
                )
            )
        if hours.strip():
            max_hours = parse_number(
                hours.strip(), "max hours", minimum=0, above=True, maximum=MAX_HOURS
            )
    except InputError as exc:
        raise ValueError(f"{exc.message} (empty: none)") from None
    return Options(spot, ami, os_name, name.strip(), idle_minutes, max_hours, image)


def offer_price(offer: Offer, spot: bool) -> tuple[float | None, str]:
    """The hourly price the table shows for this offer, and where it came from."""
    if spot:
        # EC2 picks the AZ, so this is the lowest the spot price can be right now.
        return offer.spot_usd_hour, f"{offer.spot_source} {offer.spot_as_of[:10]}, cheapest AZ"
    return offer.on_demand_usd_hour, f"{offer.price_source} {offer.price_as_of[:10]}"


def launch_request(offer: Offer, options: Options, settings: Settings) -> LaunchRequest:
    """The LaunchRequest the options ask for, with the settings the dialog does not show."""
    from dlpick.remote.launch import LaunchRequest

    return LaunchRequest(
        instance_type=offer.instance_type,
        region=offer.region,
        spot=options.spot,
        # The same field the CLI's --ami fills: an AMI id skips the DLAMI lookup.
        ami=options.image_id or options.ami,
        os=options.os,
        name=options.name or None,
        checkip_url=settings.checkip_url,
        idle_stop_minutes=options.idle_minutes,
        idle_threshold_percent=settings.idle_threshold_percent,
        max_hours=options.max_hours,
    )


def in_dialog_terms(error: AwsError) -> AwsError:
    """A launch error whose hint names CLI flags, told with the dialog's field names."""
    from dlpick.pricing.errors import AwsError
    from dlpick.remote.images import DLAMI_NOT_FOUND, NO_DLAMI_FOR_FAMILY, NO_PYTORCH_DLAMI

    # What to change when no image is found (the errors carry the CLI's flags).
    hint = {
        NO_DLAMI_FOR_FAMILY: "give an AMI id in Image id",
        NO_PYTORCH_DLAMI: f"pick AMI '{AMI_CHOICES[0][0]}'",
        DLAMI_NOT_FOUND: "pick another OS or AMI, or give an AMI id in Image id",
    }.get(error.code)
    if hint is None:
        return error
    return AwsError(error.reason, operation=error.operation, hint=hint, code=error.code)


def summary_text(offer: Offer, spot: bool) -> Text:
    """'1× L4, 22 GiB · 4 vCPU · 16 GiB RAM · $0.8048/h on-demand'."""
    spec = offer.spec
    usd, _ = offer_price(offer, spot)
    price = Text(f"${usd:.4f}/h" if usd is not None else "price unknown", style="bold")
    return Text.assemble(
        f"{fmt_count(spec.accelerator_count)}× {offer.gpu_model}, "
        f"{fmt_num(spec.accelerator_memory_gib, 0)} GiB · {spec.vcpus} vCPU · "
        f"{fmt_num(spec.memory_gib, 0)} GiB RAM · ",
        price,
        " spot" if spot else " on-demand",
    )


class LaunchOptions(Grid):
    """The option fields, two columns of label and field; `read()` checks them."""

    def __init__(self, instance_type: str, *, spot: bool) -> None:
        super().__init__(id="launch-options")
        self.instance_type = instance_type
        self.initial_spot = spot

    def compose(self) -> ComposeResult:
        yield Label("Market")
        yield Select(
            MARKETS,
            value="spot" if self.initial_spot else "on-demand",
            allow_blank=False,
            id="launch-market",
            compact=True,
        )
        yield Label("AMI")
        yield Select(AMI_CHOICES, value="base", allow_blank=False, id="launch-ami", compact=True)
        yield Label("OS")
        yield Select(
            [(o, o) for o in OS_CHOICES],
            value=OS_CHOICES[0],
            allow_blank=False,
            id="launch-os",
            compact=True,
        )
        # (label, field id, value, placeholder, tooltip) of the typed fields.
        fields = (
            ("Name", "launch-name", "", f"dlpick-{self.instance_type}", ""),
            (
                "Idle stop, min",
                "launch-idle",
                str(DEFAULT_IDLE_MINUTES),
                "off",
                "stop after this long idle (CloudWatch alarm); empty: never",
            ),
            (
                "Max hours",
                "launch-hours",
                "",
                "no limit",
                "the instance stops itself after this many hours",
            ),
            (
                "Image id",
                "launch-image",
                "",
                "the AMI above",
                "boot this AMI (ami-...) instead of the AMI and OS chosen",
            ),
        )
        for label, field_id, value, placeholder, tooltip in fields:
            yield Label(label)
            yield Input(
                value,
                placeholder=placeholder,
                id=field_id,
                compact=True,
                tooltip=tooltip or None,
            )

    @property
    def spot(self) -> bool:
        return self.query_one("#launch-market", Select).value == "spot"

    def read(self) -> Options:
        """The options as filled in; ValueError names the field that is wrong."""
        return parse_options(
            self.spot,
            str(self.query_one("#launch-ami", Select).value),
            str(self.query_one("#launch-os", Select).value),
            self.query_one("#launch-name", Input).value,
            self.query_one("#launch-idle", Input).value,
            self.query_one("#launch-hours", Input).value,
            self.query_one("#launch-image", Input).value,
        )

    def enable(self, enabled: bool) -> None:
        for widget in self.children:
            widget.disabled = not enabled
