"""A retried launch never starts a second instance.

Each launch carries an EC2 client token made from its arguments and a generation
number. The launches file remembers the generation each set of arguments last
used, and the token is also tagged on the instance, so a repeated `dlpick launch`
finds the instance it already started instead of starting another.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from dlpick.core.errors import LaunchError
from dlpick.core.locations import launches_file
from dlpick.remote.tags import TOKEN_TAG

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import InstanceTypeDef

    from dlpick.core.aws import Aws
    from dlpick.remote.launch.model import LaunchRequest


def _request_key(req: LaunchRequest) -> str:
    fields = {
        "type": req.instance_type,
        "region": req.region,
        "spot": req.spot,
        "max_price": req.max_price,
        "ami": req.ami,
        "os": req.os,
        "key": req.key_name,
        "volume": req.volume_gb,
        "cidr": req.ssh_cidr,
        "name": req.name,
    }
    if req.availability_zone:  # only when chosen: earlier launches keep their tokens
        fields["az"] = req.availability_zone
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


def client_token(req: LaunchRequest, generation: int) -> str:
    """The idempotency token of one intended instance of this launch."""
    return f"dlpick-{_request_key(req)}-{generation}"


def _generation(req: LaunchRequest) -> int:
    try:
        data = json.loads(launches_file().read_text("utf-8"))
    except (OSError, ValueError):
        return 0
    return int(data.get(_request_key(req), 0))


def remember_launch(req: LaunchRequest, token: str) -> None:
    """Record the generation of the token a launch is about to use, for the next retry."""
    _update({_request_key(req): int(token.rsplit("-", 1)[1])})


def _update(change: dict[str, object]) -> None:
    path = launches_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        data = {}
    data.update(change)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1), "utf-8")
    tmp.replace(path)


def remember_move(req: LaunchRequest, token: str, region: str) -> None:
    """Record that the launch with this token went on in another region (no capacity)."""
    _update({f"{_request_key(req)}@{token}": region})


def moved_to(req: LaunchRequest, token: str) -> str | None:
    """The region the launch with this token moved to, if it did."""
    try:
        data = json.loads(launches_file().read_text("utf-8"))
    except (OSError, ValueError):
        return None
    region = data.get(f"{_request_key(req)}@{token}")
    return str(region) if region else None


def instances_with_token(ec2: EC2Client, token: str) -> list[InstanceTypeDef]:
    """Instances (in any state) tagged with a launch's client token."""
    reservations = ec2.describe_instances(
        Filters=[{"Name": f"tag:{TOKEN_TAG}", "Values": [token]}]
    )["Reservations"]
    return [i for r in reservations for i in r.get("Instances", [])]


def token_for(ec2: EC2Client, req: LaunchRequest) -> tuple[str, str | None]:
    """The launch's idempotency token, and the live instance it already started, if any.

    A token names one intended instance. A repeated `dlpick launch` with the same
    arguments reuses it, so it finds the instance instead of starting another;
    `--new` or a terminated instance moves on to a fresh token.
    """
    generation = _generation(req) + (1 if req.new else 0)
    while True:
        token = client_token(req, generation)
        found = instances_with_token(ec2, token)
        live = [i for i in found if i["State"]["Name"] not in ("shutting-down", "terminated")]
        if live:
            return token, str(live[0]["InstanceId"])
        if not found:
            return token, None
        generation += 1  # that instance is gone; AWS would answer the old token with it


def check_moved(aws: Aws, req: LaunchRequest, token: str) -> None:
    """Refuse to start again a launch that already runs in the region it moved to."""
    region = moved_to(req, token)
    if region is None or region == req.region:
        return
    for instance in instances_with_token(aws.ec2(region), token):
        if instance["State"]["Name"] not in ("shutting-down", "terminated"):
            raise LaunchError(
                f"this launch already started {instance['InstanceId']} in {region}, where it "
                f"found capacity; see dlpick ls --region {region}, or pass --new for another",
                code="AlreadyLaunched",
            )
