"""The bundled snapshot: dated, sourced, and covering what the catalog promises."""

from __future__ import annotations

from dlpick.pricing.chips import chip_for
from dlpick.pricing.snapshot import bundled


def test_snapshot_is_dated_sourced_and_covers_the_main_regions() -> None:
    snap = bundled()
    assert snap.as_of and snap.source
    for region in ("us-east-1", "us-west-2", "eu-west-1"):
        prices = snap.regions[region].on_demand
        assert len(prices) >= 40, region
        assert all(p > 0 for p in prices.values())


def test_every_type_in_the_snapshot_has_specs_and_known_families() -> None:
    snap = bundled()
    for region in snap.regions.values():
        assert region.instance_types <= set(snap.specs)
    families = {t.split(".")[0] for t in snap.specs}
    for family in (
        "g4dn",
        "g4ad",
        "g5",
        "g5g",
        "g6",
        "g6e",
        "g6f",
        "gr6",
        "g7e",
        "p3",
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
        "dl1",
        "dl2q",
    ):
        assert family in families, family


def test_every_snapshot_type_maps_to_a_chip_where_a_chip_row_exists() -> None:
    snap = bundled()
    unmapped = sorted(t for t, s in snap.specs.items() if chip_for(s) is None)
    # Only retired parts with no chip row may stay unmapped.
    assert all(t.startswith("g2.") for t in unmapped), unmapped
