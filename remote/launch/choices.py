"""What the launch dialog offers to choose from: the AZs that offer a type, the key pairs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dlpick.core.aws import Aws


def offered_zones(aws: Aws, region: str, instance_type: str) -> list[str]:
    """The region's AZs that offer the instance type, sorted (DescribeInstanceTypeOfferings)."""
    offers = aws.ec2(region).describe_instance_type_offerings(
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": [instance_type]}],
    )["InstanceTypeOfferings"]
    return sorted({str(o["Location"]) for o in offers if o.get("Location")})


def key_pair_names(aws: Aws, region: str) -> list[str]:
    """The names of the region's key pairs, sorted."""
    pairs = aws.ec2(region).describe_key_pairs()["KeyPairs"]
    return sorted(str(p["KeyName"]) for p in pairs if p.get("KeyName"))
