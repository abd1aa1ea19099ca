"""The errors a launch meets, each worded as one line that says what to do next."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from dlpick.core.errors import AwsError, DlpickError, LaunchError
from dlpick.pricing.snapshot import bundled

if TYPE_CHECKING:
    from dlpick.core.aws import Aws
    from dlpick.remote.launch.model import LaunchRequest


def explain(
    err: AwsError, req: LaunchRequest, suggest: Callable[[], str] | None = None
) -> AwsError:
    """A launch failure as one line that says what to do next."""
    code = err.code
    where = suggest() if suggest else ""
    messages = {
        "VcpuLimitExceeded": (
            f"your vCPU quota for {req.instance_type} in {req.region} is used up; "
            f"see `dlpick quotas --region {req.region}` and request more"
        ),
        "InsufficientInstanceCapacity": (
            f"AWS has no {req.instance_type} capacity in {req.region} right now; "
            f"retry later or try another AZ or region{where}"
        ),
        "Unsupported": (
            f"{req.instance_type} is not supported in the chosen AZ of {req.region}{where}"
        ),
        "InvalidInstanceType": f"{req.instance_type} is not an EC2 instance type in {req.region}",
        "SpotMaxPriceTooLow": (
            "your --max-price is below the current spot price; raise it or leave it out "
            "to pay the spot price (capped at on-demand)"
        ),
        "MaxSpotInstanceCountExceeded": (
            f"too many spot requests in {req.region}; cancel open spot requests or launch on-demand"
        ),
        "UnauthorizedOperation": (
            "your AWS identity may not launch instances (ec2:RunInstances and friends); "
            "ask your administrator for the permission"
        ),
        "OptInRequired": (
            f"{req.region} (or this instance type) is not enabled for your account; enable "
            "the region in the AWS console's account settings"
        ),
        "InvalidKeyPair.NotFound": (
            f"key pair {req.key_name!r} does not exist in {req.region}; leave out --key-name "
            "and dlpick creates one"
        ),
    }
    if code in messages:
        return LaunchError(messages[code], code=code)
    return err.doing("launch failed")


def offered_elsewhere(aws: Aws, req: LaunchRequest) -> str:
    """', offered in: us-east-1a, us-east-1b; other regions: ...' for error messages."""
    parts = []
    try:
        ec2 = aws.ec2(req.region)
        offers = ec2.describe_instance_type_offerings(
            LocationType="availability-zone",
            Filters=[{"Name": "instance-type", "Values": [req.instance_type]}],
        )["InstanceTypeOfferings"]
        zones = sorted(o["Location"] for o in offers)
        if zones:
            parts.append("AZs with it: " + ", ".join(zones))
    except AwsError:  # a hint must never hide the real error
        pass
    try:
        regions = sorted(
            r
            for r, snap in bundled().regions.items()
            if req.instance_type in snap.instance_types and r != req.region
        )
        if regions:
            parts.append(
                "other regions: " + ", ".join(regions[:6]) + ("..." if len(regions) > 6 else "")
            )
    except DlpickError:
        pass
    return ("; " + "; ".join(parts)) if parts else ""
