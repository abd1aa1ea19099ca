"""The launch dialog's options: what each field means, checked with the CLI's parsers
and bounds into a LaunchRequest, and the one-line summary of the type and its price.
The fields themselves are in launch_fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rich.text import Text

from dlpick.core.errors import AwsError, InputError
from dlpick.core.inputs import parse_number
from dlpick.pricing.catalog import Offer
from dlpick.remote.launch.access import check_cidr, default_key_path
from dlpick.remote.launch.images import (
    DLAMI_NOT_FOUND,
    NO_DLAMI_FOR_FAMILY,
    NO_PYTORCH_DLAMI,
    check_image_id,
)
from dlpick.remote.launch.limits import (
    MAX_BUDGET_USD,
    MAX_HOURS,
    MAX_IDLE_STOP_MINUTES,
    MAX_VOLUME_GB,
    MIN_IDLE_STOP_MINUTES,
    MIN_VOLUME_GB,
)
from dlpick.remote.launch.model import DEFAULT_VOLUME_GB, LaunchRequest
from dlpick.tui.config import Settings
from dlpick.tui.formats import fmt_count, fmt_num

if TYPE_CHECKING:
    from dlpick.remote.launch.model import LaunchPlan, PlanRow

# Launch options the dialog offers: those of `dlpick launch`, and the AZ.
AMI_CHOICES = (("base (driver + CUDA)", "base"), ("PyTorch (newest)", "pytorch"))
MARKETS = (("on-demand", "on-demand"), ("spot (one-time)", "spot"))
OS_CHOICES = ("ubuntu-24.04", "ubuntu-22.04", "al2023")
DEFAULT_IDLE_MINUTES = 60
ANY_ZONE = ""  # the Zone choice that lets EC2 pick the AZ
NEW_KEY = ""  # the Key pair choice dlpick-REGION (made if missing)
# The SSH CIDR field's name in the errors and warnings the launch code words.
CIDR_FIELD = "SSH CIDR"
KEY_LABEL = "create dlpick-"  # + region: the key pair dlpick makes (or reuses)
# The fields' order: left column, right column, row by row.
LAYOUT = (
    "market",
    "ami",
    "zone",
    "os",
    "key",  # the whole row: key pair names are long
    "cidr",
    "volume",
    "name",
    "image",
    "idle",
    "hours",
    "budget",
    "max-price",
)
MAX_PRICE_TIPS = ("spot only: on-demand pays the list price", "empty: the spot price")


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
    key_name: str | None = None  # None: dlpick-REGION, made if missing
    volume_gb: int | None = None  # None: the CLI's default
    ssh_cidr: str | None = None  # None: the caller's IP /32
    budget: float | None = None
    max_price: float | None = None  # spot only
    zone: str | None = None  # None: any AZ


def parse_options(
    spot: bool,
    ami: str,
    os_name: str,
    name: str,
    idle: str,
    hours: str,
    image: str = "",
    more: Mapping[str, str] | None = None,
    usd_hour: float | None = None,
) -> Options:
    """Options from the dialog's fields, checked with the CLI's parsers and bounds;
    ValueError names the field that is wrong. `more` holds the other fields' texts by
    their LAYOUT key; `usd_hour` is the price a budget buys time at."""
    texts = {k: v.strip() for k, v in (more or {}).items()}
    key, zone = texts.get("key", NEW_KEY), texts.get("zone", ANY_ZONE)
    image = image.strip()
    if image:
        try:
            check_image_id(image)  # the check the CLI's --ami ami-... gets
        except InputError as exc:
            raise ValueError(f"{exc.message} ({exc.hint}; empty: the AMI and OS above)") from None

    # The same ranges the CLI's --idle-stop, --max-hours, --budget and --max-price accept.
    try:
        idle_minutes = _number(
            idle,
            "idle stop (minutes)",
            minimum=MIN_IDLE_STOP_MINUTES,
            maximum=MAX_IDLE_STOP_MINUTES,
            integer=True,
        )
        max_hours = _number(hours, "max hours", minimum=0, above=True, maximum=MAX_HOURS)
        budget = _number(
            texts.get("budget", ""), "budget (USD)", minimum=0, above=True, maximum=MAX_BUDGET_USD
        )
        if budget is not None and not usd_hour:
            raise InputError("budget (USD) needs a known hourly price for this type")
        cap = _number(
            texts.get("max-price", "") if spot else "", "max price ($/h)", minimum=0, above=True
        )
    except InputError as exc:
        raise ValueError(f"{exc.message} (empty: none)") from None
    try:
        volume = _number(
            texts.get("volume", ""),
            "volume (GB)",
            minimum=MIN_VOLUME_GB,
            maximum=MAX_VOLUME_GB,
            integer=True,
        )
    except InputError as exc:
        raise ValueError(f"{exc.message} (empty: {DEFAULT_VOLUME_GB})") from None
    try:
        cidr = texts.get("cidr", "")
        ssh_cidr = check_cidr(cidr, CIDR_FIELD) if cidr else None
    except InputError as exc:
        raise ValueError(f"{exc.message} (empty: your IP)") from None
    if key and not default_key_path(key).exists():
        raise ValueError(
            f"key pair {key}: no private key at {default_key_path(key)} "
            f"(pick one whose key is there, or the first choice)"
        )
    return Options(
        spot,
        ami,
        os_name,
        name.strip(),
        None if idle_minutes is None else int(idle_minutes),
        max_hours,
        image,
        key_name=key or None,
        volume_gb=None if volume is None else int(volume),
        ssh_cidr=ssh_cidr,
        budget=budget,
        max_price=cap,
        zone=zone or None,
    )


def _number(text: str, what: str, **bounds: Any) -> float | None:
    """A number typed in a field, checked as the CLI checks its flag; None when empty."""
    return parse_number(text.strip(), what, **bounds) if text.strip() else None


def offer_price(offer: Offer, spot: bool) -> tuple[float | None, str]:
    """The hourly price the table shows for this offer, and where it came from."""
    if spot:
        # EC2 picks the AZ, so this is the lowest the spot price can be right now.
        return offer.spot_usd_hour, f"{offer.spot_source} {offer.spot_as_of[:10]}, cheapest AZ"
    return offer.on_demand_usd_hour, f"{offer.price_source} {offer.price_as_of[:10]}"


def launch_request(offer: Offer, options: Options, settings: Settings) -> LaunchRequest:
    """The LaunchRequest the options ask for, with the settings the dialog does not show."""
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
        key_name=options.key_name,
        volume_gb=options.volume_gb or DEFAULT_VOLUME_GB,
        ssh_cidr=options.ssh_cidr,
        budget=options.budget,
        max_price=options.max_price if options.spot else None,
        availability_zone=options.zone,
    )


# The CLI's flags in the launch code's messages, and the dialog's words for them;
# longer ones first, so a flag with its argument goes before the bare flag.
FLAG_WORDS = (
    ("pass --key-name/--key-file, or", "pick another Key pair, or"),
    ("pass --key-file PATH", "pick another Key pair"),
    ("leave out --key-name", "pick another Key pair"),
    ("pass --ssh-cidr x.x.x.x/32", "give SSH CIDR x.x.x.x/32"),
    ("pass --ssh-cidr", "give an SSH CIDR"),
    ("--max-price", "Max price"),
    ("--max-hours", "Max hours"),
    ("--budget", "Budget"),
)


def dialog_words(text: str) -> str:
    """A launch message that names the CLI's flags, with the dialog's fields instead."""
    for flag, words in FLAG_WORDS:
        text = text.replace(flag, words)
    return text


# The plan's idle-guard row in the dialog's words, not the CLI's flag.
IDLE_WORDS = ("clear Idle stop", "none (Idle stop is empty)")


def dialog_rows(plan: LaunchPlan) -> list[PlanRow]:
    """The plan's rows in the dialog's words: its fields where the CLI names flags."""
    rows = plan.rows(*IDLE_WORDS, cidr_field=CIDR_FIELD)
    return [replace(row, value=dialog_words(row.value)) for row in rows]


def in_dialog_terms(error: AwsError) -> AwsError:
    """A launch error whose hint or reason names CLI flags, told with the dialog's fields."""
    # What to change when no image is found (the errors carry the CLI's flags).
    hint = {
        NO_DLAMI_FOR_FAMILY: "give an AMI id in Image id",
        NO_PYTORCH_DLAMI: f"pick AMI '{AMI_CHOICES[0][0]}'",
        DLAMI_NOT_FOUND: "pick another OS or AMI, or give an AMI id in Image id",
    }.get(error.code, dialog_words(error.hint))
    reason = dialog_words(error.reason)
    if hint == error.hint and reason == error.reason:
        return error
    return AwsError(reason, operation=error.operation, hint=hint, code=error.code)


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
