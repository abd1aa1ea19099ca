"""Where a command goes: an EC2 instance id or an `[user@]host[:port]` SSH target.

An instance id is looked up in EC2: its public address, and the login user that
its AMI's operating system uses (ubuntu for Ubuntu DLAMIs, ec2-user for Amazon
Linux). Everything else about reaching the host comes from ~/.ssh/config, as
with ssh itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dlpick.core.errors import AwsError, InputError
from dlpick.remote.launch.images import login_user_for_image

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

    from dlpick.core.aws import Aws

INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
# user@host, user@[v6addr]:port, host:port; the host part may be an ssh config alias.
HOST_TARGET = re.compile(
    r"^(?:(?P<user>[^@\s]+)@)?(?P<host>\[[^\]]+\]|[^@:\s\[\]]+)(?::(?P<port>\d+))?$"
)


class TargetError(InputError):
    """A TARGET that cannot be understood or resolved; worded for the user."""


@dataclass(frozen=True)
class Target:
    """A resolved place to SSH to."""

    host: str  # address, DNS name, or an alias that ~/.ssh/config maps
    user: str | None = None  # as typed (user@...); wins over everything
    # The AMI's login user for instances: used unless ~/.ssh/config names a User.
    default_user: str | None = None
    port: int | None = None  # None: ~/.ssh/config's Port, else 22
    instance_id: str | None = None
    region: str | None = None
    public_dns: str | None = None
    key_name: str | None = None  # the EC2 key pair the instance was launched with
    instance_type: str | None = None  # known for an instance id, from EC2

    @property
    def label(self) -> str:
        """How messages name this target."""
        if self.instance_id:
            return self.instance_id
        where = f"{self.user}@{self.host}" if self.user else self.host
        return f"{where}:{self.port}" if self.port else where


@dataclass(frozen=True)
class TargetSpec:
    """A TARGET as typed, before any lookup."""

    text: str
    host: str
    user: str | None = None
    port: int | None = None

    @property
    def instance_id(self) -> str | None:
        return self.host if INSTANCE_ID.match(self.host) else None


def parse_target(text: str) -> TargetSpec:
    """Split `[user@]host[:port]` (the host may be an instance id); no network."""
    text = text.strip()
    match = HOST_TARGET.match(text)
    if not text or not match:
        raise TargetError(
            f"cannot read target {text!r}: use an instance id (i-...) or [user@]host[:port]"
        )
    host = match["host"].strip("[]")
    port = int(match["port"]) if match["port"] else None
    if port is not None and not 0 < port < 65536:
        raise TargetError(f"port {port} in target {text!r} is out of range")
    return TargetSpec(text=text, host=host, user=match["user"], port=port)


def resolve_instance(
    ec2: EC2Client,
    instance_id: str,
    region: str,
    *,
    user: str | None = None,
    port: int | None = None,
) -> Target:
    """Look an instance up in EC2: its public address and its AMI's login user.

    `ec2` is a boto3 EC2 client for `region`. Raises TargetError when the
    instance is not there, not running, or has no public address.
    """
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except AwsError as exc:
        if exc.code in ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
            raise TargetError(
                f"no instance {instance_id} in {region}", hint="is it in another region?"
            ) from None
        raise exc.doing(f"looking up {instance_id}") from None
    instances = [i for r in reservations for i in r.get("Instances", [])]
    if not instances:
        raise TargetError(f"no instance {instance_id} in {region}")
    instance = instances[0]
    state = instance.get("State", {}).get("Name", "unknown")
    if state != "running":
        raise TargetError(f"instance {instance_id} is {state}, not running")
    # The address avoids a DNS lookup; the name is kept for messages and ssh config.
    host = instance.get("PublicIpAddress") or instance.get("PublicDnsName")
    if not host:
        raise TargetError(
            f"instance {instance_id} has no public address; give [user@]host for a bastion "
            "or ProxyJump setup"
        )
    image_name = None
    image_id = instance.get("ImageId")
    if image_id:
        try:
            images = ec2.describe_images(ImageIds=[image_id]).get("Images", [])
        except AwsError:
            images = []  # a deregistered AMI: fall back on the usual user
        if images:
            image_name = images[0].get("Name")
    return Target(
        host=host,
        user=user,
        port=port,
        default_user=login_user_for_image(image_name),
        instance_id=instance_id,
        region=region,
        public_dns=instance.get("PublicDnsName") or None,
        key_name=instance.get("KeyName") or None,
        instance_type=instance.get("InstanceType") or None,
    )


def instance_access(
    aws: Aws,
    instance_id: str,
    region: str,
    *,
    user: str | None = None,
    port: int | None = None,
    say: Callable[[str], None] | None = None,
) -> tuple[Target, Callable[[str], str | None]]:
    """An instance's SSH target, and a reader of its console output (for host-key pinning).

    The reader answers None when the console cannot be read; pinning then falls
    back to trust on first use, and `say` is told why.
    """
    ec2 = aws.ec2(region)
    target = resolve_instance(ec2, instance_id, region, user=user, port=port)

    def console_output(iid: str) -> str | None:
        try:
            return str(ec2.get_console_output(InstanceId=iid).get("Output") or "")
        except AwsError as exc:
            if say is not None:
                say(f"could not read the console output of {iid}: {exc}")
            return None

    return target, console_output
