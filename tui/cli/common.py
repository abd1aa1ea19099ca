"""What every command shares: the global options, the parser, the AWS handle.

The options every command takes (below), the parser whose usage errors are one line,
number flags checked at the edge, the one resolution of the region, the AWS access and
the price catalog a command works with, and the y/N confirmation.

`--profile`, `--region` and `--offline` (and `--output`/`--format` on the commands
that list) are accepted before and after the command, as in `aws`. Each is added to
the top-level parser and to every subcommand's with no default, so only an option
actually given sets it: argparse copies a subcommand's values over the top level's,
so the one nearest the command wins, and within one place the last one wins.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from dlpick.core.aws import DEFAULT_REGION, Aws
from dlpick.core.errors import DlpickError, InputError
from dlpick.core.inputs import check_given, check_instance_type, check_region, parse_number
from dlpick.remote.ssh.target import parse_target
from dlpick.tui.config import Settings, aws_config_region

if TYPE_CHECKING:
    from dlpick.pricing.catalog import Catalog

FORMATS = ("table", "csv", "json")
ALL_REGIONS = "all"
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

    def __init__(self, message: str, prog: str = "dlpick", *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.prog = prog

    def line(self) -> str:
        hint = f" — {self.hint}" if self.hint else ""
        return f"{self.prog}: error: {self.message}{hint} (see {self.prog} --help)"


def add_global_options(
    parser: argparse.ArgumentParser,
    *,
    region_help: str | None,
    needs_aws: NeedsAws,
    lists: bool = False,
    output: bool | None = None,
    all_regions: bool = False,
) -> None:
    """Add --profile, --region (unless `region_help` is None: the caller adds it),
    --offline, and --output/--format when the command lists (or `output` says so).
    `all_regions`: the command takes `--region all`."""
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
    parser.set_defaults(
        usage_prog=parser.prog, lists=lists, needs_aws=needs_aws, all_regions_ok=all_regions
    )


def check_global_options(args: argparse.Namespace) -> None:
    """Give every global option a value (None when not given) and refuse the ones
    the command cannot honour: --output where nothing is listed, --offline where
    AWS is needed, a --region that is empty, unknown, or 'all' where one region is
    needed. All are usage errors (exit 2). The --region checked is the one that won
    (the nearest the command), so a later one may correct an earlier one."""
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
    if args.region is not None:
        try:
            args.region = check_region_option(args.region, all_regions=args.all_regions_ok)
        except InputError as exc:
            raise UsageError(exc.message, prog, hint=exc.hint) from None


def _needs_aws(args: argparse.Namespace) -> bool:
    if args.needs_aws == "instance":
        target = getattr(args, "target", None)
        return target is not None and parse_target(target).instance_id is not None
    return bool(args.needs_aws == "always")


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def region_for(explicit: str | None, settings: Settings, *, allow_all: bool = False) -> str:
    """The region a command works in: the flag, the config, AWS's own config, us-east-1.

    The one place a region is resolved and checked, for every command and the app.
    """
    region = explicit or settings.region or aws_config_region(settings.profile) or DEFAULT_REGION
    if allow_all and region.lower() == ALL_REGIONS:
        return ALL_REGIONS
    return check_region(region)


class Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (exit 2), pointing at --help.

    A value an option's type refuses (an InputError naming the option: `number_arg`,
    `region_arg`, `instance_type_arg`, ...) is a usage error too: the command line is
    refused as it is read, before anything reaches AWS.
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog)

    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        try:
            return super()._get_value(action, arg_string)
        except InputError as exc:
            raise UsageError(exc.message, self.prog, hint=exc.hint) from None


def check_region_option(text: str, *, all_regions: bool) -> str:
    """--region as given: a known region code, or 'all' where the command takes it."""
    check_given(text, "--region", "a region code such as us-east-1")
    if text.lower() == ALL_REGIONS:
        if all_regions:
            return ALL_REGIONS
        raise InputError("--region all: this command works in one region")
    try:
        return check_region(text)
    except InputError as exc:
        raise InputError(f"--region: {exc.message}", hint=exc.hint) from None


def instance_type_arg(what: str = "TYPE") -> Callable[[str], str]:
    """An instance type argument's type: FAMILY.SIZE (whether AWS has it is AWS's to say)."""
    return lambda text: check_instance_type(text, what)


def given_arg(option: str, example: str) -> Callable[[str], str]:
    """The type of an option whose empty value would otherwise mean its default."""
    return lambda text: check_given(text, option, example)


def names_arg(option: str, example: str) -> Callable[[str], list[str]]:
    """A comma-separated list option's type: its names, at least one ('' or ',' is refused)."""

    def parse(text: str) -> list[str]:
        check_given(text, option, example)
        names = [name.strip() for name in text.split(",") if name.strip()]
        if not names:
            raise InputError(f"{option} {text!r} names nothing", hint=f"give {example}")
        return names

    return parse


def number_arg(
    flag: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: bool = False,
    integer: bool = False,
) -> Callable[[str], float]:
    """An argparse type: a finite number in range, else a usage error naming the flag."""

    def parse(text: str) -> float:
        value = parse_number(
            text, flag, minimum=minimum, maximum=maximum, above=above, integer=integer
        )
        return int(value) if integer else value

    return parse


def aws_for(settings: Settings) -> Aws:
    return Aws(profile=settings.profile).require_credentials()


def confirm(question: str, assume_yes: bool) -> bool:
    """Ask on the terminal; without one, only --yes says yes."""
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        raise InputError(f"{question.rstrip('?')}: needs confirmation; pass --yes")
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def make_catalog(settings: Settings, warn: Callable[[str], None]) -> Catalog:
    from dlpick.core.cache import PriceCache
    from dlpick.pricing.catalog import Catalog

    aws = None
    if not settings.offline:
        aws = Aws(profile=settings.profile)
        problem = aws.credentials_problem()
        if problem is not None:
            # The reason as AWS tools word it: no credentials, or a profile that is not there.
            warn(f"showing cached or bundled snapshot prices: {problem}")
            aws = None
    return Catalog(cache=PriceCache(warn=warn), aws=aws, warn=warn, profile=settings.profile)
