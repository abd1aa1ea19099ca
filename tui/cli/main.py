"""The `dlpick` command line. Every subcommand calls the same library code as the app.

Exit codes: 0 success, 1 a user-facing error (one line on stderr), 2 usage,
3 a partial answer (some region could not be read), 70 a bug, 130 interrupted; a
command that passes a run's status through (`logs --follow`) fails with 255 instead
of 1 or 70 once its command line is accepted, as ssh does.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dlpick.core.errors import (
    EXIT_BUG,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NO_STATUS,
    EXIT_OK,
    EXIT_USAGE,
    DlpickError,
    bug_line,
)
from dlpick.pricing.measurements import apply_measured, load
from dlpick.tui import formats
from dlpick.tui.cli.common import (
    Parser,
    UsageError,
    add_global_options,
    check_global_options,
    make_catalog,
    names_arg,
    number_arg,
    region_for,
    warn,
)
from dlpick.tui.config import Settings, load_settings

if TYPE_CHECKING:
    pass


# The global options that take a value, as the app's command line may carry them.
VALUE_OPTIONS = frozenset({"--profile", "--region", "--output", "--format"})


def opens_the_app(argv: Sequence[str]) -> bool:
    """Whether the line names no command (and asks no help): the app opens, and the
    commands' parsers (and the modules they import) are not needed before its frame."""
    value_next = False
    for token in argv:
        if value_next:
            value_next = False
        elif token in ("-h", "--help") or not token.startswith("-"):
            return False
        else:
            value_next = token in VALUE_OPTIONS
    return True


def build_parser(*, commands: bool = True) -> argparse.ArgumentParser:
    parser = Parser(
        prog="dlpick",
        description=(
            "Compare AWS GPU and accelerator instances by price per TFLOP-hour, launch them "
            "on a Deep Learning AMI, and watch training. With no command, opens the app."
        ),
    )
    parser.add_argument("--version", action="store_true", help="print dlpick's version and exit")
    # The app's own options are the global ones: the app lists nothing, but --output
    # given here reaches the command after it.
    add_global_options(
        parser,
        region_help="a region code (for the app: its starting region, or 'all')",
        needs_aws="never",
        output=True,
        all_regions=True,
    )
    if not commands:
        parser.set_defaults(command=None)
        return parser
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    from dlpick.pricing.catalog import RECORD_FIELDS
    from dlpick.pricing.select import SORT_ALIASES, sort_name

    prices = sub.add_parser(
        "prices",
        help="every GPU/accelerator instance type with its price per TFLOP-hour",
        description=(
            "List every EC2 instance type with GPUs or ML accelerators: accelerator model and "
            "count, FP32 TFLOPs, on-demand and spot price, and the price per FP32 TFLOP-hour. "
            "Prices are live when AWS credentials work, else cached or from the bundled snapshot; "
            "every price says which and how old."
        ),
        epilog=(
            "sort columns: " + ", ".join(RECORD_FIELDS) + "; or " + ", ".join(sorted(SORT_ALIASES))
        ),
    )
    add_global_options(
        prices,
        region_help="a region code, or 'all' for each type's cheapest region",
        needs_aws="never",
        lists=True,
        all_regions=True,
    )
    prices.add_argument(
        "--refresh", action="store_true", help="ignore the cache, fetch live prices"
    )
    prices.add_argument(
        "--sort",
        type=sort_name,
        metavar="COLUMN",
        help="sort column (default: $/FP32-TFLOP-hour, spot with --spot)",
    )
    prices.add_argument(
        "--metric",
        choices=("fp32", "bf16"),
        help="rank by and show FP32 (default) or BF16 TFLOPs and $/TFLOP-hour; "
        "a --sort on a BF16 field shows BF16 too",
    )
    prices.add_argument("--reverse", action="store_true", help="reverse the sort order")
    prices.add_argument(
        "--gpu",
        type=names_arg("--gpu", "accelerator models such as H100,L4"),
        metavar="MODEL",
        help="only these accelerator models, comma-separated (e.g. H100,L4)",
    )
    prices.add_argument(
        "--min-gpu-memory",
        type=number_arg("--min-gpu-memory", minimum=0),
        metavar="GIB",
        help="minimum total accelerator memory of the instance, GiB",
    )
    prices.add_argument(
        "--max-price",
        type=number_arg("--max-price", minimum=0),
        metavar="USD",
        help="maximum price per hour (spot price with --spot)",
    )
    prices.add_argument(
        "--max-interruption",
        type=number_arg("--max-interruption", minimum=0, maximum=100),
        metavar="PERCENT",
        help="only types whose spot interruption band (AWS Spot Instance Advisor) is at most"
        " this many percent a month, e.g. 10 keeps <5%% and 5-10%%; unknown bands are left out",
    )
    prices.add_argument(
        "--spot",
        action="store_true",
        help="rank by spot prices (types without a spot price are left out)",
    )
    prices.add_argument(
        "--use",
        choices=("training", "inference", "all"),
        default="training",
        help="accelerators positioned for training (default), inference only, or all",
    )
    prices.add_argument(
        "--tflops",
        choices=("datasheet", "measured"),
        default="datasheet",
        help="price per datasheet TFLOP (default), or per measured TFLOP where `dlpick "
        "bench` measured the type (datasheet figures marked * otherwise)",
    )
    prices.add_argument(
        "--measurements",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="also use this measurements CSV (as `dlpick bench --export` writes) with "
        "`--tflops measured`; may be repeated",
    )
    prices.set_defaults(handler=cmd_prices)

    from dlpick.tui.cli import batch, bench, capacity, fleet, launch, spot, ssh

    for group in (launch, capacity, spot, fleet, ssh, batch, bench):
        group.register(sub)
    return parser


def cmd_prices(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.pricing.select import (
        SORT_LABELS,
        cheapest_per_type,
        filter_records,
        hidden_by_use,
        ranking,
        sort_records,
        unknown_models,
    )
    from dlpick.tui.cli import output

    sort_key, metric = ranking(args.sort, args.metric, spot=args.spot)
    region = region_for(args.region, settings, allow_all=True)
    catalog = make_catalog(settings, warn)
    all_regions = region.lower() == "all"
    if all_regions:
        offers = cheapest_per_type(catalog.all_offers(refresh=args.refresh), spot=args.spot)
    else:
        offers = catalog.offers(region, refresh=args.refresh)
    records = [o.to_record() for o in offers]
    if args.tflops == "measured" or args.measurements:
        measured = load(args.measurements)
        if args.tflops == "measured":
            records = apply_measured(records, measured)
    offline_note = f"offline: {'; '.join(formats.provenance(records)) or 'no prices'}"
    # The bands are shown (the spot table) or used (the filter): say when they are old.
    bands = args.spot or args.max_interruption is not None
    if bands and formats.advisor_stale(records):
        warn(formats.advisor_line(records))
    gpus: list[str] = args.gpu or []
    unknown_models(gpus, sorted({r["gpu_model"] for r in records}))
    records = filter_records(
        records,
        gpus=gpus,
        min_gpu_memory=args.min_gpu_memory,
        max_price=args.max_price,
        spot=args.spot,
        max_interruption=args.max_interruption,
    )
    hidden = hidden_by_use(records, args.use)
    records = filter_records(records, use=args.use)
    records = sort_records(records, sort_key, args.reverse)
    if settings.offline:
        # No AWS call was made: say where the prices shown come from, and how old they are.
        print(offline_note, file=sys.stderr)
    if args.format == "json":
        print(output.to_json(records))
    elif args.format == "csv":
        sys.stdout.write(output.to_csv(records))
    else:
        where = "all regions (cheapest region per type)" if all_regions else region
        count = formats.plural(len(records), "instance type")
        title = f"{count} in {where}, by {SORT_LABELS.get(sort_key, sort_key)}"
        if hidden:
            other = "inference-only" if args.use == "training" else "training"
            title += f"\n{formats.plural(hidden, other + ' type')} hidden; --use all shows them"
        if args.tflops == "measured":
            title += f"\nmeasured {metric.upper()} TFLOPs where known"
        output.print_offers(
            records,
            spot=args.spot,
            show_region=all_regions,
            title=title,
            sort_field=sort_key,
            metric=metric,
            bands=bands,
        )
    return 0


def run_app(args: argparse.Namespace, settings: Settings) -> int:
    """Open the terminal app (Textual is imported only now, so subcommands stay fast)."""
    from dlpick.tui.app_process import NEEDS_TERMINAL, has_terminal, open_app

    region = region_for(args.region, settings, allow_all=True)
    if not has_terminal():
        # With no terminal to draw on or read keys from, the app would only spin.
        return _fail(NEEDS_TERMINAL, EXIT_USAGE)
    return open_app(settings, region)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command (or the app); every failure ends here as one line and an exit code."""
    line = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(commands=not opens_the_app(line))
    # Whether the command passes a run's exit status through: then its own failures
    # must not look like the run's (1, 70), and are 255.
    through = False
    try:
        try:
            args = parser.parse_args(line)  # flag values are checked here (InputError)
        except SystemExit as done:  # --help
            return int(done.code or 0)
        if args.version:
            from importlib.metadata import version

            print(f"dlpick {version('dlpick')}")
            return EXIT_OK
        check_global_options(args)
        settings = load_settings().merged(profile=args.profile, offline=args.offline)
        if args.command is None:
            return run_app(args, settings)
        handler: Callable[[argparse.Namespace, Settings], int] = args.handler
        through = bool(getattr(args, "passes_status", False) and getattr(args, "follow", False))
        code = handler(args, settings)
        sys.stdout.flush()
        return code
    except UsageError as exc:
        return _fail(exc.line(), EXIT_USAGE)
    except DlpickError as exc:
        return _fail(f"error: {exc}", EXIT_NO_STATUS if through else EXIT_ERROR)
    except KeyboardInterrupt:
        # Worker threads may sit in a network call for seconds: do not wait for them.
        _fail("interrupted", EXIT_INTERRUPTED)
        os._exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK
    except OSError as exc:
        # Files dlpick itself writes (cache, keys, state) turn these into DlpickErrors
        # where they are written: what reaches here is the output the user redirected.
        if exc.errno in (errno.ENOSPC, errno.EIO, errno.EFBIG, errno.EDQUOT):
            _silence_stdout()
            error = EXIT_NO_STATUS if through else EXIT_ERROR
            return _fail(f"error: cannot write the output: {exc.strerror}", error)
        return _fail(bug_line(exc, " ".join(line)), EXIT_NO_STATUS if through else EXIT_BUG)
    except Exception as exc:
        return _fail(bug_line(exc, " ".join(line)), EXIT_NO_STATUS if through else EXIT_BUG)


def _fail(line: str, code: int) -> int:
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        pass
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
