"""Idle detection over SSH against the real sshd, with a fake nvidia-smi on the host's PATH.

The fake answers only the query dlpick sends and replays, one call at a time,
outputs in the shapes of the published samples (tests/data/nvidia_smi_query_gpu_samples.md):
`--format=csv,noheader,nounits` rows, several GPUs, and `[N/A]`.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dlpick.remote.idle import IdleTracker
from dlpick.remote.idle_watch import IdleWatcher, ProbeError, is_neuron, sample_host
from dlpick.remote.ssh import connect, connector
from dlpick.remote.target import Target
from tests.conftest import AwsPeers
from tests.peers.sshd import SSH_ALIAS, Sshd

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)

FAKE_NVIDIA_SMI = r"""#!/bin/sh
# A stand-in for nvidia-smi: answers dlpick's query with the next queued sample.
case "$*" in
  *--query-gpu=index,utilization.gpu,memory.used,memory.total*--format=csv,noheader,nounits*) ;;
  *) echo "unexpected arguments: $*" >&2; exit 2 ;;
esac
d="$HOME/fake-gpu"
n=$(cat "$d/next" 2>/dev/null || echo 1)
echo $((n + 1)) > "$d/next"
if [ ! -f "$d/$n" ]; then
  echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
  exit 9
fi
cat "$d/$n"
"""

# Real shapes: a T4 under load (g4dn), two GPUs with one busy, an idle A10G, [N/A].
BUSY_T4 = "0, 98, 7234, 15360\n"
TWO_ONE_BUSY = "0, 0, 22000, 24576\n1, 45, 8000, 24576\n"
TWO_IDLE = "0, 0, 745, 24576\n1, 2, 678, 24576\n"
UNKNOWN = "0, [N/A], 3191, [N/A]\n"


class FakeGpus:
    """The fake's sample queue on the test host."""

    def __init__(self, home: Path) -> None:
        self.dir = home / "fake-gpu"
        self.queued = 0

    def queue(self, *outputs: str) -> None:
        for output in outputs:
            self.queued += 1
            (self.dir / str(self.queued)).write_text(output)

    @property
    def calls(self) -> int:
        path = self.dir / "next"
        return int(path.read_text()) - 1 if path.exists() else 0


@pytest.fixture
def gpus(sshd: Sshd) -> Iterator[FakeGpus]:
    sshd.remote_bin.mkdir(exist_ok=True)
    script = sshd.remote_bin / "nvidia-smi"
    script.write_text(FAKE_NVIDIA_SMI)
    script.chmod(0o755)
    fake = FakeGpus(sshd.remote_home)
    shutil.rmtree(fake.dir, ignore_errors=True)
    fake.dir.mkdir()
    yield fake
    script.unlink()
    shutil.rmtree(fake.dir, ignore_errors=True)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def watcher(clock: Clock, **kwargs: Any) -> IdleWatcher:
    return IdleWatcher(
        instance_type="g5.12xlarge",
        connect=connector(Target(host=SSH_ALIAS)),
        tracker=IdleTracker(threshold_percent=5, window=timedelta(minutes=5)),
        clock=clock,
        interval=60,
        sleep=clock.sleep,
        **kwargs,
    )


async def test_sample_host_reads_every_gpu_and_na(gpus: FakeGpus) -> None:
    gpus.queue(TWO_ONE_BUSY, UNKNOWN)
    conn = await connect(Target(host=SSH_ALIAS))
    try:
        two = await sample_host(conn)
        assert [(r.index, r.utilization, r.memory_used_mib) for r in two] == [
            (0, 0.0, 22000.0),
            (1, 45.0, 8000.0),
        ]
        (na,) = await sample_host(conn)
        assert na.utilization is None and na.memory_total_mib is None
        with pytest.raises(ProbeError, match="couldn't communicate with the NVIDIA driver"):
            await sample_host(conn)  # nothing queued: the driver message, exit 9
    finally:
        conn.close()


async def test_busy_then_idle_once_then_recovering(gpus: FakeGpus) -> None:
    """One sample a minute on a fixed clock, through the watcher's own loop."""
    clock = Clock()
    gpus.queue(
        *[BUSY_T4] * 3,  # minutes 0-2: training
        *[TWO_ONE_BUSY] * 2,  # 3-4: one GPU still busy keeps the instance active
        *[UNKNOWN] * 2,  # 5-6: no data is never idle
        *[TWO_IDLE] * 9,  # 7-15: quiet since minute 6; idle once 5 minutes have passed
        *[BUSY_T4] * 2,  # 16-17: in use again
    )
    watch = watcher(clock)

    async def next_minute(seconds: float) -> None:
        if gpus.calls >= gpus.queued:
            raise SamplesUsedUp
        await clock.sleep(seconds)

    watch.sleep = next_minute
    seen = []
    with pytest.raises(SamplesUsedUp):
        async for event in watch.events():
            seen.append((event.kind, minutes(event.at), minutes(event.idle_since)))
    assert seen == [("idle", 11, 6), ("active", 16, 6)]  # one notice per episode
    assert gpus.calls == gpus.queued == 18
    assert watch.last is not None and watch.last.source == "gpu"
    assert not watch.tracker.idle


class SamplesUsedUp(Exception):
    """Every queued sample was taken: the test stops the watcher's endless loop."""


def minutes(when: datetime) -> int:
    return int((when - T0).total_seconds() // 60)


async def test_idle_for_a_whole_window_is_announced_once(gpus: FakeGpus) -> None:
    clock = Clock()
    gpus.queue(*[TWO_IDLE] * 12)
    watch = watcher(clock)
    kinds = []
    for _ in range(12):
        event = await watch.step()
        if event is not None:
            kinds.append((event.kind, minutes(event.at)))
        clock.now += timedelta(minutes=1)
    await watch.close()
    assert kinds == [("idle", 5)]
    assert watch.tracker.idle_for(clock.now) == timedelta(minutes=12)


def put_cpu(aws: AwsPeers, instance_id: str, percent: float, at: datetime) -> Any:
    import boto3

    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    cloudwatch.put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                "Timestamp": at,
                "Value": percent,
                "Unit": "Percent",
            }
        ],
    )
    return cloudwatch


async def test_without_ssh_cloudwatch_cpu_stands_in(aws: AwsPeers, isolated_home: Path) -> None:
    clock = Clock()
    cloudwatch = put_cpu(aws, "i-0123456789abcdef0", 1.5, T0 - timedelta(minutes=3))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: SSH is refused
        watch = watcher(
            clock,
            cloudwatch=cloudwatch,
            instance_id="i-0123456789abcdef0",
        )
        watch.connect = connector(Target(host="127.0.0.1", port=port))
        sample = await watch.sample()
    assert sample.source == "cpu" and sample.utilizations == [1.5]
    assert sample.note is not None and "cannot connect" in sample.note

    no_data = await IdleWatcher(instance_type="g5.xlarge", clock=clock).sample()
    assert no_data.source == "cpu" and no_data.utilizations == [None]


async def test_neuron_instances_are_judged_by_cpu(aws: AwsPeers, gpus: FakeGpus) -> None:
    assert is_neuron("trn1.32xlarge") and is_neuron("inf2.xlarge") and not is_neuron("p5.48xlarge")
    clock = Clock()
    cloudwatch = put_cpu(aws, "i-0aaaaaaaaaaaaaaaa", 87.0, T0 - timedelta(minutes=4))
    gpus.queue(BUSY_T4)
    watch = watcher(clock, cloudwatch=cloudwatch, instance_id="i-0aaaaaaaaaaaaaaaa")
    watch.instance_type = "trn1.2xlarge"
    sample = await watch.sample()
    assert sample.source == "cpu" and sample.utilizations == [87.0]
    assert sample.note is not None and "Neuron" in sample.note
    assert gpus.calls == 0  # nvidia-smi is not asked about Neuron devices
