"""The app as a process: it needs a terminal, and it ends as soon as the user quits.

A thread worker blocked in a network call cannot be interrupted. Under
`asyncio.run` the app's return would wait for it (the loop's executor is shut
down with waiting), and so would the interpreter's exit (it joins worker threads).
So the app runs on a loop of its own, and a process whose worker threads are
still stuck once the app has returned leaves without them, its output flushed.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from textual.app import App

    from dlpick.tui.config import Settings

NEEDS_TERMINAL = (
    "dlpick: the app needs a terminal; use a subcommand such as `dlpick prices` for scripts"
)
# How long finished workers' idle threads get to end on their own after the app quit.
THREAD_GRACE_SECONDS = 0.02


def has_terminal() -> bool:
    """Whether stdin and stdout are a terminal the app can draw on and read keys from."""
    return _is_tty(sys.stdin) and _is_tty(sys.stdout)


def _is_tty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):  # closed
        return False


def open_app(settings: Settings, region: str) -> int:
    """`dlpick` with no command: build the app and run it until the user quits.

    The cyclic garbage collector waits until the first frame is drawn (the app turns
    it back on when Ready): start-up makes long-lived objects (modules, classes,
    styles, price rows), not garbage, and collecting would only scan them over and
    over, about a tenth of the time to the first rows.
    """
    gc.disable()
    try:
        from dlpick.tui.app import build_app

        return run_until_quit(build_app(settings, region))
    finally:
        gc.enable()


def run_until_quit(app: App[Any]) -> int:
    """Run the app; its exit status once it quits, without waiting for stuck workers."""
    loop = asyncio.new_event_loop()
    app.run(loop=loop)
    code = app.return_code or 0
    loop.close()  # lets idle executor threads end; never waits for busy ones
    if _threads_still_running(THREAD_GRACE_SECONDS):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    return code


def _threads_still_running(grace: float) -> bool:
    """Whether threads the interpreter would wait for at exit are alive after `grace`."""
    deadline = time.monotonic() + grace
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            return True
    return False
