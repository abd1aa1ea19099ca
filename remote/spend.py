"""The spend line: what is running, what it costs per hour and what was spent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from dlpick.remote.fleet import Instance


@dataclass(frozen=True)
class Ticker:
    """The header line: what is running, what it costs and what was spent.

    Spent is what the instances listed cost in their last run, stopped ones
    included. When a region could not be read, a running instance has no known
    price or a stopped one no known stop time, the figures are lower bounds and
    say so.
    """

    running: int
    usd_hour: float
    spent_usd: float
    idle: int
    stopped_storage_usd_month: float
    unpriced: int = 0  # running instances whose price is unknown
    unreadable: tuple[str, ...] = ()  # regions that could not be read
    uncosted: int = 0  # instances not running whose last run's cost is unknown

    @property
    def complete(self) -> bool:
        return not self.unpriced and not self.uncosted and not self.unreadable

    def text(self) -> str:
        count = "at least " if self.unreadable else ""
        rate = "≥" if self.unpriced or self.unreadable else ""
        money = "" if self.complete else "≥"
        line = (
            f"{count}{self.running} running · {rate}${self.usd_hour:,.2f}/h"
            f" · {money}${self.spent_usd:,.2f} spent · {self.idle} idle"
        )
        if self.unpriced:
            line += f" · {self.unpriced} without a known price"
        if self.uncosted:
            line += f" · {self.uncosted} stopped with an unknown cost"
        if self.unreadable:
            line += f" · {len(self.unreadable)} region{'s' * (len(self.unreadable) > 1)} unreadable"
        return line


def ticker(
    instances: Iterable[Instance], now: datetime | None = None, unreadable: Iterable[str] = ()
) -> Ticker:
    now = now or datetime.now(UTC)
    instances = list(instances)
    running = [i for i in instances if i.billing_hourly]
    return Ticker(
        running=len(running),
        usd_hour=sum(i.usd_hour or 0 for i in running),
        spent_usd=sum(i.cost_so_far(now) or 0 for i in instances),
        idle=sum(1 for i in running if i.idle.startswith("idle")),
        stopped_storage_usd_month=sum(
            i.storage_usd_month for i in instances if i.state == "stopped"
        ),
        unpriced=sum(1 for i in running if i.usd_hour is None),
        unreadable=tuple(unreadable),
        uncosted=sum(1 for i in instances if not i.billing_hourly and i.cost_so_far(now) is None),
    )
