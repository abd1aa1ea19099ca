"""`dlpick capacity-blocks`: Capacity Blocks for ML on offer, priced next to on-demand,
and buying one; plus what a launch's plan says about capacity (its Capacity Block,
the spot placement score)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dlpick.core.errors import AwsError, InputError
from dlpick.core.regions import enabled_regions
from dlpick.tui.cli.common import (
    Parser,
    add_global_options,
    aws_for,
    confirm,
    instance_type_arg,
    number_arg,
    region_for,
)
from dlpick.tui.cli.output import Col
from dlpick.tui.config import Settings

if TYPE_CHECKING:
    from dlpick.core.aws import Aws
    from dlpick.pricing.catalog import Offer
    from dlpick.remote.launch.capacity_blocks import BlockOffering
    from dlpick.remote.launch.model import LaunchPlan

# `dlpick capacity-blocks --output json|csv` fields, money per hour per instance.
FIELDS = (
    "offering_id",
    "instance_type",
    "availability_zone",
    "start",
    "end",
    "hours",
    "instance_count",
    "upfront_fee",
    "currency",
    "usd_hour",
    "usd_per_fp32_tflop_hour",
    "on_demand_usd_hour",
    "on_demand_usd_per_fp32_tflop_hour",
)
COLUMNS = (
    Col("Offering", 100),
    Col("AZ", 95),
    Col("Start (UTC)", 90, short="Start"),
    Col("End (UTC)", 60, short="End"),
    Col("Hours", 40, right=True, short="h"),
    Col("Fee", 88, right=True),
    Col("$/h", 87, right=True),
    Col("$/TF·h", 80, right=True),
    Col("On-demand $/h", 86, right=True, short="OD $/h"),
    Col("OD $/TF·h", 79, right=True),
)


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the capacity-blocks subcommand to the top-level parser."""
    from dlpick.remote.launch import capacity_blocks as cb
    from dlpick.remote.launch.capacity_blocks import MAX_DAYS

    blocks = sub.add_parser(
        "capacity-blocks",
        help="Capacity Blocks for ML on offer for a type, and buying one",
        description=(
            "List EC2 Capacity Blocks for ML on offer for TYPE: where, when, the upfront fee, "
            "and its effective price per hour and per FP32 TFLOP-hour next to on-demand. "
            "--buy OFFERING_ID buys one after a confirmation that names the fee."
        ),
    )
    blocks.add_argument(
        "instance_type", metavar="TYPE", type=instance_type_arg(), help="e.g. p5.48xlarge"
    )
    add_global_options(
        blocks, region_help="region (default: your configured one)", needs_aws="always", lists=True
    )
    blocks.add_argument(
        "--count",
        type=number_arg("--count", minimum=1, maximum=64, integer=True),
        default=1,
        help="instances in the block (default 1)",
    )
    days = number_arg("--days", minimum=1, maximum=MAX_DAYS, integer=True)
    blocks.add_argument(
        "--days",
        type=lambda text: cb.check_days(int(days(text))),
        default=1,
        help=f"how long, in days: 1 to 14, or a multiple of 7 up to {MAX_DAYS} (default 1)",
    )
    blocks.add_argument(
        "--start-after",
        type=start_date,
        metavar="DATE",
        help="earliest start, YYYY-MM-DD (UTC; default now)",
    )
    blocks.add_argument(
        "--buy",
        type=cb.check_offering_id,
        metavar="OFFERING_ID",
        help="buy this offering (asks first; the fee is upfront)",
    )
    blocks.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    blocks.set_defaults(handler=cmd_capacity_blocks)


def start_date(text: str) -> datetime:
    """--start-after's date (UTC midnight), today or later; InputError naming the flag."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise InputError(f"--start-after {text!r}: expected a date as YYYY-MM-DD") from None
    today = datetime.now(UTC).date()
    if day.date() < today:
        raise InputError(
            f"--start-after {text} is in the past",
            hint=f"give {today.isoformat()} (today, UTC) or later, or leave it out for now",
        )
    return day


def _offer(aws: Aws, region: str, instance_type: str) -> Offer | None:
    """The type's on-demand price and TFLOPs, through the price catalog."""
    from dlpick.core.cache import PriceCache
    from dlpick.pricing.catalog import Catalog

    catalog = Catalog(cache=PriceCache(), aws=aws)
    return next((o for o in catalog.offers(region) if o.instance_type == instance_type), None)


def _per_tf(usd: float | None, tflops: float | None) -> float | None:
    return None if usd is None or not tflops else usd / tflops


def record(offering: BlockOffering, offer: Offer | None) -> dict[str, Any]:
    """One offering as JSON and CSV print it, with the on-demand figures beside it."""
    tflops = offer.fp32_tflops if offer else None
    od = offer.on_demand_usd_hour if offer else None
    return {
        **offering.to_json(),
        "usd_hour": offering.usd_hour,
        "usd_per_fp32_tflop_hour": _per_tf(offering.usd_hour, tflops),
        "on_demand_usd_hour": od,
        "on_demand_usd_per_fp32_tflop_hour": _per_tf(od, tflops),
    }


def _money(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"${value:,.{digits}f}"


def fee_text(offering: BlockOffering) -> str:
    fee = f"{offering.upfront_fee:,.2f} {offering.currency}"
    return f"${fee[:-4]}" if offering.currency == "USD" else fee


def cmd_capacity_blocks(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.core.cache import PriceCache
    from dlpick.remote.launch import capacity_blocks as cb

    region = region_for(args.region, settings)
    after: datetime | None = args.start_after
    aws = aws_for(settings)
    found = cb.offerings(
        aws,
        region,
        args.instance_type,
        count=args.count,
        days=args.days,
        start_after=after,
        cache=None if args.buy else PriceCache(),  # buy from a fresh answer, never a cached one
    )
    if args.buy:
        return _buy(aws, region, args, found)
    offer = _offer(aws, region, args.instance_type)
    records = [record(o, offer) for o in found]
    if args.format in ("json", "csv"):
        from dlpick.tui.cli import output

        if args.format == "json":
            print(output.to_json(records))
        else:
            sys.stdout.write(output.to_csv(records, FIELDS))
        return 0
    from dlpick.tui.cli.output import print_table

    rows = [
        [
            r["offering_id"],
            r["availability_zone"],
            r["start"][:16].replace("T", " "),
            r["end"][:16].replace("T", " "),
            str(r["hours"]),
            fee_text(o),
            _money(r["usd_hour"], 4),
            _money(r["usd_per_fp32_tflop_hour"], 4),
            _money(r["on_demand_usd_hour"], 4),
            _money(r["on_demand_usd_per_fp32_tflop_hour"], 4),
        ]
        for o, r in zip(found, records, strict=True)
    ]
    each = "" if args.count == 1 else f" × {args.count}"
    title = (
        f"Capacity Blocks for {args.instance_type}{each}, {args.days} day(s), in {region}"
        " ($/h per instance)"
    )
    if not rows:
        print(f"no Capacity Blocks on offer for {args.instance_type}{each} in {region}")
        return 0
    print_table(COLUMNS, rows, title=title)
    print(
        f"buy one: dlpick capacity-blocks {args.instance_type} --count {args.count} "
        f"--days {args.days} --region {region} --buy OFFERING_ID"
    )
    return 0


def _buy(aws: Aws, region: str, args: argparse.Namespace, found: list[BlockOffering]) -> int:
    from dlpick.remote.launch import capacity_blocks as cb

    offering = next((o for o in found if o.offering_id == args.buy), None)
    if offering is None:
        raise InputError(
            f"no offering {args.buy} for {args.instance_type} in {region} "
            f"with --count {args.count} --days {args.days}",
            hint=f"list them: dlpick capacity-blocks {args.instance_type} --region {region}",
        )
    question = (
        f"Buy Capacity Block {offering.offering_id}: {offering.instance_count}× "
        f"{offering.instance_type} in {offering.availability_zone}, {offering.start} to "
        f"{offering.end}, for an upfront fee of {fee_text(offering)}?"
    )
    if not confirm(question, args.yes):
        print("not bought", file=sys.stderr)
        return 1
    block = cb.purchase(aws, region, offering)
    print(f"bought {block.reservation_id} ({block.state}) in {block.availability_zone}")
    print(
        f"  launch into it: dlpick launch {offering.instance_type} "
        f"--capacity-block {block.reservation_id} --region {region}"
    )
    return 0


def launch_extras(aws: Aws, plan: LaunchPlan) -> None:
    """The plan's capacity rows: the Capacity Block it goes into; for spot, the score."""
    from dlpick.pricing.placement import placement, score_text
    from dlpick.remote.launch.model import PlanRow
    from dlpick.remote.launch.plan import attach

    attach(aws, plan)
    req = plan.request
    if not req.spot:
        return
    from dlpick.core.cache import PriceCache

    try:
        regions = enabled_regions(aws.ec2(req.region)) or [req.region]
        found = placement(aws, req.instance_type, req.region, regions, cache=PriceCache())
    except AwsError as exc:
        plan.notes.append(PlanRow("placement score", f"? ({exc.reason})"))
        return
    text = score_text(found)
    others = sorted(
        ((r, s) for r, s in found.by_region.items() if r != req.region), key=lambda kv: -kv[1]
    )
    if others:
        text += "; elsewhere " + ", ".join(f"{r} {s}" for r, s in others[:3])
    plan.notes.append(PlanRow("placement score", text))
