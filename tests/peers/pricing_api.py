"""A small AWS Price List (GetProducts) endpoint for tests.

moto has no Pricing API, so tests serve products in the real GetProducts shape
(JSON 1.1 protocol, PriceList of JSON strings, NextToken paging) and dlpick
reaches it through AWS_ENDPOINT_URL_PRICING like any endpoint override.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

from tests.peers.loopback import LoopbackServer, QuietHandler

# Copies of the public samples in shared/reference/aws (each names its source).
REFERENCE = Path(__file__).resolve().parents[1] / "data" / "aws"


def reference_price_list(name: str = "pricing_get_products_gpu_reassembled.json") -> list[str]:
    """PriceList strings from a real (or re-assembled) GetProducts answer."""
    return list(json.loads((REFERENCE / name).read_text())["response"]["PriceList"])


def _template() -> dict[str, Any]:
    return json.loads(reference_price_list()[0])


def ec2_product(
    instance_type: str,
    region: str,
    usd: float,
    *,
    reserved: bool = False,
    sku: str | None = None,
    **attributes: str,
) -> dict[str, Any]:
    """A Compute Instance product like the real ones, with attributes overridden.

    `productFamily` (an attribute of the product, not of its attributes) sets the
    family: .metal types are "Compute Instance (bare metal)" in real answers.
    """
    product = _template()
    family = attributes.pop("productFamily", None)
    if family is not None:
        product["product"]["productFamily"] = family
    sku = sku or f"SKU{abs(hash((instance_type, region, usd, tuple(sorted(attributes.items())))))}"
    attrs = product["product"]["attributes"]
    attrs.update(
        instanceType=instance_type, regionCode=region, usagetype=f"BoxUsage:{instance_type}"
    )
    attrs.update(attributes)
    product["product"]["sku"] = sku
    term = next(iter(product["terms"]["OnDemand"].values()))
    dim = next(iter(term["priceDimensions"].values()))
    dim["pricePerUnit"] = {"USD": f"{usd:.10f}"}
    dim["description"] = f"${usd} per On Demand Linux {instance_type} Instance Hour"
    term["sku"] = sku
    product["terms"]["OnDemand"] = {f"{sku}.JRTCKXETXF": term}
    if reserved:
        # A Reserved term next to the OnDemand one: cheaper, and never the answer.
        rterm = copy.deepcopy(term)
        rdim = next(iter(rterm["priceDimensions"].values()))
        rdim["pricePerUnit"] = {"USD": f"{usd * 0.6:.10f}"}
        rterm["termAttributes"] = {"LeaseContractLength": "1yr", "PurchaseOption": "No Upfront"}
        product["terms"]["Reserved"] = {f"{sku}.4NA7Y494T4": rterm}
    return product


def decoys(instance_type: str, region: str, usd: float) -> list[dict[str, Any]]:
    """Every kind of row a real answer holds beside the Linux on-demand one."""
    return [
        ec2_product(
            instance_type,
            region,
            usd * 1.9,
            operatingSystem="Windows",
            licenseModel="No License required",
        ),
        ec2_product(instance_type, region, usd * 1.3, operatingSystem="RHEL"),
        ec2_product(instance_type, region, usd * 1.4, operatingSystem="SUSE"),
        ec2_product(instance_type, region, usd * 1.1, tenancy="Dedicated"),
        ec2_product(instance_type, region, usd * 0.0 + 0.0001, tenancy="Host"),
        ec2_product(instance_type, region, usd * 3.0, preInstalledSw="SQL Std"),
        ec2_product(instance_type, region, usd * 0.5, capacitystatus="UnusedCapacityReservation"),
        ec2_product(
            instance_type, region, usd * 0.4, capacitystatus="AllocatedCapacityReservation"
        ),
        ec2_product(
            instance_type, region, 0.0, marketoption="CapacityBlock", operation="RunInstances:CB"
        ),
        ec2_product(instance_type, region, usd * 2.0, licenseModel="Bring your own license"),
    ]


BARE_METAL = "Compute Instance (bare metal)"


def bare_metal_decoys(instance_type: str, region: str, usd: float) -> list[dict[str, Any]]:
    """Every decoy kind again, filed like a .metal type under the bare-metal family."""
    rows = decoys(instance_type, region, usd)
    for row in rows:
        row["product"]["productFamily"] = BARE_METAL
        row["product"]["attributes"]["usagetype"] = f"BoxUsage:{instance_type}"
    return rows


# Usage-type prefixes of the regions tests use (AWS's own abbreviations).
_USAGE_PREFIX = {"us-east-1": "USE1", "us-west-2": "USW2", "eu-west-1": "EU"}


def sagemaker_product(
    instance_type: str,
    region: str,
    usd: float,
    *,
    component: str = "Training",
    unit: str = "Hrs",
    family: str = "ML Instance",
) -> dict[str, Any]:
    """A SageMaker ML Instance product in the shape of AWS's AmazonSageMaker price list.

    instanceName carries SageMaker's "ml." prefix; `component` says what the row
    prices (Training, Hosting, Notebook, Processing...).
    """
    name = f"ml.{instance_type}"
    usage = {"Training": "Train", "Hosting": "Host", "Notebook": "Notebk"}.get(component, component)
    sku = f"SM{abs(hash((instance_type, region, usd, component, unit, family)))}"
    term = {
        "priceDimensions": {
            f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                "unit": unit,
                "endRange": "Inf",
                "description": f"${usd} per {unit} for {component} on {name}",
                "appliesTo": [],
                "rateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7",
                "beginRange": "0",
                "pricePerUnit": {"USD": f"{usd:.10f}"},
            }
        },
        "sku": sku,
        "effectiveDate": "2026-09-01T00:00:00Z",
        "offerTermCode": "JRTCKXETXF",
        "termAttributes": {},
    }
    return {
        "product": {
            "productFamily": family,
            "attributes": {
                "regionCode": region,
                "servicecode": "AmazonSageMaker",
                "usagetype": f"{_USAGE_PREFIX.get(region, region)}-{usage}:{name}",
                "operation": "RunInstance",
                "instanceName": name,
                "component": component,
                "locationType": "AWS Region",
                "servicename": "Amazon SageMaker",
            },
            "sku": sku,
        },
        "serviceCode": "AmazonSageMaker",
        "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": term}},
        "version": "20260910195514",
        "publicationDate": "2026-09-10T19:55:14Z",
    }


def sagemaker_decoys(instance_type: str, region: str, usd: float) -> list[dict[str, Any]]:
    """Rows beside the Training one: other components, storage, and another region."""
    return [
        sagemaker_product(instance_type, region, usd * 1.2, component="Hosting"),
        sagemaker_product(instance_type, region, usd * 0.9, component="Notebook"),
        sagemaker_product(instance_type, region, usd * 0.8, component="Processing"),
        sagemaker_product(instance_type, region, usd * 1.1, component="Batch Transform"),
        # Training volume storage: same component, priced per GB-month.
        sagemaker_product(instance_type, region, 0.14, unit="GB-Mo", family="ML Storage"),
        sagemaker_product(instance_type, region, 0.14, unit="GB-Mo"),
        sagemaker_product(instance_type, "ap-south-1", usd * 0.5),
    ]


def _matches(product: dict[str, Any], flt: dict[str, str]) -> bool:
    attrs = {k.lower(): v for k, v in product["product"]["attributes"].items()}
    # The Pricing API filters on the product family too, though it sits outside attributes.
    attrs.setdefault("productfamily", product["product"].get("productFamily"))
    value = attrs.get(flt["Field"].lower())
    kind = flt.get("Type", "TERM_MATCH")
    if kind in ("TERM_MATCH", "EQUALS"):
        return value is not None and value.lower() == flt["Value"].lower()
    if kind == "ANY_OF":
        return value in [v.strip() for v in flt["Value"].split(",")]
    if kind == "NONE_OF":
        return value not in [v.strip() for v in flt["Value"].split(",")]
    if kind == "CONTAINS":
        return value is not None and flt["Value"].lower() in value.lower()
    raise ValueError(f"unknown filter type {kind}")


class PricingApi(LoopbackServer):
    """The server and its state: products served, requests seen, an error to inject."""

    def __init__(self) -> None:
        self.products: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.fail_with: tuple[int, str, str] | None = None  # (status, __type, message)
        self.page_size_cap = 100
        self.ignore_filters = False  # a server that filters nothing: dlpick must re-check
        self.lock = threading.Lock()
        api = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                target = self.headers.get("X-Amz-Target", "")
                status, answer = api.answer(target, body)
                self.reply(status, json.dumps(answer).encode(), "application/x-amz-json-1.1")

        super().__init__(Handler)

    def reset(self) -> None:
        with self.lock:
            self.products = []
            self.requests = []
            self.fail_with = None
            self.ignore_filters = False

    def answer(self, target: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append({"target": target, **body})
            if self.fail_with is not None:
                status, kind, message = self.fail_with
                return status, {"__type": kind, "message": message}
            products = list(self.products)
            ignore = self.ignore_filters
        if target != "AWSPriceListService.GetProducts":
            return 400, {"__type": "InvalidParameterException", "message": f"unsupported {target}"}
        matched = [
            p
            for p in products
            if p.get("serviceCode", "AmazonEC2") == body.get("ServiceCode")
            and (ignore or all(_matches(p, f) for f in body.get("Filters", [])))
        ]
        size = min(int(body.get("MaxResults", 100)), self.page_size_cap)
        start = int(body.get("NextToken") or 0)
        page = matched[start : start + size]
        answer: dict[str, Any] = {
            "FormatVersion": "aws_v1",
            "PriceList": [json.dumps(p) for p in page],
        }
        if start + size < len(matched):
            answer["NextToken"] = str(start + size)
        return 200, answer
