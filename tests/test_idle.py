"""Idle detection: nvidia-smi output as published, and idle episodes on a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dlpick.remote.fleet.idle import IdleTracker, parse_nvidia_smi

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def test_parses_single_and_multi_gpu_rows_and_na() -> None:
    # Shapes of the published samples (tests/data/nvidia_smi_query_gpu_samples.md).
    one = parse_nvidia_smi("0, 98, 7234, 15360\n")
    assert [(r.index, r.utilization, r.memory_used_mib) for r in one] == [(0, 98.0, 7234.0)]
    two = parse_nvidia_smi("0, 98, 22000, 24576\n1, 45, 8000, 24576\n")
    assert [r.utilization for r in two] == [98.0, 45.0]
    na = parse_nvidia_smi("0, [N/A], 3191, [N/A]\n")
    assert na[0].utilization is None and na[0].memory_total_mib is None
    with_units = parse_nvidia_smi(
        "index, utilization.gpu [%], memory.used [MiB], memory.total [MiB]\n"
        "0, 95 %, 745 MiB, 6144 MiB\n"
    )
    assert with_units[0].utilization == 95.0 and with_units[0].memory_total_mib == 6144.0
    assert parse_nvidia_smi("NVIDIA-SMI has failed because it couldn't communicate\n") == []


def feed(tracker: IdleTracker, minutes: range, util: float) -> list[str]:
    events = []
    for m in minutes:
        event = tracker.add(T0 + timedelta(minutes=m), [util, util / 2])
        if event:
            events.append(f"{event.kind}@{m}")
    return events


def test_busy_then_becoming_idle_once_then_recovering() -> None:
    tracker = IdleTracker(threshold_percent=5, window=timedelta(minutes=15))
    assert feed(tracker, range(0, 10), 80.0) == []  # training
    assert not tracker.idle
    # Quiet from minute 10; idle only once the window has passed since the last busy sample.
    assert feed(tracker, range(10, 24), 1.0) == []
    assert feed(tracker, range(24, 60), 1.0) == ["idle@24"]  # announced once
    assert tracker.idle and tracker.idle_since == T0 + timedelta(minutes=9)
    assert tracker.idle_for(T0 + timedelta(minutes=69)) == timedelta(hours=1)
    assert feed(tracker, range(60, 62), 60.0) == ["active@60"]
    assert not tracker.idle
    assert feed(tracker, range(62, 90), 0.0) == ["idle@76"]  # a new episode


def test_one_busy_gpu_keeps_the_instance_active() -> None:
    tracker = IdleTracker(threshold_percent=5, window=timedelta(minutes=15))
    for m in range(0, 60):
        assert tracker.add(T0 + timedelta(minutes=m), [0.0, 0.0, 0.0, 90.0]) is None
    assert not tracker.idle


def test_unknown_readings_never_make_an_instance_idle() -> None:
    tracker = IdleTracker(threshold_percent=5, window=timedelta(minutes=15))
    for m in range(0, 60):
        assert tracker.add(T0 + timedelta(minutes=m), [None]) is None
    assert not tracker.idle
