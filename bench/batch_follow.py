"""Following a Batch job's log in CloudWatch Logs: lines/s through moto.

Puts 50,000 lines into a log stream of moto server (the tests' peer), then reads
them with dlpick's BatchLogFollower as `dlpick batch logs --follow` does: GetLogEvents
from the head with forward tokens until the job has ended and the stream is drained.
Three times: straight to moto in AWS's full pages; through the tests' relay in pages
of 1,000 lines; and the same with every 5th call failing (closed socket, throttling,
HTTP 500 in turn), to show what riding out failures costs. Prints JSON; nothing here
asserts a timing.
Run: python -m bench.batch_follow
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

LINES = 50_000
STREAM = "dlpick-train/default/bench"
PUT_BATCH = 10_000  # PutLogEvents takes at most 10,000 events


def _put(lines: int) -> None:
    import boto3

    from dlpick.remote.batch.logs import GROUP

    logs = boto3.client("logs", region_name="us-east-1")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    for start in range(0, lines, PUT_BATCH):
        now = int(time.time() * 1000)
        events = [
            {"timestamp": now, "message": f"step {i:07d} loss {1 / (i + 1):.6f} lr 3e-4"}
            for i in range(start, min(lines, start + PUT_BATCH))
        ]
        logs.put_log_events(logGroupName=GROUP, logStreamName=STREAM, logEvents=events)


def _follow() -> dict[str, Any]:
    from dlpick.core.aws import Aws
    from dlpick.remote.batch.logs import BatchLogFollower
    from dlpick.remote.ssh.follow import LogChunk

    follower = BatchLogFollower(
        Aws().logs("us-east-1"),
        STREAM,
        state=lambda: ("SUCCEEDED", STREAM),
        backoff_initial=0.01,
    )
    start = time.perf_counter()
    lines = size = 0
    for event in follower.events():
        if isinstance(event, LogChunk):
            lines += event.data.count(b"\n")
            size += len(event.data)
    elapsed = time.perf_counter() - start
    return {
        "lines": lines,
        "bytes": size,
        "seconds": round(elapsed, 3),
        "lines_per_s": round(lines / elapsed),
        "retries": follower.retries,
    }


def main() -> dict[str, Any]:
    from bench.common import isolated_env, moto_env
    from tests.peers.batch_relay import BatchRelay
    from tests.peers.moto_peer import MotoPeer

    moto = MotoPeer().start()
    saved = dict(os.environ)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.update(isolated_env(Path(tmp)))
            os.environ.update(moto_env(moto.url, AWS_MAX_ATTEMPTS="1"))
            _put(LINES)
            direct = _follow()
            relay = BatchRelay(moto.url).start()
            try:
                relay.log_page = 1000
                os.environ["AWS_ENDPOINT_URL"] = relay.url
                paged = _follow()
                relay.fault_every = 5
                faulty = _follow()
                faulty["faults"] = dict(relay.faults_made)
            finally:
                relay.stop()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        moto.stop()
    return {
        "lines_put": LINES,
        "direct_pages_of_10000": direct,
        "relay_pages_of_1000": paged,
        # botocore's own retry (with its back-off) meets each single failure here.
        "relay_pages_of_1000_every_5th_call_failing": faulty,
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
