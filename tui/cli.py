"""The `dlpick` command line. Every subcommand calls the same library code as the app.

Exit codes: 0 success, 1 a user-facing error (one line on stderr), 2 usage,
3 a partial answer (some region could not be read), 70 a bug, 130 interrupted.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from dlpick.pricing.errors import (
    EXIT_BUG,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    DlpickError,
    InputError,
    bug_line,
)
from dlpick.tui.config import Settings, aws_config_region, load_settings

# Friendly names for --sort, besides every field of the JSON record.
SORT_ALIASES = {
    "type": "instance_type",
    "gpu": "gpu_model",
    "model": "gpu_model",
    "count": "gpu_count",
    "gpus": "gpu_count",
    "gpu-memory": "gpu_memory_gib",
    "memory": "memory_gib",
    "vcpu": "vcpus",
    "tflops": "fp32_tflops",
    "fp32": "fp32_tflops",
    "bf16": "bf16_tflops",
    "price": "on_demand_usd_hour",
    "on-demand": "on_demand_usd_hour",
    "spot": "spot_usd_hour",
    "value": "usd_per_fp32_tflop_hour",
    "spot-value": "spot_usd_per_fp32_tflop_hour",
}
SORT_LABELS = {
    "usd_per_fp32_tflop_hour": "on-demand $ per FP32 TFLOP-hour",
    "spot_usd_per_fp32_tflop_hour": "spot $ per FP32 TFLOP-hour",
    "usd_per_bf16_tflop_hour": "on-demand $ per BF16 TFLOP-hour",
    "spot_usd_per_bf16_tflop_hour": "spot $ per BF16 TFLOP-hour",
    "on_demand_usd_hour": "on-demand $/hour",
    "spot_usd_hour": "spot $/hour",
}
# Bigger is better for these, so they sort from the top.
DESCENDING = {"gpu_count", "gpu_memory_gib", "vcpus", "memory_gib", "fp32_tflops", "bf16_tflops"}


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlpick",
        description=(
            "Compare AWS GPU and accelerator instances by price per TFLOP-hour, launch them "
            "on a Deep Learning AMI, and watch training. With no command, opens the app."
        ),
    )
    parser.add_argument("--profile", help="AWS profile (default: boto3's own resolution)")
    # The app's own flags; distinct dests so a subcommand's --region never overwrites them.
    parser.add_argument(
        "--region", dest="app_region", metavar="REGION", help="the app's starting region, or 'all'"
    )
    parser.add_argument(
        "--offline",
        dest="app_offline",
        action="store_true",
        default=None,
        help="the app without network: cached or bundled snapshot prices",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    from dlpick.pricing.catalog import RECORD_FIELDS

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
    prices.add_argument("--region", help="a region code, or 'all' for each type's cheapest region")
    prices.add_argument(
        "--offline",
        action="store_true",
        default=None,
        help="no network: cached or bundled snapshot prices",
    )
    prices.add_argument(
        "--refresh", action="store_true", help="ignore the cache, fetch live prices"
    )
    prices.add_argument(
        "--sort",
        metavar="COLUMN",
        help="sort column (default: $/FP32-TFLOP-hour, spot with --spot)",
    )
    prices.add_argument("--reverse", action="store_true", help="reverse the sort order")
    prices.add_argument(
        "--gpu",
        metavar="MODEL",
        help="only these accelerator models, comma-separated (e.g. H100,L4)",
    )
    prices.add_argument(
        "--min-gpu-memory",
        type=float,
        metavar="GIB",
        help="minimum total accelerator memory of the instance, GiB",
    )
    prices.add_argument(
        "--max-price",
        type=float,
        metavar="USD",
        help="maximum price per hour (spot price with --spot)",
    )
    prices.add_argument(
        "--spot",
        action="store_true",
        help="rank by spot prices (types without a spot price are left out)",
    )
    prices.add_argument("--format", choices=("table", "csv", "json"), default="table")
    prices.set_defaults(handler=cmd_prices)

    from dlpick.tui import cmd_aws, cmd_fleet, cmd_ssh

    cmd_aws.register(sub)
    cmd_fleet.register(sub)
    cmd_ssh.register(sub)
    return parser


def _resolve_region(args: argparse.Namespace, settings: Settings) -> str:
    from dlpick.pricing.aws import DEFAULT_REGION

    return args.region or settings.region or aws_config_region(args.profile) or DEFAULT_REGION


def _sort_key(field: str) -> str:
    from dlpick.pricing.catalog import RECORD_FIELDS

    key = SORT_ALIASES.get(field.lower(), field.lower().replace("-", "_"))
    if key not in RECORD_FIELDS:
        raise InputError(
            f"unknown sort column {field!r}; use one of: {', '.join(sorted(SORT_ALIASES))} "
            "or a JSON field name"
        )
    return key


def sort_records(
    records: list[dict[str, Any]], key: str, reverse: bool = False
) -> list[dict[str, Any]]:
    """Sort with unknown values (None) always last."""
    descending = (key in DESCENDING) != reverse
    known = [r for r in records if r.get(key) is not None]
    unknown = [r for r in records if r.get(key) is None]
    known.sort(
        key=lambda r: (r[key], r["instance_type"]) if not descending else r[key], reverse=descending
    )
    unknown.sort(key=lambda r: r["instance_type"])
    return known + unknown


def model_matches(model: str, wanted: str) -> bool:
    """'A100' matches 'A100 40GB' and 'A100 80GB'; 'L4' matches 'L4' but not 'L40S'."""
    model, wanted = model.casefold(), wanted.strip().casefold()
    return model == wanted or model.startswith(wanted + " ")


def filter_records(
    records: list[dict[str, Any]],
    *,
    gpus: Sequence[str] = (),
    min_gpu_memory: float | None = None,
    max_price: float | None = None,
    spot: bool = False,
) -> list[dict[str, Any]]:
    out = []
    for r in records:
        if gpus and not any(model_matches(r["gpu_model"], g) for g in gpus):
            continue
        if min_gpu_memory is not None and r["gpu_memory_gib"] < min_gpu_memory:
            continue
        price = r["spot_usd_hour"] if spot else r["on_demand_usd_hour"]
        if spot and price is None:
            continue
        if max_price is not None and (price is None or price > max_price):
            continue
        out.append(r)
    return out


def _make_catalog(settings: Settings, warn: Callable[[str], None]) -> Any:
    from dlpick.pricing.cache import PriceCache
    from dlpick.pricing.catalog import Catalog

    aws = None
    if not settings.offline:
        from dlpick.pricing.aws import Aws

        aws = Aws(profile=settings.profile)
        if not aws.has_credentials():
            warn("no AWS credentials found; showing cached or bundled snapshot prices")
            aws = None
    return Catalog(cache=PriceCache(warn=warn), aws=aws, warn=warn)


def cmd_prices(args: argparse.Namespace, settings: Settings) -> int:
    from dlpick.pricing.catalog import cheapest_per_type
    from dlpick.tui import output

    settings = settings.merged(offline=args.offline, profile=args.profile)
    if args.max_price is not None and args.max_price < 0:
        raise InputError(f"--max-price must be zero or more, not {args.max_price:g}")
    if args.min_gpu_memory is not None and args.min_gpu_memory < 0:
        raise InputError(f"--min-gpu-memory must be zero or more, not {args.min_gpu_memory:g}")
    sort_key = (
        _sort_key(args.sort)
        if args.sort
        else ("spot_usd_per_fp32_tflop_hour" if args.spot else "usd_per_fp32_tflop_hour")
    )
    region = _resolve_region(args, settings)
    catalog = _make_catalog(settings, warn)
    all_regions = region.lower() == "all"
    try:
        if all_regions:
            offers = cheapest_per_type(catalog.all_offers(refresh=args.refresh), spot=args.spot)
        else:
            offers = catalog.offers(region, refresh=args.refresh)
    except InputError as exc:
        raise InputError(str(exc)) from None
    records = [o.to_record() for o in offers]
    gpus = [g.strip() for g in (args.gpu or "").split(",") if g.strip()]
    models = sorted({r["gpu_model"] for r in records})
    unknown = [g for g in gpus if not any(model_matches(m, g) for m in models)]
    if unknown:
        raise InputError(f"unknown accelerator model {unknown[0]!r}; known: {', '.join(models)}")
    records = filter_records(
        records,
        gpus=gpus,
        min_gpu_memory=args.min_gpu_memory,
        max_price=args.max_price,
        spot=args.spot,
    )
    records = sort_records(records, sort_key, args.reverse)
    if args.format == "json":
        print(output.to_json(records))
    elif args.format == "csv":
        sys.stdout.write(output.to_csv(records))
    else:
        where = "all regions (cheapest region per type)" if all_regions else region
        title = (
            f"{len(records)} instance types in {where}, by {SORT_LABELS.get(sort_key, sort_key)}"
        )
        output.print_table(records, spot=args.spot, show_region=all_regions, title=title)
    return 0


def run_app(args: argparse.Namespace, settings: Settings) -> int:
    """Open the terminal app (Textual is imported only now, so subcommands stay fast)."""
    from dlpick.pricing.aws import DEFAULT_REGION
    from dlpick.tui.app import build_app

    settings = settings.merged(offline=args.app_offline, profile=args.profile)
    region = args.app_region or settings.region or aws_config_region(args.profile) or DEFAULT_REGION
    build_app(settings, region).run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command (or the app); every failure ends here as one line and an exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if args.command is None:
            return run_app(args, settings)
        handler: Callable[[argparse.Namespace, Settings], int] = args.handler
        code = handler(args, settings)
        sys.stdout.flush()
        return code
    except DlpickError as exc:
        return _fail(f"error: {exc}", EXIT_ERROR)
    except KeyboardInterrupt:
        # Worker threads may sit in a network call for seconds: do not wait for them.
        _fail("interrupted", EXIT_INTERRUPTED)
        os._exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EIO, errno.EBADF, errno.EROFS) and _stdout_failed():
            _silence_stdout()
            return _fail(f"error: cannot write the output: {exc.strerror}", EXIT_ERROR)
        return _fail(bug_line(exc, " ".join(argv or sys.argv[1:])), EXIT_BUG)
    except Exception as exc:
        return _fail(bug_line(exc, " ".join(argv or sys.argv[1:])), EXIT_BUG)


def _fail(line: str, code: int) -> int:
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        pass
    return code


def _stdout_failed() -> bool:
    try:
        sys.stdout.flush()
    except OSError:
        return True
    return False


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
