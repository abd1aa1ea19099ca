"""`make screenshots`: every screen of the app at 120x36 and 80x24, as SVG and PNG.

The app runs headless and offline on the bundled snapshot, as a user without AWS
credentials sees it. The snapshot tests use `make_app()` here instead: fixed data
and a fixed clock, so that they change only when the app does.
"""

from __future__ import annotations

import asyncio
import html
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual.pilot import Pilot
from textual.widgets import DataTable

from dlpick.core.cache import PriceCache
from dlpick.pricing.catalog import Catalog
from dlpick.pricing.placement import Placement, neighbours
from dlpick.pricing.snapshot import RegionSnapshot, Snapshot
from dlpick.pricing.specs import InstanceSpec
from dlpick.pricing.spot_history import History, PriceChange
from dlpick.remote.batch.jobs import BatchJob
from dlpick.remote.fleet.scan import FleetScan, Instance, price_instances
from dlpick.remote.launch import guard
from dlpick.remote.launch.capacity_blocks import BlockOffering, Outlook
from dlpick.remote.launch.images import Ami
from dlpick.remote.launch.model import LaunchPlan, LaunchRequest
from dlpick.remote.launch.quotas import Headroom, Quota, rules, verdict_for
from dlpick.remote.tags import IDLE_STOP_TAG, MANAGED_TAG, STOP_AFTER_TAG
from dlpick.tui.account import AwsAccess
from dlpick.tui.app import DlpickApp
from dlpick.tui.config import Settings
from dlpick.tui.widgets.capacity import CapacityLines
from dlpick.tui.widgets.live_prices import LiveFactory
from dlpick.tui.widgets.spot_chart import SpotHistoryLines
from tests.ui import until

if TYPE_CHECKING:
    from dlpick.core.aws import Aws

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((120, 36), (80, 24))
FIXED_NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC).timestamp()


def _spec(
    itype: str, vcpus: int, ram: float, name: str, count: float, gpu_gib: float, kind: str = "gpu"
) -> InstanceSpec:
    return InstanceSpec(
        instance_type=itype,
        vcpus=vcpus,
        memory_gib=ram,
        architectures=("x86_64",),
        accelerator_kind=kind,
        accelerator_vendor="AWS" if kind == "neuron" else "NVIDIA",
        accelerator_name=name,
        accelerator_count=count,
        accelerator_memory_gib=gpu_gib,
    )


SPECS = [
    _spec("g4dn.xlarge", 4, 16, "T4", 1, 16),
    _spec("g5.xlarge", 4, 16, "A10G", 1, 22.352),
    _spec("g5.12xlarge", 48, 192, "A10G", 4, 89.408),
    _spec("g6.xlarge", 4, 16, "L4", 1, 22.352),
    _spec("g6.12xlarge", 48, 192, "L4", 4, 89.408),
    _spec("g6f.large", 2, 8, "L4", 0.125, 2.794),
    _spec("g6e.2xlarge", 8, 64, "L40S", 1, 44.703),
    _spec("p4d.24xlarge", 96, 1152, "A100", 8, 320),
    _spec("p5.48xlarge", 192, 2048, "H100", 8, 640),
    _spec("trn1.2xlarge", 8, 32, "Trainium", 1, 32, kind="neuron"),
]

# Published-looking prices; fixed so screenshots and tests never move with real data.
ON_DEMAND = {
    "us-east-1": {
        "g4dn.xlarge": 0.526,
        "g5.xlarge": 1.006,
        "g5.12xlarge": 5.672,
        "g6.xlarge": 0.8048,
        "g6.12xlarge": 4.6016,
        "g6f.large": 0.2020,
        "g6e.2xlarge": 2.24208,
        "p4d.24xlarge": 21.96,
        "p5.48xlarge": 55.04,
        "trn1.2xlarge": 1.34375,
    },
    "eu-west-1": {
        "g4dn.xlarge": 0.587,
        "g5.xlarge": 1.123,
        "g6.xlarge": 0.8970,
        "p4d.24xlarge": 19.50,
        "p5.48xlarge": 61.20,
    },
    "ap-south-1": {"g4dn.xlarge": 0.579, "g6.xlarge": 0.7010},
}
SPOT = {
    "us-east-1": {
        "g4dn.xlarge": {"us-east-1a": 0.2210, "us-east-1b": 0.2156, "us-east-1d": 0.2480},
        "g5.xlarge": {"us-east-1a": 0.4420, "us-east-1c": 0.3988},
        "g6.xlarge": {
            "us-east-1a": 0.4159,
            "us-east-1b": 0.3470,
            "us-east-1c": 0.3618,
            "us-east-1d": 0.5525,
        },
        "g6e.2xlarge": {"us-east-1b": 0.9030},
        "p5.48xlarge": {"us-east-1a": 31.466, "us-east-1f": 29.870},
    },
    "eu-west-1": {"g6.xlarge": {"eu-west-1b": 0.3012}, "p4d.24xlarge": {"eu-west-1a": 9.80}},
}


def fixed_snapshot() -> Snapshot:
    """A small snapshot of three regions, independent of the bundled data file."""
    regions = {
        name: RegionSnapshot(
            on_demand=dict(prices),
            spot={t: dict(azs) for t, azs in SPOT.get(name, {}).items()},
            on_demand_as_of="2026-08-26",
            spot_as_of="2026-08-31T09:30:00Z",
            offered=set(prices),
        )
        for name, prices in ON_DEMAND.items()
    }
    return Snapshot(
        as_of="2026-08-26",
        source="fixed test data",
        specs={s.instance_type: s for s in SPECS},
        regions=regions,
    )


def offline_catalog(cache_dir: Path, snapshot: Snapshot | None = None) -> Catalog:
    cache = PriceCache(cache_dir / "prices.sqlite", clock=lambda: FIXED_NOW)
    return Catalog(
        cache=cache, aws=None, snapshot=snapshot or fixed_snapshot(), clock=lambda: FIXED_NOW
    )


# vCPU limits and usage of a made-up account: G fits, P has none (as new accounts).
FIXED_LIMITS = {
    ("G and VT", "on-demand"): (64, 8),
    ("P", "on-demand"): (0, 0),
    ("G and VT", "spot"): (64, 0),
    ("P", "spot"): (0, 0),
}
FIXED_AT = datetime.fromtimestamp(FIXED_NOW, UTC)


def _fixed_instance(
    instance_id: str,
    name: str,
    itype: str,
    region: str,
    hours: float,
    *,
    state: str = "running",
    managed: bool = True,
    spot: bool = False,
    idle: str = "active",
    tags: dict[str, str] | None = None,
    ran: float | None = None,  # hours it ran before it stopped
) -> Instance:
    launched = FIXED_AT - timedelta(hours=hours)
    return Instance(
        instance_id=instance_id,
        region=region,
        name=name,
        instance_type=itype,
        state=state,
        launch_time=launched,
        spot=spot,
        az=f"{region}b",
        managed=managed,
        tags={**({MANAGED_TAG: "true"} if managed else {}), **(tags or {})},
        volumes_gib={"gp3": 200},
        idle=idle,
        stopped_at=None if ran is None else launched + timedelta(hours=ran),
    )


class FixedAccess(AwsAccess):
    """An account answered from fixed data, so pictures never change with AWS."""

    def __init__(self) -> None:
        # Never called: every AWS question is answered below.
        sentinel = cast("Aws", object())
        super().__init__(
            lambda: sentinel,
            # Pictures never reach a host: no SSH to the fixed instances' made-up addresses.
            settings=Settings(
                checkip_url="https://checkip.amazonaws.com", watch_idle_over_ssh=False
            ),
            clock=lambda: FIXED_NOW,
        )

    # Regions the scan could not read; none here, one in PartlyReadableAccess.
    unreadable: tuple[tuple[str, str], ...] = ()

    def regions(self, home: str) -> list[str]:
        return ["us-east-1", "eu-west-1", "ap-south-1"]

    def headroom(self, region: str) -> Headroom:
        out: Headroom = {}
        for rule in rules():
            limit, used = FIXED_LIMITS.get((rule.quota_class, rule.market), (None, 0))
            value = None if limit is None else float(limit)
            quota = Quota(rule.code, rule.name, value, rule.market, rule.quota_class)
            out[rule.name, rule.market] = (quota, used)
        return out

    def capacity(self, instance_type: str, region: str) -> Outlook:
        """Scores in three regions and per AZ, and a one-day block three days ahead."""
        by_region = {"us-east-1": 7, "eu-west-1": 9, "ap-south-1": 4}
        by_az = {"us-east-1a": 9, "us-east-1b": 6, "us-east-1c": 2}
        asked = tuple(neighbours(instance_type))
        placement = Placement(instance_type, asked, region, by_region, by_az)
        block = BlockOffering(
            "cb-0123456789abcdef0",
            instance_type,
            "us-east-1b",
            1,
            "2026-09-04T11:30:00Z",
            "2026-09-05T11:30:00Z",
            24,
            14.88,
            "USD",
        )
        return Outlook(placement, "", block, "")

    def spot_history(self, instance_type: str, region: str, days: int) -> History:
        """Four AZs over the days before the fixed clock: one steady, three moving at
        irregular hours, one of them up to on-demand and beyond."""
        end = datetime.fromtimestamp(FIXED_NOW, UTC)
        start = end - timedelta(days=days)
        moves = {
            "us-east-1a": (0.4159, 0.25),
            "us-east-1b": (0.3470, 0.0),
            "us-east-1c": (0.3618, 0.12),
            "us-east-1d": (0.5525, 0.6),
        }
        changes = []
        for n, (az, (usd, swing)) in enumerate(moves.items()):
            changes.append(PriceChange(az, start - timedelta(hours=2), usd))
            hour, k = 5 + 3 * n, 0
            while swing and hour < days * 24:
                factor = (1 + swing, 1 - swing / 2, 1 + swing / 3, 1.0)[k % 4]
                at = start + timedelta(hours=hour, minutes=17 * k % 60)
                changes.append(PriceChange(az, at, round(usd * factor, 4)))
                k += 1
                hour += 7 + (k * 5) % 13
        return History(instance_type, region, start, end, tuple(changes), "cache", "")

    def plan(
        self, request: LaunchRequest, price: Callable[[], tuple[float | None, str]]
    ) -> LaunchPlan:
        vcpus = next(s.vcpus for s in SPECS if s.instance_type == request.instance_type)
        market = "spot" if request.spot else "on-demand"
        usd, note = price()
        return LaunchPlan(
            request=request,
            vcpus=vcpus,
            arch="x86_64",
            ami=Ami(
                "ami-0d1e2f3a4b5c6d7e8",
                "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) 20261101",
                "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-24.04"
                "/latest/ami-id",
                "/dev/sda1",
                75,
                "ubuntu",
            ),
            key_name=f"dlpick-{request.region}",
            key_path=Path(f"~/.ssh/dlpick-{request.region}.pem"),
            create_key=True,
            security_group_id=None,
            cidr="203.0.113.7/32",
            quota=verdict_for(request.instance_type, vcpus, market, self.headroom(request.region)),
            usd_hour=usd,
            price_note=note,
            client_token="dlpick-0123456789abcdef01234567-0",
            owner_arn="arn:aws:iam::123456789012:user/you",
            deadline=guard.deadline(request.max_hours, request.budget, usd),
        )

    def launch_choices(self, region: str, instance_type: str) -> tuple[list[str], list[str]]:
        return [f"{region}a", f"{region}b", f"{region}d"], ["team-shared"]

    def fleet(self, regions: list[str], catalog: Catalog) -> FleetScan:
        guarded = {IDLE_STOP_TAG: "60", STOP_AFTER_TAG: "2026-09-01T20:00:00Z"}
        instances = [
            _fixed_instance(
                "i-0a1b2c3d4e5f60001",
                "llama-finetune",
                "g6e.2xlarge",
                "us-east-1",
                5.25,
                tags=guarded,
            ),
            _fixed_instance(
                "i-0a1b2c3d4e5f60002",
                "sweep-3",
                "g6.xlarge",
                "us-east-1",
                26.5,
                idle="idle (alarm)",
                tags={IDLE_STOP_TAG: "60"},
            ),
            _fixed_instance(
                "i-0a1b2c3d4e5f60003",
                "notebook",
                "g5.xlarge",
                "us-east-1",
                30,
                state="stopped",
                managed=False,
                idle="stopped",
                ran=4.0,
            ),
            _fixed_instance(
                "i-0a1b2c3d4e5f60004",
                "forgotten",
                "p4d.24xlarge",
                "eu-west-1",
                50.0,
                spot=True,
                idle="-",
            ),
        ]
        price_instances(instances, catalog)
        return FleetScan(tuple(instances), tuple(regions), self.unreadable)

    def batch_jobs(self, region: str, catalog: Catalog) -> list[BatchJob]:
        return fixed_jobs()


# id, name, state, queue, hours since created, hours run (None: not started), type,
# market, USD/hour
FIXED_JOBS = (
    ("9f8e7d6c-5b4a-4938-8271-605f4e3d2c1b", "dlpick-train", "RUNNING", "dlpick-spot-first",
     2.6, 2.5, "g6e.2xlarge", "spot", 0.8811),
    ("5d1c0a2e-77aa-4c1b-9f0e-1b2c3d4e5f60", "sweep", "RUNNING", "dlpick-spot-first",
     1.5, 1.4, "g6.xlarge", "spot", 0.3503),
    ("0a1b2c3d-4e5f-4061-8273-8495a6b7c8d9", "queued-eval", "RUNNABLE", "dlpick-spot-first",
     0.2, None, None, None, None),
    ("3c2b1a09-f8e7-4d6c-b5a4-938271605f4e", "dlpick-torchrun", "SUCCEEDED", "dlpick-on-demand",
     20, 6.0, "g6.12xlarge", "on-demand", 4.6016),
    ("7e6d5c4b-3a29-4180-8f7e-6d5c4b3a2918", "dlpick-train", "FAILED", "dlpick-spot-first",
     30, 0.7, "g5.xlarge", "spot", 0.4301),
)  # fmt: skip


def fixed_jobs() -> list[BatchJob]:
    """A week of Batch jobs: running on spot, an array of 16, a multi-node one (two
    nodes), one not started, one whose spot host was reclaimed."""
    now = datetime.fromtimestamp(FIXED_NOW, UTC)
    jobs = []
    for job_id, name, status, queue, ago, ran, itype, market, usd in FIXED_JOBS:
        created = now - timedelta(hours=ago)
        started = None if ran is None else created + timedelta(minutes=3)
        ended = started is not None and status in ("SUCCEEDED", "FAILED")
        stopped = started + timedelta(hours=ran or 0) if ended and started else None
        jobs.append(
            BatchJob(job_id, name, status, queue, created, started, stopped, "", itype, market, usd)
        )
    jobs[3].nodes = 2
    jobs[4].reason = "Host EC2 (instance i-0abc1234567890def) terminated."
    sweep = jobs[1]
    sweep.array_size = 16
    sweep.children = [replace(sweep, job_id=f"{sweep.job_id}:{i}") for i in range(16)]
    sweep.usd_hour = None  # the children's prices make the array's cost
    return jobs


class PartlyReadableAccess(FixedAccess):
    """The same account, but one region refuses to list its instances."""

    unreadable = (
        (
            "ap-south-1",
            "listing instances in ap-south-1: permission denied (UnauthorizedOperation) "
            "— ask your AWS administrator for this permission",
        ),
    )


def make_app(
    cache_dir: Path,
    *,
    region: str = "us-east-1",
    live: LiveFactory | None = None,
    refresh_every: float = 60.0,
    fixed_aws: bool = False,
    partly_readable: bool = False,
) -> DlpickApp:
    """The app on fixed data and a fixed clock; `fixed_aws` adds a made-up account
    (`partly_readable`: one whose ap-south-1 cannot be read)."""
    return DlpickApp(
        offline_catalog(cache_dir),
        region=region,
        live=live,
        clock=lambda: FIXED_NOW,
        refresh_every=refresh_every,
        account=(PartlyReadableAccess() if partly_readable else FixedAccess())
        if fixed_aws or partly_readable
        else None,
    )


# A worker that imports pandas and reads AWS can take seconds on a loaded machine.
UNTIL_SECONDS = 30.0


async def _detail(pilot: Pilot[None]) -> None:
    await pilot.press("d")
    await until(pilot, lambda: pilot.app.query_one("#detail").display, what="the detail pane open")
    table = pilot.app.query_one("#prices", DataTable)
    if "g6.xlarge" in table.rows:
        table.move_cursor(row=table.get_row_index("g6.xlarge"))
    else:
        await pilot.press("down", "down")
        await until(pilot, lambda: table.cursor_row == 2, what="the cursor on the third row")


async def _detail_capacity(pilot: Pilot[None]) -> None:
    """The detail pane with an account: its placement score and Capacity Block lines,
    and the spot history chart."""
    await _detail(pilot)
    lines = pilot.app.query_one("#detail-capacity", CapacityLines)
    chart = pilot.app.query_one("#detail-history", SpotHistoryLines)
    table = pilot.app.query_one("#prices", DataTable)

    def drawn() -> bool:
        """Both drawn for the highlighted row: the first row's answers may come in before
        the cursor's move to g6.xlarge is handled, and must not end the wait."""
        rested = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return (
            lines.shown is not None
            and lines.offer is not None
            and lines.offer.instance_type == rested
            and chart.summary is not None
            and chart.summary.history.instance_type == rested
        )

    await until(pilot, drawn, timeout=UNTIL_SECONDS)
    await pilot.pause()  # the lines drawn, and any toast raised meanwhile shown
    pilot.app.clear_notifications()  # the idle toast would cover the pane
    await pilot.pause()


async def _detail_history(pilot: Pilot[None]) -> None:
    """The detail pane scrolled down to its spot history chart."""
    await _detail_capacity(pilot)
    pilot.app.query_one("#detail").scroll_end(animate=False, immediate=True)
    await pilot.pause()


async def _filter(pilot: Pilot[None]) -> None:
    from textual.widgets import Input

    await pilot.press("f", *"L4,A10G", "tab", "2", "0")

    def typed() -> bool:
        focused = pilot.app.focused
        return isinstance(focused, Input) and focused.value == "20"

    await until(pilot, typed, what="the filter dialog filled in")


# The figures of a real `dlpick bench` on the tests' sshd host (PyTorch's CPU build on a
# 2-core machine), as docs/bench.md shows them: a CPU figure, drawn without running it again.
BENCH_ANSWER = {
    "backend": "torch-cpu",
    "device": "cpu (AMD EPYC)",
    "library": "torch 2.13.0+cpu",
    "sizes": {"fp32": 2048, "bf16": 4096},
    "fp32_tflops": 0.18,
    "bf16_tflops": 0.36,
    "fp16_tflops": None,
    "per_device": [{"index": None, "name": "AMD EPYC", "fp32": 0.18, "bf16": 0.36}],
    "gpus": [],
    "elapsed_s": 9.3,
}


async def _bench(pilot: Pilot[None]) -> None:
    """`B` on a host: the benchmark's figures once it is done."""
    from dlpick.remote.ssh.bench import BenchResult, result_from
    from dlpick.tui.host_access import HostAccess
    from dlpick.tui.screens.bench import BenchScreen

    async def measured(force: bool) -> tuple[BenchResult, str]:
        when = datetime.fromtimestamp(FIXED_NOW, UTC)
        result = result_from(
            BENCH_ANSWER,
            source="dlpick-test",
            instance_type="c7i.large",
            region="us-east-1",
            version="0",
            python="python3",
            now=when,
        )
        return result, "kept in ~/.local/share/dlpick/measurements.csv"

    from dlpick.tui.screens.instances import InstancesScreen

    await pilot.press("i")  # B is a key of the instances and runs screens
    await until(pilot, lambda: isinstance(pilot.app.screen, InstancesScreen), what="instances")
    screen = BenchScreen(HostAccess("dlpick-test"), measure=measured)
    await pilot.app.push_screen(screen)
    from textual.widgets import ProgressBar

    bar = screen.query_one(ProgressBar)
    # full once the figures are in
    await until(pilot, lambda: bar.progress == bar.total, timeout=UNTIL_SECONDS)


async def _help(pilot: Pilot[None]) -> None:
    from dlpick.tui.screens.help import HelpScreen

    await pilot.press("question_mark")
    await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), what="the help screen")


async def _spot(pilot: Pilot[None]) -> None:
    """The spot view: spot prices and each type's interruption band."""
    from dlpick.tui.screens.prices import PricesScreen

    prices = pilot.app.screen
    assert isinstance(prices, PricesScreen)
    await pilot.press("v")
    await until(pilot, lambda: prices.view.spot, what="the spot view")


async def _launch_on(pilot: Pilot[None], itype: str) -> None:
    app = pilot.app
    table = app.query_one("#prices", DataTable)
    # Quotas read (the column itself may not fit at 80 columns).
    await until(pilot, lambda: bool(getattr(app.screen, "_headroom", None)), timeout=UNTIL_SECONDS)
    table.move_cursor(row=table.get_row_index(itype))
    await pilot.press("l")
    await until(pilot, lambda: getattr(app.screen, "state", "") == "ready", timeout=UNTIL_SECONDS)
    app.clear_notifications()  # the idle toast would cover the dialog


async def _launch(pilot: Pilot[None]) -> None:
    await _launch_on(pilot, "g6.xlarge")


async def _launch_short(pilot: Pilot[None]) -> None:
    await _launch_on(pilot, "p5.48xlarge")


async def _instances(pilot: Pilot[None]) -> None:
    app = pilot.app
    await pilot.press("i")
    await until(
        pilot,
        lambda: app.screen.query_one("#instances", DataTable).row_count > 0,
        timeout=UNTIL_SECONDS,
    )
    await pilot.press("a")  # every region: the forgotten one in eu-west-1 too
    await until(pilot, lambda: getattr(app.screen, "all_regions", False), what="every region")
    app.clear_notifications()


async def _cleanup(pilot: Pilot[None]) -> None:
    """The clean-up offered after terminating the g6.xlarge in us-east-1."""
    from dlpick.remote.fleet.actions import Leftovers
    from dlpick.tui.screens.confirm_action import ConfirmCleanup

    await _instances(pilot)
    left = Leftovers(key_pairs=["dlpick-us-east-1"], security_groups=["sg-0a1b2c3d4e5f60718"])
    account = pilot.app.screen.account  # type: ignore[attr-defined]
    await pilot.app.push_screen(ConfirmCleanup(account, "us-east-1", "i-0a1b2c3d4e5f60718", left))
    await pilot.pause()


async def _jobs(pilot: Pilot[None]) -> None:
    app = pilot.app
    await pilot.press("b")
    await until(
        pilot, lambda: app.screen.query_one("#jobs", DataTable).row_count > 0, timeout=UNTIL_SECONDS
    )
    app.clear_notifications()


async def _logs(pilot: Pilot[None]) -> None:
    """A run's log (a fixed replay, no SSH), ended, with a search match highlighted."""
    from tests.log_replay import ended_and_searched, replay_screen

    await pilot.app.push_screen(replay_screen(end=0))
    await ended_and_searched(pilot)


# name -> what to do before the picture
SCREENS: dict[str, Callable[[Pilot[None]], Awaitable[None]] | None] = {
    "main": None,
    "detail": _detail,
    "detail-capacity": _detail_capacity,
    "detail-history": _detail_history,
    "filter": _filter,
    "help": _help,
    "spot": _spot,
    "logs": _logs,
    "launch": _launch,
    "launch-short": _launch_short,
    "instances": _instances,
    "instances-unreadable": _instances,
    "cleanup": _cleanup,
    "jobs": _jobs,
    "bench": _bench,
}
# Screens that need an AWS account: drawn with FixedAccess and the fixed prices.
AWS_SCREENS = (
    "detail-capacity",
    "detail-history",
    "launch",
    "launch-short",
    "instances",
    "instances-unreadable",
    "cleanup",
    "jobs",
)
# Screens drawn with an account one of whose regions cannot be read.
PARTLY_READABLE = ("instances-unreadable",)


async def render(name: str, size: tuple[int, int], out: Path, app: DlpickApp) -> Path:
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        before = SCREENS[name]
        if before is not None:
            await before(pilot)
        await pilot.pause()
        svg = out / f"{name}-{size[0]}x{size[1]}.svg"
        svg.write_text(app.export_screenshot(title=f"dlpick — {name}"), encoding="utf-8")
    return svg


# A run of text with braille in it (the spot history plot's lines). Fira Code has no
# braille, and librsvg honours neither textLength nor a list of x: the glyphs of the
# wider font it falls back on would carry the run past its cells, so each character is
# placed in its own cell.
BRAILLE_RUN = re.compile(r'(<text [^>]*?)x="([0-9.]+)"([^>]*?)textLength="([0-9.]+)"([^>]*>)'
                         r"([^<]*[\u2800-\u28ff][^<]*)(</text>)")  # fmt: skip


def _cell_by_cell(match: re.Match[str]) -> str:
    before, x, middle, length, after, content, end = match.groups()
    chars = html.unescape(content)
    cell = float(length) / len(chars)
    spans = "".join(
        f'<tspan x="{float(x) + i * cell:.1f}">{html.escape(c, quote=False)}</tspan>'
        for i, c in enumerate(chars)
    )
    return f"{before}{middle}{after}{spans}{end}"


def to_png(svg: Path) -> Path:
    """Convert with rsvg-convert, which must keep the no-break spaces that align columns."""
    png = svg.with_suffix(".png")
    text = svg.read_text(encoding="utf-8")
    # librsvg collapses leading no-break spaces unless told to preserve whitespace,
    # which would shift every right-aligned number.
    text = re.sub(r"<svg ", '<svg xml:space="preserve" ', text, count=1)
    text = BRAILLE_RUN.sub(_cell_by_cell, text)
    with tempfile.NamedTemporaryFile("w", suffix=".svg", encoding="utf-8") as tmp:
        tmp.write(text)
        tmp.flush()
        subprocess.run(["rsvg-convert", tmp.name, "-o", str(png)], check=True)
    return png


def main() -> int:
    out = ROOT / "screenshots"
    out.mkdir(exist_ok=True)
    if shutil.which("rsvg-convert") is None:
        print(
            "rsvg-convert is missing: apt-get install librsvg2-bin fonts-firacode", file=sys.stderr
        )
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        for name in SCREENS:
            for size in SIZES:
                cache = PriceCache(Path(tmp) / "prices.sqlite")
                if name in AWS_SCREENS:
                    app = make_app(
                        Path(tmp) / name, fixed_aws=True, partly_readable=name in PARTLY_READABLE
                    )
                else:
                    app = DlpickApp(Catalog(cache=cache, aws=None), region="us-east-1")
                svg = asyncio.run(render(name, size, out, app))
                print(f"{svg.relative_to(ROOT)}  {to_png(svg).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
