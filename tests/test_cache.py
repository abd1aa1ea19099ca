"""The price cache: time-to-live per kind; a corrupt, unwritable or malformed cache never
fails a command."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from dlpick.core.aws import Aws
from dlpick.core.cache import DEFAULT_SCOPE, TTL, PriceCache, cache_scope
from dlpick.pricing.catalog import Catalog
from dlpick.pricing.snapshot import bundled
from dlpick.tui.cli.main import main
from tests.conftest import AwsPeers
from tests.peers.pricing_api import ec2_product


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


# Tests run as root, for whom permission bits (chmod 0o500) do not stop a write.
# These places fail for root too: a regular file where the cache's folder should
# be (mkdir and open fail with ENOTDIR), and a folder where the cache file should
# be (SQLite cannot open a directory).
def file_where_folder_should_be(tmp_path: Path) -> Path:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    return blocker / "dlpick" / "prices.sqlite"


def folder_where_file_should_be(tmp_path: Path) -> Path:
    path = tmp_path / "prices.sqlite"
    path.mkdir()
    return path


@pytest.mark.parametrize("place", [file_where_folder_should_be, folder_where_file_should_be])
def test_a_cache_that_cannot_be_opened_is_skipped_with_one_warning(
    tmp_path: Path, place: Callable[[Path], Path]
) -> None:
    path = place(tmp_path)
    warnings: list[str] = []
    cache = PriceCache(path, warn=warnings.append)
    assert cache.get("spot", "us-east-1") is None
    assert cache.put("spot", "us-east-1", {"a": 1}, fetched_at=5.0) == 5.0
    assert cache.get("spot", "us-east-1", allow_stale=True) is None
    cache.drop("spot", "us-east-1")
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("price cache unavailable (")
    assert warnings[0].endswith("): working without it")
    assert path.parent.exists() or path.parent.parent.is_file()  # nothing was removed


def test_a_cache_on_a_read_only_file_system_is_skipped_with_one_warning() -> None:
    # /proc refuses new files to root too, as a read-only mount does; permission bits
    # would not stop root, who runs the tests here.
    warnings: list[str] = []
    cache = PriceCache(Path("/proc/self/dlpick-cache/prices.sqlite"), warn=warnings.append)
    cache.put("spot", "us-east-1", {"a": 1})
    assert cache.get("spot", "us-east-1") is None
    assert len(warnings) == 1 and "working without it" in warnings[0], warnings


def test_a_full_disk_mid_run_turns_the_cache_off_with_one_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    cache = PriceCache(tmp_path / "c.sqlite", warn=warnings.append)
    cache.put("ondemand", "us-east-1", {"g5.xlarge": 1.006})
    # SQLite's page cap gives the same SQLITE_FULL a full disk does, even for root.
    assert cache._conn is not None
    pages = cache._conn.execute("PRAGMA page_count").fetchone()[0]
    cache._conn.execute(f"PRAGMA max_page_count={pages}")
    cache.put("spot", "us-east-1", {"g5.xlarge": {"us-east-1a": "x" * 100_000}})
    cache.put("spot", "eu-west-1", {"g5.xlarge": {"eu-west-1a": "x" * 100_000}})
    assert cache.get("ondemand", "us-east-1") is None  # off for the rest of the run
    assert len(warnings) == 1 and "full" in warnings[0], warnings
    assert warnings[0].startswith("price cache unavailable (")
    # The file itself was kept: the next run reads what was written before.
    again = PriceCache(tmp_path / "c.sqlite").get("ondemand", "us-east-1")
    assert again is not None and again.payload == {"g5.xlarge": 1.006}


def test_a_locked_cache_is_not_mistaken_for_a_corrupt_one(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    PriceCache(path).put("ondemand", "us-east-1", {"g5.xlarge": 1.0})
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    warnings: list[str] = []
    try:
        cache = PriceCache(path, warn=warnings.append, timeout=0.1)
        cache.put("spot", "us-east-1", {})
    finally:
        holder.rollback()
        holder.close()
    assert len(warnings) == 1 and "locked" in warnings[0], warnings
    kept = PriceCache(path).get("ondemand", "us-east-1")
    assert kept is not None and kept.payload == {"g5.xlarge": 1.0}


def prices_offline(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict], str]:
    code = main(["prices", "--offline", "--region", "us-east-1", "--format", "json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out else [], err


def test_prices_with_an_unwritable_cache_folder_still_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, expected, err = prices_offline(capsys)
    assert code == 0 and expected
    assert err.startswith("offline: on-demand prices: snapshot") and err.count("\n") == 1
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("")  # XDG_CACHE_HOME a regular file: fails for root too
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    code, records, err = prices_offline(capsys)
    assert code == 0
    assert records == expected
    [warning, offline] = err.splitlines()
    assert "Traceback" not in err
    assert warning.startswith(
        f"warning: price cache unavailable ({blocker}/dlpick: Not a directory)"
    )
    assert warning.endswith("working without it")
    assert offline.startswith("offline: on-demand prices: snapshot")


G5_SPEC = {
    "instance_type": "g5.xlarge",
    "vcpus": 4,
    "memory_gib": 16.0,
    "architectures": ["x86_64"],
    "accelerator_kind": "gpu",
    "accelerator_vendor": "NVIDIA",
    "accelerator_name": "A10G",
    "accelerator_count": 1,
    "accelerator_memory_gib": 24.0,
}
MALFORMED: list[tuple[str, object]] = [
    ("specs", []),
    ("specs", None),
    ("specs", {"g5.xlarge": {}}),  # keys missing
    ("specs", {"g5.xlarge": {**G5_SPEC, "vcpus": "4"}}),
    ("specs", {"g5.xlarge": {**G5_SPEC, "architectures": "x86_64"}}),
    ("specs", {"g5.xlarge": [G5_SPEC]}),
    ("ondemand", []),
    ("ondemand", None),
    ("ondemand", {"g5.xlarge": "1.006"}),
    ("ondemand", {"g5.xlarge": None}),
    ("ondemand", {"g5.xlarge": True}),
    ("ondemand", {"g5.xlarge": -1}),
    ("sagemaker", []),
    ("sagemaker", {"g5.xlarge": "1.408"}),
    ("sagemaker", {"g5.xlarge": None}),
    ("sagemaker", {"g5.xlarge": -1.408}),
    ("spot", []),
    ("spot", {"g5.xlarge": 0.4}),  # one level missing
    ("spot", {"g5.xlarge": {"us-east-1a": "0.4"}}),
    ("spot", {"g5.xlarge": {"us-east-1a": float("nan")}}),
]


@pytest.mark.parametrize(("kind", "payload"), MALFORMED)
def test_a_malformed_cached_payload_is_dropped_and_the_snapshot_used(
    tmp_path: Path, kind: str, payload: object
) -> None:
    snapshot = bundled()
    warnings: list[str] = []
    cache = PriceCache(tmp_path / "c.sqlite", warn=warnings.append)
    catalog = Catalog(cache=cache, aws=None, snapshot=snapshot, warn=warnings.append)
    cache.put(kind, "us-east-1", payload, scope=catalog.scope)
    offers = {o.instance_type: o for o in catalog.offers("us-east-1")}
    clean = Catalog(cache=PriceCache(tmp_path / "clean.sqlite"), aws=None, snapshot=snapshot)
    expected = {o.instance_type: o for o in clean.offers("us-east-1")}
    assert offers == expected  # exactly what an empty cache gives: the snapshot
    assert warnings == [f"the cached {kind} entry for us-east-1 was malformed; rebuilding it"]
    assert cache.get(kind, "us-east-1", allow_stale=True, scope=catalog.scope) is None  # dropped


@pytest.mark.parametrize("payload", [{}, None, [1, 2], "us-east-1", {"regions": ["us-east-1"]}])
def test_a_malformed_cached_region_list_is_dropped(tmp_path: Path, payload: object) -> None:
    warnings: list[str] = []
    cache = PriceCache(tmp_path / "c.sqlite", warn=warnings.append)
    snapshot = bundled()
    catalog = Catalog(cache=cache, aws=None, snapshot=snapshot, warn=warnings.append)
    cache.put("regions", "all", payload, scope=catalog.scope)
    assert catalog.regions() == sorted(snapshot.regions)
    assert warnings == ["the cached regions entry for all was malformed; rebuilding it"]


def test_a_cached_entry_that_is_not_json_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    warnings: list[str] = []
    cache = PriceCache(path, warn=warnings.append)
    cache.put("ondemand", "us-east-1", {"g5.xlarge": 1.0})
    cache.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE entries SET payload = '{\"g5.xlarge\": 1.'")
    assert cache.get("ondemand", "us-east-1") is None
    assert cache.get("ondemand", "us-east-1") is None
    assert warnings == ["the cached ondemand entry for us-east-1 was malformed; rebuilding it"]


def test_a_malformed_entry_is_rebuilt_from_live_prices(aws: AwsPeers, tmp_path: Path) -> None:
    aws.pricing.products.append(ec2_product("g5.xlarge", "us-east-1", 1.006))
    warnings: list[str] = []
    cache = PriceCache(tmp_path / "c.sqlite", warn=warnings.append)
    catalog = Catalog(cache=cache, aws=Aws(), warn=warnings.append)
    cache.put("ondemand", "us-east-1", [], scope=catalog.scope)
    g5 = next(o for o in catalog.offers("us-east-1") if o.instance_type == "g5.xlarge")
    assert (g5.on_demand_usd_hour, g5.price_source) == (1.006, "live")
    assert warnings == ["the cached ondemand entry for us-east-1 was malformed; rebuilding it"]
    rebuilt = cache.get("ondemand", "us-east-1", scope=catalog.scope)
    assert rebuilt is not None and rebuilt.payload["g5.xlarge"] == 1.006


def test_the_scope_follows_the_profile_and_the_endpoints() -> None:
    assert cache_scope(None, {}) == DEFAULT_SCOPE
    assert cache_scope("default", {}) == DEFAULT_SCOPE
    assert cache_scope(None, {"AWS_REGION": "eu-west-1"}) == DEFAULT_SCOPE  # data names it
    scopes = {
        cache_scope(None, {}),
        cache_scope("ml", {}),
        cache_scope(None, {"AWS_PROFILE": "ml2"}),
        cache_scope(None, {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}),
        cache_scope(None, {"AWS_ENDPOINT_URL": "http://127.0.0.1:5001"}),
        cache_scope(None, {"AWS_ENDPOINT_URL_EC2": "http://127.0.0.1:5000"}),
        cache_scope(None, {"AWS_ENDPOINT_URL_PRICING": "http://127.0.0.1:5000"}),
    }
    assert len(scopes) == 7
    # The flag's profile wins over the variable, as in boto3.
    assert cache_scope("ml", {"AWS_PROFILE": "other"}) == cache_scope("ml", {})
    ignored = {"AWS_ENDPOINT_URL": "http://x.test", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}
    assert cache_scope(None, ignored) == DEFAULT_SCOPE


def test_two_scopes_do_not_see_each_others_entries(tmp_path: Path) -> None:
    cache = PriceCache(tmp_path / "c.sqlite")
    here = cache_scope(None, {})
    there = cache_scope(None, {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"})
    cache.put("ondemand", "us-east-1", {"g5.xlarge": 1.006}, scope=here)
    assert cache.get("ondemand", "us-east-1", scope=there) is None
    cache.put("ondemand", "us-east-1", {"g5.xlarge": 9.0}, scope=there)
    mine = cache.get("ondemand", "us-east-1", scope=here)
    theirs = cache.get("ondemand", "us-east-1", scope=there)
    assert mine is not None and mine.payload == {"g5.xlarge": 1.006}
    assert theirs is not None and theirs.payload == {"g5.xlarge": 9.0}


def test_offline_prices_show_only_entries_of_the_same_endpoint_and_profile(
    aws: AwsPeers, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.pricing.products.append(ec2_product("g4dn.xlarge", "us-east-1", 0.111))
    snapshot_price = bundled().regions["us-east-1"].on_demand["g4dn.xlarge"]
    assert snapshot_price != 0.111

    def g4dn(*flags: str, profile: tuple[str, ...] = ()) -> tuple[object, object]:
        code = main([*profile, "prices", "--region", "us-east-1", "--format", "json", *flags])
        out, err = capsys.readouterr()
        offline = "--offline" in flags
        assert code == 0 and err.startswith("offline: ") == offline and err.count("\n") == offline
        record = next(r for r in json.loads(out) if r["instance_type"] == "g4dn.xlarge")
        return record["on_demand_usd_hour"], record["price_source"]

    assert g4dn() == (0.111, "live")  # from the emulator, stored under its scope
    assert g4dn("--offline") == (0.111, "cache")  # same endpoint and profile
    assert g4dn("--offline", profile=("--profile", "other")) == (snapshot_price, "snapshot")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_PRICING"):
        monkeypatch.delenv(name)
    assert g4dn("--offline") == (snapshot_price, "snapshot")  # AWS's own endpoints


def dlpick_process(*argv: str, read_only: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`dlpick ARGV` in its own process; with `read_only`, that folder is a read-only
    mount in the process's own mount namespace (as a read-only file system or a shared
    cache a user may not write would be; permission bits would not stop root)."""
    command = [sys.executable, "-m", "dlpick.tui.cli.main", *argv]
    if read_only is not None:
        script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
        command = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh"]
        command += [str(read_only), sys.executable, "-m", "dlpick.tui.cli.main", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_a_read_only_cache_is_read_and_said_not_to_be_updated(
    aws: AwsPeers, isolated_home: Path
) -> None:
    from tests.test_prices_cli import seed

    seed(aws, "us-east-1", {"g6.xlarge": 0.8123}, {})
    prices = ("prices", "--region", "us-east-1", "--format", "json")
    done = dlpick_process(*prices)
    assert done.returncode == 0, done.stderr
    g6 = next(r for r in json.loads(done.stdout) if r["instance_type"] == "g6.xlarge")
    assert (g6["on_demand_usd_hour"], g6["price_source"]) == (0.8123, "live")
    cache = isolated_home / ".cache" / "dlpick" / "prices.sqlite"
    assert cache.is_file()

    # Offline, the cache is the only place 0.8123 can come from (the snapshot has 0.8048).
    done = dlpick_process(*prices, "--offline", read_only=cache.parent)
    assert done.returncode == 0, done.stderr
    g6 = next(r for r in json.loads(done.stdout) if r["instance_type"] == "g6.xlarge")
    assert (g6["on_demand_usd_hour"], g6["price_source"]) == (0.8123, "cache")
    [warning, offline] = done.stderr.splitlines()
    assert re.fullmatch(
        rf"warning: price cache {re.escape(str(cache))} cannot be updated "
        r"\(Read-only file system\): using what it holds",
        warning,
    ), warning
    assert offline.startswith("offline: on-demand prices: cache")

    # Live prices still arrive; they are not kept, and that is said once, not per write.
    done = dlpick_process(*prices, "--refresh", read_only=cache.parent)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("cannot be updated") == 1 and "unavailable" not in done.stderr
    g6 = next(r for r in json.loads(done.stdout) if r["instance_type"] == "g6.xlarge")
    assert g6["price_source"] == "live"
