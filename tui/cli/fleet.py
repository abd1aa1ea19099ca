"""`dlpick ls`, `dlpick stop` and `dlpick terminate`: seeing and ending spend."""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from dlpick.core.errors import EXIT_OK, EXIT_PARTIAL, InputError
from dlpick.core.regions import enabled_regions
from dlpick.tui.cli.common import (
    Parser,
    add_global_options,
    aws_for,
    confirm,
    region_for,
)
from dlpick.tui.cli.common import warn as _warn
from dlpick.tui.cli.output import Col
from dlpick.tui.config import Settings
from dlpick.tui.formats import fmt_usd, plural

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import InstanceTypeDef

    from dlpick.core.aws import Aws
    from dlpick.remote.fleet.scan import Instance

    Found = list[tuple[Instance, InstanceTypeDef]]


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the fleet subcommands to the top-level parser."""
    ls = sub.add_parser(
        "ls",
        help="your GPU instances, what they cost and whether they are idle",
        description=(
            "Instances with GPUs or accelerators (every instance with --all) in one region or "
            "all enabled regions, scanned in parallel: state, uptime, $/h, cost so far, whether "
            "dlpick manages it, idle state and guards. Stopped instances show what their "
            "volumes still cost per month."
        ),
    )
    add_global_options(ls, region_help=None, needs_aws="always", lists=True)
    where = ls.add_mutually_exclusive_group()
    where.add_argument(
        "--region",
        default=argparse.SUPPRESS,
        metavar="REGION",
        help="one region (default: your configured one)",
    )
    where.add_argument("--all-regions", action="store_true", help="every enabled region")
    ls.add_argument("--all", action="store_true", help="every instance, not only accelerated")
    ls.set_defaults(handler=cmd_ls)

    for name, verb in (("stop", "stop"), ("terminate", "terminate")):
        p = sub.add_parser(
            name,
            help=f"{verb} instances (asks first, naming type, region and cost so far)",
            description=(
                f"{verb.capitalize()} instances by id. Instances dlpick did not launch are left "
                "alone unless --any is given."
                + (
                    " Reports what remains (kept volumes, dlpick's key pair and security group)"
                    " and offers to delete what dlpick made."
                    if name == "terminate"
                    else ""
                )
            ),
        )
        p.add_argument(
            "targets", nargs="+", type=instance_id_arg, metavar="TARGET", help="instance id (i-...)"
        )
        add_global_options(
            p, region_help="their region (default: your configured one)", needs_aws="always"
        )
        p.add_argument(
            "--any", action="store_true", help="also act on instances dlpick did not launch"
        )
        p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        if name == "terminate":
            p.add_argument(
                "--cleanup",
                action="store_true",
                help="also delete dlpick's key pair and security group when nothing uses them",
            )
        p.set_defaults(handler=cmd_stop if name == "stop" else cmd_terminate)


def instance_id_arg(text: str) -> str:
    """TARGET of stop and terminate: an instance id (i- and 8 or 17 hex digits)."""
    if re.fullmatch(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})", text):
        return text
    raise InputError(f"TARGET {text!r} is not an instance id (i-...)")


def _now() -> datetime:
    from dlpick.remote.fleet.scan import now_utc

    return now_utc()


def cmd_ls(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.remote.fleet.scan import INSTANCE_FIELDS, load_fleet, ticker

    aws = aws_for(settings)
    home = region_for(args.region, settings)
    regions = enabled_regions(aws.ec2(home)) if args.all_regions else [home]
    found = load_fleet(aws, regions, everything=args.all)
    instances = list(found.instances)
    now = _now()
    summary = ticker(instances, now, [region for region, _ in found.unreadable])
    if args.format == "csv":
        from dlpick.tui.cli.output import to_csv

        sys.stdout.write(to_csv([i.to_record(now) for i in instances], INSTANCE_FIELDS))
    elif args.format == "json":
        print(
            json.dumps(
                {
                    "instances": [i.to_record(now) for i in instances],
                    "regions": list(found.regions),
                    "unreadable_regions": found.unreadable_records(),
                    "complete": summary.complete,
                    "running": summary.running,
                    "usd_hour": round(summary.usd_hour, 4),
                    "spent_usd": round(summary.spent_usd, 4),
                },
                indent=2,
            )
        )
    else:
        _print_ls_table(instances, found.regions, args.all_regions, now)
        _print_wrapped(summary.text() + _storage_text(summary.stopped_storage_usd_month))
    for _, why in found.unreadable:
        _warn(why)
    return EXIT_OK if found.complete else EXIT_PARTIAL


def _print_wrapped(text: str) -> None:
    from dlpick.tui.cli.output import out_width

    print(textwrap.fill(text, out_width(), break_on_hyphens=False))


def _storage_text(usd_month: float) -> str:
    return f" · stopped volumes ${usd_month:.2f}/month" if usd_month else ""


# `dlpick ls` columns, most useful first to keep: which instance, what it is, whether it
# runs, where, what it cost. Guards (free text) wrap, and go first on a narrow terminal.
LS_COLUMNS = (
    Col("ID", 100),
    Col("Type", 96),
    Col("State", 94),
    Col("Region", 92),
    Col("Cost", 90, right=True),
    Col("$/h", 88, right=True),
    Col("Idle", 80),
    Col("Name", 70),
    Col("Up", 60, right=True),
    Col("Disk/mo", 50, right=True, short="Disk"),
    Col("dlpick", 40),
    Col("Guard", 30, wrap=True),
)


def _ls_rows(instances: Sequence[Instance], now: datetime, marked: bool) -> list[list[str]]:
    """One row per instance; `marked` puts '*' after the ids dlpick did not launch."""
    from dlpick.remote.fleet.scan import fmt_hours

    rows = []
    for inst in instances:
        cost = inst.cost_so_far(now)
        rate = inst.billing_usd_hour
        cells = {
            "ID": inst.instance_id + (" *" if marked and not inst.managed else ""),
            "Name": inst.name or "-",
            "Type": inst.instance_type + (" spot" if inst.spot else ""),
            "Region": inst.region,
            "State": inst.state,
            "Up": fmt_hours(inst.uptime_hours(now)) if inst.billing_hourly else "-",
            # Stopped: no compute bills; the cost is that of the time it ran.
            # As `prices` writes a price: 0.8048, 1.006.
            "$/h": "?" if rate is None else "—" if not inst.billing_hourly else fmt_usd(rate),
            "Cost": "?" if cost is None else f"${cost:,.2f}",
            "Idle": inst.idle,
            "Disk/mo": f"${inst.storage_usd_month:,.2f}" if inst.volumes_gib else "-",
            "dlpick": "yes" if inst.managed else "no",
            "Guard": inst.guard_text(),
        }
        rows.append([cells[c.label] for c in LS_COLUMNS])
    return rows


def _print_ls_table(
    instances: Sequence[Instance], regions: tuple[str, ...], multi: bool, now: datetime
) -> None:
    from dlpick.tui.cli.output import fit, out_width, print_table

    columns = [c for c in LS_COLUMNS if multi or c.label != "Region"]
    keep = [i for i, c in enumerate(LS_COLUMNS) if multi or c.label != "Region"]
    width = out_width()
    where = "all enabled regions" if multi else regions[0]
    title = f"{plural(len(instances), 'instance')} in {where}"
    # Without the dlpick column, an id dlpick did not launch is marked instead.
    rows = [[row[i] for i in keep] for row in _ls_rows(instances, now, marked=False)]
    dlpick_col = next(i for i, c in enumerate(columns) if c.label == "dlpick")
    marked = dlpick_col not in fit(columns, rows, width).kept
    if marked:
        rows = [[row[i] for i in keep] for row in _ls_rows(instances, now, marked=True)]
    layout = print_table(columns, rows, title=title, width=width)
    if dlpick_col not in layout.kept and any(not i.managed for i in instances):
        print("* not launched by dlpick")


def _confirm_each(
    verb: str, found: list[tuple[Instance, InstanceTypeDef]], assume_yes: bool
) -> bool:
    now = _now()
    lines = []
    for inst, _ in found:
        cost = inst.cost_so_far(now)
        spent = "cost unknown" if cost is None else f"${cost:.2f} so far"
        lines.append(
            f"{inst.instance_id} {inst.name or ''} {inst.instance_type} in {inst.region}, "
            f"{inst.state}, {spent}"
        )
    for line in lines:
        print(f"  {' '.join(line.split())}")
    return confirm(f"{verb.capitalize()} {plural(len(found), 'instance')}?", assume_yes)


def _targets(
    args: argparse.Namespace, settings: Settings, verb: str
) -> tuple[
    Aws, str, list[tuple[Instance, InstanceTypeDef]], list[tuple[Instance, InstanceTypeDef]]
]:
    """The instances named that `verb` still has to act on, and those already stopped or
    terminated, which it leaves alone (and says so)."""
    from dlpick.core.cache import PriceCache
    from dlpick.pricing.catalog import Catalog
    from dlpick.remote.fleet.actions import (
        already_done,
        already_text,
        check_managed,
        find_instances,
    )
    from dlpick.remote.fleet.scan import price_instances

    # An id given twice is one instance: asked about, acted on and named once.
    args.targets = list(dict.fromkeys(args.targets))
    region = region_for(args.region, settings)
    aws = aws_for(settings)
    found, done = already_done(verb, find_instances(aws, region, args.targets))
    for inst, _ in done:
        print(already_text(verb, inst))
    check_managed([inst for inst, _ in found], args.any)
    price_instances([inst for inst, _ in found], Catalog(cache=PriceCache(), aws=aws, warn=_warn))
    return aws, region, found, done


def cmd_stop(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.remote.fleet.actions import stop

    aws, region, found, _ = _targets(args, settings, "stop")
    if not found:
        return 0
    if not _confirm_each("stop", found, args.yes):
        print("nothing stopped", file=sys.stderr)
        return 1
    stop(aws, region, [inst.instance_id for inst, _ in found])
    for inst, _ in found:
        print(f"stopping {inst.instance_id}; its volumes still bill while stopped")
    return 0


def cmd_terminate(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.remote.fleet.actions import clean_up, terminate

    aws, region, found, gone = _targets(args, settings, "terminate")
    if found and not _confirm_each("terminate", found, args.yes):
        print("nothing terminated", file=sys.stderr)
        return 1
    # What an instance already terminated left behind can still be cleaned up.
    left = terminate(aws, region, found, [(i, raw) for i, raw in gone if i.managed or args.any])
    for inst, _ in found:
        print(f"terminating {inst.instance_id}")
    for line in left.lines():
        print(line)
    if left.cleanable and (
        args.cleanup
        or (
            sys.stdin.isatty()
            and confirm("Delete dlpick's unused key pair and security group?", False)
        )
    ):
        for line in clean_up(aws, region, left):
            print(line)
    elif left.cleanable:
        print(f"to delete them: dlpick terminate {' '.join(args.targets)} --cleanup --yes")
    return 0
