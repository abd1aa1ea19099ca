"""Fixtures for tests that launch: a check-IP service and an account with DLAMIs."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from dlpick.tui.cli.main import main
from tests.conftest import AwsPeers
from tests.peers.text_server import TextServer

if TYPE_CHECKING:
    from mypy_boto3_ec2.literals import ArchitectureValuesType

REGION = "us-east-1"
G_OD, P_OD, G_SPOT, P_SPOT = "L-DB2E81BA", "L-417A185B", "L-3819A6DF", "L-7212CCBC"
BASE_X86 = (
    "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-24.04/latest/ami-id"
)
BASE_ARM = (
    "/aws/service/deeplearning/ami/arm64/base-oss-nvidia-driver-gpu-ubuntu-24.04/latest/ami-id"
)
TORCH = (
    "/aws/service/deeplearning/ami/x86_64/oss-nvidia-driver-gpu-pytorch-{v}-ubuntu-24.04"
    "/latest/ami-id"
)
NEURON = "/aws/service/neuron/dlami/multi-framework/ubuntu-24.04/latest/image_id"


@pytest.fixture
def checkip(monkeypatch: pytest.MonkeyPatch) -> Iterator[TextServer]:
    """The check-IP service, answering with the address a test sets in `.body`."""
    peer = TextServer("203.0.113.7\n")
    monkeypatch.setenv("DLPICK_CHECKIP_URL", peer.url)
    yield peer
    peer.stop()


def register_image(name: str, arch: ArchitectureValuesType) -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    image = ec2.register_image(
        Name=name,
        Architecture=arch,
        RootDeviceName="/dev/sda1",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 75}}],
        VirtualizationType="hvm",
    )
    return str(image["ImageId"])


@pytest.fixture
def account(aws: AwsPeers, checkip: TextServer) -> SimpleNamespace:
    """An account with DLAMIs published, 64 G vCPUs and no P vCPUs."""
    images = {
        "base": register_image(
            "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) 20261101", "x86_64"
        ),
        "arm": register_image(
            "Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) 20261101", "arm64"
        ),
        "torch27": register_image(
            "Deep Learning OSS Nvidia Driver AMI GPU PyTorch 2.7 (Ubuntu 24.04)", "x86_64"
        ),
        "torch210": register_image(
            "Deep Learning OSS Nvidia Driver AMI GPU PyTorch 2.10 (Ubuntu 24.04)", "x86_64"
        ),
        "neuron": register_image("Deep Learning AMI Neuron (Ubuntu 24.04) 20261101", "x86_64"),
    }
    seed = aws.moto.seed_parameter
    seed(REGION, BASE_X86, images["base"])
    seed(REGION, BASE_ARM, images["arm"])
    seed(REGION, TORCH.format(v="2.7"), images["torch27"])
    seed(REGION, TORCH.format(v="2.10"), images["torch210"])
    seed(REGION, NEURON, images["neuron"])
    quotas = aws.moto.quotas
    quotas.set(REGION, G_OD, "Running On-Demand G and VT instances", 64)
    quotas.set(REGION, P_OD, "Running On-Demand P instances", 0)
    quotas.set(REGION, G_SPOT, "All G and VT Spot Instance Requests", 64)
    quotas.set(REGION, P_SPOT, "All P Spot Instance Requests", 0)
    return SimpleNamespace(images=images, aws=aws, checkip=checkip)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def live_instances(region: str = REGION) -> list[dict[str, Any]]:
    """Pending and running instances in a region, as moto describes them."""
    reservations = boto3.client("ec2", region_name=region).describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    )["Reservations"]
    return [dict(i) for r in reservations for i in r["Instances"]]


def only_regions(monkeypatch: pytest.MonkeyPatch, *regions: str) -> None:
    """moto enables every region; its DescribeRegions answers only these (each scan stays
    quick), so dlpick finds them the way it finds an account's enabled regions."""
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

    real = RegionsAndZonesBackend.describe_regions

    def describe_regions(self: Any, region_names: list[str] | None = None) -> Any:
        return [r for r in real(self, region_names) if r.name in regions]

    monkeypatch.setattr(RegionsAndZonesBackend, "describe_regions", describe_regions)
