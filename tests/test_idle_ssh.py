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

import asyncssh
import boto3
import pytest
from textual.widgets import DataTable

from dlpick.remote.fleet.idle import IdleTracker, IdleWatcher, ProbeError, is_neuron, sample_host
from dlpick.remote.ssh.connection import connect, connector
from dlpick.remote.ssh.target import Target
from dlpick.tui.account import AwsAccess, connect_with
from dlpick.tui.app import DlpickApp
from dlpick.tui.config import load_settings
from tests.conftest import AwsPeers
from tests.launch_fixtures import REGION, only_regions
from tests.notices import Notices
from tests.peers.sshd import SSH_ALIAS, Sshd
from tests.screenshots import ON_DEMAND, offline_catalog
from tests.test_app_aws import SIZE, aws_app, instance_cells, text_of
from tests.test_fleet import start
from tests.test_ssh_runs import map_instance_to_sshd
from tests.ui import until

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
        while path.exists():
            text = path.read_text()
            if text:  # empty while the fake rewrites it, when the app samples in the background
                return int(text) - 1
        return 0


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


# -- the app watches its running instances ---------------------------------------------


def idle_watchers(app: Any) -> list[Any]:
    return [w for w in app.workers if w.group == "idle-watch" and not w.is_finished]


async def test_app_watches_running_instances_over_ssh(
    aws: AwsPeers,
    gpus: FakeGpus,
    sshd: Sshd,
    isolated_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Idle GPUs over SSH: one notice and bell, shown idle, cleared when used again."""
    monkeypatch.setenv("DLPICK_WATCH_IDLE_OVER_SSH", "true")
    monkeypatch.setenv("DLPICK_IDLE_WINDOW_MINUTES", "5")
    only_regions(monkeypatch, REGION)
    launched = start(REGION)  # a g6.xlarge dlpick manages
    iid = launched["InstanceId"]
    ec2 = boto3.client("ec2", region_name=REGION)
    address = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0][
        "PublicIpAddress"
    ]
    map_instance_to_sshd(sshd, isolated_home, address)  # its made-up address reaches sshd
    gpus.queue(*[TWO_IDLE] * 2000)  # more than the test takes, a sample every 20 ms

    now = [launched["LaunchTime"] + timedelta(hours=2)]  # the app's clock, moved by hand

    def clock() -> float:
        return now[0].timestamp()

    account = AwsAccess(connect_with(None), settings=load_settings(), clock=clock)
    app = DlpickApp(
        offline_catalog(tmp_path),
        region=REGION,
        clock=clock,
        account=account,
        fleet_every=0.05,
        idle_every=0.02,
    )
    bells: list[int] = []
    monkeypatch.setattr(app, "bell", lambda: bells.append(1))
    scans: list[Any] = []

    notices = Notices()

    def idle_notes() -> list[str]:
        return notices.messages(containing="idle")

    async with app.run_test(size=SIZE, notifications=True, message_hook=notices.hook) as pilot:
        app.watch(app, "fleet", lambda fleet: scans.append(fleet), init=False)
        await until(pilot, lambda: gpus.calls >= 2, timeout=20)  # watched from the first scan
        assert [w.name for w in idle_watchers(app)] == [iid]
        assert not idle_notes() and "0 idle" in text_of(app, "#ticker")

        now[0] += timedelta(minutes=20)  # quiet since the first sample, 20 minutes ago
        await until(pilot, lambda: len(idle_notes()) == 1, timeout=20)
        seen = len(scans)
        await until(pilot, lambda: len(scans) >= seen + 2 and gpus.calls >= 20, timeout=20)
        spent = ON_DEMAND[REGION]["g6.xlarge"] * 20 / 60
        assert idle_notes() == [
            f"g6.xlarge {iid} in us-east-1 has been idle for 20 min "
            f"(${spent:,.2f} spent idle). Press i, then s to stop or t to terminate it."
        ]
        assert len(bells) == 1
        assert "1 idle" in text_of(app, "#ticker")
        await pilot.press("i")
        await until(pilot, lambda: app.screen.query_one("#instances", DataTable).row_count > 0)
        assert instance_cells(app, "idle")[iid] == "idle 20m"

        # In use again: every sample still to come is a busy GPU.
        for n in range(1, gpus.queued + 1):
            (gpus.dir / str(n)).write_text(BUSY_T4)
        await until(pilot, lambda: "0 idle" in text_of(app, "#ticker"), timeout=20)
        await until(pilot, lambda: instance_cells(app, "idle")[iid] == "-")
        assert len(idle_notes()) == 1 and len(bells) == 1

        # Stopped: its watcher ends with it.
        ec2.stop_instances(InstanceIds=[iid])
        await until(pilot, lambda: not idle_watchers(app), timeout=20)
        calls = gpus.calls
        await pilot.pause(0.2)
        assert gpus.calls == calls


async def test_app_does_not_ssh_when_the_setting_is_off(
    aws: AwsPeers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialled: list[Any] = []

    async def no_ssh(*args: Any, **kwargs: Any) -> Any:
        dialled.append(args)
        raise OSError("this test must not SSH anywhere")

    monkeypatch.setattr(asyncssh, "connect", no_ssh)
    only_regions(monkeypatch, REGION)
    start(REGION)  # running and managed: watched only when the user allows it
    app = aws_app(tmp_path, fleet_every=0.05)
    assert not app.account.settings.watch_idle_over_ssh  # the suite's default
    scans: list[Any] = []
    async with app.run_test(size=SIZE) as pilot:
        app.watch(app, "fleet", lambda fleet: scans.append(fleet), init=False)
        await until(pilot, lambda: len(scans) >= 2, timeout=20)
        assert app.fleet.status == "ok" and len(app.fleet.instances) == 1
        assert not idle_watchers(app) and not dialled
