"""The app's AWS side, driven with Pilot against moto: quotas, launch, instances, ticker."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from rich.console import Console
from textual.widgets import Button, Checkbox, DataTable, Input, Log, Select, Static

from dlpick.tui.account import AwsAccess, connect_with
from dlpick.tui.app import DlpickApp
from dlpick.tui.config import load_settings
from dlpick.tui.screens.confirm_action import ConfirmAction
from dlpick.tui.screens.instances import InstancesScreen
from dlpick.tui.screens.launch.dialog import LaunchDialog
from dlpick.tui.screens.prices import PricesScreen
from tests.conftest import AwsPeers
from tests.launch_fixtures import P_OD, REGION, live_instances, only_regions
from tests.notices import Notices
from tests.screenshots import AWS_SCREENS, FIXED_NOW, ON_DEMAND, offline_catalog
from tests.test_app import column, palette_has_results, table_of
from tests.test_fleet import start
from tests.ui import on_screen, settled_click, until, workers_done

if TYPE_CHECKING:
    from mypy_boto3_ec2.literals import InstanceTypeType

SIZE = (120, 36)


@pytest.fixture(autouse=True)
def steady_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


def aws_app(tmp_path: Path, *, clock: float = FIXED_NOW, fleet_every: float = 60.0) -> DlpickApp:
    """The app on the fixed price snapshot, reaching moto through standard configuration."""
    account = AwsAccess(connect_with(None), settings=load_settings(), clock=lambda: clock)
    return DlpickApp(
        offline_catalog(tmp_path),
        region=REGION,
        clock=lambda: clock,
        account=account,
        fleet_every=fleet_every,
    )


def plain(widget: Any) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content if isinstance(widget, Static) else widget)
    return console.export_text()


def text_of(app: DlpickApp, selector: str) -> str:
    return plain(app.screen.query_one(selector, Static))


def launch_ended(dialog: LaunchDialog) -> bool:
    """Launched, or failed with the reason shown (the dialog ready again)."""
    return dialog.state == "done" or (
        dialog.state == "ready" and dialog.query_one("#launch-error", Static).display
    )


async def open_launch(app: DlpickApp, pilot: Any, itype: str) -> LaunchDialog:
    table = table_of(app)
    table.move_cursor(row=table.get_row_index(itype))
    await pilot.press("l")
    dialog = await on_screen(pilot, LaunchDialog)
    assert dialog.offer.instance_type == itype
    await until(
        pilot,
        lambda: dialog.state in ("ready", "failed"),
        timeout=20,
        what=f"the launch of {itype} planned",
    )
    return dialog


# -- quota column and launch dialog ---------------------------------------------------


async def test_launch_dialog_end_to_end(
    account: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only_regions(monkeypatch, REGION)
    app = aws_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        # The quota column: one read of the region's quotas, a verdict per row and view.
        await until(pilot, lambda: "quota" in [c.value for c in table_of(app).columns], timeout=20)
        quota = column(app, "quota")
        assert quota["g6.xlarge"] == "✓" and quota["g6.12xlarge"] == "✓"  # 64 G vCPUs
        assert quota["p5.48xlarge"] == "short 192"  # no P vCPUs at all
        assert quota["trn1.2xlarge"] == "?"  # the Trn quota is not known in this account
        await pilot.press("v")  # spot: P5 spot is not seeded, so unknown
        await until(pilot, lambda: app.prices.view.spot, what="the spot view")
        assert column(app, "quota")["p5.48xlarge"] == "?"
        assert column(app, "quota")["g6.xlarge"] == "✓"
        await pilot.press("v")
        await until(pilot, lambda: not app.prices.view.spot, what="the on-demand view")
        dialog = await open_launch(app, pilot, "g6.xlarge")
        assert dialog.state == "ready", text_of(app, "#launch-error")
        plan = text_of(app, "#launch-plan")
        assert "g6.xlarge in us-east-1, on-demand, $0.8048/h" in plan
        assert "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04)" in plan
        assert "create dlpick-us-east-1" in plan and "203.0.113.7/32 only" in plan
        assert "stop after 60 min" in plan
        assert "Running On-Demand G and VT instances (L-DB2E81BA): 64 vCPUs" in plan
        assert "this launch needs 4 - fits" in plan
        assert "$0.8048/h" in text_of(app, "#launch-summary")
        assert not dialog.query_one("#launch-request", Button).display
        dialog.query_one("#launch-name", Input).value = "my-training"
        # The change is seen: the plan on screen is no longer current.
        await until(pilot, lambda: dialog.plan is None, what="the plan dropped on the change")
        assert dialog.query_one("#launch-go", Button).disabled
        await until(pilot, lambda: dialog.state == "ready" and dialog.plan is not None, timeout=20)
        assert "my-training" in text_of(app, "#launch-plan")
        await settled_click(pilot, "#launch-go")
        await until(pilot, partial(launch_ended, dialog), timeout=30, what="the launch ended")
        result = text_of(app, "#launch-result")
        [inst] = live_instances()
        assert f"{inst['InstanceId']} is running in us-east-1 ($0.8048/h" in result, (
            result + text_of(app, "#launch-error")
        )
        assert "ssh -i" in result and "dlpick stop" in result
        progress = "\n".join(dialog.query_one("#launch-progress", Log).lines)
        assert "starting g6.xlarge" in progress
        tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
        assert tags["dlpick:managed"] == "true" and tags["Name"] == "my-training"
        assert tags["dlpick:owner"].startswith("arn:aws:")
        assert not dialog.query_one("#launch-go", Button).display
        await settled_click(pilot, "#launch-cancel")  # now labelled Close
        await on_screen(pilot, PricesScreen, timeout=10)
        # The launch used 4 G vCPUs: the quota is read again and still fits.
        await until(pilot, lambda: column(app, "quota").get("g6.xlarge") == "✓", timeout=20)


async def test_short_quota_disables_launch_and_offers_the_request(
    account: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only_regions(monkeypatch, REGION)
    app = aws_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        dialog = await open_launch(app, pilot, "p5.48xlarge")
        assert "short by 192" in text_of(app, "#launch-plan")
        assert "Launch is disabled" in text_of(app, "#launch-quota")
        assert dialog.query_one("#launch-go", Button).disabled
        request = dialog.query_one("#launch-request", Button)
        assert request.display and not request.disabled
        question = dialog.query_one("#launch-question", Static)
        await settled_click(pilot, request)
        await until(
            pilot,
            lambda: f"({P_OD}) in us-east-1 from 0 to 192 vCPUs?" in plain(question),
            what="the quota question asked",
            seen=lambda: plain(question),
        )
        assert account.aws.moto.quotas.requests == []  # nothing asked before confirming
        await settled_click(pilot, "#launch-request-yes")
        await until(pilot, lambda: "requested" in text_of(app, "#launch-result"), timeout=20)
        assert f"requested {P_OD} = 192 vCPUs in us-east-1: PENDING" in text_of(
            app, "#launch-result"
        )
        [filed] = account.aws.moto.quotas.requests
        assert (filed["QuotaCode"], filed["DesiredValue"]) == (P_OD, 192)
        assert live_instances() == []


async def test_launch_errors_are_one_line_in_the_dialogs_words_and_an_image_id_launches(
    account: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only_regions(monkeypatch, REGION)
    app = aws_app(tmp_path)
    notices = Notices()
    async with app.run_test(size=SIZE, notifications=True, message_hook=notices.hook) as pilot:
        await pilot.pause()
        dialog = await open_launch(app, pilot, "g6.xlarge")
        dialog.query_one("#launch-idle", Input).value = "soon"
        await until(pilot, lambda: dialog.state == "failed")
        assert "idle stop (minutes) must be a number, not 'soon'" in text_of(app, "#launch-error")
        assert dialog.query_one("#launch-go", Button).disabled
        dialog.query_one("#launch-idle", Input).value = ""
        await until(pilot, lambda: dialog.state == "ready", timeout=20)
        assert "idle guard    none" not in text_of(app, "#launch-plan")  # grid, not raw
        assert "none (Idle stop is empty)" in text_of(app, "#launch-plan")
        assert "--no-idle-stop" not in text_of(app, "#launch-plan")  # the dialog's words
        # The account has no AL2023 DLAMI published: one clear line, nothing crashes.
        dialog.query_one("#launch-os", Select).value = "al2023"
        await until(pilot, lambda: dialog.state == "failed", timeout=20)
        error = text_of(app, "#launch-error")
        assert "no base Deep Learning AMI for al2023" in error and len(error.splitlines()) <= 2
        assert dialog.query_one("#launch-go", Button).disabled
        # The same line, once, as a notification titled with what failed.
        await until(pilot, lambda: notices.titled(severity="error"), what="the error notified")
        [(title, line)] = notices.titled(severity="error")
        assert title == "Planning the launch" and line in error.replace("\n", "")
        # No image found: the advice names the dialog's fields, not the CLI's flags.
        assert "pick another OS or AMI, or give an AMI id in Image id" in " ".join(error.split())
        assert "--" not in error and "--" not in line
        # Not an AMI id: refused in the field, before AWS is asked.
        image = dialog.query_one("#launch-image", Input)
        image.value = "ami-xyz"
        await until(
            pilot, lambda: "image id 'ami-xyz' is not an AMI id" in text_of(app, "#launch-error")
        )
        assert "ami- and 8 or 17 hex digits" in text_of(app, "#launch-error")
        assert dialog.query_one("#launch-go", Button).disabled
        # An AMI id boots that image, whatever the OS chosen, as --ami ami-... does.
        image.value = account.images["base"]
        await until(pilot, lambda: dialog.state == "ready" and dialog.plan is not None, timeout=20)
        assert f"({account.images['base']})" in text_of(app, "#launch-plan")
        await settled_click(pilot, "#launch-go")
        await until(pilot, lambda: dialog.state == "done", timeout=30)
        [inst] = live_instances()
        assert inst["ImageId"] == account.images["base"]


def test_the_image_id_field_is_checked_as_the_clis_ami_is() -> None:
    from dlpick.core.errors import InputError
    from dlpick.remote.launch.images import check_image_id
    from dlpick.tui.screens.launch.form import parse_options

    for good in ("ami-0d1e2f3a", "ami-0d1e2f3a4b5c6d7e8"):
        assert parse_options(False, "base", "al2023", "", "60", "", good).image_id == good
        assert check_image_id(good) == good
    for bad in ("ami-0d1e2f3", "ami-0D1E2F3A", "ami-0d1e2f3a4b", "i-0d1e2f3a", "ami-xyz"):
        with pytest.raises(ValueError, match="is not an AMI id"):
            parse_options(False, "base", "al2023", "", "60", "", bad)
        with pytest.raises(InputError):
            check_image_id(bad)


async def test_without_credentials_the_dialog_only_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = aws_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("l")
        dialog = await on_screen(pilot, LaunchDialog)
        await until(pilot, lambda: dialog.state == "no-aws", timeout=20)
        assert "no AWS credentials found" in text_of(app, "#launch-plan")
        buttons = [b for b in dialog.query(Button) if b.display and b.parent and b.parent.display]
        assert [str(b.label) for b in buttons] == ["Close"]
        assert not dialog.query_one("#launch-options").display
        await settled_click(pilot, "#launch-cancel")
        await on_screen(pilot, PricesScreen)
        await until(pilot, lambda: "no AWS credentials" in text_of(app, "#ticker"))
        assert "quota" not in [c.value for c in table_of(app).columns]
        # The instances screen is also in the command palette; it says why it is empty.
        await pilot.press("ctrl+p", *"Instances")
        await until(pilot, lambda: palette_has_results(app))
        await pilot.press("enter")
        instances = await on_screen(pilot, InstancesScreen)
        status = instances.query_one("#instances-status", Static)
        await until(pilot, lambda: "no instances to show" in plain(status), seen=status.render)
        assert "no AWS credentials found" in plain(status)


# -- instances screen, ticker, idle notifications --------------------------------------


# One instance per region, of a type moto offers there and the fixed snapshot prices.
FLEET_TYPES: dict[str, InstanceTypeType] = {
    "us-east-1": "g6.xlarge",
    "eu-west-1": "g4dn.xlarge",
    "ap-south-1": "g6.xlarge",
}


@pytest.fixture
def three_regions(aws: AwsPeers, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """An instance in each of three regions, and a clock two hours after they started."""
    regions = tuple(FLEET_TYPES)
    only_regions(monkeypatch, *regions)
    launched = {r: start(r, FLEET_TYPES[r]) for r in regions}
    clock = max(i["LaunchTime"] for i in launched.values()) + timedelta(hours=2)
    return SimpleNamespace(regions=regions, launched=launched, clock=clock)


def cost(launched: dict[str, Any], clock: Any, region: str) -> float:
    hours = (clock - launched[region]["LaunchTime"]).total_seconds() / 3600
    return hours * ON_DEMAND[region][FLEET_TYPES[region]]


def instance_cells(app: DlpickApp, key: str) -> dict[str, str]:
    table = app.screen.query_one("#instances", DataTable)
    return {
        str(row.key.value): str(getattr(table.get_cell(row.key, key), "plain", ""))
        for row in table.ordered_rows
    }


async def test_instances_screen_costs_ticker_stop_and_untagged_protection(
    three_regions: SimpleNamespace, tmp_path: Path
) -> None:
    fleet = three_regions
    stranger = start("us-east-1", managed=False, name="someone-elses")
    everyone = {**{r: i for r, i in fleet.launched.items()}, "stranger": stranger}
    app = aws_app(tmp_path, clock=fleet.clock.timestamp())
    notices = Notices()
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await until(pilot, lambda: app.fleet.status == "ok", timeout=20)
        costs = {r: cost(fleet.launched, fleet.clock, r) for r in fleet.regions}
        hours = (fleet.clock - stranger["LaunchTime"]).total_seconds() / 3600
        costs["stranger"] = hours * ON_DEMAND["us-east-1"]["g6.xlarge"]
        per_hour = sum(ON_DEMAND[r][FLEET_TYPES[r]] for r in fleet.regions) + 0.8048
        assert text_of(app, "#ticker").strip() == (
            f"4 running · ${per_hour:,.2f}/h · ${sum(costs.values()):,.2f} spent · 0 idle"
        )
        await pilot.press("i")
        instances = await on_screen(pilot, InstancesScreen)
        table = instances.query_one("#instances", DataTable)
        await until(pilot, lambda: table.row_count > 0, what="the instances listed")
        here = {fleet.launched["us-east-1"]["InstanceId"], stranger["InstanceId"]}
        assert set(instance_cells(app, "cost")) == here  # this region only
        assert "2 more in other regions (a)" in text_of(app, "#instances-status")
        assert "4 running" in text_of(app, "#ticker")  # the ticker is on this screen too
        await pilot.press("a")
        await until(pilot, lambda: instances.all_regions, what="every region's instances")
        by_id = instance_cells(app, "cost")
        assert len(by_id) == 4
        for key, launched in everyone.items():
            instance_id = launched["InstanceId"]
            assert by_id[instance_id] == f"${costs[key]:,.2f}"
            assert (
                instance_cells(app, "region")[instance_id]
                == launched["Placement"]["AvailabilityZone"][:-1]
            )
            assert instance_cells(app, "managed")[instance_id] == (
                "no" if key == "stranger" else "yes"
            )
        assert instance_cells(app, "up")[fleet.launched["eu-west-1"]["InstanceId"]] == "2.0h"
        # The hourly price as the price table writes it (0.8048, not 0.805).
        usd = instance_cells(app, "usd")
        assert usd[fleet.launched["us-east-1"]["InstanceId"]] == "0.8048"
        assert ON_DEMAND["us-east-1"]["g6.xlarge"] == 0.8048

        # Stop the eu-west-1 one: the confirmation names type, region and cost so far.
        target = fleet.launched["eu-west-1"]["InstanceId"]
        table.move_cursor(row=table.get_row_index(target))
        await pilot.press("s")
        confirm = await on_screen(pilot, ConfirmAction)
        text = "\n".join(plain(s) for s in confirm.query(Static))
        assert "Stop g4dn.xlarge in eu-west-1?" in plain(confirm.query_one(".dialog-title"))
        assert f"${costs['eu-west-1']:,.2f} so far" in text
        await pilot.press("enter")  # the focus is on Cancel: Enter alone stops nothing
        assert await on_screen(pilot, InstancesScreen) is instances  # the dialog answered
        # A stop would be a worker of the instances screen, started by the answer: let any
        # such work end, then look at AWS.
        await workers_done(pilot, instances, timeout=20)
        assert live_instances("eu-west-1")
        await pilot.press("s")
        await on_screen(pilot, ConfirmAction)
        await settled_click(pilot, "#confirm-yes")
        await until(pilot, lambda: not live_instances("eu-west-1"), timeout=20)
        await until(
            pilot,
            lambda: instance_cells(app, "state").get(target) in ("stopping", "stopped"),
            timeout=20,
        )
        assert table.cursor_row == table.get_row_index(target)  # the cursor stayed on it
        await pilot.press("o")  # runs and logs need a running instance
        await until(
            pilot,
            lambda: notices.messages(containing=f"{target} is stopp"),
            what="the reason runs cannot open",
            seen=notices.messages,
        )
        assert app.screen is instances

        # An instance dlpick did not launch: terminate needs the extra confirmation.
        table.move_cursor(row=table.get_row_index(stranger["InstanceId"]))
        await pilot.press("t")
        confirm = await on_screen(pilot, ConfirmAction)
        assert "Not launched by dlpick" in plain(confirm.query_one("#confirm-foreign", Static))
        assert confirm.query_one("#confirm-yes", Button).disabled
        await pilot.press("escape")
        assert await on_screen(pilot, InstancesScreen) is instances
        await workers_done(pilot, instances, timeout=20)  # what the answer started, ended
        assert stranger["InstanceId"] in {i["InstanceId"] for i in live_instances()}
        await pilot.press("t")
        confirm = await on_screen(pilot, ConfirmAction)
        confirm.query_one("#confirm-anyway", Checkbox).value = True
        yes = confirm.query_one("#confirm-yes", Button)
        await until(pilot, lambda: not yes.disabled, what="the tick enabling Terminate")
        await settled_click(pilot, yes)
        await until(
            pilot,
            lambda: stranger["InstanceId"] not in {i["InstanceId"] for i in live_instances()},
            timeout=20,
        )


def put_idle_alarm(instance_id: str, state: Any) -> None:
    """The alarm dlpick creates at launch, forced into a state (moto never evaluates it)."""
    from dlpick.remote.launch.guard import alarm_name, create_idle_alarm

    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    create_idle_alarm(
        cloudwatch,
        region=REGION,
        instance_id=instance_id,
        minutes=60,
        threshold_percent=5.0,
        terminate=False,
        tags=[],
    )
    cloudwatch.set_alarm_state(
        AlarmName=alarm_name(instance_id), StateValue=state, StateReason="test"
    )


async def test_idle_instances_are_announced_once_per_episode(
    aws: AwsPeers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only_regions(monkeypatch, REGION)
    launched = start(REGION)
    target = launched["InstanceId"]
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.create_tags(Resources=[target], Tags=[{"Key": "dlpick:idle-stop-minutes", "Value": "60"}])
    put_idle_alarm(target, "ALARM")
    clock = (launched["LaunchTime"] + timedelta(hours=2)).timestamp()
    app = aws_app(tmp_path, clock=clock, fleet_every=0.05)
    bells: list[int] = []
    monkeypatch.setattr(app, "bell", lambda: bells.append(1))
    scans: list[Any] = []

    notices = Notices()

    def idle_notes() -> list[str]:
        return notices.messages(containing="idle")

    async with app.run_test(size=SIZE, notifications=True, message_hook=notices.hook) as pilot:
        app.watch(app, "fleet", lambda fleet: scans.append(fleet), init=False)
        await until(pilot, lambda: len(scans) >= 4, timeout=20)  # several scans, one episode
        assert len(idle_notes()) == 1 and len(bells) == 1
        assert idle_notes()[0] == (
            f"g6.xlarge {target} in us-east-1 has been idle for at least 60 min "
            "($0.80 spent idle). Press i, then s to stop or t to terminate it."
        )
        assert "1 idle" in text_of(app, "#ticker")
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        cloudwatch.set_alarm_state(
            AlarmName=f"dlpick-idle-{target}", StateValue="OK", StateReason="busy again"
        )
        await until(pilot, lambda: "0 idle" in text_of(app, "#ticker"), timeout=20)
        cloudwatch.set_alarm_state(
            AlarmName=f"dlpick-idle-{target}", StateValue="ALARM", StateReason="idle again"
        )
        await until(pilot, lambda: len(idle_notes()) == 2, timeout=20)  # a new episode
        assert len(bells) == 2


# -- pictures ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
@pytest.mark.parametrize("screen", AWS_SCREENS)
def test_snapshots(
    snap_compare: Callable[..., bool], tmp_path: Path, screen: str, size: tuple[int, int]
) -> None:
    from tests.screenshots import PARTLY_READABLE, SCREENS, make_app

    app = make_app(tmp_path, fixed_aws=True, partly_readable=screen in PARTLY_READABLE)
    assert snap_compare(app, terminal_size=size, run_before=SCREENS[screen])
