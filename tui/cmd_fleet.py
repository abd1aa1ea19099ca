"""`dlpick ls`, `dlpick stop` and `dlpick terminate`: seeing and ending spend."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from dlpick.tui.config import Settings


def register(sub: Any) -> None:
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
    where = ls.add_mutually_exclusive_group()
    where.add_argument("--region", help="one region (default: your configured one)")
    where.add_argument("--all-regions", action="store_true", help="every enabled region")
    ls.add_argument("--all", action="store_true", help="every instance, not only accelerated")
    ls.add_argument("--format", choices=("table", "json"), default="table")
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
        p.add_argument("targets", nargs="+", metavar="TARGET", help="instance id (i-...)")
        p.add_argument("--region", help="their region (default: your configured one)")
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


def _now() -> datetime:
    from dlpick.remote.fleet import now_utc

    return now_utc()


def fmt_hours(hours: float) -> str:
    if hours < 1:
        return f"{hours * 60:.0f}m"
    if hours < 48:
        return f"{hours:.1f}h"
    return f"{hours / 24:.1f}d"


def guard_text(inst: Any) -> str:
    """'idle 60m, until 09-01 20:00': the guards dlpick set on an instance at launch."""
    guard = []
    if inst.tags.get("dlpick:idle-stop-minutes"):
        guard.append(f"idle {inst.tags['dlpick:idle-stop-minutes']}m")
    if inst.tags.get("dlpick:stop-after"):
        guard.append(f"until {inst.tags['dlpick:stop-after'][5:16].replace('T', ' ')}")
    return ", ".join(guard) or "-"


def load_fleet(
    aws: Any, regions: list[str], everything: bool, warn: Any, catalog: Any = None
) -> list[Any]:
    """Instances in the regions, priced from the catalog, with idle alarm states.

    Without a catalog, prices come live; the app passes its own (cached) one.
    """
    from dlpick.pricing.cache import PriceCache
    from dlpick.pricing.catalog import Catalog
    from dlpick.remote.fleet import price_instances, scan
    from dlpick.remote.idle import alarm_states

    instances = scan(aws, regions, everything=everything, warn=warn)
    if catalog is None:
        catalog = Catalog(cache=PriceCache(warn=warn), aws=aws, warn=warn)
    price_instances(instances, catalog)
    for region in sorted({i.region for i in instances}):
        states = alarm_states(aws, region)
        for inst in instances:
            if inst.region == region and inst.instance_id in states:
                inst.idle = states[inst.instance_id]
    return instances


def cmd_ls(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.pricing.regions import enabled_regions
    from dlpick.remote.fleet import ticker
    from dlpick.tui.cli import _warn
    from dlpick.tui.cmd_aws import _aws, _region

    settings = settings.merged(profile=args.profile)
    aws = _aws(settings)
    if args.all_regions:
        regions = enabled_regions(aws.client("ec2", _region(args, settings)))
    else:
        regions = [_region(args, settings)]
    instances = load_fleet(aws, regions, args.all, _warn)
    now = _now()
    if args.format == "json":
        print(json.dumps([i.to_record(now) for i in instances], indent=2))
        return 0
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    wide = console.width >= 120
    multi = args.all_regions
    where = "all enabled regions" if multi else regions[0]
    table = Table(
        title=f"{len(instances)} instances in {where}", box=box.SIMPLE_HEAD, pad_edge=False
    )
    columns = ["ID"] + (["Name"] if wide else []) + ["Type"] + (["Region"] if multi else [])
    columns += ["State", "Up", "$/h", "Cost", "Idle"] + (["Guard", "dlpick"] if wide else [])
    for col in columns:
        right = col in ("Up", "$/h", "Cost")
        table.add_column(
            col,
            justify="right" if right else "left",
            no_wrap=col in ("ID", "Type", "Cost"),
            max_width=14 if col in ("Name", "Guard") else None,
        )
    for inst in instances:
        cost = inst.cost_so_far(now)
        if inst.state == "stopped":
            cost_text = f"${inst.storage_usd_month:.2f}/mo disk"
        else:
            cost_text = "?" if cost is None else f"${cost:.2f}"
        cells = {
            "ID": inst.instance_id + ("" if inst.managed or wide else " *"),
            "Name": inst.name,
            "Type": inst.instance_type + (" spot" if inst.spot else ""),
            "Region": inst.region,
            "State": inst.state,
            "Up": fmt_hours(inst.uptime_hours(now)) if inst.billing_hourly else "-",
            "$/h": "?" if inst.usd_hour is None else f"{inst.usd_hour:.3f}",
            "Cost": cost_text,
            "Idle": inst.idle,
            "Guard": guard_text(inst),
            "dlpick": "yes" if inst.managed else "no",
        }
        table.add_row(*(cells[c] for c in columns))
    console.print(table)
    if not wide and any(not i.managed for i in instances):
        console.print("* not launched by dlpick", highlight=False)
    t = ticker(instances, now)
    line = f"{t.text()}"
    if t.stopped_storage_usd_month:
        line += f" · stopped volumes ${t.stopped_storage_usd_month:.2f}/month"
    console.print(line, highlight=False)
    return 0


def _confirm_each(verb: str, found: list[Any], assume_yes: bool) -> bool:
    from dlpick.tui.cmd_aws import confirm

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
    return confirm(f"{verb.capitalize()} {len(found)} instance(s)?", assume_yes)


def _targets(args: argparse.Namespace, settings: Settings) -> tuple[Any, str, list[Any]]:
    from dlpick.pricing.cache import PriceCache
    from dlpick.pricing.catalog import Catalog
    from dlpick.remote.actions import ActionError, check_managed, find_instances
    from dlpick.remote.fleet import price_instances
    from dlpick.tui.cli import UserError, _warn
    from dlpick.tui.cmd_aws import _aws, _region

    bad = [t for t in args.targets if not t.startswith("i-")]
    if bad:
        raise UserError(f"{bad[0]!r} is not an instance id (i-...)")
    settings = settings.merged(profile=args.profile)
    region = _region(args, settings)
    aws = _aws(settings)
    try:
        found = find_instances(aws, region, args.targets)
        check_managed([inst for inst, _ in found], args.any)
    except ActionError as exc:
        raise UserError(str(exc)) from None
    price_instances([inst for inst, _ in found], Catalog(cache=PriceCache(), aws=aws, warn=_warn))
    return aws, region, found


def cmd_stop(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.remote.actions import stop

    aws, region, found = _targets(args, settings)
    if not _confirm_each("stop", found, args.yes):
        print("nothing stopped", file=sys.stderr)
        return 1
    stop(aws, region, [inst.instance_id for inst, _ in found])
    for inst, _ in found:
        print(f"stopping {inst.instance_id}; its volumes still bill while stopped")
    return 0


def cmd_terminate(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.remote.actions import clean_up, terminate
    from dlpick.tui.cmd_aws import confirm

    aws, region, found = _targets(args, settings)
    if not _confirm_each("terminate", found, args.yes):
        print("nothing terminated", file=sys.stderr)
        return 1
    left = terminate(aws, region, found)
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
