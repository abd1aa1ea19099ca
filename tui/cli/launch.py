"""`dlpick launch` and `dlpick quotas`: the commands that act on an AWS account."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlpick.core.errors import AwsError, InputError
from dlpick.tui.cli.common import (
    Parser,
    UsageError,
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
    from dlpick.remote.launch.failover import Choose, RegionOption
    from dlpick.remote.launch.quotas import Quota


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the launch and quotas subcommands to the top-level parser."""
    from dlpick.remote.launch.access import check_cidr
    from dlpick.remote.launch.capacity_blocks import check_reservation_id
    from dlpick.remote.launch.images import DEFAULT_OS, OS_CHOICES, check_ami_choice
    from dlpick.remote.launch.limits import (
        MAX_BUDGET_USD,
        MAX_HOURS,
        MAX_IDLE_STOP_MINUTES,
        MAX_QUOTA_VCPUS,
        MAX_VOLUME_GB,
        MIN_IDLE_STOP_MINUTES,
        MIN_VOLUME_GB,
    )
    from dlpick.remote.launch.model import DEFAULT_IDLE_STOP_MINUTES, DEFAULT_VOLUME_GB

    launch = sub.add_parser(
        "launch",
        help="launch an instance on a Deep Learning AMI",
        description=(
            "Launch TYPE on the latest AWS Deep Learning AMI (Neuron DLAMI for Trainium and "
            "Inferentia), with SSH open only to your public IP, a key pair dlpick creates and "
            "keeps in ~/.ssh, and tags that mark it as dlpick's. The vCPU quota is checked "
            "first: a launch that AWS would refuse is stopped before anything is created."
        ),
    )
    launch.add_argument(
        "instance_type", metavar="TYPE", type=instance_type_arg(), help="e.g. g6.xlarge"
    )
    add_global_options(
        launch, region_help="region (default: your configured one)", needs_aws="always"
    )
    launch.add_argument("--spot", action="store_true", help="one-time spot instance")
    launch.add_argument(
        "--max-price",
        type=number_arg("--max-price", minimum=0, above=True),
        metavar="USD",
        help="spot price cap per hour",
    )
    launch.add_argument(
        "--ami",
        default="base",
        type=check_ami_choice,
        help="base (default), pytorch (newest), pytorch-X.Y, multi-framework (Neuron), or ami-...",
    )
    launch.add_argument("--os", default=DEFAULT_OS, choices=OS_CHOICES, help="operating system")
    launch.add_argument("--key-name", help="an existing EC2 key pair (default: dlpick-REGION)")
    launch.add_argument("--key-file", type=Path, help="its private key (default ~/.ssh/NAME.pem)")
    launch.add_argument(
        "--volume-gb",
        type=number_arg("--volume-gb", minimum=MIN_VOLUME_GB, maximum=MAX_VOLUME_GB, integer=True),
        default=DEFAULT_VOLUME_GB,
        help=f"root volume size in GB ({MIN_VOLUME_GB} to {MAX_VOLUME_GB}, default "
        f"{DEFAULT_VOLUME_GB}; at least the image's own size)",
    )
    launch.add_argument(
        "--ssh-cidr",
        type=check_cidr,
        help="who may SSH in (default: your public IP /32 from checkip_url)",
    )
    launch.add_argument("--name", help="the instance's Name tag")
    launch.add_argument(
        "--dry-run", action="store_true", help="check permissions and show the plan; create nothing"
    )
    launch.add_argument(
        "--new", action="store_true", help="start another even if this exact launch ran"
    )
    launch.add_argument(
        "--idle-stop",
        type=number_arg(
            "--idle-stop",
            minimum=MIN_IDLE_STOP_MINUTES,
            maximum=MAX_IDLE_STOP_MINUTES,
            integer=True,
        ),
        default=DEFAULT_IDLE_STOP_MINUTES,
        metavar="MINUTES",
        help=f"stop the instance after this long idle (default {DEFAULT_IDLE_STOP_MINUTES})",
    )
    launch.add_argument(
        "--no-idle-stop",
        action="store_true",
        help="no idle alarm (the instance runs until stopped)",
    )
    launch.add_argument(
        "--max-hours",
        type=number_arg("--max-hours", minimum=0, above=True, maximum=MAX_HOURS),
        metavar="H",
        help=f"stop itself after H hours (at most {MAX_HOURS:g})",
    )
    launch.add_argument(
        "--budget",
        type=number_arg("--budget", minimum=0, above=True, maximum=MAX_BUDGET_USD),
        metavar="USD",
        help="stop itself when this much has been spent",
    )
    launch.add_argument(
        "--capacity-block",
        type=check_reservation_id,
        metavar="ID",
        help="launch into a Capacity Block bought (cr-...; see dlpick capacity-blocks)",
    )
    launch.add_argument(
        "--any-region",
        action="store_true",
        help="when the region has no capacity, go to the best other region without asking",
    )
    launch.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    launch.set_defaults(handler=cmd_launch)

    quotas = sub.add_parser(
        "quotas",
        help="GPU vCPU quotas, their usage, and increase requests",
        description="The account's GPU and accelerator vCPU quotas in a region, with usage.",
    )
    add_global_options(
        quotas, region_help="region (default: your configured one)", needs_aws="always", lists=True
    )
    quotas.set_defaults(handler=cmd_quotas)
    qsub = quotas.add_subparsers(dest="quotas_action", metavar="ACTION")
    request = qsub.add_parser("request", help="ask AWS to raise a quota")
    request.add_argument(
        "code", metavar="CODE", type=check_quota_code, help="quota code, e.g. L-DB2E81BA"
    )
    request.add_argument(
        "value",
        metavar="VCPUS",
        type=number_arg("VCPUS", minimum=1, maximum=MAX_QUOTA_VCPUS, integer=True),
        help=f"vCPUs wanted (a whole number, 1 to {MAX_QUOTA_VCPUS:,})",
    )
    add_global_options(
        request, region_help="region (default: your configured one)", needs_aws="always"
    )
    request.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    request.set_defaults(handler=cmd_quota_request)


def region_chooser(any_region: bool) -> Choose | None:
    """How another region is accepted when the planned one has no capacity: the best one
    (--any-region), a y/N question on a terminal, or none (the proposal is the error)."""
    if any_region:
        return lambda options: options[0]
    if not sys.stdin.isatty():
        return None

    def ask(options: list[RegionOption]) -> RegionOption | None:
        best = options[0]
        return best if confirm(f"Launch in {best.line()}?", False) else None

    return ask


def cmd_launch(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.remote.launch import execute, run_instances
    from dlpick.remote.launch.failover import catalog_price
    from dlpick.remote.launch.images import neuron_family
    from dlpick.remote.launch.model import LaunchRequest, PlanRow
    from dlpick.remote.launch.plan import plan_launch, quota_refusal
    from dlpick.tui.cli.capacity import launch_extras

    # Everything the command line alone can tell is checked before any AWS call.
    prog = args.usage_prog
    if args.max_price is not None and not args.spot:
        raise UsageError("--max-price is the spot price cap; it needs --spot", prog)
    if args.capacity_block and args.spot:
        raise UsageError("--capacity-block launches into a block bought; it cannot be --spot", prog)
    if args.ami == "multi-framework" and not neuron_family(args.instance_type):
        raise UsageError(
            f"--ami multi-framework is the Neuron DLAMI, for trn and inf types, not "
            f"{args.instance_type}",
            prog,
        )
    region = region_for(args.region, settings)
    aws = aws_for(settings)
    req = LaunchRequest(
        instance_type=args.instance_type,
        region=region,
        spot=args.spot,
        max_price=args.max_price,
        ami=args.ami,
        os=args.os,
        key_name=args.key_name,
        key_file=args.key_file.expanduser() if args.key_file else None,
        volume_gb=args.volume_gb,
        ssh_cidr=args.ssh_cidr,
        name=args.name,
        new=args.new,
        checkip_url=settings.checkip_url,
        idle_stop_minutes=None if args.no_idle_stop else args.idle_stop,
        idle_threshold_percent=settings.idle_threshold_percent,
        max_hours=args.max_hours,
        budget=args.budget,
        capacity_block=args.capacity_block,
    )
    print(f"planning {req.instance_type} in {region}...", file=sys.stderr)
    price_in = catalog_price(aws, req.instance_type, req.spot)
    plan = plan_launch(aws, req, lambda: price_in(region))
    launch_extras(aws, plan)  # its Capacity Block; the spot placement score
    extra = []
    if plan.existing_instance is None:
        then = "the best other region" if args.any_region else "other regions, if you say yes"
        extra.append(PlanRow("no capacity", f"other AZs of {region}, then {then}"))
    for line in plan.describe(*extra):
        print(line)
    refusal = quota_refusal(plan)
    if refusal is not None:
        raise refusal
    if args.dry_run:
        run_instances.dry_run(aws, plan)
        print("dry run: AWS accepts this launch; nothing was created")
        return 0
    if plan.existing_instance is None and not confirm("Launch?", args.yes):
        print("not launched", file=sys.stderr)
        return 1
    result = execute.execute(
        aws,
        plan,
        lambda msg: print(f"... {msg}", file=sys.stderr),
        region_chooser(args.any_region),
        price_in,
    )
    state = "already running" if result.already_running else "running"
    price = f"${result.usd_hour:.4f}/h" if result.usd_hour is not None else "price unknown"
    print(f"{result.instance_id} is {state} in {result.region} ({price})")
    print(f"  host  {result.public_dns or result.public_ip}")
    print(f"  ssh   {result.ssh_command}")
    for label, text in result.end_commands():
        print(f"  {label:<5} {text}")
    return 0


# `dlpick quotas` columns; AWS's name for a quota is free text: it wraps.
QUOTA_COLUMNS = (
    Col("Code", 100),
    Col("Limit", 95, right=True),
    Col("In use", 90, right=True, short="Used"),
    Col("Requested", 70, right=True, short="Asked"),
    Col("Quota", 60, wrap=True),
)


def cmd_quotas(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.remote.launch.quotas import gpu_quotas

    region = region_for(args.region, settings)
    aws = aws_for(settings)
    try:
        rows_found = gpu_quotas(aws, region)
    except AwsError as exc:
        raise exc.doing("reading quotas", region) from None
    if args.format in ("json", "csv"):
        from dlpick.tui.cli import output

        records = [quota_record(region, quota, used) for quota, used in rows_found]
        if args.format == "json":
            print(output.to_json(records))
        else:
            sys.stdout.write(output.to_csv(records, QUOTA_FIELDS))
        return 0
    from dlpick.tui.cli.output import print_table

    rows = []
    for quota, used in rows_found:
        limit = "?" if quota.value is None else f"{quota.value:g}"
        pending = "" if quota.pending_request is None else f"{quota.pending_request:g} (pending)"
        rows.append([quota.code or "-", limit, str(used), pending, quota.name])
    print_table(QUOTA_COLUMNS, rows, title=f"GPU and accelerator vCPU quotas in {region}")
    print(f"request more: dlpick quotas request CODE VCPUS --region {region}")
    return 0


# `dlpick quotas` JSON records and CSV columns; vCPU counts are numbers, null when unknown.
QUOTA_FIELDS = (
    "region",
    "code",
    "name",
    "market",
    "quota_class",
    "limit_vcpus",
    "in_use_vcpus",
    "pending_request_vcpus",
)


def quota_record(region: str, quota: Quota, used: int) -> dict[str, Any]:
    """One quota as `dlpick quotas` prints it in JSON and CSV."""
    return {
        "region": region,
        "code": quota.code or None,
        "name": quota.name,
        "market": quota.market,
        "quota_class": quota.quota_class,
        "limit_vcpus": _whole(quota.value),
        "in_use_vcpus": used,
        "pending_request_vcpus": _whole(quota.pending_request),
    }


def _whole(value: float | None) -> float | None:
    """64.0 -> 64: vCPU counts print as whole numbers where they are."""
    return int(value) if value is not None and float(value).is_integer() else value


def check_quota_code(text: str) -> str:
    """CODE of `quotas request`: a Service Quotas code such as L-DB2E81BA."""
    if re.fullmatch(r"L-[0-9A-F]{8}", text):
        return text
    raise InputError(
        f"CODE {text!r} is not a quota code",
        hint="codes look like L-DB2E81BA; dlpick quotas lists them",
    )


def cmd_quota_request(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.remote.launch.quotas import request_increase

    region = region_for(args.region, settings)
    aws = aws_for(settings)
    vcpus = f"{args.value:g} vCPU{'' if args.value == 1 else 's'}"
    if not confirm(f"Ask AWS to raise {args.code} in {region} to {vcpus}?", args.yes):
        print("not requested", file=sys.stderr)
        return 1
    try:
        answer = request_increase(aws, region, args.code, args.value)
    except AwsError as exc:
        raise exc.doing(f"requesting {args.code}") from None
    print(
        f"requested {args.code} = {vcpus} in {region}: "
        f"{answer.get('Status', 'PENDING')} (case {answer.get('CaseId') or answer.get('Id', '?')})"
    )
    return 0
