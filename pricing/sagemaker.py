"""SageMaker's on-demand training price for an instance type, to measure its premium.

SageMaker's price list (service code AmazonSageMaker) files every ML instance under
productFamily "ML Instance", one product per use: attribute `component` is
"Training", "Hosting", "Notebook", "Processing" and more, `instanceName` is the
type with SageMaker's "ml." prefix, and the usage type reads "USE1-Train:ml.g5.xlarge"
(https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonSageMaker/current/index.json).
Storage and other fees come in the same list in other units. Only the hourly
Training row of the region is the price of a training job's instance; records are
checked again after the server's filtering, as for EC2 (see ondemand.py).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from dlpick.pricing.ondemand import hourly_usd, product_entries

if TYPE_CHECKING:
    from mypy_boto3_pricing import PricingClient

SERVICE_CODE = "AmazonSageMaker"
FAMILY = "ML Instance"
COMPONENT = "Training"
PREFIX = "ml."


def build_filters(region: str, instance_types: list[str]) -> list[dict[str, str]]:
    names = ",".join(PREFIX + t for t in instance_types)
    return [
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
        {"Type": "TERM_MATCH", "Field": "productFamily", "Value": FAMILY},
        {"Type": "TERM_MATCH", "Field": "component", "Value": COMPONENT},
        {"Type": "ANY_OF", "Field": "instanceName", "Value": names},
    ]


def parse_training(product: str | dict[str, Any], region: str) -> tuple[str, float] | None:
    """(EC2 type, USD/hour) of a Training row in `region`; None for any other row."""
    entry = json.loads(product) if isinstance(product, str) else product
    body = entry.get("product") or {}
    attrs = body.get("attributes") or {}
    name = str(attrs.get("instanceName") or "")
    if (
        body.get("productFamily") != FAMILY
        or attrs.get("component") != COMPONENT
        or attrs.get("regionCode") != region
        or not name.startswith(PREFIX)
    ):
        return None
    usd = hourly_usd(entry.get("terms") or {})  # "Hrs" only: storage is GB-Mo
    return None if usd is None else (name.removeprefix(PREFIX), usd)


def fetch_training(
    pricing: PricingClient, region: str, instance_types: list[str]
) -> dict[str, float]:
    """SageMaker training USD/hour per EC2 type in one region, batched as EC2's prices are."""
    entries = product_entries(
        pricing, SERVICE_CODE, instance_types, lambda types: build_filters(region, types)
    )
    prices: dict[str, float] = {}
    for entry in entries:
        row = parse_training(entry, region)
        # Two rows for one type should not happen; keep the lower, as for EC2.
        if row is not None and (row[0] not in prices or row[1] < prices[row[0]]):
            prices[row[0]] = row[1]
    return prices


def premium_percent(sagemaker_usd: float | None, ec2_usd: float | None) -> float | None:
    """How much more SageMaker training costs than the same EC2 instance, in %."""
    if sagemaker_usd is None or not ec2_usd:
        return None
    return round((sagemaker_usd - ec2_usd) / ec2_usd * 100, 1)
