"""`dlpick batch ...`: training jobs on AWS Batch, spot first, with dlpick's guards."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from dlpick.core.errors import DataError, InputError
from dlpick.tui.cli.common import (
    Parser,
    UsageError,
    add_global_options,
    aws_for,
    confirm,
    given_arg,
    number_arg,
    region_for,
    warn,
)
from dlpick.tui.cli.output import Col
from dlpick.tui.config import Settings
from dlpick.tui.formats import plural

if TYPE_CHECKING:
    from dlpick.core.aws import Aws
    from dlpick.pricing.catalog import Offer
    from dlpick.remote.batch.jobs import BatchJob


REGION_HELP = "region (default: your configured one)"


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add `dlpick batch` and its actions to the top-level parser."""
    from dlpick.remote.launch.limits import MAX_QUOTA_VCPUS

    batch = sub.add_parser(
        "batch",
        help="training jobs on AWS Batch: spot first, on-demand fallback, multi-node",
        description=(
            "Run training jobs on AWS Batch: `setup` once per region, then `submit` jobs, "
            "follow them with `jobs`, stop one with `cancel`, and `teardown` when done."
        ),
    )
    add_global_options(batch, region_help=REGION_HELP, needs_aws="always")
    actions = batch.add_subparsers(dest="batch_action", metavar="ACTION", required=True)

    setup = actions.add_parser(
        "setup",
        help="create the spot and on-demand environments, queues, roles and code bucket",
        description=(
            "Create (once; a second run creates nothing, and repairs what differs) a spot "
            "compute environment "
            "(price-capacity-optimized, minimum 0 vCPUs, the GPU image), an on-demand one for "
            "fallback and multi-node jobs, a queue that tries spot first, an on-demand queue, "
            "the roles, a security group with no inbound rule and an S3 bucket for code. "
            "The types come from dlpick's ranking by spot $/TFLOP-hour unless named. Shows "
            "the plan, with the vCPU quotas against --max-vcpus, and asks first."
        ),
    )
    add_global_options(setup, region_help=REGION_HELP, needs_aws="always")
    which = setup.add_mutually_exclusive_group()
    which.add_argument("--types", metavar="T,...", help="instance types, comma-separated")
    which.add_argument(
        "--gpu",
        type=given_arg("--gpu", "an accelerator model such as L4"),
        metavar="MODEL",
        help="the best-ranked types with this GPU",
    )
    setup.add_argument(
        "--max-usd-per-tflop",
        type=number_arg("--max-usd-per-tflop", minimum=0, above=True),
        metavar="USD",
        help="every type whose spot $ per FP32 TFLOP-hour is at most this",
    )
    setup.add_argument(
        "--max-vcpus",
        type=number_arg("--max-vcpus", minimum=1, maximum=MAX_QUOTA_VCPUS, integer=True),
        default=None,
        metavar="N",
        help="the most vCPUs each environment may run at once (default: theirs, else 64)",
    )
    setup.add_argument("--dry-run", action="store_true", help="show the plan; create nothing")
    setup.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    setup.set_defaults(handler=cmd_setup)

    jobs = actions.add_parser(
        "jobs",
        help="dlpick's Batch jobs: state, type, running time, cost so far",
        description=(
            "Jobs in dlpick's queues created in the last --days days: state, queue, the type "
            "it landed on (spot or on-demand), started, running time and cost so far."
        ),
    )
    add_global_options(jobs, region_help=REGION_HELP, needs_aws="always", lists=True)
    jobs.add_argument(
        "--days",
        type=number_arg("--days", minimum=0, above=True, maximum=90),
        default=7.0,
        metavar="D",
        help="how far back (default 7)",
    )
    jobs.set_defaults(handler=cmd_jobs)

    cancel = actions.add_parser(
        "cancel",
        help="stop a job (cancel before it starts, terminate once it runs)",
        description="Stop a job in dlpick's queues; asks first, naming its state and cost.",
    )
    cancel.add_argument("job_id", metavar="JOB", help="the job id")
    add_global_options(cancel, region_help=REGION_HELP, needs_aws="always")
    cancel.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    cancel.set_defaults(handler=cmd_cancel)

    teardown = actions.add_parser(
        "teardown",
        help="remove what setup made (nothing left that bills)",
        description=(
            "Stop dlpick's active jobs, disable and delete its queues and compute "
            "environments, deregister its job definitions, empty and delete the code bucket, "
            "delete the security group, roles and instance profile. Only what carries "
            "dlpick's tag is touched. Says what will go and asks first."
        ),
    )
    add_global_options(teardown, region_help=REGION_HELP, needs_aws="always")
    teardown.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    teardown.set_defaults(handler=cmd_teardown)

    register_submit(actions)
    register_logs(actions)


def _progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr)


def _offers(aws: Aws, region: str) -> list[Offer]:
    from dlpick.core.cache import PriceCache
    from dlpick.pricing.catalog import Catalog

    return Catalog(cache=PriceCache(warn=warn), aws=aws, warn=warn).offers(region)


def price_of(aws: Aws, region: str) -> Callable[[str, bool], float | None]:
    """(type, spot) -> USD/hour from the price catalog, read once when first asked."""
    found: dict[str, Offer] = {}

    def price(instance_type: str, spot: bool) -> float | None:
        if not found:
            found.update({o.instance_type: o for o in _offers(aws, region)})
        offer = found.get(instance_type)
        return offer.usd_hour(spot) if offer else None

    return price


def cmd_setup(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.remote.batch import setup as bs
    from dlpick.remote.batch.setup import execute_setup
    from dlpick.remote.batch.types import pick_types

    settings = settings.merged(profile=args.profile)
    region = region_for(args.region, settings)
    named = tuple(t.strip() for t in (args.types or "").split(",") if t.strip())
    if args.types is not None and not named:
        raise InputError("--types needs at least one instance type")
    if named and args.max_usd_per_tflop is not None:
        raise InputError("--max-usd-per-tflop ranks types; leave it out with --types")
    aws = aws_for(settings)
    req = bs.SetupRequest(
        region=region,
        types=named,
        gpu=args.gpu,
        max_usd_per_tflop=args.max_usd_per_tflop,
        max_vcpus=args.max_vcpus,
    )
    print(f"planning AWS Batch in {region}...", file=sys.stderr)
    # Without a choice of types, environments that exist keep theirs.
    kept = () if req.chooses_types else bs.current_types(aws, region)
    types = pick_types(
        _offers(aws, region),
        named=named or kept,
        gpu=args.gpu,
        max_usd_per_tflop=args.max_usd_per_tflop,
    )
    plan = bs.plan_setup(aws, req, types)
    for line in plan.describe():
        print(line)
    if plan.conflicts:
        first, more = plan.conflicts[0], len(plan.conflicts) - 1
        raise DataError(
            f"dlpick's Batch setup in {region} differs where AWS cannot change it in place: "
            f"{first.name} {first.found}" + (f" (and {more} more)" if more else ""),
            hint=f"dlpick batch teardown --region {region}, then setup makes it again",
        )
    created, repaired = len(plan.missing), len(plan.repairs)
    if not created and not repaired:
        print(f"AWS Batch is set up in {region}; nothing to create or repair")
        return 0
    pieces, settings_ = f"{created} piece(s)", f"{repaired} setting(s)"
    if args.dry_run:
        if not repaired:
            print(f"dry run: {pieces} would be created; nothing was created")
        elif not created:
            print(f"dry run: {settings_} would be repaired; nothing was changed")
        else:
            print(
                f"dry run: {pieces} would be created and {settings_} repaired; nothing was changed"
            )
        return 0
    question = " and ".join(
        ([f"create {pieces}"] if created else []) + ([f"repair {settings_}"] if repaired else [])
    )
    if not confirm(f"{question[0].upper()}{question[1:]} in {region}?", args.yes):
        print("nothing changed", file=sys.stderr)
        return 1
    execute_setup(aws, plan, _progress)
    print(f"AWS Batch is ready in {region}: dlpick batch submit --region {region} -- COMMAND")
    return 0


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.remote.batch.jobs import load_jobs

    settings = settings.merged(profile=args.profile)
    region = region_for(args.region, settings)
    aws = aws_for(settings)
    now = datetime.now(UTC)
    jobs = load_jobs(
        aws, region, price_of(aws, region), since=now - timedelta(days=args.days), now=now
    )
    records = [j.to_record(now) for j in jobs]
    if args.format == "json":
        print(json.dumps(records, indent=2))
    elif args.format == "csv":
        fields = list(records[0]) if records else ["job_id"]
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for r in records:
            writer.writerow({k: "" if v is None else v for k, v in r.items()})
    else:
        _print_jobs(jobs, region, now)
    return 0


# The app's Jobs screen's columns and priorities: at 80 columns the job, its state and
# cost stay; the queue and start time go first.
JOB_COLUMNS = (
    Col("Job", 100),
    Col("Name", 85),
    Col("State", 95),
    Col("Queue", 20),
    Col("Type", 80),
    Col("Started", 30),
    Col("Ran", 70, right=True),
    Col("Cost", 90, right=True),
)


def _job_row(job: BatchJob, now: datetime) -> list[str]:
    from dlpick.remote.fleet.scan import fmt_hours

    shape = f" x{job.array_size}" if job.array_size else ""
    shape += f" ({job.nodes} nodes)" if job.nodes != 1 else ""
    hours, cost = job.running_hours(now), job.cost_so_far(now)
    cells = {
        "Job": job.job_id,
        "Name": f"{job.name}{shape}",
        "State": job.status,
        "Queue": job.queue.removeprefix("dlpick-"),
        "Type": f"{job.instance_type} {job.market or ''}".strip() if job.instance_type else "?",
        "Started": f"{job.started:%m-%d %H:%M}" if job.started else "-",
        "Ran": "-" if hours is None else fmt_hours(hours),
        # ?: the host or its price is not known (never a made-up $0); -: not started.
        "Cost": f"${cost:,.2f}" if cost is not None else "?" if job.started else "-",
    }
    return [cells[c.label] for c in JOB_COLUMNS]


def _print_jobs(jobs: list[BatchJob], region: str, now: datetime) -> None:

    from dlpick.tui.cli.output import print_table

    print_table(
        JOB_COLUMNS,
        [_job_row(j, now) for j in jobs],
        title=f"{plural(len(jobs), 'Batch job')} in {region}",
        caption="Cost ?: the host or its price is not known; -: not started yet",
    )


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.remote.batch.jobs import ACTIVE, cancel, find_job, job_of

    settings = settings.merged(profile=args.profile)
    region = region_for(args.region, settings)
    aws = aws_for(settings)
    described = find_job(aws, region, args.job_id)
    job = job_of(described)
    if job.status in ACTIVE:
        print(f"  {job.job_id} {job.name} in {job.queue}, {job.status}")
        if not confirm(f"Stop job {job.job_id}?", args.yes):
            print("nothing stopped", file=sys.stderr)
            return 1
    print(cancel(aws, region, described, "dlpick batch cancel"))
    return 0


def cmd_teardown(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.remote.batch.teardown import execute_teardown, plan_teardown

    settings = settings.merged(profile=args.profile)
    region = region_for(args.region, settings)
    aws = aws_for(settings)
    plan = plan_teardown(aws, region)
    if plan.empty:
        print(f"nothing of dlpick's Batch setup in {region}")
        return 0
    for line in plan.lines():
        print(line)
    print("kept: AWS's own service-linked role for Batch (free, shared with other uses)")
    if not confirm(f"Remove all of this in {region}?", args.yes):
        print("nothing removed", file=sys.stderr)
        return 1
    execute_teardown(aws, plan, _progress)
    print(f"dlpick's Batch setup in {region} is gone")
    return 0


def register_logs(actions: argparse._SubParsersAction[Parser]) -> None:
    """Add `batch logs` to the batch command's actions."""
    logs = actions.add_parser(
        "logs",
        help="a job's log from CloudWatch Logs (--follow: until the job ends)",
        description=(
            "Print a job's log from CloudWatch Logs (/aws/batch/job). --follow keeps "
            "printing until the job ends and exits 0 if it SUCCEEDED, 1 if it FAILED. A "
            "dropped connection or throttling is retried from the last page read: no line "
            "is lost or printed twice. An array job needs --child; a multi-node job shows "
            "its main node unless --node names another."
        ),
    )
    logs.add_argument("job_id", metavar="JOB", help="the job id, or a unique prefix of it")
    add_global_options(logs, region_help=REGION_HELP, needs_aws="always")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing until it ends")
    which = logs.add_mutually_exclusive_group()
    which.add_argument(
        "--child",
        type=number_arg("--child", minimum=0, integer=True),
        metavar="N",
        help="the array job's child N (its job id is JOB:N)",
    )
    which.add_argument(
        "--node",
        type=number_arg("--node", minimum=0, integer=True),
        metavar="N",
        help="the multi-node job's node N (its job id is JOB#N)",
    )
    logs.set_defaults(handler=cmd_logs)


def cmd_logs(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.remote.batch.logs import BatchLogFollower, job_state, log_target
    from dlpick.remote.ssh.follow import ConnectionChange, LogChunk

    settings = settings.merged(profile=args.profile)
    region = region_for(args.region, settings)
    aws = aws_for(settings)
    target = log_target(aws, region, args.job_id, child=args.child, node=args.node)
    follower = BatchLogFollower(
        aws.logs(region),
        target.stream,
        state=job_state(aws, region, target.job_id),
        follow=args.follow,
    )
    if target.stream is None and not args.follow:
        raise _no_log(target.job_id, target.status, region)
    out = sys.stdout.buffer
    for event in follower.events():
        if isinstance(event, LogChunk):
            out.write(event.data)
            out.flush()
        elif isinstance(event, ConnectionChange):
            if event.state == "reconnecting":
                say(f"{event.error}; trying again in {event.delay:.1f} s (attempt {event.attempt})")
            elif event.state == "connected" and event.attempt == 0 and follower.retries:
                say("reading again")
            elif event.state.startswith("waiting"):
                say(f"job {target.job_id} has no log yet; waiting for it")
    if not args.follow:
        if not follower.found:
            raise _no_log(target.job_id, target.status, region)
        return 0
    wrote = "" if follower.found else " without writing a log"
    say(f"job {target.job_id} {follower.status}{wrote}")
    return follower.exit_status if follower.exit_status is not None else 1


def _no_log(job_id: str, status: str, region: str) -> InputError:
    """Why a job's log cannot be printed: it has not written one (yet)."""
    from dlpick.remote.batch.logs import ENDED

    if status in ENDED:
        return InputError(f"no log: job {job_id} {status} without writing one")
    return InputError(
        f"no log yet: job {job_id} is {status}",
        hint=f"dlpick batch logs {job_id} --follow --region {region} waits for it",
    )


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def register_submit(actions: argparse._SubParsersAction[Parser]) -> None:
    """Add `batch submit` to the batch command's actions."""
    from dlpick.remote.launch.limits import MAX_HOURS

    submit = actions.add_parser(
        "submit",
        help="run a command as a Batch job (spot first)",
        description=(
            "Run COMMAND (after `--`) as a Batch job on dlpick's queue that tries spot first. "
            "The job definition (image, resources, retries of spot reclaims, timeout) is "
            "registered once per content and reused. --code uploads a directory, which the "
            "job unpacks and runs COMMAND in. The vCPU quota is checked first."
        ),
    )
    add_global_options(submit, region_help=REGION_HELP, needs_aws="always")
    submit.add_argument("--name", help="the job's name (default: dlpick-COMMAND)")
    submit.add_argument(
        "--gpus",
        type=number_arg("--gpus", minimum=1, maximum=64, integer=True),
        metavar="G",
        help="GPUs per job (default 1, or all of --type's)",
    )
    submit.add_argument("--type", dest="instance_type", metavar="T", help="size the job to fill T")
    submit.add_argument(
        "--array",
        type=number_arg("--array", minimum=2, maximum=10000, integer=True),
        metavar="N",
        help="an array of N jobs, each told its AWS_BATCH_JOB_ARRAY_INDEX",
    )
    submit.add_argument(
        "--nodes",
        type=number_arg("--nodes", minimum=2, maximum=1000, integer=True),
        metavar="N",
        help="a multi-node job on N on-demand hosts (Batch runs none on spot)",
    )
    submit.add_argument("--image", metavar="URI", help="container image (default: AWS's PyTorch)")
    submit.add_argument("--code", type=Path, metavar="DIR", help="upload DIR; run COMMAND in it")
    submit.add_argument(
        "--max-hours",
        type=number_arg("--max-hours", minimum=0, above=True, maximum=MAX_HOURS),
        metavar="H",
        help="end an attempt after H hours",
    )
    submit.add_argument("--on-demand", action="store_true", help="skip spot; on-demand only")
    submit.add_argument("job_command", nargs=argparse.REMAINDER, metavar="-- COMMAND")
    submit.set_defaults(handler=cmd_submit)


def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.remote.batch import submit as bs

    settings = settings.merged(profile=args.profile)
    region = region_for(args.region, settings)
    command = list(args.job_command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise UsageError(
            "no command given: dlpick batch submit [OPTIONS] -- COMMAND...", args.usage_prog
        )
    req = bs.SubmitRequest(
        region=region,
        command=command,
        name=args.name,
        gpus=args.gpus,
        instance_type=args.instance_type,
        array=args.array,
        nodes=args.nodes,
        image=args.image,
        code=args.code.expanduser() if args.code else None,
        max_hours=args.max_hours,
        on_demand=args.on_demand,
    )
    bs.check_request(req)
    aws = aws_for(settings)
    plan = bs.plan_submit(aws, req)
    for line in plan.describe():
        print(line)
    refusal = bs.quota_refusal(plan)
    if refusal is not None:
        raise refusal
    job_id = bs.submit(aws, plan, lambda msg: print(f"... {msg}", file=sys.stderr))
    print(f"submitted {job_id} to {plan.queue} in {region}")
    print(f"  follow  dlpick batch logs {job_id} --follow --region {region}")
    print(f"  stop    dlpick batch cancel {job_id} --region {region}")
    return 0
