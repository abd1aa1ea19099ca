"""Waiting on the app under Pilot: for a condition, for a settled layout before a click,
for workers to finish.

Pilot's own waits end when the app looks idle for a moment: `press` and `click` return
once the events are sent and a pause has passed, `pause()` once the messages queued when
it began are handled and the process seemed idle for 1/50 s. On a loaded machine that is
often before a message posted in turn, a pushed screen's layout or a worker has done its
part. These helpers wait for the thing itself, by the wall clock, and say what they
waited for when it does not come.

tests/test_ui_waits.py checks that no test reads the app's state straight after a key
press or a click without one of these waits in between.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any, TypeVar

from textual.app import ScreenStackError
from textual.css.query import QueryError
from textual.dom import DOMNode
from textual.errors import NoWidget
from textual.geometry import Offset, Region
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.worker import Worker

T = TypeVar("T")

# The default wait. Calls that wait on AWS (moto) or SSH pass their own, longer timeout.
TIMEOUT = 5.0
# How long each look waits before the next: short, so a wait ends soon after its condition.
STEP = 0.02
# What a condition may raise while the screen it reads is still on its way (a widget not
# yet mounted, a row or column not there yet): waited out, and named if it lasts.
NOT_YET: tuple[type[Exception], ...] = (QueryError, LookupError, ScreenStackError, NoWidget)


def _describe(condition: Callable[[], object]) -> str:
    """The condition's source, for a timeout's message when no `what` is given."""
    try:
        source = inspect.getsource(condition)
    except (OSError, TypeError):
        return getattr(condition, "__qualname__", repr(condition))
    text = " ".join(source.split())
    return text if len(text) <= 200 else text[:197] + "..."


async def until(
    pilot: Pilot[Any],
    condition: Callable[[], T],
    *,
    timeout: float = TIMEOUT,
    what: str = "",
    seen: Callable[[], object] | None = None,
) -> T:
    """Wait until `condition()` is truthy and return its value.

    The condition is looked at first straight away, then after each `pilot.pause(STEP)`
    until `timeout` seconds have passed on the wall clock; then AssertionError, naming
    `what` (by default the condition's source) and the last thing seen: `seen()` when it
    is given, else the condition's last value when that says more than False, or the
    exception it last raised (see NOT_YET).
    """
    deadline = time.monotonic() + timeout
    while True:
        last: object
        try:
            value = condition()
        except NOT_YET as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() > deadline:
            break
        await pilot.pause(STEP)
    message = f"{what or _describe(condition)}: not so after {timeout:g} s"
    if seen is not None:
        message += f"; seen: {seen()!r}"
    elif not isinstance(last, bool | None):
        message += f"; last seen: {last!r}"
    raise AssertionError(message)


def _target(screen: Screen[Any], target: str | Widget) -> Widget:
    return screen.query_one(target) if isinstance(target, str) else target


def _layout_pending(screen: Screen[Any]) -> bool:
    """A layout, scroll or recompose has been asked for and not yet done."""
    if screen._layout_required or screen._scroll_required or screen._recompose_required:
        return True
    return any(
        node._layout_required or node._scroll_required or node._recompose_required
        for node in screen.walk_children(Widget)
    )


async def settled_click(
    pilot: Pilot[Any],
    target: str | Widget,
    *,
    offset: tuple[int, int] | None = None,
    enabled: bool = True,
    timeout: float = TIMEOUT,
) -> Widget:
    """Click `target` (a selector on the current screen, or a widget) once it stays put.

    `pilot.click` works out where to click before it pauses and sends the events, so a
    click on a screen still being laid out (just pushed, a button just shown or moved)
    lands wherever the target was, or nowhere. This waits until: no animation runs and no
    layout is pending; the target is on the current screen, displayed, with a region
    (and enabled, unless `enabled=False`); the point to click (`offset` in the target,
    by default its middle) is on the screen and shows the target, not something over it;
    and all that is the same at two looks a pause apart. Then it clicks, and fails unless
    the click landed on the target. The click's effects are not waited for: wait for
    them with `until`.
    """
    app = pilot.app
    looks: list[tuple[Screen[Any], Widget, Region, Offset] | str] = []

    def where() -> tuple[Screen[Any], Widget, Region, Offset] | str:
        screen = app.screen
        widget = _target(screen, target)
        if widget.screen is not screen:
            return f"{target!r} is not on the current screen ({screen!r})"
        if not (widget.is_mounted and widget.display and widget.visible):
            return f"{target!r} is not displayed"
        if enabled and widget.disabled:
            return f"{target!r} is disabled"
        if _layout_pending(screen):
            return "a layout is pending"
        region = widget.region
        if not region.area:
            return f"{target!r} has no region yet"
        dx, dy = offset if offset is not None else (region.width // 2, region.height // 2)
        point = region.offset + Offset(dx, dy)
        if not screen.size.region.contains_point(point):
            return f"{target!r} at {point} is off the screen"
        under, _ = screen.get_widget_at(*point)
        if under is not widget:
            return f"{under!r} is over {target!r} at {point}"
        return (screen, widget, region, point)

    def steady() -> tuple[Screen[Any], Widget, Region, Offset] | None:
        looks.append(where())
        if len(looks) >= 2 and looks[-1] == looks[-2] and not isinstance(looks[-1], str):
            return looks[-1]
        return None

    deadline = time.monotonic() + timeout
    while True:
        try:
            await asyncio.wait_for(
                app.animator.wait_until_complete(), max(deadline - time.monotonic(), STEP)
            )
        except TimeoutError:
            looks.append("an animation is still running")
        await pilot.pause()
        try:
            found = steady()
        except NOT_YET as exc:
            looks.append(f"{target!r}: {exc}")
            found = None
        if found is not None:
            break
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{target!r} did not settle to be clicked in {timeout:g} s: {looks[-1]}"
            )
    _, widget, region, point = found
    landed = await pilot.click(widget, offset=(point.x - region.x, point.y - region.y))
    if not landed:
        raise AssertionError(f"the click on {target!r} at {point} landed elsewhere")
    return widget


def unfinished(pilot: Pilot[Any], *nodes: DOMNode, group: str | None = None) -> list[Worker[Any]]:
    """The workers not finished yet, of `nodes` (any node when none is named) and `group`."""
    return [
        worker
        for worker in pilot.app.workers
        if not worker.is_finished
        and (not nodes or any(worker.node is node for node in nodes))
        and (group is None or worker.group == group)
    ]


async def workers_done(
    pilot: Pilot[Any],
    *nodes: DOMNode,
    group: str | None = None,
    timeout: float = TIMEOUT,
    what: str = "",
) -> None:
    """Wait until every worker of `nodes` (of any node when none is named), in `group`
    when given, has finished.

    It pauses first, so that what the last key or click queued (a dismissed dialog's
    callback, a message that starts a worker) has run and its workers are counted. For
    "nothing happened" checks: wait for the work that would have done it to end, then
    look. Workers that run until their screen closes (a log follower) are never done:
    name the nodes or group to wait for.
    """
    await pilot.pause()
    await until(
        pilot,
        lambda: not unfinished(pilot, *nodes, group=group),
        timeout=timeout,
        what=what or f"workers of {nodes or 'the app'} finished",
        seen=lambda: unfinished(pilot, *nodes, group=group),
    )


S = TypeVar("S", bound=Screen[Any])


async def on_screen(pilot: Pilot[Any], kind: type[S], *, timeout: float = TIMEOUT) -> S:
    """Wait until the app's current screen is a `kind`, mounted (its widgets composed),
    and return it."""

    def current() -> bool:
        screen = pilot.app.screen
        return isinstance(screen, kind) and screen.is_mounted

    await until(
        pilot,
        current,
        timeout=timeout,
        what=f"a {kind.__name__} on top",
        seen=lambda: pilot.app.screen_stack,
    )
    screen = pilot.app.screen
    assert isinstance(screen, kind)
    return screen
