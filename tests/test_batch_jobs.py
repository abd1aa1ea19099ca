"""`dlpick batch jobs` and `cancel`: every page read, throttling ridden out, cost from the
type a job landed on.

moto's jobs end as soon as they are submitted and never name the host they ran on,
so the host a job landed on is shown with a DescribeJobs record in AWS's shape (a
spot reclaim's) whose container instance is registered in moto's ECS cluster of
dlpick's spot environment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from dlpick.core.aws import Aws
from dlpick.core.errors import EXIT_ERROR
from dlpick.remote.batch.jobs import Landing, job_of
from tests.batch_fixtures import client, set_up
from tests.conftest import AwsPeers
from tests.launch_fixtures import REGION, register_image, run
from tests.peers.batch_relay import BatchRelay


@pytest.fixture
def batch_ready(batch_account: SimpleNamespace) -> None:
    set_up("g6.xlarge", "g6.12xlarge")


@pytest.fixture
def relay(aws: AwsPeers, monkeypatch: pytest.MonkeyPatch) -> Iterator[BatchRelay]:
    """Batch as AWS answers it: ListJobs in pages of two, at most 100 ids a DescribeJobs."""
    peer = BatchRelay(aws.moto.url).start()
    yield peer
    peer.stop()


def submit(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(capsys, "batch", "submit", *argv)
    assert code == 0, err
    return next(line.split()[1] for line in out.splitlines() if line.startswith("submitted "))


def jobs_json(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    code, out, err = run(capsys, "batch", "jobs", "--format", "json")
    assert code == 0, err
    return list(json.loads(out))


def test_jobs_reads_every_page_and_rides_out_throttling(
    batch_ready: None,
    relay: BatchRelay,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    single = [submit(capsys, "--name", f"run-{i}", "--", "python", "train.py") for i in range(3)]
    array = submit(capsys, "--array", "3", "--", "python", "sweep.py")
    multi = submit(capsys, "--nodes", "2", "--", "torchrun", "train.py")
    monkeypatch.setenv("AWS_ENDPOINT_URL", relay.url)
    relay.throttle = 2  # the first two DescribeJobs calls are throttled, then retried
    records = jobs_json(capsys)
    assert relay.throttle == 0
    assert sorted(r["job_id"] for r in records) == sorted([*single, array, multi])
    by_id = {r["job_id"]: r for r in records}
    assert by_id[array]["array_size"] == 3
    assert by_id[multi]["nodes"] == 2 and by_id[multi]["queue"] == "dlpick-on-demand"
    assert {r["status"] for r in records} == {"SUCCEEDED"}
    # moto names no host: the cost is unknown, never $0.
    assert by_id[single[0]]["cost_usd"] is None
    # Both queues were read in pages (five jobs in one, three children of the array).
    assert relay.calls["/v1/listjobs"] >= 5


def test_more_than_a_hundred_jobs_are_described_a_hundred_at_a_time(
    batch_ready: None,
    relay: BatchRelay,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = submit(capsys, "--", "python", "train.py")
    batch = client("batch")
    definition = batch.describe_jobs(jobs=[first])["jobs"][0]["jobDefinition"]
    for i in range(104):
        batch.submit_job(
            jobName=f"many-{i}", jobQueue="dlpick-spot-first", jobDefinition=definition
        )
    monkeypatch.setenv("AWS_ENDPOINT_URL", relay.url)
    relay.page_size = 50
    records = jobs_json(capsys)
    assert len(records) == 105
    assert relay.calls["/v1/describejobs"] == 2


def test_throttled_past_retries_is_one_line(
    batch_ready: None,
    relay: BatchRelay,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    submit(capsys, "--", "python", "train.py")
    monkeypatch.setenv("AWS_ENDPOINT_URL", relay.url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    relay.throttle = 10
    code, out, err = run(capsys, "batch", "jobs")
    assert code == EXIT_ERROR and out == ""
    assert err == (
        "error: DescribeJobs in us-east-1: AWS is throttling requests "
        "(TooManyRequestsException) — retry in a minute\n"
    )


def reclaimed_record(job_id: str, container_instance: str, started_ms: int) -> dict[str, Any]:
    """A DescribeJobs record of a job whose spot host was reclaimed (AWS's shape)."""
    return {
        "jobArn": f"arn:aws:batch:{REGION}:123456789012:job/{job_id}",
        "jobName": "train",
        "jobId": job_id,
        "jobQueue": f"arn:aws:batch:{REGION}:123456789012:job-queue/dlpick-spot-first",
        "status": "FAILED",
        "statusReason": "Host EC2 (instance i-0abc1234567890def) terminated.",
        "createdAt": started_ms - 60_000,
        "startedAt": started_ms,
        "stoppedAt": started_ms + 2 * 3_600_000,
        "attempts": [
            {
                "container": {
                    "containerInstanceArn": container_instance,
                    "taskArn": f"arn:aws:ecs:{REGION}:123456789012:task/x/0f1e2d",
                    "exitCode": 143,
                },
                "startedAt": started_ms,
                "stoppedAt": started_ms + 2 * 3_600_000,
                "statusReason": "Host EC2 (instance i-0abc1234567890def) terminated.",
            }
        ],
        "container": {"image": "x", "vcpus": 4, "memory": 14745},
    }


def test_a_job_is_priced_at_the_type_and_market_it_landed_on(
    batch_ready: None, aws: AwsPeers
) -> None:
    # A g6.xlarge host registered in the ECS cluster of dlpick's spot environment.
    ec2 = client("ec2")
    image = register_image("ecs host", "x86_64")
    host = ec2.run_instances(ImageId=image, InstanceType="g6.xlarge", MinCount=1, MaxCount=1)
    instance_id = host["Instances"][0]["InstanceId"]
    spot_env = client("batch").describe_compute_environments(computeEnvironments=["dlpick-spot"])
    cluster = spot_env["computeEnvironments"][0]["ecsClusterArn"]
    registered = client("ecs").register_container_instance(
        cluster=cluster, instanceIdentityDocument=json.dumps({"instanceId": instance_id})
    )
    arn = registered["containerInstance"]["containerInstanceArn"]
    started = int(datetime(2026, 12, 1, 8, 0, tzinfo=UTC).timestamp() * 1000)
    record = reclaimed_record("job-1", arn, started)
    job = job_of(record)
    landing = Landing(Aws(), REGION)
    landing.resolve([arn])
    landing.place(job, record)
    assert (job.instance_type, job.market) == ("g6.xlarge", "spot")
    job.usd_hour = 0.35
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert job.running_hours(now) == pytest.approx(2.0)
    assert job.cost_so_far(now) == pytest.approx(0.70)
    assert job.to_record(now)["reason"] == "Host EC2 (instance i-0abc1234567890def) terminated."


def test_cancel_refuses_jobs_outside_dlpicks_queues_and_says_when_a_job_has_ended(
    batch_ready: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = submit(capsys, "--", "python", "train.py")
    code, out, err = run(capsys, "batch", "cancel", job_id)
    assert code == 0, err
    assert out == f"{job_id} has already ended (SUCCEEDED); nothing to stop\n"
    code, out, err = run(capsys, "batch", "cancel", "no-such-job")
    assert code == EXIT_ERROR
    assert err == "error: no Batch job 'no-such-job' in us-east-1\n"
    # A queue of someone else's, on the same environment.
    batch = client("batch")
    env = batch.describe_compute_environments(computeEnvironments=["dlpick-on-demand"])
    batch.create_job_queue(
        jobQueueName="theirs",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[
            {
                "order": 1,
                "computeEnvironment": env["computeEnvironments"][0]["computeEnvironmentArn"],
            }
        ],
    )
    definition = batch.describe_jobs(jobs=[job_id])["jobs"][0]["jobDefinition"]
    theirs = batch.submit_job(jobName="theirs", jobQueue="theirs", jobDefinition=definition)
    code, out, err = run(capsys, "batch", "cancel", theirs["jobId"], "--yes")
    assert code == EXIT_ERROR
    assert (
        err == f"error: job {theirs['jobId']} is not in dlpick's queues; dlpick leaves it alone\n"
    )


def test_cancel_terminates_a_started_job_and_cancels_one_still_waiting(
    batch_ready: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto's jobs have ended by the time they are read, so the state is AWS's shape."""
    from dlpick.remote.batch.jobs import cancel

    job_id = submit(capsys, "--", "python", "train.py")
    record = job(job_id)
    said = cancel(Aws(), REGION, {**record, "status": "RUNNING"}, "dlpick batch cancel")
    assert said == f"terminating {job_id} (was RUNNING)"
    assert job(job_id)["statusReason"] == "dlpick batch cancel"  # TerminateJob's reason
    said = cancel(Aws(), REGION, {**record, "status": "RUNNABLE"}, "dlpick batch cancel")
    assert said == f"cancelling {job_id} (was RUNNABLE)"


def job(job_id: str) -> dict[str, Any]:
    return dict(client("batch").describe_jobs(jobs=[job_id])["jobs"][0])


def test_the_jobs_table_shows_the_full_id_and_an_unknown_cost_as_unknown(
    batch_ready: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    job_id = submit(capsys, "--array", "2", "--name", "sweep", "--", "python", "sweep.py")
    (record,) = jobs_json(capsys)
    # Times as the rest of dlpick's JSON has them: UTC, to the second, with a Z.
    for key in ("created", "started", "stopped"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record[key]), record[key]
    code, out, err = run(capsys, "batch", "jobs")
    assert code == 0, err
    assert out.splitlines()[0].strip() == "1 Batch job in us-east-1"
    header = out.splitlines()[1].split()
    assert header == ["Job", "Name", "State", "Queue", "Type", "Started", "Ran", "Cost"]
    row = next(line for line in out.splitlines() if job_id in line)
    started = datetime.strptime(record["started"], "%Y-%m-%dT%H:%M:%SZ")
    assert row.split() == [
        job_id,
        "sweep",
        "x2",
        "SUCCEEDED",
        "spot-first",
        "?",
        f"{started:%m-%d}",
        f"{started:%H:%M}",
        "0m",
        "?",
    ]
    assert out.splitlines()[-1] == "Cost ?: the host or its price is not known; -: not started yet"
