"""Spot interruption bands: the bundled advisor data, its live refresh, and the filter."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dlpick.core.cache import PriceCache
from dlpick.pricing.advisor import BUNDLE, Advisor, load_advisor, read_bundle
from dlpick.pricing.catalog import RECORD_FIELDS
from dlpick.pricing.select import filter_records
from dlpick.tui.cli.main import main
from dlpick.tui.screens.dialogs import parse_filters
from tests.conftest import AwsPeers
from tests.peers.text_server import TextServer
from tests.test_prices_cli import seed

# Labels in an order unlike their `max` values: the band is the label an entry's r names.
RANGES = [
    {"index": 0, "label": "<5%", "dots": 0, "max": 5},
    {"index": 1, "label": "5-10%", "dots": 1, "max": 11},
    {"index": 2, "label": "10-15%", "dots": 2, "max": 16},
    {"index": 3, "label": "15-20%", "dots": 3, "max": 22},
    {"index": 4, "label": ">20%", "dots": 4, "max": 100},
]


def feed(entries: dict[str, dict[str, Any]], region: str = "us-east-1") -> dict[str, Any]:
    return {
        "global_rate": "<10%",
        "instance_types": {},
        "ranges": RANGES,
        "spot_advisor": {
            region: {"Linux": entries, "Windows": {t: {"s": 1, "r": 4} for t in entries}}
        },
    }


@pytest.fixture
def peer() -> Iterator[TextServer]:
    server = TextServer(json.dumps(feed({"g5.xlarge": {"s": 61, "r": 3}})))
    yield server
    server.stop()


def load(cache: PriceCache, url: str, warnings: list[str]) -> Advisor:
    env = {"DLPICK_SPOT_ADVISOR_URL": url}
    return load_advisor(cache, online=True, warn=warnings.append, environ=env)


def test_the_bundled_file_is_the_advisor_feed_with_its_source_and_date() -> None:
    raw = json.loads(BUNDLE.read_text())
    assert "spot-bid-advisor.s3.amazonaws.com" in raw["source"]
    assert "2025-06-28" in raw["as_of"]
    assert [r["label"] for r in raw["ranges"]] == ["<5%", "5-10%", "10-15%", "15-20%", ">20%"]
    advisor = read_bundle()
    # "no later than 2025-06-28": the date, and that it is only the latest the data can be from.
    assert raw["as_of"] == "no later than 2025-06-28"
    assert (advisor.source, advisor.as_of, advisor.as_of_not_after) == (
        "snapshot",
        "2025-06-28",
        True,
    )
    assert len(advisor.by_region) > 20
    advice = advisor.advice("us-east-1", "g5.xlarge")
    assert advice.band in {r["label"] for r in RANGES}
    assert isinstance(advice.savings_percent, int)
    assert advisor.advice("us-east-1", "m5.large").band is None  # not an accelerated type


def test_band_is_the_label_of_the_range_named_by_r(tmp_path: Path) -> None:
    data = feed({"g5.xlarge": {"s": 70, "r": 1}, "p4d.24xlarge": {"s": 50, "r": 4}})
    data["ranges"] = [dict(r, max=r["index"]) for r in RANGES]  # max is not what is shown
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(data))
    advisor = read_bundle(path)
    assert advisor.advice("us-east-1", "g5.xlarge").band == "5-10%"
    assert advisor.advice("us-east-1", "g5.xlarge").savings_percent == 70
    assert advisor.advice("us-east-1", "p4d.24xlarge").band == ">20%"
    assert advisor.advice("eu-west-1", "g5.xlarge").band is None


def test_live_refresh_is_cached_for_a_day(tmp_path: Path, peer: TextServer) -> None:
    now = [1_000_000.0]
    cache = PriceCache(tmp_path / "cache.sqlite", clock=lambda: now[0])
    warnings: list[str] = []
    first = load(cache, peer.url, warnings)
    assert first.source == "live"
    assert first.advice("us-east-1", "g5.xlarge").band == "15-20%"
    assert peer.requests == 1
    now[0] += 23 * 3600
    second = load(cache, peer.url, warnings)
    assert second.source == "cache" and second.advice("us-east-1", "g5.xlarge").band == "15-20%"
    assert peer.requests == 1
    now[0] += 2 * 3600
    assert load(cache, peer.url, warnings).source == "live"
    assert peer.requests == 2
    assert warnings == []


def test_peer_down_falls_back_to_the_bundle_with_one_warning(
    tmp_path: Path, peer: TextServer
) -> None:
    url = peer.url
    peer.stop()
    peer.server.server_close()
    warnings: list[str] = []
    advisor = load(PriceCache(tmp_path / "cache.sqlite"), url, warnings)
    assert advisor.source == "snapshot"
    assert advisor.advice("us-east-1", "g5.xlarge").band is not None
    assert warnings == [
        f"spot interruption bands: could not read {url} (Connection refused); "
        "showing the bundled bands (no later than 2025-06-28)"
    ]


def test_not_the_feed_falls_back_to_the_cache(tmp_path: Path, peer: TextServer) -> None:
    now = [1_000_000.0]
    cache = PriceCache(tmp_path / "cache.sqlite", clock=lambda: now[0])
    warnings: list[str] = []
    load(cache, peer.url, warnings)
    now[0] += 2 * 86400
    peer.body = "<html>not json</html>"
    advisor = load(cache, peer.url, warnings)
    assert advisor.source == "cache" and advisor.advice("us-east-1", "g5.xlarge").band == "15-20%"
    assert warnings == [
        f"spot interruption bands: could not read {peer.url} (the answer is not JSON); "
        f"showing the cached bands ({advisor.as_of})"
    ]
    assert advisor.as_of.startswith("1970-01-12")


def test_a_feed_that_cannot_be_reached_is_one_whole_sentence_in_the_cli(
    aws: AwsPeers, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "http://dlpick-test.invalid/spot-advisor-data.json"  # a name no resolver knows
    monkeypatch.setenv("DLPICK_SPOT_ADVISOR_URL", url)
    assert main(["prices", "--spot", "--format", "json"]) == 0
    err = capsys.readouterr().err
    # The failure is one line; the next says that the bundled bands shown are old.
    [line] = [line for line in err.splitlines() if "could not read" in line]
    [old] = [line for line in err.splitlines() if "older than 90 days" in line]
    assert old.startswith("warning: spot interruption bands: Spot Instance Advisor, snapshot")
    found = re.fullmatch(
        rf"warning: spot interruption bands: could not read {re.escape(url)} \(([^<>()]+)\); "
        r"showing the bundled bands \(no later than 2025-06-28\)",
        line,
    )
    assert found, line
    assert "urlopen" not in found[1] and "Errno" not in found[1]


def test_filter_keeps_bands_up_to_the_bound() -> None:
    records = [
        {"instance_type": t, "gpu_model": "X", "gpu_memory_gib": 1, "on_demand_usd_hour": 1.0}
        | {"spot_usd_hour": 0.5, "spot_interruption_band": band}
        for t, band in [("a", "<5%"), ("b", "5-10%"), ("c", "10-15%"), ("d", ">20%"), ("e", None)]
    ]
    kept = filter_records(records, max_interruption=10)
    assert [r["instance_type"] for r in kept] == ["a", "b"]
    assert len(filter_records(records, max_interruption=None)) == 5
    assert [r["instance_type"] for r in filter_records(records, max_interruption=4)] == []


def test_cli_json_fields_and_max_interruption(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "--offline", "--spot", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {"spot_interruption_band", "spot_savings_percent"} <= set(records[0])
    assert list(records[0]) == list(RECORD_FIELDS)
    bands = {r["spot_interruption_band"] for r in records}
    assert {"<5%", "5-10%"} <= bands and len(bands - {"<5%", "5-10%"}) > 0
    assert (
        main(["prices", "--offline", "--spot", "--max-interruption", "10", "--format", "json"]) == 0
    )
    kept = json.loads(capsys.readouterr().out)
    assert kept and {r["spot_interruption_band"] for r in kept} <= {"<5%", "5-10%"}
    assert all(isinstance(r["spot_savings_percent"], int) for r in kept)


def test_cli_table_shows_the_band(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "--offline", "--spot"]) == 0
    out = capsys.readouterr().out
    assert "Int." in out and "<5%" in out


@pytest.mark.parametrize("value", ["-1", "101", "ten"])
def test_cli_rejects_a_bad_max_interruption(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "--offline", "--max-interruption", value]) == 2
    assert "--max-interruption" in capsys.readouterr().err


def test_dialog_parses_the_max_interruption() -> None:
    filters = parse_filters("", "", "", [], "10")
    assert filters.max_interruption == 10 and filters.active
    assert "interrupted ≤10%" in filters.describe()
    assert parse_filters("", "", "", [], "").max_interruption is None
    with pytest.raises(ValueError, match="interruption"):
        parse_filters("", "", "", [], "150")


def test_a_feed_that_failed_is_not_asked_again_within_the_hour(
    tmp_path: Path, peer: TextServer
) -> None:
    now = [1_000_000.0]
    cache = PriceCache(tmp_path / "cache.sqlite", clock=lambda: now[0])
    warnings: list[str] = []
    peer.body = "<html>not json</html>"
    assert load(cache, peer.url, warnings).source == "snapshot"
    assert load(cache, peer.url, warnings).source == "snapshot"
    assert peer.requests == 1 and len(warnings) == 1  # one time-out an hour, not one a run
    now[0] += 3601
    peer.body = (BUNDLE.parent / "spot_advisor.json").read_text()
    assert load(cache, peer.url, warnings).source == "live"
    assert peer.requests == 2


BUNDLE_DATE = "no later than 2025-06-28 (at least"
STALE = "older than 90 days: AWS may have changed them"


def test_json_and_csv_say_where_the_bands_came_from_and_when(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["prices", "--offline", "--spot", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {
        (r["spot_advisor_source"], r["spot_advisor_as_of"], r["spot_advisor_as_of_not_after"])
        for r in records
    } == {("snapshot", "2025-06-28", True)}
    assert main(["prices", "--offline", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split(",")
    row = dict(zip(header, lines[1].split(","), strict=False))
    assert (row["spot_advisor_source"], row["spot_advisor_as_of"]) == ("snapshot", "2025-06-28")
    assert row["spot_advisor_as_of_not_after"] == "True"


def test_old_bands_are_dated_under_the_table_and_warned_about(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["prices", "--offline", "--spot"]) == 0
    captured = capsys.readouterr()
    out = " ".join(captured.out.split())  # the caption wraps at the width
    assert "spot interruption bands: Spot Instance Advisor, snapshot, " + BUNDLE_DATE in out
    assert STALE in out
    assert "warning: spot interruption bands: Spot Instance Advisor, snapshot" in captured.err
    # The filter uses them too, whatever the format.
    assert main(["prices", "--offline", "--max-interruption", "10", "--format", "json"]) == 0
    assert STALE in capsys.readouterr().err
    # An on-demand table neither shows nor uses them: no line, no warning.
    assert main(["prices", "--offline"]) == 0
    captured = capsys.readouterr()
    assert "interruption bands" not in captured.out + captured.err


def test_bands_read_live_from_the_feed_carry_their_date_and_no_warning(
    aws: AwsPeers,
    peer: TextServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DLPICK_SPOT_ADVISOR_URL", peer.url)
    seed(aws, "us-east-1", {"g5.xlarge": 1.006}, {"g5.xlarge": {"us-east-1a": 0.40}})
    assert main(["prices", "--spot", "--gpu", "A10G", "--format", "json"]) == 0
    captured = capsys.readouterr()
    g5 = json.loads(captured.out)[0]
    assert (g5["spot_interruption_band"], g5["spot_advisor_source"]) == ("15-20%", "live")
    assert g5["spot_advisor_as_of_not_after"] is False
    assert g5["spot_advisor_as_of"][:10] == datetime.now(UTC).date().isoformat()
    assert "interruption bands" not in captured.err
    assert main(["prices", "--spot", "--gpu", "A10G"]) == 0
    captured = capsys.readouterr()
    out = " ".join(captured.out.split())
    assert "spot interruption bands: Spot Instance Advisor, cache, " in out  # read once a day
    assert "min ago)" in out and "older than" not in out
    assert "interruption bands" not in captured.err
