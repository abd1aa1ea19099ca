"""SageMaker's training price beside EC2's: only the Training row, and its premium."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import boto3
import pytest

from dlpick.core.cache import PriceCache
from dlpick.pricing.catalog import RECORD_FIELDS, Catalog, Offer
from dlpick.pricing.sagemaker import fetch_training, parse_training, premium_percent
from dlpick.tui.cli.main import main
from dlpick.tui.widgets.detail import sagemaker_line
from tests.conftest import AwsPeers
from tests.peers.pricing_api import ec2_product, sagemaker_decoys, sagemaker_product


def test_only_the_training_row_of_the_region_is_a_price() -> None:
    assert parse_training(sagemaker_product("g5.xlarge", "us-east-1", 1.408), "us-east-1") == (
        "g5.xlarge",
        1.408,
    )
    for row in sagemaker_decoys("g5.xlarge", "us-east-1", 1.408):
        assert parse_training(json.dumps(row), "us-east-1") is None


def test_live_fetch_takes_the_training_price_and_rechecks_the_servers_filtering(
    aws: AwsPeers,
) -> None:
    types = ["g5.xlarge", "g5.2xlarge", "p4d.24xlarge"]
    for n, itype in enumerate(types):
        aws.pricing.products.append(sagemaker_product(itype, "us-east-1", 1.0 + n))
        aws.pricing.products.extend(sagemaker_decoys(itype, "us-east-1", 1.0 + n))
    aws.pricing.products.append(ec2_product("g5.xlarge", "us-east-1", 0.5))  # another service
    client = boto3.client("pricing", region_name="us-east-1")
    want = {t: 1.0 + n for n, t in enumerate(types)}
    assert fetch_training(client, "us-east-1", types) == want
    (request,) = aws.pricing.requests  # one request for every type
    assert request["ServiceCode"] == "AmazonSageMaker"
    assert {"Type": "TERM_MATCH", "Field": "component", "Value": "Training"} in request["Filters"]
    names = "ml.g5.2xlarge,ml.g5.xlarge,ml.p4d.24xlarge"
    assert {"Type": "ANY_OF", "Field": "instanceName", "Value": names} in request["Filters"]
    # A server that ignores every filter still gives only the Training prices.
    aws.pricing.ignore_filters = True
    aws.pricing.page_size_cap = 5  # and pages
    assert fetch_training(client, "us-east-1", types) == want


def test_many_types_are_asked_for_in_batches_of_a_hundred(aws: AwsPeers) -> None:
    types = [f"g5.{n}xlarge" for n in range(1, 151)]
    for itype in types:
        aws.pricing.products.append(sagemaker_product(itype, "us-east-1", 2.0))
    client = boto3.client("pricing", region_name="us-east-1")
    assert fetch_training(client, "us-east-1", types) == dict.fromkeys(types, 2.0)
    asked = [
        len(f["Value"].split(","))
        for request in aws.pricing.requests
        for f in request["Filters"]
        if f["Field"] == "instanceName"
    ]
    assert sorted(asked) == [50, 100]


@pytest.mark.parametrize(
    ("sagemaker", "ec2", "premium"),
    [
        (1.408, 1.006, 40.0),
        (1.0, 1.0, 0.0),
        (0.9, 1.0, -10.0),
        (None, 1.0, None),
        (1.4, None, None),
    ],
)
def test_premium_arithmetic(
    sagemaker: float | None, ec2: float | None, premium: float | None
) -> None:
    assert premium_percent(sagemaker, ec2) == premium


def test_json_carries_the_sagemaker_price_and_premium_live_and_null_offline(
    aws: AwsPeers, capsys: pytest.CaptureFixture[str]
) -> None:
    sagemaker_fields = ["sagemaker_training_usd_hour", "sagemaker_premium_percent"]
    at = RECORD_FIELDS.index(sagemaker_fields[0])
    assert list(RECORD_FIELDS[at : at + 2]) == sagemaker_fields
    aws.pricing.products.append(ec2_product("g5.xlarge", "us-east-1", 1.006))
    aws.pricing.products.append(sagemaker_product("g5.xlarge", "us-east-1", 1.408))
    aws.pricing.products.extend(sagemaker_decoys("g5.xlarge", "us-east-1", 1.408))
    assert main(["prices", "--region", "us-east-1", "--format", "json"]) == 0
    records = {r["instance_type"]: r for r in json.loads(capsys.readouterr().out)}
    g5 = records["g5.xlarge"]
    assert list(g5) == list(RECORD_FIELDS)
    assert (g5["sagemaker_training_usd_hour"], g5["sagemaker_premium_percent"]) == (1.408, 40.0)
    sagemaker_calls = [r for r in aws.pricing.requests if r["ServiceCode"] == "AmazonSageMaker"]
    assert len(sagemaker_calls) == 1
    # Not offered for training (no Training row): unknown, not $0.
    assert records["g6.xlarge"]["sagemaker_training_usd_hour"] is None
    assert records["g6.xlarge"]["sagemaker_premium_percent"] is None
    # Offline, the cache answers (cached like on-demand prices).
    assert main(["prices", "--region", "us-east-1", "--offline", "--format", "json"]) == 0
    cached = {r["instance_type"]: r for r in json.loads(capsys.readouterr().out)}
    assert cached["g5.xlarge"]["sagemaker_training_usd_hour"] == 1.408


def test_offline_snapshot_has_no_sagemaker_prices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "--region", "us-east-1", "--offline", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records and all(r["sagemaker_training_usd_hour"] is None for r in records)
    assert all(r["sagemaker_premium_percent"] is None for r in records)


def _offer_with(tmp_path: Path, sagemaker: float | None, ec2: float | None) -> Offer:
    offer = Catalog(cache=PriceCache(tmp_path / "c.sqlite")).offers("us-east-1")[0]
    return replace(offer, sagemaker_training_usd_hour=sagemaker, on_demand_usd_hour=ec2)


def test_detail_pane_line_says_the_price_and_premium_or_unknown(tmp_path: Path) -> None:
    line = sagemaker_line(_offer_with(tmp_path, 1.408, 1.006)).plain
    assert line == "SageMaker training: $1.408/h, 40.0% more than EC2"
    cheaper = sagemaker_line(_offer_with(tmp_path, 0.9, 1.0)).plain
    assert cheaper == "SageMaker training: $0.9000/h, 10.0% less than EC2"
    no_ec2 = sagemaker_line(_offer_with(tmp_path, 0.9, None)).plain
    assert no_ec2 == "SageMaker training: $0.9000/h"
    unknown = sagemaker_line(_offer_with(tmp_path, None, 1.0)).plain
    assert unknown.startswith("SageMaker training: unknown")
