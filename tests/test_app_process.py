"""The app as a process under a real pseudo-terminal: it quits at once, whatever its
workers are doing, and without a terminal it says so instead of starting."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dlpick.core.errors import EXIT_USAGE
from dlpick.tui.app_process import NEEDS_TERMINAL
from tests.peers.black_hole import BlackHole

DLPICK = [sys.executable, "-m", "dlpick.tui.cli.main"]
# From the key press to the process gone: what "quits at once" means here.
QUIT_SECONDS = 0.5


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.stop()


def app_env(tmp_path: Path, endpoint: str) -> dict[str, str]:
    """Credentials that look valid and an AWS that never answers; no user files."""
    env = dict(os.environ)
    env.update(
        TERM="xterm-256color",
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    return env


class Terminal:
    """The app in a child process whose stdin, stdout and stderr are a pseudo-terminal."""

    def __init__(self, env: dict[str, str], args: list[str] | None = None) -> None:
        self.fd, child = pty.openpty()
        fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
        self.process = subprocess.Popen(
            [*DLPICK, *(args or [])],
            stdin=child,
            stdout=child,
            stderr=child,
            env=env,
            start_new_session=True,
        )
        os.close(child)
        self.screen = b""

    def read(self, timeout: float) -> None:
        """What the app drew within `timeout` (read on, so the app never blocks writing)."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                self.screen += os.read(self.fd, 65536)
            except OSError:  # the child closed its side
                pass

    def until(self, condition: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"not seen in time; the screen so far: {self.screen[-500:]!r}")
            self.read(0.05)

    def press(self, key: bytes) -> float:
        """Send a key; when it was sent."""
        os.write(self.fd, key)
        return time.monotonic()

    def wait_exit(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self.read(0.01)
        return self.process.poll()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.fd)


@pytest.mark.parametrize("key", [b"q", b"\x03"], ids=["q", "ctrl-c"])
def test_quitting_is_immediate_while_workers_wait_on_the_network(
    tmp_path: Path, black_hole: BlackHole, key: bytes
) -> None:
    terminal = Terminal(app_env(tmp_path, black_hole.url))
    try:
        # Drawn, and the price refresh and the fleet scan are both stuck in a call.
        terminal.until(lambda: b"types" in terminal.screen and black_hole.held >= 2, 30)
        pressed = terminal.press(key)
        status = terminal.wait_exit(5)
        took = time.monotonic() - pressed
    finally:
        terminal.close()
    assert status == 0
    assert took < QUIT_SECONDS, f"quitting took {took:.2f} s"


def test_without_a_terminal_the_app_says_so_and_exits_2(tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [*DLPICK, "--offline"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=app_env(tmp_path, "http://127.0.0.1:9"),
        timeout=10,
    )
    assert time.monotonic() - started < 2.0
    assert done.returncode == EXIT_USAGE
    assert done.stderr.decode().splitlines() == [NEEDS_TERMINAL]
    assert done.stdout == b""


def test_output_to_a_file_is_not_a_terminal_either(tmp_path: Path) -> None:
    """`dlpick --offline > out` typed at a terminal: keys could be read, nothing drawn."""
    keys, child = pty.openpty()
    try:
        with (tmp_path / "out").open("wb") as out:
            done = subprocess.run(
                [*DLPICK, "--offline"],
                stdin=child,
                stdout=out,
                stderr=subprocess.PIPE,
                env=app_env(tmp_path, "http://127.0.0.1:9"),
                timeout=10,
            )
    finally:
        os.close(keys)
        os.close(child)
    assert done.returncode == EXIT_USAGE
    assert done.stderr.decode().splitlines() == [NEEDS_TERMINAL]
    assert (tmp_path / "out").read_bytes() == b""
