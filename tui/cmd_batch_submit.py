"""`dlpick batch submit`: one command as a Batch job, after the quota check."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dlpick.tui.cli import Parser, region_for
from dlpick.tui.cmd_aws import _aws
from dlpick.tui.config import Settings


def register(actions: argparse._SubParsersAction[Parser]) -> None:
    """Add `batch submit` to the batch command's actions."""
    from dlpick.remote.limits import MAX_HOURS
    from dlpick.tui.cli import number_arg
    from dlpick.tui.cmd_batch import REGION_HELP
    from dlpick.tui.cmd_options import add_global_options

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
    from dlpick.remote import batch_submit as bs

    settings = settings.merged(profile=args.profile)
    region = region_for(args.region, settings)
    command = list(args.job_command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        from dlpick.tui.cmd_options import UsageError

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
    aws = _aws(settings)
    plan = bs.plan_submit(aws, req)
    for line in plan.describe():
        print(line)
    refusal = bs.quota_refusal(plan)
    if refusal is not None:
        raise refusal
    job_id = bs.submit(aws, plan, lambda msg: print(f"... {msg}", file=sys.stderr))
    print(f"submitted {job_id} to {plan.queue} in {region}")
    print(f"  follow  dlpick batch jobs --region {region}")
    print(f"  stop    dlpick batch cancel {job_id} --region {region}")
    return 0
