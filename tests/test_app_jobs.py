"""The app's Jobs screen on moto: the list, a job's log in the log view, cancelling.

moto's jobs have SUCCEEDED by the time they are read; the relay in front of it
describes one job as still RUNNING, so there is something to cancel, and moto
records the TerminateJob that cancelling it sends.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from textual.widgets import DataTable, Log

from dlpick.tui.screens.confirm_action import ConfirmAction
from dlpick.tui.screens.jobs import JobsScreen
from dlpick.tui.screens.logs import LogsScreen
from tests.batch_fixtures import client, set_up
from tests.launch_fixtures import REGION
from tests.peers.batch_relay import BatchRelay
from tests.test_app import palette_has_results
from tests.test_app_aws import SIZE, aws_app, plain, text_of
from tests.test_batch_jobs import submit
from tests.test_batch_logs import put_lines, stream_of_job
from tests.ui import on_screen, settled_click, until, workers_done


@pytest.fixture
def jobs_relay(
    batch_account: SimpleNamespace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> SimpleNamespace:
    set_up("g6.xlarge")
    done = submit(capsys, "--name", "finished", "--", "python", "train.py")
    running = submit(capsys, "--name", "still-going", "--", "python", "train.py")
    put_lines(stream_of_job(done), [f"epoch {i} loss {1 / (i + 1):.3f}" for i in range(300)])
    relay = BatchRelay(batch_account.aws.moto.url).start()
    record = client("batch").describe_jobs(jobs=[running])["jobs"][0]
    still = {k: v for k, v in record.items() if k != "stoppedAt"}
    relay.extra_jobs[running] = {**still, "status": "RUNNING"}
    monkeypatch.setenv("AWS_ENDPOINT_URL", relay.url)
    return SimpleNamespace(relay=relay, done=done, running=running, moto=batch_account.aws.moto.url)


def job_ids(app: object) -> list[str]:
    table = app.screen.query_one("#jobs", DataTable)  # type: ignore[attr-defined]
    return [str(row.key.value) for row in table.ordered_rows]


async def test_jobs_screen_lists_follows_a_log_and_cancels_after_asking(
    jobs_relay: SimpleNamespace, tmp_path: Path
) -> None:
    def reason() -> str:
        """What moto recorded of a TerminateJob (read past the relay, which says RUNNING)."""
        batch = boto3.client("batch", region_name=REGION, endpoint_url=jobs_relay.moto)
        return str(
            batch.describe_jobs(jobs=[jobs_relay.running])["jobs"][0].get("statusReason", "")
        )

    app = aws_app(tmp_path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("b")
            screen = await on_screen(pilot, JobsScreen)
            await until(pilot, lambda: len(job_ids(app)) == 2, timeout=20)
            assert set(job_ids(app)) == {jobs_relay.done, jobs_relay.running}
            status = text_of(app, "#jobs-status")
            assert "2 jobs this week · 1 active" in status
            table = screen.query_one("#jobs", DataTable)
            states = {
                str(r.key.value): plain(table.get_row(r.key)[2]).strip() for r in table.ordered_rows
            }
            assert states == {jobs_relay.done: "SUCCEEDED", jobs_relay.running: "RUNNING"}

            # Enter: the finished job's log, in the log view runs use.
            table.move_cursor(row=job_ids(app).index(jobs_relay.done))
            await pilot.press("enter")
            logs = await on_screen(pilot, LogsScreen)
            await until(pilot, lambda: logs.ended, timeout=20)
            await until(pilot, lambda: logs.log_view.lines_received == 300, timeout=5)
            lines = list(logs.query_one("#log", Log).lines)
            assert lines[0] == "epoch 0 loss 1.000" and lines[-1] == "epoch 299 loss 0.003"
            assert logs.run_state == "succeeded" and logs.connection == "log complete"
            await pilot.press("escape")
            assert await on_screen(pilot, JobsScreen) is screen

            # c: asks first; the focus is on the dialog's Cancel, so Enter alone cancels nothing.
            table.move_cursor(row=job_ids(app).index(jobs_relay.running))
            await pilot.press("c")
            dialog = await on_screen(pilot, ConfirmAction)
            assert "Cancel Batch job still-going?" in plain(dialog.query_one(".dialog-title"))
            await pilot.press("enter")
            assert await on_screen(pilot, JobsScreen) is screen  # the dialog answered
            # A cancel would be a worker of the jobs screen, started by the answer: let the
            # screen's work end, then ask moto.
            await workers_done(pilot, screen, timeout=20)
            assert reason() == ""  # nothing sent yet
            await pilot.press("c")
            await on_screen(pilot, ConfirmAction)
            await settled_click(pilot, "#confirm-yes")

            await until(pilot, lambda: reason() == "cancelled in dlpick", timeout=20)
    finally:
        jobs_relay.relay.stop()


async def test_the_command_palette_opens_the_jobs_screen(
    jobs_relay: SimpleNamespace, tmp_path: Path
) -> None:
    app = aws_app(tmp_path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("ctrl+p")
            await pilot.press(*"batch jobs")
            await until(pilot, lambda: palette_has_results(app))
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, JobsScreen))
    finally:
        jobs_relay.relay.stop()


async def test_the_jobs_screen_in_a_region_without_setup_says_to_run_it(
    batch_account: SimpleNamespace, tmp_path: Path
) -> None:
    app = aws_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        await on_screen(pilot, JobsScreen)
        await until(pilot, lambda: "cannot read" in text_of(app, "#jobs-status"), timeout=20)
        status = " ".join(text_of(app, "#jobs-status").split())
        assert status == (
            "cannot read the jobs: no dlpick Batch setup in us-east-1 — "
            "dlpick batch setup --region us-east-1"
        )
        assert job_ids(app) == []


async def test_a_job_that_wrote_no_log_is_not_shown_as_a_complete_log(
    batch_account: SimpleNamespace, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    set_up("g6.xlarge")
    job = submit(capsys, "--name", "silent", "--", "python", "train.py")  # moto: no stream
    app = aws_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        await until(pilot, lambda: job_ids(app) == [job], timeout=20)
        await pilot.press("enter")
        logs = await on_screen(pilot, LogsScreen)
        await until(pilot, lambda: logs.ended, timeout=20)
        assert logs.connection == "no log: the job wrote none"
        await until(pilot, lambda: "no log: the job wrote none" in text_of(app, "#logs-status"))
        assert "log complete" not in text_of(app, "#logs-status")
