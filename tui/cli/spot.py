"""`dlpick spot-history`: how steady a type's spot price was, per AZ, against on-demand."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from dlpick.core.aws import map_regions
from dlpick.core.errors import EXIT_PARTIAL, AwsError, InputError
from dlpick.core.regions import enabled_regions
from dlpick.tui.cli.common import (
    Parser,
    add_global_options,
    aws_for,
    instance_type_arg,
    make_catalog,
    number_arg,
    region_for,
    warn,
)
from dlpick.tui.cli.output import Col
from dlpick.tui.config import Settings
from dlpick.tui.formats import fmt_usd

if TYPE_CHECKING:
    from dlpick.core.aws import Aws
    from dlpick.core.cache import PriceCache
    from dlpick.pricing.catalog import Catalog
    from dlpick.pricing.spot_history import HistorySummary, ZoneSummary

# `--format csv` fields: one row per AZ (per region with --region all: its cheapest AZ).
FIELDS = (
    "instance_type",
    "region",
    "availability_zone",
    "current_usd_hour",
    "min_usd_hour",
    "median_usd_hour",
    "p90_usd_hour",
    "max_usd_hour",
    "mean_usd_hour",
    "below_half_on_demand_share",
    "changes",
    "on_demand_usd_hour",
    "on_demand_source",
    "start",
    "end",
)
FIGURES = (
    Col("Now", 90, right=True),
    Col("Min", 60, right=True),
    Col("Median", 70, right=True, short="Med"),
    Col("P90", 75, right=True),
    Col("Max", 65, right=True),
    Col("Mean", 95, right=True),
    Col("<½ OD", 80, right=True),
    Col("Changes", 50, right=True, short="Chg"),
)


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the spot-history subcommand to the top-level parser."""
    from dlpick.pricing.spot_history import DEFAULT_DAYS, MAX_DAYS

    history = sub.add_parser(
        "spot-history",
        help="how a type's spot price moved per AZ over the last days, against on-demand",
        description=(
            "TYPE's Linux spot price history per AZ over the last days (DescribeSpotPriceHistory),"
            " as an hourly step series: per AZ the current, min, median, p90 and max price, the"
            " time-weighted mean, the share of hours below half the on-demand price and the"
            " number of changes; the cheapest AZ is the one with the lowest mean."
        ),
    )
    history.add_argument(
        "instance_type", metavar="TYPE", type=instance_type_arg(), help="e.g. g6.xlarge"
    )
    add_global_options(
        history,
        region_help="a region code, or 'all' for one line per region (its cheapest AZ)",
        needs_aws="always",
        lists=True,
        all_regions=True,
    )
    history.add_argument(
        "--days",
        type=number_arg("--days", minimum=1, maximum=MAX_DAYS, integer=True),
        default=DEFAULT_DAYS,
        help=f"how many days back, 1 to {MAX_DAYS} (AWS keeps {MAX_DAYS}; default {DEFAULT_DAYS})",
    )
    history.add_argument(
        "--refresh", action="store_true", help="ignore the cache (an hour), ask AWS"
    )
    history.set_defaults(handler=cmd_spot_history)


def usd(value: float | None) -> str:
    """A price as the prices table writes it: cents, more digits below a dollar."""
    return "—" if value is None else f"${fmt_usd(value)}"


def share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def figures(zone: ZoneSummary) -> list[str]:
    return [
        usd(zone.current),
        usd(zone.minimum),
        usd(zone.median),
        usd(zone.p90),
        usd(zone.maximum),
        usd(zone.mean),
        share(zone.below_half_share),
        str(zone.changes),
    ]


def csv_row(summary: HistorySummary, zone: ZoneSummary) -> dict[str, Any]:
    head = summary.to_json()
    return {
        "instance_type": head["instance_type"],
        "region": head["region"],
        **zone.to_json(),
        "on_demand_usd_hour": summary.on_demand_usd_hour,
        "on_demand_source": summary.on_demand_source,
        "start": head["start"],
        "end": head["end"],
    }


def on_demand(catalog: Catalog, region: str, instance_type: str) -> tuple[float | None, str]:
    """The type's on-demand price as `dlpick prices` gets it, and where it came from."""
    prices = catalog.region(region)
    usd_hour = prices.on_demand.get(instance_type)
    if usd_hour is None:
        return None, "unknown"
    return usd_hour, f"{prices.on_demand_source}, {prices.on_demand_as_of}"


def summary_for(
    aws: Aws, cache: PriceCache, catalog: Catalog, args: argparse.Namespace, region: str
) -> HistorySummary | None:
    """The region's summary; None when AWS has no spot history of the type there.

    The history is asked before the on-demand price, so an AWS that cannot be
    reached fails at once, in one line.
    """
    from dlpick.pricing.spot_history import load_history, summarise

    itype = args.instance_type
    history = load_history(aws, cache, itype, region, days=args.days, refresh=args.refresh)
    if not history.changes:
        return None
    return summarise(history, *on_demand(catalog, region, itype))


def cmd_spot_history(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.core.cache import PriceCache

    region = region_for(args.region, settings, allow_all=True)
    aws = aws_for(settings)
    cache = PriceCache(warn=warn)
    catalog = make_catalog(settings, warn)
    if region == "all":
        return _all_regions(args, aws, cache, catalog)
    summary = summary_for(aws, cache, catalog, args, region)
    if summary is None:
        raise InputError(
            f"no Linux spot price for {args.instance_type} in {region} over the last "
            f"{args.days} days",
            hint="is it offered there? dlpick prices --spot --region all",
        )
    if args.format == "json":
        print(json.dumps(summary.to_json(), indent=2))
    elif args.format == "csv":
        from dlpick.tui.cli.output import to_csv

        sys.stdout.write(to_csv([csv_row(summary, z) for z in summary.zones], FIELDS))
    else:
        _print_zones(summary)
    return 0


def _notes(summary: HistorySummary) -> list[str]:
    h = summary.history
    od = summary.on_demand_usd_hour
    return [
        f"on-demand: {usd(od)}/h ({summary.on_demand_source})",
        f"spot history: {h.source}, as of {h.as_of}; median, p90 and <½ OD over the hourly"
        " series, mean weighted by the time each price held",
    ]


def _print_zones(summary: HistorySummary) -> None:
    from rich.text import Text

    from dlpick.tui.cli.output import print_table

    cheapest = summary.cheapest
    rows: list[list[str | Text]] = []
    for zone in summary.zones:
        style = "bold green" if zone is cheapest else ""
        rows.append([Text(cell, style=style) for cell in [zone.az, *figures(zone)]])
    h = summary.history
    title = (
        f"{h.instance_type} spot price per AZ in {h.region}, {h.days:g} days"
        f" to {h.end:%Y-%m-%d %H:%M} UTC"
    )
    best = (
        [f"cheapest AZ by time-weighted mean: {cheapest.az} ({usd(cheapest.mean)}/h)"]
        if cheapest
        else []
    )
    print_table(
        [Col("AZ", 100), *FIGURES],
        rows,
        title=title,
        caption="\n".join([*best, *_notes(summary)]),
        gap=1,
    )


def _all_regions(args: argparse.Namespace, aws: Aws, cache: PriceCache, catalog: Catalog) -> int:
    """One line per region that has a spot history of the type: its cheapest AZ.

    A region that cannot be read is named on stderr; exit 3 when some could not,
    1 when none could.
    """

    def one(region: str) -> HistorySummary | AwsError | None:
        try:
            return summary_for(aws, cache, catalog, args, region)
        except AwsError as exc:
            return exc.doing("reading the spot price history", region)

    # Asked live, not the catalog's fallback list: an AWS that cannot be reached is
    # one error here, not one per region after each one's retries.
    regions = enabled_regions(aws.ec2(aws.default_region()))
    found = map_regions(one, regions)
    failed = [r for r in found if isinstance(r, AwsError)]
    summaries = [r for r in found if r is not None and not isinstance(r, AwsError)]
    if failed and len(failed) == len(regions):
        raise failed[0]  # the same refusal everywhere, most likely: said once
    for err in failed:
        print(f"warning: {err}", file=sys.stderr)
    if not summaries and not failed:
        raise InputError(
            f"no Linux spot price for {args.instance_type} in any region over the last "
            f"{args.days} days"
        )
    summaries.sort(key=lambda s: (s.cheapest.mean if s.cheapest else 0, s.history.region))
    if args.format == "json":
        print(json.dumps([s.to_json() for s in summaries], indent=2))
    elif args.format == "csv":
        from dlpick.tui.cli.output import to_csv

        rows = [csv_row(s, s.cheapest) for s in summaries if s.cheapest]
        sys.stdout.write(to_csv(rows, FIELDS))
    else:
        from dlpick.tui.cli.output import print_table

        print_table(
            [
                Col("Region", 99),
                Col("Cheapest AZ", 98, short="AZ"),
                *FIGURES,
                Col("OD $/h", 85, right=True),
            ],
            [
                [s.history.region, s.cheapest.az, *figures(s.cheapest), usd(s.on_demand_usd_hour)]
                for s in summaries
                if s.cheapest
            ],
            title=f"{args.instance_type} spot price by region (each region's cheapest AZ),"
            f" last {args.days} days",
            caption=f"{len(summaries)} of {len(regions)} regions have a spot price for it; "
            "median, p90 and <½ OD over the hourly series, mean weighted by time held"
            + (f"; {len(failed)} could not be read (above)" if failed else ""),
            gap=1,
        )
    return EXIT_PARTIAL if failed else 0
