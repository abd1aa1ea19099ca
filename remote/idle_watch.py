"""Watch one instance for idleness: sample its accelerators every so often.

GPU instances are sampled with `nvidia-smi` over SSH. Where SSH is not possible
(no key, no route, no nvidia-smi) CloudWatch's CPUUtilization stands in, and
Neuron instances (trn*, inf*) are judged by CPU until a Neuron probe exists.
The samples feed an `IdleTracker`, which announces each idle episode once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from dlpick.pricing.errors import AwsError, DlpickError, SshError
from dlpick.remote.idle import (
    NVIDIA_SMI_QUERY,
    GpuReading,
    IdleEvent,
    IdleTracker,
    cpu_utilization,
    parse_nvidia_smi,
)
from dlpick.remote.ssh import Connect, run_remote

if TYPE_CHECKING:
    import asyncssh
    from mypy_boto3_cloudwatch import CloudWatchClient

NEURON_FAMILIES = ("trn", "inf")


class ProbeError(DlpickError):
    """The host could not report its GPUs (worded for the user)."""


def is_neuron(instance_type: str | None) -> bool:
    """Trainium and Inferentia families, whose devices nvidia-smi cannot see."""
    family = (instance_type or "").split(".", 1)[0]
    return family.startswith(NEURON_FAMILIES)


async def sample_host(conn: asyncssh.SSHClientConnection) -> list[GpuReading]:
    """One reading of every GPU on the host behind an asyncssh connection."""
    result = await run_remote(conn, NVIDIA_SMI_QUERY, check=False)
    if result.exit_status == 127:
        raise ProbeError("nvidia-smi is not installed on the host")
    out = str(result.stdout or "")
    if result.exit_status != 0:
        said = (str(result.stderr or "") + out).strip().splitlines()
        raise ProbeError(
            f"nvidia-smi failed on the host: {said[-1] if said else f'exit {result.exit_status}'}"
        )
    readings = parse_nvidia_smi(out)
    if not readings:
        raise ProbeError("nvidia-smi listed no GPUs")
    return readings


@dataclass(frozen=True)
class IdleSample:
    """What one look at the instance found."""

    at: datetime
    source: str  # "gpu" (nvidia-smi over SSH) or "cpu" (CloudWatch CPUUtilization)
    utilizations: list[float | None]  # percent per accelerator (one value for CPU)
    note: str | None = None  # why CPU stood in for the GPUs, when it did


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class IdleWatcher:
    """Samples an instance every `interval` seconds and yields its idle episodes."""

    instance_type: str | None = None
    connect: Connect | None = None  # None when SSH is not possible
    cloudwatch: CloudWatchClient | None = None  # in the instance's region
    instance_id: str | None = None
    tracker: IdleTracker = field(default_factory=IdleTracker)
    clock: Callable[[], datetime] = _now
    interval: float = 60.0
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
    # CloudWatch's basic monitoring has a point every 5 minutes: look back far
    # enough to always find the latest one.
    cpu_lookback: timedelta = timedelta(minutes=11)
    last: IdleSample | None = None
    _conn: asyncssh.SSHClientConnection | None = field(default=None, init=False, repr=False)

    async def sample(self) -> IdleSample:
        """Look at the instance once: its GPUs over SSH, else its CPU in CloudWatch."""
        at = self.clock()
        if is_neuron(self.instance_type):
            return await self._cpu(at, "Neuron devices: judged by CPU until a Neuron probe exists")
        if self.connect is None:
            return await self._cpu(at, "no SSH access: judged by CPU")
        import asyncssh

        try:
            if self._conn is None:
                self._conn = await self.connect()
            readings = await sample_host(self._conn)
        except (SshError, ProbeError, OSError, asyncssh.Error) as exc:
            if not isinstance(exc, ProbeError):
                await self.close()  # reconnect on the next look
            return await self._cpu(at, f"{exc}; judged by CPU")
        return IdleSample(at, "gpu", [r.utilization for r in readings])

    async def _cpu(self, at: datetime, note: str) -> IdleSample:
        if self.cloudwatch is None or self.instance_id is None:
            # No data is never idle: the tracker counts an unknown reading as busy.
            return IdleSample(at, "cpu", [None], f"{note} (no CloudWatch access)")
        try:
            points = await asyncio.to_thread(
                cpu_utilization, self.cloudwatch, self.instance_id, at - self.cpu_lookback, at
            )
        except AwsError as exc:  # an unknown reading, said why
            return IdleSample(at, "cpu", [None], f"{note} (CloudWatch: {exc})")
        value = points[-1][1] if points else None
        return IdleSample(at, "cpu", [value], note)

    async def step(self) -> IdleEvent | None:
        """Sample once and tell the tracker; an event when an idle episode began or ended."""
        sample = await self.sample()
        self.last = sample
        return self.tracker.add(sample.at, sample.utilizations)

    async def events(self) -> AsyncIterator[IdleEvent]:
        """Idle episodes beginning and ending, sampling every `interval` seconds, forever."""
        try:
            while True:
                event = await self.step()
                if event is not None:
                    yield event
                await self.sleep(self.interval)
        finally:
            await self.close()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 2)
