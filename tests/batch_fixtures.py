"""Fixtures for the `dlpick batch` tests: an account with prices, spot prices and quotas."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from tests.conftest import AwsPeers
from tests.launch_fixtures import G_OD, G_SPOT, P_OD, P_SPOT, REGION
from tests.peers.pricing_api import ec2_product

# On-demand and spot USD/hour of the types the tests rank (real prices, rounded).
PRICES = {
    "g4dn.xlarge": (0.526, 0.21),
    "g5.xlarge": (1.006, 0.43),
    "g6.xlarge": (0.805, 0.35),
    "g6.12xlarge": (4.602, 1.83),
    "g6e.xlarge": (1.861, 0.88),
    "p4d.24xlarge": (32.77, 9.8),
}


def seed_prices(aws: AwsPeers, region: str = REGION) -> None:
    aws.pricing.products += [ec2_product(t, region, od) for t, (od, _) in PRICES.items()]
    for instance_type, (_, spot) in PRICES.items():
        aws.moto.spot.add(region, instance_type, f"{region}a", spot)


@pytest.fixture
def batch_account(aws: AwsPeers) -> SimpleNamespace:
    """Prices for a few GPU types, 64 G vCPUs on-demand and spot, none for P; IAM
    knows AWS's managed policies."""
    aws.moto.reset(managed_policies=True)
    seed_prices(aws)
    quotas = aws.moto.quotas
    quotas.set(REGION, G_OD, "Running On-Demand G and VT instances", 64)
    quotas.set(REGION, P_OD, "Running On-Demand P instances", 0)
    quotas.set(REGION, G_SPOT, "All G and VT Spot Instance Requests", 64)
    quotas.set(REGION, P_SPOT, "All P Spot Instance Requests", 0)
    return SimpleNamespace(aws=aws)


def set_up(*types: str, max_vcpus: int = 64) -> None:
    """dlpick's Batch setup with these types, made by the library (no price catalog to read)."""
    from dlpick.core.aws import Aws
    from dlpick.remote.batch.setup import SetupRequest, execute_setup, plan_setup
    from dlpick.remote.batch.types import TypeChoice

    choices = [TypeChoice(t, "GPU", 1, 4, 16.0, None, None, None) for t in types]
    aws = Aws()
    plan = plan_setup(aws, SetupRequest(REGION, types, max_vcpus=max_vcpus), choices)
    execute_setup(aws, plan, lambda _: None)


def client(service: str, region: str = REGION) -> Any:
    """A plain boto3 client on the moto peer, for reading what dlpick made."""
    make: Any = boto3.client  # the stubs type it per service literal
    return make(service, region_name=region)
