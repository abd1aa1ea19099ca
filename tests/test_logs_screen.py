"""The runs and logs screens, driven with Pilot against the real sshd (and a replay)."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, Log, Static

from dlpick.remote.ssh.follow import ConnectionChange, FollowEvent, LogChunk, LogReset
from dlpick.tui.screens.logs import LogsScreen
from dlpick.tui.screens.run_dialogs import NewRunDialog, TargetDialog
from dlpick.tui.screens.runs import RunsScreen, ask_for_runs
from dlpick.tui.widgets.follow_log import FollowLog, display_lines
from tests.log_replay import FIXED_RUN_ID, HostApp, ended_and_searched, replay_app, settled
from tests.notices import Notices
from tests.peers.sshd import SSH_ALIAS, Sshd
from tests.peers.text_server import TextServer
from tests.ui import on_screen, until


@pytest.fixture(autouse=True)
def steady_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blinking text cursor would make screenshots differ run to run."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


def still(log: Log) -> bool:
    """Not scrolling: where the view is going, it is (scrolls may be animated)."""
    return log.scroll_y == log.scroll_target_y


def shown(app: App[Any]) -> str:
    """The text on the terminal, as the user sees it now."""
    svg = app.export_screenshot()
    return svg.replace("&#160;", " ")


def status(app: App[Any]) -> str:
    screen = app.screen
    assert isinstance(screen, LogsScreen)
    return screen.status_text().plain


# -- the widget ----------------------------------------------------------------------


def test_display_lines_keep_what_a_terminal_shows() -> None:
    assert display_lines(b"a\nb\n") == ["a", "b"]
    assert display_lines(b"epoch 1  10%\repoch 1  50%\repoch 1 100%\nnext\n") == [
        "epoch 1 100%",
        "next",
    ]
    assert display_lines(b"crlf\r\n") == ["crlf"]
    assert display_lines(b"bad \xff byte\n") == ["bad \ufffd byte"]


class OneLog(App[None]):
    def __init__(self, log: Log) -> None:
        super().__init__()
        self.log_widget = log

    def compose(self) -> ComposeResult:
        yield self.log_widget


def _numbered(start: int, count: int) -> list[str]:
    return [f"L{n:06d}" for n in range(start, start + count)]


async def test_a_full_log_pinned_to_the_bottom_keeps_repainting() -> None:
    """At max_lines, writes change neither the line count nor the scroll position."""
    log = FollowLog(max_lines=50)
    app = OneLog(log)
    async with app.run_test(size=(40, 12)) as pilot:
        written = 0
        for _ in range(5):
            log.feed(_numbered(written, 30))
            written += 30
            log.flush()
            await pilot.pause()
            assert f"L{written - 1:06d}" in shown(app)  # the newest line is on screen
        assert len(log.lines) == 50 and log.following
        assert log.first_position == written - 50


async def test_plain_log_at_the_cap_goes_stale_in_this_textual() -> None:
    """Why FollowLog refreshes at the cap: Textual 8.2's own Log stops repainting there.

    When this fails after a Textual upgrade, the upstream bug is fixed.
    """
    log = Log(max_lines=50)
    app = OneLog(log)
    async with app.run_test(size=(40, 12)) as pilot:
        for start in range(0, 150, 30):
            log.write_lines(_numbered(start, 30))
            await pilot.pause()
        assert "L000149" not in shown(app)


async def test_writes_are_batched_and_memory_is_bounded() -> None:
    log = FollowLog(max_lines=1000, flush_hz=0.001)  # the timer must not flush mid-test
    app = OneLog(log)
    async with app.run_test(size=(40, 12)) as pilot:
        for start in range(0, 50_000, 5_000):
            log.feed(_numbered(start, 5_000))
        assert log.pending == 1000  # queued lines are bounded like the widget
        assert log.flush() == 1000
        await pilot.pause()
        assert list(log.lines) == _numbered(49_000, 1000)
        assert log.lines_received == 50_000


async def test_scrolling_up_pauses_and_keeps_the_text_in_place() -> None:
    log = FollowLog(max_lines=100)
    app = OneLog(log)
    async with app.run_test(size=(40, 12)) as pilot:
        log.focus()
        log.feed(_numbered(0, 100))
        log.flush()
        await pilot.pause()
        await pilot.press("pageup")
        await until(pilot, lambda: not log.following and still(log), what="pageup: paused")
        top = log.lines[round(log.scroll_y)]
        log.feed(_numbered(100, 20))  # 20 old lines are pruned from the top
        log.flush()
        await pilot.pause()
        assert not log.following
        assert log.lines[round(log.scroll_y)] == top
        await pilot.press("end")
        await until(pilot, lambda: log.following and still(log), what="end: following again")
        log.feed(_numbered(120, 5))
        log.flush()
        await until(pilot, lambda: "L000124" in shown(app), what="the new lines in view")
        assert log.following and log.is_vertical_scroll_end


# -- against the real sshd -------------------------------------------------------------

NUMBERED_RUN = (
    'i=1; while [ $i -le 2000 ]; do echo "line $i of the run"; i=$((i + 1)); done; '
    'while [ ! -f "$HOME/go-on" ]; do sleep 0.05; done; echo "after the pause"; exit 3'
)


async def test_start_a_run_follow_pause_search_and_see_it_end(sshd: Sshd) -> None:
    (sshd.remote_home / "go-on").unlink(missing_ok=True)
    app = HostApp(RunsScreen(SSH_ALIAS, None))
    async with app.run_test(size=(120, 36)) as pilot:
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        await until(pilot, lambda: runs.loaded, timeout=10)
        assert "no runs on this host yet" in shown(app)

        await pilot.press("n")
        dialog = await on_screen(pilot, NewRunDialog)
        dialog.query_one("#run-command", Input).value = NUMBERED_RUN
        dialog.query_one("#run-name", Input).value = "numbers"
        await pilot.press("enter")
        logs = await on_screen(pilot, LogsScreen, timeout=10)
        log = logs.log_view

        # Lines arrive and the view follows them.
        await until(pilot, lambda: log.line_count == 2000 and not log.pending, timeout=10)
        await pilot.pause()
        assert list(log.lines[:2]) == ["line 1 of the run", "line 2 of the run"]
        assert "line 2000 of the run" in shown(app)
        assert "running" in status(app) and "connected" in status(app)
        assert "following" in status(app)

        # Scrolling up pauses following; a new line does not move the view.
        await pilot.press("pageup", "pageup")
        await until(
            pilot,
            lambda: "paused (f follows)" in status(app) and still(log),
            what="pageup: paused",
            seen=lambda: status(app),
        )
        assert not log.following
        top = round(log.scroll_y)
        (sshd.remote_home / "go-on").touch()
        await until(pilot, lambda: log.lines and log.lines[-1] == "after the pause", timeout=10)
        await pilot.pause()
        assert round(log.scroll_y) == top and "after the pause" not in shown(app)

        # The run's exit status is shown when it ends.
        await until(pilot, lambda: "exited 3" in status(app), timeout=10)
        assert logs.exit_status == 3

        # `end` resumes following, at the end.
        await pilot.press("end")
        await until(pilot, lambda: "after the pause" in shown(app), what="end: the last line")
        assert log.following

        # Search jumps to and highlights a matching line; n finds the next one.
        search = logs.query_one("#log-search", Input)

        def matched() -> str | None:
            return None if log.match is None else log.lines[log.match]

        async def search_for(needle: str) -> None:
            await pilot.press("slash")
            # The field opens with the last search in it: typed into only once open.
            await until(pilot, lambda: search.has_focus, what="the search field open")
            search.value = needle
            await pilot.press("enter")
            await until(pilot, lambda: not search.display, what=f"{needle!r} searched")

        await search_for("line 1234 ")
        assert matched() == "line 1234 of the run"
        assert not log.following
        await until(pilot, lambda: "line 1234 of the run" in shown(app), what="the match in view")
        await search_for("LINE 19")  # a capital letter: exact case, so nothing matches
        assert "no line contains 'LINE 19'" in status(app)
        await search_for("line 19")  # the next match after the current one, line 1234
        assert matched() == "line 1900 of the run"
        await pilot.press("n")
        await until(pilot, lambda: matched() != "line 1900 of the run", what="n: the next match")
        assert matched() == "line 1901 of the run"
        await pilot.press("N", "N")  # back past 1900 to the one before it
        await until(
            pilot, lambda: matched() == "line 199 of the run", what="N, N: two back", seen=matched
        )

        # Back on the runs screen, the run is listed with its state.
        await pilot.press("escape")
        assert await on_screen(pilot, RunsScreen) is runs
        await until(pilot, lambda: runs.runs and runs.runs[0].state == "exited 3", timeout=10)
        assert runs.runs[0].name == "numbers"
        await until(pilot, lambda: "exited 3" in shown(app), what="the run's state listed")


async def test_port_forward_answers_on_a_local_port(sshd: Sshd) -> None:
    server = TextServer("jupyter here")
    remote_port = server.port
    screen = RunsScreen(SSH_ALIAS, None, forwards=(("Jupyter", remote_port),))
    app = HostApp(screen)

    def get(url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return bytes(answer.read())

    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await until(pilot, lambda: screen.loaded, timeout=10)
            await pilot.press("p")
            await until(pilot, lambda: screen.forwards, timeout=10)
            forward = screen.forwards[0]
            # The host's port is taken here (the host is this machine): another is used.
            assert forward.local_port != remote_port
            assert forward.url in shown(app)
            # The request must not block the loop that carries the forwarded bytes.
            assert await asyncio.to_thread(get, forward.url) == b"jupyter here"
            await pilot.press("p")
            await until(pilot, lambda: not screen.forwards, what="the forward closed")
            with pytest.raises(OSError):
                await asyncio.to_thread(get, forward.url)
    finally:
        server.stop()


async def test_target_prompt_opens_the_runs_screen(sshd: Sshd) -> None:
    class Home(Screen[None]):
        pass

    app = HostApp(Home())
    async with app.run_test(size=(100, 30)) as pilot:
        ask_for_runs(app, "us-east-1")
        dialog = await on_screen(pilot, TargetDialog)
        target = dialog.query_one("#target-input", Input)
        error = dialog.query_one("#target-error", Static)
        target.value = "a@b@c"
        await pilot.press("enter")
        await until(
            pilot, lambda: "cannot read target" in str(error.render()), what="the refusal shown"
        )
        # Enter has been handled, and refused: the dialog stays.
        assert app.screen is dialog and "cannot read target" in shown(app)
        target.value = SSH_ALIAS
        await pilot.press("enter")
        runs = await on_screen(pilot, RunsScreen)
        assert runs.target == SSH_ALIAS
        await until(pilot, lambda: runs.loaded, timeout=10)


async def test_an_unreachable_host_says_why(isolated_home: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        screen = LogsScreen(f"127.0.0.1:{port}", FIXED_RUN_ID, None)
        app = HostApp(screen)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: screen.connection == "failed", timeout=10)
            assert "cannot connect" in status(app)


async def test_an_unreachable_host_is_reported_once_however_often_it_is_tried(
    isolated_home: Path,
) -> None:
    import socket

    from textual.message import Message

    from dlpick.tui.worker_errors import WorkerFailed

    failures: list[WorkerFailed] = []
    notices = Notices()

    def seen(message: Message) -> None:
        notices.hook(message)
        if isinstance(message, WorkerFailed):
            failures.append(message)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        screen = RunsScreen(f"127.0.0.1:{port}", None, refresh_every=0.05)
        app = HostApp(screen)
        async with app.run_test(size=(100, 30), notifications=True, message_hook=seen) as pilot:
            await until(pilot, lambda: len(failures) >= 4, timeout=10)
            status = str(screen.query_one("#runs-status", Static).render())
            assert status.startswith("listing the runs failed: cannot connect")
            assert notices.titled(severity="error") == [("Listing the runs", failures[0].text)]


# -- a replay, for pictures --------------------------------------------------------------


async def test_replay_shows_state_and_exit(tmp_path: Path) -> None:
    app = replay_app(end=0)
    async with app.run_test(size=(120, 36)) as pilot:
        await settled(pilot)
        await until(pilot, lambda: "exited 0" in status(app), timeout=10)
        assert re.search(r"exited 0 .*log complete .*following .*34 lines", status(app))


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
def test_snapshots(snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    if size == (120, 36):
        assert snap_compare(replay_app(end=0), terminal_size=size, run_before=ended_and_searched)
    else:
        assert snap_compare(replay_app(end=None), terminal_size=size, run_before=settled)


async def test_the_app_opens_runs_on_a_typed_target(sshd: Sshd, tmp_path: Path) -> None:
    from dlpick.tui.app import DlpickApp
    from tests.screenshots import make_app

    assert any(b.action == "open_runs" for b in DlpickApp.BINDINGS if isinstance(b, Binding))
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("o")
        dialog = await on_screen(pilot, TargetDialog)
        dialog.query_one("#target-input", Input).value = SSH_ALIAS
        await pilot.press("enter")
        runs = await on_screen(pilot, RunsScreen)
        assert runs.aws_region == "us-east-1"
        await until(pilot, lambda: runs.loaded, timeout=10)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.prices, what="back on the prices")


async def test_connection_and_log_changes_are_shown() -> None:
    """What the follower reports while the link drops and the log is replaced."""
    gate = asyncio.Event()

    async def events() -> AsyncIterator[FollowEvent]:
        yield ConnectionChange("connected")
        yield LogChunk(b"before\n", 0)
        yield ConnectionChange("reconnecting", 2, 0.4, "connection closed mid-chunk")
        await gate.wait()
        yield ConnectionChange("connected", 2)
        yield LogReset("rotated")
        yield LogChunk(b"after\n", 0)
        await asyncio.Event().wait()

    screen = LogsScreen(SSH_ALIAS, FIXED_RUN_ID, None, events=events())
    app = HostApp(screen)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: "reconnecting" in status(app), timeout=10)
        assert "reconnecting (attempt 2, connection closed mid-chunk)" in status(app)
        gate.set()
        await until(pilot, lambda: list(screen.log_view.lines) == ["before", "after"], timeout=10)
        assert "connected" in status(app) and "log rotated on the host" in status(app)
