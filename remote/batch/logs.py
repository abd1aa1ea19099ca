"""Follow a Batch job's log in CloudWatch Logs without losing or repeating a line.

Batch writes each job's output to the log group /aws/batch/job, in the stream its
DescribeJobs record names (container.logStreamName): an array's child has its own
(job id `PARENT:N`), so has each node of a multi-node job (`JOB#N`).

GetLogEvents is read from the head, page after page, with the forward token of the
page before. The token is the follower's only position: it moves on only once a
page's lines are handed out, so after a failed call (throttling, a dropped
connection, a server error) the same page is asked for again with the same token,
never from the start. The same token coming back means the end of the stream as it
is now. Following polls until the job has ended, then drains the stream once more.

The events are those of the SSH follower (dlpick.remote.ssh.follow), so the app's
log view and `dlpick batch logs` show either; a LogChunk's `offset` here counts the
lines handed out before it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dlpick.core.aws_errors import THROTTLE_ERRORS
from dlpick.core.errors import AwsError, InputError
from dlpick.core.retry import Backoff
from dlpick.remote.batch.jobs import describe, find_job
from dlpick.remote.ssh.follow import ConnectionChange, FollowEvent, LogChunk, LogEnd, RunEnded

if TYPE_CHECKING:
    from dlpick.core.aws import Aws, LogsClient

GROUP = "/aws/batch/job"
ENDED = frozenset({"SUCCEEDED", "FAILED"})
# Answers worth asking again for: AWS or the way to it failed for a moment.
RETRY_CODES = THROTTLE_ERRORS | {
    "MalformedAnswer",
    "ServiceUnavailableException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalServerError",
}

# The job's status and its log stream (None until Batch names one), read again each poll.
JobState = Callable[[], tuple[str, str | None]]


def stream_of(described: dict[str, Any]) -> str | None:
    """The log stream a DescribeJobs record names: its container's, else its last attempt's."""
    name = (described.get("container") or {}).get("logStreamName")
    if not name:
        attempts = described.get("attempts") or []
        if attempts:
            name = (attempts[-1].get("container") or {}).get("logStreamName")
    return str(name) if name else None


@dataclass(frozen=True)
class LogTarget:
    """Whose log to read: `job_id` is the child or node (or the job itself)."""

    job_id: str
    status: str
    stream: str | None


def log_target(
    aws: Aws, region: str, job_id: str, *, child: int | None = None, node: int | None = None
) -> LogTarget:
    """The job (its id or a unique prefix of it), array child or node whose log
    `batch logs` reads.

    An array parent has no log of its own: a child must be named. A multi-node job
    reads its main node's log unless a node is named.
    """
    job = find_job(aws, region, job_id, prefix=True)
    job_id = str(job["jobId"])
    size = (job.get("arrayProperties") or {}).get("size")
    nodes = job.get("nodeProperties") or {}
    if child is not None:
        if size is None:
            raise InputError(f"job {job_id} is not an array job; leave out --child")
        if not 0 <= child < int(size):
            raise InputError(f"--child must be 0 to {int(size) - 1} for job {job_id}")
        wanted = f"{job_id}:{child}"
    elif node is not None or nodes:
        if not nodes:
            raise InputError(f"job {job_id} is not a multi-node job; leave out --node")
        count = int(nodes.get("numNodes") or 1)
        index = int(nodes.get("mainNode") or 0) if node is None else node
        if not 0 <= index < count:
            raise InputError(f"--node must be 0 to {count - 1} for job {job_id}")
        wanted = f"{job_id}#{index}"
    elif size is not None:
        last = int(size) - 1
        raise InputError(
            f"job {job_id} is an array of {last + 1} jobs; name one with --child 0..{last}"
        )
    else:
        return LogTarget(job_id, str(job.get("status", "?")), stream_of(job))
    found = describe(aws.batch(region), [wanted])
    if not found:
        raise InputError(f"no Batch job {wanted} in {region}")
    return LogTarget(wanted, str(found[0].get("status", "?")), stream_of(found[0]))


def job_state(aws: Aws, region: str, job_id: str) -> JobState:
    """Reads a job's status and log stream (for BatchLogFollower's `state`)."""

    def state() -> tuple[str, str | None]:
        found = describe(aws.batch(region), [job_id])
        if not found:
            raise InputError(f"Batch job {job_id} is gone from {region}")
        return str(found[0].get("status", "?")), stream_of(found[0])

    return state


def retryable(exc: AwsError) -> bool:
    """A failure that asking again later may get past (not credentials or a bad request)."""
    if exc.credentials:
        return False
    return (
        exc.unreachable or exc.code in RETRY_CODES or (exc.code.isdigit() and int(exc.code) >= 500)
    )


class BatchLogFollower:
    """Reads a log stream from its head (or from `token`) as FollowEvents.

    `state` (see job_state) says when a followed job has ended; without `follow` the
    stream is read to its current end. `token` is the position: the forward token of
    the last page handed out.
    """

    def __init__(
        self,
        logs: LogsClient,
        stream: str | None,
        *,
        state: JobState | None = None,
        follow: bool = True,
        token: str | None = None,
        group: str = GROUP,
        limit: int | None = None,
        poll_interval: float = 2.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 20.0,
        give_up_after: float | None = 600.0,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.logs = logs
        self.stream = stream
        self.state = state
        self.follow = follow and state is not None
        self.token = token
        self.group = group
        self.limit = limit
        self.poll_interval = poll_interval
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.give_up_after = give_up_after
        self.sleep = sleep
        self.lines = 0  # handed out so far
        self.found = False  # the stream has answered: Batch makes it with the first line
        self.retries = 0
        self.status: str | None = None  # the job's, once read
        self.exit_status: int | None = None

    def events(self) -> Iterator[FollowEvent]:
        """Log chunks, connection changes, and RunEnded (following) or LogEnd (not)."""
        backoff = Backoff(self.backoff_initial, self.backoff_max, self.give_up_after)
        waiting_noted = False
        announced = False  # "connected" is said once AWS has answered, and after each recovery
        final: str | None = None  # the job's end status; one more drain follows it
        while True:
            try:
                if self.stream is not None:
                    for chunk in self._drain():
                        if backoff.failing or not announced:
                            backoff.succeeded()
                            announced = True
                            yield ConnectionChange("connected", backoff.attempt)
                        yield chunk
                if backoff.failing or not announced:
                    backoff.succeeded()
                    announced = True
                    yield ConnectionChange("connected", backoff.attempt)
                if not self.follow or self.state is None:
                    yield LogEnd(self.lines)
                    return
                if final is not None:
                    self.exit_status = 0 if final == "SUCCEEDED" else 1
                    yield RunEnded(self.exit_status)
                    return
                self.status, stream = self.state()
                if self.stream is None and stream is not None:
                    self.stream = stream
                    continue
                if self.status in ENDED:
                    final = self.status
                    continue
                if not self.found and not waiting_noted:
                    waiting_noted = True
                    yield ConnectionChange("waiting for the job's log")
                self.sleep(self.poll_interval)
            except AwsError as exc:
                if not retryable(exc):
                    raise
                delay = backoff.failed()
                if delay is None:
                    yield ConnectionChange("failed", backoff.attempt, error=exc.reason)
                    raise AwsError(
                        f"gave up after {self.give_up_after:g} s: {exc.reason}",
                        operation=f"reading the log of {self.stream or 'the job'}",
                        code=exc.code,
                    ) from None
                self.retries += 1
                yield ConnectionChange("reconnecting", backoff.attempt, delay, exc.reason)
                self.sleep(delay)

    def _drain(self) -> Iterator[LogChunk]:
        """Pages from the token held to the stream's current end."""
        while True:
            request: dict[str, Any] = {
                "logGroupName": self.group,
                "logStreamName": self.stream,
                "startFromHead": True,
            }
            if self.token is not None:
                request["nextToken"] = self.token
            if self.limit is not None:
                request["limit"] = self.limit
            try:
                page = self.logs.get_log_events(**request)
            except AwsError as exc:
                if exc.code == "ResourceNotFoundException":
                    return  # no line written yet: Batch makes the stream with the first
                raise
            self.found = True
            events = page.get("events") or []
            token = page.get("nextForwardToken")
            at_end = token is None or token == self.token
            if token is not None:
                self.token = str(token)
            if events:
                text = "".join(str(e.get("message", "")).rstrip("\n") + "\n" for e in events)
                chunk = LogChunk(text.encode("utf-8"), self.lines)
                self.lines += len(events)
                yield chunk
            if at_end or (not events and token is None):
                return


async def events_off_loop(follower: BatchLogFollower) -> AsyncIterator[FollowEvent]:
    """The follower's events for an asyncio consumer (the app's log view): each call to
    AWS, and each wait between polls, runs in a thread, never on the event loop."""
    import asyncio

    events = follower.events()
    while True:
        event: FollowEvent | None = await asyncio.to_thread(next, events, None)
        if event is None:
            return
        yield event
