"""dlpick's benchmark, run on the host: dense matrix multiplies, timed.

Uploaded as text and run by the host's python; it imports only the standard library,
then PyTorch when the host has it (CUDA if a GPU answers, else the CPU) and numpy
otherwise. Progress goes to stderr as `phase NAME` lines; the result is one JSON line
on stdout, prefixed `DLPICK-BENCH `. It watches its own deadline (--seconds).

TFLOPs = 2 * n^3 / seconds per multiply (median of the timed repeats, after warm-up).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

RESULT_PREFIX = "DLPICK-BENCH "
GPU_SIZE = 8192  # large enough to keep every SM of a data-center GPU busy
CPU_START, CPU_LARGEST = 128, 4096
MIN_REPEATS, MAX_REPEATS, WARMUP = 3, 20, 2
SMI_QUERY = "name,driver_version,clocks.sm,clocks.max.sm,power.limit"
# The endpoint AWS's SDKs read from this variable, where an instance's tooling moves it.
IMDS_ENDPOINT = "AWS_EC2_METADATA_SERVICE_ENDPOINT"


def phase(name: str) -> None:
    print(f"phase {name}", file=sys.stderr, flush=True)


def nvidia_smi() -> list[dict[str, Any]]:
    """Each GPU as nvidia-smi reports it; empty when there is no nvidia-smi or driver."""
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={SMI_QUERY}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=15,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    gpus = []
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split(", ")]
        if len(parts) != 5:
            continue
        gpus.append(
            {
                "name": parts[0],
                "driver": parts[1],
                "sm_clock_mhz": number(parts[2]),
                "max_sm_clock_mhz": number(parts[3]),
                "power_limit_w": number(parts[4]),
            }
        )
    return gpus


def number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None  # [N/A], [Not Supported]
    return value if math.isfinite(value) else None


def instance_metadata(timeout: float = 1.0) -> dict[str, str]:
    """The instance type and region from EC2's instance metadata (IMDSv2); {} elsewhere."""
    base = os.environ.get(IMDS_ENDPOINT) or "http://169.254.169.254"
    imds = base.rstrip("/") + "/latest"
    try:
        token_request = urllib.request.Request(
            f"{imds}/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
        )
        with urllib.request.urlopen(token_request, timeout=timeout) as answer:
            token = answer.read().decode()
        found = {}
        for key, path in (("instance_type", "instance-type"), ("region", "placement/region")):
            request = urllib.request.Request(
                f"{imds}/meta-data/{path}", headers={"X-aws-ec2-metadata-token": token}
            )
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                found[key] = answer.read().decode().strip()
        return found
    except (OSError, ValueError):
        return {}


def timed(step: Callable[[], None], sync: Callable[[], None], deadline: float) -> float | None:
    """Median seconds of one `step`, after warm-up; None when the deadline left no time."""
    for _ in range(WARMUP):
        step()
    sync()
    times: list[float] = []
    while len(times) < MAX_REPEATS:
        if len(times) >= MIN_REPEATS and time.monotonic() > deadline:
            break
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
        if time.monotonic() > deadline + 2 * (times[-1] + 0.5):
            break  # far past the budget: what was timed is what there is
    return statistics.median(times) if times else None


def tflops(n: int, seconds: float | None) -> float | None:
    if not seconds or seconds <= 0:
        return None
    return round(2 * n**3 / seconds / 1e12, 4)


def cpu_size(multiply: Callable[[int], Callable[[], None]], budget: float) -> int:
    """The largest n (doubling from CPU_START) whose multiply takes under a tenth of `budget`."""
    n = CPU_START
    while n < CPU_LARGEST:
        step = multiply(n * 2)
        start = time.perf_counter()
        step()
        if time.perf_counter() - start > budget / 10:
            break
        n *= 2
    return n


def bench_numpy(seconds: float) -> dict[str, Any]:
    import numpy as np

    def multiply(n: int) -> Callable[[], None]:
        rng = np.random.default_rng(0)
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        return lambda: a @ b  # type: ignore[return-value]

    phase("sizing")
    start = time.monotonic()
    n = cpu_size(multiply, seconds)
    phase("fp32")
    median = timed(multiply(n), lambda: None, start + seconds * 0.85)
    fp32 = tflops(n, median)
    # numpy has no bfloat16, and its float16 multiply bypasses BLAS: FP32 only.
    device = {"index": None, "name": cpu_name(), "fp32": fp32}
    return {
        "backend": "numpy-cpu",
        "device": f"cpu ({device['name']})",
        "library": f"numpy {np.__version__}",
        "sizes": {"fp32": n},
        "fp32_tflops": fp32,
        "bf16_tflops": None,
        "fp16_tflops": None,
        "per_device": [device],
    }


def bench_torch(seconds: float, torch: Any) -> dict[str, Any]:
    cuda = bool(torch.cuda.is_available())
    if cuda:
        # FP32 means FP32: no TF32 tensor-core shortcut.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        devices = [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())]
        dtypes = {"fp32": torch.float32, "fp16": torch.float16}
        if torch.cuda.is_bf16_supported():
            dtypes["bf16"] = torch.bfloat16
    else:
        devices = [torch.device("cpu")]
        # On the CPU: FP32, and BF16 where this build multiplies it (FP16 is left out).
        dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}

    def multiply_on(device: Any, dtype: Any, n: int) -> Callable[[], None]:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        return lambda: torch.mm(a, b)

    def sync_on(device: Any) -> Callable[[], None]:
        return (lambda: torch.cuda.synchronize(device)) if cuda else (lambda: None)

    start = time.monotonic()
    sizes: dict[str, int] = {}
    if cuda:
        sizes = dict.fromkeys(dtypes, GPU_SIZE)
    else:
        phase("sizing")
        for key, dtype in list(dtypes.items()):

            def on_cpu(n: int, dtype: Any = dtype) -> Callable[[], None]:
                return multiply_on(devices[0], dtype, n)

            try:
                sizes[key] = cpu_size(on_cpu, seconds / len(dtypes))
            except RuntimeError:
                del dtypes[key]  # this build cannot multiply this type on the CPU
    # Each test's share of what is left: all devices at once, then each alone.
    tests = len(dtypes) * (1 + (len(devices) if len(devices) > 1 else 0))
    share = max(0.1, (start + seconds * 0.85 - time.monotonic()) / max(tests, 1))
    totals: dict[str, float | None] = {}
    per_device: list[dict[str, Any]] = [
        {"index": i if cuda else None, "name": name_of(torch, d, cuda)}
        for i, d in enumerate(devices)
    ]
    for key, dtype in dtypes.items():
        n = sizes[key]
        phase(key)
        steps = [(multiply_on(d, dtype, n), sync_on(d)) for d in devices]
        medians: list[float | None] = [None] * len(devices)
        deadline = time.monotonic() + share

        def run(
            i: int, deadline: float = deadline, steps: Any = steps, medians: Any = medians
        ) -> None:
            medians[i] = timed(steps[i][0], steps[i][1], deadline)

        # Every device at once, one thread each (CUDA calls release the GIL).
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(devices))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        together = [tflops(n, m) for m in medians]
        totals[key] = round(sum(t for t in together if t), 4) if all(t for t in together) else None
        if len(devices) == 1:
            per_device[0][key] = together[0]
            continue
        for i, (step, sync) in enumerate(steps):
            phase(f"{key} gpu{i}")
            per_device[i][key] = tflops(n, timed(step, sync, time.monotonic() + share))
    backend = "torch-cuda" if cuda else "torch-cpu"
    return {
        "backend": backend,
        "device": per_device[0]["name"] if cuda else f"cpu ({per_device[0]['name']})",
        "library": f"torch {torch.__version__}",
        "sizes": sizes,
        "fp32_tflops": totals.get("fp32"),
        "bf16_tflops": totals.get("bf16"),
        "fp16_tflops": totals.get("fp16"),
        "per_device": per_device,
    }


def name_of(torch: Any, device: Any, cuda: bool) -> str:
    return str(torch.cuda.get_device_name(device)) if cuda else cpu_name()


def cpu_name() -> str:
    """The CPU's model name (Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-metadata", action="store_true")
    args = parser.parse_args()
    began = time.monotonic()
    phase("metadata")
    found = {} if args.no_metadata else instance_metadata()
    idle = nvidia_smi()
    phase("loading")
    try:
        import torch  # type: ignore[import-not-found]
    except ImportError:
        torch = None
    budget = max(1.0, args.seconds - (time.monotonic() - began))
    # The clocks that count are those under load: asked again a third of the way in,
    # while the first timed multiplies run (at rest a GPU idles at a few hundred MHz).
    loaded: list[dict[str, Any]] = []
    sampler = threading.Timer(budget / 3, lambda: loaded.extend(nvidia_smi()))
    sampler.daemon = True
    if idle:
        sampler.start()
    result = bench_torch(budget, torch) if torch is not None else bench_numpy(budget)
    sampler.cancel()
    if sampler.is_alive():
        sampler.join(timeout=15)
    result.update(found)
    result["gpus"] = loaded if len(loaded) == len(idle) else idle
    result["clocks_under_load"] = bool(idle) and len(loaded) == len(idle)
    result["cpu_count"] = os.cpu_count()
    result["elapsed_s"] = round(time.monotonic() - began, 3)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
