"""Batch jobs in dlpick's queues: where they landed, how long they ran, what they cost.

Batch does not say which instance type a single-node job landed on; the job's
container instance does (ECS), and the compute environment owning its cluster says
whether it was spot or on-demand. Cost so far is the running time at that type's price.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dlpick.core.aws_errors import expect
from dlpick.core.errors import AwsError, InputError
from dlpick.remote.batch import names as names
from dlpick.remote.batch.state import environments, no_setup, queues

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_batch.literals import JobStatusType

    from dlpick.core.aws import Aws

# Jobs that may still run (and bill); the rest have ended.
ACTIVE_STATES: tuple[JobStatusType, ...] = (
    "SUBMITTED",
    "PENDING",
    "RUNNABLE",
    "STARTING",
    "RUNNING",
)
ACTIVE = frozenset(ACTIVE_STATES)
# DescribeJobs takes at most 100 job ids per call (Batch API reference).
DESCRIBE_LIMIT = 100
DEFAULT_SINCE_DAYS = 7.0
# Larger arrays are listed without their children's cost (shown as unknown).
MAX_CHILDREN = 1000

# (instance type, spot) -> USD per hour, or None when unknown
PriceOf = Callable[[str, bool], float | None]


@dataclass
class BatchJob:
    """One job (or array parent, or multi-node job) as the user sees it."""

    job_id: str
    name: str
    status: str
    queue: str
    created: datetime
    started: datetime | None = None
    stopped: datetime | None = None
    reason: str = ""
    instance_type: str | None = None
    market: str | None = None  # "spot" or "on-demand" once known
    usd_hour: float | None = None
    nodes: int = 1
    array_size: int | None = None
    children: list[BatchJob] | None = None  # an array's children, when read

    def running_hours(self, now: datetime) -> float | None:
        if self.children:
            hours = [h for c in self.children if (h := c.running_hours(now)) is not None]
            return max(hours) if hours else None
        if self.started is None:
            return None
        return max(0.0, ((self.stopped or now) - self.started).total_seconds() / 3600)

    def cost_so_far(self, now: datetime) -> float | None:
        """USD spent so far; None before it starts (its host may already bill) or when the
        type or its price is not known: never a made-up $0."""
        if self.children is not None:
            costs = [c.cost_so_far(now) for c in self.children]
            known = [c for c in costs if c is not None]
            if len(known) < len(costs) or not costs:
                return None
            return sum(known)
        hours = self.running_hours(now)
        if hours is None or self.usd_hour is None:
            return None
        return hours * self.usd_hour * self.nodes

    def to_record(self, now: datetime) -> dict[str, Any]:
        cost = self.cost_so_far(now)
        hours = self.running_hours(now)
        return {
            "job_id": self.job_id,
            "name": self.name,
            "status": self.status,
            "queue": self.queue,
            "instance_type": self.instance_type,
            "market": self.market,
            "nodes": self.nodes,
            "array_size": self.array_size,
            "created": _utc(self.created),
            "started": _utc(self.started),
            "stopped": _utc(self.stopped),
            "running_hours": None if hours is None else round(hours, 4),
            "usd_hour": self.usd_hour,
            "cost_usd": None if cost is None else round(cost, 4),
            "reason": self.reason,
        }


def _utc(when: datetime | None) -> str | None:
    """A time as the rest of dlpick's JSON has it: '2026-12-02T08:00:00Z'."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def _when(ms: object) -> datetime | None:
    return datetime.fromtimestamp(int(ms) / 1000, UTC) if isinstance(ms, int | float) else None


def _queue_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def container_instance(job: dict[str, Any]) -> str | None:
    """The ECS container instance ARN the job's last attempt ran on, if Batch gave one."""
    attempts = job.get("attempts") or []
    for source in ([attempts[-1].get("container", {})] if attempts else []) + [
        job.get("container", {})
    ]:
        arn = str(source.get("containerInstanceArn") or "")
        if ":container-instance/" in arn:
            return arn
    return None


def job_of(described: dict[str, Any]) -> BatchJob:
    """A BatchJob from one DescribeJobs record (type and price are filled in later)."""
    container = described.get("container") or {}
    nodes = described.get("nodeProperties", {}).get("numNodes") or 1
    array = described.get("arrayProperties") or {}
    return BatchJob(
        job_id=str(described["jobId"]),
        name=str(described.get("jobName", "")),
        status=str(described.get("status", "?")),
        queue=_queue_name(str(described.get("jobQueue", ""))),
        created=_when(described.get("createdAt")) or datetime.fromtimestamp(0, UTC),
        started=_when(described.get("startedAt")),
        stopped=_when(described.get("stoppedAt")),
        reason=str(described.get("statusReason", "")),
        instance_type=container.get("instanceType"),  # multi-node jobs only
        nodes=int(nodes),
        array_size=int(array["size"]) if "size" in array else None,
    )


def describe(batch: BatchClient, ids: Sequence[str]) -> list[dict[str, Any]]:
    """DescribeJobs for any number of ids, 100 per call, in the order given."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), DESCRIBE_LIMIT):
        answer = batch.describe_jobs(jobs=list(ids[start : start + DESCRIBE_LIMIT]))
        for job in expect(answer, "jobs", list):
            found[str(job["jobId"])] = dict(job)
    return [found[i] for i in ids if i in found]


def list_ids(batch: BatchClient, queue: str, since: datetime) -> list[str]:
    """Ids of the jobs in a queue created since `since`, in every status.

    A filter makes ListJobs answer for every status at once (a status alone would
    need one call per status); array children are left out: their parent stands for them.
    """
    stamp = str(int(since.timestamp() * 1000))
    ids: list[str] = []
    for page in batch.get_paginator("list_jobs").paginate(
        jobQueue=queue, filters=[{"name": "AFTER_CREATED_AT", "values": [stamp]}]
    ):
        for summary in expect(page, "jobSummaryList", list):
            job_id = str(summary["jobId"])
            if ":" not in job_id and job_id not in ids:
                ids.append(job_id)
    return ids


class Landing:
    """Finds the instance type and market of the hosts jobs ran on.

    A container instance is looked up in the ECS cluster of each of dlpick's
    environments (two calls at most, whichever ARN format the account uses); the
    environment it is found in says spot or on-demand.
    """

    def __init__(self, aws: Aws, region: str) -> None:
        self.aws = aws
        self.region = region
        self._clusters: dict[str, bool] | None = None  # cluster ARN -> spot
        self._found: dict[str, tuple[str, bool]] = {}  # container instance -> (type, spot)

    def clusters(self) -> dict[str, bool]:
        if self._clusters is None:
            envs = environments(self.aws.batch(self.region), names.ENVIRONMENTS)
            self._clusters = {
                str(e["ecsClusterArn"]): e.get("computeResources", {}).get("type")
                in ("SPOT", "FARGATE_SPOT")
                for e in envs.values()
                if e.get("ecsClusterArn")
            }
        return self._clusters

    def resolve(self, arns: Iterable[str]) -> None:
        """Read the instance types of these container instances.

        An ARN naming its cluster is looked up there only; an older one without it in
        each of dlpick's clusters. A type that cannot be read stays unknown (its cost
        shows as unknown), unless the credentials or the network failed.
        """
        wanted = sorted({a for a in arns if a not in self._found})
        by_cluster: dict[str, list[str]] = {}
        for arn in wanted:
            named = arn.split(":container-instance/", 1)[-1].split("/")
            for cluster in self.clusters():
                if len(named) == 1 or cluster.rsplit("/", 1)[-1] == named[0]:
                    by_cluster.setdefault(cluster, []).append(arn)
        ecs = self.aws.ecs(self.region)
        for cluster, arns_there in by_cluster.items():
            spot = self.clusters()[cluster]
            for start in range(0, len(arns_there), DESCRIBE_LIMIT):
                try:
                    answer = ecs.describe_container_instances(
                        cluster=cluster,
                        containerInstances=arns_there[start : start + DESCRIBE_LIMIT],
                    )
                except AwsError as exc:
                    if exc.account_wide:
                        raise
                    continue
                for ci in answer.get("containerInstances", []):
                    for attr in ci.get("attributes", []):
                        if attr.get("name") == "ecs.instance-type" and attr.get("value"):
                            self._found[str(ci["containerInstanceArn"])] = (attr["value"], spot)

    def place(self, job: BatchJob, described: dict[str, Any]) -> None:
        """Fill in the job's type and market from what `resolve` found."""
        arn = container_instance(described)
        if arn is not None and arn in self._found:
            instance_type, spot = self._found[arn]
            job.instance_type = job.instance_type or instance_type
            job.market = "spot" if spot else "on-demand"
        elif job.instance_type and job.queue == names.ON_DEMAND_QUEUE:
            job.market = "on-demand"  # a multi-node job: only ever on-demand


def load_jobs(
    aws: Aws,
    region: str,
    price_of: PriceOf,
    *,
    since: datetime | None = None,
    now: datetime | None = None,
) -> list[BatchJob]:
    """Jobs in dlpick's queues created since `since` (default a week), newest first.

    A region without dlpick's queues is refused: it has no setup, not zero jobs.
    """
    batch = aws.batch(region)
    now = now or datetime.now(UTC)
    since = since or now - timedelta(days=DEFAULT_SINCE_DAYS)
    there = queues(batch, names.QUEUES)
    if not there:
        raise no_setup(region)
    ids: list[str] = []
    for queue in (q for q in names.QUEUES if q in there):
        ids += [i for i in list_ids(batch, queue, since) if i not in ids]
    described = describe(batch, ids)
    jobs = [job_of(d) for d in described]
    landing = Landing(aws, region)
    for job, d in zip(jobs, described, strict=True):
        if job.array_size is not None:
            # Children are PARENT:0 .. PARENT:N-1; ListJobs' filters do not reach them.
            kids = (
                describe(batch, [f"{job.job_id}:{i}" for i in range(job.array_size)])
                if job.array_size <= MAX_CHILDREN
                else []
            )
            job.children = [job_of(k) for k in kids]
            _place_all(landing, job.children, kids, price_of)
            types = {c.instance_type for c in job.children if c.instance_type}
            job.instance_type = types.pop() if len(types) == 1 else None
        else:
            _place_all(landing, [job], [d], price_of)
    return sorted(jobs, key=lambda j: j.created, reverse=True)


def _place_all(
    landing: Landing, jobs: list[BatchJob], described: list[dict[str, Any]], price_of: PriceOf
) -> None:
    arns = [a for d in described if (a := container_instance(d))]
    if arns:
        landing.resolve(arns)
    for job, d in zip(jobs, described, strict=True):
        landing.place(job, d)
        if job.instance_type and job.market:
            job.usd_hour = price_of(job.instance_type, job.market == "spot")


def find_job(aws: Aws, region: str, job_id: str, *, prefix: bool = False) -> dict[str, Any]:
    """One job in dlpick's queues, or an error saying why it cannot be acted on.

    With `prefix`, a unique beginning of the id of a job in dlpick's queues will do.
    """
    batch = aws.batch(region)
    found = describe(batch, [job_id]) if job_id else []
    if not found and prefix and job_id:
        matches = ids_starting(batch, job_id)
        if len(matches) > 1:
            raise InputError(f"{job_id!r} matches {len(matches)} jobs; give more of the id")
        found = describe(batch, matches)
    if not found:
        raise InputError(f"no Batch job {job_id!r} in {region}")
    job = found[0]
    if _queue_name(str(job.get("jobQueue", ""))) not in names.QUEUES:
        job_id = str(job["jobId"])
        raise InputError(f"job {job_id} is not in dlpick's queues; dlpick leaves it alone")
    return job


def ids_starting(batch: BatchClient, prefix: str) -> list[str]:
    """The ids of the jobs in dlpick's queues (as long as Batch keeps them) that start
    with `prefix`."""
    there = queues(batch, names.QUEUES)
    since = datetime.fromtimestamp(0, UTC)
    found: list[str] = []
    for queue in (q for q in names.QUEUES if q in there):
        found += [i for i in list_ids(batch, queue, since) if i.startswith(prefix)]
    return found


def cancel(aws: Aws, region: str, job: dict[str, Any], reason: str) -> str:
    """Stop a job: cancel it before it starts, terminate it once it has.

    Returns what happened, in words. CancelJob does nothing to a started job, so a
    started job is terminated instead.
    """
    batch = aws.batch(region)
    job_id, status = str(job["jobId"]), str(job.get("status"))
    if status not in ACTIVE:
        return f"{job_id} has already ended ({status}); nothing to stop"
    try:
        if status in ("STARTING", "RUNNING"):
            batch.terminate_job(jobId=job_id, reason=reason)
            return f"terminating {job_id} (was {status})"
        batch.cancel_job(jobId=job_id, reason=reason)
    except AwsError as exc:
        raise exc.doing(f"stopping job {job_id}") from None
    return f"cancelling {job_id} (was {status})"
