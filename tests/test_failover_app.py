"""The launch dialog when the region has no capacity: it asks before moving, and moves
only to the region picked (the same capacity proxy in front of moto as test_failover)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import OptionList

from dlpick.tui.screens.move_region import MoveRegion
from tests.launch_fixtures import REGION
from tests.peers.capacity_proxy import ANY, CapacityProxy
from tests.test_app_aws import SIZE, aws_app, open_launch, text_of
from tests.test_failover import TYPE, WEST, instances_everywhere, proxy, zone_of
from tests.ui import settled_click, until

__all__ = ["proxy"]  # the fixture, shared with test_failover


async def launch_until_asked(tmp_path: Path, pick: str) -> tuple[str, list[str]]:
    """Launch TYPE from the dialog, answer the move question with `pick` (a region or
    'stay'); the dialog's end state and error, and the options the question offered."""
    app = aws_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        dialog = await open_launch(app, pilot, TYPE)
        await until(pilot, lambda: dialog.state == "ready" and dialog.plan is not None, timeout=20)
        await settled_click(pilot, "#launch-go")

        def asked() -> bool:  # the question is pushed, and composed
            return isinstance(app.screen, MoveRegion) and bool(app.screen.query(OptionList))

        await until(pilot, asked, timeout=30)
        question = app.screen
        options = question.query_one(OptionList)
        offered = [str(options.get_option_at_index(i).id) for i in range(options.option_count)]
        options.highlighted = offered.index(pick)
        await pilot.press("enter")
        await until(pilot, lambda: dialog.state in ("done", "ready", "failed"), timeout=30)
        return dialog.state + " " + text_of(app, "#launch-error"), offered


async def test_the_dialog_asks_and_launches_in_the_region_picked(
    proxy: CapacityProxy, tmp_path: Path
) -> None:
    proxy.refuse = {REGION: {ANY}}
    state, offered = await launch_until_asked(tmp_path, WEST)
    assert offered == [WEST, "stay"]
    assert state.startswith("done"), state
    [instance] = instances_everywhere()
    assert zone_of(instance).startswith(WEST)


async def test_declining_the_move_launches_nothing_and_says_so_in_the_dialogs_words(
    proxy: CapacityProxy, tmp_path: Path
) -> None:
    proxy.refuse = {REGION: {ANY}}
    state, _ = await launch_until_asked(tmp_path, "stay")
    assert f"pick {WEST} as the region and launch again" in state
    assert "--" not in state
    assert instances_everywhere() == []
    assert {c.region for c in proxy.calls} == {REGION}
