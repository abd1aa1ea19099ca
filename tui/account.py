"""How the app reaches AWS: one shared access, resolved off the UI thread.

Finding credentials imports boto3, so it happens in the first worker that needs
AWS, never on the path to the first frame. Every screen asks the same
`AwsAccess`, so the answer (and the enabled regions) is looked up once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dlpick.core.aws import Aws
from dlpick.core.errors import AwsError
from dlpick.core.regions import enabled_regions
from dlpick.remote.launch.quotas import class_headroom
from dlpick.tui.config import Settings

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

    from dlpick.pricing.catalog import Catalog, Offer
    from dlpick.pricing.spot_history import History
    from dlpick.remote.batch.jobs import BatchJob
    from dlpick.remote.fleet.scan import FleetScan, Instance
    from dlpick.remote.launch.capacity_blocks import Outlook
    from dlpick.remote.launch.model import LaunchPlan, LaunchRequest
    from dlpick.remote.launch.quotas import Headroom
    from dlpick.remote.ssh.follow import FollowEvent

# Makes an `Aws` with credentials, or raises the AwsError saying why there are none
# (Aws.credentials_problem: no credentials, a profile that is not there); called in a
# worker thread.
Connect = Callable[[], "Aws"]

OFFLINE = "dlpick runs offline (--offline): AWS is not used"


def connect_with(profile: str | None) -> Connect:
    """The connector `dlpick` uses: boto3's own credential chain for the profile."""

    def connect() -> Aws:
        return Aws(profile=profile).require_credentials()

    return connect


class AwsAccess:
    """The app's AWS account, shared by its screens. `get()` blocks: call it in workers."""

    def __init__(
        self,
        connect: Connect | None,
        *,
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._connect = connect
        self.settings = settings or Settings()
        self.clock = clock
        self._lock = threading.Lock()
        self._resolved = connect is None
        self._aws: Aws | None = None
        self._problem: AwsError | None = None  # why there is no Aws, once resolved
        self._regions: list[str] | None = None
        self._scores_denied = False  # GetSpotPlacementScores refused: not asked again

    @property
    def offline(self) -> bool:
        return self._connect is None

    @property
    def available(self) -> bool | None:
        """True with credentials, False without, None while not yet looked up."""
        if not self._resolved:
            return None
        return self._aws is not None

    @property
    def why_not(self) -> str:
        """Why AWS cannot be used: offline, or the credentials problem AWS's tools name."""
        if self.offline:
            return OFFLINE
        return str(self._problem) if self._problem else "AWS access is not resolved yet"

    # Typed Any, not `Aws | None`, while screens still hand the answer to functions
    # that take an Aws without checking it for None; they should call require().
    def get(self) -> Aws | None:
        """The `Aws` to call, or None without credentials (resolved once)."""
        with self._lock:
            if not self._resolved:
                try:
                    self._aws = self._connect() if self._connect else None
                except AwsError as exc:
                    self._problem = exc
                self._resolved = True
            return self._aws

    def require(self) -> Aws:
        """The `Aws` to call, or the AwsError saying why there is none."""
        aws = self.get()
        if aws is None:
            raise AwsError(self.why_not, credentials=not self.offline)
        return aws

    def regions(self, home: str) -> list[str]:
        """The account's enabled regions, asked once; `home` alone if that fails."""
        aws = self.get()
        if aws is None:
            return [home]
        with self._lock:
            if self._regions is None:
                try:
                    self._regions = enabled_regions(aws.ec2(home)) or [home]
                except AwsError:  # no ec2:DescribeRegions: watch the home region only
                    self._regions = [home]
            return list(self._regions)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # What the app's workers ask of AWS. They go through these few methods, so an
    # app built for pictures can answer them from fixed data instead.

    def headroom(self, region: str) -> Headroom:
        """The region's GPU quota classes with their usage."""
        return class_headroom(self.require(), region)

    def plan(
        self, request: LaunchRequest, price: Callable[[], tuple[float | None, str]]
    ) -> LaunchPlan:
        """A LaunchPlan for a LaunchRequest, found with read-only calls."""
        from dlpick.remote.launch.plan import plan_launch

        return plan_launch(self.require(), request, price)

    def capacity(self, instance_type: str, region: str) -> Outlook:
        """The type's spot placement scores and cheapest Capacity Block (cached)."""
        from dlpick.core.cache import PriceCache
        from dlpick.remote.launch.capacity_blocks import outlook

        aws = self.require()
        found = outlook(
            aws,
            instance_type,
            region,
            self.regions(region),
            cache=PriceCache(),
            ask_scores=not self._scores_denied,
        )
        if found.placement is not None and found.placement.denied:
            self._scores_denied = True
        return found

    def spot_history(self, instance_type: str, region: str, days: int) -> History:
        """The type's spot price changes over the last `days` (cached an hour)."""
        from dlpick.core.cache import PriceCache
        from dlpick.pricing.spot_history import load_history

        aws = self.require()
        return load_history(aws, PriceCache(), instance_type, region, days=days, now=self.now())

    def fleet(self, regions: list[str], catalog: Catalog) -> FleetScan:
        """Instances with accelerators in the regions, priced, with their idle states."""
        from dlpick.remote.fleet.scan import load_fleet  # not before the first frame

        return load_fleet(self.require(), regions, catalog=catalog)

    def batch_jobs(self, region: str, catalog: Catalog) -> list[BatchJob]:
        """dlpick's Batch jobs of the last week, costed from the catalog's prices."""
        from dlpick.remote.batch.jobs import load_jobs

        offers: dict[str, Offer] = {}

        def price(instance_type: str, spot: bool) -> float | None:
            if not offers:
                offers.update({o.instance_type: o for o in catalog.region(region).offers()})
            offer = offers.get(instance_type)
            return offer.usd_hour(spot) if offer else None

        return load_jobs(self.require(), region, price, now=self.now())

    def cancel_batch_job(self, region: str, job_id: str) -> str:
        """Cancel (or terminate, once started) one of dlpick's jobs; what happened, in words."""
        from dlpick.remote.batch.jobs import cancel, find_job

        aws = self.require()
        return cancel(aws, region, find_job(aws, region, job_id), "cancelled in dlpick")

    def batch_log(self, region: str, job: BatchJob) -> AsyncIterator[FollowEvent]:
        """A job's log followed to its end (an array's first child; a multi-node job's
        main node), as the log view's events."""
        from dlpick.remote.batch.logs import (
            BatchLogFollower,
            events_off_loop,
            job_state,
            log_target,
        )

        async def events() -> AsyncIterator[FollowEvent]:
            aws = await asyncio.to_thread(self.require)
            child = 0 if job.array_size else None
            target = await asyncio.to_thread(log_target, aws, region, job.job_id, child=child)
            follower = BatchLogFollower(
                aws.logs(region), target.stream, state=job_state(aws, region, target.job_id)
            )
            async for event in events_off_loop(follower):
                yield event

        return events()

    def cloudwatch(self, region: str) -> CloudWatchClient | None:
        """A CloudWatch client for the region (idle watching's CPU fallback), or None."""
        aws = self.get()
        return None if aws is None else aws.cloudwatch(region)

    def launch_choices(self, region: str, instance_type: str) -> tuple[list[str], list[str]]:
        """The AZs of the region that offer the type, and the region's key pairs."""
        from dlpick.remote.launch.choices import key_pair_names, offered_zones

        aws = self.require()
        return offered_zones(aws, region, instance_type), key_pair_names(aws, region)


@dataclass(frozen=True)
class Fleet:
    """What the app last learned about the user's instances, for the ticker and screens."""

    status: str  # "waiting", "ok", "unavailable" (offline or no credentials), "error"
    instances: tuple[Instance, ...] = ()
    at: datetime | None = None
    regions: tuple[str, ...] = ()
    message: str = ""  # why unavailable, or the error
    unreadable: tuple[tuple[str, str], ...] = field(default=())  # (region, why)
