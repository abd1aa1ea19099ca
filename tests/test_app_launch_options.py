"""The launch dialog's CLI options (key pair, zone, volume, SSH CIDR, budget, spot max
price) and the clean-up after a terminate, driven with Pilot against moto."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from textual.widgets import Button, DataTable, Input, Log, Select, Static

from dlpick.remote.tags import SECURITY_GROUP, STOP_AFTER_TAG
from dlpick.tui.app import DlpickApp
from dlpick.tui.screens.confirm_action import ConfirmAction, ConfirmCleanup
from dlpick.tui.screens.instances import InstancesScreen
from dlpick.tui.screens.launch.dialog import LaunchDialog
from tests.launch_fixtures import REGION, live_instances, only_regions
from tests.test_app_aws import SIZE, aws_app, launch_ended, open_launch, plain, text_of
from tests.ui import on_screen, settled_click, until


def offered_zones(instance_type: str) -> list[str]:
    """The AZs moto says offer the type, asked directly."""
    offers = boto3.client("ec2", region_name=REGION).describe_instance_type_offerings(
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": [instance_type]}],
    )["InstanceTypeOfferings"]
    return sorted(o["Location"] for o in offers)


def choices(dialog: LaunchDialog, select_id: str) -> list[str]:
    return [str(value) for _, value in dialog.query_one(select_id, Select)._options]


@asynccontextmanager
async def launch_dialog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[DlpickApp, Any, LaunchDialog]]:
    """The app in us-east-1 with the launch dialog open on g6.xlarge, planned."""
    only_regions(monkeypatch, REGION)
    app = aws_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        yield app, pilot, await open_launch(app, pilot, "g6.xlarge")


async def wait_ready(dialog: LaunchDialog, pilot: Any) -> None:
    """Until the dialog shows a plan of what its fields say now, not of what they said
    before the last change (a change is seen through a message, then planned again)."""

    def planned_as_shown() -> bool:
        try:
            fields = dialog.form.read()
        except ValueError:
            return False
        ready = dialog.state == "ready" and dialog.plan is not None
        return ready and dialog._planned == fields

    await until(pilot, planned_as_shown, timeout=20, what="a plan of the fields as they are")


async def test_every_field_reaches_the_instance_launched(
    account: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    made = ec2.create_key_pair(KeyName="team")
    key_file = Path.home() / ".ssh" / "team.pem"
    key_file.parent.mkdir(mode=0o700)
    key_file.write_text(made["KeyMaterial"])
    zones = offered_zones("g6.xlarge")
    assert len(zones) >= 2  # a choice to make
    async with launch_dialog(tmp_path, monkeypatch) as (app, pilot, dialog):
        # The Zone choice: any, or an AZ of the region that offers the type.
        await until(pilot, lambda: len(choices(dialog, "#launch-zone")) > 1, timeout=20)
        assert choices(dialog, "#launch-zone") == ["", *zones]
        assert "team" in choices(dialog, "#launch-key")
        dialog.query_one("#launch-zone", Select).value = zones[-1]
        dialog.query_one("#launch-key", Select).value = "team"
        dialog.query_one("#launch-volume", Input).value = "300"
        dialog.query_one("#launch-cidr", Input).value = "198.51.100.9/24"
        dialog.query_one("#launch-budget", Input).value = "10"
        await pilot.pause(0.6)  # typing pauses: one new plan
        await wait_ready(dialog, pilot)
        request = dialog.plan.request if dialog.plan else None
        assert request is not None
        assert (request.key_name, request.volume_gb, request.ssh_cidr) == (
            "team",
            300,
            "198.51.100.0/24",
        )
        assert request.budget == 10 and request.availability_zone == zones[-1]
        plan = " ".join(text_of(app, "#launch-plan").split())
        assert f"g6.xlarge in us-east-1 ({zones[-1]})" in plan
        assert "300 GB gp3 root volume" in plan and "team (" in plan
        assert "from 198.51.100.0/24 only" in plan
        assert "(Budget $10 at $0.8048/h)" in plan and "--" not in plan
        # On-demand: the spot max price is off, and says so.
        max_price = dialog.query_one("#launch-max-price", Input)
        assert max_price.disabled and max_price.placeholder == "spot only"
        await settled_click(pilot, "#launch-go")
        await until(pilot, partial(launch_ended, dialog), timeout=30, what="the launch ended")
        assert dialog.state == "done", text_of(app, "#launch-error")
    [inst] = live_instances()
    assert inst["KeyName"] == "team"
    assert inst["Placement"]["AvailabilityZone"] == zones[-1]
    tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
    assert STOP_AFTER_TAG in tags  # the budget's deadline
    [mapping] = inst["BlockDeviceMappings"]
    [volume] = ec2.describe_volumes(VolumeIds=[mapping["Ebs"]["VolumeId"]])["Volumes"]
    assert volume["Size"] == 300
    [group] = ec2.describe_security_groups(GroupIds=[g["GroupId"] for g in inst["SecurityGroups"]])[
        "SecurityGroups"
    ]
    assert group["GroupName"] == SECURITY_GROUP
    assert [r["CidrIp"] for p in group["IpPermissions"] for r in p["IpRanges"]] == [
        "198.51.100.0/24"
    ]


async def test_spot_max_price_and_wrong_values_in_the_dialogs_words(
    account: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with launch_dialog(tmp_path, monkeypatch) as (app, pilot, dialog):
        go = dialog.query_one("#launch-go", Button)
        wrong = {
            "#launch-volume": ("4", "volume (GB) must be at least 8, not '4' (empty: 200)"),
            "#launch-cidr": ("everyone", "SSH CIDR 'everyone' is not a CIDR range"),
            "#launch-budget": ("-1", "budget (USD) must be above 0, not '-1'"),
        }
        for field, (value, error) in wrong.items():
            before = dialog.query_one(field, Input).value
            dialog.query_one(field, Input).value = value
            await until(pilot, lambda: dialog.state == "failed", timeout=20)
            shown = text_of(app, "#launch-error")
            assert error in shown and "--" not in shown
            assert go.disabled
            dialog.query_one(field, Input).value = before
            await wait_ready(dialog, pilot)
        # Spot: the max price is on, checked, and reaches the request.
        dialog.query_one("#launch-market", Select).value = "spot"
        await wait_ready(dialog, pilot)
        max_price = dialog.query_one("#launch-max-price", Input)
        assert not max_price.disabled
        max_price.value = "cheap"
        await until(pilot, lambda: dialog.state == "failed", timeout=20)
        assert "max price ($/h) must be a number, not 'cheap'" in text_of(app, "#launch-error")
        assert go.disabled
        max_price.value = "0.5"
        await wait_ready(dialog, pilot)
        assert dialog.plan is not None and dialog.plan.request.max_price == 0.5
        assert "$0.5000/h" in text_of(app, "#launch-plan")
        # Back to on-demand: the typed price is ignored, not sent.
        dialog.query_one("#launch-market", Select).value = "on-demand"
        await wait_ready(dialog, pilot)
        assert max_price.disabled
        assert dialog.plan is not None and dialog.plan.request.max_price is None
        # SSH open to everyone: the CLI's warning, naming the dialog's field.
        dialog.query_one("#launch-cidr", Input).value = "0.0.0.0/0"
        await wait_ready(dialog, pilot)
        plan = text_of(app, "#launch-plan")
        assert "SSH will be open to the whole internet (SSH CIDR)" in plan
        assert "--ssh-cidr" not in plan


async def test_terminate_offers_the_cleanup_and_deletes_what_it_lists(
    account: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    async with launch_dialog(tmp_path, monkeypatch) as (app, pilot, dialog):
        await settled_click(pilot, "#launch-go")
        await until(pilot, lambda: dialog.state == "done", timeout=30)
        await settled_click(pilot, "#launch-cancel")  # now labelled Close
        await until(pilot, lambda: not isinstance(app.screen, LaunchDialog), timeout=10)
        [inst] = live_instances()
        [group_id] = [g["GroupId"] for g in inst["SecurityGroups"]]
        await pilot.press("i")
        instances = await on_screen(pilot, InstancesScreen, timeout=10)
        table = instances.query_one("#instances", DataTable)
        await until(pilot, lambda: table.row_count == 1, timeout=20, what="the instance listed")
        await pilot.press("t")
        await on_screen(pilot, ConfirmAction, timeout=10)
        await settled_click(pilot, "#confirm-yes")
        cleanup = await on_screen(pilot, ConfirmCleanup, timeout=20)
        items = plain(cleanup.query_one("#cleanup-items", Static))
        key_file = Path.home() / ".ssh" / "dlpick-us-east-1.pem"
        assert "key pair dlpick-us-east-1" in items
        assert "private key file ~/.ssh/dlpick-us-east-1.pem stays" in items
        assert f"security group {group_id} ({SECURITY_GROUP})" in items
        # Nothing is deleted before the confirmation.
        assert ec2.describe_key_pairs(KeyNames=["dlpick-us-east-1"])["KeyPairs"]
        await settled_click(pilot, "#cleanup-yes")
        await until(pilot, lambda: cleanup.state == "done", timeout=30)
        result = plain(cleanup.query_one("#cleanup-result", Static)).strip()
        assert result == (
            "deleted key pair dlpick-us-east-1 (the private key file stays in ~/.ssh); "
            f"deleted security group {group_id}"
        )
        progress = "\n".join(cleanup.query_one("#cleanup-progress", Log).lines)
        assert "deleting key pair dlpick-us-east-1" in progress
        assert key_file.exists()
        await settled_click(pilot, "#cleanup-no")  # now labelled Close
        assert await on_screen(pilot, InstancesScreen) is instances
    names = [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]]
    assert "dlpick-us-east-1" not in names
    groups = ec2.describe_security_groups()["SecurityGroups"]
    assert group_id not in [g["GroupId"] for g in groups]
