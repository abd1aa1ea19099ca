"""The price cache: time-to-live per kind, and a corrupt file never crashes."""

from __future__ import annotations

from pathlib import Path

from dlpick.pricing.cache import TTL, PriceCache


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_their_kind_ttl(tmp_path: Path) -> None:
    clock = Clock()
    cache = PriceCache(tmp_path / "c.sqlite", clock=clock)
    cache.put("spot", "us-east-1", {"g5.xlarge": {"us-east-1a": 0.4}})
    cache.put("ondemand", "us-east-1", {"g5.xlarge": 1.006})
    clock.now += TTL["spot"] + 1
    assert cache.get("spot", "us-east-1") is None
    stale = cache.get("spot", "us-east-1", allow_stale=True)
    assert stale is not None and not stale.fresh
    assert stale.payload == {"g5.xlarge": {"us-east-1a": 0.4}}
    fresh = cache.get("ondemand", "us-east-1")
    assert fresh is not None and fresh.fresh and fresh.payload == {"g5.xlarge": 1.006}
    clock.now += TTL["ondemand"]
    assert cache.get("ondemand", "us-east-1") is None


def test_corrupt_cache_file_is_replaced_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    warnings: list[str] = []
    cache = PriceCache(path, warn=warnings.append)
    assert cache.get("spot", "us-east-1") is None
    cache.put("spot", "us-east-1", {"a": 1})
    got = cache.get("spot", "us-east-1")
    assert got is not None and got.payload == {"a": 1}
    assert len(warnings) == 1 and "unreadable" in warnings[0]


def test_cache_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    PriceCache(path).put("ondemand", "eu-west-1", {"p5.48xlarge": 60.0})
    got = PriceCache(path).get("ondemand", "eu-west-1")
    assert got is not None and got.payload == {"p5.48xlarge": 60.0}
