"""`dlpick bench`: measure the TFLOPs a host's accelerators achieve, over SSH.

The benchmark (remote/data/bench_host.py, standard library plus PyTorch or numpy)
is uploaded as text into the host's ~/dlpick-bench/ and run there with a time
budget. It watches its own deadline; the host's `timeout` and this side's wait
end it a little after, whatever happens. Its result becomes a `Measurement`.
"""

from __future__ import annotations

import asyncio
import json
import math
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

from dlpick.core.errors import DlpickError, InputError
from dlpick.pricing.measurements import Measurement
from dlpick.remote.ssh.connection import run_remote
from dlpick.remote.ssh.runs import list_runs

if TYPE_CHECKING:
    import asyncssh

DEFAULT_SECONDS = 60.0
RESULT_PREFIX = "DLPICK-BENCH "
REMOTE_DIR = "dlpick-bench"
# Where the Deep Learning AMIs keep their PyTorch: the single-framework DLAMIs'
# virtual environment, then the conda DLAMIs' environment; else the PATH's python3.
PYTHONS = ("/opt/pytorch/bin/python3", "/opt/conda/envs/pytorch/bin/python")
# Past the budget: loading PyTorch and CUDA, and a last repeat, may take this long.
GRACE_SECONDS = 45.0


class BenchError(DlpickError):
    """The benchmark could not run or did not answer; worded for the user."""


class BusyHost(InputError):
    """A dlpick run is active on the host: a benchmark would slow it and measure less."""


@dataclass(frozen=True)
class BenchResult:
    """One benchmark's answer: the measurement kept, and what the host reported besides."""

    measurement: Measurement
    library: str
    sizes: dict[str, int]
    per_device: list[dict[str, Any]]
    elapsed_s: float
    python: str

    def rows(self) -> list[list[str]]:
        """[device, FP32, BF16, FP16 TFLOPs] as shown: every device at once, then each alone."""
        m = self.measurement
        rows = [["all at once", m.fp32_tflops, m.bf16_tflops, m.fp16_tflops]]
        if len(self.per_device) > 1:
            rows += [
                [f"{d.get('index')}: {d.get('name')}", d.get("fp32"), d.get("bf16"), d.get("fp16")]
                for d in self.per_device
            ]
        return [[str(name), *(fmt_figure(v) for v in values)] for name, *values in rows]


def fmt_figure(value: object) -> str:
    """'12.34', or '—' for a figure not measured."""
    return f"{value:.2f}" if isinstance(value, int | float) else "—"


def host_script() -> str:
    return resources.files("dlpick.remote").joinpath("data/bench_host.py").read_text("utf-8")


def python_choice(python: str | None) -> str:
    """The shell words that pick the host's python: the one given, or the first DLAMI one."""
    if python:
        return shlex.quote(python)
    tests = " ".join(shlex.quote(p) for p in PYTHONS)
    return f'"$(for p in {tests}; do [ -x "$p" ] && echo "$p" && exit; done; echo python3)"'


def bench_command(seconds: float, python: str | None, metadata: bool) -> str:
    limit = math.ceil(seconds + GRACE_SECONDS)
    script = f"$HOME/{REMOTE_DIR}/bench_host.py"
    flags = f"--seconds {seconds:g}" + ("" if metadata else " --no-metadata")
    # `timeout` ends it on the host even when this side has gone; absent, it runs bare.
    return (
        f'py={python_choice(python)}; echo "python $py" >&2; '
        f'if command -v timeout >/dev/null; then timeout -k 5 {limit} "$py" {script} {flags}; '
        f'else "$py" {script} {flags}; fi'
    )


async def active_runs(conn: asyncssh.SSHClientConnection) -> list[str]:
    """The ids of the dlpick runs still running on the host."""
    return [run.run_id for run in await list_runs(conn) if run.running]


async def run_bench(
    conn: asyncssh.SSHClientConnection,
    *,
    source: str,
    seconds: float = DEFAULT_SECONDS,
    force: bool = False,
    python: str | None = None,
    instance_type: str | None = None,
    region: str | None = None,
    progress: Callable[[str], None] = lambda phase: None,
    version: str = "",
) -> BenchResult:
    """Upload and run the benchmark; refuses while a run is active unless `force`."""
    progress("checking")
    if not force:
        busy = await active_runs(conn)
        if busy:
            raise BusyHost(
                f"a dlpick run is active on {source} ({', '.join(busy)}): a benchmark now "
                "would slow it and measure less",
                hint="wait for it to end, or pass --force",
            )
    progress("uploading")
    upload = await run_remote(
        conn,
        f'mkdir -p "$HOME/{REMOTE_DIR}" && cat > "$HOME/{REMOTE_DIR}/bench_host.py"',
        input=host_script(),
    )
    if upload.exit_status != 0:
        raise BenchError(f"cannot upload the benchmark to {source}: {_text(upload.stderr)}")
    command = bench_command(seconds, python, metadata=not instance_type)
    try:
        out, err, status = await asyncio.wait_for(
            _run_streaming(conn, command, progress), seconds + GRACE_SECONDS + 10
        )
    except TimeoutError:
        raise BenchError(
            f"the benchmark on {source} did not answer within {seconds + GRACE_SECONDS:.0f} s"
        ) from None
    line = next((ln for ln in out.splitlines() if ln.startswith(RESULT_PREFIX)), None)
    used = next((ln[7:] for ln in err.splitlines() if ln.startswith("python ")), "python3")
    if line is None:
        last = [ln for ln in err.splitlines() if ln and not ln.startswith(("phase ", "python "))]
        reason = last[-1] if last else f"exit status {status}"
        raise BenchError(f"the benchmark on {source} failed ({used}): {reason}")
    try:
        answer = json.loads(line[len(RESULT_PREFIX) :])
    except ValueError:
        raise BenchError(f"the benchmark on {source} answered something unreadable") from None
    return result_from(
        answer,
        source=source,
        instance_type=instance_type,
        region=region,
        version=version,
        python=used,
    )


async def _run_streaming(
    conn: asyncssh.SSHClientConnection, command: str, progress: Callable[[str], None]
) -> tuple[str, str, int | None]:
    """Run `command`, passing each `phase NAME` line of its stderr to `progress`."""
    import asyncssh

    try:
        process = await conn.create_process(command, stdin=asyncssh.DEVNULL)
    except (asyncssh.Error, OSError) as exc:
        raise BenchError(f"cannot start the benchmark: {exc}") from None
    errors: list[str] = []

    async def read_errors() -> None:
        async for raw in process.stderr:
            text = str(raw).rstrip("\n")
            errors.append(text)
            if text.startswith("phase "):
                progress(text[6:])

    try:
        reader = asyncio.create_task(read_errors())
        out = str(await process.stdout.read())
        await reader
        await process.wait()
    except (asyncssh.Error, OSError) as exc:
        raise BenchError(f"the connection was lost during the benchmark: {exc}") from None
    finally:
        process.close()
    return out, "\n".join(errors), process.exit_status


def _text(value: object) -> str:
    text = value.decode() if isinstance(value, bytes) else str(value or "")
    return text.strip().splitlines()[-1] if text.strip() else "no message"


def _figure(value: object) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value) and value > 0:
        return float(value)
    return None


def result_from(
    answer: dict[str, Any],
    *,
    source: str,
    instance_type: str | None,
    region: str | None,
    version: str,
    python: str,
    now: datetime | None = None,
) -> BenchResult:
    """The host's JSON answer as a BenchResult; EC2's labels win over the host's metadata."""
    gpus = answer.get("gpus") or []
    backend = str(answer.get("backend", ""))
    per_device = list(answer.get("per_device") or [])
    alone = [_figure(d.get("fp32")) for d in per_device]
    first = gpus[0] if gpus else {}
    chip = first.get("name") if backend == "torch-cuda" else answer.get("device")
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    measurement = Measurement(
        instance_type=instance_type or str(answer.get("instance_type") or ""),
        region=region or str(answer.get("region") or ""),
        chip=str(chip or answer.get("device") or ""),
        gpu_count=len(per_device) if backend == "torch-cuda" else 0,
        backend=backend,
        device=str(answer.get("device") or ""),
        measured_at=when,
        driver=str(first.get("driver") or ""),
        fp32_tflops=_figure(answer.get("fp32_tflops")),
        bf16_tflops=_figure(answer.get("bf16_tflops")),
        fp16_tflops=_figure(answer.get("fp16_tflops")),
        min_gpu_fp32_tflops=min((a for a in alone if a), default=None),
        sm_clock_mhz=_figure(first.get("sm_clock_mhz")),
        power_limit_w=_figure(first.get("power_limit_w")),
        dlpick_version=version,
        source=source,
    )
    return BenchResult(
        measurement=measurement,
        library=str(answer.get("library") or ""),
        sizes={str(k): int(v) for k, v in (answer.get("sizes") or {}).items()},
        per_device=per_device,
        elapsed_s=float(answer.get("elapsed_s") or 0),
        python=python,
    )
