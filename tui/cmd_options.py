"""The options every command takes, wherever they stand on the line.

`--profile`, `--region` and `--offline` (and `--output`/`--format` on the commands
that list) are accepted before and after the command, as in `aws`. Each is added to
the top-level parser and to every subcommand's with no default, so only an option
actually given sets it: argparse copies a subcommand's values over the top level's,
so the one nearest the command wins, and within one place the last one wins.
"""

from __future__ import annotations

import argparse
from typing import Literal

from dlpick.pricing.errors import DlpickError

FORMATS = ("table", "csv", "json")
GLOBAL_DESTS = ("profile", "region", "offline", "format")
LISTING = (
    "prices",
    "ls",
    "quotas",
    "runs",
    "batch jobs",
    "capacity-blocks",
    "spot-history",
    "bench",
)
LISTING_COMMANDS = ", ".join(LISTING[:-1]) + " and " + LISTING[-1]
PROFILE_HELP = "AWS profile (default: boto3's own resolution, e.g. AWS_PROFILE)"
OFFLINE_HELP = (
    "make no AWS call: prices come from the cache or the bundled snapshot; "
    "a command that needs AWS refuses it"
)
FORMAT_HELP = "table (default), csv or json"

# Whether a command calls AWS: always, never, or only for an instance-id TARGET.
NeedsAws = Literal["always", "never", "instance"]


class UsageError(DlpickError):
    """A command line that cannot be run as given: one line, exit code 2."""

    def __init__(self, message: str, prog: str = "dlpick") -> None:
        super().__init__(message)
        self.prog = prog

    def line(self) -> str:
        return f"{self.prog}: error: {self.message} (see {self.prog} --help)"


def add_global_options(
    parser: argparse.ArgumentParser,
    *,
    region_help: str | None,
    needs_aws: NeedsAws,
    lists: bool = False,
    output: bool | None = None,
) -> None:
    """Add --profile, --region (unless `region_help` is None: the caller adds it),
    --offline, and --output/--format when the command lists (or `output` says so)."""
    parser.add_argument("--profile", default=argparse.SUPPRESS, help=PROFILE_HELP)
    if region_help is not None:
        parser.add_argument(
            "--region", default=argparse.SUPPRESS, metavar="REGION", help=region_help
        )
    parser.add_argument(
        "--offline", action="store_true", default=argparse.SUPPRESS, help=OFFLINE_HELP
    )
    if lists if output is None else output:
        parser.add_argument(
            "--output",
            "--format",
            dest="format",
            choices=FORMATS,
            default=argparse.SUPPRESS,
            help=FORMAT_HELP,
        )
    parser.set_defaults(usage_prog=parser.prog, lists=lists, needs_aws=needs_aws)


def check_global_options(args: argparse.Namespace) -> None:
    """Give every global option a value (None when not given) and refuse the ones
    the command cannot honour: --output where nothing is listed, --offline where
    AWS is needed. Both are usage errors (exit 2)."""
    for dest in GLOBAL_DESTS:
        if not hasattr(args, dest):
            setattr(args, dest, None)
    prog: str = args.usage_prog
    if args.format is not None and not args.lists:
        raise UsageError(
            f"--output {args.format}: this command lists nothing "
            f"(--output/--format is for {LISTING_COMMANDS})",
            prog,
        )
    if args.offline and _needs_aws(args):
        raise UsageError(f"--offline: {prog} needs AWS", prog)


def _needs_aws(args: argparse.Namespace) -> bool:
    if args.needs_aws == "instance":
        from dlpick.remote.target import parse_target

        target = getattr(args, "target", None)
        return target is not None and parse_target(target).instance_id is not None
    return bool(args.needs_aws == "always")
