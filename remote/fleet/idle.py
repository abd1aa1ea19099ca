"""Idle detection: is anyone using this instance's accelerators?

GPU utilisation comes from `nvidia-smi` over SSH; where SSH is not possible (and
for Neuron devices, until a Neuron probe exists) CPU utilisation from CloudWatch
stands in. An instance is idle when every accelerator stays below a threshold for
a whole window; each idle episode is reported once, and ends when use resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from dlpick.core.aws import paginate
from dlpick.core.errors import AwsError, DlpickError, SshError
from dlpick.remote.ssh.connection import Connect, run_remote
from dlpick.remote.tags import IDLE_ALARM_PREFIX

if TYPE_CHECKING:
    import asyncssh
    from mypy_boto3_cloudwatch import CloudWatchClient

    from dlpick.core.aws import Aws


NVIDIA_SMI_QUERY = (
    "nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total "
    "--format=csv,noheader,nounits"
)


@dataclass(frozen=True)
class GpuReading:
    index: int
    utilization: float | None  # percent; None when nvidia-smi says [N/A]
    memory_used_mib: float | None
    memory_total_mib: float | None


def _number(text: str) -> float | None:
    text = text.strip()
    for unit in ("%", "MiB", "W"):
        text = text.removesuffix(unit).strip()
    if not text or text.startswith("[") or text.upper() in ("N/A", "NA"):
        return None  # "[N/A]", "[Not Supported]"
    try:
        return float(text)
    except ValueError:
        return None


def parse_nvidia_smi(output: str) -> list[GpuReading]:
    """Rows of `--query-gpu=index,utilization.gpu,memory.used,memory.total` CSV output.

    Accepts noheader/nounits output and, defensively, a header line and units.
    """
    readings = []
    for line in output.splitlines():
        line = line.strip()
        if not line or line.lower().startswith("index"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4:
            continue
        try:
            index = int(parts[0])
        except ValueError:
            continue
        readings.append(GpuReading(index, _number(parts[1]), _number(parts[2]), _number(parts[3])))
    return readings


async def sample_gpus(run: Callable[[str], Awaitable[str]]) -> list[GpuReading]:
    """One reading of every GPU, through any way of running a command on the host."""
    return parse_nvidia_smi(await run(NVIDIA_SMI_QUERY))


@dataclass
class IdleEvent:
    kind: str  # "idle" (an episode began) or "active" (it ended)
    at: datetime
    idle_since: datetime


@dataclass
class IdleTracker:
    """Decides idleness from timed samples; an episode is announced once."""

    threshold_percent: float = 5.0
    window: timedelta = timedelta(minutes=15)
    samples: deque[tuple[datetime, float]] = field(default_factory=lambda: deque(maxlen=4096))
    busy_until: datetime | None = None  # time of the last sample at or above the threshold
    first_sample: datetime | None = None
    idle_since: datetime | None = None  # set while an announced episode lasts

    def add(self, at: datetime, utilizations: list[float | None]) -> IdleEvent | None:
        """Record one sample (every accelerator's %) and say if an episode began or ended.

        Unknown readings ([N/A]) count as busy: never call an instance idle on no data.
        """
        peak = max((u if u is not None else 100.0 for u in utilizations), default=100.0)
        self.samples.append((at, peak))
        if self.first_sample is None:
            self.first_sample = at
        if peak >= self.threshold_percent:
            self.busy_until = at
            if self.idle_since is not None:
                since, self.idle_since = self.idle_since, None
                return IdleEvent("active", at, since)
            return None
        quiet_from = self.busy_until or self.first_sample
        if self.idle_since is None and at - quiet_from >= self.window:
            self.idle_since = quiet_from
            return IdleEvent("idle", at, quiet_from)
        return None

    @property
    def idle(self) -> bool:
        return self.idle_since is not None

    def idle_for(self, now: datetime) -> timedelta:
        return now - self.idle_since if self.idle_since else timedelta(0)


def cpu_utilization(
    cloudwatch: CloudWatchClient, instance_id: str, start: datetime, end: datetime
) -> list[tuple[datetime, float]]:
    """CloudWatch CPUUtilization averages (5-minute points), oldest first."""
    answer = cloudwatch.get_metric_statistics(
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
        StartTime=start,
        EndTime=end,
        Period=300,
        Statistics=["Average"],
    )
    points = [(p["Timestamp"], float(p["Average"])) for p in answer.get("Datapoints", [])]
    return sorted(points)


def alarm_states(aws: Aws, region: str) -> dict[str, str]:
    """Instance id -> 'idle (alarm)' / 'active' from the idle alarms dlpick created."""
    try:
        alarms = paginate(
            aws.cloudwatch(region).describe_alarms,
            "MetricAlarms",
            AlarmNamePrefix=IDLE_ALARM_PREFIX,
        )
    except AwsError:  # no permission to read alarms: idle state stays unknown
        return {}
    states = {}
    for alarm in alarms:
        instance_id = str(alarm["AlarmName"]).removeprefix(IDLE_ALARM_PREFIX)
        state = alarm.get("StateValue")
        states[instance_id] = (
            "idle (alarm)" if state == "ALARM" else "active" if state == "OK" else "-"
        )
    return states


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
