"""`dlpick bench`: measure a host's achieved TFLOPs, keep the figure, share the file."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from dlpick.core.files import is_stdout
from dlpick.tui.cli.common import Parser, UsageError, instance_type_arg, number_arg
from dlpick.tui.cli.output import Col
from dlpick.tui.cli.ssh import TARGET_HELP, add_connection_options

if TYPE_CHECKING:
    from dlpick.remote.ssh.bench import BenchResult
    from dlpick.tui.config import Settings

BENCH_COLUMNS = (
    Col("Device", 100, wrap=True),
    Col("FP32 TF", 90, right=True),
    Col("BF16 TF", 80, right=True),
    Col("FP16 TF", 70, right=True),
)


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    bench = sub.add_parser(
        "bench",
        help="measure the TFLOPs a host achieves and keep the figure",
        description=(
            "Upload a small benchmark to the host and run it there: dense matrix multiplies "
            "in FP32 (TF32 off), BF16 and FP16, on every GPU at once and on each alone, with "
            "PyTorch (numpy on the CPU when the host has no PyTorch); warm-up, then the median "
            "of timed repeats. The result is kept in your measurements file; `dlpick prices "
            "--tflops measured` prices types by it."
        ),
        epilog="Only figures measured on a GPU with PyTorch price a type; CPU figures are "
        "kept and shown, never used. With --export and no TARGET, writes the kept "
        "measurements to FILE.",
    )
    bench.add_argument("target", metavar="TARGET", nargs="?", help=TARGET_HELP)
    bench.add_argument(
        "--seconds",
        type=number_arg("--seconds", minimum=1, maximum=3600),
        default=60.0,
        metavar="S",
        help="time budget of the benchmark on the host (default 60)",
    )
    bench.add_argument(
        "--force", action="store_true", help="run even while a dlpick run is active on the host"
    )
    bench.add_argument(
        "--python", metavar="PATH", help="the host's python (default: the DLAMI's PyTorch one)"
    )
    bench.add_argument(
        "--instance-type",
        type=instance_type_arg("--instance-type"),
        metavar="TYPE",
        help="label the result with this type when the host's metadata cannot say",
    )
    bench.add_argument(
        "--export",
        metavar="FILE",
        help="write every kept measurement to FILE (CSV, the format --measurements reads); "
        "- for stdout",
    )
    add_connection_options(bench, lists=True)
    bench.set_defaults(handler=cmd_bench)


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    """`dlpick bench`: run the benchmark on TARGET, keep and print it; or --export."""
    from dlpick.pricing import measurements

    if args.target is None and args.export is None:
        raise UsageError("give a TARGET to benchmark, or --export FILE", args.usage_prog)
    if args.target is not None and is_stdout(args.export or ""):
        raise UsageError(
            "--export - writes to stdout, where the benchmark's result goes; "
            "give a FILE, or leave out TARGET",
            args.usage_prog,
        )
    if args.target is not None:
        result = _bench(args, settings)
        _print(result, args.format)  # first: a store that cannot be written loses nothing
        path = measurements.append(result.measurement)
        print(f"dlpick: kept in {path}", file=sys.stderr)
    if args.export is not None:
        kept = measurements.read(measurements.store_file())
        where = measurements.write(args.export, kept, option="--export")
        print(f"dlpick: wrote {len(kept)} measurements to {where}", file=sys.stderr)
    return 0


def _bench(args: argparse.Namespace, settings: Settings) -> BenchResult:
    from importlib.metadata import version

    from dlpick.remote.ssh.bench import run_bench
    from dlpick.remote.ssh.connection import connect
    from dlpick.tui.cli.ssh import resolve_target, run_async

    target, options = resolve_target(args, settings)
    # The phases on a terminal only: a script reads the result and one line per problem.
    tty = sys.stderr.isatty()

    def progress(phase: str) -> None:
        if tty:
            print(f"dlpick: bench: {phase}", file=sys.stderr, flush=True)

    async def go() -> BenchResult:
        conn = await connect(target, options)
        try:
            return await run_bench(
                conn,
                source=target.label,
                seconds=args.seconds,
                force=args.force,
                python=args.python,
                instance_type=target.instance_type or args.instance_type,
                region=target.region or args.region,
                progress=progress,
                version=version("dlpick"),
            )
        finally:
            conn.close()

    return run_async(go())


def _print(result: BenchResult, fmt: str | None) -> None:
    from dlpick.pricing.measurements import to_csv

    m = result.measurement
    if fmt in ("json", "csv"):
        from dlpick.tui.cli import output

        record = {**m.to_record(), "library": result.library, "sizes": result.sizes}
        record.update(
            per_device=result.per_device, python=result.python, elapsed_s=result.elapsed_s
        )
        if fmt == "json":
            print(output.to_json([record]))
        else:
            sys.stdout.write(to_csv([m]))
        return
    from dlpick.remote.ssh.bench import fmt_figure
    from dlpick.tui.cli.output import print_table

    rows = result.rows()
    label = m.instance_type or "type unknown"
    where = f"{label}{' in ' + m.region if m.region else ''}"
    title = f"{m.source} · {where} · {m.backend}, {m.device} · {result.library}"
    notes = [f"measured {m.measured_at} with {result.python} in {result.elapsed_s:.1f} s"]
    if m.driver:
        notes.append(
            f"driver {m.driver} · SM clock {fmt_figure(m.sm_clock_mhz)} MHz · power limit "
            f"{fmt_figure(m.power_limit_w)} W"
        )
    sizes = ", ".join(f"{k.upper()} n={n}" for k, n in result.sizes.items())
    notes.append(f"median of timed {sizes} multiplies; TFLOPs = 2n³/time")
    if m.unused_because:
        notes.append(m.unused_because)
    print(title)
    print_table(BENCH_COLUMNS, rows, caption="\n".join(notes))
    sys.stdout.flush()
