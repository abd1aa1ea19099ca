"""`dlpick batch logs`: a Batch job's log from CloudWatch Logs, followed to its end."""

from __future__ import annotations

import argparse
import sys

from dlpick.tui.cli import Parser, region_for
from dlpick.tui.cmd_aws import _aws
from dlpick.tui.config import Settings


def register(actions: argparse._SubParsersAction[Parser]) -> None:
    """Add `batch logs` to the batch command's actions."""
    from dlpick.tui.cli import number_arg
    from dlpick.tui.cmd_batch import REGION_HELP
    from dlpick.tui.cmd_options import add_global_options

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
    logs.add_argument("job_id", metavar="JOB", help="the job id")
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
    from dlpick.remote.batch_logs import BatchLogFollower, job_state, log_target
    from dlpick.remote.log_events import ConnectionChange, LogChunk

    settings = settings.merged(profile=args.profile)
    region = region_for(args.region, settings)
    aws = _aws(settings)
    target = log_target(aws, region, args.job_id, child=args.child, node=args.node)
    follower = BatchLogFollower(
        aws.logs(region),
        target.stream,
        state=job_state(aws, region, target.job_id),
        follow=args.follow,
    )
    if target.stream is None and not args.follow:
        _say(f"job {target.job_id} ({target.status}) has no log yet")
        return 0
    out = sys.stdout.buffer
    for event in follower.events():
        if isinstance(event, LogChunk):
            out.write(event.data)
            out.flush()
        elif isinstance(event, ConnectionChange):
            if event.state == "reconnecting":
                _say(
                    f"{event.error}; trying again in {event.delay:.1f} s (attempt {event.attempt})"
                )
            elif event.state == "connected" and event.attempt == 0 and follower.retries:
                _say("reading again")
            elif event.state.startswith("waiting"):
                _say(f"job {target.job_id} has no log yet; waiting for it")
    if not args.follow:
        return 0
    _say(f"job {target.job_id} {follower.status}")
    return follower.exit_status if follower.exit_status is not None else 1


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
