"""Guards that work with the laptop closed: an idle alarm and a self-stop deadline.

The idle alarm is a CloudWatch alarm on low CPU with EC2's stop action (terminate
for one-time spot instances, which cannot stop). GPU training can leave most of
a large instance's CPUs quiet, so "low" means less than one vCPU's worth of work
(capped at the configured percentage): a p5.48xlarge with 192 vCPUs is idle below
0.52 %, not below 5 %.

The deadline (`--max-hours`, `--budget`) is a shutdown scheduled by user data at
first boot, with instance-initiated shutdown set to stop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from dlpick.core.errors import InputError
from dlpick.remote.launch.limits import MAX_HOURS
from dlpick.remote.tags import IDLE_ALARM_PREFIX

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import TagTypeDef

ALARM_PERIOD_SECONDS = 300


def alarm_name(instance_id: str) -> str:
    """The name of the idle alarm dlpick makes for an instance."""
    return f"{IDLE_ALARM_PREFIX}{instance_id}"


def idle_cpu_threshold(vcpus: int, configured_percent: float) -> float:
    """CPU % below which an instance counts as idle: one vCPU's share, at most configured."""
    return round(min(configured_percent, 100.0 / max(vcpus, 1)), 3)


@dataclass(frozen=True)
class Deadline:
    hours: float
    why: str  # "--max-hours 8" or "--budget $20 at $2.50/h"

    @property
    def minutes(self) -> int:
        return max(1, math.floor(self.hours * 60))

    def at(self, start: datetime) -> datetime:
        return start + timedelta(minutes=self.minutes)


def deadline(
    max_hours: float | None, budget: float | None, usd_hour: float | None
) -> Deadline | None:
    """The earlier of the time limit and the time the budget buys."""
    options = []
    if max_hours is not None:
        options.append(Deadline(max_hours, f"--max-hours {max_hours:g}"))
    if budget is not None:
        if not usd_hour:
            raise InputError("--budget needs a known hourly price for this type")
        # A budget that lasts longer than any training run is capped, not overflowed.
        hours = min(budget / usd_hour, MAX_HOURS)
        options.append(Deadline(hours, f"--budget ${budget:g} at ${usd_hour:.4f}/h"))
    return min(options, key=lambda d: d.hours) if options else None


def self_stop_user_data(limit: Deadline) -> str:
    """A first-boot script that powers the instance off when the deadline passes."""
    return (
        "#!/bin/bash\n"
        f"# dlpick: stop this instance {limit.minutes} minutes after first boot ({limit.why})\n"
        f"shutdown -h +{limit.minutes} 'dlpick: time or budget limit reached'\n"
    )


def create_idle_alarm(
    cloudwatch: CloudWatchClient,
    *,
    region: str,
    instance_id: str,
    minutes: int,
    threshold_percent: float,
    terminate: bool,
    tags: Sequence[TagTypeDef],
) -> str:
    """The CloudWatch alarm that stops (or terminates) the instance when idle."""
    action = "terminate" if terminate else "stop"
    periods = max(1, math.ceil(minutes * 60 / ALARM_PERIOD_SECONDS))
    name = alarm_name(instance_id)
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        AlarmDescription=(
            f"dlpick: {action} {instance_id} after {minutes} min below {threshold_percent:g}% CPU"
        ),
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
        Statistic="Average",
        Period=ALARM_PERIOD_SECONDS,
        EvaluationPeriods=periods,
        DatapointsToAlarm=periods,
        Threshold=threshold_percent,
        ComparisonOperator="LessThanThreshold",
        TreatMissingData="missing",
        AlarmActions=[f"arn:aws:automate:{region}:ec2:{action}"],
        Tags=tags,
    )
    return name


def now_utc() -> datetime:
    return datetime.now(UTC)
