"""The one retry rule: doubling waits with jitter, a cap, a fresh start, giving up."""

from __future__ import annotations

from dlpick.core.retry import JITTER, Backoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def within_jitter(delay: float | None, base: float) -> bool:
    return delay is not None and base * (1 - JITTER) <= delay <= base * (1 + JITTER)


def test_waits_double_up_to_the_cap() -> None:
    backoff = Backoff(0.5, 3.0, give_up_after=None, clock=Clock())
    delays = [backoff.failed() for _ in range(5)]
    for delay, base in zip(delays, [0.5, 1.0, 2.0, 3.0, 3.0], strict=True):
        assert within_jitter(delay, base), (delay, base)
    assert backoff.attempt == 5 and backoff.failing


def test_a_success_starts_afresh() -> None:
    backoff = Backoff(1.0, 60.0, give_up_after=None, clock=Clock())
    for _ in range(3):
        backoff.failed()
    backoff.succeeded()
    assert not backoff.failing and backoff.attempt == 0
    assert within_jitter(backoff.failed(), 1.0)


def test_it_gives_up_once_failures_outlast_the_limit() -> None:
    clock = Clock()
    backoff = Backoff(1.0, 5.0, give_up_after=30.0, clock=clock)
    assert backoff.failed() is not None
    clock.now += 30.0
    assert backoff.failed() is not None  # 30 s of failing: not yet past the limit
    clock.now += 0.1
    assert backoff.failed() is None
    backoff.succeeded()
    assert backoff.failed() is not None  # a success gives a new 30 s


def test_jitter_spreads_the_waits() -> None:
    delays = {Backoff(1.0, 1.0, None, clock=Clock()).failed() for _ in range(50)}
    assert len(delays) > 40
