"""Prices parsed from real Pricing API and spot history answers, decoys and all."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from dlpick.pricing.ondemand import fetch_on_demand, parse_price_list, parse_product
from dlpick.pricing.spot import fetch_spot, parse_spot_history
from tests.conftest import AwsPeers
from tests.peers.pricing_api import (
    BARE_METAL,
    bare_metal_decoys,
    decoys,
    ec2_product,
    reference_price_list,
)

DATA = Path(__file__).parent / "data" / "aws"


def test_real_gpu_price_list_gives_the_linux_on_demand_price() -> None:
    entries = reference_price_list()
    east = parse_price_list(entries, "us-east-1")
    assert east["g4dn.xlarge"].usd_hour == 0.526
    assert east["g5.2xlarge"].usd_hour == 1.212
    assert east["p4d.24xlarge"].usd_hour == pytest.approx(21.957642)
    # The Capacity Block product at $0.00 is not the p5's price.
    assert east["p5.48xlarge"].usd_hour == 55.04
    assert east["p5.48xlarge"].published == "2026-09-10T19:55:14Z"
    west = parse_price_list(entries, "us-west-2")
    assert west["p4d.24xlarge"].usd_hour == pytest.approx(21.95764)
    ireland = parse_price_list(entries, "eu-west-1")
    assert ireland["g5.2xlarge"].usd_hour == pytest.approx(1.35296)


def test_unused_capacity_reservation_row_is_not_a_price() -> None:
    entries = reference_price_list("pricing_get_products_ec2_c5ad_real.json")
    assert parse_product(entries[0]) is None


def test_ebs_product_is_not_an_instance_price() -> None:
    entries = reference_price_list("pricing_get_products_awscli_example_ebs.json")
    assert parse_price_list(entries) == {}


@pytest.mark.parametrize("decoy", range(10))
def test_each_decoy_kind_is_rejected(decoy: int) -> None:
    row = decoys("g6.xlarge", "us-east-1", 0.8048)[decoy]
    assert parse_product(row) is None


def test_reserved_terms_do_not_change_the_on_demand_price() -> None:
    row = ec2_product("g6.xlarge", "us-east-1", 0.8048, reserved=True)
    price = parse_product(row)
    assert price is not None and price.usd_hour == pytest.approx(0.8048)


def test_fetch_batches_types_filters_server_side_and_pages(aws: AwsPeers) -> None:
    types = [f"g6.{size}" for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge")]
    for n, itype in enumerate(types):
        aws.pricing.products += [ec2_product(itype, "us-east-1", 1.0 + n)]
        aws.pricing.products += decoys(itype, "us-east-1", 1.0 + n)
        aws.pricing.products += [ec2_product(itype, "eu-west-1", 9.0 + n)]
    aws.pricing.page_size_cap = 2  # force NextToken paging
    client = boto3.client("pricing", region_name="us-east-1")
    prices = fetch_on_demand(client, "us-east-1", types)
    assert {t: p.usd_hour for t, p in prices.items()} == {t: 1.0 + n for n, t in enumerate(types)}
    first = aws.pricing.requests[0]
    assert {"Type": "ANY_OF", "Field": "instanceType", "Value": ",".join(sorted(types))} in first[
        "Filters"
    ]
    assert len(aws.pricing.requests) == 3  # five answers, two per page


def test_spot_history_keeps_linux_and_the_latest_price_per_az() -> None:
    examples = json.loads((DATA / "describe_spot_price_history_awscli_example.json").read_text())
    suse = examples["examples"][0]["response"]["SpotPriceHistory"]
    assert parse_spot_history(suse) == {}
    vpc = examples["examples"][1]["response"]["SpotPriceHistory"]
    quote = parse_spot_history(vpc)["m1.xlarge"]
    assert quote.by_az == {"us-west-1a": 0.08, "us-west-1c": 0.08}
    now = datetime(2026, 11, 22, tzinfo=UTC)
    records = [
        {
            "InstanceType": "g5.xlarge",
            "ProductDescription": "Linux/UNIX",
            "SpotPrice": "0.50",
            "AvailabilityZone": "us-east-1a",
            "Timestamp": now - timedelta(hours=2),
        },
        {
            "InstanceType": "g5.xlarge",
            "ProductDescription": "Linux/UNIX",
            "SpotPrice": "0.42",
            "AvailabilityZone": "us-east-1a",
            "Timestamp": now,
        },
        {
            "InstanceType": "g5.xlarge",
            "ProductDescription": "Linux/UNIX",
            "SpotPrice": "0.39",
            "AvailabilityZone": "us-east-1c",
            "Timestamp": now,
        },
        {
            "InstanceType": "g5.xlarge",
            "ProductDescription": "Windows",
            "SpotPrice": "0.10",
            "AvailabilityZone": "us-east-1b",
            "Timestamp": now,
        },
    ]
    quote = parse_spot_history(records)["g5.xlarge"]
    assert quote.by_az == {"us-east-1a": 0.42, "us-east-1c": 0.39}
    assert (quote.cheapest_az, quote.usd_hour) == ("us-east-1c", 0.39)


def test_fetch_spot_from_moto(aws: AwsPeers) -> None:
    aws.moto.spot.add("us-west-2", "g6.xlarge", "us-west-2a", 0.31)
    aws.moto.spot.add("us-west-2", "g6.xlarge", "us-west-2b", 0.29)
    aws.moto.spot.add("us-west-2", "g6.xlarge", "us-west-2c", 0.05, product="SUSE Linux")
    aws.moto.spot.add("us-east-1", "g6.xlarge", "us-east-1a", 0.01)
    ec2 = boto3.client("ec2", region_name="us-west-2")
    quotes = fetch_spot(ec2, ["g6.xlarge"])
    assert quotes["g6.xlarge"].by_az == {"us-west-2a": 0.31, "us-west-2b": 0.29}


def test_bare_metal_product_is_priced() -> None:
    row = ec2_product("g4dn.metal", "us-east-1", 7.824, productFamily=BARE_METAL)
    assert row["product"]["productFamily"] == BARE_METAL
    price = parse_product(json.dumps(row), "us-east-1")
    assert price is not None and price.usd_hour == pytest.approx(7.824)


@pytest.mark.parametrize("decoy", range(10))
def test_each_bare_metal_decoy_kind_is_rejected(decoy: int) -> None:
    row = bare_metal_decoys("g4dn.metal", "us-east-1", 7.824)[decoy]
    assert row["product"]["productFamily"] == BARE_METAL
    assert parse_product(row) is None


def test_other_product_families_are_not_instance_prices() -> None:
    row = ec2_product("g4dn.metal", "us-east-1", 7.824, productFamily="Dedicated Host")
    assert parse_product(row) is None
