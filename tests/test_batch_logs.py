"""`dlpick batch logs`: a job's CloudWatch log, every line once through drops and throttling.

moto writes no log for a Batch job (it runs none), so each test makes the group and
the stream the job's DescribeJobs record names and puts the lines itself. moto makes
no node records for a multi-node job (`JOB#N`); the relay adds one in AWS's shape.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from dlpick.core.aws import Aws
from dlpick.core.errors import EXIT_ERROR
from dlpick.remote.batch.logs import GROUP, BatchLogFollower
from dlpick.remote.ssh.follow import LogChunk, RunEnded
from tests.batch_fixtures import client, set_up
from tests.conftest import AwsPeers
from tests.launch_fixtures import REGION, run
from tests.peers.batch_relay import BatchRelay
from tests.test_batch_jobs import submit


@pytest.fixture
def batch_ready(batch_account: SimpleNamespace) -> None:
    set_up("g6.xlarge")


@pytest.fixture
def relay(
    aws: AwsPeers, batch_ready: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BatchRelay]:
    """Batch set up, then every call through the relay; botocore retries once at most,
    so dlpick's own retry is seen."""
    peer = BatchRelay(aws.moto.url).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", peer.url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    yield peer
    peer.stop()


def stream_of_job(job_id: str) -> str:
    job = client("batch").describe_jobs(jobs=[job_id])["jobs"][0]
    return str(job["container"]["logStreamName"])


def put_lines(stream: str, lines: list[str], batch: int = 5000) -> None:
    """Put lines into a stream (made if missing) in PutLogEvents-sized batches."""
    logs = client("logs")
    try:
        logs.create_log_group(logGroupName=GROUP)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    try:
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    for start in range(0, len(lines), batch):
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": m} for m in lines[start : start + batch]]
        logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=events)


def test_a_follow_through_drops_throttling_and_errors_loses_and_repeats_no_line(
    relay: BatchRelay, capsys: pytest.CaptureFixture[str]
) -> None:
    job = submit(capsys, "--", "python", "train.py")
    stream = stream_of_job(job)
    total = 100_000
    lines = [f"step {i:06d} loss {1 / (i + 1):.6f}" for i in range(total)]
    put_lines(stream, lines[:5000])
    relay.log_page = 2000
    # Every 5th GetLogEvents and the one after it fail: closed socket, throttled, HTTP 500
    # in turn. botocore's own retry meets the second failure, so dlpick's retry is needed.
    relay.fault_every, relay.fault_burst = 5, 2
    writer_done = threading.Event()

    def writer() -> None:
        put_lines(stream, lines[5000:])
        writer_done.set()

    def state() -> tuple[str, str | None]:
        return ("SUCCEEDED" if writer_done.is_set() else "RUNNING"), stream

    aws = Aws()
    follower = BatchLogFollower(
        aws.logs(REGION), stream, state=state, poll_interval=0.01, backoff_initial=0.005
    )
    thread = threading.Thread(target=writer)
    thread.start()
    got: list[str] = []
    ended = []
    try:
        for event in follower.events():
            if isinstance(event, LogChunk):
                got += event.lines()
            elif isinstance(event, RunEnded):
                ended.append(event.exit_status)
    finally:
        thread.join()
    assert len(got) == total, f"{total - len(got)} lost" if len(got) < total else "repeated"
    assert got == lines  # every line once, in order
    assert ended == [0]
    assert set(relay.faults_made) == {"close", "throttle", "500"}
    assert follower.retries >= 3
    # Never read again from the head: only the first call lacks a token.
    requests = relay.log_requests
    assert "nextToken" not in requests[0]
    assert all("nextToken" in r for r in requests[1:])
    assert all(r["startFromHead"] is True for r in requests)


def test_batch_logs_pages_a_small_limit_and_prints_each_line_once(
    relay: BatchRelay, capsys: pytest.CaptureFixture[str]
) -> None:
    job = submit(capsys, "--", "python", "train.py")
    lines = [f"epoch {i}" for i in range(95)]
    put_lines(stream_of_job(job), lines, batch=40)
    relay.log_page = 10
    code, out, err = run(capsys, "batch", "logs", job)
    assert code == 0, err
    assert out.splitlines() == lines
    # 10 pages of lines, then the same token back: the end.
    tokens = [r.get("nextToken") for r in relay.log_requests]
    assert len(tokens) == 11 and len(set(tokens)) == 11


def test_follow_exits_with_the_jobs_outcome_after_a_throttled_read(
    relay: BatchRelay, capsys: pytest.CaptureFixture[str]
) -> None:
    job = submit(capsys, "--", "python", "train.py")
    put_lines(stream_of_job(job), ["one", "two", "three"])
    relay.log_faults = ["throttle"]
    relay.fault_every, relay.fault_burst = 3, 2  # botocore's retry is throttled too
    code, out, err = run(capsys, "batch", "logs", job, "--follow")
    assert code == 0, err  # moto's jobs have SUCCEEDED
    assert out.splitlines() == ["one", "two", "three"]
    assert "ThrottlingException" in err and f"job {job} SUCCEEDED" in err
    assert relay.faults_made["throttle"] >= 1


def test_a_refusal_is_not_retried_and_ends_in_one_line(
    relay: BatchRelay, capsys: pytest.CaptureFixture[str]
) -> None:
    job = submit(capsys, "--", "python", "train.py")
    put_lines(stream_of_job(job), ["one"])
    relay.log_faults, relay.fault_every = ["denied"], 1
    code, out, err = run(capsys, "batch", "logs", job, "--follow")
    assert code == EXIT_ERROR and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "permission denied (AccessDeniedException)" in err
    assert len(relay.log_requests) == 1


def test_array_child_and_multi_node_node_read_their_own_streams(
    relay: BatchRelay, capsys: pytest.CaptureFixture[str]
) -> None:
    array = submit(capsys, "--array", "3", "--", "python", "sweep.py")
    child = stream_of_job(f"{array}:2")
    put_lines(child, ["child two"])
    put_lines(stream_of_job(f"{array}:1"), ["child one"])
    multi = submit(capsys, "--nodes", "2", "--", "torchrun", "train.py")
    node_stream = "dlpick-torchrun/default/node-1-task"
    # A node's record as AWS describes it: its own id and stream.
    relay.extra_jobs[f"{multi}#1"] = _node_record(multi, 1, node_stream)
    put_lines(node_stream, ["node one says hi"])

    code, out, err = run(capsys, "batch", "logs", array, "--child", "2")
    assert code == 0, err
    assert out.splitlines() == ["child two"]
    assert relay.log_requests[-1]["logStreamName"] == child

    code, out, err = run(capsys, "batch", "logs", multi, "--node", "1")
    assert code == 0, err
    assert out.splitlines() == ["node one says hi"]
    assert relay.log_requests[-1]["logStreamName"] == node_stream

    code, out, err = run(capsys, "batch", "logs", array)
    assert code != 0 and "--child 0..2" in err
    code, out, err = run(capsys, "batch", "logs", array, "--child", "3")
    assert code != 0 and "--child must be 0 to 2" in err


def test_a_unique_prefix_of_the_job_id_will_do(
    relay: BatchRelay, capsys: pytest.CaptureFixture[str]
) -> None:
    first = submit(capsys, "--", "python", "train.py")
    batch = client("batch")
    definition = batch.describe_jobs(jobs=[first])["jobs"][0]["jobDefinition"]
    # 17 ids: at least two share their first character.
    jobs = [first] + [
        batch.submit_job(jobName=f"j{i}", jobQueue="dlpick-spot-first", jobDefinition=definition)[
            "jobId"
        ]
        for i in range(16)
    ]
    put_lines(stream_of_job(first), ["from the first job"])
    # The shortest prefix of the first id that no other id shares.
    size = next(n for n in range(1, 37) if not any(j.startswith(first[:n]) for j in jobs[1:]))
    code, out, err = run(capsys, "batch", "logs", first[:size])
    assert code == 0, err
    assert out == "from the first job\n"
    # A prefix several ids share, and one none has, are refused by name.
    shared = max("0123456789abcdef", key=lambda c: sum(j.startswith(c) for j in jobs))
    sharing = sum(j.startswith(shared) for j in jobs)
    assert sharing >= 2
    code, out, err = run(capsys, "batch", "logs", shared)
    assert (code, out) == (EXIT_ERROR, "")
    assert err == f"error: {shared!r} matches {sharing} jobs; give more of the id\n"
    for unknown in ("zzzz", ""):
        code, out, err = run(capsys, "batch", "logs", unknown)
        assert (code, out) == (EXIT_ERROR, "")
        assert err == f"error: no Batch job {unknown!r} in us-east-1\n"


def _waiting(job_id: str, status: str, *, stream: bool) -> dict[str, Any]:
    """moto's record of a job as AWS describes it before it ends: RUNNABLE has no log
    stream yet; RUNNING names one Batch has not made (no line written yet)."""
    record = client("batch").describe_jobs(jobs=[job_id])["jobs"][0]
    waiting = {k: v for k, v in record.items() if k not in ("stoppedAt", "startedAt")}
    if not stream:
        waiting["container"] = {
            k: v for k, v in record["container"].items() if k != "logStreamName"
        }
    return {**waiting, "status": status}


def test_a_job_without_a_log_says_so_and_exits_1(
    relay: BatchRelay, capsys: pytest.CaptureFixture[str]
) -> None:
    runnable = submit(capsys, "--", "python", "train.py")
    running = submit(capsys, "--", "python", "train.py")
    ended = submit(capsys, "--", "python", "train.py")  # SUCCEEDED; moto makes no stream
    relay.extra_jobs[runnable] = _waiting(runnable, "RUNNABLE", stream=False)
    relay.extra_jobs[running] = _waiting(running, "RUNNING", stream=True)
    for job, status in ((runnable, "RUNNABLE"), (running, "RUNNING")):
        code, out, err = run(capsys, "batch", "logs", job)
        assert (code, out) == (EXIT_ERROR, "")
        assert err == (
            f"error: no log yet: job {job} is {status} — dlpick batch logs {job} --follow "
            "--region us-east-1 waits for it\n"
        )
    code, out, err = run(capsys, "batch", "logs", ended)
    assert (code, out) == (EXIT_ERROR, "")
    assert err == f"error: no log: job {ended} SUCCEEDED without writing one\n"
    # Following, the job's outcome is the exit status, and the missing log is said.
    code, out, err = run(capsys, "batch", "logs", ended, "--follow")
    assert (code, out) == (0, "")
    assert err.splitlines()[-1] == f"job {ended} SUCCEEDED without writing a log"


def test_follow_waits_for_a_log_the_job_has_not_written_yet(
    relay: BatchRelay, capsys: pytest.CaptureFixture[str]
) -> None:
    job = submit(capsys, "--", "python", "train.py")
    ended = client("batch").describe_jobs(jobs=[job])["jobs"][0]  # moto's: SUCCEEDED
    relay.extra_jobs[job] = _waiting(job, "RUNNING", stream=True)
    stream = stream_of_job(job)

    def first_lines_then_the_end() -> None:
        time.sleep(1.0)
        put_lines(stream, ["epoch 0", "epoch 1"])
        relay.extra_jobs[job] = ended

    writer = threading.Thread(target=first_lines_then_the_end)
    writer.start()
    try:
        code, out, err = run(capsys, "batch", "logs", job, "--follow")
    finally:
        writer.join()
    assert code == 0, err
    assert out.splitlines() == ["epoch 0", "epoch 1"]
    assert err.splitlines() == [f"job {job} has no log yet; waiting for it", f"job {job} SUCCEEDED"]


def _node_record(job_id: str, node: int, stream: str) -> dict[str, Any]:
    parent = client("batch").describe_jobs(jobs=[job_id])["jobs"][0]
    return {
        "jobArn": f"{parent['jobArn']}#{node}",
        "jobName": parent["jobName"],
        "jobId": f"{job_id}#{node}",
        "jobQueue": parent["jobQueue"],
        "status": "SUCCEEDED",
        "createdAt": parent["createdAt"],
        "startedAt": parent["createdAt"],
        "stoppedAt": parent["createdAt"],
        "jobDefinition": parent["jobDefinition"],
        "nodeDetails": {"nodeIndex": node, "isMainNode": node == 0},
        "container": {"logStreamName": stream},
    }
