"""The bundled snapshot: dated, sourced, and covering what the catalog promises."""

from __future__ import annotations

import json

import pytest

from dlpick.pricing.snapshot import bundled
from dlpick.pricing.specs import chip_for


def test_snapshot_is_dated_sourced_and_covers_the_main_regions() -> None:
    snap = bundled()
    assert snap.as_of and snap.source
    for region, least in (("us-east-1", 40), ("us-west-2", 40), ("eu-west-1", 20)):
        prices = snap.regions[region].on_demand
        assert len(prices) >= least, region
        assert all(p > 0 for p in prices.values())


def test_every_type_in_the_snapshot_has_specs_and_known_families() -> None:
    snap = bundled()
    for region in snap.regions.values():
        assert region.instance_types <= set(snap.specs)
    families = {t.split(".")[0] for t in snap.specs}
    for family in (
        "g4dn",
        "g5",
        "g5g",
        "g6",
        "g6e",
        "g6f",
        "gr6",
        "g7e",
        "p3dn",
        "p4d",
        "p4de",
        "p5",
        "p5e",
        "p5en",
        "p6-b200",
        "p6-b300",
        "trn1",
        "trn1n",
        "trn2",
        "inf1",
        "inf2",
        "dl2q",
    ):
        assert family in families, family


def test_every_snapshot_type_maps_to_a_chip_where_a_chip_row_exists() -> None:
    snap = bundled()
    unmapped = sorted(t for t, s in snap.specs.items() if chip_for(s) is None)
    # Only retired parts with no chip row may stay unmapped.
    assert all(t.startswith("g2.") for t in unmapped), unmapped


def test_retiring_rows_are_dated_and_sourced() -> None:
    import re

    from dlpick.pricing.retiring import load_retirements, retirement_for

    rows = load_retirements()
    assert {"p3", "g3", "g4ad"} <= set(rows)
    for row in rows.values():
        assert row.source.startswith("https://"), row
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", row.as_of), row
        assert row.date is None or re.fullmatch(r"\d{4}-\d\d-\d\d", row.date), row
    p3 = retirement_for("p3.8xlarge")
    assert p3 is not None and p3.label == "retiring 2025-12-20"
    g4ad = retirement_for("g4ad.xlarge")
    assert g4ad is not None and (g4ad.field, g4ad.label) == ("announced", "retiring (announced)")
    assert retirement_for("p3dn.24xlarge") is None


def test_spot_rows_equal_to_on_demand_are_left_out_of_the_snapshot() -> None:
    """Public catalogs copy the on-demand price where they have no spot figure."""
    from dlpick.pricing.snapshot import bundled, is_catalog_artifact

    assert is_catalog_artifact(55.04, 55.04) and is_catalog_artifact(11.8112, 11.81123)
    assert not is_catalog_artifact(0.5261, 0.53438) and not is_catalog_artifact(1.0, None)
    for region in bundled().regions.values():
        for itype, by_az in region.spot.items():
            on_demand = region.on_demand.get(itype)
            assert not any(is_catalog_artifact(usd, on_demand) for usd in by_az.values()), itype


def test_a_spot_date_known_only_as_a_bound_says_not_before(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dlpick.tui.cli.main import main

    assert main(["prices", "--offline", "--spot", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records and all(r["spot_price_as_of_not_before"] is True for r in records)
    assert main(["prices", "--offline"]) == 0
    out = capsys.readouterr().out
    assert "spot prices: snapshot, not before 2026-06-03 (at most " in out
    assert "on-demand prices: snapshot, 2026-08-26 (" in out  # an exact date stays plain
