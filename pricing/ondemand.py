"""On-demand prices from the AWS Pricing API (GetProducts).

A GetProducts answer holds many products per instance type: other operating
systems, Dedicated and Host tenancy, SQL Server images, capacity-reservation
rows, Capacity Block products at $0.00, and Reserved terms; bare-metal (`.metal`)
types come under productFamily "Compute Instance (bare metal)". Only one row is
the price a user pays for a plain Linux instance: the one these filters describe.
Records are checked again after the server's filtering, so a decoy that slips
through (or a server that ignores a filter) cannot become a price.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dlpick.core.aws import paginate

if TYPE_CHECKING:
    from mypy_boto3_pricing import PricingClient

LINUX_ON_DEMAND = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "licenseModel": "No License required",
    "marketoption": "OnDemand",
}
# AWS files .metal types under a product family of their own; both are the same
# kind of price (the other filters still apply).
INSTANCE_FAMILIES = (None, "Compute Instance", "Compute Instance (bare metal)")
# Types per request: ANY_OF takes a comma-separated list; keep requests modest.
TYPES_PER_REQUEST = 100


@dataclass(frozen=True)
class OnDemandPrice:
    instance_type: str
    region: str
    usd_hour: float
    published: str  # the price list's publicationDate


def build_filters(region: str, instance_types: list[str]) -> list[dict[str, str]]:
    filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}]
    filters += [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in LINUX_ON_DEMAND.items()]
    filters.append({"Type": "ANY_OF", "Field": "instanceType", "Value": ",".join(instance_types)})
    return filters


def hourly_usd(terms: dict[str, Any]) -> float | None:
    """The hourly USD price in a product's OnDemand terms (Reserved terms are ignored)."""
    for term in (terms.get("OnDemand") or {}).values():
        for dim in (term.get("priceDimensions") or {}).values():
            if dim.get("unit") != "Hrs":
                continue
            usd = (dim.get("pricePerUnit") or {}).get("USD")
            if usd is None:
                continue
            value = float(usd)
            if value > 0:
                return value
    return None


def parse_product(
    text_or_obj: str | dict[str, Any], region: str | None = None
) -> OnDemandPrice | None:
    """The Linux on-demand price in one PriceList entry, or None for any other kind of row."""
    product = json.loads(text_or_obj) if isinstance(text_or_obj, str) else text_or_obj
    attrs = (product.get("product") or {}).get("attributes") or {}
    if (product.get("product") or {}).get("productFamily") not in INSTANCE_FAMILIES:
        return None
    if any(attrs.get(k) != v for k, v in LINUX_ON_DEMAND.items()):
        return None
    if region is not None and attrs.get("regionCode") != region:
        return None
    instance_type = attrs.get("instanceType")
    if not instance_type:
        return None
    usd = hourly_usd(product.get("terms") or {})
    if usd is None:
        return None
    return OnDemandPrice(
        instance_type=instance_type,
        region=attrs.get("regionCode", region or ""),
        usd_hour=usd,
        published=str(product.get("publicationDate") or ""),
    )


def parse_price_list(price_list: list[Any], region: str | None = None) -> dict[str, OnDemandPrice]:
    """Prices keyed by instance type from a PriceList (strings or decoded objects)."""
    prices: dict[str, OnDemandPrice] = {}
    for entry in price_list:
        price = parse_product(entry, region)
        if price is None:
            continue
        known = prices.get(price.instance_type)
        # Two valid rows for one type should not happen; keep the lower, the one
        # a user would be billed at if AWS listed both.
        if known is None or price.usd_hour < known.usd_hour:
            prices[price.instance_type] = price
    return prices


def product_entries(
    pricing: PricingClient,
    service_code: str,
    instance_types: list[str],
    filters_for: Callable[[list[str]], list[dict[str, str]]],
) -> list[Any]:
    """Every price-list entry of a service for the types, asked TYPES_PER_REQUEST at a
    time (ANY_OF takes a comma-separated list), each request paged."""
    entries: list[Any] = []
    wanted = sorted(set(instance_types))
    for start in range(0, len(wanted), TYPES_PER_REQUEST):
        entries += paginate(
            pricing.get_products,
            "PriceList",
            ServiceCode=service_code,
            Filters=filters_for(wanted[start : start + TYPES_PER_REQUEST]),
            FormatVersion="aws_v1",
            MaxResults=100,
        )
    return entries


def fetch_on_demand(
    pricing: PricingClient, region: str, instance_types: list[str]
) -> dict[str, OnDemandPrice]:
    """Linux on-demand prices for many types in one region, batched with ANY_OF."""
    entries = product_entries(
        pricing, "AmazonEC2", instance_types, lambda types: build_filters(region, types)
    )
    return parse_price_list(entries, region)
