"""The detail pane's capacity lines: the highlighted type's spot placement score and its
cheapest Capacity Block for ML, asked in a thread worker once the cursor rests."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text
from textual import on
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Static

from dlpick.tui.formats import fmt_usd
from dlpick.tui.widgets.kept import Kept
from dlpick.tui.worker_errors import WorkerErrors

if TYPE_CHECKING:
    from dlpick.pricing.catalog import Offer
    from dlpick.remote.launch.capacity_blocks import BlockOffering, Outlook
    from dlpick.tui.account import AwsAccess

# Seconds the cursor must rest on a row before AWS is asked about it.
SETTLE_SECONDS = 0.4
# Answers kept in the pane as long as the cache keeps them (spot prices' time-to-live).
KEEP_SECONDS = 600
KEEP_AT_MOST = 256


class CapacityArrived(Message):
    """The outlook for one type in one region."""

    def __init__(self, instance_type: str, region: str, outlook: Outlook) -> None:
        super().__init__()
        self.instance_type = instance_type
        self.region = region
        self.outlook = outlook


def placement_text(found: Outlook) -> Text:
    """'spot placement: 7/10 in us-east-1 (us-east-1a 9, ...) · us-west-2 9'."""
    from dlpick.pricing.placement import score_text

    line = Text("spot placement: ", no_wrap=True, overflow="ellipsis")
    placement = found.placement
    if placement is None:
        return line.append("?", "bold").append(f" ({found.placement_note})", "dim")
    line.append(score_text(placement), "bold" if placement.score else "")
    others = sorted(
        ((r, s) for r, s in placement.by_region.items() if r != placement.region),
        key=lambda kv: (-kv[1], kv[0]),
    )
    if others and not placement.denied:
        line.append(" · best elsewhere " + ", ".join(f"{r} {s}" for r, s in others[:2]), "dim")
    return line


def block_text(found: Outlook, offer: Offer) -> Text:
    """'Capacity Block: $50.00/h, $0.0253/TF·h · 24 h from 2026-12-09 11:30 in us-east-1a'."""
    line = Text("Capacity Block: ", no_wrap=True, overflow="ellipsis")
    block: BlockOffering | None = found.block
    if block is None:
        return line.append(found.block_note, "dim")
    usd = block.usd_hour
    tflops = offer.fp32_tflops
    line.append(f"${fmt_usd(usd)}/h" if usd is not None else block.currency, "bold")
    if usd is not None and tflops:
        line.append(f" (${usd / tflops:.4f}/TF·h)")
    when = block.start[:16].replace("T", " ")
    line.append(
        f" · fee ${block.upfront_fee:,.2f} for {block.hours} h from {when} UTC"
        f" in {block.availability_zone}",
        "dim",
    )
    return line


class CapacityLines(WorkerErrors, Static):
    """Placement score and cheapest Capacity Block of the highlighted type; hidden
    when the app has no AWS account to ask."""

    def __init__(self, account: AwsAccess | None, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.account = account
        self.offer: Offer | None = None
        self._timer: Timer | None = None
        self.shown: Outlook | None = None  # the outlook drawn, None while asking
        self._known: Kept[Outlook] = Kept(KEEP_SECONDS, KEEP_AT_MOST)

    def on_mount(self) -> None:
        self.display = False

    def show(self, offer: Offer | None) -> None:
        """Ask about `offer` once the cursor rests on it (answers are kept per type)."""
        self.offer = offer
        account = self.account
        if offer is None or account is None or account.offline or account.available is False:
            self.display = False
            return
        self.display = True
        known = self._known.get((offer.instance_type, offer.region))
        if known is not None:
            self._draw(known)
            return
        self.shown = None
        self.update(Text("spot placement and Capacity Blocks: asking AWS…", style="dim"))
        if self._timer is not None:
            self._timer.stop()
        if self._known.asking((offer.instance_type, offer.region)):
            return  # its answer is on the way, and is drawn when it comes
        self._timer = self.set_timer(SETTLE_SECONDS, partial(self._ask, offer))

    def _ask(self, offer: Offer) -> None:
        if offer is not self.offer:
            return
        self._known.asked((offer.instance_type, offer.region))
        self.run_worker(
            partial(self._read, offer.instance_type, offer.region),
            name=offer.instance_type,
            group="capacity",
            description=f"reading capacity for {offer.instance_type}",
            exclusive=True,
            thread=True,
            exit_on_error=False,
        )

    def _read(self, instance_type: str, region: str) -> None:
        """The worker: placement scores and Capacity Blocks (failures become notes)."""
        assert self.account is not None
        if self.account.get() is None:
            self.app.call_from_thread(setattr, self, "display", False)  # no credentials
            return
        found = self.account.capacity(instance_type, region)
        self.post_message(CapacityArrived(instance_type, region, found))

    @on(CapacityArrived)
    def _arrived(self, message: CapacityArrived) -> None:
        self._known.put((message.instance_type, message.region), message.outlook)
        offer = self.offer
        if offer and (offer.instance_type, offer.region) == (message.instance_type, message.region):
            self._draw(message.outlook)

    def _draw(self, found: Outlook) -> None:
        assert self.offer is not None
        self.shown = found
        self.update(Group(placement_text(found), block_text(found, self.offer)))
